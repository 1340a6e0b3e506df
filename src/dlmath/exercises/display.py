r"""How a check reads: an HTML table in Jupyter (green/red per case group), plain text elsewhere,
and the plots of the learner's own results that the exercise notebooks draw.

The plots call the learner's functions directly (it is their notebook, their process);
they never run while ``dlmath check`` loads a notebook as a script.
"""

from __future__ import annotations

import html
from collections.abc import Callable

import numpy as np

__all__ = [
    "exercise_html",
    "exercise_text",
    "plot_convergence",
    "plot_rank_error",
    "plot_surface",
    "report_html",
    "report_text",
]

_GREEN, _RED, _GREY = "#e6f4ea", "#fce8e6", "#f1f3f4"
_MARK = {
    "passed": "PASS",
    "failed": "FAIL",
    "not attempted": "----",
    "error": "ERR ",
    "timeout": "TIME",
}


def _err(x: float | None) -> str:
    return "" if x is None else f"{x:.1e}"


# --- text -----------------------------------------------------------------------------------


def exercise_text(r, *, detail: bool = False, width: int = 24) -> str:
    """One line per exercise (and its case groups with ``detail``)."""
    head = f"  {_MARK.get(r.status, r.status):4} {r.name:<{width}}"
    if r.status == "not attempted":
        line = f"{head} not attempted" + (f": {r.diagnosis}" if r.diagnosis else "")
    else:
        groups = f"{sum(g['passed'] for g in r.groups)}/{len(r.groups)} groups"
        worst = f", worst error {_err(r.max_error)}" if r.max_error is not None else ""
        line = f"{head} {r.cases:3d} cases, {groups}{worst}"
        if r.diagnosis:
            line += "\n" + "\n".join("        " + t for t in r.diagnosis.splitlines())
    if detail and r.groups:
        for g in r.groups:
            mark = "ok " if g["passed"] else "BAD"
            tail = f"  {g['diagnosis'].splitlines()[0]}" if g["diagnosis"] else ""
            if r.status == "not attempted":  # one verdict throughout: not BAD, not failed
                mark, tail = "---", "  not attempted"
            line += f"\n      [{mark}] {g['group']} ({g['cases']}){tail}"
    return line


def report_text(report) -> str:
    """What ``dlmath check`` prints: per lab, per exercise; then the milestone checklist."""
    from dlmath.exercises.registry import LAB_TITLES

    lines = []
    if report.load_error:
        lines += ["Your file did not load:", *("  " + t for t in report.load_error.splitlines())]
    for note in report.notes:
        lines.append(f"note: {note}")
    labs = sorted({e.lab for e in report.exercises})
    single = len(report.exercises) == 1
    for lab in labs:
        if not single:
            lines.append(f"\n── Lab 1.3.{lab}: {LAB_TITLES[lab]} ".ljust(78, "─"))
        mine = [e for e in report.exercises if e.lab == lab]
        if not single and all(
            e.status == "not attempted" and "not defined" in e.diagnosis for e in mine
        ):
            lines.append(f"  ---- none of its {len(mine)} exercises is defined in this file")
            continue
        lines += [exercise_text(e, detail=single) for e in mine]
    if report.milestones:
        lines.append("\n── Milestone checklist (judged on your code) ".ljust(78, "─"))
        for m in report.milestones:
            box = "[x]" if m["passed"] else "[ ]"
            lines.append(
                f"  {box} {m['milestone']}: {'yes' if m['passed'] else 'not yet'}, {m['evidence']}"
            )
    if not single:
        att = report.attempted
        ok = sum(e.status == "passed" for e in att)
        if not att:  # exit status 1: there is nothing to pass
            lines.append(
                f"\nNothing attempted: none of the {len(report.exercises)} exercises is "
                "implemented yet (exit status 1)."
            )
        else:
            lines.append(
                f"\n{ok} of {len(att)} attempted exercises passed "
                f"({len(report.exercises) - len(att)} not attempted)."
            )
    return "\n".join(lines).lstrip("\n")


# --- HTML -----------------------------------------------------------------------------------


def exercise_html(r) -> str:
    """A table of the exercise's case groups, each row green (passed) or red (failed)."""
    color = {"passed": _GREEN, "not attempted": _GREY}.get(r.status, _RED)
    esc = html.escape
    rows = []
    for g in r.groups:
        bg = _GREEN if g["passed"] else _RED
        says, why = ("passed" if g["passed"] else "failed"), g["diagnosis"]
        if r.status == "not attempted":  # one verdict throughout: not red, not failed
            bg, says, why = _GREY, "not attempted", ""
        rows.append(
            f'<tr style="background:{bg}"><td>{esc(g["group"])}</td><td>{g["cases"]}</td>'
            f"<td>{says}</td><td>{_err(g['max_error'])}</td>"
            f'<td style="text-align:left;white-space:pre-wrap">{esc(why)}</td></tr>'
        )
    verdict = {
        "passed": "passed",
        "failed": "failed",
        "error": "raised an error",
        "timeout": "timed out",
        "not attempted": "not attempted",
    }[r.status]
    diag = (
        f'<div style="white-space:pre-wrap;margin:4px 0">{esc(r.diagnosis)}</div>'
        if r.diagnosis
        else ""
    )
    table = (
        '<table style="border-collapse:collapse"><tr><th>case group</th><th>cases</th>'
        "<th>verdict</th><th>worst error</th><th>diagnosis</th></tr>" + "".join(rows) + "</table>"
        if rows
        else ""
    )
    return (
        f'<div style="border-left:6px solid {"#188038" if r.status == "passed" else "#d93025"};'
        f'padding:4px 8px;background:{color}"><b>{esc(r.name)}</b>: {verdict} '
        f"({sum(g['passed'] for g in r.groups)}/{len(r.groups)} case groups, "
        f"score {r.score:.2f})</div>{diag}{table}"
    )


def report_html(report) -> str:
    """Every exercise's table, then the milestones (when the whole module was checked)."""
    esc = html.escape
    parts = []
    if report.load_error:
        parts.append(f"<pre>{esc(report.load_error)}</pre>")
    parts += [exercise_html(e) for e in report.exercises]
    if report.milestones:
        items = "".join(
            f"<li>{'&#9745;' if m['passed'] else '&#9744;'} {esc(m['milestone'])}: "
            f"{esc(m['evidence'])}</li>"
            for m in report.milestones
        )
        parts.append(f"<h4>Milestones (judged on your code)</h4><ul>{items}</ul>")
    return "\n".join(parts)


# --- plots of the learner's own results -----------------------------------------------------


def _skip(fn: Callable) -> str:
    """Why the plot cannot be drawn yet ("" when it can)."""
    from dlmath.exercises import checking

    if checking.LOADING_FILE:
        return "skipped while `dlmath check` loads this file"
    return ""


def _stub_of(exc: BaseException) -> str:
    """The exercise whose stub raised ``exc`` (its exact message, in its own frame), or ""."""
    from dlmath.exercises.registry import EXERCISES, STUB_MESSAGE

    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    name = tb.tb_frame.f_code.co_name if tb is not None else ""
    ok = isinstance(exc, NotImplementedError) and str(exc) == STUB_MESSAGE and name in EXERCISES
    return name if ok else ""


def _try(fn: Callable, *args):
    try:
        return fn(*args), ""
    except NotImplementedError as exc:
        if stub := _stub_of(exc):
            return None, f"implement `{stub}` first, then run this cell again"
        return None, f"`{fn.__name__}` raised NotImplementedError: {exc}"
    except Exception as exc:  # the learner's bug: say so, do not crash their notebook
        return None, f"`{fn.__name__}` raised {type(exc).__name__}: {exc}"


def plot_convergence(train_on_rosenbrock: Callable, steps: int = 400):
    """Your three optimizers on Rosenbrock: loss per step (log scale), one curve each."""
    if why := _skip(train_on_rosenbrock):
        print(why)
        return None
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for opt, lr in (("sgd", 5e-4), ("momentum", 1e-4), ("adam", 2e-2)):
        losses, err = _try(train_on_rosenbrock, opt, lr, steps)
        if err:
            plt.close(fig)
            print(err)
            return None
        ax.semilogy(np.arange(len(losses)), np.maximum(losses, 1e-300), label=f"{opt} (lr {lr:g})")
    ax.set(
        title="Your optimizers on Rosenbrock from (-1.5, 2)",
        xlabel="step",
        ylabel="loss f(x, y) (log scale)",
    )
    ax.legend()
    return fig


def plot_surface(surface_on_plane: Callable, filter_normalize: Callable, n: int = 21):
    """Your loss surface of a small MLP on two moons, along two filter-normalized directions."""
    if why := _skip(surface_on_plane):
        print(why)
        return None
    import matplotlib.pyplot as plt

    from dlmath.backprop import MLP
    from dlmath.data import two_moons

    data = two_moons(200, seed=0)
    X, y = data.X_train, data.y_train
    mlp = MLP([2, 8, 2], activation="tanh", loss="cross_entropy", seed=0)
    theta = mlp.flatten()
    rng = np.random.default_rng(0)
    dirs = []
    for _ in range(2):
        parts = []
        for w in mlp.params.values():
            d, err = _try(filter_normalize, rng.standard_normal(w.shape), w.copy())
            if err:
                print(err)
                return None
            parts.append(np.asarray(d, dtype=float).ravel())
        dirs.append(np.concatenate(parts))
    net = MLP([2, 8, 2], activation="tanh", loss="cross_entropy", seed=0)

    def loss(t):
        net.params = {k: np.array(v) for k, v in net.unflatten(np.asarray(t, dtype=float)).items()}
        return net.loss_value(X, y)

    alphas = betas = np.linspace(-1, 1, n)
    Z, err = _try(surface_on_plane, loss, theta, dirs[0], dirs[1], alphas, betas)
    if err:
        print(err)
        return None
    A, B = np.meshgrid(alphas, betas, indexing="ij")
    fig = plt.figure(figsize=(10, 4))
    ax = fig.add_subplot(1, 2, 1)
    cs = ax.contourf(A, B, Z, levels=20)
    fig.colorbar(cs, ax=ax, label="loss (nats)")
    ax.set(title="Your surface: contours", xlabel="alpha (along d1)", ylabel="beta (along d2)")
    ax3 = fig.add_subplot(1, 2, 2, projection="3d")
    ax3.plot_surface(A, B, np.asarray(Z), cmap="viridis")
    ax3.set(title="Your surface: 3-D", xlabel="alpha", ylabel="beta", zlabel="loss (nats)")
    return fig


def plot_rank_error(relative_error_at_rank: Callable, size: int = 64):
    """Your relative Frobenius error against the rank, for a matrix with a decaying spectrum."""
    if why := _skip(relative_error_at_rank):
        print(why)
        return None
    import matplotlib.pyplot as plt

    from dlmath.lowrank import matrix_with_spectrum

    W = matrix_with_spectrum(1.0 / np.arange(1, size + 1), size, size, seed=0)
    ranks = np.arange(1, size + 1)
    errors = []
    for r in ranks:
        e, err = _try(relative_error_at_rank, W, int(r))
        if err:
            print(err)
            return None
        errors.append(float(e))
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(ranks, errors, marker=".", label="your relative_error_at_rank")
    ax.set(
        title=f"Reconstruction error of a {size}x{size} matrix (s_i = 1/i)",
        xlabel="rank r",
        ylabel="||W - W_r||_F / ||W||_F",
    )
    ax.legend()
    return fig
