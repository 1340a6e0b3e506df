"""Losses defined exactly as PyTorch defines them, each with its gradient beside it.

``mse``            = ``F.mse_loss(Y_hat, Y)`` (mean over all n * k elements)::

    L = mean((Y_hat - Y)^2)            dL/dY_hat = 2 (Y_hat - Y) / (n k)

``cross_entropy``  = ``F.cross_entropy(Z, y)`` (logits Z (n, C), integer labels y, mean)::

    L = (1/n) sum_i [logsumexp(Z_i) - Z_i[y_i]]     dL/dZ = (softmax(Z) - onehot(y)) / n

The softmax is computed from ``Z - max(Z)`` per row, so logits of +-1e4 give a finite
loss and gradient (``exp`` of the shifted logits is at most 1, and the log of the sum is
at least 0).

Every value function also accepts a stack of outputs with leading axes (..., n, k) and
returns one loss per stack entry; the gradient checks evaluate many perturbed networks
at once that way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dlmath._numerics import log_softmax, logsumexp, softmax

__all__ = [
    "LOSSES",
    "Loss",
    "cross_entropy",
    "cross_entropy_grad",
    "get_loss",
    "log_softmax",
    "logsumexp",
    "mse",
    "mse_grad",
    "softmax",
]


def cross_entropy(Z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mean cross-entropy of logits ``Z`` (..., n, C) against labels ``y`` (n,) -> (...).

    ``L = mean_i [logsumexp(Z_i) - Z_i[y_i]]`` (only the picked logit is needed, not
    the whole log-softmax).
    """
    picked = Z[..., np.arange(Z.shape[-2]), y]  # Z_i[y_i] for every stack entry, (..., n)
    return (logsumexp(Z) - picked).mean(axis=-1)


def cross_entropy_grad(Z: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Loss and ``dL/dZ = (softmax(Z) - onehot(y)) / n`` for logits Z (n, C), one pass.

    The gradient buffer is the softmax itself, updated in place (no one-hot matrix).
    """
    n = Z.shape[0]
    rows = np.arange(n)
    shifted = Z - Z.max(axis=1, keepdims=True)
    dZ = np.exp(shifted)
    sums = dZ.sum(axis=1)
    loss = float(np.mean(np.log(sums) - shifted[rows, y]))
    dZ /= sums[:, None]
    dZ[rows, y] -= 1
    dZ *= dZ.dtype.type(1.0 / n)
    return loss, dZ


def mse(Y_hat: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """``mean((Y_hat - Y)^2)`` over the last two axes (n, k) -> (...)."""
    R = Y_hat - Y
    R *= R
    return R.mean(axis=(-2, -1))


def mse_grad(Y_hat: np.ndarray, Y: np.ndarray) -> tuple[float, np.ndarray]:
    """Loss and ``dL/dY_hat = 2 (Y_hat - Y) / (n k)`` for Y_hat, Y (n, k)."""
    R = Y_hat - Y
    loss = float(np.mean(R * R))
    R *= R.dtype.type(2.0 / R.size)
    return loss, R


@dataclass(frozen=True)
class Loss:
    """A loss: ``value(out, y)`` (stackable) and ``value_and_grad(out, y) -> (L, dL/dout)``."""

    name: str
    value: Callable[[np.ndarray, np.ndarray], np.ndarray]
    value_and_grad: Callable[[np.ndarray, np.ndarray], tuple[float, np.ndarray]]
    torch_name: str

    def __repr__(self) -> str:
        return f"Loss({self.name!r}, as torch.nn.functional.{self.torch_name})"


LOSSES: dict[str, Loss] = {
    "mse": Loss("mse", mse, mse_grad, "mse_loss"),
    "cross_entropy": Loss("cross_entropy", cross_entropy, cross_entropy_grad, "cross_entropy"),
}


def get_loss(name: str) -> Loss:
    """The :class:`Loss` called ``name`` (one of ``LOSSES``)."""
    from dlmath._checks import check_choice

    return LOSSES[check_choice(name, "loss", LOSSES)]
