"""Reading a figure back: a landscape of NaN draws nothing, a real one draws its surfaces,
and an overlaid path is found by its label. These back the labs' "plot created" checks."""

from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest

from dlmath.viz.inspect import finite_traces, has_line
from dlmath.viz.landscape import plot_contour, plot_surface3d, plotly_surface

a = np.linspace(0.0, 1.0, 11)
GOOD = np.add.outer(a, a) + 1.0
EMPTY = np.full((11, 11), np.nan)
PATH = np.c_[a, a]


def _draw(kind: str, Z: np.ndarray):
    with warnings.catch_warnings():  # matplotlib warns that an all-NaN contour has no levels
        warnings.simplefilter("ignore")
        if kind == "contour":
            return plot_contour(a, a, Z, log_scale=True, trajectories={"Adam": PATH})
        if kind == "surface3d":
            return plot_surface3d(a, a, Z, log_scale=True)
        return plotly_surface(a, a, Z, log_scale=True, trajectories={"Adam": (PATH, a)})


@pytest.mark.parametrize("kind", ["contour", "surface3d", "plotly"])
def test_a_landscape_of_nan_draws_no_surface_and_a_real_one_does(kind):
    empty, good = _draw(kind, EMPTY), _draw(kind, GOOD)
    assert finite_traces(empty, lines=False) == 0
    assert finite_traces(good, lines=False) >= 1
    plt.close("all")


def test_lines_count_only_with_finite_points_and_colorbars_never():
    fig, ax = plt.subplots()
    ax.plot(a, a)
    ax.plot(a, np.full_like(a, np.nan))
    im = ax.imshow(EMPTY)
    fig.colorbar(im)  # a colorbar's mesh is finite, but it is not data
    assert finite_traces(fig) == 1
    assert finite_traces(fig, lines=False) == 0
    plt.close(fig)


def test_the_overlaid_path_is_found_by_its_label():
    fig = _draw("contour", GOOD)
    assert has_line(fig, "Adam")
    assert not has_line(fig, "SGD")
    bare = plot_contour(a, a, GOOD, log_scale=True)
    assert not has_line(bare, "Adam")
    plt.close("all")
