r"""KL asymmetry: fitting one Gaussian q to a two-component mixture p.

* forward :math:`KL(p\|q) = E_p[\log p - \log q]` punishes q for missing mass of p: the best
  Gaussian matches p's mean and variance ("mass-covering", the MLE in the limit of data);
* reverse :math:`KL(q\|p) = E_q[\log q - \log p]` punishes q for putting mass where p has
  none: the best Gaussian sits on one mode ("mode-seeking", variational inference).

Both are evaluated on a fine grid from log-densities: ``log_softmax`` of the log-densities
gives the normalised log weights, so nothing underflows even for a narrow q.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.optimize import minimize

from dlmath import _numerics as _num
from dlmath._checks import as_float_array, check_choice, fail, fail_type
from dlmath.prob.distributions import Gaussian, rng_from
from dlmath.prob.functional import logsumexp
from dlmath.prob.information import as_distribution

__all__ = ["GaussianMixture1D", "grid_kl", "fit_gaussian_kl"]


class GaussianMixture1D:
    r""":math:`p(x) = \sum_j w_j \mathcal N(x; \mu_j, \sigma_j^2)`, weights (J,) summing to 1."""

    def __init__(self, weights: Any, mus: Any, sigmas: Any) -> None:
        self.weights = np.array(
            as_distribution(as_float_array(weights, "weights", ndim=1), "weights")
        )
        self.mus = np.array(as_float_array(mus, "mus", ndim=1))
        self.sigmas = np.array(as_float_array(sigmas, "sigmas", ndim=1))
        J = self.weights.size
        for arr, name in ((self.mus, "mus"), (self.sigmas, "sigmas")):
            if arr.size != J:
                raise fail(name, f"of length {J} (one per weight)", arr)
        if np.any(self.sigmas <= 0):
            raise fail("sigmas", "> 0 (standard deviations)", self.sigmas)

    def __repr__(self) -> str:
        parts = ", ".join(
            f"{w:.3g}*N({m:.3g}, {s:.3g}^2)"
            for w, m, s in zip(self.weights, self.mus, self.sigmas, strict=True)
        )
        return f"GaussianMixture1D({parts})"

    def log_prob(self, x: Any) -> np.ndarray:
        """``logsumexp_j(log w_j + log N(x; mu_j, sigma_j))``, elementwise over ``x``."""
        x_ = as_float_array(x, "x")[..., None]
        z = (x_ - self.mus) / self.sigmas
        comp = np.log(self.weights) - 0.5 * (math.log(2 * math.pi) + z**2) - np.log(self.sigmas)
        return logsumexp(comp, axis=-1)

    def pdf(self, x: Any) -> np.ndarray:
        return np.exp(self.log_prob(x))

    def sample(self, n: int, seed: int | np.random.Generator = 0) -> np.ndarray:
        """Pick a component by its weight, then draw from it."""
        rng = rng_from(seed)
        j = np.minimum(
            np.searchsorted(np.cumsum(self.weights), rng.random(n), side="right"),
            self.weights.size - 1,
        )
        return self.mus[j] + self.sigmas[j] * rng.standard_normal(n)

    @property
    def mean(self) -> float:
        return float(self.weights @ self.mus)

    @property
    def variance(self) -> float:
        """Law of total variance: E[sigma_j^2] + Var[mu_j]."""
        return float(self.weights @ (self.sigmas**2 + (self.mus - self.mean) ** 2))


def grid_kl(log_p: Any, log_q: Any) -> float:
    r"""KL between two densities known by their log values on a uniform grid.

    The grid weights are :math:`\tilde p = \mathrm{softmax}(\log p)` (the spacing cancels),
    and :math:`KL = \sum_i \tilde p_i (\log\tilde p_i - \log\tilde q_i)`.
    """
    lp = _log_density(log_p, "log_p")
    lq = _log_density(log_q, "log_q")
    if lq.shape != lp.shape:
        raise fail("log_q", f"of the same shape as 'log_p' {lp.shape}", lq)
    lp, lq = _num.log_softmax(lp), _num.log_softmax(lq)
    p = np.exp(lp)
    inside = p > 0  # 0 log 0 = 0 where p vanishes
    with np.errstate(invalid="ignore"):
        terms = np.where(inside, p * (lp - lq), 0.0)
    return float(terms.sum())  # +inf where q = 0 < p, as KL is


def _log_density(v: Any, name: str) -> np.ndarray:
    """Log values on a grid: 1-D, no NaN, no +inf; -inf (a zero density) allowed."""
    arr = as_float_array(v, name, ndim=1, finite=False)
    if np.isnan(arr).any() or (arr == np.inf).any():
        raise fail(name, "log densities: no NaN or +inf (-inf for a zero density is fine)", arr)
    if not np.isfinite(arr).any():
        raise fail(name, "log densities with at least one finite value", arr)
    return arr


def fit_gaussian_kl(
    p: GaussianMixture1D,
    x: Any,
    *,
    direction: str = "forward",
    init: tuple[float, float] = (0.0, 1.0),
) -> tuple[Gaussian, float]:
    r"""The Gaussian q minimising KL(p||q) (``forward``) or KL(q||p) (``reverse``) on grid ``x``.

    Minimises over :math:`(\mu, \log\sigma)` with Nelder-Mead from ``init`` = (mu, sigma).
    Reverse KL has one local minimum per mode: the caller picks ``init`` (or tries several).
    Returns q and the KL value.
    """
    if not isinstance(p, GaussianMixture1D):
        raise fail_type("p", "a GaussianMixture1D", p)
    check_choice(direction, "direction", ("forward", "reverse"))
    grid = as_float_array(x, "x", ndim=1)
    log_p = p.log_prob(grid)

    def objective(theta: np.ndarray) -> float:
        q = Gaussian(float(theta[0]), float(np.exp(np.clip(theta[1], -30, 30))))
        log_q = q.log_prob(grid)
        return grid_kl(log_p, log_q) if direction == "forward" else grid_kl(log_q, log_p)

    theta0 = np.array([init[0], math.log(init[1])])
    res = minimize(
        objective,
        theta0,
        method="Nelder-Mead",
        options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 4000},
    )
    return Gaussian(float(res.x[0]), float(np.exp(res.x[1]))), float(res.fun)
