"""The lab contract: importing changes no global state, results are strict JSON, sections
carry their figures and a notebook's summary equals the run's checks."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from dlmath.labs import Check, Section, summarize
from dlmath.labs._contract import json_safe
from dlmath.milestones import MODULE_MILESTONES, milestones_of


def test_importing_dlmath_chooses_no_matplotlib_backend():
    """The bug behind invisible figures: an import that forced Agg on every notebook."""
    code = (
        "import matplotlib, importlib\n"
        "for m in ['dlmath.viz', 'dlmath.viz.optim', 'dlmath.viz.landscape', 'dlmath.viz.prob',"
        " 'dlmath.viz.lowrank', 'dlmath.viz.backprop', 'dlmath.report', 'dlmath.labs.lab1',"
        " 'dlmath.labs.lab2', 'dlmath.labs.lab3', 'dlmath.labs.lab4', 'dlmath.labs.lab5']:\n"
        "    importlib.import_module(m)\n"
        "print(matplotlib.rcParams._get_backend_or_none())\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "MPLBACKEND"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == "None", out.stdout  # still "auto": the caller decides


def test_json_safe_replaces_every_non_finite_number():
    data = {"a": [1.0, float("nan"), {"b": float("inf")}], "c": np.float64(-np.inf), "d": "x"}
    data["e"] = np.array([1.0, np.nan])
    clean = json_safe(data)
    assert clean == {"a": [1.0, None, {"b": None}], "c": None, "d": "x", "e": [1.0, None]}
    json.loads(json.dumps(clean), parse_constant=lambda t: pytest.fail(t))


def test_a_nan_check_fails_and_is_written_as_null():
    c = Check.at_most("x", math.nan, 1.0)
    assert not c.passed
    result = summarize(9, "t", [Section("s", [c])])
    assert result.to_dict()["checks"][0]["value"] is None
    assert result._repr_json_()["checks"][0]["value"] is None


def test_summarize_keeps_the_order_of_sections_and_checks():
    a, b = Check.at_most("a", 0.5, 1.0), Check.at_least("b", 2.0, 1.0)
    s1 = Section("one", [a], {"t1": [{"x": 1}]}, ["n1"])
    s2 = Section("two", [b], {"t2": [{"y": 2}]}, ["n2"])
    result = summarize(7, "title", [s1, s2], quick=True)
    assert [c.name for c in result.checks] == ["a", "b"]
    assert list(result.tables) == ["t1", "t2"] and result.notes == ["n1", "n2"]
    assert result.passed and result.quick
    assert "2/2 checks passed" in result._repr_html_()


def test_the_milestone_lines_are_written_once():
    """The labs, the report and the learner's checker read one list, not copies of it."""
    import dlmath.report
    from dlmath.labs import load_lab

    assert dlmath.report.MODULE_MILESTONES is MODULE_MILESTONES
    for n in range(1, 6):
        assert milestones_of(n) == load_lab(n).MILESTONES
    # each single-lab line belongs to exactly one lab, and the last line to all five
    owners = [labs for _, labs in MODULE_MILESTONES]
    assert sorted(o for o in owners if len(o) == 1) == [(1,), (2,), (2,), (3,), (4,), (5,)]
    assert owners[-1] == (1, 2, 3, 4, 5)
