"""The generated exercise notebooks run in a Jupyter kernel, as a learner runs them: blank,
every lab's checks say "not implemented yet"; solved (lab 2, with its plot of the
learner's own optimizer), every check passes. The other labs' solved notebooks are
checked through ``dlmath check`` in test_exercises.py (a kernel start costs seconds).
"""

from __future__ import annotations

import pytest
from nbclient import NotebookClient

from dlmath.exercises import EXERCISES
from dlmath.exercises.notebooks import lab_notebook

LAB2 = [e.name for e in EXERCISES.values() if e.lab == 2]


def _run(nb, tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.chdir(tmp_path)
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = {}
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not [o for o in cell.outputs if o.output_type == "error"], cell.source
            outputs[cell.source] = cell.outputs
    return outputs


def _text(outputs, mime: str = "text/plain") -> str:
    parts = []
    for o in outputs:
        if o.output_type == "stream":
            parts.append(o.text)
        elif mime in o.get("data", {}):
            parts.append(o.data[mime])
    return "\n".join(parts)


@pytest.mark.notebook
@pytest.mark.parametrize("lab", [1, 2, 3, 4, 5])
def test_blank_notebook_fails_every_check_with_not_implemented(lab, tmp_path, monkeypatch):
    outputs = _run(lab_notebook(lab), tmp_path, monkeypatch)
    names = [e.name for e in EXERCISES.values() if e.lab == lab]
    assert names
    for name in names:
        html = _text(outputs[f"check({name})"], "text/html")
        assert "not implemented yet" in html and "not attempted" in html, name
    if lab == 2:
        assert "implement `train_on_rosenbrock` first" in _text(
            outputs["plot_convergence(train_on_rosenbrock);"]
        )


@pytest.mark.notebook
def test_solved_lab2_notebook_passes_every_check_and_plots(tmp_path, monkeypatch):
    outputs = _run(lab_notebook(2, solutions=True), tmp_path, monkeypatch)
    for name in LAB2:
        text = _text(outputs[f"check({name})"])
        assert f"PASS {name}" in text and "BAD" not in text, text
    plot = outputs["plot_convergence(train_on_rosenbrock);"]
    assert any("image/png" in o.get("data", {}) for o in plot)
