"""`dlmath grade` end to end: correct, buggy and hostile submissions of one class.

The batch runs once (module fixture) through the command line with ``--jobs 2``. Expected
grades are written here from what each submission is: the registry's solutions earn every
point; a known mistake loses exactly its exercise (and the exercises that call it); each
hostile submission gets its note and keeps the points of the exercises it did not break.
"""

from __future__ import annotations

import ast
import csv
import html
import importlib
import inspect
import json
import os
import time
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from dlmath.cli import main
from dlmath.exercises.registry import EXERCISES

TIMEOUT = "2"
NAMES = list(EXERCISES)


def solutions(replace: dict[str, str] | None = None, *, drop=()) -> str:
    """A submission: the registry's solutions, some replaced by the given code."""
    replace = replace or {}
    parts = ["import numpy as np\n"]
    for name, ex in EXERCISES.items():
        if name in drop:
            continue
        parts.append(replace.get(name, ex.solution_source))
    return "\n\n".join(parts)


ADAM_NO_BIAS = """
def adam_step(param, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad**2
    return param - lr * m / (np.sqrt(v) + eps), m, v
"""
TANH_FROM_Z = "def tanh_backward(dA, Z):\n    return dA * (1 - Z**2)\n"
DW_TRANSPOSED = "def linear_backward(dZ, X, W):\n    return dZ @ W, X.T @ dZ, dZ.sum(axis=0)\n"

TAMPER = """
import math
import numpy as np
import numpy.testing
np.allclose = lambda *a, **k: True
np.isclose = lambda *a, **k: np.ones(np.broadcast(*a[:2]).shape, bool)
np.testing.assert_allclose = lambda *a, **k: None
np.testing.assert_array_almost_equal = lambda *a, **k: None
math.isclose = lambda *a, **k: True

class Liar(np.ndarray):
    def __eq__(self, other):
        return np.ones(self.shape, bool)
    def __sub__(self, other):
        return np.zeros(self.shape)
    def __rsub__(self, other):
        return np.zeros(self.shape)
"""


def notebook(cells: list[str]) -> str:
    return json.dumps({
        "cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                   "source": c} for c in cells]
        + [{"cell_type": "markdown", "metadata": {}, "source": "# Lab\n$x$"}],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
    })  # fmt: skip


def batch() -> dict[str, str]:
    """file name -> content: 3 correct/buggy, 1 notebook, 9 hostile."""
    sol = {n: e.solution_source for n, e in EXERCISES.items()}
    nb_cells = ["%matplotlib inline\nimport numpy as np", "!pip install nothing\nfiles = !ls"]
    nb_cells += [("%%time\n" if i == 0 else "") + s for i, s in enumerate(sol.values())]
    nb_cells += ["from dlmath.exercises import check\ncheck(linear_forward)", "%%bash\necho hi"]
    return {
        "correct.py": solutions(),
        "buggy_adam.py": solutions({"adam_step": ADAM_NO_BIAS}),
        "buggy_backprop.py": solutions(
            {"tanh_backward": TANH_FROM_Z, "linear_backward": DW_TRANSPOSED}
        ),  # fmt: skip
        "notebook.ipynb": notebook(nb_cells),
        "loop.py": solutions(
            {"sgd_step": "def sgd_step(param, grad, lr):\n    while True:\n        pass\n"}
        ),  # fmt: skip
        "exits.py": solutions() + "\nimport sys\nsys.exit(1)\n",
        "os_exit.py": solutions(
            {
                "momentum_step": "import os\ndef momentum_step(param, grad, "
                "velocity, lr, momentum=0.9):\n    os._exit(3)\n"
            }
        ),  # fmt: skip
        "syntax.py": solutions() + "\ndef broken(:\n    pass\n",
        "chatty.py": "print('x' * 10_000_000)\n"
        + solutions(
            {
                "linear_forward": "def linear_forward(X, W, b):\n    print('y' * 1_000_000)\n"
                "    return X @ W.T + b\n"
            }
        ),  # fmt: skip
        "hog.py": solutions(
            {
                "relu_backward": "def relu_backward(dA, Z):\n"
                "    big = np.ones(2 * 2**30)\n    return dA * (Z > 0)\n"
            }
        ),
        "raises.py": solutions(drop=NAMES[10:])
        + "\nraise RuntimeError('oops at import')\n"
        + solutions(drop=NAMES[:10]),
        "tamper.py": TAMPER
        + solutions(
            {
                "linear_forward": "def linear_forward(X, W, b):\n"
                "    return np.zeros((len(X), len(b)))\n",
                "tanh_backward": "def tanh_backward(dA, Z):\n    return (dA * 0).view(Liar)\n",
            }
        ),  # fmt: skip
        "killer.py": solutions(
            {
                "entropy": "import os, signal\ndef entropy(p):\n"  # its parent and grandparent
                "    up = open(f'/proc/{os.getppid()}/stat').read().rsplit(')', 1)[1].split()[1]\n"
                "    os.kill(int(up), signal.SIGKILL)\n    os.kill(os.getppid(), signal.SIGKILL)\n"
            }
        ),  # fmt: skip
    }


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    subs = tmp_path_factory.mktemp("submissions")
    for name, text in batch().items():
        (subs / name).write_text(text)
    out = tmp_path_factory.mktemp("grades") / "out"
    start = time.perf_counter()
    code = main(["grade", str(subs), "--out", str(out), "--jobs", "2", "--timeout", TIMEOUT,
                 "--memory-mb", "1024", "--seed", "3", "--no-progress"])  # fmt: skip
    seconds = time.perf_counter() - start
    assert code == 0
    with open(out / "grades.csv", newline="") as fh:
        rows = {r["submission"]: r for r in csv.DictReader(fh)}
    print(f"graded {len(rows)} submissions with --jobs 2 in {seconds:.1f} s")
    return {"out": out, "rows": rows, "seconds": seconds, "subs": subs}


def scores(row: dict) -> dict[str, float]:
    return {n: float(row[n]) for n in NAMES}


def full_marks_except(row: dict, broken: set[str]) -> None:
    got = scores(row)
    assert {n for n, s in got.items() if s == 1.0} == set(NAMES) - broken, row
    assert all(got[n] < 1.0 for n in broken)
    assert float(row["total"]) == pytest.approx(sum(got.values()))
    assert int(row["max"]) == len(NAMES)


def test_csv_has_one_row_per_submission_and_the_documented_columns(graded):
    out = graded["out"]
    with open(out / "grades.csv", newline="") as fh:
        header = next(csv.reader(fh))
    assert header == ["submission", "total", "max", *NAMES, "note", "file"]
    assert set(graded["rows"]) == {Path(n).stem for n in batch()}
    assert graded["seconds"] < 120  # the budget for a mixed batch on 2 cores


def test_correct_and_buggy_submissions_get_the_expected_grades(graded):
    rows = graded["rows"]
    full_marks_except(rows["correct"], set())
    assert rows["correct"]["note"] == ""
    # train_on_rosenbrock runs the learner's own adam_step, so it fails with it
    full_marks_except(rows["buggy_adam"], {"adam_step", "train_on_rosenbrock"})
    # mlp_loss_and_grads is the learner's own full backprop (solution independent of these)
    full_marks_except(rows["buggy_backprop"], {"tanh_backward", "linear_backward"})
    assert float(rows["buggy_adam"]["adam_step"]) == 0.0


def test_notebook_with_magics_and_shell_escapes_runs_without_a_kernel(graded):
    full_marks_except(graded["rows"]["notebook"], set())
    page = (graded["out"] / "feedback" / "notebook.html").read_text()
    for expected in ("line magic %matplotlib inline skipped", "shell escape !pip install "
                     "nothing skipped", "%%time cell run once as plain code",
                     "cell magic %%bash skipped"):  # fmt: skip
        assert expected in page


def test_infinite_loop_times_out_that_exercise_only(graded):
    row = graded["rows"]["loop"]
    full_marks_except(row, {"sgd_step", "train_on_rosenbrock"})
    assert f"sgd_step: timed out after {TIMEOUT} s" in row["note"]


def test_sys_exit_at_import_after_the_definitions_keeps_every_point(graded):
    row = graded["rows"]["exits"]
    full_marks_except(row, set())
    assert "process ended: sys.exit(1) while loading" in row["note"]


def test_os_exit_in_a_call_loses_that_exercise_and_the_rest_is_graded(graded):
    row = graded["rows"]["os_exit"]
    full_marks_except(row, {"momentum_step", "train_on_rosenbrock"})
    assert "exit code 3" in row["note"]


def test_syntax_error_scores_zero_with_the_line(graded):
    row = graded["rows"]["syntax"]
    assert float(row["total"]) == 0.0
    line = solutions().count("\n") + 2
    assert row["note"] == f"could not run: SyntaxError at line {line}: invalid syntax"


def test_ten_megabytes_of_printing_changes_nothing(graded):
    full_marks_except(graded["rows"]["chatty"], set())
    assert graded["rows"]["chatty"]["note"] == ""
    assert (graded["out"] / "feedback" / "chatty.html").stat().st_size < 200_000


def test_allocating_16_gb_is_a_memory_note_for_that_exercise(graded):
    row = graded["rows"]["hog"]
    full_marks_except(row, {"relu_backward"})
    assert "relu_backward" in row["note"] and "out of memory" in row["note"]


def test_exception_at_import_keeps_the_exercises_defined_before_it(graded):
    row = graded["rows"]["raises"]
    full_marks_except(row, set(NAMES[10:]))
    assert all(float(row[n]) == 0.0 for n in NAMES[10:])
    assert row["note"].startswith("stopped while loading: RuntimeError: oops at import")
    page = (graded["out"] / "feedback" / "raises.html").read_text()
    assert "RuntimeError: oops at import" in page


def test_redefined_comparisons_and_lying_arrays_gain_nothing(graded):
    full_marks_except(graded["rows"]["tamper"], {"linear_forward", "tanh_backward"})
    assert float(graded["rows"]["tamper"]["linear_forward"]) == 0.0
    assert float(graded["rows"]["tamper"]["tanh_backward"]) == 0.0


def test_a_submission_that_kills_its_grader_is_refused_as_root_else_noted(graded):
    row = graded["rows"]["killer"]
    if os.geteuid() == 0:  # the learner runs as nobody: it may not signal the grader
        full_marks_except(row, {"entropy"})
        assert "PermissionError" in row["note"]
    else:
        assert float(row["total"]) == 0.0
        assert row["note"] == "could not run: it killed the grader's worker process"


def test_hostile_submissions_do_not_change_other_grades_and_reruns_are_identical(graded, tmp_path):
    """The same files graded alone, serially, give byte-identical rows."""
    alone = tmp_path / "alone"
    alone.mkdir()
    for name in ("correct.py", "buggy_adam.py", "buggy_backprop.py", "notebook.ipynb"):
        (alone / name).write_text((graded["subs"] / name).read_text())
    out = tmp_path / "out"
    assert main(["grade", str(alone), "--out", str(out), "--jobs", "1", "--seed", "3",
                 "--no-progress"]) == 0  # fmt: skip
    with open(out / "grades.csv", newline="") as fh:
        again = {r["submission"]: r for r in csv.DictReader(fh)}
    for name, row in again.items():
        assert row.pop("file") == str(alone / f"{name}.{'ipynb' if 'note' in name else 'py'}")
        assert row == {k: v for k, v in graded["rows"][name].items() if k != "file"}


def _secret_lines() -> set[str]:
    """Code lines of every reference implementation (and the library functions they call)
    and of every solution, except lines that the exercise's public text (statement, stub,
    the known mistakes' messages) already shows."""
    secret = set()
    for ex in EXERCISES.values():
        # public: the exercise's text and the checker's messages meant for learners
        public = ex.statement + ex.doc + ex.stub + "".join(m.message for m in ex.mistakes)
        ref = ex.reference.func if isinstance(ex.reference, partial) else ex.reference
        mutants = [m.fn.func if isinstance(m.fn, partial) else m.fn for m in ex.mistakes]
        sources = [inspect.getsource(ref), ex.solution]
        sources += [inspect.getsource(f) for f in mutants if inspect.isfunction(f)]
        for node in ast.walk(ast.parse(inspect.getsource(ref).strip())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dlmath"):
                module = importlib.import_module(node.module)
                sources += [inspect.getsource(getattr(module, a.name)) for a in node.names
                            if inspect.isfunction(getattr(module, a.name, None))]  # fmt: skip
        for text in sources:
            for line in text.splitlines():
                line = line.strip()
                code = len(line) >= 12 and not line.startswith(("#", '"', "'", "def "))
                if code and line not in public:
                    secret.add(line)
    return secret


def _hidden_values(seed: int) -> set[str]:
    """Six-significant-digit renderings of the hidden inputs' non-integer floats."""
    from dlmath.exercises.checking import _rng

    values = set()
    for ex in EXERCISES.values():
        for case in ex.cases(_rng(seed, ex.name)):
            for arg in list(case.args) + list(case.kwargs.values()):
                if isinstance(arg, np.ndarray) and arg.dtype.kind == "f" and arg.size:
                    for x in arg.ravel()[:3]:
                        if np.isfinite(x) and x != round(x) and abs(x) > 1e-3:
                            values.add(f"{x:.6f}")
    return values


def test_feedback_pages_hold_no_reference_code_and_no_hidden_inputs(graded):
    secret = _secret_lines()
    hidden = _hidden_values(3)
    assert len(secret) > 30 and len(hidden) > 50  # the check has teeth
    pages = sorted((graded["out"] / "feedback").glob("*.html"))
    assert len(pages) == len(batch())
    pages.append(graded["out"] / "summary.html")
    for page in pages:
        text = html.unescape(page.read_text())  # `a < b` is shown as `a &lt; b`
        leaked = [line for line in secret if line in text]
        assert not leaked, f"{page.name} shows reference/solution code: {leaked[:3]}"
        shown = [v for v in hidden if v in text]
        assert not shown, f"{page.name} shows hidden inputs: {shown[:3]}"


def test_feedback_page_shows_status_error_diagnosis_and_milestones(graded):
    page = (graded["out"] / "feedback" / "buggy_adam.html").read_text()
    assert "Score: 27 / 29" in page or "Score: 27." in page
    assert "Adam without bias correction" in page and "Milestone checklist" in page
    assert "&#9744; Three optimizers (SGD, Momentum, Adam) implemented" in page


def test_summary_counts_pass_rates_and_frequent_mistakes(graded):
    summary = json.loads((graded["out"] / "summary.json").read_text())
    n = len(batch())
    assert summary["submissions"] == n and summary["settings"]["seed"] == 3
    assert sum(summary["histogram"]["counts"]) == n
    rows = graded["rows"]
    by_name = {e["name"]: e for e in summary["exercises"]}
    for name in NAMES:
        passed = sum(float(r[name]) == 1.0 for r in rows.values())
        assert by_name[name]["pass_rate"] == round(passed / n, 4), name
    adam = {m["mistake"]: m["percent"] for m in by_name["adam_step"]["mistakes"]}
    assert adam["Adam without bias correction (of m and of v)"] == round(100 / n, 1)
    sgd = {m["mistake"]: m["percent"] for m in by_name["sgd_step"]["mistakes"]}
    assert sgd["timed out"] == round(100 / n, 1)
    html = (graded["out"] / "summary.html").read_text()
    assert "data:image/png;base64," in html and "Adam without bias correction" in html
    assert summary["mean_total"] == pytest.approx(
        sum(float(r["total"]) for r in rows.values()) / n, abs=1e-4
    )


def test_out_folder_is_never_someone_elses(tmp_path, capsys):
    sub = tmp_path / "a.py"
    sub.write_text(solutions())
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "grades.csv").write_text("my own spreadsheet")
    assert main(["grade", str(sub), "--out", str(foreign), "--no-progress", "--jobs", "1"]) == 2
    assert "'out' must be empty or a folder that dlmath grade wrote" in capsys.readouterr().err
    assert (foreign / "grades.csv").read_text() == "my own spreadsheet"
    (foreign / "notes.txt").write_text("keep me")
    assert main(["grade", str(sub), "--out", str(foreign), "--no-progress", "--jobs", "1",
                 "--force"]) == 0  # fmt: skip
    assert (foreign / "notes.txt").read_text() == "keep me"
    # a rerun into its own folder is allowed, and removes the pages of vanished submissions
    b = tmp_path / "b.py"
    b.write_text(solutions())
    out = tmp_path / "own"
    assert main(["grade", str(sub), str(b), "--out", str(out), "--no-progress", "--jobs", "1"]) == 0
    assert (out / "feedback" / "b.html").exists()
    assert main(["grade", str(sub), "--out", str(out), "--no-progress", "--jobs", "1"]) == 0
    assert not (out / "feedback" / "b.html").exists() and (out / "feedback" / "a.html").exists()


def test_per_folder_submissions_and_name_collisions(tmp_path):
    from dlmath.exercises.grading import find_submissions

    class_dir = tmp_path / "class"
    for learner in ("ann", "bob"):
        (class_dir / learner).mkdir(parents=True)
        (class_dir / learner / "lab1.py").write_text("x = 1\n")
        (class_dir / learner / "lab2.py").write_text("y = 2\n")
    per = find_submissions([class_dir], per_folder=True)
    assert [(s.name, [f.name for f in s.files]) for s in per] == [
        ("ann", ["lab1.py", "lab2.py"]), ("bob", ["lab1.py", "lab2.py"])]  # fmt: skip
    each = find_submissions([class_dir])
    assert [s.name for s in each] == ["ann__lab1", "ann__lab2", "bob__lab1", "bob__lab2"]
    with pytest.raises(ValueError, match="'submissions' must be existing files or folders"):
        find_submissions([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="'submissions' must contain .py or .ipynb files"):
        find_submissions([tmp_path / "empty"])


def test_a_folder_of_files_is_one_submission_graded_together(tmp_path):
    learner = tmp_path / "class" / "cat"
    learner.mkdir(parents=True)
    labs = {n: [] for n in range(1, 6)}
    for ex in EXERCISES.values():
        labs[ex.lab].append(ex.solution_source)
    (learner / "lab1.py").write_text("import numpy as np\n\n" + "\n\n".join(labs[1]))
    cells = ["import numpy as np"] + labs[2] + labs[3] + labs[4] + labs[5]
    (learner / "rest.ipynb").write_text(notebook(cells))
    out = tmp_path / "out"
    args = [str(tmp_path / "class"), "--per-folder", "--out", str(out), "--no-progress"]
    assert main(["grade", *args, "--jobs", "1"]) == 0
    with open(out / "grades.csv", newline="") as fh:
        (row,) = list(csv.DictReader(fh))
    assert row["submission"] == "cat"
    full_marks_except(row, set())


def test_unreadable_notebook_and_library_imports_are_noted(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "broken.ipynb").write_text("{this is not json")
    (subs / "wrapper.py").write_text(
        "from dlmath.exercises import check\nfrom dlmath import optim\n"
        "from dlmath.backprop import linear_forward as lf\n\n"
        "def linear_forward(X, W, b):\n    return lf(X, W, b)\n"
    )
    out = tmp_path / "out"
    assert main(["grade", str(subs), "--out", str(out), "--jobs", "1", "--no-progress"]) == 0
    with open(out / "grades.csv", newline="") as fh:
        rows = {r["submission"]: r for r in csv.DictReader(fh)}
    assert float(rows["broken"]["total"]) == 0.0
    assert rows["broken"]["note"].startswith("could not run: 'path' must be a Jupyter notebook")
    assert float(rows["wrapper"]["linear_forward"]) == 1.0 and float(rows["wrapper"]["total"]) == 1
    assert rows["wrapper"]["note"].startswith(
        "imports dlmath.backprop, dlmath.optim (dlmath's own code; look at it)"
    )


# --- review fixes (items 4, 5, 9, 10): each test reproduces what once went wrong


def test_a_forged_manifest_cannot_delete_files_outside_the_feedback_folder(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "a.py").write_text("def linear_forward(X, W, b):\n    return X @ W.T + b\n")
    out = tmp_path / "out"
    assert main(["grade", str(subs), "--out", str(out), "--jobs", "1", "--no-progress"]) == 0
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (out / "feedback" / "notes.txt").write_text("keep me too")
    (out / "feedback" / "old.html").write_text("a page of a submission that is gone")
    manifest = json.loads((out / ".dlmath-grade.json").read_text())
    manifest["files"] += ["feedback/../../victim.txt", "feedback/notes.txt", "feedback/old.html"]
    (out / ".dlmath-grade.json").write_text(json.dumps(manifest))
    assert main(["grade", str(subs), "--out", str(out), "--jobs", "1", "--no-progress"]) == 0
    assert victim.read_text() == "keep me"
    assert (out / "feedback" / "notes.txt").read_text() == "keep me too"
    assert not (out / "feedback" / "old.html").exists()  # the grader's own stale page goes


def test_gradescope_alone_needs_no_out_folder(tmp_path, capsys):
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "a.py").write_text("def linear_forward(X, W, b):\n    return X @ W.T + b\n")
    results = tmp_path / "results.json"
    assert main(["grade", str(subs), "--gradescope", str(results), "--jobs", "1",
                 "--no-progress"]) == 0  # fmt: skip
    data = json.loads(results.read_text())
    assert data["score"] == 1.0
    assert main(["grade", str(subs), "--jobs", "1", "--no-progress"]) == 2
    assert "'--out DIR' is required" in capsys.readouterr().err


def test_calling_the_registry_references_is_flagged_in_every_spelling():
    from dlmath.exercises.grading import _library_imports

    assert (
        _library_imports("from dlmath.exercises import check, plot_surface\nimport numpy\n") == []
    )
    sneaky = (
        "from dlmath.exercises.registry import EXERCISES\nimport importlib\n"
        "m = importlib.import_module('dlmath.optim.rules')\nimport dlmath\n"
        "from dlmath.exercises import EXERCISES as E\n"
    )
    assert _library_imports(sneaky) == [
        "dlmath", "dlmath.exercises.EXERCISES", "dlmath.exercises.registry", "dlmath.optim.rules"
    ]  # fmt: skip


def _bomb_task(args):
    """A worker that dies while grading the submission named "a_bomb" (a stand-in for a
    submission that kills its worker where the sandbox cannot stop it: not root)."""
    from dlmath.exercises import grading

    Path(args[2]).touch()
    if args[0].name == "a_bomb":
        time.sleep(0.1)  # the other worker has started its first submission
        os._exit(9)
    time.sleep(0.4)  # so it is still running when the bomb goes off
    return grading._real_grade_task(args)


def test_one_worker_crash_retries_only_the_suspects_alone_then_goes_back_to_jobs(
    tmp_path, monkeypatch
):
    from dlmath.exercises import grading

    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "a_bomb.py").write_text("x = 1\n")
    for i in range(6):
        (subs / f"s{i}.py").write_text(
            "def sgd_step(param, grad, lr):\n    return param - lr * grad\n"
        )
    sizes = []
    real_pool = grading.ProcessPoolExecutor

    def pool(workers, **kwargs):
        sizes.append(workers)
        return real_pool(workers, **kwargs)

    monkeypatch.setattr(grading, "_real_grade_task", grading._grade_task, raising=False)
    monkeypatch.setattr(grading, "_grade_task", _bomb_task)
    monkeypatch.setattr(grading, "ProcessPoolExecutor", pool)
    run = grading.grade([subs], tmp_path / "out", jobs=2, timeout=2.0, progress=False)
    by_name = {r["submission"]: r for r in run.records}
    assert by_name["a_bomb"]["note"] == "could not run: it killed the grader's worker process"
    assert all(by_name[f"s{i}"]["scores"]["sgd_step"] == 1.0 for i in range(6))
    # the first pool of 2 dies; the bomb and what ran beside it are retried alone, one pool
    # of 1 each; then the rest goes back to 2 workers (before the fix: 1 worker to the end)
    assert sizes[0] == 2 and 1 <= sizes.count(1) <= 2 and sizes[-1] == 2, sizes


# --- tester findings (1, 2, 3): each test reproduces what once went wrong


def test_a_notebook_that_only_imports_check_has_no_library_note(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    sgd = "def sgd_step(param, grad, lr):\n    return param - lr * grad\n"
    (subs / "nb.ipynb").write_text(notebook(["from dlmath.exercises import check", sgd]))
    (subs / "empty.ipynb").write_text(notebook([]))
    out = tmp_path / "out"
    assert main(["grade", str(subs), "--out", str(out), "--jobs", "1", "--no-progress"]) == 0
    with open(out / "grades.csv", newline="") as fh:
        rows = {r["submission"]: r for r in csv.DictReader(fh)}
    # before the fix: "imports dlmath.exercises.source" (the stand-in line dlmath adds)
    assert rows["nb"]["note"] == "" and float(rows["nb"]["sgd_step"]) == 1.0
    assert rows["nb"]["file"] == str(subs / "nb.ipynb")  # finding 16: the submitted path
    assert "dlmath.exercises.source" not in rows["empty"]["note"]


def test_a_py_and_a_notebook_of_the_same_name_are_both_graded(tmp_path):
    from dlmath.exercises.grading import find_submissions

    (tmp_path / "bob.py").write_text("x = 1\n")
    (tmp_path / "bob.ipynb").write_text(notebook(["y = 2"]))
    (tmp_path / "empty.ipynb").write_text(notebook([]))
    subs = find_submissions([tmp_path])
    assert [(s.name, [f.name for f in s.files]) for s in subs] == [
        ("bob", ["bob.py"]), ("bob.ipynb", ["bob.ipynb"]), ("empty", ["empty.ipynb"])]  # fmt: skip
    # the same file named twice is still one submission
    assert len(find_submissions([tmp_path / "bob.py", tmp_path / "bob.py"])) == 1


def test_a_negative_seed_is_a_usage_error_naming_seed(tmp_path, capsys):
    from dlmath.exercises.checking import check_source
    from dlmath.exercises.grading import grade

    (tmp_path / "a.py").write_text("x = 1\n")
    out = str(tmp_path / "out")
    assert main(["grade", str(tmp_path / "a.py"), "--out", out, "--seed", "-1"]) == 2
    assert "--seed must be an integer >= 0; got -1" in capsys.readouterr().err
    assert main(["check", str(tmp_path / "a.py"), "--seed", "-1"]) == 2
    assert "--seed must be an integer >= 0; got -1" in capsys.readouterr().err
    with pytest.raises(ValueError, match="'seed'"):
        grade([tmp_path / "a.py"], tmp_path / "out2", seed=-1, progress=False)
    with pytest.raises(ValueError, match="'seed'"):
        check_source("x = 1\n", seed=-1)
