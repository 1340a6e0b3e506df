r"""Maximum likelihood behind the two standard losses.

* Regression with Gaussian noise of fixed :math:`\sigma`: the mean negative log-likelihood is

  .. math:: \mathrm{NLL} = \frac{1}{n}\sum_i \frac{(y_i - \hat y_i)^2}{2\sigma^2}
            + \tfrac12\log(2\pi\sigma^2) = \frac{\mathrm{MSE}}{2\sigma^2} + \text{const},

  so it has the same minimiser as the MSE and a gradient :math:`1/(2\sigma^2)` times as large.
* Classification with a softmax model :math:`q = \mathrm{softmax}(z)`: the mean
  negative log-likelihood of labels y is :math:`-\frac1n\sum_i \log q_{i, y_i}
  = \frac1n\sum_i H(\mathrm{onehot}(y_i), q_i)`, the cross-entropy (``F.cross_entropy``).

The closed-form MLEs live on the distributions (``Gaussian.fit`` etc.); here the same
estimates are reached by gradient descent on the NLL, and SymPy derives them symbolically.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from dlmath._checks import (
    as_float_array,
    as_label_array,
    check_choice,
    check_int,
    check_real,
    deprecated,
    fail,
    fail_type,
    named,
)
from dlmath.prob.distributions import Categorical, Gaussian
from dlmath.prob.functional import softmax

__all__ = [
    "gaussian_nll",
    "gaussian_nll_grad",
    "one_hot",
    "gradient_descent",
    "fit_gaussian_gd",
    "fit_categorical_gd",
    "fit_linear_regression_gd",
    "sympy_gaussian_mle",
    "sympy_softmax_nll_grad",
]


def _pair(y: Any, y_hat: Any) -> tuple[np.ndarray, np.ndarray]:
    y_, y_hat_ = as_float_array(y, "y"), as_float_array(y_hat, "y_hat")
    if y_.shape != y_hat_.shape:
        raise fail("y_hat", f"an array of the same shape as 'y' {y_.shape}", y_hat_)
    return y_, y_hat_


def gaussian_nll(y: Any, y_hat: Any, sigma: float) -> float:
    r"""Mean :math:`-\log\mathcal N(y_i; \hat y_i, \sigma^2)` over all elements.

    Equals ``torch.nn.GaussianNLLLoss(full=True)(y_hat, y, var=sigma**2)``.
    """
    y_, y_hat_ = _pair(y, y_hat)
    sigma = check_real(sigma, "sigma", low=0.0, low_open=True)
    with np.errstate(over="ignore", invalid="ignore"):
        sq = ((y_ - y_hat_) / sigma) ** 2
        nll = float(np.mean(0.5 * sq) + 0.5 * math.log(2 * math.pi) + math.log(sigma))
    if not math.isfinite(nll):
        raise fail("sigma", "large enough that ((y - y_hat) / sigma)^2 is finite", sigma)
    return nll


def gaussian_nll_grad(y: Any, y_hat: Any, sigma: float) -> np.ndarray:
    r""":math:`\partial\,\mathrm{NLL} / \partial \hat y = (\hat y - y) / (n\sigma^2)`."""
    y_, y_hat_ = _pair(y, y_hat)
    sigma = check_real(sigma, "sigma", low=0.0, low_open=True)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        g = (y_hat_ - y_) / y_.size / np.float64(sigma) / np.float64(sigma)
    if not np.isfinite(g).all():
        raise fail("sigma", "large enough that (y_hat - y) / (n sigma^2) is finite", sigma)
    return g


def one_hot(y: Any, K: int) -> np.ndarray:
    """(n,) integer labels -> (n, K) float64 rows with a single 1."""
    K = check_int(K, "K", low=1)
    labels = as_label_array(y, "y", n_classes=K)
    out = np.zeros((labels.size, K))
    out[np.arange(labels.size), labels] = 1.0
    return out


def gradient_descent(
    grad: Callable[[np.ndarray], np.ndarray], theta0: Any, *, lr: float, steps: int
) -> tuple[np.ndarray, np.ndarray]:
    r"""Plain gradient descent :math:`\theta_{t+1} = \theta_t - \eta\,\nabla(\theta_t)`.

    Returns the final ``theta`` and the history (steps + 1, *theta.shape), ``theta0`` first.
    """
    theta = np.array(as_float_array(theta0, "theta0"), dtype=np.float64)  # a copy
    lr = check_real(lr, "lr", low=0.0, low_open=True)
    steps = check_int(steps, "steps", low=0)
    history = np.empty((steps + 1,) + theta.shape)
    history[0] = theta
    if not callable(grad):
        raise fail_type("grad", "a callable theta -> gradient", grad)
    for t in range(steps):
        with np.errstate(over="ignore", invalid="ignore"):
            try:
                g = np.asarray(grad(theta), dtype=np.float64)
            except (TypeError, ValueError) as err:
                raise fail_type("grad", "a function returning a real array", f"{err}") from None
            if g.shape != theta.shape:
                raise fail("grad", f"a function returning an array of shape {theta.shape}", g)
            theta = theta - lr * g
        if not (np.all(np.isfinite(g)) and np.all(np.isfinite(theta))):
            raise FloatingPointError(
                f"gradient descent diverged at step {t} (lr={lr:g}): the iterate became "
                "non-finite; lower 'lr'."
            )
        history[t + 1] = theta
    return theta, history


def fit_gaussian_gd(
    data: Any, *, lr: float = 0.5, steps: int = 2000
) -> tuple[Gaussian, np.ndarray]:
    r"""Fit :math:`(\mu, \log\sigma)` by gradient descent on the mean Gaussian NLL.

    With :math:`s = \log\sigma`: :math:`\partial_\mu = -(\bar x - \mu)/\sigma^2`,
    :math:`\partial_s = 1 - \overline{(x-\mu)^2}/\sigma^2` (the log keeps sigma > 0).
    Starts from (0, 0); returns the fitted Gaussian and the (steps + 1, 2) history of
    :math:`(\mu, \sigma)`. It converges to ``Gaussian.fit(data)``.
    """
    x = as_float_array(data, "data", ndim=1)
    # The NLL's curvature at the start (mu, sigma) = (0, 1) is 1/sigma^2, so data far from
    # that scale (mean beyond 100, spread outside [0.01, 100]) makes any fixed lr diverge.
    # Such data is fitted standardized, x' = (x - a) / s (s a power of two near its spread),
    # and mapped back: the MLE is equivariant, mu = a + s mu', sigma = s sigma'.
    est = Gaussian.fit(x) if x.size > 1 and np.ptp(x) > 0 else Gaussian(float(x.mean()), 1.0)
    if abs(est.mu) <= 100 and 1e-2 <= est.sigma <= 100:
        a, s = 0.0, 1.0
    else:
        a, s = est.mu, float(2.0 ** np.round(np.log2(est.sigma)))
    xs = (x - a) / s

    def grad(theta: np.ndarray) -> np.ndarray:
        mu, var = theta[0], math.exp(2 * theta[1])
        return np.array([-(xs.mean() - mu) / var, 1.0 - np.mean((xs - mu) ** 2) / var])

    with named("fit_gaussian_gd()"):
        theta, history = gradient_descent(grad, np.zeros(2), lr=lr, steps=steps)
    history[:, 0] = a + s * history[:, 0]
    history[:, 1] = np.exp(history[:, 1]) * s
    return Gaussian(float(history[-1, 0]), float(history[-1, 1])), history


def fit_categorical_gd(
    data: Any, K: int, *, lr: float = 1.0, steps: int = 500
) -> tuple[Categorical, np.ndarray]:
    r"""Fit softmax logits :math:`z` (K,) by gradient descent on the mean Categorical NLL.

    :math:`\mathrm{NLL}(z) = H(\hat p, \mathrm{softmax}(z))` with :math:`\hat p` the class
    frequencies, so :math:`\nabla_z = \mathrm{softmax}(z) - \hat p`. Starts from z = 0;
    returns the fitted Categorical and the (steps + 1, K) history of probabilities. It
    converges to ``Categorical.fit(data, K)`` (frequencies).
    """
    labels = as_label_array(data, "data", n_classes=check_int(K, "K", low=1))
    p_hat = np.bincount(labels, minlength=K) / labels.size
    z, history = gradient_descent(lambda z: softmax(z) - p_hat, np.zeros(K), lr=lr, steps=steps)
    return Categorical(logits=z), softmax(history)


def fit_linear_regression_gd(
    X: Any, y: Any, *, loss: str = "nll", sigma: float = 1.0, lr: float = 0.1, steps: int = 1000
) -> tuple[np.ndarray, np.ndarray]:
    r"""Fit ``w`` (d,) of :math:`\hat y = Xw` by gradient descent on the MSE or the Gaussian NLL.

    ``X`` (n, d), ``y`` (n,). :math:`\nabla_w = X^\top \partial L/\partial\hat y`. Both
    losses have the least-squares minimiser (the normal equations
    :math:`X^\top X w = X^\top y`); the NLL's gradient is the MSE's divided by
    :math:`2\sigma^2`. Returns ``w`` and the (steps + 1, d) history.
    """
    X_ = as_float_array(X, "X", ndim=2)
    y_ = as_float_array(y, "y", ndim=1)
    if y_.shape[0] != X_.shape[0]:
        raise fail("y", f"of length {X_.shape[0]} (one target per row of X)", y_)
    check_choice(loss, "loss", ("nll", "mse"))

    sigma = check_real(sigma, "sigma", low=0.0, low_open=True)
    # dL/dy_hat: (y_hat - y) / (n sigma^2) for the NLL, 2 (y_hat - y) / n for the MSE
    scale = 1.0 / (y_.size * sigma**2) if loss == "nll" else 2.0 / y_.size

    def grad(w: np.ndarray) -> np.ndarray:
        return X_.T @ ((X_ @ w - y_) * scale)

    with named("fit_linear_regression_gd()"):
        return gradient_descent(grad, np.zeros(X_.shape[1]), lr=lr, steps=steps)


def sympy_gaussian_mle(n: int = 3) -> dict[str, Any]:
    r"""Derive the Gaussian MLE and the NLL-MSE relation symbolically for n samples.

    Returns SymPy expressions: ``nll`` (total over x_1..x_n), ``mu_hat`` and
    ``sigma2_hat`` (solutions of the stationarity equations), and ``nll_minus_scaled_sse``
    = NLL - sum (x_i - mu)^2 / (2 sigma^2), which simplifies to a constant in mu.
    """
    import sympy as sp  # lazily: SymPy takes a second to import

    n = check_int(n, "n", low=1)
    xs = sp.symbols(f"x1:{n + 1}", real=True)
    mu = sp.Symbol("mu", real=True)
    sigma = sp.Symbol("sigma", positive=True)
    s2 = sp.Symbol("s2", positive=True)  # sigma^2, solved for directly
    nll = sum((x - mu) ** 2 / (2 * sigma**2) + sp.log(2 * sp.pi * sigma**2) / 2 for x in xs)
    mu_hat = sp.solve(sp.diff(nll, mu), mu)[0]
    nll_s2 = nll.subs(sigma, sp.sqrt(s2)).subs(mu, mu_hat)
    sigma2_hat = sp.solve(sp.diff(nll_s2, s2), s2)[0]
    sse = sum((x - mu) ** 2 for x in xs)
    return {
        "nll": nll,
        "mu_hat": sp.simplify(mu_hat),
        "sigma2_hat": sp.simplify(sigma2_hat),
        "nll_minus_scaled_sse": sp.simplify(sp.expand_log(nll - sse / (2 * sigma**2))),
        "symbols": {"x": xs, "mu": mu, "sigma": sigma},
    }


def sympy_softmax_nll_grad(K: int = 3, label: int = 0) -> dict[str, Any]:
    r"""Differentiate :math:`-\log\mathrm{softmax}(z)_y` symbolically for K classes.

    Returns ``nll``, ``grad`` (list of K derivatives), ``softmax_minus_onehot`` and
    ``difference`` (their simplified difference: all zeros).
    """
    import sympy as sp

    K = check_int(K, "K", low=2)
    label = check_int(label, "label", low=0, high=K - 1)
    z = sp.symbols(f"z0:{K}", real=True)  # z0..z_{K-1}: 0-based like class labels
    denom = sum(sp.exp(zk) for zk in z)
    nll = -sp.log(sp.exp(z[label]) / denom)
    grad = [sp.diff(nll, zk) for zk in z]
    target = [sp.exp(zk) / denom - (1 if k == label else 0) for k, zk in enumerate(z)]
    return {
        "nll": nll,
        "grad": grad,
        "softmax_minus_onehot": target,
        "difference": [sp.simplify(g - t) for g, t in zip(grad, target, strict=True)],
        "symbols": z,
    }


# --- deprecated names: the losses have one home, dlmath.backprop (torch's argument order) ----


def _backprop():
    from dlmath.backprop import losses

    return losses


mse = deprecated(
    "dlmath.prob.mse(y, y_hat)",
    "dlmath.backprop.mse(y_hat, y) (torch's order: input first)",
    lambda y, y_hat: _backprop().mse(y_hat, y),
)
mse_grad = deprecated(
    "dlmath.prob.mse_grad(y, y_hat)",
    "dlmath.backprop.mse_grad(y_hat, y)[1] (torch's order: input first)",
    lambda y, y_hat: _backprop().mse_grad(y_hat, y)[1],
)
categorical_nll = deprecated(
    "dlmath.prob.categorical_nll(logits, y)",
    "dlmath.backprop.cross_entropy(logits, y)",
    lambda logits, y: _backprop().cross_entropy(logits, y),
)
categorical_nll_grad = deprecated(
    "dlmath.prob.categorical_nll_grad(logits, y)",
    "dlmath.backprop.cross_entropy_grad(logits, y)[1]",
    lambda logits, y: _backprop().cross_entropy_grad(logits, y)[1],
)
