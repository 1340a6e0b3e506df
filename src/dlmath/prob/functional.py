"""Stable log-sum-exp, softmax and the closed-form KL divergence between Gaussians.

All functions reduce over ``axis`` (the last one by default) and accept any batch shape in
front of it. They check their input and call the kernels of :mod:`dlmath._numerics`, which
subtract the maximum before exponentiating, so logits of +-1e4 give exact, finite results
in float32 and float64.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlmath import _numerics as _num
from dlmath._checks import as_float_array, check_int, fail

__all__ = ["logsumexp", "log_softmax", "softmax", "kl_gaussian"]


def _logits(x: Any, name: str, axis: int) -> tuple[np.ndarray, int]:
    arr = as_float_array(x, name)
    if arr.ndim == 0:
        raise fail(name, "an array with at least 1 dimension", arr)
    axis = check_int(axis, "axis", low=-arr.ndim, high=arr.ndim - 1)
    return arr, axis


def logsumexp(x: Any, axis: int = -1, keepdims: bool = False) -> np.ndarray:
    r"""``log(sum(exp(x), axis))`` as :math:`m + \log\sum_i e^{x_i - m}`, ``m = max_i x_i``.

    Shapes: ``x`` (..., K) -> (...) (or (..., 1) with ``keepdims``). Every exponent is
    <= 0, so nothing overflows, and the largest term is exactly 1, so nothing underflows to
    log(0). Matches ``scipy.special.logsumexp`` and ``torch.logsumexp``.
    """
    x, axis = _logits(x, "x", axis)
    return _num.logsumexp(x, axis=axis, keepdims=keepdims)


def log_softmax(x: Any, axis: int = -1) -> np.ndarray:
    r"""``log_softmax(x)_i = (x_i - m) - log sum_j exp(x_j - m)``, ``m = max x``; shape of ``x``."""
    x, axis = _logits(x, "x", axis)
    return _num.log_softmax(x, axis=axis)


def softmax(x: Any, axis: int = -1) -> np.ndarray:
    r"""``softmax(x)_i = exp(x_i - m) / sum_j exp(x_j - m)``: non-negative, each row sums to 1."""
    x, axis = _logits(x, "x", axis)
    return _num.softmax(x, axis=axis)


def kl_gaussian(
    mu_p: Any, sigma_p: Any, mu_q: Any, sigma_q: Any, *, diagonal: bool = False
) -> np.ndarray | float:
    r"""Closed-form :math:`KL(\mathcal N(\mu_p,\sigma_p^2)\|\mathcal N(\mu_q,\sigma_q^2))` in nats.

    .. math::
        KL = \log\frac{\sigma_q}{\sigma_p} + \frac{\sigma_p^2 + (\mu_p - \mu_q)^2}{2\sigma_q^2}
             - \frac12

    Univariate (default): elementwise over broadcast shapes, as
    ``torch.distributions.kl_divergence(Normal, Normal)``. With ``diagonal=True`` the last
    axis holds the d coordinates of a diagonal-covariance Gaussian (standard deviations
    ``sigma``, not variances) and the per-coordinate terms are summed:
    (..., d) -> (...), as ``Independent(Normal(mu, sigma), 1)`` or
    ``MultivariateNormal(mu, diag(sigma**2))``.
    """
    mu_p_, mu_q_ = as_float_array(mu_p, "mu_p"), as_float_array(mu_q, "mu_q")
    sigma_p_, sigma_q_ = as_float_array(sigma_p, "sigma_p"), as_float_array(sigma_q, "sigma_q")
    for s, name in ((sigma_p_, "sigma_p"), (sigma_q_, "sigma_q")):
        if np.any(s <= 0):
            raise fail(
                name, "> 0 everywhere (a standard deviation)", f"min {s.min():g}", described=True
            )
    try:
        shape = np.broadcast_shapes(mu_p_.shape, sigma_p_.shape, mu_q_.shape, sigma_q_.shape)
    except ValueError as err:
        raise ValueError(
            "'mu_p', 'sigma_p', 'mu_q' and 'sigma_q' must have broadcastable shapes; got "
            f"{mu_p_.shape}, {sigma_p_.shape}, {mu_q_.shape} and {sigma_q_.shape}."
        ) from err
    if diagonal and len(shape) == 0:
        raise fail(
            "mu_p", "an array whose last axis holds the d coordinates (diagonal=True)", mu_p_
        )
    # log form: log(sigma_q / sigma_p) from the two logs, so sigma_p / sigma_q = 1e600 is
    # no overflow in the log term; the squares are exp(2 log ratio) and ((dmu/s_q))^2
    log_ratio = np.log(sigma_p_) - np.log(sigma_q_)
    with np.errstate(over="ignore"):
        z = (mu_p_ - mu_q_) / sigma_q_
        terms = -log_ratio + 0.5 * (np.exp(2 * log_ratio) + z * z) - 0.5
    terms = np.broadcast_to(terms, shape)
    if not np.isfinite(terms).all():
        raise fail(
            "sigma_q",
            "large enough that KL = log(s_q/s_p) + (s_p^2 + dmu^2) / (2 s_q^2) - 1/2 is finite "
            "in float64",
            f"KL > 1.8e308 nats (max log(sigma_p / sigma_q) = {np.max(log_ratio):.4g})",
            described=True,
        )
    out = terms.sum(axis=-1) if diagonal else np.array(terms)
    return float(out) if out.ndim == 0 else out
