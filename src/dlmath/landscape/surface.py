"""Loss surfaces: the loss of a model on its data over a grid in a plane (or line) of weights.

For a centre ``theta`` and directions ``d_1 .. d_k``, the loss at grid point ``c`` is

    L(c) = (1/N) sum_b N_b * loss_fn(f(X_b; theta + sum_k c_k d_k), y_b),

the full-data loss assembled from mini-batches ``(X_b, y_b)`` of ``N_b`` rows (exact for a
loss that averages over its batch, torch's default ``reduction="mean"``).

The grid is cut into chunks of consecutive points, each evaluated by one chunk function
(:mod:`dlmath.landscape.engines`): for a forward pass big enough to keep the BLAS busy, one
point at a time with its weights written in place into a private copy of the model; for
smaller ones, C points at once with ``torch.func.vmap`` over ``functional_call`` (C forward
passes become batched matrix products). ``engine="ray"`` runs the same chunk function on
Ray actors (:mod:`dlmath.landscape._ray`), and ``store=`` keeps finished chunks on disk so a
call can resume (:mod:`dlmath.landscape.store`). The model itself is never written to: its
parameters, ``requires_grad`` flags, gradients, buffers and train/eval mode are the same
after the call (and after an exception) as before. Models whose output depends on the
train/eval mode (BatchNorm, Dropout) must be in eval mode (``model.eval()``): the loss
would otherwise depend on the batching and on the random state.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from dlmath._checks import as_float_array, check_int, check_real, fail
from dlmath.landscape._params import (
    as_data,
    as_param_list,
    check_eval_mode,
    check_loss_fn,
    model_parameters,
)
from dlmath.landscape.engines import (
    GridPointError,
    LocalEngine,
    WorkerLostError,
    _PointFailure,
    digest,
    make_plan,
    make_problem,
)
from dlmath.landscape.store import ChunkStore

__all__ = [
    "GridPointError",
    "NonFiniteLossWarning",
    "WorkerLostError",
    "loss_interpolation",
    "loss_line",
    "loss_points",
    "loss_surface",
]


class NonFiniteLossWarning(RuntimeWarning):
    """Some grid points gave a NaN or infinite loss; they are kept as such in the result."""


def _loss_identity(fn: Any) -> list:
    """What identifies a loss function across runs (for the store's fingerprint)."""
    if isinstance(fn, functools.partial):
        return [
            "partial",
            _loss_identity(fn.func),
            repr(fn.args),
            repr(sorted(fn.keywords.items())),
        ]
    parts = [type(fn).__module__, type(fn).__qualname__]
    if isinstance(fn, nn.Module):
        parts.append(repr(fn))
    parts += [getattr(fn, "__module__", None), getattr(fn, "__qualname__", None)]
    code = getattr(fn, "__code__", None)
    if code is not None:
        consts = [c for c in code.co_consts if not hasattr(c, "co_code")]
        parts += [code.co_code.hex(), repr(consts)]
    return parts


def _fingerprint(model, loss_fn, problem, engine, plan) -> dict[str, str]:
    names = [n for n, _ in model.named_parameters()]
    return {
        "model": digest(
            type(model).__qualname__,
            repr(model),
            [m.training for m in model.modules()],
            names,
            list(problem.buffers.values()),
        ),
        "center": digest(problem.theta),
        "directions": digest(problem.D),
        "data": digest(engine.data_digest, problem.batch_size),
        "grid": digest(problem.coeffs),
        "loss": digest(_loss_identity(loss_fn)),
        "plan": digest(engine.call_size, plan),
    }


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
    engine: str | None,
    workers: int | None,
    store: str | os.PathLike | None,
    point_name: Callable[[int], str],
    direction_names: Sequence[str] | None = None,
) -> np.ndarray:
    """Losses at ``center + coeffs[p] @ directions`` for every row p of ``coeffs`` (P, k).

    ``direction_names`` are the caller's argument names for the directions, used in error
    messages (default ``directions[i]``)."""
    named = model_parameters(model)
    check_loss_fn(loss_fn)
    if engine is not None and not (isinstance(engine, str) and engine == "ray"):
        raise fail("engine", "None (evaluate in this process) or 'ray'", engine)
    if workers is not None:
        if engine != "ray":
            raise fail("workers", "None unless engine='ray'", workers)
        check_int(workers, "workers", low=1)
    check_eval_mode(model)  # BatchNorm / Dropout in train mode: refused, by name
    like = named[0][1]
    theta = (
        [p.detach().clone() for _, p in named]
        if center is None
        else as_param_list(center, named, "center")
    )
    names = direction_names or [f"directions[{i}]" for i in range(len(directions))]
    dirs = [as_param_list(d, named, n) for d, n in zip(directions, names, strict=True)]
    data = None
    if callable(X) and not isinstance(X, (np.ndarray, torch.Tensor)):
        if y is not None:
            raise fail("y", "None when 'X' is a data factory (it returns X and y)", y)
        data, X = X, None
    else:
        X, y = as_data(X, y, like)
    if batch_size is not None:
        check_int(batch_size, "batch_size", low=1)
    if chunk_size is not None:
        check_int(chunk_size, "chunk_size", low=1)
    check_real(memory_mb, "memory_mb", low=0.0, low_open=True)
    names = [n for n, _ in named]
    # D[i] stacks the k directions of parameter i: shape (k, *p.shape).
    D = [torch.stack([d[i] for d in dirs]) for i in range(len(names))]
    problem = make_problem(
        model,
        loss_fn,
        names,
        theta,
        D,
        coeffs,
        X,
        y,
        data,
        batch_size=batch_size,
        chunk_size=chunk_size,
        memory_mb=memory_mb,
    )
    n_points = coeffs.shape[0]
    Z = np.full(n_points, np.nan)
    runner = None
    try:
        if engine == "ray":
            from dlmath.landscape._ray import RayEngine

            runner = RayEngine(problem, workers)
        else:
            runner = LocalEngine(problem)
        plan = make_plan(n_points, runner.call_size)
        chunks = None
        if store is not None:
            chunks = ChunkStore(store, _fingerprint(model, loss_fn, problem, runner, plan), plan)
        done = chunks.load() if chunks is not None else {}
        for (start, stop), values in done.items():
            Z[start:stop] = values
        todo = [c for c in plan if c not in done]
        n_done = sum(stop - start for start, stop in done)
        bar = tqdm(
            total=n_points, initial=n_done, desc=desc, unit="pt", leave=False, disable=not progress
        )

        def on_done(start: int, stop: int, values: np.ndarray) -> None:
            Z[start:stop] = values
            if chunks is not None:
                chunks.save(start, stop, values)
            bar.update(stop - start)

        try:
            runner.run(todo, on_done)
        except _PointFailure as f:
            kept = ""
            if chunks is not None:
                kept = (
                    f"; the finished chunks are kept in the store {str(store)!r} (a rerun with "
                    "the same store computes only the rest)"
                )
            which = (
                f"grid point {point_name(f.lo)}"
                if f.hi - f.lo == 1
                else f"one of grid points {point_name(f.lo)} .. {point_name(f.hi - 1)} (one "
                f"vmap call; chunk_size=1 evaluates them one at a time)"
            )
            raise GridPointError(
                f"loss_fn or the model raised {type(f.error).__name__}: {f.error} at {which}{kept}",
                range(f.lo, f.hi),
                coeffs[f.lo : f.hi],
            ) from f.error
        finally:
            bar.close()
    finally:
        if runner is not None:
            runner.close()
    bad = ~np.isfinite(Z)
    if bad.any():
        warnings.warn(
            f"{int(bad.sum())} of {Z.size} losses are not finite (NaN or inf); they are "
            "kept as such in the result (mask them when plotting).",
            NonFiniteLossWarning,
            stacklevel=3,
        )
    return Z


def _flat_point(coeffs: np.ndarray) -> Callable[[int], str]:
    return lambda p: f"{p} (coefficients {np.array2string(coeffs[p], separator=', ')})"


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
    engine: str | None = None,
    workers: int | None = None,
    store: str | os.PathLike | None = None,
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
    progress : show a progress bar over grid points.
    engine : None (evaluate in this process) or ``"ray"``: Ray actors, each with a copy of
        the model and the data, evaluate chunks of grid points handed out as workers free
        up; one actor per GPU (``num_gpus=1``) if the cluster has GPUs, else one per CPU
        slot. Uses the cluster ``ray.init()`` started or ``RAY_ADDRESS`` names, else starts
        a local one (and shuts down only that). A dying worker is replaced and its chunk
        retried (twice, then :class:`WorkerLostError` names the points). ``Z`` is the same
        as the local engine's, bit for bit on CPU (both run the same chunk function on
        the same chunks); on GPUs, cuBLAS may differ from the CPU in the last bits.
        Needs ``pip install 'dlmath[distributed]'``.
    workers : number of Ray actors (``engine="ray"`` only; default as above).
    store : a folder that keeps every finished chunk (an ``.npz`` per chunk plus
        ``index.json``, each written atomically): a later call with the same store and the
        same model, data, directions, grid, loss and chunking computes only the missing
        chunks; a store made for other inputs is refused (ValueError naming what differs).

    ``X`` may also be a zero-argument function returning ``(X, y)``, with ``y=None``: each
    worker calls it itself, for data too large to ship. If ``loss_fn`` or the model raises,
    :class:`GridPointError` (a RuntimeError, the original exception as its cause) names
    the grid point, after every finished chunk was stored. A model with BatchNorm, Dropout,
    or InstanceNorm in train mode is refused: call ``model.eval()`` first.
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
        engine=engine,
        workers=workers,
        store=store,
        point_name=lambda p: (
            f"Z[{p // len(b)}, {p % len(b)}] (alpha={a[p // len(b)]:g}, beta={b[p % len(b)]:g})"
        ),
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
    engine: str | None = None,
    workers: int | None = None,
    store: str | os.PathLike | None = None,
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
        engine=engine,
        workers=workers,
        store=store,
        point_name=_flat_point(c),
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
    engine: str | None = None,
    workers: int | None = None,
    store: str | os.PathLike | None = None,
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
        engine=engine,
        workers=workers,
        store=store,
        point_name=lambda p: f"{p} (alpha={a[p]:g})",
        direction_names=("direction",),
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
    engine: str | None = None,
    workers: int | None = None,
    store: str | os.PathLike | None = None,
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
        engine=engine,
        workers=workers,
        store=store,
        point_name=lambda p: f"{p} (alpha={a[p]:g})",
    )
