"""Numerical gradients against closed forms and torch autograd; relative_error; bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlmath.backprop import (
    ACTIVATIONS,
    LOSSES,
    MLP,
    gradient_check,
    mlp_numerical_gradients,
    numerical_gradient,
    relative_error,
    torch_loss_and_grads,
)


def f_closed(x):
    """f(x) = sum(sin(x) x^2), df/dx = cos(x) x^2 + 2 x sin(x)."""
    return float(np.sum(np.sin(x) * x**2))


def df_closed(x):
    return np.cos(x) * x**2 + 2 * x * np.sin(x)


@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 2), ()])
def test_numerical_gradient_any_shape_matches_closed_form(shape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    x_before = x.copy()
    g = numerical_gradient(f_closed, x)
    assert g.shape == x.shape
    np.testing.assert_allclose(g, df_closed(x), rtol=1e-8, atol=1e-9)
    np.testing.assert_array_equal(x, x_before)


@pytest.mark.parametrize("chunk_size", [1, 3, 256])
def test_batched_mode_matches_closed_form(chunk_size):
    x = np.random.default_rng(1).standard_normal((4, 3))
    x_before = x.copy()

    def f_batched(xs):  # xs: (m, 4, 3) -> (m,)
        assert xs.shape[1:] == (4, 3)
        return np.sum(np.sin(xs) * xs**2, axis=(1, 2))

    g = numerical_gradient(f_batched, x, batched=True, chunk_size=chunk_size)
    np.testing.assert_allclose(g, df_closed(x), rtol=1e-8, atol=1e-9)
    np.testing.assert_array_equal(x, x_before)


def test_f_sees_copies_only():
    x = np.ones(4)

    def vandal(z):
        value = float(z.sum())
        z[:] = 99.0  # would corrupt x if f were given x itself
        return value

    numerical_gradient(vandal, x)
    np.testing.assert_array_equal(x, np.ones(4))


def test_float32_input_is_differenced_in_float64():
    x = np.array([0.3, -1.2, 2.0], dtype=np.float32)
    g = numerical_gradient(lambda z: float(np.sum(z**3)), x)
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, 3 * x.astype(np.float64) ** 2, rtol=1e-8)


def test_relative_error_definition():
    a = np.array([1.0, -2.0, 4.0])
    assert relative_error(a, a) == 0.0
    assert relative_error(a, a + np.array([0, 0.4, 0])) == pytest.approx(0.4 / 4.0)
    assert relative_error(a, -a) == pytest.approx(8.0 / 4.0)
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error(np.zeros(2), np.array([0.0, 1e-300])) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="'b'"):
        relative_error(np.zeros(3), np.zeros(4))


@pytest.mark.parametrize("act", list(ACTIVATIONS))
@pytest.mark.parametrize("loss", list(LOSSES))
def test_mlp_numerical_gradients_match_torch_autograd(act, loss):
    sizes = [5, 7, 6, 3]
    mlp = MLP(sizes, activation=act, loss=loss, seed=4)
    rng = np.random.default_rng(4)
    X = rng.standard_normal((9, 5))
    y = rng.integers(0, 3, 9) if loss == "cross_entropy" else rng.standard_normal((9, 3))
    _, reference = torch_loss_and_grads(mlp, X, y)
    numeric = mlp_numerical_gradients(mlp, X, y)
    assert list(numeric) == list(mlp.params)
    for k in mlp.params:
        # relu's kinks are not hit with probability 1; the central difference is O(eps^2)
        assert relative_error(numeric[k], reference[k]) <= 1e-6, k


def test_structured_and_generic_batched_agree_with_loop():
    mlp = MLP([4, 5, 3], activation="tanh", seed=5)
    rng = np.random.default_rng(5)
    X, y = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    theta = mlp.flatten()

    def loss_of(t):
        return float(mlp.stacked_losses(t[None], X, y)[0])

    loop = numerical_gradient(loss_of, theta)
    batched = numerical_gradient(
        lambda T: mlp.stacked_losses(T, X, y), theta, batched=True, chunk_size=7
    )
    structured = mlp.flatten(mlp_numerical_gradients(mlp, X, y, max_elements=50))
    assert relative_error(batched, loop) <= 1e-9
    assert relative_error(structured, loop) <= 1e-8


@settings(max_examples=15, deadline=None)
@given(
    widths=st.lists(st.integers(1, 12), min_size=2, max_size=5),
    n=st.integers(1, 10),
    act=st.sampled_from(["tanh", "sigmoid", "gelu"]),
    loss=st.sampled_from(list(LOSSES)),
    seed=st.integers(0, 1000),
)
def test_property_gradient_check_passes(widths, n, act, loss, seed):
    mlp = MLP(widths, activation=act, loss=loss, seed=seed)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, widths[0]))
    y = (
        rng.integers(0, widths[-1], n)
        if loss == "cross_entropy"
        else rng.standard_normal((n, widths[-1]))
    )
    params = {k: v.copy() for k, v in mlp.params.items()}
    check = gradient_check(mlp, X, y)
    # absolute error: tiny gradients make a relative error meaningless, so scale by 1
    assert check.max_abs <= 1e-7
    for k in params:
        np.testing.assert_array_equal(mlp.params[k], params[k])
    assert "W1" in repr(check)


def test_gradient_check_detects_a_wrong_backward(monkeypatch):
    mlp = MLP([3, 4, 2], activation="tanh", seed=0)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((5, 3)), rng.integers(0, 2, 5)
    assert gradient_check(mlp, X, y).max_rel <= 1e-6
    act = mlp.act
    wrong = type(act)(act.name, act.forward, lambda dA, Z, A: dA, act.d1, act.d2)  # f' = 1
    monkeypatch.setattr(mlp, "act", wrong)
    assert gradient_check(mlp, X, y).max_rel > 1e-2


def test_bad_input():
    with pytest.raises(TypeError, match="'f'"):
        numerical_gradient("not callable", np.ones(3))
    with pytest.raises(ValueError, match="'eps'"):
        numerical_gradient(f_closed, np.ones(3), eps=0.0)
    with pytest.raises(ValueError, match="'x'"):
        numerical_gradient(f_closed, np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="'f'"):
        numerical_gradient(lambda z: np.inf if z[0] < 1.0 else 0.0, np.ones(1))
    with pytest.raises(ValueError, match="'f'"):
        numerical_gradient(lambda z: z, np.ones(3))
    with pytest.raises(ValueError, match="'f'"):
        numerical_gradient(lambda zs: np.ones(1), np.ones(3), batched=True)
    with pytest.raises(ValueError, match="'chunk_size'"):
        numerical_gradient(f_closed, np.ones(3), batched=True, chunk_size=0)
    mlp = MLP([3, 2])
    with pytest.raises(ValueError, match="'X'"):
        mlp_numerical_gradients(mlp, np.ones((2, 4)), np.zeros(2, int))
    with pytest.raises(ValueError, match="'theta'"):
        mlp.unflatten(np.ones(3))


def test_torch_reference_is_independent_of_numpy_code(monkeypatch):
    """torch_loss_and_grads is torch alone: equal to a closed form written here with torch
    ops on the raw parameters (not through ``to_torch``), and unmoved when NumPy's own
    forward and backward are broken."""
    mlp = MLP([3, 2], seed=0)
    X, y = np.eye(3), np.array([0, 1, 1])
    W = torch.tensor(mlp.params["W1"], requires_grad=True)
    b = torch.tensor(mlp.params["b1"], requires_grad=True)
    Z = torch.from_numpy(X) @ W.T + b  # one linear layer: logits
    lt = -torch.log_softmax(Z, dim=1)[torch.arange(3), torch.from_numpy(y)].mean()
    lt.backward()

    def broken(*args, **kwargs):
        raise AssertionError("the torch reference must not call the NumPy code")

    monkeypatch.setattr(MLP, "loss_and_grads", broken)
    monkeypatch.setattr(MLP, "forward", broken)
    loss, grads = torch_loss_and_grads(mlp, X, y)
    assert loss == pytest.approx(lt.item(), abs=1e-15)
    np.testing.assert_allclose(grads["W1"], W.grad.numpy(), atol=1e-15)
    np.testing.assert_allclose(grads["b1"], b.grad.numpy(), atol=1e-15)
