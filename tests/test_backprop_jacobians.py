"""Analytic Jacobians and the loss Hessian against torch.func.jacrev / torch.func.hessian."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.func import functional_call, grad, hessian, jacrev, jvp

from dlmath.backprop import (
    ACTIVATIONS,
    LOSSES,
    MLP,
    activation_jacobian,
    hessian_vector_product,
    jacobian_checks,
    linear_jacobian_b,
    linear_jacobian_W,
    linear_jacobian_x,
    loss_hessian,
    softmax_jacobian,
)
from dlmath.nets import torch_activation

# torch.func.hessian / jvp import torch._dynamo on first use, which warns (torch 2.13)
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*torch.jit.script.* is deprecated:DeprecationWarning"
)


@settings(max_examples=15, deadline=None)
@given(d_in=st.integers(1, 8), d_out=st.integers(1, 8), seed=st.integers(0, 1000))
def test_linear_jacobians_match_jacrev(d_in, d_out, seed):
    rng = np.random.default_rng(seed)
    W, b, x = (
        rng.standard_normal((d_out, d_in)),
        rng.standard_normal(d_out),
        rng.standard_normal(d_in),
    )
    Wt, bt, xt = (torch.from_numpy(a) for a in (W, b, x))
    np.testing.assert_allclose(
        linear_jacobian_x(W), jacrev(lambda v: Wt @ v + bt)(xt).numpy(), atol=1e-15
    )
    np.testing.assert_allclose(
        linear_jacobian_W(x, d_out), jacrev(lambda M: M @ xt + bt)(Wt).numpy(), atol=1e-15
    )
    np.testing.assert_allclose(linear_jacobian_b(d_out), jacrev(lambda c: Wt @ xt + c)(bt).numpy())


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_jacobians_match_jacrev(name):
    z = np.random.default_rng(1).standard_normal(7) * 3
    ref = jacrev(torch_activation(name))(torch.from_numpy(z)).numpy()
    np.testing.assert_allclose(activation_jacobian(z, name), ref, rtol=0, atol=1e-15)


@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_softmax_jacobian_matches_jacrev(scale):
    z = scale * np.random.default_rng(2).standard_normal(6)
    ref = jacrev(lambda v: torch.softmax(v, 0))(torch.from_numpy(z)).numpy()
    J = softmax_jacobian(z)
    np.testing.assert_allclose(J, ref, rtol=0, atol=1e-16)
    np.testing.assert_allclose(J.sum(axis=0), 0, atol=1e-16)  # softmax sums to 1


def _torch_loss_of_theta(mlp, X, y):
    model = mlp.to_torch()
    names = [k for k, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    fn = (
        torch.nn.functional.cross_entropy
        if mlp.loss == "cross_entropy"
        else torch.nn.functional.mse_loss
    )

    def loss_of(theta):
        params, start = {}, 0
        for k, shape in zip(names, shapes, strict=True):
            params[k] = theta[start : start + shape.numel()].reshape(shape)
            start += shape.numel()
        return fn(functional_call(model, params, (Xt,)), yt)

    return loss_of


@pytest.mark.parametrize("act", list(ACTIVATIONS))
@pytest.mark.parametrize("loss", list(LOSSES))
def test_loss_hessian_matches_torch_func_hessian(act, loss):
    mlp = MLP([3, 4, 3, 2], activation=act, loss=loss, seed=6)
    rng = np.random.default_rng(6)
    X = rng.standard_normal((5, 3))
    y = rng.integers(0, 2, 5) if loss == "cross_entropy" else rng.standard_normal((5, 2))
    H_ref = hessian(_torch_loss_of_theta(mlp, X, y))(torch.from_numpy(mlp.flatten())).numpy()
    H = loss_hessian(mlp, X, y)
    assert H.shape == (mlp.n_params, mlp.n_params)
    np.testing.assert_allclose(H, H_ref, rtol=0, atol=1e-13)


def test_hessian_vector_product_matches_forward_over_reverse():
    mlp = MLP([4, 6, 3], activation="gelu", seed=7)
    rng = np.random.default_rng(7)
    X, y = rng.standard_normal((8, 4)), rng.integers(0, 3, 8)
    v = rng.standard_normal(mlp.n_params)
    loss_of = _torch_loss_of_theta(mlp, X, y)
    theta = torch.from_numpy(mlp.flatten())
    _, hv_ref = jvp(grad(loss_of), (theta,), (torch.from_numpy(v),))
    hv = hessian_vector_product(mlp, X, y, v)
    np.testing.assert_allclose(hv, hv_ref.numpy(), rtol=0, atol=1e-14)
    with pytest.raises(ValueError, match="'V'"):
        hessian_vector_product(mlp, X, y, np.ones(3))


def test_jacobian_checks_table_reports_small_differences():
    rows = jacobian_checks(seed=1, activation="gelu")
    assert len(rows) == 9
    assert {r["reference"] for r in rows} == {"torch.func.jacrev", "torch.func.hessian"}
    assert max(r["max_abs_diff"] for r in rows) <= 1e-12


def test_bad_input():
    with pytest.raises(ValueError, match="'z'"):
        softmax_jacobian(np.ones((2, 2)))
    with pytest.raises(ValueError, match="activation"):
        activation_jacobian(np.ones(2), "swish")
    with pytest.raises(ValueError, match="'x'"):
        linear_jacobian_W(np.array([np.nan]), 2)
