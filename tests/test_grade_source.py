"""Submissions as scripts: .py as is, .ipynb code cells joined, IPython syntax neutralised."""

from __future__ import annotations

import json

import pytest

from dlmath.exercises import source
from dlmath.exercises.sandbox import Learner
from dlmath.exercises.source import source_from_path

CELLS = [
    "%matplotlib inline\nimport numpy as np",
    "files = !ls\n!pip install nothing\ndef f(x):\n    return x + 1",
    "%%time\ndef g(x):\n    return 2 * x",
    "%%bash\necho hi",
    "def broken(:\n    pass",
    "%%writefile helper.py\nK = 3\n",
    "import helper\ndef h():\n    return helper.K",
    "if True:\n    %time f(1)\ndisplay(f(1))",
]


def write_nb(path, cells, extra=()):
    nb = {
        "cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "source": c} for c in cells]
        + list(extra),
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb))
    return path


@pytest.mark.parametrize("ipython", [True, False], ids=["IPython", "fallback"])
def test_notebook_runs_as_a_script_with_notes(tmp_path, monkeypatch, ipython):
    if not ipython:  # without IPython installed: the small line rewriter
        monkeypatch.setattr(source, "_transformer", lambda: None)
    path = write_nb(tmp_path / "nb.ipynb", CELLS, [{"cell_type": "markdown", "source": "# x"}])
    code, notes = source_from_path(path)
    assert notes == [
        "cell 1: line magic %matplotlib inline skipped (no Jupyter kernel)",
        "cell 2: shell escape !ls skipped (no Jupyter kernel)",
        "cell 2: shell escape !pip install nothing skipped (no Jupyter kernel)",
        "cell 3: %%time cell run once as plain code",
        "cell 4: cell magic %%bash skipped (no Jupyter kernel)",
        "cell 5: left out, it is not valid Python (line 1 of the cell: invalid syntax)",
        "cell 6: cell magic %%writefile helper.py written into the working directory",
        "cell 8: line magic %time f(1) skipped (no Jupyter kernel)",
    ]
    assert "# %% [cell 7]" in code and "# %% [cell 5]" not in code
    with Learner.from_source(code, filename="nb.ipynb", timeout=5) as lrn:
        assert lrn.load_error == ""
        assert lrn.names == frozenset({"f", "g", "h"})  # get_ipython/display are not the learner's
        outs = [lrn.call_many(n, [(a, {})])[0].value for n, a in (("f", (1,)), ("g", (4,)))]
        assert outs == [2, 8]
        assert lrn.call_many("h", [((), {})])[0].value == 3


def test_a_kernel_feature_gives_a_clear_load_error_not_a_crash(tmp_path):
    path = write_nb(tmp_path / "k.ipynb", ["def f():\n    return 1", "get_ipython().kernel"])
    code, _ = source_from_path(path)
    with Learner.from_source(code, filename="k.ipynb", timeout=5) as lrn:
        assert "needs a Jupyter kernel feature (get_ipython().kernel)" in lrn.load_error
        assert lrn.call_many("f", [((), {})])[0].value == 1


def test_python_files_are_returned_unchanged(tmp_path):
    text = "x = 1  # é\n%not_a_magic_in_a_py_file\n"
    (tmp_path / "a.py").write_text(text, encoding="utf-8")
    assert source_from_path(tmp_path / "a.py") == (text, [])


def test_bad_paths_name_the_argument(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(ValueError, match="'path' must be a .py or .ipynb file"):
        source_from_path(tmp_path / "a.txt")
    with pytest.raises(ValueError, match="'path' must be an existing file"):
        source_from_path(tmp_path / "missing.py")
    (tmp_path / "b.ipynb").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        source_from_path(tmp_path / "b.ipynb")
    (tmp_path / "c.ipynb").write_text('{"worksheets": []}')
    with pytest.raises(ValueError, match="nbformat 4"):
        source_from_path(tmp_path / "c.ipynb")
    with pytest.raises(TypeError, match="'path' must be a str or path"):
        source_from_path(3)
