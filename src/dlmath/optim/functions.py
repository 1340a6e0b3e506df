r"""Two-dimensional test functions with analytic gradients, Hessians and known minima.

Every function takes ``x`` of shape ``(2, ...)`` (a point, or a grid ``np.stack([X, Y])``)
and broadcasts (the ``f`` of rosenbrock, beale, himmelblau and saddle also takes a torch
tensor, for ``torch.func`` derivatives): ``f(x)`` has shape ``(...)``, ``grad(x)`` ``(2, ...)`` and
``hessian(x)`` ``(2, 2, ...)``. A :class:`Function2D` bundles them with the minima, a
standard start ``x0`` and plot ``bounds``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dlmath._checks import as_float_array, check_real, fail

__all__ = [
    "FUNCTIONS",
    "Function2D",
    "beale",
    "himmelblau",
    "quadratic",
    "rastrigin",
    "rosenbrock",
    "saddle",
]

Field = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True, repr=False)
class Function2D:
    """A 2-D test function: ``f``, ``grad``, ``hessian``, its ``minima`` (k, 2), ``f_min``.

    ``x0`` is the customary starting point, ``bounds`` = ((x_lo, x_hi), (y_lo, y_hi)) the
    plotting window, ``log_contours`` whether contour levels should be log-spaced.
    """

    name: str
    f: Field
    grad: Field
    hessian: Field
    minima: np.ndarray
    f_min: float
    x0: np.ndarray
    bounds: tuple[tuple[float, float], tuple[float, float]]
    log_contours: bool = False

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.f(x)

    def distance_to_minimum(self, points: np.ndarray) -> np.ndarray:
        """Euclidean distance from each row of ``points`` (n, 2) to the nearest minimum."""
        points = as_float_array(points, "points", ndim=2)
        if len(self.minima) == 0:
            raise fail("self.minima", "non-empty (this function has no minimum)", self.minima)
        diff = points[:, None, :] - self.minima[None, :, :]
        return np.sqrt((diff**2).sum(axis=-1)).min(axis=1)

    def grid(self, n: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``X, Y, Z`` on an ``n x n`` grid over ``bounds`` (for contour plots)."""
        (x_lo, x_hi), (y_lo, y_hi) = self.bounds
        X, Y = np.meshgrid(np.linspace(x_lo, x_hi, n), np.linspace(y_lo, y_hi, n))
        return X, Y, self.f(np.stack([X, Y]))

    def __repr__(self) -> str:
        return (
            f"Function2D({self.name!r}, minima={np.round(self.minima, 4).tolist()}, "
            f"f_min={self.f_min:g}, x0={self.x0.tolist()})"
        )


def _is_tensor(x) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "requires_grad")


def _xy(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # A torch tensor passes through unconverted: rosenbrock, beale, himmelblau and saddle
    # are plain arithmetic, so torch.func can differentiate the very same f.
    if not _is_tensor(x):
        x = np.asarray(x, dtype=float)
    if x.ndim == 0 or x.shape[0] != 2:
        raise fail("x", "an array of shape (2, ...)", x)
    return x[0], x[1]


def _hess(hxx, hxy, hyy) -> np.ndarray:
    hxx, hxy, hyy = np.broadcast_arrays(hxx, hxy, hyy)
    return np.array([[hxx, hxy], [hxy, hyy]])


def rosenbrock(a: float = 1.0, b: float = 100.0) -> Function2D:
    r"""$f = (a - x)^2 + b\,(y - x^2)^2$; minimum $(a, a^2)$, a curved narrow valley."""
    # |a|, b <= 1e100: the minimum (a, a^2) and the curvature ~ b a^2 stay finite
    a = check_real(a, "a", low=-1e100, high=1e100)
    b = check_real(b, "b", low=0.0, high=1e100, low_open=True)

    def f(x):
        x, y = _xy(x)
        return (a - x) ** 2 + b * (y - x**2) ** 2

    def grad(x):
        x, y = _xy(x)
        return np.array([-2 * (a - x) - 4 * b * x * (y - x**2), 2 * b * (y - x**2)])

    def hessian(x):
        x, y = _xy(x)
        return _hess(2 - 4 * b * (y - x**2) + 8 * b * x**2, -4 * b * x, 2 * b + 0 * x)

    bounds = ((-2.0, 2.0), (-1.0, 3.0))
    return Function2D(
        "rosenbrock", f, grad, hessian, np.array([[a, a * a]]), 0.0, np.array([-1.5, 2.0]),
        bounds, log_contours=True,
    )  # fmt: skip


_BEALE_C = (1.5, 2.25, 2.625)


def beale() -> Function2D:
    r"""$f = \sum_{i=1}^3 (c_i - x + x y^i)^2$, $c = (1.5, 2.25, 2.625)$; minimum $(3, 0.5)$."""

    def terms(x):
        x, y = _xy(x)
        for i, c in enumerate(_BEALE_C, start=1):
            u = c - x + x * y**i
            du = (y**i - 1, i * x * y ** (i - 1))  # (du/dx, du/dy)
            d2u = (0 * x, i * y ** (i - 1), i * (i - 1) * x * y ** max(i - 2, 0))  # xx, xy, yy
            yield u, du, d2u

    def f(x):
        return sum(u**2 for u, _, _ in terms(x))

    def grad(x):
        return np.array([sum(2 * u * du[k] for u, du, _ in terms(x)) for k in (0, 1)])

    def hessian(x):
        h = [0.0, 0.0, 0.0]
        for u, (ux, uy), (uxx, uxy, uyy) in terms(x):
            h[0] = h[0] + 2 * (ux * ux + u * uxx)
            h[1] = h[1] + 2 * (ux * uy + u * uxy)
            h[2] = h[2] + 2 * (uy * uy + u * uyy)
        return _hess(*h)

    return Function2D(
        "beale", f, grad, hessian, np.array([[3.0, 0.5]]), 0.0, np.array([1.0, 1.5]),
        ((-1.0, 4.5), (-1.5, 2.5)), log_contours=True,
    )  # fmt: skip


def _newton_polish(grad: Field, hessian: Field, points: np.ndarray, iters: int = 8) -> np.ndarray:
    """Refine approximate critical points to machine precision with Newton's method."""
    out = []
    for p in points:
        for _ in range(iters):
            p = p - np.linalg.solve(hessian(p), grad(p))
        out.append(p)
    return np.array(out)


def himmelblau() -> Function2D:
    r"""$f = (x^2 + y - 11)^2 + (x + y^2 - 7)^2$: four minima with $f = 0$."""

    def f(x):
        x, y = _xy(x)
        return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2

    def grad(x):
        x, y = _xy(x)
        u, w = x**2 + y - 11, x + y**2 - 7
        return np.array([4 * x * u + 2 * w, 2 * u + 4 * y * w])

    def hessian(x):
        x, y = _xy(x)
        u, w = x**2 + y - 11, x + y**2 - 7
        return _hess(4 * u + 8 * x**2 + 2, 4 * x + 4 * y, 4 * w + 8 * y**2 + 2)

    approx = np.array([[3.0, 2.0], [-2.805, 3.131], [-3.779, -3.283], [3.584, -1.848]])
    minima = _newton_polish(grad, hessian, approx)
    return Function2D(
        "himmelblau", f, grad, hessian, minima, 0.0, np.array([-0.5, 0.5]),
        ((-5.0, 5.0), (-5.0, 5.0)), log_contours=True,
    )  # fmt: skip


def rastrigin(A: float = 10.0) -> Function2D:
    r"""$f = 2A + \sum_i (x_i^2 - A\cos 2\pi x_i)$: global minimum 0 at 0, many local ones."""
    A = check_real(A, "A", low=0.0)

    def f(x):
        x = np.asarray(x, dtype=float)
        _xy(x)
        return 2 * A + (x**2 - A * np.cos(2 * np.pi * x)).sum(axis=0)

    def grad(x):
        x = np.asarray(x, dtype=float)
        _xy(x)
        return 2 * x + 2 * np.pi * A * np.sin(2 * np.pi * x)

    def hessian(x):
        x, y = _xy(x)
        d = 2 + 4 * np.pi**2 * A * np.cos(2 * np.pi * np.array([x, y]))
        return _hess(d[0], 0 * x, d[1])

    return Function2D(
        "rastrigin", f, grad, hessian, np.zeros((1, 2)), 0.0, np.array([2.2, 1.8]),
        ((-3.0, 3.0), (-3.0, 3.0)),
    )  # fmt: skip


def saddle() -> Function2D:
    r"""$f = x^2 - y^2$: a saddle at the origin, unbounded below (no minimum)."""

    def f(x):
        x, y = _xy(x)
        return x**2 - y**2

    def grad(x):
        x, y = _xy(x)
        return np.array([2 * x, -2 * y])

    def hessian(x):
        x, _ = _xy(x)
        return _hess(2 + 0 * x, 0 * x, -2 + 0 * x)

    return Function2D(
        "saddle", f, grad, hessian, np.zeros((0, 2)), -math.inf, np.array([1.5, 1e-3]),
        ((-2.0, 2.0), (-2.0, 2.0)),
    )  # fmt: skip


def quadratic(kappa: float = 10.0, angle: float = math.pi / 6, lmin: float = 1.0) -> Function2D:
    r"""$f = \tfrac12 x^\top A x$ with $A = R\,\mathrm{diag}(\lambda_1, \kappa\lambda_1)R^\top$.

    $\lambda_1$ = ``lmin``; ``kappa`` is the condition number
    $\lambda_{\max}/\lambda_{\min}$; ``angle`` rotates the ellipses by $R$.
    Minimum 0 at the origin; ``hessian`` is $A$ everywhere.
    """
    kappa = check_real(kappa, "kappa", low=1.0)
    lmin = check_real(lmin, "lmin", low=0.0, low_open=True)
    angle = check_real(angle, "angle")
    c, s = math.cos(angle), math.sin(angle)
    R = np.array([[c, -s], [s, c]])
    A = R @ np.diag([lmin, kappa * lmin]) @ R.T

    def f(x):
        x = np.asarray(x, dtype=float)
        _xy(x)
        return 0.5 * np.einsum("i...,ij,j...->...", x, A, x)

    def grad(x):
        x = np.asarray(x, dtype=float)
        _xy(x)
        return np.einsum("ij,j...->i...", A, x)

    def hessian(x):
        x = np.asarray(x, dtype=float)
        _xy(x)
        return np.broadcast_to(A.reshape(2, 2, *([1] * (x.ndim - 1))), (2, 2, *x.shape[1:])).copy()

    return Function2D(
        f"quadratic(kappa={kappa:g})", f, grad, hessian, np.zeros((1, 2)), 0.0,
        np.array([-1.8, 1.2]), ((-2.0, 2.0), (-2.0, 2.0)),
    )  # fmt: skip


#: the lab's functions by name (factories with their default arguments)
FUNCTIONS: dict[str, Callable[[], Function2D]] = {
    "rosenbrock": rosenbrock,
    "beale": beale,
    "himmelblau": himmelblau,
    "rastrigin": rastrigin,
    "saddle": saddle,
    "quadratic": quadratic,
}
