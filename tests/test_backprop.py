"""dlmath.backprop layers, losses and MLP against torch (autograd, F.*, nn.Linear)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from dlmath.backprop import (
    ACTIVATIONS,
    LOSSES,
    MLP,
    compare_with_autograd,
    cross_entropy,
    layers,
    linear_backward,
    linear_forward,
    log_softmax,
    mse,
    train,
)
from dlmath.backprop.losses import cross_entropy_grad, mse_grad
from dlmath.nets import torch_activation

ACTS = list(ACTIVATIONS)


def _data(sizes, n, loss, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, sizes[0])).astype(dtype)
    if loss == "cross_entropy":
        y = rng.integers(0, sizes[-1], n)
    else:
        y = rng.standard_normal((n, sizes[-1])).astype(dtype)
    return X, y


# --- layers ---------------------------------------------------------------------------------
def test_linear_forward_backward_match_torch():
    rng = np.random.default_rng(0)
    X, W, b = rng.standard_normal((7, 5)), rng.standard_normal((3, 5)), rng.standard_normal(3)
    dZ = rng.standard_normal((7, 3))
    Xt, Wt, bt = (torch.tensor(a, requires_grad=True) for a in (X, W, b))
    Zt = F.linear(Xt, Wt, bt)
    Zt.backward(torch.from_numpy(dZ))
    np.testing.assert_allclose(linear_forward(X, W, b), Zt.detach().numpy(), rtol=0, atol=1e-14)
    dX, dW, db = linear_backward(dZ, X, W)
    np.testing.assert_allclose(dX, Xt.grad.numpy(), rtol=0, atol=1e-14)
    np.testing.assert_allclose(dW, Wt.grad.numpy(), rtol=0, atol=1e-14)
    np.testing.assert_allclose(db, bt.grad.numpy(), rtol=0, atol=1e-14)


def test_linear_forward_stacks_match_loop():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((4, 6, 5))
    W, b = rng.standard_normal((3, 5)), rng.standard_normal(3)
    Ws, bs = rng.standard_normal((4, 3, 5)), rng.standard_normal((4, 3))
    expected = np.stack(
        [F.linear(torch.from_numpy(x), torch.from_numpy(W), torch.from_numpy(b)).numpy() for x in X]
    )
    stacked = layers._linear_forward  # the unchecked kernel runs stacks; the public one 2-D
    np.testing.assert_allclose(stacked(X, W, b), expected, atol=1e-13)
    expected_s = np.stack(
        [x @ w.T + c for x, w, c in zip(X[0][None].repeat(4, 0), Ws, bs, strict=True)]
    )
    np.testing.assert_allclose(stacked(X[0], Ws, bs), expected_s, atol=1e-13)


@pytest.mark.parametrize("name", ACTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_activation_forward_backward_match_torch(name, dtype):
    act = ACTIVATIONS[name]
    rng = np.random.default_rng(2)
    Z = (4 * rng.standard_normal((6, 9))).astype(dtype)
    Z[0, :3] = [0.0, 60.0, -60.0]  # the relu kink and saturated tails
    dA = rng.standard_normal((6, 9)).astype(dtype)
    Zt = torch.tensor(Z, requires_grad=True)
    At = torch_activation(name)(Zt)
    At.backward(torch.from_numpy(dA))
    A = act.forward(Z)
    dZ = act.backward(dA.copy(), Z, A)
    assert A.dtype == dtype and dZ.dtype == dtype
    tol = 1e-15 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(A, At.detach().numpy(), rtol=0, atol=tol)
    np.testing.assert_allclose(dZ, Zt.grad.numpy(), rtol=0, atol=tol * 4)


@pytest.mark.parametrize("name", ACTS)
def test_activation_derivatives_match_torch_func(name):
    act = ACTIVATIONS[name]
    z = torch.linspace(-5, 5, 41, dtype=torch.float64) + 0.013  # avoid relu's exact 0
    f = torch_activation(name)
    d1 = torch.func.vmap(torch.func.grad(lambda s: f(s)))(z)
    d2 = torch.func.vmap(torch.func.grad(torch.func.grad(lambda s: f(s))))(z)
    np.testing.assert_allclose(act.d1(z.numpy()), d1.numpy(), rtol=0, atol=1e-14)
    np.testing.assert_allclose(act.d2(z.numpy()), d2.numpy(), rtol=0, atol=1e-14)


def test_gelu_is_the_exact_erf_form():
    z = np.linspace(-4, 4, 33)
    from math import erf

    expected = np.array([0.5 * v * (1 + erf(v / np.sqrt(2))) for v in z])
    np.testing.assert_allclose(ACTIVATIONS["gelu"].forward(z), expected, rtol=1e-15, atol=1e-16)
    tanh_approx = F.gelu(torch.from_numpy(z), approximate="tanh").numpy()
    assert np.abs(ACTIVATIONS["gelu"].forward(z) - tanh_approx).max() > 1e-5


# --- losses ---------------------------------------------------------------------------------
def test_cross_entropy_and_grad_match_torch():
    rng = np.random.default_rng(3)
    Z, y = 3 * rng.standard_normal((11, 5)), rng.integers(0, 5, 11)
    Zt = torch.tensor(Z, requires_grad=True)
    lt = F.cross_entropy(Zt, torch.from_numpy(y))
    lt.backward()
    loss, dZ = cross_entropy_grad(Z, y)
    assert abs(loss - lt.item()) <= 1e-14
    assert abs(float(cross_entropy(Z, y)) - lt.item()) <= 1e-14
    np.testing.assert_allclose(dZ, Zt.grad.numpy(), rtol=0, atol=1e-16)
    np.testing.assert_allclose(
        log_softmax(Z), F.log_softmax(torch.from_numpy(Z), 1).numpy(), atol=1e-14
    )


@pytest.mark.parametrize("scale", [1e4, -1e4])
def test_cross_entropy_is_finite_at_extreme_logits(scale):
    Z = np.array([[scale, -scale, 0.0, 3.0], [1.0, scale, -scale, scale / 2]])
    y = np.array([1, 2])
    Zt = torch.tensor(Z, requires_grad=True)
    lt = F.cross_entropy(Zt, torch.from_numpy(y))
    lt.backward()
    loss, dZ = cross_entropy_grad(Z, y)
    assert np.isfinite(loss) and np.isfinite(dZ).all()
    assert abs(loss - lt.item()) <= 1e-12 * abs(lt.item())
    np.testing.assert_allclose(dZ, Zt.grad.numpy(), rtol=0, atol=1e-15)
    Z32 = Z.astype(np.float32)
    loss32, dZ32 = cross_entropy_grad(Z32, y)
    assert np.isfinite(loss32) and np.isfinite(dZ32).all() and dZ32.dtype == np.float32


def test_mse_and_grad_match_torch():
    rng = np.random.default_rng(4)
    Yh, Y = rng.standard_normal((6, 3)), rng.standard_normal((6, 3))
    Yt = torch.tensor(Yh, requires_grad=True)
    lt = F.mse_loss(Yt, torch.from_numpy(Y))
    lt.backward()
    loss, dY = mse_grad(Yh, Y)
    assert abs(loss - lt.item()) <= 1e-15 and abs(float(mse(Yh, Y)) - lt.item()) <= 1e-15
    np.testing.assert_allclose(dY, Yt.grad.numpy(), rtol=0, atol=1e-16)


@pytest.mark.parametrize("name", list(LOSSES))
def test_loss_values_on_stacks_equal_one_by_one(name):
    rng = np.random.default_rng(5)
    out = 50 * rng.standard_normal((7, 4, 12))  # 12 classes: the column-pass max path
    out_small = rng.standard_normal((3, 4, 40))  # 40 classes: numpy's reduction path
    for O in (out, out_small):
        y = (
            rng.integers(0, O.shape[-1], 4)
            if name == "cross_entropy"
            else rng.standard_normal(O.shape[1:])
        )
        fn = F.cross_entropy if name == "cross_entropy" else F.mse_loss
        ref = [fn(torch.from_numpy(o), torch.from_numpy(y)).item() for o in O]
        np.testing.assert_allclose(LOSSES[name].value(O, y), ref, rtol=1e-14, atol=1e-13)


# --- MLP ------------------------------------------------------------------------------------
def test_params_layout_matches_design():
    mlp = MLP([4, 16, 16, 3], activation="tanh", loss="cross_entropy", seed=0)
    shapes = {k: v.shape for k, v in mlp.params.items()}
    assert shapes == {
        "W1": (16, 4),
        "b1": (16,),
        "W2": (16, 16),
        "b2": (16,),
        "W3": (3, 16),
        "b3": (3,),
    }
    assert mlp.n_params == 4 * 16 + 16 + 16 * 16 + 16 + 16 * 3 + 3
    assert "4-16-16-3" in repr(mlp) and "tanh" in repr(mlp)
    # nn.Linear's initialization distribution: |W1| <= 1/sqrt(4)
    assert np.abs(mlp.params["W1"]).max() <= 0.5 and np.abs(mlp.params["W2"]).max() <= 0.25
    np.testing.assert_array_equal(
        MLP([4, 16, 3], seed=7).params["W1"], MLP([4, 16, 3], seed=7).params["W1"]
    )


def test_forward_and_to_torch_agree_and_are_independent():
    mlp = MLP([5, 8, 4], activation="gelu", seed=1)
    X, _ = _data([5, 8, 4], 9, "cross_entropy")
    model = mlp.to_torch()
    np.testing.assert_allclose(
        mlp.forward(X), model(torch.from_numpy(X)).detach().numpy(), atol=1e-14
    )
    assert next(model.parameters()).dtype == torch.float64
    before = mlp.params["W1"].copy()
    with torch.no_grad():
        model[0].weight.add_(1.0)
    np.testing.assert_array_equal(mlp.params["W1"], before)
    assert mlp.copy(np.float32).to_torch()[0].weight.dtype == torch.float32


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("loss", list(LOSSES))
def test_lab_network_matches_autograd(act, loss):
    sizes = [64, 64, 64, 10]
    mlp = MLP(sizes, activation=act, loss=loss, seed=3)
    X, y = _data(sizes, 32, loss, seed=3)
    assert compare_with_autograd(mlp, X, y).max_abs <= 1e-12
    assert compare_with_autograd(mlp.copy(np.float32), X, y).max_abs <= 1e-6


@settings(max_examples=40, deadline=None)
@given(
    widths=st.lists(st.integers(1, 64), min_size=2, max_size=6),
    n=st.integers(1, 64),
    act=st.sampled_from(ACTS),
    loss=st.sampled_from(list(LOSSES)),
    seed=st.integers(0, 2**16),
)
def test_property_matches_autograd_any_architecture(widths, n, act, loss, seed):
    """Depths 1-5, widths 1-64, batch 1-64, every activation and loss; float64 and float32."""
    mlp = MLP(widths, activation=act, loss=loss, seed=seed)
    X, y = _data(widths, n, loss, seed=seed)
    c64 = compare_with_autograd(mlp, X, y)
    assert c64.max_abs <= 1e-12 and c64.loss_diff <= 1e-12
    c32 = compare_with_autograd(mlp.copy(np.float32), X, y)
    assert c32.max_abs <= 1e-6
    assert [r["param"] for r in c64.rows] == list(mlp.params)


def test_float32_stays_float32():
    mlp = MLP([6, 10, 3], activation="gelu", dtype=np.float32)
    X, y = _data([6, 10, 3], 5, "cross_entropy", dtype=np.float32)
    out = mlp.forward(X)
    loss, grads = mlp.loss_and_grads(X, y)
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads.values())
    assert all(p.dtype == np.float32 for p in mlp.params.values())


def test_comparison_repr_is_a_table():
    mlp = MLP([3, 4, 2], seed=0)
    X, y = _data([3, 4, 2], 5, "cross_entropy")
    text = repr(compare_with_autograd(mlp, X, y))
    assert "W1" in text and "b2" in text and "max |diff|" in text


def test_train_reaches_90_percent_on_digits():
    from dlmath.data import digits

    d = digits(seed=0)
    mlp = MLP([64, 64, 64, 10], activation="tanh", seed=0)
    X_before = d.X_train.copy()
    history = train(mlp, d.X_train, d.y_train, epochs=5, lr=0.1, X_test=d.X_test, y_test=d.y_test)
    assert history.epochs == 5 and history.test_acc[-1] >= 0.90
    assert history.train_loss[-1] < history.train_loss[0]
    np.testing.assert_array_equal(d.X_train, X_before)
    # the held-out accuracy the History reports is torch's accuracy of the same network
    pred = mlp.to_torch()(torch.from_numpy(d.X_test)).argmax(1).numpy()
    assert abs(history.test_acc[-1] - float(np.mean(pred == d.y_test))) < 1e-12


# --- bad input ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "exc", "name"),
    [
        ({"sizes": [4]}, ValueError, "sizes"),
        ({"sizes": []}, ValueError, "sizes"),
        ({"sizes": [4, 0, 3]}, ValueError, r"sizes\[1\]"),
        ({"sizes": [4, -2]}, ValueError, r"sizes\[1\]"),
        ({"sizes": [4, 2.5]}, TypeError, r"sizes\[1\]"),
        ({"sizes": "43"}, TypeError, "sizes"),
        ({"sizes": [4, 3], "activation": "softplus"}, ValueError, "activation"),
        ({"sizes": [4, 3], "loss": "hinge"}, ValueError, "loss"),
        ({"sizes": [4, 3], "dtype": np.int32}, ValueError, "dtype"),
        ({"sizes": [4, 3], "seed": 1.5}, TypeError, "seed"),
    ],
)
def test_bad_constructor_arguments(kwargs, exc, name):
    with pytest.raises(exc, match=name):
        MLP(**kwargs)


@pytest.mark.parametrize(
    ("X", "y", "exc", "name"),
    [
        (np.zeros((5, 3)), np.zeros(5, int), ValueError, "'X'"),  # wrong feature count
        (np.zeros(4), np.zeros(1, int), ValueError, "'X'"),  # 1-D
        (np.zeros((2, 5, 4)), np.zeros(2, int), ValueError, "'X'"),  # 3-D
        (np.array([[0, 1, np.nan, 0]] * 5), np.zeros(5, int), ValueError, "'X'"),
        (np.array([[0, 1, np.inf, 0]] * 5), np.zeros(5, int), ValueError, "'X'"),
        (np.array([["a"] * 4] * 5), np.zeros(5, int), TypeError, "'X'"),
        (np.zeros((5, 4)), np.zeros(4, int), ValueError, "'y'"),  # wrong length
        (np.zeros((5, 4)), np.zeros((5, 1), int), ValueError, "'y'"),  # wrong shape
        (np.zeros((5, 4)), np.zeros(5), TypeError, "'y'"),  # float labels
        (np.zeros((5, 4)), np.array([0, 1, 2, 3, 0]), ValueError, "'y'"),  # label 3 of 3
        (np.zeros((5, 4)), np.array([0, 1, -1, 2, 0]), ValueError, "'y'"),
    ],
)
def test_bad_data_cross_entropy(X, y, exc, name):
    mlp = MLP([4, 5, 3])
    with pytest.raises(exc, match=name):
        mlp.loss_and_grads(X, y)


def test_bad_data_mse_and_forward():
    mlp = MLP([4, 5, 3], loss="mse")
    with pytest.raises(ValueError, match="'y'"):
        mlp.loss_and_grads(np.zeros((5, 4)), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="'y'"):
        mlp.loss_and_grads(np.zeros((5, 4)), np.zeros(5))
    with pytest.raises(ValueError, match="'y'"):
        mlp.loss_and_grads(np.zeros((5, 4)), np.full((5, 3), np.nan))
    with pytest.raises(ValueError, match="'X'"):
        mlp.forward(np.zeros((5, 7)))


def test_nothing_of_the_caller_is_modified():
    sizes = [6, 7, 5, 3]
    for loss in LOSSES:
        mlp = MLP(sizes, activation="relu", loss=loss, seed=2)
        X, y = _data(sizes, 10, loss, seed=2)
        X_copy, y_copy = X.copy(), y.copy()
        params = {k: v.copy() for k, v in mlp.params.items()}
        mlp.forward(X)
        mlp.loss_and_grads(X, y)
        compare_with_autograd(mlp, X, y)
        mlp.copy(np.float32).loss_and_grads(X, y)  # float64 X converted, not overwritten
        np.testing.assert_array_equal(X, X_copy)
        np.testing.assert_array_equal(y, y_copy)
        for k in params:
            np.testing.assert_array_equal(mlp.params[k], params[k])
