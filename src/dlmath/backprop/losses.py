"""Losses defined exactly as PyTorch defines them, each with its gradient beside it.

The one implementation of each loss in dlmath; arguments in torch's order
``(input, target)``:

``mse(input, target)``            = ``F.mse_loss`` (mean over all n * k elements)::

    L = mean((input - target)^2)            dL/dinput = 2 (input - target) / (n k)

``cross_entropy(input, target)``  = ``F.cross_entropy`` (logits (n, C); integer labels
(n,) or probability rows (n, C); mean over the batch)::

    L = (1/n) sum_i [logsumexp(Z_i) - Z_i[y_i]]     dL/dZ = (softmax(Z) - onehot(y)) / n

The softmax is computed from ``Z - max(Z)`` per row, so logits of +-1e4 give a finite
loss and gradient (``exp`` of the shifted logits is at most 1, and the log of the sum is
at least 0).

The public functions check their arguments (``'target' must be ...``); the kernels in
:data:`LOSSES` (``value`` accepts stacks of outputs (..., n, k) and returns one loss per
stack entry, for the gradient checks; ``value_and_grad`` returns the loss and its
gradient) take arrays the MLP has already checked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlmath._checks import (
    as_float_array,
    as_label_array,
    check_choice,
    fail,
    named,
)

# the checked softmax family, re-exported: ``dlmath.backprop.softmax is dlmath.prob.softmax``
from dlmath.prob.functional import log_softmax, logsumexp, softmax

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

_REDUCTIONS = ("mean", "sum", "none")


# --- kernels (no checks: the MLP and the gradient checks call them on checked arrays) ----


def _ce_value(Z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mean cross-entropy of logits ``Z`` (..., n, C) against labels ``y`` (n,) -> (...)."""
    from dlmath._numerics import logsumexp as _lse

    picked = Z[..., np.arange(Z.shape[-2]), y]  # Z_i[y_i] for every stack entry, (..., n)
    return (_lse(Z) - picked).mean(axis=-1)


def _ce_value_and_grad(Z: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
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


def _mse_value(Y_hat: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """``mean((Y_hat - Y)^2)`` over the last two axes (n, k) -> (...)."""
    R = Y_hat - Y
    R *= R
    return R.mean(axis=(-2, -1))


def _mse_value_and_grad(Y_hat: np.ndarray, Y: np.ndarray) -> tuple[float, np.ndarray]:
    """Loss and ``dL/dY_hat = 2 (Y_hat - Y) / (n k)`` for Y_hat, Y (n, k)."""
    R = Y_hat - Y
    loss = float(np.mean(R * R))
    R *= R.dtype.type(2.0 / R.size)
    return loss, R


# --- the public, checked losses -------------------------------------------------------


def _pair(input: Any, target: Any) -> tuple[np.ndarray, np.ndarray]:
    Y_hat = as_float_array(input, "input")
    Y = as_float_array(target, "target")
    if Y.shape != Y_hat.shape:  # torch only warns and broadcasts; a silent mean is wrong
        raise fail("target", f"of the same shape as 'input' {Y_hat.shape} (no broadcasting)", Y)
    if Y_hat.dtype == np.float16 or Y.dtype == np.float16:
        Y_hat, Y = Y_hat.astype(np.float32), Y.astype(np.float32)
    return Y_hat, Y


def _residual(Y_hat: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """``input - target``, refused by name when its square is beyond the float range."""
    with np.errstate(over="ignore", invalid="ignore"):
        R = Y_hat - Y
        sq_ok = np.isfinite(R * R).all()
    if not sq_ok:
        raise fail("input", "close enough to 'target' that (input - target)^2 is finite", R)
    return R


def _reduce(per_element: np.ndarray, reduction: str) -> float | np.ndarray:
    if reduction == "none":
        return per_element
    total = per_element.sum() if reduction == "sum" else per_element.mean()
    return float(total)


def mse(input: Any, target: Any, *, reduction: str = "mean") -> float | np.ndarray:
    r"""``F.mse_loss(input, target)``: :math:`\frac1N\sum (\mathrm{input} - \mathrm{target})^2`.

    ``input`` and ``target`` of one shape (no broadcasting: a (1, 3) target for a (4, 3)
    input is refused by name). ``reduction``: ``"mean"`` (a float), ``"sum"`` or
    ``"none"`` (the squared errors, the input's shape).
    """
    with named("mse()"):
        reduction = check_choice(reduction, "reduction", _REDUCTIONS)
        Y_hat, Y = _pair(input, target)
        R = _residual(Y_hat, Y)
        return _reduce(R * R, reduction)


def mse_grad(input: Any, target: Any) -> tuple[float, np.ndarray]:
    r"""The mean squared error and its gradient ``dL/dinput = 2 (input - target) / N``."""
    with named("mse_grad()"):
        Y_hat, Y = _pair(input, target)
        R = _residual(Y_hat, Y)
    loss = float(np.mean(R * R))
    return loss, R * R.dtype.type(2.0 / max(R.size, 1))


def _logits_target(input: Any, target: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(Z (n, C), target, is_labels)``: ``Z`` 1-D (one sample) is read as (1, C)."""
    Z = as_float_array(input, "input", ndim=(1, 2))
    if Z.dtype == np.float16:
        Z = Z.astype(np.float32)
    single = Z.ndim == 1
    Z = Z[None] if single else Z
    if Z.shape[1] == 0:
        raise fail("input", "logits with at least one class (shape (n, C), C >= 1)", Z)
    if target is None or isinstance(target, str | bytes):
        raise fail("target", "integer class labels (n,) or class probabilities (n, C)", target)
    t = target.detach().cpu().numpy() if hasattr(target, "detach") else np.asarray(target)
    if t.dtype.kind in "iu":
        if single:  # as torch: one sample (C,) takes one label, a 0-d integer
            if t.ndim != 0:
                raise fail("target", "one integer label (0-d) for a 1-D 'input' (C,)", t)
            t = t.reshape(1)
        return Z, as_label_array(t, "target", n=Z.shape[0], n_classes=Z.shape[1]), True
    if t.dtype.kind == "b" or t.dtype.kind not in "f":
        raise fail("target", "integer class labels (n,) or class probabilities (n, C)", t)
    from dlmath.prob.information import as_distribution

    P = as_distribution(t[None] if single else t, "target")
    if P.shape != Z.shape:
        raise fail("target", f"probabilities of the same shape as 'input' {Z.shape}", P)
    return Z, P, False


def cross_entropy(input: Any, target: Any, *, reduction: str = "mean") -> float | np.ndarray:
    r"""``F.cross_entropy(input, target)``: :math:`-\frac1n\sum_i \log\mathrm{softmax}(z_i)_{y_i}`.

    ``input``: logits (n, C) (or (C,) for one sample). ``target``: integer labels (n,)
    in [0, C), or probability rows (n, C) (then
    :math:`-\frac1n\sum_i\sum_k p_{ik}\log\mathrm{softmax}(z_i)_k`). ``reduction``:
    ``"mean"`` (a float), ``"sum"`` or ``"none"`` (one loss per row, (n,)).
    """
    with named("cross_entropy()"):
        reduction = check_choice(reduction, "reduction", _REDUCTIONS)
        Z, t, labels = _logits_target(input, target)
    log_q = log_softmax(Z)
    rows = np.arange(Z.shape[0])
    per_row = -log_q[rows, t] if labels else -np.einsum("ik,ik->i", t, log_q)
    return _reduce(per_row, reduction)


def cross_entropy_grad(input: Any, target: Any) -> tuple[float, np.ndarray]:
    r"""The mean cross-entropy and ``dL/dZ = (softmax(Z) - onehot(y)) / n`` (shape of ``Z``).

    With probability targets ``p``: ``dL/dZ = (softmax(Z) - p) / n``.
    """
    with named("cross_entropy_grad()"):
        Z, t, labels = _logits_target(input, target)
    if labels:
        loss, dZ = _ce_value_and_grad(Z, t)
    else:
        loss = cross_entropy(Z, t)
        dZ = (softmax(Z) - t) / Z.shape[0]
    return loss, dZ.reshape(np.shape(input)) if np.ndim(input) == 1 else dZ


@dataclass(frozen=True)
class Loss:
    """A loss: ``value(out, y)`` (stackable) and ``value_and_grad(out, y) -> (L, dL/dout)``.

    Both are unchecked kernels (the MLP checks ``out`` and ``y`` once per call).
    """

    name: str
    value: Callable[[np.ndarray, np.ndarray], np.ndarray]
    value_and_grad: Callable[[np.ndarray, np.ndarray], tuple[float, np.ndarray]]
    torch_name: str

    def __repr__(self) -> str:
        return f"Loss({self.name!r}, as torch.nn.functional.{self.torch_name})"


LOSSES: dict[str, Loss] = {
    "mse": Loss("mse", _mse_value, _mse_value_and_grad, "mse_loss"),
    "cross_entropy": Loss("cross_entropy", _ce_value, _ce_value_and_grad, "cross_entropy"),
}


def get_loss(name: str) -> Loss:
    """The :class:`Loss` called ``name`` (one of ``LOSSES``)."""
    return LOSSES[check_choice(name, "loss", LOSSES)]
