"""hessian_eigs / hessian_trace / lanczos against the dense Hessian (torch.func.hessian, LAPACK)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.func import functional_call, hessian

from dlmath.landscape import HessianOperator, hessian_eigs, hessian_trace, lanczos
from dlmath.nets import torch_mlp

# torch.func.hessian's first call imports a torch module that still uses torch.jit.script
pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"
)


def dense_hessian(model, X, y, loss_fn=F.cross_entropy) -> np.ndarray:
    """Reference: torch.func.hessian (forward-over-reverse) of the loss in the flat weights."""
    named = list(model.named_parameters())
    flat = torch.cat([p.detach().reshape(-1) for _, p in named])
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)

    def loss(v):
        parts = torch.split(v, [p.numel() for _, p in named])
        weights = {n: w.reshape(p.shape) for (n, p), w in zip(named, parts, strict=True)}
        return loss_fn(functional_call(model, weights, (Xt,)), yt)

    return hessian(loss)(flat).numpy()


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(40, 3)), rng.integers(0, 3, size=40)
    model = torch_mlp([3, 7, 3], "tanh", seed=1, dtype=torch.float64)
    H = dense_hessian(model, X, y)
    return model, X, y, H, np.linalg.eigvalsh(H)


def test_hessian_vector_products_match_dense(small):
    model, X, y, H, _ = small
    op = HessianOperator(model, F.cross_entropy, X, y)
    v = torch.as_tensor(np.random.default_rng(0).normal(size=op.n))
    np.testing.assert_allclose(op.matvec(v).numpy(), H @ v.numpy(), rtol=1e-10, atol=1e-12)
    op_b = HessianOperator(model, F.cross_entropy, X, y, batch_size=7)  # mini-batched
    np.testing.assert_allclose(op_b.matvec(v).numpy(), H @ v.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("which", ["LM", "LA", "SA"])
def test_hessian_eigs_match_dense(small, which):
    model, X, y, _, ev = small
    k = 3
    got = hessian_eigs(model, F.cross_entropy, X, y, k=k, which=which, tol=1e-10)
    expected = {
        "LM": ev[np.argsort(-np.abs(ev))][:k],
        "LA": ev[::-1][:k],
        "SA": ev[:k],
    }[which]
    np.testing.assert_allclose(got.eigenvalues, expected, rtol=1e-8, atol=1e-10)
    assert got.converged and got.n_products < len(ev)
    for lam, u in zip(got.eigenvalues, got.eigenvectors, strict=True):  # H u = lambda u
        flat = torch.cat([t.reshape(-1) for t in u]).numpy()
        np.testing.assert_allclose(small[3] @ flat, lam * flat, atol=1e-7)


@settings(max_examples=6)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 4), hidden=st.integers(2, 6))
def test_hessian_eigs_property_over_models(seed, k, hidden):
    rng = np.random.default_rng(seed)
    X, y = rng.normal(size=(15, 2)), rng.normal(size=(15, 1))
    model = torch_mlp([2, hidden, 1], "tanh", seed=seed, dtype=torch.float64)
    ev = np.linalg.eigvalsh(dense_hessian(model, X, y, F.mse_loss))
    got = hessian_eigs(model, F.mse_loss, X, y, k=k, tol=1e-10, seed=seed)
    expected = ev[np.argsort(-np.abs(ev), kind="stable")][:k]
    np.testing.assert_allclose(np.abs(got.eigenvalues), np.abs(expected), rtol=1e-7, atol=1e-9)


def test_lanczos_on_a_matrix_with_repeated_eigenvalues():
    # only 3 distinct eigenvalues: the Krylov space goes invariant after 3 steps
    Q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(30, 30)))
    lam = np.repeat([5.0, -2.0, 0.5], 10)
    A = torch.as_tensor(Q @ np.diag(lam) @ Q.T)
    vals, vecs, res, ok = lanczos(lambda v: A @ v, 30, k=4, which="LA", tol=1e-10)
    np.testing.assert_allclose(vals, [5.0, 5.0, 0.5, 0.5], atol=1e-9)
    assert ok and np.all(res < 1e-8)
    np.testing.assert_allclose(vecs.T @ vecs, np.eye(4), atol=1e-10)


def test_hessian_trace_matches_dense_trace(small):
    model, X, y, H, _ = small
    est = hessian_trace(model, F.cross_entropy, X, y, n_samples=400, seed=0)
    assert abs(est.estimate - np.trace(H)) <= 4 * est.stderr
    # Hutchinson's variance for Rademacher z is 2 * sum_{i != j} H_ij^2
    var = 2 * (np.sum(H**2) - np.sum(np.diag(H) ** 2))
    assert 0.5 < est.stderr / np.sqrt(var / 400) < 2.0


def test_hessian_does_not_touch_model(small):
    model, X, y, _, _ = small
    before = [p.detach().clone() for p in model.parameters()]
    with torch.no_grad():  # also works when the caller disabled autograd
        hessian_eigs(model, F.cross_entropy, X, y, k=1)
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_hessian_bad_input(small):
    model, X, y, _, _ = small
    with pytest.raises(ValueError, match="'which'"):
        hessian_eigs(model, F.cross_entropy, X, y, which="BE")
    with pytest.raises(ValueError, match="'k'"):
        hessian_eigs(model, F.cross_entropy, X, y, k=0)
    with pytest.raises(ValueError, match="'X' and 'y'"):
        hessian_eigs(model, F.cross_entropy, X[:3], y)
    with pytest.raises(ValueError, match="'model'"):
        hessian_trace(torch.nn.Identity(), F.mse_loss, X, y)
    with pytest.raises(ValueError, match="'n_samples'"):
        hessian_trace(model, F.cross_entropy, X, y, n_samples=1)


def test_hessian_eigs_reads_as_the_eigenvalue_array():
    """DESIGN.md's `top = hessian_eigs(...)`: the result works as an array of eigenvalues."""
    model = torch_mlp([3, 4, 2], "tanh", seed=0, dtype=torch.float64)
    X = torch.randn(16, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y = torch.arange(16) % 2
    top = hessian_eigs(model, F.cross_entropy, X, y, k=2)
    # the reference: the dense Hessian's two largest-magnitude eigenvalues
    eig = np.linalg.eigvalsh(dense_hessian(model, X, y, F.cross_entropy))
    expected = eig[np.argsort(-np.abs(eig))[:2]]
    np.testing.assert_allclose(np.sort(np.asarray(top)), np.sort(expected), rtol=1e-8)
    assert len(top) == 2 and top[0] == np.asarray(top)[0] and list(top) == list(np.asarray(top))


def _nan_loss(out, t):
    return F.cross_entropy(out, t) * float("nan")


def _nan_curvature_loss(out, t):
    """A finite loss (the cross-entropy) whose gradient is NaN: d sqrt|u| / du at u = 0."""
    return F.cross_entropy(out, t) + 0.0 * (out - out.detach()).abs().sqrt().sum()


@pytest.mark.parametrize("fn", [hessian_trace, hessian_eigs])
def test_non_finite_loss_or_model_is_refused_by_name(small, fn):
    model, X, y, _, _ = small
    with torch.no_grad():
        assert torch.isfinite(_nan_curvature_loss(model(torch.as_tensor(X)), torch.as_tensor(y)))
    for loss in (_nan_loss, _nan_curvature_loss):  # was TraceEstimate(nan) / "'matvec' must"
        with pytest.raises(ValueError, match="'loss_fn' must be") as err:
            fn(model, loss, X, y)
        assert "matvec" not in str(err.value)
    broken = torch_mlp([3, 7, 3], "tanh", seed=1, dtype=torch.float64)
    with torch.no_grad():
        broken[0].weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"'model' must be .*finite.*0\.weight"):
        fn(broken, F.cross_entropy, X, y)


def test_hessian_eigs_checks_each_option_once(small, monkeypatch):
    """One validation of k / which / tol / max_iter / seed, not one per layer of calls."""
    import dlmath.landscape.hessian as hmod

    seen: list[str] = []
    for check in ("check_int", "check_choice", "check_real", "check_seed"):
        real = getattr(hmod, check)

        def counted(value, name="seed", *a, _real=real, **kw):
            seen.append(name)
            return _real(value, name, *a, **kw)

        monkeypatch.setattr(hmod, check, counted)
    model, X, y, _, ev = small
    got = hessian_eigs(model, F.cross_entropy, X, y, k=2, max_iter=40, seed=3)
    np.testing.assert_allclose(got.eigenvalues, ev[np.argsort(-np.abs(ev))][:2], rtol=1e-6)
    assert sorted(seen) == ["k", "max_iter", "seed", "tol", "which"]
