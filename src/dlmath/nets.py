"""Small PyTorch networks shared by the labs, built the same way everywhere.

``torch_mlp`` is the PyTorch twin of :class:`dlmath.backprop.MLP`: ``nn.Linear`` layers
(weights of shape (out, in), ``Z = X @ W.T + b``) with the activation between them and
none after the last layer, so parameters copy between the two unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from torch import nn

from dlmath._checks import (
    as_float_array,
    as_label_array,
    check_choice,
    check_int,
    check_real,
    check_seed,
    fail,
    fail_type,
)

__all__ = [
    "ACTIVATIONS",
    "accuracy",
    "single_thread",
    "torch_activation",
    "torch_mlp",
    "train_full_batch",
]

# One ACTIVATIONS in dlmath: the names (and NumPy derivatives) of dlmath.backprop's table.
from dlmath.backprop.layers import ACTIVATIONS  # noqa: E402


def torch_activation(name: str) -> nn.Module:
    """The torch module for an activation name (gelu is the exact erf form, torch's default)."""
    check_choice(name, "name", ACTIVATIONS)
    return {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU}[name]()


def torch_mlp(
    sizes: Sequence[int],
    activation: str = "relu",
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> nn.Sequential:
    """An MLP ``sizes[0] -> ... -> sizes[-1]`` as ``nn.Sequential(Linear, act, ..., Linear)``.

    Initialized with torch's default ``nn.Linear`` initialization under a private
    generator seeded by ``seed`` (the global torch RNG is left untouched).
    """
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
        raise fail_type("sizes", "a sequence of at least 2 layer widths", sizes)
    sizes = list(sizes)
    if len(sizes) < 2:
        raise fail("sizes", "a sequence of at least 2 layer widths", sizes)
    for i, width in enumerate(sizes):
        check_int(width, f"sizes[{i}]", low=1)
    check_choice(activation, "activation", ACTIVATIONS)
    check_seed(seed)
    layers: list[nn.Module] = []
    # nn.Linear initializes from the global RNG; fork it so a user's RNG stream is untouched.
    with torch.random.fork_rng(devices=[]):
        for i, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
            layers.append(nn.Linear(d_in, d_out, dtype=dtype))
            if i < len(sizes) - 2:
                layers.append(torch_activation(activation))
    model = nn.Sequential(*layers)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in model:
            if isinstance(layer, nn.Linear):
                bound = 1.0 / layer.in_features**0.5  # nn.Linear's default: U(-1/sqrt(in), ..)
                layer.weight.uniform_(-bound, bound, generator=gen)
                layer.bias.uniform_(-bound, bound, generator=gen)
    return model


def _classifier_data(model: nn.Module, X, y) -> tuple[torch.Tensor, torch.Tensor]:
    """Checked inputs (n, d) in the model's dtype and integer labels (n,)."""
    from dlmath.landscape._params import model_parameters

    like = model_parameters(model)[0][1]
    X = as_float_array(X, "X", ndim=2)
    labels = as_label_array(y, "y", n=len(X))
    return torch.as_tensor(np.array(X, copy=True), dtype=like.dtype), torch.as_tensor(labels)


@torch.no_grad()
def accuracy(model: nn.Module, X, y) -> float:
    """Fraction of the rows of ``X`` (n, d) whose arg-max output is the label ``y`` (n,)."""
    from dlmath.landscape._params import checked_forward

    Xt, yt = _classifier_data(model, X, y)
    out = checked_forward(model, Xt)
    if out.ndim != 2 or out.shape[0] != len(Xt):
        raise fail("model", "a classifier with outputs of shape (n, classes)", out, described=False)
    return float((out.argmax(dim=1) == yt).double().mean())


@contextmanager
def single_thread() -> Iterator[None]:
    """Run torch and the BLAS/LAPACK libraries on one thread, then restore the settings.

    The labs' matrices and MLPs are small. On a busy machine a threaded BLAS spins far
    longer than the work takes (measured on a shared 2-core machine: 16 s with 2 torch
    threads vs 0.6 s with 1 for the same training run; a 256x74 thin QR 560 ms vs 0.7 ms).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(before)


def train_full_batch(model: nn.Module, X, y, steps: int, lr: float) -> float:
    """Full-batch ``torch.optim.Adam`` on cross-entropy over the trainable parameters of
    ``model`` (trained in place, single-threaded); returns the last loss.

    A step that makes the loss non-finite raises ``FloatingPointError`` naming ``lr``.
    """
    from dlmath.landscape._params import checked_forward, checked_loss

    Xt, yt = _classifier_data(model, X, y)
    check_int(steps, "steps", low=0)
    lr = check_real(lr, "lr", low=0.0, high=1e3, low_open=True)
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise fail("model", "a model with trainable parameters", "every parameter frozen",
                   described=True)  # fmt: skip
    loss_fn = nn.functional.cross_entropy
    with torch.no_grad():
        loss = checked_loss(loss_fn, checked_forward(model, Xt), yt)  # checks y against model
    opt = torch.optim.Adam(trainable, lr=lr)
    with single_thread():
        for step in range(steps):
            opt.zero_grad()
            loss = loss_fn(model(Xt), yt)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"'lr' = {lr:g} made the training loss {float(loss)} at step {step}: "
                    "a smaller learning rate is needed."
                )
            loss.backward()
            opt.step()
    return float(loss.detach())
