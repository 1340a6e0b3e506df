"""Loss surfaces: the loss of a model on its data over a grid in a plane (or line) of weights.

For a centre ``theta`` and directions ``d_1 .. d_k``, the loss at grid point ``c`` is

    L(c) = (1/N) sum_b N_b * loss_fn(f(X_b; theta + sum_k c_k d_k), y_b),

the full-data loss assembled from mini-batches ``(X_b, y_b)`` of ``N_b`` rows (exact for a
loss that averages over its batch, torch's default ``reduction="mean"``).

Instead of writing weights into the model point by point, a chunk of C grid points is
evaluated at once: the weights of the chunk are built as tensors of shape (C, *p.shape)
and ``torch.func.vmap`` maps ``torch.func.functional_call`` over them, so the C forward
passes become batched matrix products. (A forward pass big enough to keep the BLAS busy
runs one point at a time instead, in a private copy of the model.) The model itself is
never written to: its
parameters, ``requires_grad`` flags, gradients, buffers and train/eval mode are the same
after the call (and after an exception) as before. The model is evaluated in its current
mode; call ``model.eval()`` first if it has dropout or batch norm.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, vmap
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from tqdm.auto import tqdm

from dlmath._checks import as_float_array, check_int, check_real, fail
from dlmath.landscape._params import (
    as_data,
    as_param_list,
    batch_slices,
    buffers_copy,
    check_loss_fn,
    model_parameters,
)

__all__ = [
    "NonFiniteLossWarning",
    "loss_interpolation",
    "loss_line",
    "loss_points",
    "loss_surface",
]


class NonFiniteLossWarning(RuntimeWarning):
    """Some grid points gave a NaN or infinite loss; they are kept as such in the result."""


class _CountOutputs(TorchDispatchMode):
    """Counts the elements of every tensor an operation produces (an upper bound on memory)."""

    def __init__(self) -> None:
        super().__init__()
        self.elements = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.elements += sum(t.numel() for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor))
        return out


def _elements_per_row(model, loss_fn, params, buffers, X, y) -> int:
    """Elements allocated by one forward + loss on a single row (measured, not guessed)."""
    counter = _CountOutputs()
    with torch.no_grad(), counter:
        loss_fn(functional_call(model, {**params, **buffers}, (X[:1],)), y[:1])
    return max(counter.elements, 1)


#: A forward pass of at least this many multiply-adds (rows x parameters) keeps the BLAS
#: busy on its own; batching such points with vmap adds memory traffic and gains nothing
#: (measured on a 2-core CPU: 0.65x the point-by-point speed for MLP 64-256-256-10 on
#: 1,797 rows), so they run one at a time. Smaller ones are batched, where vmap wins
#: (2.4x for a 2-16-16-2 MLP on 300 rows). A fixed rule, not a timing, keeps Z
#: bit-for-bit reproducible.
_SATURATING_MACS = 2**24


def _auto_chunk(model, loss_fn, names, theta, buffers, Xt, yt, rows, memory_mb) -> int:
    """Grid points per vmap call: 1 for big forward passes, else as many as fit memory_mb."""
    n_params = sum(p.numel() for p in theta)
    if rows * n_params >= _SATURATING_MACS:
        return 1
    per_point = n_params + rows * _elements_per_row(
        model, loss_fn, dict(zip(names, theta, strict=True)), buffers, Xt, yt
    )
    return max(int(memory_mb * 2**20 // (per_point * theta[0].element_size())), 1)


def _vmap_evaluator(model, loss_fn, names, theta, D, buffers):
    """Many points per call: weights stacked as (chunk, *p.shape), ``vmap`` over them."""

    def loss_at(weights: tuple[torch.Tensor, ...], xb: torch.Tensor, yb: torch.Tensor):
        out = functional_call(model, {**dict(zip(names, weights, strict=True)), **buffers}, (xb,))
        return loss_fn(out, yb)

    vmapped = vmap(loss_at, in_dims=(0, None, None))

    def prepare(c: torch.Tensor) -> tuple[torch.Tensor, ...]:
        # weights of the chunk: theta + c @ D, shape (chunk, *p.shape) per parameter
        return tuple(t + torch.tensordot(c, d, dims=1) for t, d in zip(theta, D, strict=True))

    return prepare, vmapped


def _one_point_evaluator(model, loss_fn, names, theta, D):
    """One point per call, its weights written into a private copy of the model.

    For big forward passes this is the cheapest evaluation (no re-parametrization per
    call, no stacked weights); the caller's model is never written to.
    """
    work = copy.deepcopy(model)
    slots = [dict(work.named_parameters())[name] for name in names]

    def prepare(c: torch.Tensor) -> None:
        for p, t, d in zip(slots, theta, D, strict=True):
            p.copy_(t)
            for i in range(d.shape[0]):
                p.add_(d[i], alpha=float(c[0, i]))

    def run(_: None, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        loss = loss_fn(work(xb), yb)
        return loss.reshape(1) if loss.dim() == 0 else loss  # else the caller's shape check fails

    return prepare, run


def _evaluate(
    model: nn.Module,
    loss_fn: Callable,
    X: Any,
    y: Any,
    center: Any,
    directions: Sequence[Any],
    coeffs: np.ndarray,
    *,
    batch_size: int | None,
    chunk_size: int | None,
    memory_mb: float,
    progress: bool,
    desc: str,
) -> np.ndarray:
    """Losses at ``center + coeffs[p] @ directions`` for every row p of ``coeffs`` (P, k)."""
    named = model_parameters(model)
    check_loss_fn(loss_fn)
    like = named[0][1]
    theta = (
        [p.detach() for _, p in named] if center is None else as_param_list(center, named, "center")
    )
    dirs = [as_param_list(d, named, f"directions[{i}]") for i, d in enumerate(directions)]
    Xt, yt = as_data(X, y, like)
    if batch_size is not None:
        check_int(batch_size, "batch_size", low=1)
    check_real(memory_mb, "memory_mb", low=0.0, low_open=True)
    names = [n for n, _ in named]
    buffers = buffers_copy(model)
    # D[p] stacks the k directions of parameter p: shape (k, *p.shape).
    D = [torch.stack([d[i] for d in dirs]) for i in range(len(names))]
    C = torch.as_tensor(coeffs, dtype=like.dtype, device=like.device)
    n_points, n_rows = C.shape[0], Xt.shape[0]
    rows = n_rows if batch_size is None else min(batch_size, n_rows)
    if chunk_size is None:
        chunk_size = _auto_chunk(model, loss_fn, names, theta, buffers, Xt, yt, rows, memory_mb)
    chunk = min(check_int(chunk_size, "chunk_size", low=1), n_points)

    if chunk == 1:
        prepare, run = _one_point_evaluator(model, loss_fn, names, theta, D)
    else:
        prepare, run = _vmap_evaluator(model, loss_fn, names, theta, D, buffers)
    slices = list(batch_slices(n_rows, batch_size))
    Z = np.empty(n_points, dtype=np.float64)
    starts = range(0, n_points, chunk)
    bar = tqdm(starts, desc=desc, leave=False, disable=not progress or len(starts) < 2)
    with torch.no_grad():
        for start in bar:
            c = C[start : start + chunk]  # (chunk, k)
            weights = prepare(c)
            total = torch.zeros(c.shape[0], dtype=torch.float64, device=like.device)
            for sl in slices:
                losses = run(weights, Xt[sl], yt[sl])
                if losses.shape != (c.shape[0],):
                    raise fail(
                        "loss_fn",
                        "a function returning one scalar per call",
                        f"output of shape {tuple(losses.shape[1:])}",
                        described=True,
                    )
                total += (sl.stop - sl.start) * losses.double()
            Z[start : start + c.shape[0]] = (total / n_rows).cpu().numpy()
    bad = ~np.isfinite(Z)
    if bad.any():
        warnings.warn(
            f"{int(bad.sum())} of {Z.size} losses are not finite (NaN or inf); they are "
            "kept as such in the result (mask them when plotting).",
            NonFiniteLossWarning,
            stacklevel=3,
        )
    return Z


def _directions(directions: Any, k: int) -> Sequence[Any]:
    if isinstance(directions, (str, bytes)) or not isinstance(directions, Sequence):
        raise fail("directions", f"a sequence of {k} directions", directions)
    if len(directions) != k:
        raise fail(
            "directions",
            f"a sequence of {k} directions (parameter lists)",
            f"{len(directions)} item(s)",
            described=True,
        )
    return directions


def loss_surface(
    model: nn.Module,
    loss_fn: Callable,
    X: Any,
    y: Any,
    directions: Sequence[Any],
    alphas: Any,
    betas: Any,
    *,
    center: Any = None,
    batch_size: int | None = None,
    chunk_size: int | None = None,
    memory_mb: float = 16.0,
    progress: bool = True,
) -> np.ndarray:
    """``Z[i, j] = L(theta + alphas[i] d1 + betas[j] d2)`` over all data, shape (len(a), len(b)).

    Parameters
    ----------
    model : any ``nn.Module``; read, never modified.
    loss_fn : ``loss_fn(output, y) -> scalar`` averaged over the batch (``F.cross_entropy``).
    X, y : data, batch first, same length (arrays or tensors).
    directions : ``(d1, d2)``, each a parameter list (see :func:`random_direction`).
    alphas, betas : 1-D grids of coefficients, non-empty.
    center : ``theta`` as a parameter list (default: the model's current parameters).
    batch_size : rows per mini-batch (default: all rows at once).
    chunk_size : grid points evaluated together (default: one point per call when a
        forward pass is big enough to keep the BLAS busy, rows x parameters >= 2**24, where
        batching does not pay on a CPU; otherwise as many as fit in ``memory_mb``, since
        per-call overhead dominates small models).
    progress : show a progress bar over chunks.

    Non-finite losses stay NaN/inf in ``Z`` and raise one :class:`NonFiniteLossWarning`.
    """
    d1, d2 = _directions(directions, 2)
    a = as_float_array(alphas, "alphas", ndim=1)
    b = as_float_array(betas, "betas", ndim=1)
    A, B = np.meshgrid(a, b, indexing="ij")
    coeffs = np.stack([A.ravel(), B.ravel()], axis=1)
    Z = _evaluate(
        model,
        loss_fn,
        X,
        y,
        center,
        (d1, d2),
        coeffs,
        batch_size=batch_size,
        chunk_size=chunk_size,
        memory_mb=memory_mb,
        progress=progress,
        desc="loss surface",
    )
    return Z.reshape(len(a), len(b))


def loss_points(
    model: nn.Module,
    loss_fn: Callable,
    X: Any,
    y: Any,
    directions: Sequence[Any],
    coords: Any,
    *,
    center: Any = None,
    batch_size: int | None = None,
    chunk_size: int | None = None,
    memory_mb: float = 16.0,
    progress: bool = True,
) -> np.ndarray:
    """``Z[p] = L(theta + sum_k coords[p, k] d_k)`` at arbitrary points, shape (P,).

    ``coords`` has shape (P, k) for ``k = len(directions)`` directions (e.g. a trajectory
    projected on PCA directions, to draw it on the surface).
    """
    dirs = _directions(directions, len(directions) if isinstance(directions, Sequence) else 1)
    c = as_float_array(coords, "coords", ndim=2)
    if c.shape[1] != len(dirs):
        raise fail("coords", f"of shape (P, {len(dirs)}) (one column per direction)", c)
    return _evaluate(
        model,
        loss_fn,
        X,
        y,
        center,
        dirs,
        c,
        batch_size=batch_size,
        chunk_size=chunk_size,
        memory_mb=memory_mb,
        progress=progress,
        desc="loss at points",
    )


def loss_line(
    model: nn.Module,
    loss_fn: Callable,
    X: Any,
    y: Any,
    direction: Any,
    alphas: Any,
    *,
    center: Any = None,
    batch_size: int | None = None,
    chunk_size: int | None = None,
    memory_mb: float = 16.0,
    progress: bool = True,
) -> np.ndarray:
    """``Z[i] = L(theta + alphas[i] d)``, shape (len(alphas),): a 1-D :func:`loss_surface`."""
    a = as_float_array(alphas, "alphas", ndim=1)
    return _evaluate(
        model,
        loss_fn,
        X,
        y,
        center,
        (direction,),
        a[:, None],
        batch_size=batch_size,
        chunk_size=chunk_size,
        memory_mb=memory_mb,
        progress=progress,
        desc="loss line",
    )


def loss_interpolation(
    model: nn.Module,
    loss_fn: Callable,
    X: Any,
    y: Any,
    start: Any,
    end: Any,
    alphas: Any,
    *,
    batch_size: int | None = None,
    chunk_size: int | None = None,
    memory_mb: float = 16.0,
    progress: bool = True,
) -> np.ndarray:
    """Loss along ``theta(a) = (1 - a) theta_start + a theta_end``, shape (len(alphas),).

    ``start`` and ``end`` are parameter lists or modules with ``model``'s architecture
    (e.g. the initial and the trained network); ``model`` supplies the architecture only.
    ``a = 0`` is ``start``, ``a = 1`` is ``end``; values outside [0, 1] extrapolate.
    """
    named = model_parameters(model)
    theta0 = as_param_list(start, named, "start")
    theta1 = as_param_list(end, named, "end")
    direction = [t1 - t0 for t0, t1 in zip(theta0, theta1, strict=True)]
    a = as_float_array(alphas, "alphas", ndim=1)
    return _evaluate(
        model,
        loss_fn,
        X,
        y,
        theta0,
        (direction,),
        a[:, None],
        batch_size=batch_size,
        chunk_size=chunk_size,
        memory_mb=memory_mb,
        progress=progress,
        desc="interpolation",
    )
