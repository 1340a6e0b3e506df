"""Probability behind the loss functions: distributions, information, likelihood, Bayes.

- distributions: :class:`Gaussian`, :class:`Bernoulli`, :class:`Categorical` (log_prob,
  sample, mean, variance, entropy, closed-form MLE ``fit``)
- information: :func:`entropy`, :func:`cross_entropy`, :func:`kl_divergence` over the last
  axis (nats; ``base=2`` for bits), :func:`cross_entropy_from_logits`
- functional: :func:`logsumexp`, :func:`log_softmax`, :func:`softmax`, :func:`kl_gaussian`
- mle: Gaussian NLL = MSE / (2 sigma^2) + const, softmax NLL = cross-entropy, gradient
  descent fits, SymPy derivations
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
    cross_entropy,
    cross_entropy_from_logits,
    entropy,
    kl_divergence,
)
from dlmath.prob.mle import (
    categorical_nll,
    categorical_nll_grad,
    fit_categorical_gd,
    fit_gaussian_gd,
    fit_linear_regression_gd,
    gaussian_nll,
    gaussian_nll_grad,
    gradient_descent,
    mse,
    mse_grad,
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
    "cross_entropy",
    "kl_divergence",
    "cross_entropy_from_logits",
    "logsumexp",
    "log_softmax",
    "softmax",
    "kl_gaussian",
    "grid_kl",
    "fit_gaussian_kl",
    "mse",
    "mse_grad",
    "gaussian_nll",
    "gaussian_nll_grad",
    "one_hot",
    "categorical_nll",
    "categorical_nll_grad",
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
