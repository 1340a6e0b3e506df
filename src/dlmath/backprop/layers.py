"""Layers of an MLP, each forward pass next to its backward pass (batch first).

Linear layer (``W`` of shape (out, in), exactly ``torch.nn.Linear``)::

    forward   Z  = X @ W.T + b                 X (n, in), Z (n, out)
    backward  dW = dZ.T @ X                     (out, in)
              db = dZ.sum(axis=0)               (out,)
              dX = dZ @ W                       (n, in)

The module text writes one column vector ``z = W @ x + b`` with ``dL/dW = dL/dz @ x.T``
and ``dL/dx = W.T @ dL/dz``. Stacking the n samples as rows (``X[i] = x_i.T``) and summing
the per-sample outer products gives ``dW = sum_i dz_i x_i.T = dZ.T @ X``; transposing
``W.T @ dz_i`` row by row gives ``dX = dZ @ W``.

Activations act elementwise, ``A = f(Z)``, so their backward is ``dZ = dA * f'(Z)`` and
their Jacobian is ``diag(f'(z))``. Each :class:`Activation` holds ``f``, ``f'`` and
``f''`` (the Hessian code needs the second derivative).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import erf, expit

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "get_activation",
    "linear_backward",
    "linear_forward",
]


def _check_linear(X: Any, W: Any, b: Any | None, dZ: Any | None = None):
    """The public layer functions' arguments: X (n, in), W (out, in), b (out,), dZ (n, out)."""
    from dlmath._checks import as_float_array, fail

    X = as_float_array(X, "X", ndim=2)
    W = as_float_array(W, "W", ndim=2)
    if W.shape[1] != X.shape[1]:
        raise fail("W", f"of shape (out, {X.shape[1]}) (X has {X.shape[1]} features)", W)
    if b is not None:
        b = as_float_array(b, "b", ndim=1)
        if b.shape != (W.shape[0],):
            raise fail("b", f"of shape ({W.shape[0]},) (one bias per row of W)", b)
    if dZ is not None:
        dZ = as_float_array(dZ, "dZ", ndim=2)
        if dZ.shape != (X.shape[0], W.shape[0]):
            raise fail("dZ", f"of shape ({X.shape[0]}, {W.shape[0]}) like Z = X @ W.T", dZ)
    dtype = np.result_type(X, W, *(a for a in (b, dZ) if a is not None))
    if dtype == np.float16:
        dtype = np.dtype(np.float32)
    cast = [None if a is None else a.astype(dtype, copy=False) for a in (X, W, b, dZ)]
    return cast


def linear_forward(X: Any, W: Any, b: Any) -> np.ndarray:
    """``Z = X @ W.T + b``; X (n, in), W (out, in), b (out,) -> Z (n, out).

    Checked (shapes, finiteness); the network uses the unchecked kernel
    :func:`_linear_forward`, which also runs stacks.
    """
    X, W, b, _ = _check_linear(X, W, b)
    return _linear_forward(X, W, b)


def linear_backward(
    dZ: Any, X: Any, W: Any, *, need_dX: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of ``Z = X @ W.T + b`` given ``dZ = dL/dZ`` (n, out): ``(dX, dW, db)``.

    ``dX = dZ @ W`` (n, in) (None when ``need_dX`` is false), ``dW = dZ.T @ X`` (out, in),
    ``db = dZ.sum(axis=0)`` (out,). Checked; the network uses :func:`_linear_backward`.
    """
    from dlmath._checks import as_float_array, check_bool

    need_dX = check_bool(need_dX, "need_dX")
    dZ = as_float_array(dZ, "dZ", ndim=2)
    X, W, _, dZ = _check_linear(X, W, None, dZ)
    return _linear_backward(dZ, X, W, need_dX=need_dX)


def _linear_forward(X: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``Z = X @ W.T + b`` (unchecked kernel); X (n, in), W (out, in), b (out,) -> Z (n, out).

    Stacks work too: X (m, n, in) with one W (out, in) runs as a single (m n, in) matrix
    product; W (m, out, in) and b (m, out) give m networks' layers at once (m, n, out).
    """
    if W.ndim == 2 and X.ndim > 2:  # one GEMM for the whole stack, not m small ones
        Z = (X.reshape(-1, X.shape[-1]) @ W.T).reshape(X.shape[:-1] + (W.shape[0],))
    else:
        Z = X @ np.swapaxes(W, -1, -2)
    Z += b[..., None, :] if b.ndim > 1 else b  # in place: no second (n, out) temporary
    return Z


def _linear_backward(
    dZ: np.ndarray, X: np.ndarray, W: np.ndarray, *, need_dX: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of ``Z = X @ W.T + b`` given ``dZ = dL/dZ`` (n, out) (unchecked kernel).

    Returns ``(dX, dW, db)`` with ``dX = dZ @ W`` (n, in) (None when ``need_dX`` is false:
    the first layer's input needs no gradient), ``dW = dZ.T @ X`` (out, in) and
    ``db = dZ.sum(axis=0)`` (out,). Stacks work too: dZ (k, n, out) with X (k, n, in) or
    (n, in) give dW (k, out, in) and db (k, out) (the Hessian-vector products use it).
    """
    dW = np.swapaxes(dZ, -1, -2) @ X  # dZ.T @ X, also for stacks (k, n, out)
    db = dZ.sum(axis=-2)
    dX = dZ @ W if need_dX else None
    return dX, dW, db


# --- activations: f, f' and f'' side by side ----------------------------------------
# Each derivative is written once, as ``d1(Z, A)``: ``A = f(Z)`` when the caller has it
# (the backward pass does; tanh' and sigmoid' are cheapest from it), else None. The
# backward pass of every activation is the one rule ``dZ = dA * f'(Z)``
# (:meth:`Activation.backward`), the Jacobian is ``diag(f'(z))``.

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _relu(Z, out=None):
    return np.maximum(Z, 0, out=out)


def _relu_d1(Z, A=None):
    # torch's convention: the derivative at exactly 0 is 0.
    return (Z > 0).astype(Z.dtype)


def _relu_d2(Z):
    return np.zeros_like(Z)


def _tanh_d1(Z, A=None):
    """``tanh' = 1 - tanh^2``."""
    A = np.tanh(Z) if A is None else A
    return 1 - A * A


def _tanh_d2(Z):
    t = np.tanh(Z)
    return -2 * t * _tanh_d1(Z, t)


def _sigmoid_d1(Z, A=None):
    """``sigmoid' = s (1 - s)``; expit is overflow-free for any Z."""
    s = expit(Z) if A is None else A
    return s * (1 - s)


def _sigmoid_d2(Z):
    s = expit(Z)
    return _sigmoid_d1(Z, s) * (1 - 2 * s)


def _gelu(Z, out=None):
    """Exact GELU: ``z * Phi(z) = 0.5 z (1 + erf(z / sqrt(2)))`` (torch's default)."""
    A = erf(Z * Z.dtype.type(_INV_SQRT2))
    A += 1
    A *= Z
    A *= Z.dtype.type(0.5)
    if out is not None:
        out[...] = A
        return out
    return A


def _gelu_d1(Z, A=None):
    """``gelu'(z) = Phi(z) + z phi(z)``."""
    Phi = 0.5 * (1 + erf(Z * _INV_SQRT2))
    phi = _INV_SQRT_2PI * np.exp(-0.5 * Z * Z)
    return (Phi + Z * phi).astype(Z.dtype, copy=False)


def _gelu_d2(Z):
    """``gelu''(z) = phi(z) (2 - z^2)``."""
    return _INV_SQRT_2PI * np.exp(-0.5 * Z * Z) * (2 - Z * Z)


def _backward_rule(d1: Callable[..., np.ndarray], dA, Z, A=None):
    """The one backward rule of an elementwise activation: ``dZ = dA * f'(Z)``, in ``dA``."""
    dA *= d1(Z, A)
    return dA


def _activation(name: str, f: Callable, d1: Callable, d2: Callable, formula: str) -> Activation:
    return Activation(name, f, functools.partial(_backward_rule, d1), d1, d2, formula)


@dataclass(frozen=True)
class Activation:
    """An elementwise activation ``A = f(Z)`` with its derivatives.

    ``forward(Z, out=None) -> A`` (``out=Z`` computes in place);
    ``d1(Z, A=None) = f'(Z)`` (``A = f(Z)`` if known) and ``d2(Z) = f''(Z)`` elementwise
    (Jacobian ``diag(f'(z))``); ``backward(dA, Z, A) -> dZ = dA * f'(Z)``, the one
    backward rule, written into ``dA`` (the network's own buffer, never a caller's).
    """

    name: str
    forward: Callable[[np.ndarray], np.ndarray]
    backward: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    d1: Callable[..., np.ndarray]
    d2: Callable[[np.ndarray], np.ndarray]
    formula: str = ""

    def __repr__(self) -> str:
        return f"Activation({self.name!r}: {self.formula})"


ACTIVATIONS: dict[str, Activation] = {
    "relu": _activation("relu", _relu, _relu_d1, _relu_d2, "max(z, 0)"),
    "tanh": _activation("tanh", np.tanh, _tanh_d1, _tanh_d2, "tanh(z)"),
    "sigmoid": _activation("sigmoid", expit, _sigmoid_d1, _sigmoid_d2, "1 / (1 + exp(-z))"),
    "gelu": _activation(
        "gelu", _gelu, _gelu_d1, _gelu_d2, "z Phi(z) = z (1 + erf(z / sqrt 2)) / 2"
    ),
}


def get_activation(name: str) -> Activation:
    """The :class:`Activation` called ``name`` (one of ``ACTIVATIONS``)."""
    from dlmath._checks import check_choice

    return ACTIVATIONS[check_choice(name, "activation", ACTIVATIONS)]
