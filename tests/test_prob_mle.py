"""dlmath.prob maximum likelihood, Bayes and KL fitting vs torch, SciPy, sklearn and SymPy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import sympy as sp
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import Ridge

from dlmath import backprop, prob
from dlmath.prob import (
    BetaBernoulli,
    Categorical,
    Gaussian,
    GaussianMixture1D,
    distribution_cross_entropy,
    fit_categorical_gd,
    fit_gaussian_gd,
    fit_gaussian_kl,
    fit_linear_regression_gd,
    gaussian_nll,
    gaussian_nll_grad,
    gradient_descent,
    neg_log_posterior,
    neg_log_posterior_grad,
    one_hot,
    ridge_map,
    softmax,
    sympy_gaussian_mle,
    sympy_softmax_nll_grad,
)

# ---------------------------------------------------------------- Gaussian NLL = MSE


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 50), sigma=st.floats(0.05, 20.0), seed=st.integers(0, 2**16))
def test_gaussian_nll_is_scaled_mse_vs_torch(n, sigma, seed):
    rng = np.random.default_rng(seed)
    y, y_hat = rng.standard_normal((2, n))
    y_copy = y.copy()
    t_hat = torch.tensor(y_hat, requires_grad=True)
    ref = torch.nn.GaussianNLLLoss(full=True)(
        t_hat, torch.tensor(y), torch.full((n,), sigma**2, dtype=torch.float64)
    )
    ref.backward()
    assert gaussian_nll(y, y_hat, sigma) == pytest.approx(ref.item(), rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(
        gaussian_nll_grad(y, y_hat, sigma), t_hat.grad.numpy(), rtol=1e-12, atol=1e-15
    )
    t_hat2 = torch.tensor(y_hat, requires_grad=True)
    ref_mse = F.mse_loss(t_hat2, torch.tensor(y))
    ref_mse.backward()
    assert backprop.mse(y_hat, y) == pytest.approx(ref_mse.item(), rel=1e-12, abs=1e-15)
    dY = backprop.mse_grad(y_hat, y)[1]
    np.testing.assert_allclose(dY, t_hat2.grad.numpy(), rtol=1e-12, atol=1e-15)
    # the identity: NLL = MSE / (2 sigma^2) + log(2 pi sigma^2) / 2, gradients scaled alike
    const = 0.5 * math.log(2 * math.pi * sigma**2)
    assert gaussian_nll(y, y_hat, sigma) == pytest.approx(
        backprop.mse(y_hat, y) / (2 * sigma**2) + const, rel=1e-12, abs=1e-12
    )
    np.testing.assert_allclose(
        gaussian_nll_grad(y, y_hat, sigma),
        backprop.mse_grad(y_hat, y)[1] / (2 * sigma**2),
        rtol=1e-12,
        atol=1e-15,
    )
    np.testing.assert_array_equal(y, y_copy)


def test_linear_regression_nll_and_mse_share_the_minimiser():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.3 * rng.standard_normal(80)
    w_ls = np.linalg.lstsq(X, y, rcond=None)[0]
    w_mse, _ = fit_linear_regression_gd(X, y, loss="mse", lr=0.2, steps=500)
    w_nll, hist = fit_linear_regression_gd(X, y, loss="nll", sigma=0.5, lr=0.1, steps=500)
    np.testing.assert_allclose(w_mse, w_ls, atol=1e-10)
    np.testing.assert_allclose(w_nll, w_ls, atol=1e-10)
    assert hist.shape == (501, 3) and np.all(hist[0] == 0)


# ---------------------------------------------------------------- Categorical NLL = CE


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(1, 30),
    K=st.integers(2, 8),
    scale=st.sampled_from([1.0, 1e3]),
    seed=st.integers(0, 2**16),
)
def test_categorical_nll_is_cross_entropy_vs_torch(n, K, scale, seed):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, K)) * scale
    y = rng.integers(0, K, n)
    tz = torch.tensor(z, requires_grad=True)
    ref = F.cross_entropy(tz, torch.tensor(y))
    ref.backward()
    assert backprop.cross_entropy(z, y) == pytest.approx(ref.item(), rel=1e-12, abs=1e-12)
    dZ = backprop.cross_entropy_grad(z, y)[1]
    np.testing.assert_allclose(dZ, tz.grad.numpy(), rtol=1e-10, atol=1e-15)
    if scale == 1.0:  # softmax probabilities stay > 0: the distribution form is finite
        ce = distribution_cross_entropy(one_hot(y, K), softmax(z)).mean()
        assert backprop.cross_entropy(z, y) == pytest.approx(ce, rel=1e-12)


def test_deprecated_loss_aliases_warn_name_the_replacement_and_agree():
    rng = np.random.default_rng(3)
    z, y = rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    y_true, y_hat = rng.standard_normal(5), rng.standard_normal(5)
    ref = F.cross_entropy(torch.tensor(z), torch.tensor(y)).item()
    with pytest.warns(DeprecationWarning, match=r"categorical_nll.*backprop\.cross_entropy"):
        assert prob.categorical_nll(z, y) == pytest.approx(ref, rel=1e-12)
    with pytest.warns(DeprecationWarning, match=r"cross_entropy_grad"):
        g = prob.categorical_nll_grad(z, y)
    np.testing.assert_allclose(g, backprop.cross_entropy_grad(z, y)[1], rtol=0)
    ref_mse = F.mse_loss(torch.tensor(y_hat), torch.tensor(y_true)).item()
    with pytest.warns(DeprecationWarning, match=r"backprop\.mse\(y_hat, y\)"):
        assert prob.mse(y_true, y_hat) == pytest.approx(ref_mse, rel=1e-12)
    with pytest.warns(DeprecationWarning, match=r"backprop\.mse_grad\(y_hat, y\)"):
        g = prob.mse_grad(y_true, y_hat)
    np.testing.assert_allclose(g, 2 * (y_hat - y_true) / 5, rtol=1e-12)  # sign kept


def test_categorical_nll_bad_input():
    with pytest.raises(ValueError, match="'target'"):
        backprop.cross_entropy(np.zeros((3, 2)), [0, 1])
    with pytest.raises(ValueError, match="'target'"):
        backprop.cross_entropy(np.zeros((2, 2)), [0, 2])
    with pytest.raises(ValueError, match="'target'"):
        backprop.cross_entropy(np.zeros(2), [0])
    with pytest.raises(ValueError, match="'target'"):
        backprop.mse([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="'sigma'"):
        gaussian_nll([1.0], [1.0], 0.0)
    with pytest.raises(ValueError, match="'y'"):
        gaussian_nll([np.nan], [1.0], 1.0)
    with pytest.raises(ValueError, match="'lr'"):
        gradient_descent(lambda t: t, [1.0], lr=-1.0, steps=3)


# ---------------------------------------------------------------- GD fits vs closed form


def test_fit_gaussian_gd_reaches_closed_form_mle():
    x = Gaussian(2.0, 3.0).sample(500, seed=0)
    fit, hist = fit_gaussian_gd(x)
    mu_ref, sigma_ref = scipy.stats.norm.fit(x)
    assert fit.mu == pytest.approx(mu_ref, abs=1e-8)
    assert fit.sigma == pytest.approx(sigma_ref, abs=1e-8)
    assert hist.shape == (2001, 2) and tuple(hist[0]) == (0.0, 1.0)


def test_fit_gaussian_gd_gradient_matches_autograd():
    # the gradient inside fit_gaussian_gd, checked at its first step from (0, log 1)
    x = Gaussian(1.0, 2.0).sample(50, seed=1)
    _, hist = fit_gaussian_gd(x, lr=1e-3, steps=1)
    theta = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    t = torch.tensor(x)
    nll = (0.5 * ((t - theta[0]) / torch.exp(theta[1])) ** 2 + theta[1]).mean()
    nll.backward()
    step = np.array([hist[1, 0], np.log(hist[1, 1])])
    np.testing.assert_allclose(step, -1e-3 * theta.grad.numpy(), rtol=1e-12)


def test_fit_categorical_gd_reaches_frequencies():
    x = Categorical([0.2, 0.5, 0.3]).sample(400, seed=2)
    fit, hist = fit_categorical_gd(x, 3, lr=2.0, steps=800)
    np.testing.assert_allclose(fit.probs, np.bincount(x, minlength=3) / x.size, atol=1e-9)
    np.testing.assert_allclose(hist[0], [1 / 3] * 3)


# ---------------------------------------------------------------- SymPy derivations


def test_sympy_gaussian_mle():
    d = sympy_gaussian_mle(3)
    x1, x2, x3 = d["symbols"]["x"]
    sigma = d["symbols"]["sigma"]
    assert sp.simplify(d["mu_hat"] - (x1 + x2 + x3) / 3) == 0
    mean = (x1 + x2 + x3) / 3
    var = ((x1 - mean) ** 2 + (x2 - mean) ** 2 + (x3 - mean) ** 2) / 3
    assert sp.simplify(d["sigma2_hat"] - var) == 0
    # NLL minus SSE / (2 sigma^2) does not depend on mu: the same minimiser as the MSE
    rest = d["nll_minus_scaled_sse"]
    assert sp.diff(rest, d["symbols"]["mu"]) == 0
    assert sp.simplify(rest - sp.Rational(3, 2) * sp.log(2 * sp.pi * sigma**2)) == 0


def test_sympy_softmax_nll_grad():
    d = sympy_softmax_nll_grad(3, label=1)
    assert d["difference"] == [0, 0, 0]
    # numeric spot check of the symbolic gradient against torch
    z = d["symbols"]
    vals = {z[0]: 0.3, z[1]: -1.2, z[2]: 2.0}
    tz = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64, requires_grad=True)
    F.cross_entropy(tz[None], torch.tensor([1])).backward()
    np.testing.assert_allclose(
        [float(g.subs(vals)) for g in d["grad"]], tz.grad.numpy(), rtol=1e-12
    )


# ---------------------------------------------------------------- Bayes


def test_beta_bernoulli_posterior_vs_scipy():
    prior = BetaBernoulli(2.0, 3.0)
    data = np.array([1, 0, 1, 1, 1, 0, 1])
    post = prior.update(data)
    assert (post.alpha, post.beta) == (7.0, 5.0)
    assert (prior.alpha, prior.beta) == (2.0, 3.0)  # immutable
    ref = scipy.stats.beta(7.0, 5.0)
    assert post.mean == pytest.approx(ref.mean(), rel=1e-14)
    lo, hi = post.credible_interval(0.9)
    np.testing.assert_allclose((lo, hi), ref.interval(0.9), rtol=1e-12)
    theta = np.linspace(0, 1, 11)
    np.testing.assert_allclose(post.pdf(theta), ref.pdf(theta), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(post.cdf(theta), ref.cdf(theta), rtol=1e-12)
    grid = np.linspace(0, 1, 200001)
    assert post.map == pytest.approx(grid[np.argmax(ref.pdf(grid))], abs=1e-5)
    assert BetaBernoulli.mle(data) == 5 / 7
    # a flat prior's MAP is the MLE
    assert BetaBernoulli(1, 1).update(data).map == pytest.approx(5 / 7, rel=1e-15)
    np.testing.assert_allclose(BetaBernoulli(1, 1).pdf([0.0, 1.0]), [1.0, 1.0])
    assert repr(post) == "BetaBernoulli(alpha=7, beta=5)"


def test_beta_bernoulli_sequential_equals_batch():
    data = Categorical([0.4, 0.6]).sample(100, seed=0)
    post = BetaBernoulli(1.0, 1.0)
    for x in data:
        post = post.update([x])
    batch = BetaBernoulli(1.0, 1.0).update(data)
    assert (post.alpha, post.beta) == (batch.alpha, batch.beta)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: BetaBernoulli(0.0, 1.0), "'alpha'"),
        (lambda: BetaBernoulli(1.0, -1.0), "'beta'"),
        (lambda: BetaBernoulli().update([0, 3]), "'data'"),
        (lambda: BetaBernoulli().credible_interval(1.5), "'level'"),
        (lambda: BetaBernoulli().pdf([1.5]), "'theta'"),
        (lambda: BetaBernoulli().map, "not unique"),
    ],
)
def test_beta_bernoulli_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_gaussian_prior_map_is_ridge():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 5))
    y = X @ rng.standard_normal(5) + 0.5 * rng.standard_normal(40)
    X_copy = X.copy()
    w, lam = ridge_map(X, y, noise_sigma=0.5, prior_sigma=0.25)
    assert lam == pytest.approx(4.0)
    ref = Ridge(alpha=lam, fit_intercept=False, solver="cholesky").fit(X, y).coef_
    np.testing.assert_allclose(w, ref, rtol=1e-10)
    # w minimises the negative log posterior: its gradient (data term + weight decay) is 0
    g = neg_log_posterior_grad(w, X, y, noise_sigma=0.5, prior_sigma=0.25)
    assert np.abs(g).max() < 1e-10
    # and the gradient matches torch autograd of the negative log posterior
    tw = torch.tensor(w + 0.1, requires_grad=True)
    nlp = ((torch.tensor(y) - torch.tensor(X) @ tw) ** 2).sum() / (2 * 0.25) + (tw**2).sum() / (
        2 * 0.0625
    )
    nlp.backward()
    np.testing.assert_allclose(
        neg_log_posterior_grad(w + 0.1, X, y, noise_sigma=0.5, prior_sigma=0.25),
        tw.grad.numpy(),
        rtol=1e-12,
    )
    assert neg_log_posterior(w + 0.1, X, y, noise_sigma=0.5, prior_sigma=0.25) == pytest.approx(
        nlp.item(), rel=1e-12
    )
    np.testing.assert_array_equal(X, X_copy)
    with pytest.raises(ValueError, match="'prior_sigma'"):
        ridge_map(X, y, noise_sigma=0.5, prior_sigma=0.0)
    with pytest.raises(ValueError, match="'y'"):
        ridge_map(X, y[:-1], noise_sigma=0.5, prior_sigma=1.0)


# ---------------------------------------------------------------- KL asymmetry


def test_forward_kl_fit_matches_moments_and_reverse_seeks_a_mode():
    p = GaussianMixture1D([0.3, 0.7], [-3.0, 2.5], [0.8, 1.0])
    x = np.linspace(-15, 15, 6001)
    q_fwd, kl_fwd = fit_gaussian_kl(p, x, direction="forward")
    # forward KL's optimum is moment matching (closed form via the law of total variance)
    assert q_fwd.mu == pytest.approx(p.mean, abs=1e-5)
    assert q_fwd.sigma == pytest.approx(math.sqrt(p.variance), abs=1e-5)
    q_rev, _ = fit_gaussian_kl(p, x, direction="reverse", init=(2.0, 1.0))
    assert abs(q_rev.mu - 2.5) < 0.1 and abs(q_rev.sigma - 1.0) < 0.1
    assert kl_fwd > 0


def test_mixture_against_scipy():
    p = GaussianMixture1D([0.3, 0.7], [-3.0, 2.5], [0.8, 1.0])
    x = np.linspace(-6, 6, 25)
    ref = 0.3 * scipy.stats.norm(-3, 0.8).pdf(x) + 0.7 * scipy.stats.norm(2.5, 1.0).pdf(x)
    np.testing.assert_allclose(p.pdf(x), ref, rtol=1e-12)
    s = p.sample(40000, seed=0)
    assert s.mean() == pytest.approx(p.mean, abs=0.05)
    assert s.var() == pytest.approx(p.variance, rel=0.03)
    with pytest.raises(ValueError, match="'sigmas'"):
        GaussianMixture1D([0.5, 0.5], [0, 1], [1, 0])
    with pytest.raises(ValueError, match="'weights'"):
        GaussianMixture1D([0.5, 0.6], [0, 1], [1, 1])
