"""Lab 1.3.3: loss landscapes of real models, with trajectories, critical points and sharpness.

Trains the digits MLP and a two-moons classifier with ``dlmath.optim.SGD`` and ``Adam``
(snapshots kept), then draws: the PCA plane of the Adam trajectory with the path on it
(contour, static 3-D and interactive 3-D), a random filter-normalized slice around the SGD
solution, the 1-D interpolation from initialization to solution, critical points of 2-D
test functions and of a network's slice (labelled), and the top Hessian eigenvalue along
training. Every figure is backed by a measured check against an independent reference.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlmath.data import Split, digits, two_moons
from dlmath.labs._contract import Check, LabContext, LabResult, Section, drawn
from dlmath.landscape import (
    Run,
    dense_hessian,
    fd_hessian_error,
    find_critical_points,
    flat_mask,
    grid_values,
    hessian_eigs,
    hessian_trace,
    loss_interpolation,
    loss_points,
    loss_surface,
    model_state,
    pca_directions,
    plane_grid,
    pointwise_loss,
    random_direction,
    same_state,
    slice_function,
    train_runs,
    write_weights,
)
from dlmath.milestones import milestones_of
from dlmath.nets import accuracy
from dlmath.optim import SGD, Adam, himmelblau, saddle
from dlmath.viz.inspect import finite_traces, has_line

TITLE = "Loss landscapes: slices, trajectories, critical points, sharpness"
MILESTONES = milestones_of(3)

#: a training problem: its data and its runs (one per optimizer)
Problem = tuple[Split, dict[str, Run]]


@dataclass(frozen=True)
class Config:
    """Sizes and seeds of lab 3 (``quick``: seconds for the tests; else the full run)."""

    quick: bool
    seed: int
    digits_sizes: tuple[int, ...]
    digits_epochs: int
    moons_n: int
    moons_epochs: int
    moons_every: int
    n_grid: int  # landscape grid per axis
    critical_grid: int  # Himmelblau grid per axis
    slice_grid: int  # monkey saddle and network-slice grid per axis
    n_starts: int  # Newton starts per basin
    sharpness_points: int  # snapshots along each run for the top eigenvalue
    trace_samples: int  # Hutchinson probes
    digits_lrs: tuple[float, float] = (0.05, 3e-3)  # SGD (momentum 0.9), Adam
    digits_batch: int = 64
    moons_sizes: tuple[int, ...] = (2, 16, 16, 2)
    moons_noise: float = 0.15
    moons_lrs: tuple[float, float] = (0.2, 0.03)  # SGD (momentum 0.9), Adam, full batch


def config(quick: bool = False, seed: int = 0) -> Config:
    """The lab's sizes: ``quick`` for tests (seconds), else the full run."""
    if quick:
        return Config(quick, seed, (64, 32, 10), 4, 300, 60, 2, 11, 31, 15, 3, 3, 50)
    return Config(quick, seed, (64, 64, 64, 10), 25, 500, 300, 5, 41, 81, 41, 8, 10, 300)


# ----------------------------------------------------------------------------- the lab


def run(ctx: LabContext) -> LabResult:
    """Train both networks, then draw and check landscapes, critical points and sharpness."""
    cfg = config(ctx.quick, ctx.seed)
    trained = train(cfg)
    problems = trained["problems"]
    sections = [
        trained,
        digits_landscapes(cfg, problems["digits"], show_progress=ctx.show_progress),
        critical_points(cfg, problems["two moons"]),
        sharpness(cfg, problems),
    ]
    return ctx.result(3, TITLE, sections)


# ----------------------------------------------------------------------------- training


def train(cfg: Config) -> Section:
    """The digits MLP (ReLU, minibatch) and a two-moons network (tanh, full batch), each
    trained with SGD (momentum 0.9) and Adam from the same start, snapshots kept."""
    d = digits(seed=cfg.seed)
    digit_runs = train_runs(
        cfg.digits_sizes,
        "relu",
        d.X_train,
        d.y_train,
        epochs=cfg.digits_epochs,
        batch_size=cfg.digits_batch,
        optimizers=_optimizers(*cfg.digits_lrs),
        seed=cfg.seed,
    )
    m = two_moons(n=cfg.moons_n, noise=cfg.moons_noise, seed=cfg.seed)
    moon_runs = train_runs(
        cfg.moons_sizes,
        "tanh",
        m.X_train,
        m.y_train,
        epochs=cfg.moons_epochs,
        batch_size=None,
        optimizers=_optimizers(*cfg.moons_lrs),
        seed=cfg.seed,
        every=cfg.moons_every,
    )
    problems = {"digits": (d, digit_runs), "two moons": (m, moon_runs)}
    rows = [
        {
            "data": data,
            "optimizer": name,
            "steps": int(r.trajectory.steps[-1]),
            "initial_loss": float(r.trajectory.losses[0]),
            "final_loss": float(r.trajectory.losses[-1]),
            "test_accuracy": accuracy(r.model, split.X_test, split.y_test),
        }
        for data, (split, runs) in problems.items()
        for name, r in runs.items()
    ]
    check = Check.at_least(
        "SGD and Adam train both networks",
        min(r["test_accuracy"] for r in rows),
        0.85,
        detail="lowest test accuracy of the 4 runs",
    )
    return Section("training", [check], {"training": rows}, values={"problems": problems})


def _optimizers(sgd: float, adam: float) -> dict[str, Callable]:
    """SGD with momentum 0.9 and Adam, at learning rates ``sgd`` and ``adam``."""
    return {
        "SGD": lambda p: SGD(p, lr=sgd, momentum=0.9),
        "Adam": lambda p: Adam(p, lr=adam),
    }


# ----------------------------------------------------------------------------- landscapes

#: the static and interactive figures the first milestone asks for
LANDSCAPE_FIGURES = (
    "digits_pca_contour.png",
    "digits_pca_surface3d.png",
    "digits_pca_surface.html",
    "digits_random_slice.png",
    "digits_random_slice.html",
)


def digits_landscapes(cfg: Config, problem: Problem, *, show_progress: bool = True) -> Section:
    """The digits MLP's PCA plane (Adam's path on it), a random filter-normalized slice
    around the SGD solution and the line from initialization to solution, each checked
    against a point-by-point reference; none may touch the model."""
    split, runs = problem
    X, y, n_grid = split.X_train, split.y_train, cfg.n_grid
    adam = runs["Adam"]
    before = {name: model_state(r.model) for name, r in runs.items()}
    plane = _pca_plane(adam, X, y, n_grid, show_progress)
    random_slice = _random_slice(cfg, runs["SGD"], X, y, show_progress)
    line = _interpolation(runs, X, y, n_grid)
    untouched = Check.holds(
        "loss_surface leaves the model untouched",
        all(same_state(before[name], model_state(r.model)) for name, r in runs.items()),
        detail="parameters, requires_grad, grads and modes of both models identical",
    )
    figures = {**plane.figures, **random_slice.figures, **line.figures}
    # each landscape figure draws a surface with finite losses (the path does not count)
    surfaces = {name: finite_traces(figures[name](), lines=False) for name in LANDSCAPE_FIGURES}
    contour, interactive = (
        figures[k]() for k in ("digits_pca_contour.png", "digits_pca_surface.html")
    )
    path_3d = [t for t in interactive.data if t.name == "Adam (projected)"]
    milestones = [
        Check.holds(
            MILESTONES[0],
            all(n >= 1 for n in surfaces.values()),
            detail=f"{sum(n >= 1 for n in surfaces.values())}/{len(surfaces)} contour, 3-D and "
            "interactive figures drawn with finite losses",
        ),
        Check.holds(
            "Overlay optimization trajectory on landscape",
            has_line(contour, "Adam") and bool(path_3d) and finite_traces(interactive) > 1,
            detail="Adam's path on its PCA plane (contour and 3-D HTML)",
        ),
    ]
    checks = [*milestones, *plane.checks, *random_slice.checks, *line.checks, untouched]
    return Section(
        "loss landscapes of the digits MLP",
        checks,
        plane.tables,
        plane.notes,
        values={**plane.values, **random_slice.values, **line.values},
        figures=figures,
    )


def _pca_plane(adam: Run, X, y, n_grid: int, progress) -> Section:
    """Loss over the PCA plane of Adam's path, centred at its final weights, path drawn on it."""
    from dlmath.viz.landscape import plot_contour, plot_surface3d, plotly_surface

    pca = pca_directions(adam.trajectory.snapshots)
    a, b = plane_grid(pca.trajectory, n_grid)
    Z = loss_surface(adam.model, F.cross_entropy, X, y, pca.directions, a, b, progress=progress)
    on_plane = loss_points(
        adam.model, F.cross_entropy, X, y, pca.directions, pca.trajectory, progress=False
    )
    r1, r2 = pca.explained_variance_ratio
    figures = {
        "digits_pca_contour.png": drawn(
            plot_contour(
                a,
                b,
                Z,
                log_scale=True,
                trajectories={"Adam": pca.trajectory},
                title="Digits MLP: loss over the PCA plane of Adam's path",
                xlabel=f"PC1 ({100 * r1:.1f}% of variance)",
                ylabel=f"PC2 ({100 * r2:.1f}% of variance)",
            )
        ),
        "digits_pca_surface3d.png": drawn(
            plot_surface3d(
                a,
                b,
                Z,
                log_scale=True,
                title="Digits MLP: PCA-plane surface",
                xlabel="PC1",
                ylabel="PC2",
            )  # fmt: skip
        ),
        "digits_pca_surface.html": drawn(
            plotly_surface(
                a,
                b,
                Z,
                log_scale=True,
                trajectories={"Adam (projected)": (pca.trajectory, on_plane)},
                title="Digits MLP: loss over the PCA plane of Adam's path (drag to rotate)",
                xlabel="PC1",
                ylabel="PC2",
            )
        ),
    }
    check = Check.at_least(
        "PCA plane captures the trajectory",
        r1 + r2,
        0.5,
        detail="explained variance ratio of 2 components",
    )
    note = (
        f"Adam's path: the top 2 PCA directions explain {100 * (r1 + r2):.1f}% of "
        "its variance; the path is drawn projected on that plane."
    )
    rows = [
        {"component": f"PC{k + 1}", "explained_variance_ratio": float(r)}
        for k, r in enumerate(pca.explained_variance_ratio)
    ]
    return Section(
        "PCA plane",
        [check],
        {"digits_pca": rows},
        [note],
        values={"pca": pca, "pca_grid": (a, b), "pca_Z": Z},
        figures=figures,
    )


def _random_plane(model: nn.Module, X, y, seeds: tuple[int, int], n: int, progress: bool):
    """Two filter-normalized random directions and the loss over [-1, 1]^2 spanned by them."""
    dirs = [random_direction(model, seed=seed, normalization="filter") for seed in seeds]
    s = np.linspace(-1.0, 1.0, n)
    return dirs, s, loss_surface(model, F.cross_entropy, X, y, dirs, s, s, progress=progress)


_SLICE_LABELS = {"xlabel": "alpha (filter-normalized d1)", "ylabel": "beta (filter-normalized d2)"}


def _random_slice(cfg: Config, sgd: Run, X, y, progress) -> Section:
    """A random filter-normalized slice around the SGD solution, checked point by point."""
    from dlmath.viz.landscape import plot_contour, plotly_surface

    seeds = (cfg.seed + 1, cfg.seed + 2)
    dirs, s, Z = _random_plane(sgd.model, X, y, seeds, cfg.n_grid, progress)
    figures = {
        "digits_random_slice.png": drawn(
            plot_contour(
                s,
                s,
                Z,
                log_scale=True,
                title="Digits MLP (SGD): random filter-normalized slice",
                **_SLICE_LABELS,
            )
        ),
        "digits_random_slice.html": drawn(
            plotly_surface(
                s,
                s,
                Z,
                log_scale=True,
                title="Digits MLP (SGD): random filter-normalized slice (drag to rotate)",
            )
        ),
    }
    check = Check.at_most(
        "loss_surface matches point-by-point evaluation",
        _pointwise_gap(sgd.model, X, y, dirs, s, Z, cfg.seed),
        1e-10,
        detail="max |diff| at 4 grid points",
    )
    return Section("random slice", [check], values={"slice_grid": s, "slice_Z": Z}, figures=figures)


def _pointwise_gap(model: nn.Module, X, y, dirs, s: np.ndarray, Z: np.ndarray, seed: int) -> float:
    """Max |Z - pointwise_loss| at 4 random grid points: the vmapped surface vs the slow way."""
    picks = np.random.default_rng(seed).integers(0, len(s), size=(4, 2))
    theta = [p.detach() for p in model.parameters()]
    d1, d2 = dirs
    diffs = [
        abs(
            Z[i, j]
            - pointwise_loss(
                model,
                F.cross_entropy,
                X,
                y,
                [t + s[i] * u + s[j] * v for t, u, v in zip(theta, d1, d2, strict=True)],
            )
        )
        for i, j in picks
    ]
    return max(diffs)


def _interpolation(runs: dict[str, Run], X, y, n_grid: int) -> Section:
    """Loss on the straight line from initialization to solution, one curve per optimizer."""
    from dlmath.viz.landscape import plot_lines

    alphas = np.linspace(-0.25, 1.25, 6 * (n_grid // 3) + 1)  # 0 and 1 on the grid
    curves = {
        name: loss_interpolation(
            run.model, F.cross_entropy, X, y, run.init, run.model, alphas, progress=False
        )
        for name, run in runs.items()
    }
    ends = [
        abs(curves[n][i] - pointwise_loss(r.model, F.cross_entropy, X, y, w))
        for n, r in runs.items()
        for i, w in (
            (np.argmin(abs(alphas)), [torch.as_tensor(x) for x in r.init]),
            (np.argmin(abs(alphas - 1)), list(r.model.parameters())),
        )
    ]
    check = Check.at_most(
        "interpolation endpoints equal the init and trained losses",
        max(ends),
        1e-10,
        detail="max |diff|",
    )
    figure = lambda: plot_lines(
        alphas,
        curves,
        log_scale=True,
        xlabel="alpha: theta = (1 - alpha) theta_init + alpha theta_final",
        title="Digits MLP: loss from initialization to solution",
        markers={"init": 0.0, "solution": 1.0},
    )
    return Section(
        "interpolation",
        [check],
        values={"alphas": alphas, "interpolation": curves},
        figures={"digits_interpolation.png": figure},
    )


# ----------------------------------------------------------------------------- critical points

#: 2-D functions of a torch tensor, for torch.func derivatives: Lab 2's (their f takes
#: tensors) and the monkey saddle, whose Hessian vanishes at its critical point.
TORCH_FUNCTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "himmelblau": himmelblau().f,
    "monkey saddle": lambda v: v[0] ** 3 - 3 * v[0] * v[1] ** 2,
    "saddle": saddle().f,
}


def critical_points(cfg: Config, problem: Problem) -> Section:
    """Critical points of Himmelblau, the monkey saddle and a two-moons slice, classified."""
    split, runs = problem
    himmel = _himmelblau_points(cfg.critical_grid)
    monkey = _monkey_saddle_points(cfg.slice_grid, cfg.n_starts)
    moons = _moons_slice_points(cfg, runs["Adam"], split.X_train, split.y_train)
    found = (
        ("himmelblau", himmel["points"]),
        ("monkey saddle", monkey["points"]),
        ("two-moons slice", moons["points"]),
    )
    rows = [
        {
            "function": name,
            "kind": p.kind,
            "x": float(p.x[0]),
            "y": float(p.x[1]),
            "f": p.value,
            "grad_norm": p.grad_norm,
            "eigenvalues": [float(e) for e in p.eigenvalues],
        }
        for name, pts in found
        for p in pts
    ]
    return Section(
        "critical points",
        [*himmel.checks, *monkey.checks, *moons.checks],
        {"critical_points": rows},
        values={name: pts for name, pts in found},
        figures={**himmel.figures, **monkey.figures, **moons.figures},
    )


def _himmelblau_points(n_grid: int) -> Section:
    """Himmelblau on [-5, 5]^2: 4 minima, 4 saddles, 1 maximum, confirmed by scipy."""
    from scipy.optimize import root

    from dlmath.viz.landscape import plot_contour

    f = TORCH_FUNCTIONS["himmelblau"]
    xs = np.linspace(-5, 5, n_grid)
    Z = grid_values(f, xs, xs)
    points = find_critical_points(f, xs, xs, Z)
    ref = himmelblau()  # Lab 2's NumPy gradient and Hessian: the independent reference
    dist = max(
        np.linalg.norm(root(ref.grad, p.x, jac=ref.hessian, tol=1e-14).x - p.x) for p in points
    )
    kinds = {k: sum(p.kind == k for p in points) for k in ("minimum", "saddle", "maximum")}
    figure = lambda: plot_contour(
        xs,
        xs,
        Z + 1.0,
        log_scale=True,
        critical_points=points,
        flat=flat_mask(xs, xs, Z),
        title="Himmelblau: critical points",
        xlabel="x",
        ylabel="y",
        zlabel="f + 1",
    )
    checks = [
        Check.holds(
            "Identify local minima, saddle points, flat regions",
            kinds == {"minimum": 4, "saddle": 4, "maximum": 1},
            detail=f"Himmelblau: {kinds} (expected 4 / 4 / 1)",
        ),
        Check.at_most(
            "critical points agree with scipy.optimize.root",
            dist,
            1e-8,
            detail="max distance to scipy's root of Lab 2's gradient",
        ),
    ]
    return Section(
        "Himmelblau", checks, values={"points": points},
        figures={"critical_himmelblau.png": figure},
    )  # fmt: skip


def _monkey_saddle_points(n: int, n_starts: int) -> Section:
    """The monkey saddle: one degenerate critical point inside a flat region."""
    from dlmath.viz.landscape import plot_contour

    g = TORCH_FUNCTIONS["monkey saddle"]
    xm = np.linspace(-1, 1, n)
    Zm = grid_values(g, xm, xm)
    flat = flat_mask(xm, xm, Zm, rel_tol=0.05)
    points = find_critical_points(g, xm, xm, Zm, grad_tol=1e-12, n_starts=n_starts)
    figure = lambda: plot_contour(
        xm,
        xm,
        Zm,
        critical_points=points,
        flat=flat,
        title="Monkey saddle x^3 - 3xy^2: a degenerate point",
        xlabel="x",
        ylabel="y",
        zlabel="f",
    )
    kinds = [p.kind for p in points]
    check = Check.holds(
        "degenerate point and flat region found",
        kinds == ["degenerate"] and bool(flat.any()),
        detail=f"kinds {kinds}, {int(flat.sum())} flat grid points",
    )
    return Section(
        "monkey saddle", [check], values={"points": points},
        figures={"critical_monkey.png": figure},
    )  # fmt: skip


def _moons_slice_points(cfg: Config, adam: Run, X, y) -> Section:
    """Critical points on a random slice of the two-moons network around Adam's weights."""
    from dlmath.viz.landscape import plot_contour

    model, seed = adam.model, cfg.seed
    dirs, s, Z = _random_plane(model, X, y, (seed + 3, seed + 4), cfg.slice_grid, progress=False)
    h = slice_function(model, F.cross_entropy, X, y, dirs)
    points = find_critical_points(h, s, s, Z, n_starts=cfg.n_starts)
    figure = lambda: plot_contour(
        s,
        s,
        Z,
        log_scale=True,
        critical_points=points,
        flat=flat_mask(s, s, Z),
        title="Two moons (Adam): critical points on a random slice",
        **_SLICE_LABELS,
    )
    # classification reference: central finite differences of the slice's Hessian
    fd_err = max((fd_hessian_error(h, p.x) for p in points), default=np.nan)
    check = Check.at_most(
        "network-slice Hessians agree with finite differences",
        fd_err,
        1e-4,
        detail=f"{len(points)} critical point(s), max rel diff",
    )
    return Section(
        "two-moons slice", [check], values={"points": points},
        figures={"critical_moons_slice.png": figure},
    )  # fmt: skip


# ----------------------------------------------------------------------------- sharpness


def sharpness(cfg: Config, problems: dict[str, Problem]) -> Section:
    """Top Hessian eigenvalue along every run, then Lanczos and Hutchinson against dense."""
    from dlmath.viz.landscape import plot_lines

    curves, rows = {}, []
    # the order of the report's table: two moons first
    for data in ("two moons", "digits"):
        split, runs = problems[data]
        for name, run in runs.items():
            traj = run.trajectory
            picks, tops = _sharpness_along(
                run, split.X_train, split.y_train, cfg.sharpness_points, cfg.seed
            )
            values = [float(top.eigenvalues[0]) for top in tops]
            rows += [
                {
                    "data": data,
                    "optimizer": name,
                    "step": int(traj.steps[i]),
                    "loss": float(traj.losses[i]),
                    "top_eigenvalue": value,
                    "hvp_products": top.n_products,
                }
                for i, value, top in zip(picks, values, tops, strict=True)
            ]
            curves[f"{data}, {name}"] = (traj.steps[picks], np.abs(values))
    figure = lambda: plot_lines(
        np.zeros(0),
        curves,
        log_scale=True,
        xlabel="optimizer step",
        ylabel="|top Hessian eigenvalue| (sharpness)",
        title="Sharpness along training",
    )
    m, moons = problems["two moons"]
    checks, dense = _dense_hessian_checks(
        moons["Adam"].model, m.X_train, m.y_train, cfg.trace_samples, cfg.seed
    )
    note = (
        "Sharpness is the largest-magnitude Hessian eigenvalue of the training loss, "
        "by Lanczos on Hessian-vector products (no n x n matrix)."
    )
    return Section(
        "sharpness", checks, {"sharpness": rows}, [note], values={"curves": curves, **dense},
        figures={"sharpness.png": figure},
    )  # fmt: skip


def _sharpness_along(run: Run, X, y, n_points: int, seed: int) -> tuple[np.ndarray, list]:
    """Lanczos top eigenvalue at about ``n_points`` snapshots spread evenly along the run."""
    model = copy.deepcopy(run.model)
    snapshots = run.trajectory.snapshots
    picks = np.unique(np.linspace(0, len(snapshots) - 1, n_points).astype(int))
    tops = []
    for i in picks:
        write_weights(model, snapshots[i])
        tops.append(hessian_eigs(model, F.cross_entropy, X, y, k=1, tol=1e-4, seed=seed))
    return picks, tops


def _dense_hessian_checks(model: nn.Module, X, y, n_trace: int, seed: int):
    """Lanczos and Hutchinson against the dense Hessian of a small trained network; returns
    the checks and the numbers (``top``, ``trace``, the dense ``eigenvalues``)."""
    H = dense_hessian(model, F.cross_entropy, X, y)
    eig = np.linalg.eigvalsh(H)
    dense_top = eig[np.argmax(np.abs(eig))]
    top = hessian_eigs(model, F.cross_entropy, X, y, k=3, tol=1e-10, seed=seed)
    tr = hessian_trace(model, F.cross_entropy, X, y, n_samples=n_trace, seed=seed)
    checks = [
        Check.at_most(
            "top Hessian eigenvalue (Lanczos) matches the dense Hessian",
            abs(top.eigenvalues[0] - dense_top) / abs(dense_top),
            1e-8,
            detail=f"relative error, {top.n_products} products, n = {len(H)}",
        ),
        Check.at_most(
            "Hutchinson trace within 4 standard errors of the dense trace",
            abs(tr.estimate - np.trace(H)) / tr.stderr,
            4.0,
            detail=f"|estimate - trace| / stderr (trace {np.trace(H):.4g})",
        ),
    ]
    return checks, {"top": top, "trace": tr, "dense_eigenvalues": eig}
