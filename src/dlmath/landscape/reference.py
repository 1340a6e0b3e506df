"""Slow, independent references for the landscape tools: what their fast paths are tested
against (and what a lab uses to back a figure with a measured check).

- :func:`pointwise_loss`: write the weights into a deep copy of the model and evaluate;
- :func:`dense_hessian`: the full (n, n) Hessian by ``torch.func.hessian``;
- :func:`fd_hessian_error`: ``torch.func``'s 2x2 Hessian against central differences;
- :func:`model_state` / :func:`same_state`: everything a read-only tool promises to leave
  alone (values, ``requires_grad``, ``.grad``, train/eval modes).
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = [
    "dense_hessian",
    "fd_hessian_error",
    "model_state",
    "pointwise_loss",
    "same_state",
    "write_weights",
]


def write_weights(model: nn.Module, weights: Sequence[Any]) -> None:
    """Overwrite ``model``'s parameters, in order, with arrays or tensors of their shapes."""
    torch.nn.utils.vector_to_parameters(
        torch.cat([torch.as_tensor(w).reshape(-1) for w in weights]), model.parameters()
    )


def pointwise_loss(model: nn.Module, loss_fn: Callable, X, y, theta: Sequence[Any]) -> float:
    """``loss_fn(model_theta(X), y)`` with the weights ``theta`` written into a deep copy of
    ``model`` (the slow way, one point; ``model`` itself is not touched)."""
    clone = copy.deepcopy(model)
    write_weights(clone, theta)
    with torch.no_grad():
        return float(loss_fn(clone(torch.as_tensor(X)), torch.as_tensor(y)))


def dense_hessian(model: nn.Module, loss_fn: Callable, X, y) -> np.ndarray:
    """The full Hessian (n, n), n = number of parameters, of ``loss_fn(model(X), y)`` with
    respect to all parameters (in ``model.parameters()`` order), by ``torch.func.hessian``."""
    from torch.func import functional_call, hessian

    named = list(model.named_parameters())
    flat = torch.cat([p.detach().reshape(-1) for _, p in named])
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)

    def loss(v: torch.Tensor) -> torch.Tensor:
        parts = torch.split(v, [p.numel() for _, p in named])
        weights = {n: w.reshape(p.shape) for (n, p), w in zip(named, parts, strict=True)}
        return loss_fn(functional_call(model, weights, (Xt,)), yt)

    with warnings.catch_warnings():  # torch.func's first use imports code that warns
        warnings.filterwarnings("ignore", ".*torch.jit.script.* is deprecated", DeprecationWarning)
        return hessian(loss)(flat).numpy()


def fd_hessian_error(h: Callable, x: Any, eps: float = 1e-4) -> float:
    """``max |H - H_fd| / max |H|`` for a function ``h`` of a 2-vector of torch tensors:
    ``H`` by ``torch.func.hessian``, ``H_fd`` by central differences with step ``eps``,
    ``H_fd[i, j] = (h(x+e_i+e_j) - h(x+e_i-e_j) - h(x-e_i+e_j) + h(x-e_i-e_j)) / 4 eps^2``."""
    from torch.func import hessian

    xt = torch.as_tensor(x)
    with warnings.catch_warnings():  # torch.func's first use imports code that warns
        warnings.filterwarnings("ignore", ".*torch.jit.script.* is deprecated", DeprecationWarning)
        H = hessian(h)(xt).numpy()
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
    return float(np.abs(H - H_fd).max() / max(np.abs(H).max(), 1e-12))


def model_state(model: nn.Module) -> tuple:
    """Everything a read-only tool promises not to touch: values, flags, grads, modes."""
    return (
        [p.detach().clone() for p in model.parameters()],
        [p.requires_grad for p in model.parameters()],
        [None if p.grad is None else p.grad.detach().clone() for p in model.parameters()],
        [m.training for m in model.modules()],
    )


def same_state(a: tuple, b: tuple) -> bool:
    """Whether two :func:`model_state` snapshots are identical (bit for bit)."""
    values = all(torch.equal(x, y) for x, y in zip(a[0], b[0], strict=True))
    grads = all(
        (g is None and h is None) or (g is not None and h is not None and torch.equal(g, h))
        for g, h in zip(a[2], b[2], strict=True)
    )
    return values and grads and a[1] == b[1] and a[3] == b[3]
