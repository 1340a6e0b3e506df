"""Learner mode: the registry's contract, `dlmath check` (verdicts, JSON, exit codes), the
structural and numeric diagnoses, and the exercise notebooks (written, never clobbered).

Every expectation here is independent of the checker: the exercise list and signatures
are copied from the issue, and each learner snippet is wrong (or right) by construction.
"""

from __future__ import annotations

import inspect
import json
import textwrap

import nbformat
import numpy as np
import pytest

from dlmath.cli import main
from dlmath.exercises import EXERCISES, check
from dlmath.exercises.checking import check_source
from dlmath.exercises.notebooks import NotebookExistsError, lab_notebook, write_notebooks

# The issue's contract, copied by hand (names and signatures must never drift).
ISSUE_SIGNATURES = {
    "linear_forward": "(X, W, b)",
    "linear_backward": "(dZ, X, W)",
    "relu_backward": "(dA, Z)",
    "tanh_backward": "(dA, Z)",
    "sigmoid_backward": "(dA, Z)",
    "softmax_cross_entropy": "(Z, y)",
    "mlp_loss_and_grads": "(params, X, y)",
    "numerical_gradient": "(f, x, eps=1e-05)",
    "sgd_step": "(param, grad, lr)",
    "momentum_step": "(param, grad, velocity, lr, momentum=0.9)",
    "adam_step": "(param, grad, m, v, t, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-08)",
    "adamw_step": "(param, grad, m, v, t, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-08, "
    "weight_decay=0.01)",
    "filter_normalize": "(direction, weight)",
    "surface_on_plane": "(f, theta, d1, d2, alphas, betas)",
    "classify_critical_point": "(H, tol=1e-08)",
    "low_rank_approx": "(W, r)",
    "relative_error_at_rank": "(W, r)",
    "lora_parameter_count": "(d_out, d_in, r)",
    "lora_forward": "(x, W, A, B, alpha, r)",
    "gaussian_log_pdf": "(x, mu, sigma)",
    "bernoulli_log_pmf": "(x, p)",
    "categorical_log_pmf": "(k, probs)",
    "entropy": "(p)",
    "cross_entropy": "(p, q)",
    "kl_divergence": "(p, q)",
    "gaussian_nll": "(y, y_hat, sigma)",
}


def _define(source: str) -> dict:
    namespace: dict = {"np": np}
    exec(source, namespace)
    return namespace


def _all_solutions() -> str:
    return "import numpy as np\n\n" + "\n\n".join(e.solution_source for e in EXERCISES.values())


def test_registry_holds_the_issue_exercises_with_their_signatures():
    assert len(EXERCISES) == 29
    for name, signature in ISSUE_SIGNATURES.items():
        stub = _define(EXERCISES[name].stub)[name]
        assert str(inspect.signature(stub)) == signature, name
    assert [e.lab for e in EXERCISES.values()] == sorted(e.lab for e in EXERCISES.values())


def test_stubs_raise_not_implemented_and_document_shapes():
    for name, ex in EXERCISES.items():
        fn = _define(ex.stub)[name]
        assert fn.__doc__ and ("->" in fn.__doc__), name
        with pytest.raises(NotImplementedError, match="not implemented yet"):
            fn(*([None] * len(ex.arg_names)))


def test_solutions_are_written_from_scratch():
    for ex in EXERCISES.values():
        assert "dlmath" not in ex.solution_source, ex.name
        assert "import" not in ex.solution_source, ex.name


def test_every_known_mistake_is_visible_on_some_hidden_case():
    from dlmath.exercises.diagnosis import _matches, call_reference

    for ex in EXERCISES.values():
        cases = ex.cases(np.random.default_rng(0))
        for m in ex.mistakes:
            visible = False
            for c in cases:
                try:
                    mutant = call_reference(m.fn, c.args, c.kwargs)
                except Exception:
                    continue
                ref = call_reference(ex.reference, c.args, c.kwargs)
                from dlmath.exercises.diagnosis import components

                if not _matches(ex, components(ex, ref), mutant, False, exact=True):
                    visible = True
                    break
            assert visible, f"{ex.name}: mistake {m.key} equals the reference on every case"


def test_cases_are_deterministic_per_seed():
    ex = EXERCISES["adam_step"]
    a = ex.cases(np.random.default_rng([0, 1]))
    b = ex.cases(np.random.default_rng([0, 1]))
    c = ex.cases(np.random.default_rng([1, 1]))
    assert all(np.array_equal(x.args[0], y.args[0]) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[-1].args[0], c[-1].args[0])


# --- dlmath check: solved, blank, JSON, exit codes -----------------------------------------


def test_check_solved_file_passes_every_exercise_and_milestone(tmp_path, capsys):
    path = tmp_path / "solved.py"
    path.write_text(_all_solutions())
    assert main(["check", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"exercises", "milestones"}
    assert [e["name"] for e in data["exercises"]] == list(EXERCISES)
    for e in data["exercises"]:
        assert set(e) == {"lab", "name", "status", "score", "max_error", "diagnosis"}
        assert (e["status"], e["score"], e["diagnosis"]) == ("passed", 1.0, ""), e
    assert all(m["passed"] for m in data["milestones"]), data["milestones"]
    backprop = data["milestones"][0]
    assert "your `mlp_loss_and_grads`" in backprop["evidence"]
    assert float(backprop["evidence"].rsplit(" ", 1)[1]) <= 1e-6


def test_check_blank_file_says_not_implemented_and_exits_1(tmp_path, capsys):
    path = tmp_path / "blank.py"
    path.write_text("\n\n".join(e.stub for e in EXERCISES.values()))
    assert main(["check", str(path), "--json", "--lab", "3"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert [e["name"] for e in data["exercises"]] == [
        "filter_normalize",
        "surface_on_plane",
        "classify_critical_point",
    ]
    for e in data["exercises"]:
        assert (e["status"], e["diagnosis"]) == ("not attempted", "not implemented yet")


def test_check_text_output_and_a_failing_exercise(tmp_path, capsys):
    path = tmp_path / "mine.py"
    path.write_text(
        "import numpy as np\ndef sgd_step(param, grad, lr):\n    return param + lr * grad\n"
    )
    assert main(["check", str(path), "--lab", "2"]) == 1
    out = capsys.readouterr().out
    assert "FAIL sgd_step" in out and "wrong sign" in out
    assert "Milestone checklist" in out and "[ ] Three optimizers" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "missing.py"],
        ["check", "notes.txt"],
        ["check", "x.py", "--lab", "9"],
        ["exercises", "--lab", "0"],
    ],
    ids=["missing file", "wrong suffix", "bad lab", "bad exercises lab"],
)
def test_usage_errors_exit_2(argv, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("hi")
    (tmp_path / "x.py").write_text("")
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    assert code == 2


def test_a_file_that_does_not_load_fails_with_its_error(tmp_path, capsys):
    path = tmp_path / "broken.py"
    path.write_text("def sgd_step(param, grad, lr)\n    return param\n")
    assert main(["check", str(path)]) == 1
    assert "SyntaxError at line 1" in capsys.readouterr().out


def test_a_load_error_after_passing_exercises_exits_0_and_stays_visible(tmp_path, capsys):
    # the issue: exit 0 when every attempted exercise passes; the load error is still shown
    path = tmp_path / "late_error.py"
    good = "def sgd_step(param, grad, lr):\n    return param - lr * grad\n"
    path.write_text(good + "raise RuntimeError('oops at import')\n")
    assert main(["check", str(path), "--lab", "2"]) == 0
    out = capsys.readouterr().out
    assert "Your file did not load" in out and "RuntimeError: oops at import" in out
    assert "PASS sgd_step" in out
    assert main(["check", str(path), "--lab", "2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert "RuntimeError: oops at import" in data["load_error"]
    assert {e["name"]: e["status"] for e in data["exercises"]}["sgd_step"] == "passed"
    wrong = "def sgd_step(param, grad, lr):\n    return param + lr * grad\n"
    path.write_text(wrong + "raise RuntimeError('oops at import')\n")
    assert main(["check", str(path), "--lab", "2"]) == 1
    path.write_text("raise RuntimeError('oops at import')\n" + good)  # nothing defined
    assert main(["check", str(path), "--lab", "2"]) == 1


def test_only_the_stubs_own_not_implemented_error_means_not_attempted():
    # A learner's helper raising NotImplementedError (even with the stub's message), or the
    # exercise raising it with another message, is an error with the learner's traceback.
    source = textwrap.dedent("""
        import numpy as np
        def _log_terms(p):
            raise NotImplementedError("not implemented yet")
        def entropy(p):
            return -np.sum(_log_terms(p), axis=-1)
        def sgd_step(param, grad, lr):
            raise NotImplementedError("momentum first")
    """)
    stub = EXERCISES["lora_parameter_count"].stub
    report = check_source(source + stub, names=["entropy", "sgd_step", "lora_parameter_count"])
    by_name = {e.name: e for e in report.exercises}
    helper = by_name["entropy"]
    assert helper.status == "error", helper
    assert "raised NotImplementedError" in helper.diagnosis
    assert "in _log_terms" in helper.diagnosis and "not implemented yet" in helper.diagnosis
    other = by_name["sgd_step"]
    assert other.status == "error" and "NotImplementedError: momentum first" in other.diagnosis
    blank = by_name["lora_parameter_count"]
    assert (blank.status, blank.diagnosis) == ("not attempted", "not implemented yet")
    # the same in a notebook cell: check(fn) runs the function from the notebook's namespace
    ns = _define(
        "def _helper(p):\n    raise NotImplementedError('not implemented yet')\n"
        "def entropy(p):\n    return _helper(p)\n"
    )
    r = check(ns["entropy"]).exercises[0]
    assert r.status == "error" and "in _helper" in r.diagnosis
    r = check(_define(EXERCISES["entropy"].stub)["entropy"]).exercises[0]
    assert (r.status, r.diagnosis) == ("not attempted", "not implemented yet")


def test_a_plot_tells_a_helpers_not_implemented_error_from_the_stubs(capsys):
    from dlmath.exercises import plot_rank_error

    ns = _define(
        "def _tail(S, r):\n    raise NotImplementedError('not implemented yet')\n"
        "def relative_error_at_rank(W, r):\n"
        "    return _tail(np.linalg.svd(W, compute_uv=False), r)\n"
    )
    assert plot_rank_error(ns["relative_error_at_rank"], size=8) is None
    assert "`relative_error_at_rank` raised NotImplementedError" in capsys.readouterr().out
    blank = _define(EXERCISES["relative_error_at_rank"].stub)["relative_error_at_rank"]
    assert plot_rank_error(blank, size=8) is None
    assert "implement `relative_error_at_rank` first" in capsys.readouterr().out


# --- diagnoses ------------------------------------------------------------------------------

STRUCTURAL = [
    (
        "linear_forward",
        "returned a list for Z; expected an array",
        """
        def linear_forward(X, W, b):
            return (X @ W.T + b).tolist()
    """,
    ),
    (
        "linear_forward",
        "returned None",
        """
        def linear_forward(X, W, b):
            Z = X @ W.T + b
    """,
    ),
    (
        "linear_backward",
        "returned 2 values; expected 3 (dX, dW, db)",
        """
        def linear_backward(dZ, X, W):
            return [dZ @ W, dZ.T @ X]
    """,
    ),
    (
        "linear_backward",
        "dW is the transpose of the right one",  # one line, not one per case group
        """
        def linear_backward(dZ, X, W):
            return dZ @ W, X.T @ dZ, dZ.sum(axis=0)
    """,
    ),
    (
        "relu_backward",
        "dtype changed",
        """
        def relu_backward(dA, Z):
            return dA.astype(np.float64) * (Z > 0)
    """,
    ),
    (
        "relu_backward",
        "modified its input `dA` in place",
        """
        def relu_backward(dA, Z):
            dA[Z <= 0] = 0
            return dA
    """,
    ),
    (
        "tanh_backward",
        'File "submission.py", line 5, in tanh_backward',
        """
        def tanh_backward(dA, Z):
            scale = {"tanh": 1}
            return dA * scale["sigmoid"]
    """,
    ),
    (
        "sgd_step",
        "wrong sign",
        """
        def sgd_step(param, grad, lr):
            return param + lr * grad
    """,
    ),
    (
        "sgd_step",
        "a factor of 1/lr",
        """
        def sgd_step(param, grad, lr):
            return param - grad
    """,
    ),
    (
        "entropy",
        "bits instead of nats",
        """
        def entropy(p):
            safe = np.where(p > 0, p, 1.0)
            return -np.sum(p * np.log2(safe), axis=-1)
    """,
    ),
    (
        "softmax_cross_entropy",
        "dZ is 2x the right value: a factor of 2",
        """
        def softmax_cross_entropy(Z, y):
            n = len(y)
            S = Z - Z.max(axis=1, keepdims=True)
            P = np.exp(S) / np.exp(S).sum(axis=1, keepdims=True)
            loss = np.mean(np.log(np.exp(S).sum(axis=1)) - S[np.arange(n), y])
            dZ = P.copy()
            dZ[np.arange(n), y] -= 1
            return loss, 2 * dZ / n
    """,
    ),
    (
        "cross_entropy",
        "arguments swapped",
        """
        def cross_entropy(p, q):
            with np.errstate(divide="ignore", invalid="ignore"):
                return -np.sum(np.where(q > 0, q * np.log(p), 0.0), axis=-1)
    """,
    ),
    (
        "mlp_loss_and_grads",
        "[right: loss, W3, b3; wrong: W1, b1, W2, b2]",
        """
        def mlp_loss_and_grads(params, X, y):
            n = len(X)
            A1 = np.tanh(X @ params["W1"].T + params["b1"])
            A2 = np.tanh(A1 @ params["W2"].T + params["b2"])
            Z3 = A2 @ params["W3"].T + params["b3"]
            S = Z3 - Z3.max(axis=1, keepdims=True)
            P = np.exp(S) / np.exp(S).sum(axis=1, keepdims=True)
            loss = np.mean(np.log(np.exp(S).sum(axis=1)) - S[np.arange(n), y])
            dZ3 = (P - np.eye(Z3.shape[1])[y]) / n
            g = {"W3": dZ3.T @ A2, "b3": dZ3.sum(0)}
            dZ2 = dZ3 @ params["W3"]          # forgot tanh' here
            g["W2"], g["b2"] = dZ2.T @ A1, dZ2.sum(0)
            dZ1 = dZ2 @ params["W2"] * (1 - A1 ** 2)
            g["W1"], g["b1"] = dZ1.T @ X, dZ1.sum(0)
            return loss, g
    """,
    ),
]


@pytest.mark.parametrize(
    ("name", "expected", "source"), STRUCTURAL, ids=[f"{n}: {e[:24]}" for n, e, _ in STRUCTURAL]
)
def test_diagnosis_names_what_is_wrong(name, expected, source):
    result = check_source("import numpy as np\n" + textwrap.dedent(source), names=[name])
    r = result.exercises[0]
    assert r.status in ("failed", "error")
    assert expected in r.diagnosis
    assert "array(" not in r.diagnosis and "sandbox.py" not in r.diagnosis  # no hidden inputs


def test_an_infinite_loop_times_out_and_later_exercises_are_still_checked():
    source = textwrap.dedent("""
        import numpy as np
        def sgd_step(param, grad, lr):
            while True:
                pass
        def lora_parameter_count(d_out, d_in, r):
            return r * (d_in + d_out)
    """)
    report = check_source(source, names=["sgd_step", "lora_parameter_count"], timeout=1.0)
    by_name = {e.name: e for e in report.exercises}
    assert by_name["sgd_step"].status == "timeout"
    assert "timed out after 1 s" in by_name["sgd_step"].diagnosis
    assert by_name["lora_parameter_count"].status == "passed"


def test_tampering_with_numpy_does_not_change_the_verdict():
    source = textwrap.dedent("""
        import numpy as np
        np.allclose = lambda *a, **k: True
        np.isfinite = lambda x: np.ones(np.shape(x), dtype=bool)
        def entropy(p):
            return np.zeros(np.shape(p)[:-1])
    """)
    r = check_source(source, names=["entropy"]).exercises[0]
    assert r.status == "failed" and r.max_error > 0.1


ALTERNATIVES = {
    "linear_forward": """
        def linear_forward(X, W, b):
            n, d_out = X.shape[0], W.shape[0]
            Z = np.zeros((n, d_out), dtype=X.dtype)
            for i in range(n):
                for j in range(d_out):
                    Z[i, j] = sum(X[i, k] * W[j, k] for k in range(X.shape[1])) + b[j]
            return Z
    """,
    "sgd_step": """
        def sgd_step(param, grad, lr):
            param -= lr * grad
            return param
    """,
    "adam_step": """
        def adam_step(param, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
            m *= beta1
            m += (1 - beta1) * grad
            v *= beta2
            v += (1 - beta2) * grad * grad
            param -= lr * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps)
            return param, m, v
    """,
    "softmax_cross_entropy": """
        import math
        def softmax_cross_entropy(Z, y):
            n, C = Z.shape
            dZ = np.zeros_like(Z)
            total = 0.0
            for i in range(n):
                m = max(Z[i])
                s = sum(math.exp(z - m) for z in Z[i])
                total += m + math.log(s) - Z[i, y[i]]
                for c in range(C):
                    dZ[i, c] = (math.exp(Z[i, c] - m) / s - (c == y[i])) / n
            return total / n, dZ
    """,
    "entropy": """
        import math
        def entropy(p):
            rows = p.reshape(-1, p.shape[-1])
            out = [-sum(x * math.log(x) for x in row if x > 0) for row in rows]
            return np.array(out).reshape(p.shape[:-1])
    """,
}


@pytest.mark.parametrize("name", sorted(ALTERNATIVES))
def test_a_correct_differently_written_solution_passes(name):
    source = "import numpy as np\n" + textwrap.dedent(ALTERNATIVES[name])
    r = check_source(source, names=[name]).exercises[0]
    assert (r.status, r.diagnosis) == ("passed", "")


def test_check_in_a_notebook_cell_gives_a_table():
    ns = _define(EXERCISES["lora_forward"].solution_source)
    report = check(ns["lora_forward"])
    html = report._repr_html_()
    assert "lora_forward" in html and "#e6f4ea" in html and "#fce8e6" not in html
    assert "PASS lora_forward" in repr(report)
    wrong = _define("def relu_backward(dA, Z):\n    return dA\n")["relu_backward"]
    html = check(wrong)._repr_html_()
    assert "#fce8e6" in html and "failed" in html
    with pytest.raises(ValueError, match="'fn' must be one of the exercises"):
        check(lambda x: x)


# --- notebooks ----------------------------------------------------------------------------


def test_lab_notebook_has_statement_stub_and_check_per_exercise():
    nb = lab_notebook(4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    for name in (
        "low_rank_approx",
        "relative_error_at_rank",
        "rank_for_energy",
        "lora_parameter_count",
        "lora_forward",
    ):
        assert any(s.startswith(f"def {name}(") and "NotImplementedError" in s for s in code)
        assert f"check({name})" in code
    assert code[-1] == "plot_rank_error(relative_error_at_rank);"
    solved = [c.source for c in lab_notebook(4, solutions=True).cells if c.cell_type == "code"]
    assert not any("NotImplementedError" in s for s in solved)


def test_write_notebooks_never_overwrites_a_learners_work(tmp_path):
    done = write_notebooks(tmp_path, [1, 2])
    assert [p.name for p, _ in done] == ["lab1_exercises.ipynb", "lab2_exercises.ipynb"]
    mine = tmp_path / "lab2_exercises.ipynb"
    nb = nbformat.read(mine, as_version=4)
    nb.cells[3].source = "def linear_forward(X, W, b):\n    return X @ W.T + b"
    nbformat.write(nb, mine)
    before = mine.read_text()
    with pytest.raises(NotebookExistsError, match="lab2_exercises.ipynb"):
        write_notebooks(tmp_path, [1, 2])
    assert mine.read_text() == before
    assert [w for _, w in write_notebooks(tmp_path, [1])] == ["unchanged"]
    write_notebooks(tmp_path, [2], force=True)
    assert mine.read_text() != before
    (tmp_path / "notes.txt").write_text("keep")
    write_notebooks(tmp_path, solutions=True)
    assert (tmp_path / "notes.txt").read_text() == "keep"


def test_dlmath_exercises_refuses_then_forces(tmp_path, capsys):
    out = tmp_path / "ex"
    assert main(["exercises", "--out", str(out), "--lab", "5"]) == 0
    (out / "lab5_exercises.ipynb").write_text("{}")
    assert main(["exercises", "--out", str(out), "--lab", "5"]) == 2
    assert (out / "lab5_exercises.ipynb").read_text() == "{}"
    assert main(["exercises", "--out", str(out), "--keep"]) == 0
    assert (out / "lab5_exercises.ipynb").read_text() == "{}"
    assert (out / "lab1_exercises.ipynb").exists()
    assert main(["exercises", "--out", str(out), "--lab", "5", "--force"]) == 0
    assert "written" in capsys.readouterr().out
    assert (out / "lab5_exercises.ipynb").read_text() != "{}"


def test_solved_notebooks_pass_through_dlmath_check(tmp_path):
    from dlmath.exercises import check_file

    write_notebooks(tmp_path, solutions=True)
    for lab in (1, 3, 4, 5):
        report = check_file(tmp_path / f"lab{lab}_solutions.ipynb", lab=lab)
        assert report.load_error == ""
        assert [e.status for e in report.exercises] == ["passed"] * len(report.exercises), lab


def test_plots_draw_the_learners_own_results():
    from dlmath.exercises import plot_rank_error, plot_surface
    from dlmath.lowrank import matrix_with_spectrum, rank_sweep

    ns = _define(_all_solutions())
    fig = plot_rank_error(ns["relative_error_at_rank"], size=16)
    x, y = fig.axes[0].lines[0].get_data()
    W = matrix_with_spectrum(1.0 / np.arange(1, 17), 16, 16, seed=0)
    np.testing.assert_allclose(y, rank_sweep(W, x.astype(int)).frobenius, atol=1e-12)
    assert fig.axes[0].get_title() and fig.axes[0].get_xlabel() == "rank r"
    fig = plot_surface(ns["surface_on_plane"], ns["filter_normalize"], n=5)
    assert [ax.get_title() for ax in fig.axes[:1]] == ["Your surface: contours"]
    blank = _define(EXERCISES["surface_on_plane"].stub)["surface_on_plane"]
    assert plot_surface(blank, ns["filter_normalize"], n=5) is None


# --- tester findings (9 to 13, 17): each test reproduces what once went wrong

UNSTABLE_SOFTMAX = """
def softmax_cross_entropy(Z, y):
    n = len(y)
    P = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
    loss = -np.mean(np.log(P[np.arange(n), y]))
    dZ = P.copy()
    dZ[np.arange(n), y] -= 1
    return loss, dZ / n
"""
RELU_IN_PLACE = """
def relu_backward(dA, Z):
    dA[Z <= 0] = 0
    return dA
"""


@pytest.mark.parametrize("source", [UNSTABLE_SOFTMAX, RELU_IN_PLACE], ids=["nan", "in place"])
def test_a_failure_without_a_finite_error_shows_no_worst_error(source):
    with np.errstate(all="ignore"):
        report = check_source("import numpy as np\n" + source)
    (r,) = [e for e in report.exercises if e.status != "not attempted"]
    assert r.status == "failed"
    # before the fix: 7.5e-09 (NaN cases left out) and 0.0 (the values were right)
    assert r.max_error is None
    (line,) = [ln for ln in str(report).splitlines() if f"FAIL {r.name} " in ln]
    assert "worst error" not in line
    json.dumps(report.to_dict(), allow_nan=False)  # valid JSON: null, never NaN


def test_all_zeros_wrong_sign_and_one_line_per_distinct_mistake():
    source = """
import numpy as np
def linear_forward(X, W, b):
    return np.zeros((X.shape[0], W.shape[0]), dtype=X.dtype)
def sgd_step(param, grad, lr):
    return param + lr * grad
def linear_backward(dZ, X, W):
    return dZ @ W, X.T @ dZ, dZ.sum(axis=0)
"""
    report = check_source(source)
    by = {e.name: e for e in report.exercises}
    # before: "Z is 0x the right value (off by a constant factor)"
    assert "returned all zeros for Z" in by["linear_forward"].diagnosis
    # before: "(a step goes against the gradient)", which is what a right step does
    assert "your step goes along the gradient; it should go against it" in (
        by["sgd_step"].diagnosis
    )
    # before: 3 lines (square W: the named mistake; non-square: a transposed shape, twice)
    lines = by["linear_backward"].diagnosis.splitlines()
    assert len(lines) == 1 and "dW" in lines[0] and "transpose" in lines[0], lines
    # before: "not yet, not attempted" although four lab 1 exercises were attempted
    (backprop,) = [m for m in report.milestones if m["milestone"].startswith("Manual backprop")]
    assert not backprop["passed"] and backprop["evidence"] == "mlp_loss_and_grads not attempted"


def test_an_untouched_stub_is_not_attempted_in_every_case_group():
    report = check_source("import numpy as np\n" + EXERCISES["sgd_step"].stub, names=["sgd_step"])
    (r,) = report.exercises
    assert r.status == "not attempted" and r.groups  # the stub ran on every case group
    text = str(r)
    assert "[BAD]" not in text and text.count("not attempted") == 1 + len(r.groups), text
    page = r._repr_html_()
    assert ">failed<" not in page and page.count(">not attempted<") == len(r.groups)


def test_check_warns_about_dlmath_imports_as_grade_notes_them(tmp_path, capsys):
    from dlmath.exercises.grading import _library_imports

    f = tmp_path / "mine.py"
    f.write_text("from dlmath.prob import entropy\n")
    assert main(["check", str(f), "--json"]) in (0, 1)  # checked, not a usage error
    (note,) = json.loads(capsys.readouterr().out)["notes"]
    assert "dlmath.prob" in note and "dlmath grade" in note
    computed = 'import importlib\nH = importlib.import_module("dl" + "math.prob").entropy\n'
    assert _library_imports(computed) == ["a module named at run time (importlib/__import__)"]
    assert _library_imports('import importlib\nnp = importlib.import_module("numpy")\n') == []


def test_a_file_with_nothing_attempted_exits_1_and_says_so(tmp_path, capsys):
    path = tmp_path / "empty.py"
    path.write_text("x = 1\n")
    assert main(["check", str(path)]) == 1
    out = capsys.readouterr().out
    # before: "0 of 0 attempted exercises passed", which reads like a pass
    assert "Nothing attempted: none of the 29 exercises" in out and "0 of 0" not in out
