r"""Bayesian basics: the Beta-Bernoulli conjugate update and a Gaussian prior as weight decay.

* Beta(a, b) prior on a coin's p, k heads in n flips:
  posterior Beta(a + k, b + n - k); MLE k/n; MAP (a + k - 1)/(a + b + n - 2).
* Linear regression :math:`y = Xw + \varepsilon`, :math:`\varepsilon\sim\mathcal N(0,\sigma^2)`,
  prior :math:`w \sim \mathcal N(0, \tau^2 I)`. The negative log posterior is, up to a
  constant, :math:`\frac{1}{2\sigma^2}\|y - Xw\|^2 + \frac{1}{2\tau^2}\|w\|^2`, so the MAP
  estimate is ridge regression (L2 weight decay) with :math:`\lambda = \sigma^2/\tau^2`:
  :math:`w_{MAP} = (X^\top X + \lambda I)^{-1} X^\top y`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.special import betainc, betaincinv, betaln

from dlmath._checks import as_float_array, check_real, fail
from dlmath.prob.distributions import _int_values

__all__ = ["BetaBernoulli", "ridge_map", "neg_log_posterior", "neg_log_posterior_grad"]


class BetaBernoulli:
    r"""A Beta(alpha, beta) belief about a Bernoulli parameter p; ``update`` returns the posterior.

    Immutable: ``update(data)`` gives a new object with
    :math:`\alpha + \sum x_i`, :math:`\beta + n - \sum x_i`.
    """

    def __init__(self, alpha: float = 1.0, beta: float = 1.0) -> None:
        self.alpha = check_real(alpha, "alpha", low=0.0, low_open=True)
        self.beta = check_real(beta, "beta", low=0.0, low_open=True)

    def __repr__(self) -> str:
        return f"BetaBernoulli(alpha={self.alpha:.6g}, beta={self.beta:.6g})"

    def update(self, data: Any) -> BetaBernoulli:
        """The posterior after observing 0/1 outcomes ``data`` (any shape)."""
        x = _int_values(data, "data", 1)
        k = int(x.sum())
        return BetaBernoulli(self.alpha + k, self.beta + x.size - k)

    @property
    def mean(self) -> float:
        r"""Posterior mean :math:`\alpha / (\alpha + \beta)`."""
        return self.alpha / (self.alpha + self.beta)

    @property
    def map(self) -> float:
        r"""The mode :math:`(\alpha - 1)/(\alpha + \beta - 2)`.

        At a boundary (0 or 1) when alpha or beta <= 1.
        """
        a, b = self.alpha, self.beta
        if a > 1 and b > 1:
            return (a - 1) / (a + b - 2)
        if a <= 1 and b <= 1:  # U-shaped or flat: no unique interior mode
            if a == b:
                raise ValueError(
                    f"the MAP of Beta(alpha={a:g}, beta={b:g}) is not unique: the density "
                    "is flat or symmetric U-shaped."
                )
            return 0.0 if a < b else 1.0
        return 0.0 if a <= 1 else 1.0

    @staticmethod
    def mle(data: Any) -> float:
        """The maximum-likelihood estimate k / n (what a flat prior's MAP also gives)."""
        x = _int_values(data, "data", 1)
        if x.size == 0:
            raise fail("data", "at least one observation", x)
        return float(x.mean())

    def pdf(self, theta: Any) -> np.ndarray | float:
        r"""Density :math:`\theta^{\alpha-1}(1-\theta)^{\beta-1} / B(\alpha, \beta)` on [0, 1]."""
        t = as_float_array(theta, "theta", allow_empty=True)
        if t.size and (t.min() < 0 or t.max() > 1):
            raise fail(
                "theta", "values in [0, 1]", f"values in [{t.min()}, {t.max()}]", described=True
            )
        with np.errstate(divide="ignore", invalid="ignore"):  # 0 * log 0 at the ends
            log_pdf = (
                (self.alpha - 1) * np.log(t)
                + (self.beta - 1) * np.log1p(-t)
                - betaln(self.alpha, self.beta)
            )
            out = np.exp(log_pdf)
        out = np.where(
            ((t == 0) & (self.alpha == 1)) | ((t == 1) & (self.beta == 1)),
            math.exp(-betaln(self.alpha, self.beta)),
            out,
        )
        return float(out) if out.ndim == 0 else out

    def cdf(self, theta: Any) -> np.ndarray | float:
        """The regularised incomplete beta function I_theta(alpha, beta)."""
        out = betainc(self.alpha, self.beta, as_float_array(theta, "theta"))
        return float(out) if np.ndim(out) == 0 else out

    def credible_interval(self, level: float = 0.95) -> tuple[float, float]:
        """Equal-tailed interval: the (1-level)/2 and (1+level)/2 quantiles (inverse of the cdf)."""
        level = check_real(level, "level", low=0.0, high=1.0, low_open=True, high_open=True)
        lo, hi = betaincinv(self.alpha, self.beta, [(1 - level) / 2, (1 + level) / 2])
        return float(lo), float(hi)


def _regression(X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    X_ = as_float_array(X, "X", ndim=2)
    y_ = as_float_array(y, "y", ndim=1)
    if y_.shape[0] != X_.shape[0]:
        raise fail("y", f"of length {X_.shape[0]} (one target per row of X)", y_)
    return X_, y_


def _lam(noise_sigma: float, prior_sigma: float) -> float:
    """``lambda = (sigma / tau)^2``, from logs (no spurious overflow); refused by name
    when it is not a finite positive float64."""
    s = check_real(noise_sigma, "noise_sigma", low=0.0, low_open=True)
    t = check_real(prior_sigma, "prior_sigma", low=0.0, low_open=True)
    log_lam = 2 * (math.log(s) - math.log(t))
    if not -700 < log_lam < 700:
        raise fail(
            "prior_sigma",
            "within a factor 1e152 of noise_sigma (lambda = (noise_sigma/prior_sigma)^2 "
            "must be a normal float64)",
            f"noise_sigma={s:g}, prior_sigma={t:g} (lambda = e^{log_lam:.0f})",
            described=True,
        )
    return math.exp(log_lam)


def ridge_map(
    X: Any, y: Any, *, noise_sigma: float, prior_sigma: float
) -> tuple[np.ndarray, float]:
    r"""MAP weights under the Gaussian prior: :math:`(X^\top X + \lambda I)^{-1}X^\top y`.

    ``X`` (n, d), ``y`` (n,) -> (``w`` (d,), :math:`\lambda = \sigma^2/\tau^2`). Equals
    ``sklearn.linear_model.Ridge(alpha=lam, fit_intercept=False)``. Solved with
    ``np.linalg.solve`` (never an explicit inverse).
    """
    X_, y_ = _regression(X, y)
    lam = _lam(noise_sigma, prior_sigma)
    G, b = X_.T @ X_, X_.T @ y_
    # with a large lambda solve the scaled system (G / lam + I) w = b / lam: same w,
    # no overflow of lam * I against G, and better conditioned
    A, rhs = (G / lam + np.eye(len(G)), b / lam) if lam > 1 else (G + lam * np.eye(len(G)), b)
    w = np.linalg.solve(A, rhs)
    if not np.isfinite(w).all():
        raise fail("X", "well conditioned for this lambda (X^T X + lambda I is singular)", X_)
    return w, lam


def neg_log_posterior(w: Any, X: Any, y: Any, *, noise_sigma: float, prior_sigma: float) -> float:
    r""":math:`\frac{1}{2\sigma^2}\|y - Xw\|^2 + \frac{1}{2\tau^2}\|w\|^2` (constants dropped)."""
    X_, y_ = _regression(X, y)
    w_ = as_float_array(w, "w", ndim=1)
    s = check_real(noise_sigma, "noise_sigma", low=0.0, low_open=True)
    t = check_real(prior_sigma, "prior_sigma", low=0.0, low_open=True)
    r = y_ - X_ @ w_
    return float(r @ r / (2 * s**2) + w_ @ w_ / (2 * t**2))


def neg_log_posterior_grad(
    w: Any, X: Any, y: Any, *, noise_sigma: float, prior_sigma: float
) -> np.ndarray:
    r"""Gradient :math:`\frac{1}{\sigma^2}(X^\top(Xw - y) + \lambda w)`.

    The data term plus the weight decay :math:`\lambda w`.
    """
    X_, y_ = _regression(X, y)
    w_ = as_float_array(w, "w", ndim=1)
    lam = _lam(noise_sigma, prior_sigma)
    s2 = check_real(noise_sigma, "noise_sigma", low=0.0, low_open=True) ** 2
    return (X_.T @ (X_ @ w_ - y_) + lam * w_) / s2
