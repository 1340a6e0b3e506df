"""What a drawn figure shows, read back from it: the evidence for "a plot was created".

A milestone such as "convergence comparison plot created" is checked on the figure itself
(its curves and surfaces and whether they hold finite data), so the lab run and its
notebook judge it the same way, whether the figure was saved to a file or shown inline.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["finite_traces"]


def finite_traces(fig: Any) -> int:
    """The number of drawn data traces with at least one finite value.

    matplotlib: lines, collections (contours, scatter, 3-D surfaces) and images over all
    axes; plotly: the figure's traces (their ``z`` or ``y`` arrays).
    """
    if hasattr(fig, "axes") and hasattr(fig, "savefig"):
        return sum(_mpl_axes_traces(ax) for ax in fig.axes)
    return sum(_finite(getattr(t, "z", None) if getattr(t, "z", None) is not None else t.y)
               for t in fig.data)  # fmt: skip


def _mpl_axes_traces(ax: Any) -> int:
    n = sum(_finite(line.get_ydata()) for line in ax.get_lines())
    for coll in ax.collections:
        arrays = [coll.get_offsets()]
        if hasattr(coll, "get_array") and coll.get_array() is not None:
            arrays.append(coll.get_array())
        if hasattr(coll, "_vec"):  # a 3-D collection keeps its vertices here
            arrays.append(coll._vec)
        n += any(_finite(a) for a in arrays)
    n += sum(_finite(im.get_array()) for im in ax.get_images())
    return n


def _finite(values: Any) -> bool:
    if values is None:
        return False
    a = np.ma.filled(np.ma.asarray(values, dtype=float), np.nan)
    return bool(a.size and np.isfinite(a).any())
