"""dlmath.prob distributions, softmax family and information quantities vs SciPy and torch."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special
import scipy.stats
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import distributions as td

from dlmath import backprop, prob
from dlmath.prob import (
    Bernoulli,
    Categorical,
    Gaussian,
    distribution_cross_entropy,
    entropy,
    information,
    kl_divergence,
    kl_gaussian,
    log_softmax,
    logsumexp,
    softmax,
)

T = torch.float64


def random_probs(rng: np.random.Generator, shape, zeros: float = 0.0) -> np.ndarray:
    p = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])
    if zeros:
        p[rng.random(p.shape) < zeros] = 0.0
        p[..., 0] += 1e-3  # keep every row's sum positive
        p /= p.sum(axis=-1, keepdims=True)
    return p


# ---------------------------------------------------------------- distributions


def test_gaussian_matches_scipy_and_torch():
    g = Gaussian(1.5, 0.7)
    x = np.linspace(-3, 5, 41)
    ref = scipy.stats.norm(1.5, 0.7)
    np.testing.assert_allclose(g.log_prob(x), ref.logpdf(x), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(g.pdf(x), ref.pdf(x), rtol=1e-13)
    tn = td.Normal(torch.tensor(1.5, dtype=T), torch.tensor(0.7, dtype=T))
    np.testing.assert_allclose(g.log_prob(x), tn.log_prob(torch.tensor(x)).numpy(), rtol=1e-13)
    assert g.mean == ref.mean() and g.variance == pytest.approx(ref.var(), rel=1e-14)
    assert g.entropy() == pytest.approx(float(ref.entropy()), rel=1e-14)
    assert g.entropy() == pytest.approx(float(tn.entropy()), rel=1e-14)
    assert repr(g) == "Gaussian(mu=1.5, sigma=0.7)"
    assert isinstance(g.log_prob(0.3), float)


def test_gaussian_sample_and_fit():
    g = Gaussian(-2.0, 3.0)
    x = g.sample(20000, seed=3)
    np.testing.assert_array_equal(x, g.sample(20000, seed=3))
    assert not np.array_equal(x, g.sample(20000, seed=4))
    assert scipy.stats.kstest(x, scipy.stats.norm(-2, 3).cdf).pvalue > 1e-3
    fit = Gaussian.fit(x)
    mu_ref, sigma_ref = scipy.stats.norm.fit(x)  # SciPy's MLE (ddof 0)
    assert fit.mu == pytest.approx(mu_ref, rel=1e-12)
    assert fit.sigma == pytest.approx(sigma_ref, rel=1e-12)


def test_bernoulli_matches_scipy_and_torch():
    for p in (0.0, 0.3, 1.0):
        b = Bernoulli(p)
        x = np.array([0, 1, 1, 0])
        ref = scipy.stats.bernoulli(p)
        np.testing.assert_allclose(b.pmf(x), ref.pmf(x), rtol=1e-15)
        with np.errstate(divide="ignore"):
            np.testing.assert_allclose(b.log_prob(x), ref.logpmf(x), rtol=1e-15)
        assert b.mean == ref.mean() and b.variance == pytest.approx(ref.var(), abs=1e-16)
        assert b.entropy() == pytest.approx(float(ref.entropy()), abs=1e-15)
    tb = td.Bernoulli(probs=torch.tensor(0.3, dtype=T))
    assert Bernoulli(0.3).entropy() == pytest.approx(float(tb.entropy()), rel=1e-14)
    assert Bernoulli(0.3).log_prob(1) == pytest.approx(
        float(tb.log_prob(torch.tensor(1.0, dtype=T)))
    )
    assert repr(Bernoulli(0.25)) == "Bernoulli(p=0.25)"


def test_bernoulli_sample_and_fit():
    x = Bernoulli(0.3).sample(50000, seed=0)
    assert set(np.unique(x)) == {0, 1}
    # binomial test: the count of ones is consistent with p = 0.3
    assert scipy.stats.binomtest(int(x.sum()), x.size, 0.3).pvalue > 1e-3
    assert Bernoulli.fit(x).p == x.mean()
    assert Bernoulli.fit([True, False, True, True]).p == 0.75


def test_categorical_probs_and_logits_match_torch():
    probs = np.array([0.1, 0.2, 0.0, 0.7])
    c = Categorical(probs)
    tc = td.Categorical(probs=torch.tensor(probs))
    x = np.array([0, 1, 3, 3])
    np.testing.assert_allclose(c.log_prob(x), tc.log_prob(torch.tensor(x)).numpy(), rtol=1e-14)
    assert c.log_prob(2) == -np.inf
    assert c.entropy() == pytest.approx(float(tc.entropy()), rel=1e-14)
    ref = scipy.stats.rv_discrete(values=(np.arange(4), probs))
    assert c.mean == pytest.approx(ref.mean(), rel=1e-14)
    assert c.variance == pytest.approx(ref.var(), rel=1e-14)
    z = np.array([1e4, -1e4, 0.0, 9999.0])  # extreme logits stay finite and exact
    cz = Categorical(logits=z)
    tz = td.Categorical(logits=torch.tensor(z))
    np.testing.assert_allclose(cz.probs, tz.probs.numpy(), rtol=1e-14, atol=1e-300)
    # torch's logits - logsumexp loses 1e-12 here; the exact values are -log(1 + e^-1) etc.
    np.testing.assert_allclose(cz.logits, tz.logits.numpy(), rtol=1e-11)
    exact = -np.log1p(np.exp(-1.0))
    np.testing.assert_allclose(cz.logits[[0, 3]], [exact, exact - 1.0], rtol=1e-15)
    assert cz.entropy() == pytest.approx(float(tz.entropy()), rel=1e-12)
    assert "Categorical(K=4" in repr(cz)


def test_categorical_sample_and_fit():
    probs = np.array([0.5, 0.1, 0.4])
    x = Categorical(probs).sample(30000, seed=1)
    counts = np.bincount(x, minlength=3)
    assert scipy.stats.chisquare(counts, probs * x.size).pvalue > 1e-3
    fit = Categorical.fit(x)
    np.testing.assert_allclose(fit.probs, counts / x.size, rtol=0)
    assert Categorical.fit([0, 0, 1], K=4).probs.tolist() == [2 / 3, 1 / 3, 0.0, 0.0]
    unnorm = Categorical([2.0, 6.0], normalize=True)
    np.testing.assert_allclose(unnorm.probs, [0.25, 0.75])


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Gaussian(0.0, 0.0), "'sigma'"),
        (lambda: Gaussian(0.0, -1.0), "'sigma'"),
        (lambda: Gaussian(float("nan"), 1.0), "'mu'"),
        (lambda: Bernoulli(1.5), "'p'"),
        (lambda: Bernoulli(-0.1), "'p'"),
        (lambda: Bernoulli(float("nan")), "'p'"),
        (lambda: Categorical([0.5, 0.6]), "'probs'"),
        (lambda: Categorical([-0.5, 1.5]), "'probs'"),
        (lambda: Categorical([np.nan, 1.0]), "'probs'"),
        (lambda: Categorical(logits=[np.nan, 1.0]), "'logits'"),
        (lambda: Categorical(), "'probs'"),
        (lambda: Categorical([1.0], logits=[0.0]), "'probs'"),
        (lambda: Gaussian.fit([1.0, 1.0]), "'data'"),
        (lambda: Gaussian.fit([1.0, np.nan]), "'data'"),
        (lambda: Bernoulli.fit([0, 2]), "'data'"),
        (lambda: Bernoulli(0.5).log_prob(0.5), "'x'"),
        (lambda: Categorical([0.5, 0.5]).pmf(2), "'x'"),
        (lambda: Gaussian().sample(-1), "'n'"),
    ],
)
def test_distribution_bad_input(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# ---------------------------------------------------------------- softmax family


@settings(max_examples=25, deadline=None)
@given(
    shape=st.lists(st.integers(1, 6), min_size=1, max_size=3),
    scale=st.sampled_from([1.0, 1e2, 1e4]),
    seed=st.integers(0, 2**16),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_softmax_family_matches_scipy_and_torch(shape, scale, seed, dtype):
    x = (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)
    x_copy = x.copy()
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    lse = logsumexp(x)
    assert lse.dtype == dtype and np.all(np.isfinite(lse))
    np.testing.assert_allclose(
        lse, scipy.special.logsumexp(x.astype(np.float64), axis=-1), rtol=rtol, atol=rtol
    )
    np.testing.assert_allclose(
        lse, torch.logsumexp(torch.from_numpy(x), -1).numpy(), rtol=rtol, atol=rtol
    )
    ls = log_softmax(x)
    np.testing.assert_allclose(
        ls, F.log_softmax(torch.from_numpy(x), -1).numpy(), rtol=rtol, atol=rtol * scale
    )
    sm = softmax(x)
    np.testing.assert_allclose(
        sm,
        scipy.special.softmax(x.astype(np.float64), axis=-1),
        rtol=1e-4 if dtype == np.float32 else 1e-10,
        atol=1e-30,
    )
    np.testing.assert_allclose(sm.sum(axis=-1), 1.0, rtol=rtol * 10)
    np.testing.assert_array_equal(x, x_copy)  # input untouched


def test_softmax_axis_and_extremes():
    x = np.array([[1e4, -1e4], [-1e4, -1e4 + 1]], dtype=np.float32)
    np.testing.assert_allclose(
        softmax(x), [[1.0, 0.0], [1 / (1 + np.e), np.e / (1 + np.e)]], rtol=1e-6
    )
    np.testing.assert_allclose(
        logsumexp(x, axis=0, keepdims=True),
        scipy.special.logsumexp(x.astype(np.float64), axis=0, keepdims=True),
        rtol=1e-6,
    )
    with pytest.raises(ValueError, match="'x'"):
        logsumexp([1.0, np.nan])
    with pytest.raises(ValueError, match="'axis'"):
        softmax(x, axis=2)


# ---------------------------------------------------------------- kl_gaussian


def test_kl_gaussian_univariate_matches_torch():
    rng = np.random.default_rng(0)
    mu_p, mu_q = rng.standard_normal((2, 50))
    s_p, s_q = np.exp(rng.standard_normal((2, 50)))
    ours = kl_gaussian(mu_p, s_p, mu_q, s_q)
    ref = td.kl_divergence(
        td.Normal(torch.tensor(mu_p), torch.tensor(s_p)),
        td.Normal(torch.tensor(mu_q), torch.tensor(s_q)),
    ).numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-14)
    assert kl_gaussian(0.0, 1.0, 0.0, 1.0) == 0.0
    assert isinstance(kl_gaussian(0.0, 1.0, 1.0, 2.0), float)


def test_kl_gaussian_diagonal_matches_multivariate_normal():
    rng = np.random.default_rng(1)
    mu_p, mu_q = rng.standard_normal((2, 4, 3))
    s_p, s_q = np.exp(rng.standard_normal((2, 4, 3)))
    ours = kl_gaussian(mu_p, s_p, mu_q, s_q, diagonal=True)
    assert ours.shape == (4,)
    p = td.MultivariateNormal(torch.tensor(mu_p), torch.diag_embed(torch.tensor(s_p) ** 2))
    q = td.MultivariateNormal(torch.tensor(mu_q), torch.diag_embed(torch.tensor(s_q) ** 2))
    np.testing.assert_allclose(ours, td.kl_divergence(p, q).numpy(), rtol=1e-11)


def test_kl_gaussian_bad_input():
    with pytest.raises(ValueError, match="'sigma_q'"):
        kl_gaussian(0.0, 1.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="'sigma_p'"):
        kl_gaussian(0.0, -1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="'mu_p'"):
        kl_gaussian([0.0, 1.0, 2.0], 1.0, [0.0, 1.0], 1.0)
    with pytest.raises(ValueError, match="'mu_q'"):
        kl_gaussian(0.0, 1.0, np.nan, 1.0)


# ---------------------------------------------------------------- information


@settings(max_examples=30, deadline=None)
@given(
    shape=st.lists(st.integers(1, 7), min_size=1, max_size=3),
    seed=st.integers(0, 2**16),
    zeros=st.sampled_from([0.0, 0.3]),
    base=st.sampled_from([None, 2.0, 10.0]),
)
def test_information_matches_scipy(shape, seed, zeros, base):
    rng = np.random.default_rng(seed)
    p, q = random_probs(rng, shape, zeros), random_probs(rng, shape)  # q > 0: finite KL
    p_copy, q_copy = p.copy(), q.copy()
    H = entropy(p, base=base)
    KL = kl_divergence(p, q, base=base)
    CE = distribution_cross_entropy(p, q, base=base)
    assert np.shape(H) == tuple(shape[:-1])
    np.testing.assert_allclose(
        H, scipy.stats.entropy(p, axis=-1, base=base), rtol=1e-12, atol=1e-14
    )
    np.testing.assert_allclose(
        KL, scipy.stats.entropy(p, q, axis=-1, base=base), rtol=1e-11, atol=1e-14
    )
    np.testing.assert_allclose(CE, H + KL, rtol=1e-12, atol=1e-13)
    np.testing.assert_array_equal(p, p_copy)
    np.testing.assert_array_equal(q, q_copy)


def test_information_matches_torch():
    rng = np.random.default_rng(2)
    p, q = random_probs(rng, (64, 10), zeros=0.2), random_probs(rng, (64, 10))
    tp, tq = td.Categorical(probs=torch.tensor(p)), td.Categorical(probs=torch.tensor(q))
    np.testing.assert_allclose(entropy(p), tp.entropy().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(
        kl_divergence(p, q), td.kl_divergence(tp, tq).numpy(), rtol=1e-11, atol=1e-14
    )
    # soft-target cross-entropy in torch: -(p * log q).sum(-1)
    ref_ce = F.cross_entropy(torch.log(torch.tensor(q)), torch.tensor(p), reduction="none")
    np.testing.assert_allclose(distribution_cross_entropy(p, q), ref_ce.numpy(), rtol=1e-12)


def test_information_conventions():
    p = np.array([0.5, 0.5, 0.0])
    q = np.array([0.0, 0.5, 0.5])
    assert entropy(p) == pytest.approx(np.log(2), rel=1e-15)  # 0 log 0 = 0
    assert entropy(p, base=2) == pytest.approx(1.0, rel=1e-15)
    assert kl_divergence(p, q) == np.inf and distribution_cross_entropy(p, q) == np.inf  # q = 0 < p
    assert kl_divergence(q, q) == 0.0
    assert (
        distribution_cross_entropy([0.0, 1.0], [0.0, 1.0]) == 0.0
    )  # 0 log 0 in the cross-entropy too
    assert entropy([1.0]) == 0.0
    rng = np.random.default_rng(5)
    r = random_probs(rng, (200, 30))
    assert np.all(kl_divergence(r, r) == 0.0)  # rounding never makes KL negative


def test_information_many_blocks_and_normalize():
    rng = np.random.default_rng(3)
    n = 3 * (information._BLOCK_ELEMENTS // 100) + 17  # several blocks and a ragged last one
    a, b = rng.random((n, 100)) * 5, rng.random((n, 100)) * 0.1
    a[rng.random(a.shape) < 0.1] = 0.0
    np.testing.assert_allclose(
        entropy(a, normalize=True), scipy.stats.entropy(a, axis=-1), rtol=1e-12
    )
    np.testing.assert_allclose(
        kl_divergence(a, b, normalize=True),
        scipy.stats.entropy(a, b, axis=-1),
        rtol=1e-10,
        atol=1e-13,
    )
    pa, pb = a / a.sum(-1, keepdims=True), b / b.sum(-1, keepdims=True)
    np.testing.assert_allclose(
        distribution_cross_entropy(a, b, normalize=True), -(pa * np.log(pb)).sum(-1), rtol=1e-12
    )


def test_information_float32_stable():
    rng = np.random.default_rng(4)
    p64, q64 = random_probs(rng, (100, 50)), random_probs(rng, (100, 50))
    q64[:, :10] = 1e-30  # tiny but representable in float32: log q finite, p/q would overflow
    q64 /= q64.sum(-1, keepdims=True)
    p32, q32 = p64.astype(np.float32), q64.astype(np.float32)
    for fn in (distribution_cross_entropy, kl_divergence):
        got = fn(p32, q32)
        assert got.dtype == np.float32 and np.all(np.isfinite(got))
        # the reference on the float32-rounded inputs, computed in float64
        ref = scipy.stats.entropy(p32.astype(np.float64), q32.astype(np.float64), axis=-1)
        if fn is distribution_cross_entropy:
            ref = ref + scipy.stats.entropy(p32.astype(np.float64), axis=-1)
        np.testing.assert_allclose(got, ref, rtol=2e-5, atol=1e-5)
    np.testing.assert_allclose(entropy(p32), scipy.stats.entropy(p64, axis=-1), rtol=1e-5)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: entropy([0.5, -0.1, 0.6]), "'p'.*negative"),
        (lambda: entropy([0.5, 0.6]), "'p'.*sum to 1 within atol=1e-06"),
        (lambda: entropy(np.array([0.5, 0.6], dtype=np.float32), atol=0.01), "'p'"),
        (lambda: entropy([0.5, np.nan]), "'p'.*NaN"),
        (lambda: entropy([np.inf, 0.5]), "'p'"),
        (lambda: entropy([0.0, 0.0], normalize=True), "'p'.*positive"),
        (lambda: kl_divergence([0.5, 0.5], [0.2, 0.2, 0.6]), "'q'.*same shape"),
        (lambda: kl_divergence([0.5, 0.5], [1.2, -0.2]), "'q'"),
        (lambda: distribution_cross_entropy([0.5, 0.5], [0.3, 0.3]), "'q'.*sum to 1"),
        (lambda: entropy(0.5), "'p'"),
        (lambda: entropy([0.5, 0.5], base=1), "'base'"),
        (lambda: entropy([0.5, 0.5], base=-2), "'base'"),
        (lambda: backprop.cross_entropy(np.zeros((2, 3)), [0, 3]), "'target'"),
        (lambda: backprop.cross_entropy(np.zeros((2, 3)), [0]), "'target'"),
        (lambda: backprop.cross_entropy(np.zeros((2, 3)), np.ones((2, 3))), "'target'"),
        (lambda: backprop.cross_entropy([[0.0, np.nan], [0.0, 1.0]], [0, 1]), "'input'"),
    ],
)
def test_information_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_missing_q_is_a_named_type_error():  # was UnboundLocalError
    with pytest.raises(TypeError, match="'q' must be an array of probabilities"):
        distribution_cross_entropy([0.5, 0.5], None)
    with pytest.raises(TypeError, match="'q'"):
        kl_divergence([0.5, 0.5], None)


def test_stated_tolerance_is_accepted():
    assert np.isfinite(entropy([0.5, 0.5 + 5e-7]))  # within 1e-6 for float64
    assert np.isfinite(entropy(np.array([0.5, 0.50005], dtype=np.float32)))  # 1e-4 for float32
    with pytest.raises(ValueError, match="atol=0.0001"):
        entropy(np.array([0.5, 0.5005], dtype=np.float32))


def test_cross_entropy_from_logits_is_a_deprecated_alias_that_matches_torch():
    rng = np.random.default_rng(6)
    z = rng.standard_normal((20, 5)) * 1e3  # large logits: still exact
    y = rng.integers(0, 5, 20)
    ref = F.cross_entropy(torch.tensor(z), torch.tensor(y), reduction="none").numpy()
    np.testing.assert_allclose(backprop.cross_entropy(z, y, reduction="none"), ref, rtol=1e-12)
    p = random_probs(rng, (20, 5))
    ref_soft = F.cross_entropy(torch.tensor(z), torch.tensor(p), reduction="none").numpy()
    got = backprop.cross_entropy(z, p, reduction="none")
    np.testing.assert_allclose(got, ref_soft, rtol=1e-12)
    np.testing.assert_allclose(
        backprop.cross_entropy(z / 1e3, p, reduction="none"),
        distribution_cross_entropy(p, softmax(z / 1e3)),
        rtol=1e-12,
    )
    old = "cross_entropy_from_logits.*deprecated.*dlmath.backprop.cross_entropy"
    with pytest.warns(DeprecationWarning, match=old):
        np.testing.assert_allclose(prob.cross_entropy_from_logits(y, z), ref, rtol=1e-12)
    with pytest.warns(DeprecationWarning, match=old):
        got = prob.cross_entropy_from_logits(y.reshape(4, 5), z.reshape(4, 5, 5), base=2)
    np.testing.assert_allclose(got, ref.reshape(4, 5) / np.log(2), rtol=1e-12)
    with pytest.warns(DeprecationWarning, match="distribution_cross_entropy"):
        assert prob.cross_entropy(p, softmax(z)).shape == (20,)
