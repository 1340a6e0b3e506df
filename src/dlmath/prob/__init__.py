"""Probability behind the loss functions: distributions, information, likelihood, Bayes.

- distributions: :class:`Gaussian`, :class:`Bernoulli`, :class:`Categorical` (log_prob,
  sample, mean, variance, entropy, closed-form MLE ``fit``)
- information: :func:`entropy`, :func:`distribution_cross_entropy`, :func:`kl_divergence`
  over the last axis (nats; ``base=2`` for bits)
- functional: :func:`logsumexp`, :func:`log_softmax`, :func:`softmax`, :func:`kl_gaussian`
- mle: Gaussian NLL = MSE / (2 sigma^2) + const, softmax NLL = cross-entropy, gradient
  descent fits, SymPy derivations. The losses themselves (``mse``, ``cross_entropy`` and
  their gradients, torch's ``(input, target)`` order) live in :mod:`dlmath.backprop`;
  ``prob.mse``, ``prob.mse_grad``, ``prob.categorical_nll(_grad)``, ``prob.cross_entropy``
  (now :func:`distribution_cross_entropy`) and ``prob.cross_entropy_from_logits`` are
  deprecated aliases that warn and name the replacement.
- bayes: :class:`BetaBernoulli` conjugate update, Gaussian prior = L2 weight decay
- approx: forward vs reverse KL fits of a Gaussian to a mixture
"""

from dlmath.prob.approx import GaussianMixture1D, fit_gaussian_kl, grid_kl
from dlmath.prob.bayes import BetaBernoulli, neg_log_posterior, neg_log_posterior_grad, ridge_map
from dlmath.prob.distributions import Bernoulli, Categorical, Gaussian
from dlmath.prob.functional import kl_gaussian, log_softmax, logsumexp, softmax
from dlmath.prob.information import (
    DEFAULT_ATOL,
    as_distribution,
    distribution_cross_entropy,
    entropy,
    kl_divergence,
)
from dlmath.prob.mle import (
    fit_categorical_gd,
    fit_gaussian_gd,
    fit_linear_regression_gd,
    gaussian_nll,
    gaussian_nll_grad,
    gradient_descent,
    one_hot,
    sympy_gaussian_mle,
    sympy_softmax_nll_grad,
)

__all__ = [
    "Gaussian",
    "Bernoulli",
    "Categorical",
    "GaussianMixture1D",
    "BetaBernoulli",
    "DEFAULT_ATOL",
    "as_distribution",
    "entropy",
    "distribution_cross_entropy",
    "kl_divergence",
    "logsumexp",
    "log_softmax",
    "softmax",
    "kl_gaussian",
    "grid_kl",
    "fit_gaussian_kl",
    "gaussian_nll",
    "gaussian_nll_grad",
    "one_hot",
    "gradient_descent",
    "fit_gaussian_gd",
    "fit_categorical_gd",
    "fit_linear_regression_gd",
    "sympy_gaussian_mle",
    "sympy_softmax_nll_grad",
    "ridge_map",
    "neg_log_posterior",
    "neg_log_posterior_grad",
]

# Deprecated aliases: they warn when called and name the replacement; not in __all__.
_DEPRECATED = {
    "cross_entropy": "information",
    "cross_entropy_from_logits": "information",
    "categorical_nll": "mle",
    "categorical_nll_grad": "mle",
    "mse": "mle",
    "mse_grad": "mle",
}


def __getattr__(name: str):
    if name in _DEPRECATED:
        import importlib

        return getattr(importlib.import_module(f"dlmath.prob.{_DEPRECATED[name]}"), name)
    raise AttributeError(f"module 'dlmath.prob' has no attribute {name!r}")
