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

from dlmath._checks import check_choice, check_int, fail

__all__ = [
    "ACTIVATIONS",
    "accuracy",
    "single_thread",
    "torch_activation",
    "torch_mlp",
    "train_full_batch",
]

ACTIVATIONS = ("relu", "tanh", "sigmoid", "gelu")


def torch_activation(name: str) -> nn.Module:
    """The torch module for an activation name (gelu is the exact erf form, torch's default)."""
    check_choice(name, "activation", ACTIVATIONS)
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
    sizes = list(sizes) if not isinstance(sizes, (str, bytes)) else sizes
    if not isinstance(sizes, list) or len(sizes) < 2:
        raise fail("sizes", "a sequence of at least 2 layer widths", sizes)
    for i, width in enumerate(sizes):
        check_int(width, f"sizes[{i}]", low=1)
    check_choice(activation, "activation", ACTIVATIONS)
    check_int(seed, "seed")
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


@torch.no_grad()
def accuracy(model: nn.Module, X, y) -> float:
    """Fraction of the rows of ``X`` (n, d) whose arg-max output is the label ``y`` (n,)."""
    X, y = torch.as_tensor(X), np.asarray(y)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValueError(
            f"'X' and 'y' must have shapes (n, d) and (n,); got {tuple(X.shape)} and {y.shape}."
        )
    return float((model(X).argmax(dim=1).numpy() == y).mean())


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
    ``model`` (trained in place, single-threaded); returns the last loss."""
    check_int(steps, "steps", low=0)
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    loss = torch.tensor(float("nan"))
    with single_thread():
        for _ in range(steps):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(Xt), yt)
            loss.backward()
            opt.step()
    return float(loss.detach())
