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
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlmath.data import Split, digits, two_moons
from dlmath.labs._contract import Check, LabContext, LabResult
from dlmath.landscape import (
    Trajectory,
    find_critical_points,
    flat_mask,
    grid_values,
    hessian_eigs,
    hessian_trace,
    loss_interpolation,
    loss_points,
    loss_surface,
    pca_directions,
    random_direction,
    slice_function,
    train_with_snapshots,
)
from dlmath.nets import torch_mlp
from dlmath.optim import SGD, Adam, himmelblau, saddle

TITLE = "Loss landscapes: slices, trajectories, critical points, sharpness"
MILESTONES = [
    "2D and 3D loss landscape visualizations complete",
    "Overlay optimization trajectory on landscape",
    "Identify local minima, saddle points, flat regions",
]

#: 2-D functions of a torch tensor, for torch.func derivatives: Lab 2's (their f takes
#: tensors) and the monkey saddle, whose Hessian vanishes at its critical point.
TORCH_FUNCTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "himmelblau": himmelblau().f,
    "monkey saddle": lambda v: v[0] ** 3 - 3 * v[0] * v[1] ** 2,
    "saddle": saddle().f,
}

#: the static and interactive files the first milestone asks for
_LANDSCAPE_FILES = frozenset(
    {
        "digits_pca_contour.png",
        "digits_pca_surface3d.png",
        "digits_pca_surface.html",
        "digits_random_slice.png",
        "digits_random_slice.html",
    }
)
_SLICE_LABELS = {"xlabel": "alpha (filter-normalized d1)", "ylabel": "beta (filter-normalized d2)"}


@dataclass
class Run:
    """One training run: the trained model, its initial weights and the trajectory."""

    name: str
    model: nn.Module
    init: list[np.ndarray]
    trajectory: Trajectory


def train_runs(
    sizes: list[int],
    activation: str,
    X,
    y,
    *,
    epochs: int,
    batch_size: int | None,
    lrs: dict[str, float],
    seed: int,
    every: int = 1,
) -> dict[str, Run]:
    """Train the same initial network with SGD (momentum 0.9) and with Adam, keeping snapshots."""
    makers = {
        "SGD": lambda p: SGD(p, lr=lrs["SGD"], momentum=0.9),
        "Adam": lambda p: Adam(p, lr=lrs["Adam"]),
    }
    runs = {}
    for name, make in makers.items():
        model = torch_mlp(sizes, activation, seed=seed, dtype=torch.float64)
        init = [p.detach().numpy().copy() for p in model.parameters()]
        traj = train_with_snapshots(
            model,
            F.cross_entropy,
            X,
            y,
            make,
            epochs,
            batch_size=batch_size,
            seed=seed,
            every=every,
        )
        runs[name] = Run(name, model, init, traj)
    return runs


def accuracy(model: nn.Module, X: np.ndarray, y: np.ndarray) -> float:
    """Fraction of rows of ``X`` whose arg-max logit is the label."""
    with torch.no_grad():
        return float((model(torch.as_tensor(X)).argmax(1).numpy() == y).mean())


def plane_grid(trajectory: np.ndarray, n: int, margin: float = 0.25) -> tuple[np.ndarray, ...]:
    """Grid axes covering a projected trajectory (T, 2) with a margin on every side."""
    lo, hi = trajectory.min(axis=0), trajectory.max(axis=0)
    pad = margin * np.maximum(hi - lo, 1e-3)
    return np.linspace(lo[0] - pad[0], hi[0] + pad[0], n), np.linspace(
        lo[1] - pad[1], hi[1] + pad[1], n
    )


def model_state(model: nn.Module) -> tuple:
    """Everything loss_surface promises not to touch: values, flags, grads, mode."""
    return (
        [p.detach().clone() for p in model.parameters()],
        [p.requires_grad for p in model.parameters()],
        [p.grad for p in model.parameters()],
        [m.training for m in model.modules()],
    )


def same_state(a: tuple, b: tuple) -> bool:
    """Whether two :func:`model_state` snapshots are identical."""
    return all(torch.equal(x, y) for x, y in zip(a[0], b[0], strict=True)) and a[1:] == b[1:]


def _write_weights(model: nn.Module, weights) -> None:
    """Overwrite ``model``'s parameters, in order, with arrays or tensors of their shapes."""
    torch.nn.utils.vector_to_parameters(
        torch.cat([torch.as_tensor(w).reshape(-1) for w in weights]), model.parameters()
    )


def pointwise_loss(model: nn.Module, X, y, theta: list[torch.Tensor]) -> float:
    """Reference: write the weights into a copy of the model and evaluate (the slow way)."""
    clone = copy.deepcopy(model)
    _write_weights(clone, theta)
    with torch.no_grad():
        return float(F.cross_entropy(clone(torch.as_tensor(X)), torch.as_tensor(y)))


def dense_hessian(model: nn.Module, X, y) -> np.ndarray:
    """Reference: the full Hessian of the cross-entropy by ``torch.func.hessian`` (n x n)."""
    from torch.func import functional_call, hessian

    named = list(model.named_parameters())
    flat = torch.cat([p.detach().reshape(-1) for _, p in named])
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)

    def loss(v: torch.Tensor) -> torch.Tensor:
        parts = torch.split(v, [p.numel() for _, p in named])
        weights = {n: w.reshape(p.shape) for (n, p), w in zip(named, parts, strict=True)}
        return F.cross_entropy(functional_call(model, weights, (Xt,)), yt)

    return hessian(loss)(flat).numpy()


def _fd_hessian_error(h: Callable, x: np.ndarray, eps: float = 1e-4) -> float:
    """Relative difference between torch.func's 2x2 Hessian and a finite-difference one."""
    from torch.func import hessian

    xt = torch.as_tensor(x)
    H = hessian(h)(xt).numpy()
    E = np.eye(2) * eps
    with torch.no_grad():
        val = lambda d: float(h(xt + torch.as_tensor(d)))  # noqa: E731
        H_fd = np.array(
            [
                [
                    (val(E[i] + E[j]) - val(E[i] - E[j]) - val(E[j] - E[i]) + val(-E[i] - E[j]))
                    / (4 * eps**2)
                    for j in range(2)
                ]
                for i in range(2)
            ]
        )
    return float(np.abs(H - H_fd).max() / max(np.abs(H).max(), 1e-12))


def _random_plane(model: nn.Module, X, y, seeds: tuple[int, int], n: int, progress: bool):
    """Two filter-normalized random directions and the loss over [-1, 1]^2 spanned by them."""
    dirs = [random_direction(model, seed=seed, normalization="filter") for seed in seeds]
    s = np.linspace(-1.0, 1.0, n)
    return dirs, s, loss_surface(model, F.cross_entropy, X, y, dirs, s, s, progress=progress)


# ----------------------------------------------------------------------------- the lab


@dataclass
class _Part:
    """What one part of the lab adds to the result."""

    checks: list[Check]
    tables: dict[str, list[dict]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def run(ctx: LabContext) -> LabResult:
    """Train both networks, then draw and check landscapes, critical points and sharpness."""
    d, digit_runs = _train_digits(ctx)
    m, moon_runs = _train_moons(ctx)
    training = _training({"digits": (d, digit_runs), "two moons": (m, moon_runs)})
    landscapes = _digits_landscapes(ctx, digit_runs, d.X_train, d.y_train)
    critical = _critical_points(ctx, moon_runs["Adam"], m.X_train, m.y_train)
    sharpness = _sharpness(ctx, {"two moons": (m, moon_runs), "digits": (d, digit_runs)})
    # measured last, since they need every figure, but listed right after training
    milestones = _figure_milestones(ctx)
    parts = [training, milestones, landscapes, critical, sharpness]
    return ctx.result(
        3,
        TITLE,
        [c for p in parts for c in p.checks],
        tables={k: v for p in parts for k, v in p.tables.items()},
        notes=[n for p in parts for n in p.notes],
    )


# ----------------------------------------------------------------------------- training


def _train_digits(ctx: LabContext) -> tuple[Split, dict[str, Run]]:
    """The digits MLP (ReLU), minibatch SGD and Adam."""
    d = digits(seed=ctx.seed)
    runs = train_runs(
        [64, 32, 10] if ctx.quick else [64, 64, 64, 10],
        "relu",
        d.X_train,
        d.y_train,
        epochs=4 if ctx.quick else 25,
        batch_size=64,
        lrs={"SGD": 0.05, "Adam": 3e-3},
        seed=ctx.seed,
    )
    return d, runs


def _train_moons(ctx: LabContext) -> tuple[Split, dict[str, Run]]:
    """A small tanh network on two moons, full-batch SGD and Adam."""
    m = two_moons(n=300 if ctx.quick else 500, noise=0.15, seed=ctx.seed)
    runs = train_runs(
        [2, 16, 16, 2],
        "tanh",
        m.X_train,
        m.y_train,
        epochs=60 if ctx.quick else 300,
        batch_size=None,
        lrs={"SGD": 0.2, "Adam": 0.03},
        seed=ctx.seed,
        every=2 if ctx.quick else 5,
    )
    return m, runs


def _training(problems: dict[str, tuple[Split, dict[str, Run]]]) -> _Part:
    """Loss and test accuracy of every run; all four must have learned."""
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
    return _Part([check], {"training": rows})


def _figure_milestones(ctx: LabContext) -> _Part:
    """The first two milestones: the landscape files exist and the trajectory is drawn."""
    written = set(ctx.figures) | set(ctx.interactive)
    return _Part(
        [
            Check.holds(
                "2D and 3D loss landscape visualizations complete",
                written >= _LANDSCAPE_FILES,
                detail=f"{len(_LANDSCAPE_FILES & written)}/{len(_LANDSCAPE_FILES)} contour, 3-D "
                "and interactive files written",
            ),
            Check.holds(
                "Overlay optimization trajectory on landscape",
                "digits_pca_contour.png" in written,
                detail="Adam's path on its PCA plane (contour and 3-D HTML)",
            ),
        ]
    )


# ----------------------------------------------------------------------------- landscapes


def _digits_landscapes(ctx: LabContext, runs: dict[str, Run], X, y) -> _Part:
    """The digits MLP's PCA plane, random slice and interpolation; none may touch the model."""
    n_grid = 11 if ctx.quick else 41
    adam = runs["Adam"]
    before = model_state(adam.model)
    plane = _pca_plane(ctx, adam, X, y, n_grid)
    slice_check = _random_slice(ctx, runs["SGD"], X, y, n_grid)
    interpolation_check = _interpolation(ctx, runs, X, y, n_grid)
    untouched = Check.holds(
        "loss_surface leaves the model untouched",
        same_state(before, model_state(adam.model)),
        detail="parameters, requires_grad, grads and modes identical",
    )
    checks = [*plane.checks, slice_check, interpolation_check, untouched]
    return _Part(checks, plane.tables, plane.notes)


def _pca_plane(ctx: LabContext, adam: Run, X, y, n_grid: int) -> _Part:
    """Loss over the PCA plane of Adam's path, centred at its final weights, path drawn on it."""
    pca = pca_directions(adam.trajectory.snapshots)
    a, b = plane_grid(pca.trajectory, n_grid)
    Z = loss_surface(
        adam.model, F.cross_entropy, X, y, pca.directions, a, b, progress=ctx.show_progress
    )
    on_plane = loss_points(
        adam.model, F.cross_entropy, X, y, pca.directions, pca.trajectory, progress=False
    )
    _draw_pca_plane(ctx, pca, a, b, Z, on_plane)
    r1, r2 = pca.explained_variance_ratio
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
    return _Part([check], {"digits_pca": rows}, [note])


def _draw_pca_plane(ctx: LabContext, pca, a, b, Z, on_plane) -> None:
    """The PCA plane as a contour with the path, a static 3-D surface and an interactive one."""
    from dlmath.viz.landscape import plot_contour, plot_surface3d, plotly_surface

    r1, r2 = pca.explained_variance_ratio
    ctx.save_figure(
        plot_contour(
            a,
            b,
            Z,
            log_scale=True,
            trajectories={"Adam": pca.trajectory},
            title="Digits MLP: loss over the PCA plane of Adam's path",
            xlabel=f"PC1 ({100 * r1:.1f}% of variance)",
            ylabel=f"PC2 ({100 * r2:.1f}% of variance)",
        ),
        "digits_pca_contour.png",
    )
    ctx.save_figure(
        plot_surface3d(
            a,
            b,
            Z,
            log_scale=True,
            title="Digits MLP: PCA-plane surface",
            xlabel="PC1",
            ylabel="PC2",
        ),
        "digits_pca_surface3d.png",
    )
    ctx.save_html(
        plotly_surface(
            a,
            b,
            Z,
            log_scale=True,
            trajectories={"Adam (projected)": (pca.trajectory, on_plane)},
            title="Digits MLP: loss over the PCA plane of Adam's path (drag to rotate)",
            xlabel="PC1",
            ylabel="PC2",
        ),
        "digits_pca_surface.html",
    )


def _random_slice(ctx: LabContext, sgd: Run, X, y, n_grid: int) -> Check:
    """A random filter-normalized slice around the SGD solution, checked point by point."""
    from dlmath.viz.landscape import plot_contour, plotly_surface

    seeds = (ctx.seed + 1, ctx.seed + 2)
    dirs, s, Z = _random_plane(sgd.model, X, y, seeds, n_grid, ctx.show_progress)
    ctx.save_figure(
        plot_contour(
            s,
            s,
            Z,
            log_scale=True,
            title="Digits MLP (SGD): random filter-normalized slice",
            **_SLICE_LABELS,
        ),
        "digits_random_slice.png",
    )
    ctx.save_html(
        plotly_surface(
            s,
            s,
            Z,
            log_scale=True,
            title="Digits MLP (SGD): random filter-normalized slice (drag to rotate)",
        ),
        "digits_random_slice.html",
    )
    return Check.at_most(
        "loss_surface matches point-by-point evaluation",
        _pointwise_gap(sgd.model, X, y, dirs, s, Z, ctx.seed),
        1e-10,
        detail="max |diff| at 4 grid points",
    )


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
                X,
                y,
                [t + s[i] * u + s[j] * v for t, u, v in zip(theta, d1, d2, strict=True)],
            )
        )
        for i, j in picks
    ]
    return max(diffs)


def _interpolation(ctx: LabContext, runs: dict[str, Run], X, y, n_grid: int) -> Check:
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
        abs(curves[n][i] - pointwise_loss(r.model, X, y, w))
        for n, r in runs.items()
        for i, w in (
            (np.argmin(abs(alphas)), [torch.as_tensor(x) for x in r.init]),
            (np.argmin(abs(alphas - 1)), list(r.model.parameters())),
        )
    ]
    ctx.save_figure(
        plot_lines(
            alphas,
            curves,
            log_scale=True,
            xlabel="alpha: theta = (1 - alpha) theta_init + alpha theta_final",
            title="Digits MLP: loss from initialization to solution",
            markers={"init": 0.0, "solution": 1.0},
        ),
        "digits_interpolation.png",
    )
    return Check.at_most(
        "interpolation endpoints equal the init and trained losses",
        max(ends),
        1e-10,
        detail="max |diff|",
    )


# ----------------------------------------------------------------------------- critical points


def _critical_points(ctx: LabContext, moons_adam: Run, X, y) -> _Part:
    """Critical points of Himmelblau, the monkey saddle and a two-moons slice, classified."""
    n_grid, n_slice, n_starts = (31, 15, 3) if ctx.quick else (81, 41, 8)
    points, himmelblau_checks = _himmelblau_points(ctx, n_grid)
    mpoints, monkey_check = _monkey_saddle_points(ctx, n_slice, n_starts)
    spoints, slice_check = _moons_slice_points(ctx, moons_adam, X, y, n_slice, n_starts)
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
        for name, pts in (
            ("himmelblau", points),
            ("monkey saddle", mpoints),
            ("two-moons slice", spoints),
        )
        for p in pts
    ]
    checks = [*himmelblau_checks, monkey_check, slice_check]
    return _Part(checks, {"critical_points": rows})


def _himmelblau_points(ctx: LabContext, n_grid: int) -> tuple[list, list[Check]]:
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
    ctx.save_figure(
        plot_contour(
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
        ),
        "critical_himmelblau.png",
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
    return points, checks


def _monkey_saddle_points(ctx: LabContext, n: int, n_starts: int) -> tuple[list, Check]:
    """The monkey saddle: one degenerate critical point inside a flat region."""
    from dlmath.viz.landscape import plot_contour

    g = TORCH_FUNCTIONS["monkey saddle"]
    xm = np.linspace(-1, 1, n)
    Zm = grid_values(g, xm, xm)
    flat = flat_mask(xm, xm, Zm, rel_tol=0.05)
    points = find_critical_points(g, xm, xm, Zm, grad_tol=1e-12, n_starts=n_starts)
    ctx.save_figure(
        plot_contour(
            xm,
            xm,
            Zm,
            critical_points=points,
            flat=flat,
            title="Monkey saddle x^3 - 3xy^2: a degenerate point",
            xlabel="x",
            ylabel="y",
            zlabel="f",
        ),
        "critical_monkey.png",
    )
    kinds = [p.kind for p in points]
    check = Check.holds(
        "degenerate point and flat region found",
        kinds == ["degenerate"] and bool(flat.any()),
        detail=f"kinds {kinds}, {int(flat.sum())} flat grid points",
    )
    return points, check


def _moons_slice_points(
    ctx: LabContext, adam: Run, X, y, n: int, n_starts: int
) -> tuple[list, Check]:
    """Critical points on a random slice of the two-moons network around Adam's weights."""
    from dlmath.viz.landscape import plot_contour

    model = adam.model
    dirs, s, Z = _random_plane(model, X, y, (ctx.seed + 3, ctx.seed + 4), n, progress=False)
    h = slice_function(model, F.cross_entropy, X, y, dirs)
    points = find_critical_points(h, s, s, Z, n_starts=n_starts)
    ctx.save_figure(
        plot_contour(
            s,
            s,
            Z,
            log_scale=True,
            critical_points=points,
            flat=flat_mask(s, s, Z),
            title="Two moons (Adam): critical points on a random slice",
            **_SLICE_LABELS,
        ),
        "critical_moons_slice.png",
    )
    # classification reference: central finite differences of the slice's Hessian
    fd_err = max((_fd_hessian_error(h, p.x) for p in points), default=np.nan)
    check = Check.at_most(
        "network-slice Hessians agree with finite differences",
        fd_err,
        1e-4,
        detail=f"{len(points)} critical point(s), max rel diff",
    )
    return points, check


# ----------------------------------------------------------------------------- sharpness


def _sharpness(ctx: LabContext, problems: dict[str, tuple[Split, dict[str, Run]]]) -> _Part:
    """Top Hessian eigenvalue along every run, then Lanczos and Hutchinson against dense."""
    from dlmath.viz.landscape import plot_lines

    n_points, n_trace = (3, 50) if ctx.quick else (10, 300)
    curves, rows = {}, []
    for data, (split, runs) in problems.items():
        for name, run in runs.items():
            traj = run.trajectory
            picks, tops = _sharpness_along(run, split.X_train, split.y_train, n_points, ctx.seed)
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
    ctx.save_figure(
        plot_lines(
            np.zeros(0),
            curves,
            log_scale=True,
            xlabel="optimizer step",
            ylabel="|top Hessian eigenvalue| (sharpness)",
            title="Sharpness along training",
        ),
        "sharpness.png",
    )
    m, moons = problems["two moons"]
    checks = _dense_hessian_checks(moons["Adam"].model, m.X_train, m.y_train, n_trace, ctx.seed)
    note = (
        "Sharpness is the largest-magnitude Hessian eigenvalue of the training loss, "
        "by Lanczos on Hessian-vector products (no n x n matrix)."
    )
    return _Part(checks, {"sharpness": rows}, [note])


def _sharpness_along(run: Run, X, y, n_points: int, seed: int) -> tuple[np.ndarray, list]:
    """Lanczos top eigenvalue at about ``n_points`` snapshots spread evenly along the run."""
    model = copy.deepcopy(run.model)
    snapshots = run.trajectory.snapshots
    picks = np.unique(np.linspace(0, len(snapshots) - 1, n_points).astype(int))
    tops = []
    for i in picks:
        _write_weights(model, snapshots[i])
        tops.append(hessian_eigs(model, F.cross_entropy, X, y, k=1, tol=1e-4, seed=seed))
    return picks, tops


def _dense_hessian_checks(model: nn.Module, X, y, n_trace: int, seed: int) -> list[Check]:
    """Lanczos and Hutchinson against the dense Hessian of a small trained network."""
    H = dense_hessian(model, X, y)
    eig = np.linalg.eigvalsh(H)
    dense_top = eig[np.argmax(np.abs(eig))]
    top = hessian_eigs(model, F.cross_entropy, X, y, k=3, tol=1e-10)
    tr = hessian_trace(model, F.cross_entropy, X, y, n_samples=n_trace, seed=seed)
    return [
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
