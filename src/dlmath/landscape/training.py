"""Training with snapshots: the weights along the way, for trajectories and sharpness plots.

The optimizer is any object with ``step(grads)`` that updates a list of NumPy arrays in
place (``dlmath.optim.SGD``, ``Adam``, ...). The arrays it is built on are *views* of the
model's parameters (``p.detach().numpy()`` shares memory with ``p``), so each NumPy
update moves the torch model, whose autograd supplies the gradients.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from dlmath._checks import check_int, check_seed, fail, fail_type
from dlmath.landscape._params import (
    as_data,
    batch_slices,
    check_loss_fn,
    model_parameters,
    trainable_parameters,
)

__all__ = ["Snapshots", "parameter_views", "snapshot", "train_with_snapshots"]


def parameter_views(model: nn.Module) -> list[np.ndarray]:
    """NumPy views of the model's parameters (writing into them writes into the model)."""
    named = model_parameters(model)
    if any(p.device.type != "cpu" for _, p in named):
        raise fail(
            "model",
            "a model on the CPU (NumPy views need CPU memory)",
            "a GPU model",
            described=True,
        )
    return [p.detach().numpy() for _, p in named]


def snapshot(model: nn.Module) -> list[np.ndarray]:
    """A copy of the model's parameters as NumPy arrays (parameter order)."""
    return [p.detach().cpu().numpy().copy() for _, p in model_parameters(model)]


@dataclass
class Snapshots:
    """Snapshots ``theta_0 .. theta_T`` (parameter lists) and the training loss at each.

    ``steps[i]`` is the number of optimizer steps taken before snapshot ``i``. (Called
    ``Trajectory`` before; dlmath's one ``Trajectory`` is :class:`dlmath.optim.Trajectory`,
    the points of a 2-D optimization.)
    """

    snapshots: list[list[np.ndarray]] = field(repr=False)
    losses: np.ndarray
    steps: np.ndarray

    def __repr__(self) -> str:
        return (
            f"Snapshots(n_snapshots={len(self.snapshots)}, loss {self.losses[0]:.4g} -> "
            f"{self.losses[-1]:.4g}, steps={int(self.steps[-1])})"
        )


def _full_loss(model: nn.Module, loss_fn: Callable, Xt: torch.Tensor, yt: torch.Tensor) -> float:
    with torch.no_grad():
        return float(loss_fn(model(Xt), yt))


def train_with_snapshots(
    model: nn.Module,
    loss_fn: Callable,
    X: Any,
    y: Any,
    make_optimizer: Callable[[list[np.ndarray]], Any],
    epochs: int,
    *,
    batch_size: int | None = None,
    seed: int = 0,
    every: int = 1,
) -> Snapshots:
    """Train ``model`` in place (mini-batch, shuffled each epoch) and keep snapshots.

    ``make_optimizer(params)`` gets the NumPy views of the trainable parameters
    (``requires_grad``; frozen ones are left unchanged) and returns an optimizer; each
    step calls ``opt.step(grads)`` with ``grads`` the gradients of those parameters.
    A snapshot (and the full-data loss) is kept before training and after
    every ``every`` epochs, and always after the last one.
    """
    named = model_parameters(model)
    check_loss_fn(loss_fn)
    if not callable(make_optimizer):
        raise fail_type("make_optimizer", "a callable params -> optimizer", make_optimizer)
    epochs = check_int(epochs, "epochs", low=1)
    every = check_int(every, "every", low=1)
    Xt, yt = as_data(X, y, named[0][1])
    trainable = trainable_parameters(named)
    params = [named[i][1] for i in trainable]  # frozen parameters stay as they are
    views = parameter_views(model)
    opt = make_optimizer([views[i] for i in trainable])
    if not hasattr(opt, "step"):
        raise fail_type("make_optimizer", "a callable returning an object with .step(grads)", opt)
    rng = np.random.default_rng(check_seed(seed))
    snaps, losses, steps, t = [snapshot(model)], [_full_loss(model, loss_fn, Xt, yt)], [0], 0
    for epoch in range(1, epochs + 1):
        order = torch.as_tensor(rng.permutation(len(Xt)))
        for sl in batch_slices(len(Xt), batch_size):
            rows = order[sl]
            loss = loss_fn(model(Xt[rows]), yt[rows])
            if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
                raise fail_type("loss_fn", "a callable returning a scalar tensor", loss)
            grads = torch.autograd.grad(loss, params, allow_unused=True)
            pairs = zip(grads, params, strict=True)
            grads = [torch.zeros_like(p) if g is None else g for g, p in pairs]
            opt.step([g.detach().numpy() for g in grads])
            t += 1
        if epoch % every == 0 or epoch == epochs:
            snaps.append(snapshot(model))
            losses.append(_full_loss(model, loss_fn, Xt, yt))
            steps.append(t)
    return Snapshots(snaps, np.array(losses), np.array(steps))


def __getattr__(name: str):
    if name == "Trajectory":
        import warnings

        warnings.warn(
            "dlmath.landscape.Trajectory is deprecated; use dlmath.landscape.Snapshots "
            "(the same class, renamed: dlmath.optim.Trajectory is the one Trajectory).",
            DeprecationWarning,
            stacklevel=2,
        )
        return Snapshots
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
