"""The chunk function behind every loss surface, and the local engine that runs it.

A grid of ``P`` points ``theta + sum_k c[p, k] d_k`` (coefficients ``c`` of shape (P, k)) is
cut into *chunks* of consecutive points (the *plan*, fixed by the inputs alone). A chunk
``[start, stop)`` is evaluated by :meth:`Evaluator.run`, in calls of ``call_size`` points:

- ``call_size == 1``: the weights of the point are written into a private copy of the
  model whose parameters are views of one flat vector ``w``, by one fused in-place op
  ``w = base + c_k d_k`` (``base = theta + c_1 d_1 + ... + c_{k-1} d_{k-1}`` is kept while
  those coefficients stay, i.e. along a row of a surface; no temporaries), and the copy
  runs under ``torch.inference_mode``. For a forward pass big enough to keep the BLAS busy
  this is the cheapest evaluation (94% of the time is the model's forward pass).
- ``call_size > 1``: the weights of the call are stacked as (call, *p.shape) and
  ``torch.func.vmap`` maps ``functional_call`` over them: C forward passes become batched
  matrix products, which is what pays for small models (and on a GPU).

Every engine (local, Ray) builds the same :class:`Evaluator` from the same
:class:`Problem` and calls ``run`` on the same chunks, so ``Z`` does not depend on the engine,
the number of workers or the order chunks finish in (bit for bit on CPU).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, vmap
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from dlmath._checks import check_int, fail
from dlmath.landscape._params import (
    as_data,
    batch_slices,
    buffers_copy,
    checked_forward,
    checked_loss,
)

__all__ = [
    "Evaluator",
    "GridPointError",
    "LocalEngine",
    "Problem",
    "WorkerLostError",
    "make_plan",
    "run_local",
]


class GridPointError(RuntimeError):
    """``loss_fn`` or the model raised while evaluating some grid points.

    ``points`` are the flat indices of the points of the failing call (one point on the
    one-point path), ``coords`` their coefficients (len(points), k); the original
    exception is the ``__cause__``.
    """

    def __init__(self, message: str, points: Sequence[int], coords: np.ndarray) -> None:
        super().__init__(message)
        self.points = list(points)
        self.coords = np.asarray(coords)


class WorkerLostError(RuntimeError):
    """A worker process died on the same chunk more often than the retries allow."""

    def __init__(self, message: str, points: Sequence[int]) -> None:
        super().__init__(message)
        self.points = list(points)


class _LossShapeError(ValueError):
    """``loss_fn`` returned something other than one scalar (an argument error, not a crash)."""


class _PointFailure(Exception):
    """Raised by :meth:`Evaluator.run`: the call over points [lo, hi) raised ``error``."""

    def __init__(self, lo: int, hi: int, error: BaseException, trace: str = "") -> None:
        super().__init__(lo, hi)
        self.lo, self.hi, self.error, self.trace = lo, hi, error, trace


@dataclass
class Problem:
    """Everything a worker needs to evaluate chunks (picklable: Ray ships it once per worker).

    ``model`` is a private copy (parameters detached, ``requires_grad`` off, no gradients);
    ``theta`` the centre and ``D[i]`` the k directions of parameter i stacked as
    (k, *p.shape); ``coeffs`` (P, k) float64. Data is ``X, y`` or, when ``data`` is given, a
    zero-argument factory that each worker calls itself (for data too large to ship).
    """

    model: nn.Module
    loss_fn: Callable
    names: list[str]
    theta: list[torch.Tensor]
    D: list[torch.Tensor]
    coeffs: np.ndarray
    X: Any = None
    y: Any = None
    data: Callable[[], tuple[Any, Any]] | None = None
    batch_size: int | None = None
    chunk_size: int | None = None
    memory_mb: float = 16.0
    buffers: dict[str, torch.Tensor] = field(default_factory=dict)


class _CountOutputs(TorchDispatchMode):
    """Counts the elements of every tensor an operation produces (an upper bound on memory)."""

    def __init__(self) -> None:
        super().__init__()
        self.elements = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = tree_flatten((args, kwargs or {}))[0]
        seen = {t.untyped_storage().data_ptr() for t in inputs if isinstance(t, torch.Tensor)}
        self.elements += sum(
            t.numel()
            for t in tree_flatten(out)[0]
            if isinstance(t, torch.Tensor) and t.untyped_storage().data_ptr() not in seen
        )  # views (a weight's transpose) share their input's storage and cost nothing
        return out


#: A forward pass of at least this many multiply-adds (rows x parameters) keeps the BLAS
#: busy on its own; batching such points with vmap adds memory traffic and gains nothing
#: (measured on a 2-core CPU: 0.65x the point-by-point speed for MLP 64-256-256-10 on
#: 1,797 rows), so they run one at a time. Smaller ones are batched, where vmap wins
#: (2.4x for a 2-16-16-2 MLP on 300 rows). A fixed rule, not a timing, keeps Z
#: bit-for-bit reproducible.
_SATURATING_MACS = 2**24

#: The default plan cuts a grid into about this many chunks (units of work, of storage
#: and of retry): enough for dynamic balancing over a few workers, few enough that the
#: per-chunk overhead (a Ray round trip, one small file) stays negligible.
_TARGET_CHUNKS = 64


def make_plan(n_points: int, call_size: int) -> list[tuple[int, int]]:
    """Chunks ``[start, stop)`` covering ``range(n_points)``, each a whole number of calls."""
    per_chunk = call_size * max(1, math.ceil(math.ceil(n_points / _TARGET_CHUNKS) / call_size))
    return [(s, min(s + per_chunk, n_points)) for s in range(0, n_points, per_chunk)]


def digest(*parts: Any) -> str:
    """A short sha256 of tensors, arrays and plain values (for store fingerprints)."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, torch.Tensor):
            t = part.detach().cpu().contiguous()
            try:
                part = t.numpy()
            except TypeError:  # bfloat16 and others NumPy lacks: digest the bits
                h.update(f"{t.dtype}{tuple(t.shape)}".encode())
                part = t.reshape(-1).view(torch.uint8).numpy()
        if isinstance(part, np.ndarray):
            h.update(f"{part.dtype}{part.shape}".encode())
            h.update(np.ascontiguousarray(part).tobytes())
        elif isinstance(part, (list, tuple)):
            h.update(f"seq{len(part)}".encode())
            h.update(digest(*part).encode())
        else:
            h.update(repr(part).encode())
    return h.hexdigest()[:16]


class Evaluator:
    """Builds the weights of grid points and evaluates the loss over all data.

    ``run(start, stop)`` returns ``Z[start:stop]`` (float64), where
    ``Z[p] = (1/N) sum_b N_b loss_fn(f(X_b; theta + c[p] @ D), y_b)`` over mini-batches.
    """

    def __init__(self, problem: Problem, device: torch.device | str | None = None) -> None:
        self.problem = problem
        model = problem.model
        if device is not None:
            model = model.to(device)
        like = next(model.parameters())
        self.device = like.device
        self.theta = [t.to(self.device) for t in problem.theta]
        self.D = [d.to(self.device) for d in problem.D]
        X, y = (problem.X, problem.y) if problem.data is None else _call_data(problem.data)
        self.X, self.y = as_data(X, y, like)
        self.buffers = {n: b.to(self.device) for n, b in problem.buffers.items()}
        self.n_rows = self.X.shape[0]
        self.coeffs = problem.coeffs
        self.C = torch.as_tensor(problem.coeffs, dtype=like.dtype, device=self.device)
        self.slices = list(batch_slices(self.n_rows, problem.batch_size))
        self.call_size = self._call_size()
        if self.call_size == 1:
            self._one_point_path(model)
        else:
            self._vmap_path(model)

    # -- planning ---------------------------------------------------------------------

    def data_digest(self) -> str:
        return digest(self.X, self.y)

    def _call_size(self) -> int:
        """Points per call: the user's ``chunk_size``, else 1 for big forward passes, else
        as many as fit ``memory_mb`` (at most an eighth of the grid, so it still splits)."""
        p, n_points = self.problem, self.coeffs.shape[0]
        if p.chunk_size is not None:
            return min(check_int(p.chunk_size, "chunk_size", low=1), n_points)
        n_params = sum(t.numel() for t in self.theta)
        rows = self.n_rows if p.batch_size is None else min(p.batch_size, self.n_rows)
        if rows * n_params >= _SATURATING_MACS:
            return 1
        per_point = n_params + rows * self._elements_per_row()
        fit = max(int(p.memory_mb * 2**20 // (per_point * self.theta[0].element_size())), 1)
        return min(fit, max(1, math.ceil(n_points / 8)))

    def _elements_per_row(self) -> int:
        """Elements allocated by one forward + loss on a single row (measured, not guessed)."""
        counter = _CountOutputs()
        params = dict(zip(self.problem.names, self.theta, strict=True))
        model = functools.partial(functional_call, self.problem.model, {**params, **self.buffers})
        with torch.no_grad(), counter:  # a model or loss that fails here is named, as later
            out = checked_forward(lambda x: model((x,)), self.X[:1])
            checked_loss(self.problem.loss_fn, out, self.y[:1])
        return max(counter.elements, 1)

    # -- the two evaluation paths -----------------------------------------------------

    def _one_point_path(self, model: nn.Module) -> None:
        # The private copy's parameters become views of one flat vector w, so writing a
        # point's weights is one fused op: w = base + c_k d_k, with
        # base = theta + c_1 d_1 + ... + c_{k-1} d_{k-1} kept while those coefficients stay
        # (a row of a surface). Same operations for every point, whatever the chunking.
        _activations_in_place(model)
        params = list(model.parameters())
        flat = lambda ts: torch.cat([t.reshape(-1) for t in ts])  # noqa: E731
        w = torch.empty(sum(p.numel() for p in params), dtype=self.C.dtype, device=self.device)
        start = 0
        for p in params:
            p.data = w[start : start + p.numel()].view(p.shape)
            start += p.numel()
        theta = flat(self.theta)
        ds = [flat([d[i] for d in self.D]) for i in range(self.coeffs.shape[1])]
        base = theta.clone()
        coeffs = self.coeffs.tolist()  # Python floats: no tensor indexing per point
        loss_fn = self.problem.loss_fn
        held: list[Any] = [[]]

        def prepare(lo: int, hi: int) -> None:
            c = coeffs[lo]
            if held[0] != c[:-1]:
                base.copy_(theta)
                for ci, d in zip(c[:-1], ds, strict=False):
                    base.add_(d, alpha=ci)
                held[0] = c[:-1]
            torch.add(base, ds[-1], alpha=c[-1], out=w)

        batches = [(sl.stop - sl.start, self.X[sl], self.y[sl]) for sl in self.slices]

        def call(lo: int, hi: int) -> float:
            # sum_b N_b L_b / N in float64 (Python floats): as the vmap path's tensors do
            prepare(lo, hi)
            total = 0.0
            for rows, xb, yb in batches:
                loss = loss_fn(model(xb), yb)
                if not isinstance(loss, torch.Tensor) or loss.dim() > 1 or loss.numel() != 1:
                    _loss_shape_error(loss)
                total += rows * float(loss)
            return total / self.n_rows

        self._call, self._mode = call, torch.inference_mode

    def _vmap_path(self, model: nn.Module) -> None:
        names, buffers, loss_fn = self.problem.names, self.buffers, self.problem.loss_fn
        theta, D, C = self.theta, self.D, self.C

        def loss_at(weights: tuple[torch.Tensor, ...], xb: torch.Tensor, yb: torch.Tensor):
            out = functional_call(
                model, {**dict(zip(names, weights, strict=True)), **buffers}, (xb,)
            )
            return loss_fn(out, yb)

        def prepare(lo: int, hi: int) -> tuple[torch.Tensor, ...]:
            c = C[lo:hi]  # weights of the call: theta + c @ D, shape (call, *p.shape)
            return tuple(t + torch.tensordot(c, d, dims=1) for t, d in zip(theta, D, strict=True))

        self._prepare, self._run = prepare, vmap(loss_at, (0, None, None))
        self._call, self._mode = self._call_many, torch.no_grad

    # -- the chunk function -----------------------------------------------------------

    def run(self, start: int, stop: int) -> np.ndarray:
        """``Z[start:stop]`` as float64; a failing call raises :class:`_PointFailure`."""
        out = np.empty(stop - start, dtype=np.float64)
        with self._mode():
            for lo in range(start, stop, self.call_size):
                hi = min(lo + self.call_size, stop)
                try:
                    out[lo - start : hi - start] = self._call(lo, hi)
                except _LossShapeError:
                    raise
                except Exception as exc:
                    raise _PointFailure(lo, hi, exc) from exc
        return out

    def _call_many(self, lo: int, hi: int) -> np.ndarray:
        weights = self._prepare(lo, hi)
        total = torch.zeros(hi - lo, dtype=torch.float64, device=self.device)
        for sl in self.slices:
            losses = self._run(weights, self.X[sl], self.y[sl])
            if not isinstance(losses, torch.Tensor) or losses.shape != (hi - lo,):
                _loss_shape_error(losses[0] if isinstance(losses, torch.Tensor) else losses)
            total += (sl.stop - sl.start) * losses.double()
        return (total / self.n_rows).cpu().numpy()


def _loss_shape_error(loss: Any) -> None:
    got = f"output of shape {tuple(loss.shape)}" if isinstance(loss, torch.Tensor) else loss
    raise _LossShapeError(
        *fail("loss_fn", "a function returning one scalar per call", got, described=True).args
    )


def _activations_in_place(model: nn.Module) -> None:
    """In the private copy of an ``nn.Sequential``, let the activations after the first
    layer work in place (ReLU and friends have an ``inplace`` flag): in a Sequential a
    layer's output feeds only the next layer, so no one else reads what is overwritten,
    and the values are the same bit for bit. It saves one tensor write per activation,
    measured 1.2x on the forward pass of the benchmark's MLP. The first child is left alone:
    its input is the caller's data."""
    if type(model) is not nn.Sequential:  # a subclass may reuse outputs in its forward
        return
    for child in list(model)[1:]:
        if isinstance(child, (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SiLU, nn.Hardtanh)):
            child.inplace = True


def _call_data(factory: Callable[[], Any]) -> tuple[Any, Any]:
    data = factory()
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise fail("X", "a data factory returning a pair (X, y)", data)
    return data[0], data[1]


def private_model(model: nn.Module) -> nn.Module:
    """A deep copy for workers to write weights into: no gradients, ``requires_grad`` off."""
    work = copy.deepcopy(model)
    for p in work.parameters():
        p.grad = None
        p.requires_grad_(False)
    return work


def make_problem(model, loss_fn, names, theta, D, coeffs, X, y, data, **options) -> Problem:
    return Problem(
        model=private_model(model),
        loss_fn=loss_fn,
        names=names,
        theta=theta,
        D=D,
        coeffs=np.ascontiguousarray(coeffs, dtype=np.float64),
        X=X,
        y=y,
        data=data,
        buffers=buffers_copy(model),
        **options,
    )


def run_local(
    evaluator: Evaluator,
    todo: Sequence[tuple[int, int]],
    on_done: Callable[[int, int, np.ndarray], None],
) -> None:
    """The local engine: evaluate the chunks in order, handing each result to ``on_done``."""
    for start, stop in todo:
        on_done(start, stop, evaluator.run(start, stop))


class LocalEngine:
    """Evaluates chunks in this process, in order (the default engine)."""

    def __init__(self, problem: Problem) -> None:
        self.evaluator = Evaluator(problem)
        self.call_size = self.evaluator.call_size
        self.n_rows = self.evaluator.n_rows

    @property
    def data_digest(self) -> str:
        return self.evaluator.data_digest()

    def run(self, todo, on_done) -> None:
        run_local(self.evaluator, todo, on_done)

    def close(self, graceful: bool = True) -> None:
        pass
