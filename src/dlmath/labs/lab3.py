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

from dlmath.data import digits, two_moons
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
    return all(torch.equal(x, y) for x, y in zip(a[0], b[0], strict=True)) and a[1:] == b[1:]


def pointwise_loss(model: nn.Module, X, y, theta: list[torch.Tensor]) -> float:
    """Reference: write the weights into a copy of the model and evaluate (the slow way)."""
    clone = copy.deepcopy(model)
    torch.nn.utils.vector_to_parameters(
        torch.cat([t.reshape(-1) for t in theta]), clone.parameters()
    )
    with torch.no_grad():
        return float(F.cross_entropy(clone(torch.as_tensor(X)), torch.as_tensor(y)))


def _digits_landscapes(ctx, runs, Xtr, ytr, n_grid, checks, notes, tables):
    from dlmath.viz.landscape import plot_contour, plot_lines, plot_surface3d, plotly_surface

    adam, sgd = runs["Adam"], runs["SGD"]
    before = model_state(adam.model)
    # PCA plane of the Adam trajectory, centred at its final weights
    pca = pca_directions(adam.trajectory.snapshots)
    a, b = plane_grid(pca.trajectory, n_grid)
    Z = loss_surface(
        adam.model, F.cross_entropy, Xtr, ytr, pca.directions, a, b, progress=ctx.show_progress
    )
    on_plane = loss_points(
        adam.model, F.cross_entropy, Xtr, ytr, pca.directions, pca.trajectory, progress=False
    )
    r1, r2 = pca.explained_variance_ratio
    labels = {
        "xlabel": f"PC1 ({100 * r1:.1f}% of variance)",
        "ylabel": f"PC2 ({100 * r2:.1f}% of variance)",
    }
    ctx.save_figure(
        plot_contour(
            a,
            b,
            Z,
            log_scale=True,
            trajectories={"Adam": pca.trajectory},
            title="Digits MLP: loss over the PCA plane of Adam's path",
            **labels,
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
    checks.append(
        Check.at_least(
            "PCA plane captures the trajectory",
            r1 + r2,
            0.5,
            detail="explained variance ratio of 2 components",
        )
    )
    notes.append(
        f"Adam's path: the top 2 PCA directions explain {100 * (r1 + r2):.1f}% of "
        "its variance; the path is drawn projected on that plane."
    )

    # random filter-normalized slice around the SGD solution
    d1 = random_direction(sgd.model, seed=ctx.seed + 1, normalization="filter")
    d2 = random_direction(sgd.model, seed=ctx.seed + 2, normalization="filter")
    s = np.linspace(-1.0, 1.0, n_grid)
    Zr = loss_surface(
        sgd.model, F.cross_entropy, Xtr, ytr, (d1, d2), s, s, progress=ctx.show_progress
    )
    ctx.save_figure(
        plot_contour(
            s,
            s,
            Zr,
            log_scale=True,
            title="Digits MLP (SGD): random filter-normalized slice",
            xlabel="alpha (filter-normalized d1)",
            ylabel="beta (filter-normalized d2)",
        ),
        "digits_random_slice.png",
    )
    ctx.save_html(
        plotly_surface(
            s,
            s,
            Zr,
            log_scale=True,
            title="Digits MLP (SGD): random filter-normalized slice (drag to rotate)",
        ),
        "digits_random_slice.html",
    )
    # the vmapped surface against writing weights into a model, point by point
    rng = np.random.default_rng(ctx.seed)
    picks = rng.integers(0, n_grid, size=(4, 2))
    theta = [p.detach() for p in sgd.model.parameters()]
    diffs = [
        abs(
            Zr[i, j]
            - pointwise_loss(
                sgd.model,
                Xtr,
                ytr,
                [t + s[i] * u + s[j] * v for t, u, v in zip(theta, d1, d2, strict=True)],
            )
        )
        for i, j in picks
    ]
    checks.append(
        Check.at_most(
            "loss_surface matches point-by-point evaluation",
            max(diffs),
            1e-10,
            detail="max |diff| at 4 grid points",
        )
    )

    # 1-D interpolation from initialization to solution
    alphas = np.linspace(-0.25, 1.25, 6 * (n_grid // 3) + 1)  # 0 and 1 on the grid
    curves = {
        name: loss_interpolation(
            run.model, F.cross_entropy, Xtr, ytr, run.init, run.model, alphas, progress=False
        )
        for name, run in runs.items()
    }
    ends = [
        abs(curves[n][i] - pointwise_loss(r.model, Xtr, ytr, w))
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
    checks.append(
        Check.at_most(
            "interpolation endpoints equal the init and trained losses",
            max(ends),
            1e-10,
            detail="max |diff|",
        )
    )
    checks.append(
        Check.holds(
            "loss_surface leaves the model untouched",
            same_state(before, model_state(adam.model)),
            detail="parameters, requires_grad, grads and modes identical",
        )
    )
    tables["digits_pca"] = [
        {"component": f"PC{k + 1}", "explained_variance_ratio": float(r)}
        for k, r in enumerate(pca.explained_variance_ratio)
    ]
    return Zr


def _critical_points(ctx, sizes, checks, tables, moons_run, Xm, ym):
    from scipy.optimize import root

    from dlmath.viz.landscape import plot_contour

    rows = []
    # Himmelblau: 4 minima, 4 saddles, 1 maximum in [-5, 5]^2
    f = TORCH_FUNCTIONS["himmelblau"]
    n_grid, n_slice, n_starts = sizes
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
    checks.append(
        Check.holds(
            "Identify local minima, saddle points, flat regions",
            kinds == {"minimum": 4, "saddle": 4, "maximum": 1},
            detail=f"Himmelblau: {kinds} (expected 4 / 4 / 1)",
        )
    )
    checks.append(
        Check.at_most(
            "critical points agree with scipy.optimize.root",
            dist,
            1e-8,
            detail="max distance to scipy's root of Lab 2's gradient",
        )
    )
    # monkey saddle: one degenerate critical point in a flat region
    g = TORCH_FUNCTIONS["monkey saddle"]
    xm = np.linspace(-1, 1, n_slice)
    Zm = grid_values(g, xm, xm)
    flat = flat_mask(xm, xm, Zm, rel_tol=0.05)
    mpoints = find_critical_points(g, xm, xm, Zm, grad_tol=1e-12, n_starts=n_starts)
    ctx.save_figure(
        plot_contour(
            xm,
            xm,
            Zm,
            critical_points=mpoints,
            flat=flat,
            title="Monkey saddle x^3 - 3xy^2: a degenerate point",
            xlabel="x",
            ylabel="y",
            zlabel="f",
        ),
        "critical_monkey.png",
    )
    checks.append(
        Check.holds(
            "degenerate point and flat region found",
            [p.kind for p in mpoints] == ["degenerate"] and bool(flat.any()),
            detail=f"kinds {[p.kind for p in mpoints]}, {int(flat.sum())} flat grid points",
        )
    )
    # a network's slice: two moons, random filter-normalized directions around Adam's weights
    model = moons_run.model
    dirs = [random_direction(model, seed=ctx.seed + k) for k in (3, 4)]
    h = slice_function(model, F.cross_entropy, Xm, ym, dirs)
    s = np.linspace(-1.0, 1.0, n_slice)
    Zs = loss_surface(model, F.cross_entropy, Xm, ym, dirs, s, s, progress=False)
    spoints = find_critical_points(h, s, s, Zs, n_starts=n_starts)
    ctx.save_figure(
        plot_contour(
            s,
            s,
            Zs,
            log_scale=True,
            critical_points=spoints,
            flat=flat_mask(s, s, Zs),
            title="Two moons (Adam): critical points on a random slice",
            xlabel="alpha (filter-normalized d1)",
            ylabel="beta (filter-normalized d2)",
        ),
        "critical_moons_slice.png",
    )
    # classification reference: central finite differences of the slice's Hessian
    fd_err = max((_fd_hessian_error(h, p.x) for p in spoints), default=np.nan)
    checks.append(
        Check.at_most(
            "network-slice Hessians agree with finite differences",
            fd_err,
            1e-4,
            detail=f"{len(spoints)} critical point(s), max rel diff",
        )
    )
    for name, pts in (
        ("himmelblau", points),
        ("monkey saddle", mpoints),
        ("two-moons slice", spoints),
    ):
        rows += [
            {
                "function": name,
                "kind": p.kind,
                "x": float(p.x[0]),
                "y": float(p.x[1]),
                "f": p.value,
                "grad_norm": p.grad_norm,
                "eigenvalues": [float(e) for e in p.eigenvalues],
            }
            for p in pts
        ]
    tables["critical_points"] = rows


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


def _sharpness(ctx, moons, digit_runs, Xm, ym, Xd, yd, n_points, n_trace, checks, tables):
    from dlmath.viz.landscape import plot_lines

    curves, rows = {}, []
    for data, runs, X, y in (("two moons", moons, Xm, ym), ("digits", digit_runs, Xd, yd)):
        for name, run in runs.items():
            model = copy.deepcopy(run.model)
            traj = run.trajectory
            picks = np.unique(np.linspace(0, len(traj.snapshots) - 1, n_points).astype(int))
            tops = []
            for i in picks:
                torch.nn.utils.vector_to_parameters(
                    torch.as_tensor(np.concatenate([w.ravel() for w in traj.snapshots[i]])),
                    model.parameters(),
                )
                top = hessian_eigs(model, F.cross_entropy, X, y, k=1, tol=1e-4, seed=ctx.seed)
                tops.append(float(top.eigenvalues[0]))
                rows.append(
                    {
                        "data": data,
                        "optimizer": name,
                        "step": int(traj.steps[i]),
                        "loss": float(traj.losses[i]),
                        "top_eigenvalue": tops[-1],
                        "hvp_products": top.n_products,
                    }
                )
            curves[f"{data}, {name}"] = (traj.steps[picks], np.abs(tops))
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
    tables["sharpness"] = rows
    # Lanczos and Hutchinson against the dense Hessian of the trained two-moons network
    model = moons["Adam"].model
    H = dense_hessian(model, Xm, ym)
    eig = np.linalg.eigvalsh(H)
    dense_top = eig[np.argmax(np.abs(eig))]
    top = hessian_eigs(model, F.cross_entropy, Xm, ym, k=3, tol=1e-10)
    checks.append(
        Check.at_most(
            "top Hessian eigenvalue (Lanczos) matches the dense Hessian",
            abs(top.eigenvalues[0] - dense_top) / abs(dense_top),
            1e-8,
            detail=f"relative error, {top.n_products} products, n = {len(H)}",
        )
    )
    tr = hessian_trace(model, F.cross_entropy, Xm, ym, n_samples=n_trace, seed=ctx.seed)
    checks.append(
        Check.at_most(
            "Hutchinson trace within 4 standard errors of the dense trace",
            abs(tr.estimate - np.trace(H)) / tr.stderr,
            4.0,
            detail=f"|estimate - trace| / stderr (trace {np.trace(H):.4g})",
        )
    )


def run(ctx: LabContext) -> LabResult:
    quick = ctx.quick
    n_grid = 11 if quick else 41
    checks: list[Check] = []
    notes: list[str] = []
    tables: dict[str, list[dict]] = {}

    d = digits(seed=ctx.seed)
    digit_runs = train_runs(
        [64, 32, 10] if quick else [64, 64, 64, 10],
        "relu",
        d.X_train,
        d.y_train,
        epochs=4 if quick else 25,
        batch_size=64,
        lrs={"SGD": 0.05, "Adam": 3e-3},
        seed=ctx.seed,
    )
    m = two_moons(n=300 if quick else 500, noise=0.15, seed=ctx.seed)
    moons = train_runs(
        [2, 16, 16, 2],
        "tanh",
        m.X_train,
        m.y_train,
        epochs=60 if quick else 300,
        batch_size=None,
        lrs={"SGD": 0.2, "Adam": 0.03},
        seed=ctx.seed,
        every=2 if quick else 5,
    )
    rows = []
    for data, runs, split in (("digits", digit_runs, d), ("two moons", moons, m)):
        for name, r in runs.items():
            rows.append(
                {
                    "data": data,
                    "optimizer": name,
                    "steps": int(r.trajectory.steps[-1]),
                    "initial_loss": float(r.trajectory.losses[0]),
                    "final_loss": float(r.trajectory.losses[-1]),
                    "test_accuracy": accuracy(r.model, split.X_test, split.y_test),
                }
            )
    tables["training"] = rows
    worst = min(r["test_accuracy"] for r in rows)
    checks.append(
        Check.at_least(
            "SGD and Adam train both networks",
            worst,
            0.85,
            detail="lowest test accuracy of the 4 runs",
        )
    )

    _digits_landscapes(ctx, digit_runs, d.X_train, d.y_train, n_grid, checks, notes, tables)
    _critical_points(
        ctx,
        (31, 15, 3) if quick else (81, 41, 8),
        checks,
        tables,
        moons["Adam"],
        m.X_train,
        m.y_train,
    )
    _sharpness(
        ctx,
        moons,
        digit_runs,
        m.X_train,
        m.y_train,
        d.X_train,
        d.y_train,
        3 if quick else 10,
        50 if quick else 300,
        checks,
        tables,
    )
    wanted = {
        "digits_pca_contour.png",
        "digits_pca_surface3d.png",
        "digits_pca_surface.html",
        "digits_random_slice.png",
        "digits_random_slice.html",
    }
    written = set(ctx.figures) | set(ctx.interactive)
    checks.insert(
        1,
        Check.holds(
            "2D and 3D loss landscape visualizations complete",
            wanted <= written,
            detail=f"{len(wanted & written)}/{len(wanted)} contour, 3-D "
            "and interactive files written",
        ),
    )
    checks.insert(
        2,
        Check.holds(
            "Overlay optimization trajectory on landscape",
            "digits_pca_contour.png" in written,
            detail="Adam's path on its PCA plane (contour and 3-D HTML)",
        ),
    )
    notes.append(
        "Sharpness is the largest-magnitude Hessian eigenvalue of the training loss, "
        "by Lanczos on Hessian-vector products (no n x n matrix)."
    )
    return ctx.result(3, TITLE, checks, tables=tables, notes=notes)
