"""Loss surfaces: the loss of a model on its data over a grid in a plane (or line) of weights.

For a centre ``theta`` and directions ``d_1 .. d_k``, the loss at grid point ``c`` is

    L(c) = (1/N) sum_b N_b * loss_fn(f(X_b; theta + sum_k c_k d_k), y_b),

the full-data loss assembled from mini-batches ``(X_b, y_b)`` of ``N_b`` rows (exact for a
loss that averages over its batch, torch's default ``reduction="mean"``).

The grid is cut into chunks of consecutive points, each evaluated by one chunk function
(:mod:`dlmath.landscape.engines`): for a forward pass big enough to keep the BLAS busy, one
point at a time with its weights written in place into a private copy of the model; for
smaller ones, C points at once with ``torch.func.vmap`` over ``functional_call`` (C forward
passes become batched matrix products). ``engine="ray"`` (or a :class:`RayWorkers` pool)
runs the same chunk function on Ray actors (:mod:`dlmath.landscape._ray`), and ``store=``
keeps finished chunks on disk so a call can resume (:mod:`dlmath.landscape.store`). The
model itself is never written to: its parameters, ``requires_grad`` flags, gradients,
buffers and train/eval mode are the same after the call (and after an exception) as before.
Models whose output depends on the train/eval mode (BatchNorm, Dropout) must be in eval
mode (``model.eval()``): the loss would otherwise depend on the batching and on the random
state.
"""

from __future__ import annotations

import functools
import os
import types
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from dlmath._checks import as_float_array, check_int, check_real, fail, fail_type
from dlmath.landscape._params import (
    as_data,
    as_param_list,
    check_eval_mode,
    check_loss_fn,
    model_parameters,
)
from dlmath.landscape._ray import RayEngine, RayWorkers
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


_PLAIN = (bool, int, float, complex, str, bytes, type(None), np.generic)
_MAX_DEPTH = 4  # closures of closures: beyond this, a callable counts by its name only


def _is_plain(v: Any) -> bool:
    """Numbers, strings, bools, None, tensors, numeric arrays and tuples of them."""
    if isinstance(v, (*_PLAIN, torch.Tensor)):
        return True
    if isinstance(v, np.ndarray):
        return v.dtype != object
    return isinstance(v, tuple) and all(_is_plain(x) for x in v)


def _plain_attrs(obj: Any) -> list:
    """The plain-value entries of ``obj.__dict__`` (see :func:`_is_plain`), sorted by name."""
    attrs = getattr(obj, "__dict__", None)
    if not isinstance(attrs, dict):
        return []
    return [[k, v] for k, v in sorted(attrs.items(), key=lambda kv: str(kv[0])) if _is_plain(v)]


def _module_identity(m: nn.Module) -> list:
    """Every submodule's class and plain attributes (``label_smoothing``, ``eps``, ...) and
    the module's state_dict (``weight`` of a loss): what a module's values depend on."""
    state = m.state_dict()
    return [
        [[name, type(s).__module__, type(s).__qualname__, _plain_attrs(s)]
         for name, s in m.named_modules()],
        list(state),
        [v for v in state.values() if isinstance(v, torch.Tensor)],
    ]  # fmt: skip


def _named(v: Any) -> list:
    return [getattr(v, "__module__", None), getattr(v, "__qualname__", type(v).__qualname__)]


def _code_identity(code: types.CodeType) -> list:
    """Bytecode, constants (nested code objects recursively) and the names it looks up."""
    consts = []
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            consts.append(_code_identity(c))
        elif isinstance(c, frozenset):  # its repr's order varies with the hash seed
            consts.append(sorted(map(repr, c)))
        else:
            consts.append(repr(c))
    return [code.co_code.hex(), list(code.co_names), consts]


def _code_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names |= _code_names(c)
    return names


def _value_identity(v: Any, depth: int) -> Any:
    """A value a loss depends on (closure cell, default, partial argument, global)."""
    if _is_plain(v):
        return v
    if depth > _MAX_DEPTH:  # a container holding itself, or deeply nested
        return ["deep", type(v).__module__, type(v).__qualname__]
    if isinstance(v, types.ModuleType):
        return ["module", v.__name__]
    if isinstance(v, type):
        return ["class", *_named(v)]
    if isinstance(v, (list, dict)):
        items = v.items() if isinstance(v, dict) else enumerate(v)
        return [type(v).__name__, [[repr(k), _value_identity(x, depth + 1)] for k, x in items]]
    if callable(v) or isinstance(v, nn.Module):
        return _loss_identity(v, depth + 1)
    return ["object", type(v).__module__, type(v).__qualname__, _plain_attrs(v)]


def _global_identity(v: Any, depth: int) -> Any:
    """A global a loss's code refers to: plain values and tensors by value, modules (of
    torch or user code) by their values, functions and classes by qualified name."""
    if isinstance(v, nn.Module) or _is_plain(v):
        return _value_identity(v, depth)
    if isinstance(v, types.ModuleType):
        return ["module", v.__name__]
    if callable(v) and hasattr(v, "__qualname__"):
        return ["named", *_named(v)]
    return ["object", type(v).__module__, type(v).__qualname__, _plain_attrs(v)]


def _loss_identity(fn: Any, depth: int = 0) -> list:
    """What identifies a loss function across runs (for the store's fingerprint).

    A function: its bytecode, constants, the names it looks up, the globals among them
    (:func:`_global_identity`), its defaults and its closure's values. A ``partial``: the
    function and its arguments; a bound method: the function and its object; an
    ``nn.Module``: its class, ``forward`` and :func:`_module_identity`; another callable
    object: its class, ``__call__`` and plain attributes. Values are digested, never
    repr'd (a tensor's repr elides its middle)."""
    if depth > _MAX_DEPTH:
        return ["deep", *_named(fn)]
    if isinstance(fn, functools.partial):
        return [
            "partial",
            _loss_identity(fn.func, depth + 1),
            [_value_identity(a, depth + 1) for a in fn.args],
            [[k, _value_identity(v, depth + 1)] for k, v in sorted(fn.keywords.items())],
        ]
    if isinstance(fn, types.MethodType):
        return [
            "method",
            _loss_identity(fn.__func__, depth + 1),
            _value_identity(fn.__self__, depth + 1),
        ]
    if isinstance(fn, types.FunctionType):
        code = fn.__code__
        scope = fn.__globals__
        cells = []
        for cell in fn.__closure__ or ():
            try:
                cells.append(_value_identity(cell.cell_contents, depth + 1))
            except ValueError:  # an empty cell
                cells.append("<empty>")
        return [
            "function",
            *_named(fn),
            _code_identity(code),
            [
                [n, _global_identity(scope[n], depth + 1)]
                for n in sorted(_code_names(code))
                if n in scope
            ],
            _value_identity(fn.__defaults__, depth + 1),
            [
                [k, _value_identity(v, depth + 1)]
                for k, v in sorted((fn.__kwdefaults__ or {}).items())
            ],
            cells,
        ]
    kind = type(fn)
    if isinstance(fn, nn.Module):
        forward = getattr(kind, "forward", None)
        return [
            "module",
            kind.__module__,
            kind.__qualname__,
            repr(fn),
            _module_identity(fn),
            _loss_identity(forward, depth + 1) if isinstance(forward, types.FunctionType) else None,
        ]
    if isinstance(fn, (types.BuiltinFunctionType, types.BuiltinMethodType, type)):
        return ["named", *_named(fn)]
    call = next((vars(c)["__call__"] for c in kind.__mro__ if "__call__" in vars(c)), None)
    return [
        "object",
        kind.__module__,
        kind.__qualname__,
        _plain_attrs(fn),
        _loss_identity(call, depth + 1) if isinstance(call, types.FunctionType) else None,
    ]


def _loss_digest(loss_fn: Callable, store_key: str | None) -> str:
    if store_key is not None:
        return digest(["store_key", store_key])
    try:
        return digest(_loss_identity(loss_fn))
    except Exception as exc:  # an attribute NumPy cannot read (a sparse tensor), ...
        raise ValueError(
            f"'loss_fn' cannot be fingerprinted for the store ({type(exc).__name__}: {exc}); "
            "pass store_key='a name for this loss' to identify it yourself."
        ) from exc


def _fingerprint(model, loss_fn, problem, engine, plan, store_key=None) -> dict[str, str]:
    names = [n for n, _ in model.named_parameters()]
    return {
        "model": digest(
            type(model).__qualname__,
            repr(model),
            [m.training for m in model.modules()],
            names,
            list(problem.buffers.values()),
            [[n, _plain_attrs(m)] for n, m in model.named_modules()],
        ),
        "center": digest(problem.theta),
        "directions": digest(problem.D),
        "data": digest(engine.data_digest, problem.batch_size),
        "grid": digest(problem.coeffs),
        "loss": _loss_digest(loss_fn, store_key),
        "plan": digest(engine.call_size, plan),
    }


def _check_reach(theta, dirs, coeffs: np.ndarray, coeff_names: str) -> None:
    """Refuse, by name, grid coefficients that take the weights beyond the parameters'
    float range: ``max |theta| + sum_k max |c_k| max |d_k|`` must stay finite there."""
    c = np.abs(coeffs).max(axis=0)  # (k,)
    for t, *ds in zip(theta, *dirs, strict=True):
        bound = float(t.abs().max()) if t.numel() else 0.0
        for ck, d in zip(c, ds, strict=True):
            bound += float(ck) * (float(d.abs().max()) if d.numel() else 0.0)
        if not bound < float(torch.finfo(t.dtype).max):
            raise ValueError(
                f"{coeff_names} must keep the weights theta + sum_k c_k d_k within "
                f"{t.dtype}'s range; got coefficients up to {c.max():.3g}, which reach "
                f"{bound:.3g}."
            )


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
    engine: str | RayWorkers | None,
    workers: int | None,
    store: str | os.PathLike | None,
    point_name: Callable[[int], str],
    direction_names: Sequence[str] | None = None,
    store_key: str | None = None,
    coeff_names: str = "'coords'",
) -> np.ndarray:
    """Losses at ``center + coeffs[p] @ directions`` for every row p of ``coeffs`` (P, k).

    ``direction_names`` are the caller's argument names for the directions, used in error
    messages (default ``directions[i]``)."""
    named = model_parameters(model)
    check_loss_fn(loss_fn)
    pool = engine if isinstance(engine, RayWorkers) else None
    if engine is not None and pool is None and not (isinstance(engine, str) and engine == "ray"):
        raise fail("engine", "None (evaluate in this process), 'ray' or a RayWorkers", engine)
    if workers is not None:
        if engine != "ray":
            raise fail("workers", "None unless engine='ray' (a RayWorkers has its own)", workers)
        check_int(workers, "workers", low=1)
    if store_key is not None:
        if not isinstance(store_key, str):
            raise fail_type("store_key", "None or a string", store_key)
        if not store_key or store is None:
            raise fail("store_key", "a non-empty string, and only with 'store'", store_key)
    check_eval_mode(model)  # BatchNorm / Dropout in train mode: refused, by name
    like = named[0][1]
    theta = (
        [p.detach().clone() for _, p in named]
        if center is None
        else as_param_list(center, named, "center")
    )
    names = direction_names or [f"directions[{i}]" for i in range(len(directions))]
    dirs = [as_param_list(d, named, n) for d, n in zip(directions, names, strict=True)]
    _check_reach(theta, dirs, coeffs, coeff_names)
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
    runner, finished = None, False
    try:
        if engine is None:
            runner = LocalEngine(problem)
        else:
            runner = pool._engine() if pool is not None else RayEngine.start(workers, n_points)
            runner.load(problem)
        plan = make_plan(n_points, runner.call_size)
        chunks = None
        if store is not None:
            chunks = ChunkStore(
                store, _fingerprint(model, loss_fn, problem, runner, plan, store_key), plan
            )
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
            finished = True
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
        if runner is not None:  # after an error or Ctrl-C: stop the workers at once
            runner.close(graceful=finished)
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
    engine: str | RayWorkers | None = None,
    workers: int | None = None,
    store: str | os.PathLike | None = None,
    store_key: str | None = None,
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
        ``"ray"`` starts the actors for this call and stops them after it; a
        :class:`RayWorkers` (``engine=pool``) keeps its actors between calls, so that
        several surfaces pay the start-up once. Needs ``pip install 'dlmath[distributed]'``.
    workers : number of Ray actors (``engine="ray"`` only; default as above); on a
        cluster with GPUs they share them (``num_gpus=min(1, GPUs / workers)`` each).
    store : a folder that keeps every finished chunk (an ``.npz`` per chunk plus
        ``index.json``, each written atomically): a later call with the same store and the
        same model, data, directions, grid, loss and chunking computes only the missing
        chunks; a store made for other inputs is refused (ValueError naming what differs).
        The loss counts by its code, the names it looks up, its closure's and defaults'
        values, the plain-value globals it reads, and (a module or callable object) its
        class, ``state_dict`` and plain attributes (``label_smoothing``, ``weight``).
    store_key : a string that stands for ``loss_fn`` in the store's fingerprint (only with
        ``store``): for a loss whose values depend on what cannot be fingerprinted (files,
        mutable globals, objects), or to resume with a loss object that differs only in
        what does not change its values (a call counter). Equal keys are taken to mean
        equal losses: you vouch for it.

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
        coeff_names="'alphas' and 'betas'",
        engine=engine,
        workers=workers,
        store=store,
        store_key=store_key,
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
    engine: str | RayWorkers | None = None,
    workers: int | None = None,
    store: str | os.PathLike | None = None,
    store_key: str | None = None,
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
        store_key=store_key,
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
    engine: str | RayWorkers | None = None,
    workers: int | None = None,
    store: str | os.PathLike | None = None,
    store_key: str | None = None,
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
        coeff_names="'alphas'",
        engine=engine,
        workers=workers,
        store=store,
        store_key=store_key,
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
    engine: str | RayWorkers | None = None,
    workers: int | None = None,
    store: str | os.PathLike | None = None,
    store_key: str | None = None,
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
        coeff_names="'alphas'",
        engine=engine,
        workers=workers,
        store=store,
        store_key=store_key,
        point_name=lambda p: f"{p} (alpha={a[p]:g})",
        direction_names=("(end - start)",),
    )
