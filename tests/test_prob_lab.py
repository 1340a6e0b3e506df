"""Lab 5 runs quickly, passes its milestones and writes its figures and result.json."""

from __future__ import annotations

import json

from dlmath.labs import run_lab
from dlmath.labs.lab5 import MILESTONES


def test_lab5_quick(tmp_path):
    result = run_lab(5, tmp_path, quick=True, seed=0, show_progress=False)
    assert result.passed, [c.line() for c in result.checks if not c.passed]
    names = {c.name for c in result.checks}
    assert set(MILESTONES[:4]) <= names
    for fig in result.figures:
        assert (tmp_path / "lab5" / fig).stat().st_size > 10_000
    assert len(result.figures) == 7
    saved = json.loads((tmp_path / "lab5" / "result.json").read_text())
    assert saved["passed"] and saved["lab"] == 5
