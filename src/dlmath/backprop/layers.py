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

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import erf, expit

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "get_activation",
    "linear_backward",
    "linear_forward",
]


def linear_forward(X: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``Z = X @ W.T + b``; X (n, in), W (out, in), b (out,) -> Z (n, out).

    Stacks work too: X (m, n, in) with one W (out, in) runs as a single (m n, in) matrix
    product; W (m, out, in) and b (m, out) give m networks' layers at once (m, n, out).
    """
    if W.ndim == 2 and X.ndim > 2:  # one GEMM for the whole stack, not m small ones
        Z = (X.reshape(-1, X.shape[-1]) @ W.T).reshape(X.shape[:-1] + (W.shape[0],))
    else:
        Z = X @ np.swapaxes(W, -1, -2)
    Z += b[..., None, :] if b.ndim > 1 else b  # in place: no second (n, out) temporary
    return Z


def linear_backward(
    dZ: np.ndarray, X: np.ndarray, W: np.ndarray, *, need_dX: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of ``Z = X @ W.T + b`` given ``dZ = dL/dZ`` (n, out).

    Returns ``(dX, dW, db)`` with ``dX = dZ @ W`` (n, in) (None when ``need_dX`` is false:
    the first layer's input needs no gradient), ``dW = dZ.T @ X`` (out, in) and
    ``db = dZ.sum(axis=0)`` (out,).
    """
    dW = dZ.T @ X
    db = dZ.sum(axis=0)
    dX = dZ @ W if need_dX else None
    return dX, dW, db


# --- activations: f, f' and f'' side by side ----------------------------------------
# ``backward(dA, Z, A)`` overwrites and returns ``dA`` (it is the network's own buffer,
# never a caller's array), so the backward pass allocates nothing per activation.

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _relu(Z, out=None):
    return np.maximum(Z, 0, out=out)


def _relu_backward(dA, Z, A):
    # torch's convention: the derivative at exactly 0 is 0.
    dA *= A > 0
    return dA


def _relu_d1(Z):
    return (Z > 0).astype(Z.dtype)


def _relu_d2(Z):
    return np.zeros_like(Z)


def _tanh_backward(dA, Z, A):
    # tanh' = 1 - tanh^2, written as dA - dA * A^2 to stay in dA's buffer.
    t = A * A
    t *= dA
    dA -= t
    return dA


def _tanh_d1(Z):
    return 1 - np.tanh(Z) ** 2


def _tanh_d2(Z):
    t = np.tanh(Z)
    return -2 * t * (1 - t * t)


def _sigmoid_backward(dA, Z, A):
    # sigmoid' = s (1 - s); expit is overflow-free for any Z.
    dA *= A
    dA *= 1 - A
    return dA


def _sigmoid_d1(Z):
    s = expit(Z)
    return s * (1 - s)


def _sigmoid_d2(Z):
    s = expit(Z)
    return s * (1 - s) * (1 - 2 * s)


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


def _gelu_d1(Z):
    """``gelu'(z) = Phi(z) + z phi(z)``."""
    Phi = 0.5 * (1 + erf(Z * _INV_SQRT2))
    phi = _INV_SQRT_2PI * np.exp(-0.5 * Z * Z)
    return (Phi + Z * phi).astype(Z.dtype, copy=False)


def _gelu_backward(dA, Z, A):
    dA *= _gelu_d1(Z)
    return dA


def _gelu_d2(Z):
    """``gelu''(z) = phi(z) (2 - z^2)``."""
    return _INV_SQRT_2PI * np.exp(-0.5 * Z * Z) * (2 - Z * Z)


@dataclass(frozen=True)
class Activation:
    """An elementwise activation ``A = f(Z)`` with its derivatives.

    ``forward(Z, out=None) -> A`` (``out=Z`` computes in place);
    ``backward(dA, Z, A) -> dZ = dA * f'(Z)`` (overwrites ``dA``);
    ``d1(Z) = f'(Z)`` and ``d2(Z) = f''(Z)`` elementwise (Jacobian ``diag(f'(z))``).
    """

    name: str
    forward: Callable[[np.ndarray], np.ndarray]
    backward: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    d1: Callable[[np.ndarray], np.ndarray]
    d2: Callable[[np.ndarray], np.ndarray]
    formula: str = ""

    def __repr__(self) -> str:
        return f"Activation({self.name!r}: {self.formula})"


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation("relu", _relu, _relu_backward, _relu_d1, _relu_d2, "max(z, 0)"),
    "tanh": Activation("tanh", np.tanh, _tanh_backward, _tanh_d1, _tanh_d2, "tanh(z)"),
    "sigmoid": Activation(
        "sigmoid", expit, _sigmoid_backward, _sigmoid_d1, _sigmoid_d2, "1 / (1 + exp(-z))"
    ),
    "gelu": Activation(
        "gelu", _gelu, _gelu_backward, _gelu_d1, _gelu_d2, "z Phi(z) = z (1 + erf(z / sqrt 2)) / 2"
    ),
}


def get_activation(name: str) -> Activation:
    """The :class:`Activation` called ``name`` (one of ``ACTIVATIONS``)."""
    from dlmath._checks import check_choice

    return ACTIVATIONS[check_choice(name, "activation", ACTIVATIONS)]
