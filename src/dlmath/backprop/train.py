"""Minibatch SGD driven by the hand-written backward pass (no autograd anywhere)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dlmath._checks import as_float_array, check_int, check_real, check_seed, fail, fail_type, named

__all__ = ["History", "sgd_step", "train"]


def sgd_step(params: dict[str, np.ndarray], grads: dict[str, np.ndarray], lr: float) -> None:
    """``theta <- theta - lr * dL/dtheta`` for every parameter, in place (the name says so).

    Checked first (nothing changes on a bad call): ``grads`` has the keys of ``params``,
    each gradient the shape of its parameter and finite; ``params`` are writeable float
    arrays; ``lr >= 0``. A step that overflows raises ``FloatingPointError`` naming the
    parameter.
    """
    with named("sgd_step()"):
        lr = check_real(lr, "lr", low=0.0)
        if not isinstance(params, Mapping):
            raise fail_type("params", "a dict of float arrays (like MLP.params)", params)
        if not params:
            raise fail("params", "a non-empty dict of float arrays", params)
        if not isinstance(grads, Mapping) or set(grads) != set(params):
            raise fail("grads", f"a dict with the keys {sorted(params)}", grads)
        checked = {}
        for k, p in params.items():
            if not isinstance(p, np.ndarray) or p.dtype.kind != "f" or not p.flags.writeable:
                raise fail(f"params[{k!r}]", "a writeable float array", p)
            g = as_float_array(grads[k], f"grads[{k!r}]", allow_empty=True)
            if g.shape != p.shape:
                raise fail(f"grads[{k!r}]", f"of shape {p.shape} (its parameter's)", g)
            checked[k] = g
    with np.errstate(over="ignore", invalid="ignore"):
        for k, p in params.items():
            p -= (p.dtype.type(lr) * checked[k]).astype(p.dtype, copy=False)
    for k, p in params.items():
        if not np.isfinite(p).all():
            raise FloatingPointError(
                f"sgd_step(): 'params[{k!r}]' became non-finite (lr={lr:g}); lower 'lr'."
            )


@dataclass
class History:
    """Per-epoch training record: mean minibatch loss, held-out loss and accuracy."""

    train_loss: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    def __repr__(self) -> str:
        if not self.epochs:
            return "History(0 epochs)"
        acc = f", test acc {self.test_acc[-1]:.4f}" if self.test_acc else ""
        return f"History({self.epochs} epochs, train loss {self.train_loss[-1]:.4f}{acc})"


def train(
    mlp,
    X: Any,
    y: Any,
    *,
    epochs: int = 20,
    batch_size: int = 32,
    lr: float = 0.1,
    seed: int = 0,
    X_test: Any = None,
    y_test: Any = None,
    progress=None,
) -> History:
    """Train ``mlp`` in place with minibatch SGD on shuffled (X, y), one record per epoch.

    Each step: ``loss, grads = mlp.loss_and_grads(X_batch, y_batch)`` then ``sgd_step``.
    ``progress`` optionally wraps the epoch loop (e.g. a lab's ``ctx.progress``).
    """
    from dlmath.backprop.mlp import check_mlp

    mlp = check_mlp(mlp)
    X = mlp.check_X(X)
    y = mlp.check_y(y, len(X))
    has_test = X_test is not None
    if has_test:
        X_test = mlp.check_X(X_test)
        y_test = mlp.check_y(y_test, len(X_test))
    epochs = check_int(epochs, "epochs", low=1)
    batch_size = check_int(batch_size, "batch_size", low=1)
    lr = check_real(lr, "lr", low=0.0, low_open=True)
    rng = np.random.default_rng(check_seed(seed))
    history = History()
    loop = range(epochs) if progress is None else progress(range(epochs), "epochs")
    classify = mlp.loss == "cross_entropy"
    for _ in loop:
        order = rng.permutation(len(X))
        losses, sizes = [], []
        for start in range(0, len(X), batch_size):
            rows = order[start : start + batch_size]
            loss, grads = mlp.loss_and_grads(X[rows], y[rows])
            if not np.isfinite(loss):
                raise FloatingPointError(f"training diverged (loss {loss}); lower 'lr' ({lr}).")
            sgd_step(mlp.params, grads, lr)
            losses.append(loss)
            sizes.append(len(rows))
        history.train_loss.append(float(np.average(losses, weights=sizes)))
        if classify:
            history.train_acc.append(mlp.accuracy(X, y))
        if has_test:
            history.test_loss.append(mlp.loss_value(X_test, y_test))
            if classify:
                history.test_acc.append(mlp.accuracy(X_test, y_test))
    return history
