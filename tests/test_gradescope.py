"""Gradescope output: results.json against Gradescope's documented fields, and the setup files.

The schema below is written from Gradescope's autograder specification
(https://gradescope-autograders.readthedocs.io/en/latest/specs/, section "Output format"):
top level ``score`` (required unless every test has one), ``execution_time`` (seconds),
``output``, ``output_format``, ``test_output_format``, ``test_name_format``,
``visibility``, ``stdout_visibility``, ``extra_data``, ``tests``, ``leaderboard``; per test
``score``, ``max_score``, ``status`` ("passed" | "failed"), ``name``, ``name_format``,
``number``, ``output``, ``output_format``, ``tags``, ``visibility``, ``extra_data``.
Visibility is one of "hidden", "after_due_date", "after_published", "visible"; formats
are "text", "html", "simple_format", "md", "ansi".
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dlmath.cli import main
from dlmath.exercises.registry import EXERCISES

NUMBER = (int, float)
VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}
FORMATS = {"text", "html", "simple_format", "md", "ansi"}
TOP = {
    "score": NUMBER, "execution_time": NUMBER, "output": str, "output_format": str,
    "test_output_format": str, "test_name_format": str, "visibility": str,
    "stdout_visibility": str, "extra_data": dict, "tests": list, "leaderboard": list,
}  # fmt: skip
TEST = {
    "score": NUMBER, "max_score": NUMBER, "status": str, "name": str, "name_format": str,
    "number": str, "output": str, "output_format": str, "tags": list, "visibility": str,
    "extra_data": dict,
}  # fmt: skip


def gradescope_problems(data) -> list[str]:
    """Every way ``data`` departs from Gradescope's documented results.json fields."""
    problems = []
    if not isinstance(data, dict):
        return ["results.json must be a JSON object"]

    def fields(obj: dict, spec: dict, where: str) -> None:
        for key, value in obj.items():
            if key not in spec:
                problems.append(f"{where}: undocumented field {key!r}")
            elif not isinstance(value, spec[key]) or isinstance(value, bool):
                problems.append(f"{where}: {key!r} has type {type(value).__name__}")
        for key in ("visibility", "stdout_visibility"):
            if key in obj and obj[key] not in VISIBILITY:
                problems.append(f"{where}: {key!r} = {obj[key]!r} is not a visibility")
        for key in ("output_format", "test_output_format", "test_name_format", "name_format"):
            if key in obj and obj[key] not in FORMATS:
                problems.append(f"{where}: {key!r} = {obj[key]!r} is not a format")

    fields(data, TOP, "top level")
    tests = data.get("tests", [])
    for i, test in enumerate(tests):
        if not isinstance(test, dict):
            problems.append(f"tests[{i}] is not an object")
            continue
        fields(test, TEST, f"tests[{i}]")
        if "status" in test and test["status"] not in ("passed", "failed"):
            problems.append(f"tests[{i}]: status {test['status']!r}")
        if "score" not in data and "score" not in test:
            problems.append(f"tests[{i}]: no score (and no top-level score)")
    return problems


def test_schema_checker_catches_departures():
    """The checker itself: a bad file is caught (so a passing file means something)."""
    bad = {"score": "10", "tests": [{"name": "x", "score": 1, "visibility": "public",
                                     "status": "ok", "points": 1}]}  # fmt: skip
    found = gradescope_problems(bad)
    assert len(found) == 4, found
    assert gradescope_problems({"tests": [{"name": "x"}]}) == [
        "tests[0]: no score (and no top-level score)"
    ]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """One Gradescope-style submission folder (a buggy Adam in a notebook + a .py)."""
    root = tmp_path_factory.mktemp("gs")
    sub = root / "submission"
    sub.mkdir()
    names = list(EXERCISES)
    py = ["import numpy as np"] + [EXERCISES[n].solution_source for n in names[:12]]
    py.append("def adam_step(param, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):"
              "\n    return param - lr * grad, m, v\n")  # fmt: skip
    (sub / "labs.py").write_text("\n\n".join(py))
    path = root / "results" / "results.json"
    code = main(["grade", str(sub), "--per-folder", "--out", str(root / "out"), "--jobs", "1",
                 "--gradescope", str(path), "--no-progress"])  # fmt: skip
    assert code == 0
    return json.loads(path.read_text())


def test_results_json_validates_and_adds_up(results):
    assert gradescope_problems(results) == []
    tests = results["tests"]
    assert [t["name"] for t in tests] == [f"Lab {e.lab}: {n}" for n, e in EXERCISES.items()]
    assert all(t["max_score"] == 1.0 for t in tests)
    assert results["score"] == pytest.approx(sum(t["score"] for t in tests), abs=1e-3)
    by_name = {t["name"].split(": ")[1]: t for t in tests}
    # the first 12 exercises are the registry's solutions (adam_step is the 11th: replaced)
    passed = {n for n, t in by_name.items() if t["status"] == "passed"}
    assert passed == set(list(EXERCISES)[:12]) - {"adam_step"}
    assert by_name["adam_step"]["score"] == 0.0
    assert by_name["gaussian_nll"]["status"] == "failed"
    assert "not attempted" in by_name["gaussian_nll"]["output"]
    assert all(t["visibility"] == "visible" for t in tests)


def test_gradescope_needs_exactly_one_submission(tmp_path, capsys):
    for name in ("a.py", "b.py"):
        (tmp_path / name).write_text("x = 1\n")
    code = main(["grade", str(tmp_path), "--out", str(tmp_path / "o"), "--gradescope",
                 str(tmp_path / "r.json"), "--no-progress"])  # fmt: skip
    assert code == 2
    assert "'gradescope' needs exactly one submission" in capsys.readouterr().err


def test_gradescope_setup_writes_scripts_and_never_replaces_foreign_files(tmp_path, capsys):
    out = tmp_path / "ag"
    assert main(["gradescope-setup", str(out), "--timeout", "5"]) == 0
    setup, run = (out / "setup.sh").read_text(), (out / "run_autograder").read_text()
    assert "torch==2.13.0" in setup and "download.pytorch.org/whl/cpu" in setup
    assert "/autograder/submission" in run and "/autograder/results/results.json" in run
    for f in ("setup.sh", "run_autograder"):
        assert os.access(out / f, os.X_OK)
        subprocess.run(["bash", "-n", str(out / f)], check=True)  # valid bash
    assert main(["gradescope-setup", str(out)]) == 0  # its own files: replaced
    (out / "setup.sh").write_text("#!/bin/sh\necho mine\n")
    assert main(["gradescope-setup", str(out)]) == 2
    assert "dlmath did not write" in capsys.readouterr().err
    assert (out / "setup.sh").read_text() == "#!/bin/sh\necho mine\n"
    assert main(["gradescope-setup", str(out), "--force"]) == 0


def test_run_autograder_grades_a_gradescope_layout(tmp_path):
    """run_autograder's own command, pointed at a local /autograder tree and this dlmath."""
    out = tmp_path / "ag"
    assert main(["gradescope-setup", str(out)]) == 0
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    (root / "submission" / "lab2.py").write_text(
        "import numpy as np\n\n" + EXERCISES["sgd_step"].solution_source
    )
    script = (out / "run_autograder").read_text()
    dlmath = Path(sys.executable).parent / "dlmath"
    script = script.replace("/opt/dlmath/bin/dlmath", str(dlmath))
    script = script.replace("/autograder", str(root)).replace(
        "/tmp/dlmath-grade", str(tmp_path / "grade")
    )
    local = tmp_path / "run_autograder"
    local.write_text(script)
    subprocess.run(["bash", str(local)], check=True, capture_output=True, timeout=120)
    data = json.loads((root / "results" / "results.json").read_text())
    assert gradescope_problems(data) == []
    assert data["score"] == 1.0
    assert re.search(r"1 / 29 points", data["output"])
    assert (root / "results" / "submission.html").exists()


def test_run_autograder_reports_an_empty_submission_instead_of_failing(tmp_path):
    out = tmp_path / "ag"
    assert main(["gradescope-setup", str(out)]) == 0
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    (root / "submission" / "README.txt").write_text("I forgot my notebook")
    script = (out / "run_autograder").read_text()
    script = script.replace("/opt/dlmath/bin/dlmath", str(Path(sys.executable).parent / "dlmath"))
    script = script.replace("/autograder", str(root)).replace(
        "/tmp/dlmath-grade", str(tmp_path / "grade")
    )
    (tmp_path / "run").write_text(script)
    subprocess.run(["bash", str(tmp_path / "run")], check=True, capture_output=True, timeout=60)
    data = json.loads((root / "results" / "results.json").read_text())
    assert gradescope_problems(data) == []
    assert data["score"] == 0.0 and "could not grade this submission (exit 2)" in data["output"]


# --- tester finding 14: what once went wrong


def test_setup_refuses_dlmath_from_the_index_and_updates_apt_first(tmp_path, capsys):
    from dlmath.exercises.gradescope import setup_script

    out = tmp_path / "ag"
    assert main(["gradescope-setup", str(out)]) == 0
    assert f"pip wheel . -w {out} --no-deps" in capsys.readouterr().out
    text = setup_script()
    assert "dlmath==" not in text  # never `pip install dlmath==X` from the public index
    assert text.index("apt-get update") < text.index("apt-get install")
    # no wheel beside it: it stops, with the way to build one, before installing anything
    source = tmp_path / "source"
    source.mkdir()
    script = tmp_path / "setup.sh"
    script.write_text(text.replace("/autograder/source", str(source)))
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 1 and "pip wheel . -w DIR --no-deps" in done.stderr


def test_gradescope_with_six_submissions_says_how_many_are_left_out(tmp_path, capsys):
    for i in range(6):
        (tmp_path / f"s{i}.py").write_text("x = 1\n")
    code = main(["grade", str(tmp_path), "--gradescope", str(tmp_path / "r.json")])
    assert code == 2
    # before: "got 6: s0, s1, s2, s3, s4" (5 of 6, no sign of the sixth)
    assert "got 6: s0, s1, s2, s3, s4, ... (1 more)" in capsys.readouterr().err
