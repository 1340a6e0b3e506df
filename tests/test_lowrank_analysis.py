"""analyze_model / analyze_weights, PCA, initialization laws and tensor identities."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.integrate
import scipy.stats
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.decomposition import PCA as SkPCA
from torch import nn

from dlmath.lowrank import (
    activation_variance,
    analyze_model,
    analyze_weights,
    apply_lora,
    init_std,
    init_weight,
    linear_weights,
    marchenko_pastur_pdf,
    matrix_with_spectrum,
    pca,
    quarter_circle_cdf,
    quarter_circle_pdf,
    tensor_identities,
)


def small_model() -> nn.Sequential:
    gen = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 4))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
    return model


# ----------------------------------------------------------------------------- analyze


def test_analyze_weights_against_closed_forms():
    S = np.array([3.0, 2.0, 1.0, 0.5, 0.25])
    W = matrix_with_spectrum(S, 12, 8, seed=0)
    spec = analyze_weights({"w": W}, ranks=(1, 2, 100), target_energy=0.95)
    layer = spec["w"]
    total = np.sum(S**2)
    assert layer.shape == (12, 8)
    np.testing.assert_allclose(layer.S[:5], S, rtol=1e-12)
    assert layer.stable_rank == pytest.approx(total / 9.0, rel=1e-12)
    p = S / S.sum()
    assert layer.effective_rank == pytest.approx(np.exp(-(p * np.log(p)).sum()), rel=1e-6)
    assert layer.energy_at[1] == pytest.approx(9.0 / total)
    assert layer.energy_at[2] == pytest.approx(13.0 / total)
    assert layer.energy_at[100] == pytest.approx(1.0)
    assert layer.rank_for_target == 3  # (9 + 4 + 1) / 14.3125 = 0.978 >= 0.95 > 13 / 14.3125
    assert layer.lora_params == 3 * (12 + 8) and layer.full_params == 96


def test_analyze_model_reads_every_linear_and_leaves_it_alone():
    model = small_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    spec = analyze_model(model, ranks=(1, 4))
    assert [layer.name for layer in spec.layers] == ["0", "2"]
    W0 = model[0].weight.detach().numpy()
    np.testing.assert_allclose(spec["0"].S, np.linalg.svd(W0, compute_uv=False), rtol=1e-5)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    text = repr(spec)
    assert "stable_rank" in text and "rank@0.9" in text and "20x10" in text
    assert len(spec.rows()) == 2


def test_analyze_model_uses_merged_lora_weights():
    adapted, _ = apply_lora(small_model(), 2, alpha=2.0)
    with torch.no_grad():
        adapted[0].B.fill_(0.5)
    weights = linear_weights(adapted)
    assert list(weights) == ["0", "2"]  # the frozen bases are not listed separately
    expected = (adapted[0].base.weight + adapted[0].delta_weight()).detach().double().numpy()
    np.testing.assert_allclose(weights["0"], expected)


def test_analyze_bad_input():
    with pytest.raises(ValueError, match="'weights'"):
        analyze_weights({})
    with pytest.raises(ValueError, match="'ranks'"):
        analyze_weights({"w": np.eye(3)}, ranks=[0])
    with pytest.raises(ValueError, match="'target_energy'"):
        analyze_weights({"w": np.eye(3)}, target_energy=0.0)
    with pytest.raises(ValueError, match="weights\\['w'\\]"):
        analyze_weights({"w": np.ones(3)})
    with pytest.raises(ValueError, match="weights\\['w'\\].*finite"):
        analyze_weights({"w": np.array([[1.0, np.nan]])})
    with pytest.raises(ValueError, match="'model'"):
        analyze_model(nn.ReLU())


# ----------------------------------------------------------------------------- PCA


@pytest.mark.parametrize("method", ["eig", "svd"])
def test_pca_equals_sklearn_up_to_sign(method):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 6)) @ rng.standard_normal((6, 6)) + 3.0
    ours = pca(X, 4, method=method)
    ref = SkPCA(n_components=4, svd_solver="full").fit(X)
    signs = np.sign(np.sum(ours.components_ * ref.components_, axis=1))
    np.testing.assert_allclose(ours.components_ * signs[:, None], ref.components_, atol=1e-10)
    np.testing.assert_allclose(ours.explained_variance_, ref.explained_variance_, rtol=1e-10)
    np.testing.assert_allclose(
        ours.explained_variance_ratio_, ref.explained_variance_ratio_, rtol=1e-10
    )
    np.testing.assert_allclose(ours.transform(X) * signs, ref.transform(X), atol=1e-9)
    assert "PCA(n_components=4" in repr(ours)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(3, 30), d=st.integers(2, 8), seed=st.integers(0, 1000))
def test_pca_eig_and_svd_routes_agree(n, d, seed):
    X = np.random.default_rng(seed).standard_normal((n, d))
    k = min(n - 1, d)  # centred data has rank <= n - 1
    a, b = pca(X, k, method="eig"), pca(X, k, method="svd")
    np.testing.assert_allclose(a.explained_variance_, b.explained_variance_, atol=1e-10)
    # projectors onto the leading directions agree even where eigenvalues are close
    Pa, Pb = a.components_.T @ a.components_, b.components_.T @ b.components_
    np.testing.assert_allclose(Pa, Pb, atol=1e-6)


def test_pca_bad_input():
    with pytest.raises(ValueError, match="'n_components'"):
        pca(np.ones((5, 3)), 4)
    with pytest.raises(ValueError, match="'X'"):
        pca(np.ones(5), 1)
    with pytest.raises(ValueError, match="'method'"):
        pca(np.ones((5, 3)), 1, method="qr")


# ----------------------------------------------------------------------------- initialization


def test_init_std_matches_torch_formulas():
    d_out, d_in = 300, 200
    xavier = torch.empty(d_out, d_in)
    kaiming = torch.empty(d_out, d_in)
    gen = torch.Generator().manual_seed(0)
    torch.nn.init.xavier_normal_(xavier, generator=gen)
    torch.nn.init.kaiming_normal_(kaiming, nonlinearity="relu", generator=gen)
    # torch's std from its own formula vs ours; the sample std has relative error ~1/sqrt(6e4)
    assert init_std(d_out, d_in, "xavier") == pytest.approx(float(xavier.std()), rel=0.02)
    assert init_std(d_out, d_in, "he") == pytest.approx(float(kaiming.std()), rel=0.02)
    assert init_std(d_out, d_in, "xavier") == pytest.approx(np.sqrt(2 / 500))
    assert init_std(d_out, d_in, "he") == pytest.approx(np.sqrt(2 / 200))


@pytest.mark.parametrize("distribution", ["normal", "uniform"])
def test_init_weight_has_the_scheme_variance(distribution):
    W = init_weight(400, 300, "xavier", distribution, seed=1)
    assert W.std() == pytest.approx(init_std(400, 300, "xavier"), rel=0.01)
    if distribution == "uniform":
        assert np.abs(W).max() <= np.sqrt(6 / 700)


def test_quarter_circle_is_a_density_with_the_right_cdf():
    total, _ = scipy.integrate.quad(lambda x: float(quarter_circle_pdf(x)), 0, 2)
    assert total == pytest.approx(1.0, abs=1e-10)
    for x in (0.3, 1.0, 1.7):
        partial, _ = scipy.integrate.quad(lambda t: float(quarter_circle_pdf(t)), 0, x)
        assert float(quarter_circle_cdf(x)) == pytest.approx(partial, abs=1e-10)
    assert float(quarter_circle_cdf(-1.0)) == 0.0 and float(quarter_circle_cdf(3.0)) == 1.0


def test_marchenko_pastur_density():
    m, n, sigma = 400, 100, 0.5
    total, _ = scipy.integrate.quad(
        lambda s: float(marchenko_pastur_pdf(s, m, n, sigma)), 0, 3 * sigma * np.sqrt(m), limit=200
    )
    assert total == pytest.approx(1.0, abs=1e-6)
    # square case: the quarter circle in the scaled variable x = s / (sigma sqrt(n))
    s = np.array([0.2, 1.0, 1.9]) * sigma * np.sqrt(m)
    np.testing.assert_allclose(
        marchenko_pastur_pdf(s, m, m, sigma) * sigma * np.sqrt(m),
        quarter_circle_pdf(s / (sigma * np.sqrt(m))),
        rtol=1e-12,
    )
    # the singular values of one sampled matrix follow it (Kolmogorov-Smirnov)
    W = np.random.default_rng(0).normal(0, sigma, (m, n))
    S = np.linalg.svd(W, compute_uv=False)

    def cdf(x):
        x = np.atleast_1d(x)
        return np.array(
            [scipy.integrate.quad(lambda t: float(marchenko_pastur_pdf(t, m, n, sigma)), 0, v)[0]
             for v in x]
        )  # fmt: skip

    assert scipy.stats.kstest(S, cdf).statistic < 0.05


def test_activation_variance_follows_the_theory():
    kw = {"n_samples": 64, "n_trials": 3, "seed": 0}
    depth = 20
    gains = {}
    for scheme, act, g in [("he", "relu", 1.0), ("xavier", "relu", 1.0), ("xavier", "linear", 1.0),
                           ("he", "relu", 1.2)]:  # fmt: skip
        v = activation_variance(depth, 128, scheme, act, gain=g, **kw)
        assert v.shape == (depth + 1,)
        gains[(scheme, act, g)] = (v[-1] / v[0]) ** (1 / depth)
    # per-layer gain = gain^2 * n * std^2 * E[f(z)^2] / E[z^2]
    assert gains[("he", "relu", 1.0)] == pytest.approx(1.0, abs=0.05)
    assert gains[("xavier", "relu", 1.0)] == pytest.approx(0.5, abs=0.03)
    assert gains[("xavier", "linear", 1.0)] == pytest.approx(1.0, abs=0.05)
    assert gains[("he", "relu", 1.2)] == pytest.approx(1.44, abs=0.07)
    with pytest.raises(ValueError, match="'activation'"):
        activation_variance(3, 8, "he", "softplus")
    with pytest.raises(ValueError, match="'scheme'"):
        activation_variance(3, 8, "orthogonal")


# ----------------------------------------------------------------------------- tensor identities


def test_tensor_identities_hold_and_agree_with_torch():
    identities = tensor_identities(seed=3)
    assert len(identities) >= 10
    assert all(i.max_abs_diff < 1e-12 for i in identities)
    # spot-check the einsum strings themselves with torch as the independent evaluator
    rng = np.random.default_rng(0)
    X, W, dZ = rng.standard_normal((5, 4)), rng.standard_normal((3, 4)), rng.standard_normal((5, 3))
    tX, tW, tdZ = map(torch.tensor, (X, W, dZ))
    np.testing.assert_allclose(np.einsum("no,ni->oi", dZ, X), torch.einsum("no,ni->oi", tdZ, tX))
    np.testing.assert_allclose(np.einsum("ni,oi->no", X, W), torch.nn.functional.linear(tX, tW))
    Xh = rng.standard_normal((2, 6, 12))
    split = Xh.reshape(2, 6, 3, 4).transpose(0, 2, 1, 3)
    ref = torch.tensor(Xh).view(2, 6, 3, 4).permute(0, 2, 1, 3)
    np.testing.assert_array_equal(split, ref.numpy())
    assert "==" in repr(identities[0])
