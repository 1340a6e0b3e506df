r"""Gaussian, Bernoulli and Categorical distributions from scratch in NumPy.

Each has ``log_prob`` (and ``pdf`` / ``pmf`` = ``exp(log_prob)``), ``sample(n, seed)``,
``mean``, ``variance``, ``entropy()`` and a ``fit(data)`` class method that returns the
closed-form maximum-likelihood estimate. Parameters are scalars (Categorical: one
probability vector of length K); ``log_prob`` evaluates elementwise over any shape of ``x``.
Conventions follow ``torch.distributions`` and ``scipy.stats``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dlmath._checks import (
    as_float_array,
    check_int,
    check_probability,
    check_real,
    check_seed,
    fail,
    fail_type,
)
from dlmath.prob.functional import log_softmax, softmax
from dlmath.prob.information import as_distribution, entropy

__all__ = ["Gaussian", "Bernoulli", "Categorical", "rng_from"]

_LOG_2PI = math.log(2 * math.pi)


def _pow2_scale(top: float) -> float:
    """A power of two near ``top`` (1 for 0): dividing by it is exact."""
    return 1.0 if not np.isfinite(top) or top == 0 else float(2.0 ** np.floor(np.log2(top)))


def rng_from(seed: int | np.random.Generator | None) -> np.random.Generator:
    """A ``numpy.random.Generator`` from an int seed (or the generator itself); no global state."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(check_seed(seed))


def _int_values(x: Any, name: str, high: int) -> np.ndarray:
    """Integer outcomes in ``[0, high]`` (0/1 floats such as 1.0 are accepted)."""
    arr = np.asarray(x)
    if arr.dtype.kind == "b":
        arr = arr.astype(np.int64)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise fail(name, f"integer outcomes in [0, {high}]", arr)
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise fail_type(name, f"integer outcomes in [0, {high}]", arr)
    if arr.size and (arr.min() < 0 or arr.max() > high):
        raise fail(
            name,
            f"outcomes in [0, {high}]",
            f"values in [{arr.min()}, {arr.max()}]",
            described=True,
        )
    return arr.astype(np.int64, copy=False)


def _scalar_or_array(a: np.ndarray) -> np.ndarray | float:
    return float(a) if a.ndim == 0 else a


class Gaussian:
    r"""Univariate normal :math:`\mathcal N(\mu, \sigma^2)`, ``sigma`` the standard deviation > 0.

    .. math:: \log p(x) = -\tfrac12\log(2\pi\sigma^2) - \frac{(x-\mu)^2}{2\sigma^2}
    """

    def __init__(self, mu: float = 0.0, sigma: float = 1.0) -> None:
        self.mu = check_real(mu, "mu")
        self.sigma = check_real(sigma, "sigma", low=0.0, low_open=True)

    def __repr__(self) -> str:
        return f"Gaussian(mu={self.mu:.6g}, sigma={self.sigma:.6g})"

    def log_prob(self, x: Any) -> np.ndarray | float:
        """Log density at ``x`` (any shape, elementwise)."""
        with np.errstate(over="ignore"):
            z = (as_float_array(x, "x", allow_empty=True) - self.mu) / self.sigma
            out = -0.5 * (_LOG_2PI + z**2) - math.log(self.sigma)
        if not np.isfinite(out).all():
            raise fail("x", "within 1e154 standard deviations of mu (finite log density)", x)
        return _scalar_or_array(out)

    def pdf(self, x: Any) -> np.ndarray | float:
        """Density ``exp(log_prob(x))``."""
        return _scalar_or_array(np.exp(self.log_prob(x)))

    def sample(self, n: int, seed: int | np.random.Generator = 0) -> np.ndarray:
        """``n`` draws ``mu + sigma * eps`` with ``eps ~ N(0, 1)`` (the reparameterisation)."""
        eps = rng_from(seed).standard_normal(check_int(n, "n", low=0))
        return self.mu + self.sigma * eps

    @property
    def mean(self) -> float:
        return self.mu

    @property
    def variance(self) -> float:
        return self.sigma**2

    def entropy(self) -> float:
        r""":math:`H = \tfrac12 \log(2\pi e \sigma^2)` nats."""
        return 0.5 * (_LOG_2PI + 1.0) + math.log(self.sigma)

    @classmethod
    def fit(cls, data: Any) -> Gaussian:
        r"""MLE: :math:`\hat\mu = \bar x`, :math:`\hat\sigma^2 = \frac1n\sum_i (x_i-\bar x)^2`.

        The variance divides by n (ddof 0), as ``scipy.stats.norm.fit``.
        """
        x = as_float_array(data, "data", ndim=1)
        # scaled by powers of two (exact): data of +-1e300 neither overflows the mean
        # nor the squares; the estimates are equivariant, mu(s x) = s mu(x) etc.
        c = _pow2_scale(np.abs(x).max())
        z = x / c  # |z| < 2
        m = float(np.mean(z))
        mu, sigma = m * c, float(np.sqrt(np.mean((z - m) ** 2))) * c
        if not (np.isfinite(mu) and np.isfinite(sigma)):
            raise fail("data", "values whose mean and spread are finite in float64", x)
        if sigma == 0:
            raise fail("data", "at least two distinct values (else sigma_hat = 0)", x)
        return cls(mu, sigma)


class Bernoulli:
    r"""Bernoulli(p) on {0, 1}: :math:`\log p(x) = x\log p + (1-x)\log(1-p)`, with 0 log 0 = 0."""

    def __init__(self, p: float) -> None:
        self.p = check_probability(p, "p")

    def __repr__(self) -> str:
        return f"Bernoulli(p={self.p:.6g})"

    @property
    def probs(self) -> np.ndarray:
        """``[P(x=0), P(x=1)]``."""
        return np.array([1.0 - self.p, self.p])

    def log_prob(self, x: Any) -> np.ndarray | float:
        """Log probability of outcomes ``x`` in {0, 1} (any shape); log 0 = -inf."""
        k = _int_values(x, "x", 1)
        with np.errstate(divide="ignore"):  # p = 0 or 1 makes one outcome impossible
            log_probs = np.log(self.probs)
        return _scalar_or_array(log_probs[k])

    def pmf(self, x: Any) -> np.ndarray | float:
        return _scalar_or_array(self.probs[_int_values(x, "x", 1)])

    def sample(self, n: int, seed: int | np.random.Generator = 0) -> np.ndarray:
        """``n`` draws as int64 0/1: ``u < p`` with ``u ~ U[0, 1)``."""
        u = rng_from(seed).random(check_int(n, "n", low=0))
        return (u < self.p).astype(np.int64)

    @property
    def mean(self) -> float:
        return self.p

    @property
    def variance(self) -> float:
        return self.p * (1.0 - self.p)

    def entropy(self) -> float:
        """Binary entropy: the Categorical entropy of ``[1 - p, p]``."""
        return float(entropy(self.probs))

    @classmethod
    def fit(cls, data: Any) -> Bernoulli:
        r"""MLE: :math:`\hat p = \frac1n\sum_i x_i`, the fraction of ones."""
        k = _int_values(data, "data", 1)
        if k.ndim != 1 or k.size == 0:
            raise fail("data", "a non-empty 1-D array of 0/1 outcomes", k)
        return cls(float(k.mean()))


class Categorical:
    r"""Categorical distribution over {0, ..., K-1} from ``probs`` or ``logits`` (exactly one).

    ``probs`` (K,) must be non-negative and sum to 1 within ``atol`` (``normalize=True``
    divides by the sum instead); ``logits`` (K,) are any finite reals, ``probs =
    softmax(logits)``. :math:`\log p(k) = \mathrm{log\_softmax}(z)_k`.
    ``mean`` and ``variance`` are those of the integer outcome k.
    """

    def __init__(
        self,
        probs: Any = None,
        *,
        logits: Any = None,
        normalize: bool = False,
        atol: float | None = None,
    ) -> None:
        if (probs is None) == (logits is None):
            raise ValueError(
                "'probs' and 'logits': pass exactly one of them; got "
                f"{'both' if probs is not None else 'neither'}."
            )
        if logits is not None:
            z = as_float_array(logits, "logits", ndim=1)
            self.probs = softmax(z)
            self.logits = log_softmax(z)  # normalised logits: log probabilities
        else:
            self.probs = np.array(
                as_distribution(
                    as_float_array(probs, "probs", ndim=1), "probs", normalize=normalize, atol=atol
                )
            )
            with np.errstate(divide="ignore"):  # a zero probability has log -inf
                self.logits = np.log(self.probs)

    def __repr__(self) -> str:
        shown = np.array2string(self.probs, precision=4, threshold=8)
        return f"Categorical(K={self.K}, probs={shown})"

    @property
    def K(self) -> int:
        return int(self.probs.shape[0])

    def log_prob(self, x: Any) -> np.ndarray | float:
        return _scalar_or_array(self.logits[_int_values(x, "x", self.K - 1)])

    def pmf(self, x: Any) -> np.ndarray | float:
        return _scalar_or_array(self.probs[_int_values(x, "x", self.K - 1)])

    def sample(self, n: int, seed: int | np.random.Generator = 0) -> np.ndarray:
        """``n`` draws by inverting the CDF: the first k with ``cdf[k] > u``, ``u ~ U[0, 1)``."""
        u = rng_from(seed).random(check_int(n, "n", low=0))
        cdf = np.cumsum(self.probs)
        k = np.searchsorted(cdf, u * cdf[-1], side="right")  # * cdf[-1]: rounding of the sum
        return np.minimum(k, self.K - 1).astype(np.int64)

    @property
    def mean(self) -> float:
        return float(np.arange(self.K) @ self.probs)

    @property
    def variance(self) -> float:
        k = np.arange(self.K)
        return float((k - self.mean) ** 2 @ self.probs)

    def entropy(self) -> float:
        return float(entropy(self.probs))

    @classmethod
    def fit(cls, data: Any, K: int | None = None) -> Categorical:
        r"""MLE: :math:`\hat p_k = n_k / n`, the class frequencies (K defaults to max + 1)."""
        k = _int_values(data, "data", np.iinfo(np.int64).max)
        if k.ndim != 1 or k.size == 0:
            raise fail("data", "a non-empty 1-D array of class labels", k)
        K = int(k.max()) + 1 if K is None else check_int(K, "K", low=int(k.max()) + 1)
        return cls(np.bincount(k, minlength=K) / k.size)
