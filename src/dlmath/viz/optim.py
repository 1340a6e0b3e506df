"""Figures for the optimizers lab: trajectories over contours, convergence, sweeps, rates.

Matplotlib builders return a ``Figure`` (save it with ``ctx.save_figure`` or
:func:`dlmath.viz.files.save_png`); :func:`trajectory_animation` returns a plotly figure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

__all__ = [
    "plot_convergence",
    "plot_loss_curves",
    "plot_lr_sweep",
    "plot_rates",
    "plot_schedules",
    "plot_trajectories",
    "trajectory_animation",
    "trajectory_grid",
]


def _colors(n: int) -> list:
    cmap = plt.get_cmap("tab10")
    return [cmap(i % 10) for i in range(n)]


def _contour(ax, fn, n: int = 200) -> None:
    X, Y, Z = fn.grid(n)
    if fn.log_contours:
        levels = np.logspace(np.log10(max(Z.min(), 1e-3)), np.log10(Z.max()), 25)
        ax.contour(X, Y, Z, levels=levels, cmap="Greys", linewidths=0.6)
    else:
        ax.contour(X, Y, Z, levels=25, cmap="Greys", linewidths=0.6)
    if len(fn.minima):
        ax.plot(*fn.minima.T, "k*", ms=11, label="minimum")


def plot_trajectories(ax, fn, trajectories: Mapping, title: str | None = None) -> None:
    """Draw ``fn``'s contours and each trajectory's path (label -> Trajectory) on ``ax``."""
    _contour(ax, fn)
    (x_lo, x_hi), (y_lo, y_hi) = fn.bounds
    for color, (label, traj) in zip(_colors(len(trajectories)), trajectories.items(), strict=True):
        pts = traj.points
        ax.plot(pts[:, 0], pts[:, 1], "-", color=color, lw=1.3, label=label, alpha=0.9)
        ax.plot(pts[-1, 0], pts[-1, 1], "o", color=color, ms=4)
    ax.plot(*fn.x0, "ks", ms=5)
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(y_lo, y_hi)
    ax.set_xlabel("x (parameter 1)")
    ax.set_ylabel("y (parameter 2)")
    ax.set_title(title or fn.name)


def trajectory_grid(panels: Sequence[tuple], ncols: int = 3):
    """One contour panel per ``(fn, {label: Trajectory})``; a shared legend below."""
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5 * ncols, 4.4 * nrows), squeeze=False)
    for ax, (fn, trajs) in zip(axes.flat, panels, strict=False):
        plot_trajectories(ax, fn, trajs)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 8))
    fig.suptitle("Optimizer trajectories on 2-D test functions (square: start, star: minimum)")
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    return fig


def plot_convergence(fn, trajectories: Mapping):
    """Loss gap ``f - f_min`` and distance to the nearest minimum per step, log scale."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for color, (label, traj) in zip(_colors(len(trajectories)), trajectories.items(), strict=True):
        steps = np.arange(len(traj.losses))
        gap = np.maximum(traj.losses - fn.f_min, 1e-300)
        ax1.semilogy(steps, gap, color=color, label=label)
        ax2.semilogy(steps, np.maximum(fn.distance_to_minimum(traj.points), 1e-300), color=color)
    ax1.set_title(f"{fn.name}: loss gap")
    ax1.set_ylabel("f(x_k) - f_min")
    ax2.set_title(f"{fn.name}: distance to the nearest minimum")
    ax2.set_ylabel("||x_k - x*||")
    for ax in (ax1, ax2):
        ax.set_xlabel("step k")
        ax.grid(True, which="major", alpha=0.3)
    ax1.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_lr_sweep(sweeps: Mapping, fn_name: str):
    """Final distance to the minimum vs learning rate per optimizer; crosses = diverged."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for color, (label, rows) in zip(_colors(len(sweeps)), sweeps.items(), strict=True):
        lrs = np.array([r["lr"] for r in rows])
        err = np.array([r["final_error"] for r in rows])
        ok = np.isfinite(err)
        ax.loglog(lrs[ok], np.maximum(err[ok], 1e-16), "o-", color=color, ms=3, label=label)
        bad = ~np.array([r["stable"] for r in rows])
        if bad.any():
            top = np.nanmax(np.where(ok, err, np.nan)) if ok.any() else 1.0
            ax.plot(lrs[bad], np.full(bad.sum(), top * 3), "x", color=color)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("final ||x - x*|| (crosses: unstable)")
    ax.set_title(f"Learning-rate sweep on {fn_name}")
    ax.legend(fontsize=8)
    ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_schedules(schedules: Mapping, n: int):
    """Each schedule's lr over ``n`` steps, one panel each."""
    k = len(schedules)
    ncols = min(k, 4)
    nrows = -(-k // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 2.9 * nrows), squeeze=False)
    for ax, (label, sched) in zip(axes.flat, schedules.items(), strict=False):
        ax.plot(np.arange(n), sched.values(n), lw=1.5)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("step t")
        ax.set_ylabel("learning rate")
    for ax in list(axes.flat)[k:]:
        ax.axis("off")
    fig.suptitle("Learning-rate schedules")
    fig.tight_layout()
    return fig


def plot_rates(results: Sequence):
    """Distance to the minimum per step for GD and heavy ball at their optimal settings,
    with the theoretical ``rate**k`` lines (dashed), one panel per condition number."""
    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 4), squeeze=False)
    for ax, r in zip(axes.flat, results, strict=False):
        for traj, rate, measured, label, color in (
            (r.gd, r.gd_theory, r.gd_measured, "GD", "C0"),
            (r.hb, r.hb_theory, r.hb_measured, "heavy ball", "C3"),
        ):
            d = np.linalg.norm(traj.points, axis=1)
            k = np.arange(len(d))
            ax.semilogy(k, d, color=color, label=f"{label}: measured {measured:.4f}")
            ax.semilogy(k, d[0] * rate**k, "--", color=color, lw=1, label=f"theory {rate:.4f}")
        ax.set_title(f"kappa = {r.kappa:g}")
        ax.set_xlabel("step k")
        ax.set_ylabel("||x_k - x*||")
        ax.legend(fontsize=8)
    fig.suptitle("Convergence rates on 1/2 x^T A x: measured vs theory (Goh 2017)")
    fig.tight_layout()
    return fig


def plot_loss_curves(histories: Mapping, title: str = "Training the Lab 1 MLP on digits"):
    """Training loss per epoch (log scale) and test accuracy per epoch, per optimizer."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for color, (label, h) in zip(_colors(len(histories)), histories.items(), strict=True):
        epochs = np.arange(len(h["train_loss"]))
        ax1.semilogy(epochs, h["train_loss"], color=color, label=label)
        ax2.plot(epochs, h["test_accuracy"], color=color, label=label)
    ax1.set_ylabel("training loss (cross-entropy, nats)")
    ax2.set_ylabel("test accuracy")
    for ax in (ax1, ax2):
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
    ax1.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def trajectory_animation(fn, trajectories: Mapping, max_frames: int = 60):
    """Interactive plotly figure: contours, each optimizer's path growing with a slider/play."""
    import plotly.graph_objects as go

    X, Y, Z = fn.grid(120)
    zplot = np.log10(Z - Z.min() + 1e-3) if fn.log_contours else Z
    n_steps = max(t.steps for t in trajectories.values())
    ks = np.unique(np.linspace(0, n_steps, max_frames).astype(int))
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]

    def paths(k: int) -> list:
        out = []
        for i, (label, t) in enumerate(trajectories.items()):
            pts = t.points[: min(k, t.steps) + 1]
            out.append(
                go.Scatter(
                    x=pts[:, 0],
                    y=pts[:, 1],
                    mode="lines+markers",
                    name=label,
                    line={"color": palette[i % len(palette)]},
                    marker={"size": 3},
                )  # fmt: skip
            )
        return out

    contour = go.Contour(
        x=X[0], y=Y[:, 0], z=zplot, colorscale="Greys", showscale=False, ncontours=30,
        contours={"coloring": "lines"}, name="f", hoverinfo="skip",
    )  # fmt: skip
    # frames replace only the path traces (1..n); the contour (trace 0) is sent once
    traces = list(range(1, len(trajectories) + 1))
    frames = [go.Frame(data=paths(k), traces=traces, name=str(k)) for k in ks]
    fig = go.Figure(data=[contour, *paths(int(ks[0]))], frames=frames)
    steps = [
        {"args": [[str(k)], {"frame": {"duration": 0, "redraw": True}, "mode": "immediate"}],
         "label": str(k), "method": "animate"}
        for k in ks
    ]  # fmt: skip
    play = {"args": [None, {"frame": {"duration": 80, "redraw": True}, "fromcurrent": True}],
            "label": "Play", "method": "animate"}  # fmt: skip
    fig.update_layout(
        title=f"Optimizer trajectories on {fn.name} (drag the slider: step k)",
        xaxis_title="x (parameter 1)",
        yaxis_title="y (parameter 2)",
        sliders=[{"steps": steps, "currentvalue": {"prefix": "step k = "}}],
        updatemenus=[{"type": "buttons", "buttons": [play], "x": 0, "y": -0.15}],
        width=800,
        height=650,
    )
    (x_lo, x_hi), (y_lo, y_hi) = fn.bounds
    fig.update_xaxes(range=[x_lo, x_hi])
    fig.update_yaxes(range=[y_lo, y_hi])
    return fig
