"""Slow, independent references for the landscape tools: what their fast paths are tested
against (and what a lab uses to back a figure with a measured check).

- :func:`pointwise_loss`: write the weights into a deep copy of the model and evaluate;
- :func:`dense_hessian`: the full (n, n) Hessian by ``torch.func.hessian``;
- :func:`fd_hessian_error`: ``torch.func``'s 2x2 Hessian against central differences;
- :func:`model_state` / :func:`same_state`: everything a read-only tool promises to leave
  alone (values, ``requires_grad``, ``.grad``, train/eval modes).

All of them check their arguments like the rest of :mod:`dlmath.landscape` and never
modify the caller's model, except :func:`write_weights`, which says so in its name.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from dlmath._checks import as_float_array, check_real, fail, fail_type
from dlmath.landscape._params import (
    as_data,
    as_param_list,
    check_eval_mode,
    check_loss_fn,
    checked_forward,
    checked_loss,
    model_parameters,
)

__all__ = [
    "dense_hessian",
    "fd_hessian_error",
    "model_state",
    "pointwise_loss",
    "same_state",
    "write_weights",
]

_JIT_WARNING = ".*torch.jit.script.* is deprecated"


def write_weights(model: nn.Module, weights: Sequence[Any]) -> None:
    """Overwrite ``model``'s parameters, in ``model.parameters()`` order, with ``weights``
    (arrays or tensors of their shapes; a mapping by name or a same-shaped module works too).
    This one writes into ``model``: the weights are checked before anything is written."""
    named = model_parameters(model)
    try:
        values = as_param_list(weights, named, "weights")
    except ValueError as err:  # the weights and the model disagree: name both
        raise ValueError(f"'weights' do not fit 'model': {err}") from err
    with torch.no_grad():
        for (_, p), v in zip(named, values, strict=True):
            p.copy_(v)


def _loss_of(model: nn.Module, loss_fn: Callable, X, y) -> torch.Tensor:
    """Checked ``loss_fn(model(X), y)`` for a model whose arguments were checked."""
    like = next(model.parameters())
    Xt, yt = as_data(X, y, like)
    return checked_loss(loss_fn, checked_forward(model, Xt), yt)


def _finite_value(value: float, what: str) -> float:
    if not math.isfinite(value):
        raise fail("loss_fn", f"a finite loss; {what} is {value}", value, described=True)
    return value


def pointwise_loss(model: nn.Module, loss_fn: Callable, X, y, theta: Sequence[Any]) -> float:
    """``loss_fn(f_theta(X), y)``: the weights ``theta`` (a parameter list) written into a deep
    copy of ``model``, then one forward pass (the slow way, one point; ``model`` itself is
    not touched)."""
    named = model_parameters(model)
    check_loss_fn(loss_fn)
    check_eval_mode(model)
    values = as_param_list(theta, named, "theta")
    clone = copy.deepcopy(model)
    write_weights(clone, values)
    with torch.no_grad():
        loss = float(_loss_of(clone, loss_fn, X, y))
    return _finite_value(loss, "the loss at theta")


def dense_hessian(model: nn.Module, loss_fn: Callable, X, y) -> np.ndarray:
    """The full Hessian (n, n), n = number of parameters, of ``loss_fn(model(X), y)`` with
    respect to all parameters (in ``model.parameters()`` order), by ``torch.func.hessian``
    (forward-over-reverse; n <= 5,000 here, since the matrix is dense)."""
    from torch.func import functional_call, hessian

    named = model_parameters(model)
    check_loss_fn(loss_fn)
    check_eval_mode(model)
    n = sum(p.numel() for _, p in named)
    if n > 5000:
        raise fail(
            "model", "at most 5,000 parameters for a dense Hessian", f"{n:,}", described=True
        )
    _finite_value(float(_loss_of(model, loss_fn, X, y).detach()), "the loss")
    flat = torch.cat([p.detach().reshape(-1) for _, p in named])
    Xt, yt = as_data(X, y, flat)

    def loss(v: torch.Tensor) -> torch.Tensor:
        parts = torch.split(v, [p.numel() for _, p in named])
        weights = {n: w.reshape(p.shape) for (n, p), w in zip(named, parts, strict=True)}
        return loss_fn(functional_call(model, weights, (Xt,)), yt)

    with warnings.catch_warnings():  # torch.func's first use imports code that warns
        warnings.filterwarnings("ignore", _JIT_WARNING, DeprecationWarning)
        H = hessian(loss)(flat).numpy()
    if not np.isfinite(H).all():
        raise fail("loss_fn", "a twice-differentiable loss with a finite Hessian", "NaN/inf")
    return H


def fd_hessian_error(h: Callable, x: Any, eps: float = 1e-4) -> float:
    """``max |H - H_fd| / max(max |H|, 1e-12)`` for a function ``h`` of a 2-vector (a torch
    tensor in, a scalar tensor out): ``H`` by ``torch.func.hessian``, ``H_fd`` by central
    differences with step ``eps``,
    ``H_fd[i, j] = (h(x+e_i+e_j) - h(x+e_i-e_j) - h(x-e_i+e_j) + h(x-e_i-e_j)) / 4 eps^2``."""
    from torch.func import hessian

    if not callable(h):
        raise fail_type("h", "a callable h(x) -> scalar tensor of a 2-vector", h)
    x = as_float_array(x, "x", ndim=1, dtype=np.float64)
    if x.shape != (2,):
        raise fail("x", "a point of shape (2,)", x)
    eps = check_real(eps, "eps", low=0.0, high=1.0, low_open=True)
    xt = torch.as_tensor(x)
    try:
        with warnings.catch_warnings():  # torch.func's first use imports code that warns
            warnings.filterwarnings("ignore", _JIT_WARNING, DeprecationWarning)
            H = hessian(h)(xt).detach().numpy()
        E = np.eye(2) * eps
        with torch.no_grad():
            val = lambda d: float(h(xt + torch.as_tensor(d)))
            H_fd = np.array(
                [
                    [
                        (val(E[i] + E[j]) - val(E[i] - E[j]) - val(E[j] - E[i]) + val(-E[i] - E[j]))
                        / (4 * eps**2)
                        for j in range(2)
                    ]
                    for i in range(2)
                ]
            )
    except (RuntimeError, TypeError, ValueError, IndexError) as err:
        raise ValueError(
            f"'h' must map a 2-vector tensor to a scalar tensor: {type(err).__name__}: {err}"
        ) from err
    if H.shape != (2, 2) or not (np.isfinite(H).all() and np.isfinite(H_fd).all()):
        raise fail("h", "a twice-differentiable function with a finite 2x2 Hessian at x", H)
    return float(np.abs(H - H_fd).max() / max(np.abs(H).max(), 1e-12))


def model_state(model: nn.Module) -> tuple:
    """Everything a read-only tool promises not to touch: a tuple (values, requires_grad
    flags, ``.grad`` copies, train/eval modes of every submodule), all copies."""
    if not isinstance(model, nn.Module):
        raise fail_type("model", "a torch.nn.Module", model)
    return (
        [p.detach().clone() for p in model.parameters()],
        [p.requires_grad for p in model.parameters()],
        [None if p.grad is None else p.grad.detach().clone() for p in model.parameters()],
        [m.training for m in model.modules()],
    )


def _check_state(state: Any, name: str) -> tuple:
    ok = (
        isinstance(state, tuple)
        and len(state) == 4
        and all(isinstance(part, list) for part in state)
        and all(isinstance(t, torch.Tensor) for t in state[0])
    )
    if not ok:
        raise fail_type(name, "a snapshot returned by model_state(model)", state)
    return state


def same_state(a: tuple, b: tuple) -> bool:
    """Whether two :func:`model_state` snapshots are identical (bit for bit; NaN equals NaN)."""
    a, b = _check_state(a, "a"), _check_state(b, "b")
    if [len(part) for part in a] != [len(part) for part in b]:
        return False

    def same(x, y) -> bool:
        if x is None or y is None:
            return x is None and y is None
        return (
            x.shape == y.shape
            and x.dtype == y.dtype
            and torch.equal(torch.nan_to_num(x, nan=0.0), torch.nan_to_num(y, nan=0.0))
            and torch.equal(torch.isnan(x), torch.isnan(y))
        )

    values = all(same(x, y) for x, y in zip(a[0], b[0], strict=True))
    grads = all(same(g, h) for g, h in zip(a[2], b[2], strict=True))
    return values and grads and a[1] == b[1] and a[3] == b[3]
