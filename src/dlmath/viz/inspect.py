"""What a drawn figure shows, read back from it: the evidence for "a plot was created".

A milestone such as "convergence comparison plot created" is checked on the figure itself
(the curves and surfaces it draws, and whether they hold finite data), so the lab run and
its notebook judge it the same way, whether the figure was saved or shown inline.
Colorbars, grids and level values are not data and are never counted.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["finite_traces", "has_line"]


def finite_traces(fig: Any, *, lines: bool = True) -> int:
    """The number of drawn data traces that hold at least one finite value.

    matplotlib: lines (finite (x, y) pairs; left out when ``lines`` is False, e.g. to count
    only the surfaces of a landscape under its overlaid path), contour sets (at least one
    contour path), scatter points, 3-D surfaces (finite vertices) and images, over all axes
    but colorbars; plotly: surfaces and heatmaps with a finite ``z`` (and, when ``lines``,
    other traces with a finite ``y``).
    """
    if hasattr(fig, "savefig"):
        return sum(_axes_traces(ax, lines) for ax in fig.axes if not hasattr(ax, "_colorbar"))
    n = 0
    for t in fig.data:
        z = getattr(t, "z", None)
        if t.type in ("surface", "heatmap", "contour"):
            n += _finite(z)
        elif lines:
            n += _finite(z if z is not None else t.y)
    return n


def has_line(fig: Any, label: str, min_points: int = 2) -> bool:
    """Whether a matplotlib figure draws a line labelled ``label`` through at least
    ``min_points`` finite points (a trajectory overlaid on a landscape, say)."""
    for ax in fig.axes:
        for line in ax.get_lines():
            if line.get_label() == label:
                xy = np.column_stack([line.get_xdata(), line.get_ydata()]).astype(float)
                if np.isfinite(xy).all(axis=1).sum() >= min_points:
                    return True
    return False


def _axes_traces(ax: Any, lines: bool) -> int:
    from matplotlib.collections import PathCollection
    from matplotlib.contour import ContourSet

    n = 0
    for line in ax.get_lines() if lines else ():
        xy = np.column_stack([line.get_xdata(), line.get_ydata()]).astype(float)
        n += bool(np.isfinite(xy).all(axis=1).any())
    for coll in ax.collections:
        if isinstance(coll, ContourSet):  # no contour path is drawn where the data is NaN
            n += any(len(p.vertices) for p in coll.get_paths())
        elif hasattr(coll, "_vec"):  # a 3-D surface: its projected vertices
            n += bool(np.asarray(coll._vec).size and np.isfinite(coll._vec).all(axis=0).any())
        elif isinstance(coll, PathCollection):  # scatter markers
            n += lines and bool(len(coll.get_offsets()) and np.isfinite(coll.get_offsets()).any())
        elif coll.get_array() is not None:  # meshes
            n += _finite(coll.get_array())
    n += sum(_finite(im.get_array()) for im in ax.get_images())
    return n


def _finite(values: Any) -> bool:
    if values is None:
        return False
    a = np.ma.filled(np.ma.asarray(values, dtype=float), np.nan)
    return bool(a.size and np.isfinite(a).any())
