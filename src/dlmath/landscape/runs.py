"""Training runs to look at: the same network trained by several optimizers, with the
snapshots a landscape plot needs (:func:`train_runs`), and a grid around a path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlmath._checks import as_float_array, check_int, check_real, check_seed, fail, fail_type
from dlmath.landscape._params import as_data, check_loss_fn, checked_forward, checked_loss
from dlmath.landscape.training import Snapshots, train_with_snapshots

__all__ = ["Run", "plane_grid", "train_runs"]


@dataclass
class Run:
    """One training run: the trained ``model``, its initial weights ``init`` (arrays, in
    ``model.parameters()`` order) and the ``trajectory`` with its snapshots."""

    name: str
    model: nn.Module
    init: list[np.ndarray]
    trajectory: Snapshots

    def __repr__(self) -> str:
        t = self.trajectory
        return (
            f"Run({self.name!r}: {int(t.steps[-1])} steps, loss {float(t.losses[0]):.4g} -> "
            f"{float(t.losses[-1]):.4g}, {len(t.snapshots)} snapshots)"
        )


def train_runs(
    sizes: Sequence[int],
    activation: str,
    X,
    y,
    *,
    epochs: int,
    batch_size: int | None,
    optimizers: Mapping[str, Callable],
    seed: int,
    every: int = 1,
    loss_fn: Callable = F.cross_entropy,
) -> dict[str, Run]:
    """Train the same initial MLP (``dlmath.nets.torch_mlp(sizes, activation, seed=seed)``,
    float64) once per optimizer factory in ``optimizers`` (name -> ``f(params) -> optimizer``),
    keeping a snapshot every ``every`` steps (:func:`train_with_snapshots`)."""
    from dlmath.nets import torch_mlp

    if not isinstance(optimizers, Mapping) or not optimizers:
        raise fail_type(
            "optimizers", "a non-empty mapping name -> f(params) -> optimizer", optimizers
        )
    for name, make in optimizers.items():
        if not isinstance(name, str) or not callable(make):
            raise fail_type("optimizers", "a mapping of names to optimizer factories", optimizers)
    check_int(epochs, "epochs", low=1)
    check_int(every, "every", low=1)
    check_seed(seed)
    check_loss_fn(loss_fn)
    # the first network checks the data against the model and the loss, before any training
    probe = torch_mlp(sizes, activation, seed=seed, dtype=torch.float64)
    Xt, yt = as_data(X, y, next(probe.parameters()))
    with torch.no_grad():
        first = float(checked_loss(loss_fn, checked_forward(probe, Xt), yt))
    if not np.isfinite(first):
        raise fail("loss_fn", "a finite loss at the initial weights", first)
    runs = {}
    for name, make in optimizers.items():
        model = torch_mlp(sizes, activation, seed=seed, dtype=torch.float64)
        init = [p.detach().numpy().copy() for p in model.parameters()]
        traj = train_with_snapshots(
            model, loss_fn, X, y, make, epochs, batch_size=batch_size, seed=seed, every=every
        )
        runs[name] = Run(name, model, init, traj)
    return runs


def plane_grid(trajectory, n: int, margin: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """Two grid axes of ``n`` points covering a projected path ``trajectory`` (T, 2), with a
    ``margin`` (fraction of the path's extent) on every side."""
    trajectory = as_float_array(trajectory, "trajectory", ndim=2, dtype=np.float64)
    if trajectory.shape[1] != 2:
        raise fail("trajectory", "a projected path of shape (T, 2)", trajectory)
    check_int(n, "n", low=2, high=100_000)
    margin = check_real(margin, "margin", low=0.0, high=100.0)
    lo, hi = trajectory.min(axis=0), trajectory.max(axis=0)
    pad = margin * np.maximum(hi - lo, 1e-3)
    a = np.linspace(lo[0] - pad[0], hi[0] + pad[0], n)
    b = np.linspace(lo[1] - pad[1], hi[1] + pad[1], n)
    return a, b
