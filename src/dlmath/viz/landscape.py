"""Figures for loss landscapes: contour maps, 3-D surfaces (static and interactive), lines.

Conventions: ``Z[i, j]`` is the value at ``(xs[i], ys[j])`` (the layout of
``dlmath.landscape.loss_surface``), so ``xs`` runs along the horizontal axis. Non-finite
values are masked (blank), never plotted as numbers. ``log_scale`` shows ``log10 Z``
(values must be positive; non-positive ones are masked too).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

__all__ = [
    "KIND_STYLE",
    "plot_contour",
    "plot_lines",
    "plot_surface3d",
    "plotly_surface",
]

#: marker, colour and label per critical-point kind (shared by all figures)
KIND_STYLE: dict[str, tuple[str, str]] = {
    "minimum": ("o", "#1a9850"),
    "maximum": ("^", "#d73027"),
    "saddle": ("X", "#fdae61"),
    "degenerate": ("s", "#7b3294"),
}


def _shown(Z: np.ndarray, log_scale: bool) -> np.ndarray:
    """The values drawn: ``Z`` or ``log10 Z``, with non-finite (and, in log, Z <= 0) as NaN."""
    Z = np.asarray(Z, dtype=np.float64)
    if log_scale:
        with np.errstate(divide="ignore", invalid="ignore"):
            Z = np.where(Z > 0, np.log10(np.where(Z > 0, Z, 1.0)), np.nan)
    return np.where(np.isfinite(Z), Z, np.nan)


def _nullable(values: np.ndarray) -> list:
    """Nested lists with None where a value is NaN (plotly draws gaps for None)."""
    return np.where(np.isnan(values), None, values).tolist()


def _critical_xy(points: Sequence[Any]) -> dict[str, np.ndarray]:
    groups: dict[str, list[np.ndarray]] = {}
    for p in points:
        groups.setdefault(p.kind, []).append(np.asarray(p.x[:2]))
    return {k: np.array(v) for k, v in groups.items()}


def plot_contour(
    xs: np.ndarray,
    ys: np.ndarray,
    Z: np.ndarray,
    *,
    log_scale: bool = False,
    trajectories: Mapping[str, np.ndarray] | None = None,
    critical_points: Sequence[Any] = (),
    flat: np.ndarray | None = None,
    title: str = "Loss landscape",
    xlabel: str = "alpha (direction 1)",
    ylabel: str = "beta (direction 2)",
    zlabel: str = "loss",
    levels: int = 30,
    ax: Any = None,
):
    """Filled contour map of ``Z`` with contour lines, optional trajectories (name -> (T, 2)),
    critical points (objects with ``.x`` and ``.kind``) and a flat-region mask (hatched)."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 5.2))
    else:
        fig = ax.figure
    shown = np.ma.masked_invalid(_shown(Z, log_scale).T)  # contourf wants Z[y, x]
    cs = ax.contourf(xs, ys, shown, levels=levels, cmap="viridis")
    ax.contour(xs, ys, shown, levels=levels, colors="k", linewidths=0.3, alpha=0.5)
    fig.colorbar(cs, ax=ax, label=f"log10 {zlabel}" if log_scale else zlabel)
    if flat is not None and np.any(flat):
        ax.contourf(
            xs,
            ys,
            np.asarray(flat, dtype=float).T,
            levels=[0.5, 1.5],
            colors="none",
            hatches=["...."],
        )
        ax.plot([], [], " ", label="flat region (dotted)")
    for name, path in (trajectories or {}).items():
        path = np.asarray(path)
        ax.plot(path[:, 0], path[:, 1], ".-", lw=1.2, ms=3, label=name)
        ax.plot(path[0, 0], path[0, 1], "s", color="white", mec="k", ms=5)
        ax.plot(path[-1, 0], path[-1, 1], "*", color="white", mec="k", ms=10)
    for kind, pts in _critical_xy(critical_points).items():
        marker, color = KIND_STYLE.get(kind, ("d", "white"))
        ax.scatter(
            pts[:, 0], pts[:, 1], marker=marker, c=color, edgecolors="k", s=70, zorder=5, label=kind
        )
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", fontsize=8, framealpha=0.8)
    return fig


def plot_surface3d(
    xs: np.ndarray,
    ys: np.ndarray,
    Z: np.ndarray,
    *,
    log_scale: bool = False,
    title: str = "Loss surface",
    xlabel: str = "alpha",
    ylabel: str = "beta",
    zlabel: str = "loss",
):
    """Static 3-D surface (matplotlib); masked values leave holes."""
    fig, ax = plt.subplots(figsize=(7, 5.5), subplot_kw={"projection": "3d"})
    A, B = np.meshgrid(xs, ys, indexing="ij")
    shown = _shown(Z, log_scale)
    surf = ax.plot_surface(
        A,
        B,
        np.ma.masked_invalid(shown),
        cmap="viridis",
        linewidth=0,
        antialiased=True,
        rstride=1,
        cstride=1,
    )
    fig.colorbar(surf, ax=ax, shrink=0.6, label=f"log10 {zlabel}" if log_scale else zlabel)
    ax.set(
        title=title, xlabel=xlabel, ylabel=ylabel, zlabel=f"log10 {zlabel}" if log_scale else zlabel
    )
    return fig


def plotly_surface(
    xs: np.ndarray,
    ys: np.ndarray,
    Z: np.ndarray,
    *,
    log_scale: bool = False,
    trajectories: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
    critical_points: Sequence[Any] = (),
    title: str = "Loss surface (drag to rotate)",
    xlabel: str = "alpha",
    ylabel: str = "beta",
    zlabel: str = "loss",
):
    """Interactive rotatable 3-D surface (plotly). ``trajectories``: name -> (points (T, 2),
    values (T,)) drawn as lines on the surface; critical points as labelled markers."""
    import plotly.graph_objects as go

    shown = _shown(Z, log_scale)
    # plotly's surface takes z[row = y, col = x]; a masked value is None (JSON null): a hole
    fig = go.Figure(
        go.Surface(
            x=np.asarray(xs),
            y=np.asarray(ys),
            z=_nullable(shown.T),
            colorscale="Viridis",
            colorbar={"title": {"text": zlabel}},
            name="surface",
        )
    )
    lift = lambda v: _nullable(_shown(np.asarray(v), log_scale))  # noqa: E731
    for name, (path, values) in (trajectories or {}).items():
        path = np.asarray(path)
        fig.add_trace(
            go.Scatter3d(
                x=path[:, 0],
                y=path[:, 1],
                z=lift(values),
                mode="lines+markers",
                marker={"size": 3},
                line={"width": 5},
                name=name,
            )
        )
    for kind, pts in _critical_xy(critical_points).items():
        values = [p.value for p in critical_points if p.kind == kind]
        fig.add_trace(
            go.Scatter3d(
                x=pts[:, 0],
                y=pts[:, 1],
                z=lift(values),
                mode="markers",
                marker={"size": 6, "color": KIND_STYLE.get(kind, ("", "white"))[1]},
                name=kind,
            )
        )
    z_title = f"log10 {zlabel}" if log_scale else zlabel
    fig.update_layout(
        title={"text": title},
        scene={
            "xaxis": {"title": {"text": xlabel}},
            "yaxis": {"title": {"text": ylabel}},
            "zaxis": {"title": {"text": z_title}},
        },
        margin={"l": 0, "r": 0, "t": 40, "b": 0},
        legend={"x": 0.01, "y": 0.99},
    )
    return fig


def plot_lines(
    x: np.ndarray,
    curves: Mapping[str, Any],
    *,
    log_scale: bool = False,
    title: str = "",
    xlabel: str = "",
    ylabel: str = "loss",
    markers: Mapping[str, float] | None = None,
):
    """Several curves (1-D slices, interpolations, sharpness vs step) over ``x``.

    ``curves``: label -> y values over ``x``, or label -> ``(x_own, y)``.

    ``markers``: label -> x position drawn as a vertical dotted line (e.g. init, solution).
    """
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for name, values in curves.items():
        cx, cy = values if isinstance(values, tuple) else (x, values)  # own x when given
        cy = np.asarray(cy, dtype=float)
        ax.plot(cx, np.where(np.isfinite(cy), cy, np.nan), ".-", ms=3, label=name)
    for label, pos in (markers or {}).items():
        ax.axvline(pos, ls=":", c="gray")
        ax.annotate(
            label,
            (pos, 1.0),
            xycoords=("data", "axes fraction"),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    if log_scale:
        ax.set_yscale("log")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    if curves:
        ax.legend(fontsize=8)
    return fig
