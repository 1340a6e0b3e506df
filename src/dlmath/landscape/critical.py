"""Critical points: where the gradient vanishes, and what the Hessian says they are.

At a point x with gradient g = grad f(x) ~ 0 and Hessian H (eigenvalues
lambda_1 <= .. <= lambda_n), the second-order test says: all lambda > 0 a minimum, all
lambda < 0 a maximum, both signs a saddle, and some lambda = 0 (within a tolerance)
*degenerate*, where second order cannot decide (a flat direction: x^4, a monkey saddle).

On a 2-D surface the candidates come from the grid (points whose discrete gradient norm
is smallest among their 8 neighbours) and are refined by Newton's method on the gradient,
``x <- x - H^{-1} g``, which converges quadratically to minima, maxima and saddles alike.
"""

from __future__ import annotations

import copy
import functools
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad, hessian, vmap

from dlmath._checks import as_float_array, check_int, check_real, fail, fail_type
from dlmath.landscape._params import (
    as_data,
    as_param_list,
    buffers_copy,
    check_loss_fn,
    model_parameters,
)

__all__ = [
    "KINDS",
    "CriticalPoint",
    "classify_critical_point",
    "find_critical_points",
    "flat_mask",
    "grid_values",
    "slice_function",
]

KINDS = ("minimum", "maximum", "saddle", "degenerate")


@dataclass(frozen=True)
class CriticalPoint:
    """A point with its value, gradient norm and ascending Hessian eigenvalues, and its kind."""

    x: np.ndarray
    value: float
    grad_norm: float
    eigenvalues: np.ndarray
    kind: str

    def __repr__(self) -> str:
        xs = np.array2string(self.x, precision=5)
        ev = np.array2string(self.eigenvalues, precision=4)
        return (
            f"CriticalPoint({self.kind} at {xs}, f={self.value:.6g}, "
            f"|grad|={self.grad_norm:.1e}, eigenvalues={ev})"
        )


def _quiet_torch_func(fn: Callable) -> Callable:
    """torch.func's first use imports code that warns (``torch.jit.script`` is deprecated,
    torch 2.x); that warning is torch's, not the caller's, so it is filtered here only."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", ".*torch.jit.script.* is deprecated", DeprecationWarning
            )
            return fn(*args, **kwargs)

    return wrapper


def _check_f(f: Any) -> Callable:
    if not callable(f):
        raise fail_type("f", "a callable f(x: 1-D tensor) -> scalar tensor", f)
    return f


def _kind(eigenvalues: np.ndarray, tol: float) -> str:
    # "zero within tolerance" is relative to the spectrum's scale (absolute below scale 1)
    scale = max(1.0, float(np.abs(eigenvalues).max()))
    if np.any(np.abs(eigenvalues) <= tol * scale):
        return "degenerate"
    if np.all(eigenvalues > 0):
        return "minimum"
    if np.all(eigenvalues < 0):
        return "maximum"
    return "saddle"


@_quiet_torch_func
def classify_critical_point(f: Callable, x: Any, *, tol: float = 1e-6) -> CriticalPoint:
    """Gradient norm, Hessian eigenvalues (ascending) and kind of ``f`` at ``x``.

    ``f`` maps a 1-D float64 tensor of length n to a scalar tensor (torch operations, so
    torch.func can differentiate it twice). ``kind`` is "degenerate" when some
    ``|lambda| <= tol * max(1, max|lambda|)``; otherwise "minimum", "maximum" or "saddle"
    by the signs. The kind describes the Hessian at x; ``grad_norm`` says whether x is
    critical at all.
    """
    _check_f(f)
    tol = check_real(tol, "tol", low=0.0)
    x_np = as_float_array(x, "x", ndim=1, dtype=np.float64)
    xt = torch.as_tensor(np.array(x_np, copy=True))
    value = f(xt)
    if not isinstance(value, torch.Tensor) or value.numel() != 1:
        raise fail("f", "a function returning a scalar tensor", value)
    g = grad(f)(xt)
    H = hessian(f)(xt)
    eigenvalues = torch.linalg.eigvalsh((H + H.T) / 2).numpy()  # ascending
    return CriticalPoint(
        x_np, float(value), float(torch.linalg.vector_norm(g)), eigenvalues, _kind(eigenvalues, tol)
    )


@_quiet_torch_func
def grid_values(f: Callable, xs: Any, ys: Any) -> np.ndarray:
    """``Z[i, j] = f([xs[i], ys[j]])`` for a torch function of a 2-vector.

    Shape (len(xs), len(ys)); evaluated with ``torch.func.vmap`` over all grid points.
    """
    _check_f(f)
    a = as_float_array(xs, "xs", ndim=1, dtype=np.float64)
    b = as_float_array(ys, "ys", ndim=1, dtype=np.float64)
    A, B = np.meshgrid(a, b, indexing="ij")
    points = torch.as_tensor(np.stack([A.ravel(), B.ravel()], axis=1))
    with torch.no_grad():
        values = _vmapped(f, points)
    return values.reshape(len(a), len(b)).numpy()


def _vmapped(f: Callable, points: torch.Tensor) -> torch.Tensor:
    """``vmap(f)(points)``; a function that is not a torch function of a 2-vector is named."""
    try:
        values = vmap(f)(points)
    except (ValueError, TypeError, RuntimeError) as err:
        raise fail_type(
            "f", "a torch function of a 2-vector returning a scalar tensor", f"{err}"
        ) from None
    if not isinstance(values, torch.Tensor) or values.shape != (len(points),):
        raise fail("f", "a function returning one scalar tensor per point", values)
    return values


def _grid_gradient_norm(xs: np.ndarray, ys: np.ndarray, Z: np.ndarray) -> np.ndarray:
    dZ_dx, dZ_dy = np.gradient(Z, xs, ys)  # central differences inside, one-sided at edges
    return np.hypot(dZ_dx, dZ_dy)


def flat_mask(xs: Any, ys: Any, Z: Any, rel_tol: float = 0.02) -> np.ndarray:
    """Flat regions: grid points where ``||grad Z|| <= rel_tol * max ||grad Z||``.

    The gradient is taken by central finite differences on the grid (``np.gradient``).
    """
    a = as_float_array(xs, "xs", ndim=1)
    b = as_float_array(ys, "ys", ndim=1)
    for axis, name in ((a, "xs"), (b, "ys")):
        if len(axis) < 2 or np.any(np.diff(axis) <= 0):
            raise fail(name, "strictly increasing grid coordinates (at least 2)", axis)
    Zf = as_float_array(Z, "Z", ndim=2, finite=False)
    if Zf.shape != (len(a), len(b)):
        raise fail("Z", f"of shape (len(xs), len(ys)) = {(len(a), len(b))}", Zf)
    rel_tol = check_real(rel_tol, "rel_tol", low=0.0)
    with np.errstate(over="ignore", invalid="ignore"):  # inf slopes are masked out below
        G = _grid_gradient_norm(a, b, Zf)
    finite = np.isfinite(G)
    if not finite.any():
        return np.zeros(G.shape, dtype=bool)
    return finite & (rel_tol * G[finite].max() >= np.where(finite, G, np.inf))


def _starts(xs: np.ndarray, ys: np.ndarray, Z: np.ndarray, n_starts: int) -> np.ndarray:
    """Newton starting points, shape (P, 2): local minima of the grid's gradient norm plus
    an ``n_starts x n_starts`` lattice over the rectangle (finite differences on a coarse grid
    can merge the basin of a saddle into a neighbouring extremum; the lattice catches it).
    """
    G = _grid_gradient_norm(xs, ys, Z)
    G = np.where(np.isfinite(G), G, np.inf)
    P = np.pad(G, 1, constant_values=np.inf)
    neighbours = [
        P[1 + di : P.shape[0] - 1 + di, 1 + dj : P.shape[1] - 1 + dj]
        for di in (-1, 0, 1)
        for dj in (-1, 0, 1)
        if (di, dj) != (0, 0)
    ]
    is_min = np.isfinite(G) & np.all([G <= N for N in neighbours], axis=0)
    minima = np.array([[xs[i], ys[j]] for i, j in np.argwhere(is_min)]).reshape(-1, 2)
    u = np.linspace(xs[0], xs[-1], n_starts)
    v = np.linspace(ys[0], ys[-1], n_starts)
    U, V = np.meshgrid(u, v, indexing="ij")
    return np.concatenate([minima, np.stack([U.ravel(), V.ravel()], axis=1)])


def _newton(
    f: Callable, x0: np.ndarray, steps: int, grad_tol: float, box: np.ndarray
) -> np.ndarray:
    """Newton's method on ``grad f = 0`` from every row of ``x0`` (P, n), vectorized.

    ``x <- x - pinv(H) g`` (the pseudo-inverse takes a least-squares step where H is
    singular). Only rows still running are evaluated; a row stops when
    ``||g|| <= grad_tol`` (kept), or when it turns non-finite or leaves ``box`` (2, n)
    (dropped: NaN in the result).
    """
    g_fn = vmap(grad(f), chunk_size=256)
    H_fn = vmap(hessian(f), chunk_size=256)
    x = torch.as_tensor(x0.copy())
    lo, hi = torch.as_tensor(box[0]), torch.as_tensor(box[1])
    done = torch.zeros(len(x), dtype=torch.bool)
    failed = torch.zeros(len(x), dtype=torch.bool)
    for it in range(steps + 1):
        active = torch.nonzero(~(done | failed)).flatten()
        if len(active) == 0:
            break
        xa = x[active]
        g = g_fn(xa)
        norm = torch.linalg.vector_norm(g, dim=1)
        done[active] = norm <= grad_tol
        failed[active] = ~torch.isfinite(norm) | ((xa < lo) | (xa > hi)).any(dim=1)
        move = ~(done[active] | failed[active])
        if it == steps or not bool(move.any()):
            break
        idx = active[move]
        step = (torch.linalg.pinv(H_fn(x[idx])) @ g[move][:, :, None])[:, :, 0]
        x[idx] = x[idx] - step
    x[~done | failed] = float("nan")
    return x.numpy()


@_quiet_torch_func
def find_critical_points(
    f: Callable,
    xs: Any,
    ys: Any,
    Z: Any = None,
    *,
    n_starts: int = 12,
    newton_steps: int = 30,
    grad_tol: float = 1e-8,
    tol: float = 1e-6,
    merge_distance: float | None = None,
) -> list[CriticalPoint]:
    """Critical points of a 2-D function inside the grid's rectangle, refined and classified.

    Parameters
    ----------
    f : torch function of a 2-vector (see :func:`classify_critical_point`).
    xs, ys : the grid's coordinates (1-D, increasing).
    Z : ``f`` on the grid (``Z[i, j] = f(xs[i], ys[j])``); computed with :func:`grid_values`
        when omitted. Its gradient-norm minima are the first Newton starts.
    n_starts : a further ``n_starts x n_starts`` lattice of Newton starts.
    newton_steps, grad_tol : Newton iterations and the gradient norm accepted as zero.
    tol : the zero-eigenvalue tolerance of the classification.
    merge_distance : converged points closer than this are one point (default: a tenth of
        the largest grid step).

    Returns the distinct converged points inside the rectangle, sorted by x then y.
    """
    _check_f(f)
    a = as_float_array(xs, "xs", ndim=1, dtype=np.float64)
    b = as_float_array(ys, "ys", ndim=1, dtype=np.float64)
    for axis, name in ((a, "xs"), (b, "ys")):
        if len(axis) < 3:
            raise fail(name, "a grid of at least 3 points", axis)
        if np.any(np.diff(axis) <= 0):
            raise fail(name, "strictly increasing grid coordinates", axis)
    Zf = grid_values(f, a, b) if Z is None else as_float_array(Z, "Z", ndim=2, finite=False)
    if Zf.shape != (len(a), len(b)):
        raise fail("Z", f"of shape (len(xs), len(ys)) = {(len(a), len(b))}", Zf)
    n_starts = check_int(n_starts, "n_starts", low=0)
    steps = check_int(newton_steps, "newton_steps", low=1)
    grad_tol = check_real(grad_tol, "grad_tol", low=0.0, low_open=True)
    if merge_distance is None:
        merge_distance = 0.1 * float(max(np.diff(a).max(), np.diff(b).max()))
    merge_distance = check_real(merge_distance, "merge_distance", low=0.0)
    found: list[np.ndarray] = []
    # Newton may wander a little outside the rectangle on its way; not far.
    pad = 0.5 * np.array([a[-1] - a[0], b[-1] - b[0]])
    box = np.array([[a[0], b[0]], [a[-1], b[-1]]]) + np.array([-pad, pad])
    for x in _newton(f, _starts(a, b, Zf, n_starts), steps, grad_tol, box):
        inside = np.isfinite(x).all() and a[0] <= x[0] <= a[-1] and b[0] <= x[1] <= b[-1]
        if inside and all(np.linalg.norm(x - p) > merge_distance for p in found):
            found.append(x)
    points = [classify_critical_point(f, x, tol=tol) for x in found]
    return sorted(points, key=lambda p: (p.x[0], p.x[1]))


def slice_function(
    model: nn.Module,
    loss_fn: Callable,
    X: Any,
    y: Any,
    directions: Sequence[Any],
    *,
    center: Any = None,
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The loss on a 2-D slice as a torch function ``f(c) = L(theta + c[0] d1 + c[1] d2)``.

    Differentiable (torch.func) in ``c``, so :func:`find_critical_points` and
    :func:`classify_critical_point` work on a network's slice; computed in float64
    whatever the model's dtype. The model is not modified.
    """
    named = model_parameters(model)
    check_loss_fn(loss_fn)
    if (
        isinstance(directions, (str, bytes))
        or not isinstance(directions, Sequence)
        or len(directions) != 2
    ):
        raise fail("directions", "a sequence of 2 directions", directions)
    theta = (
        [p.detach() for _, p in named] if center is None else as_param_list(center, named, "center")
    )
    theta = [t.double() for t in theta]
    d1, d2 = (
        [t.double() for t in as_param_list(d, named, f"directions[{i}]")]
        for i, d in enumerate(directions)
    )
    Xt, yt = as_data(X, y, theta[0])
    names = [n for n, _ in named]
    buffers = {
        k: v.double() if v.is_floating_point() else v for k, v in buffers_copy(model).items()
    }
    # A float64 copy of the architecture, so the caller's module is never cast.
    arch = copy.deepcopy(model).double()

    def f(c: torch.Tensor) -> torch.Tensor:
        weights = {
            n: t + c[0] * u + c[1] * v for n, t, u, v in zip(names, theta, d1, d2, strict=True)
        }
        return loss_fn(functional_call(arch, {**weights, **buffers}, (Xt,)), yt)

    return f
