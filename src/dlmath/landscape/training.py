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

from dlmath._checks import check_int, fail, fail_type
from dlmath.landscape._params import as_data, batch_slices, check_loss_fn, model_parameters

__all__ = ["Trajectory", "parameter_views", "snapshot", "train_with_snapshots"]


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
class Trajectory:
    """Snapshots ``theta_0 .. theta_T`` (parameter lists) and the training loss at each."""

    snapshots: list[list[np.ndarray]] = field(repr=False)
    losses: np.ndarray
    steps: np.ndarray

    def __repr__(self) -> str:
        return (
            f"Trajectory(n_snapshots={len(self.snapshots)}, loss {self.losses[0]:.4g} -> "
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
) -> Trajectory:
    """Train ``model`` in place (mini-batch, shuffled each epoch) and keep snapshots.

    ``make_optimizer(params)`` gets the NumPy views of the parameters and returns an
    optimizer; each step calls ``opt.step(grads)`` with ``grads`` the NumPy views of
    ``p.grad``. A snapshot (and the full-data loss) is kept before training and after
    every ``every`` epochs, and always after the last one.
    """
    named = model_parameters(model)
    check_loss_fn(loss_fn)
    if not callable(make_optimizer):
        raise fail_type("make_optimizer", "a callable params -> optimizer", make_optimizer)
    epochs = check_int(epochs, "epochs", low=1)
    every = check_int(every, "every", low=1)
    Xt, yt = as_data(X, y, named[0][1])
    params = [p for _, p in named]
    opt = make_optimizer(parameter_views(model))
    if not hasattr(opt, "step"):
        raise fail_type("make_optimizer", "a callable returning an object with .step(grads)", opt)
    rng = np.random.default_rng(check_int(seed, "seed"))
    snaps, losses, steps, t = [snapshot(model)], [_full_loss(model, loss_fn, Xt, yt)], [0], 0
    for epoch in range(1, epochs + 1):
        order = torch.as_tensor(rng.permutation(len(Xt)))
        for sl in batch_slices(len(Xt), batch_size):
            rows = order[sl]
            grads = torch.autograd.grad(loss_fn(model(Xt[rows]), yt[rows]), params)
            opt.step([g.detach().numpy() for g in grads])
            t += 1
        if epoch % every == 0 or epoch == epochs:
            snaps.append(snapshot(model))
            losses.append(_full_loss(model, loss_fn, Xt, yt))
            steps.append(t)
    return Trajectory(snaps, np.array(losses), np.array(steps))
