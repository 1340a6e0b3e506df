"""The Ray engine: actors that each hold the problem and evaluate chunks handed out dynamically.

Each actor builds the same :class:`~dlmath.landscape.engines.Evaluator` as the local engine
from the same problem (shipped once through the object store, or rebuilt from the user's
data factory on the worker) and runs the same chunk function; the driver keeps one chunk
in flight per actor and gives the next chunk to whichever actor finishes first, so fast
and slow workers balance. One actor per GPU (``num_gpus=1``) when the cluster has GPUs,
else one per CPU slot. A worker that dies (killed, ``os._exit``, out of memory) is
replaced and its chunk retried, at most ``MAX_RETRIES`` times per chunk.

Ray is imported only here, and only when ``engine="ray"`` is asked for.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from dlmath.landscape.engines import (
    Evaluator,
    Problem,
    WorkerLostError,
    _PointFailure,
)

__all__ = ["MAX_RETRIES", "RayEngine", "actor_options", "import_ray"]

#: Retries of one chunk after its worker died (so at most MAX_RETRIES + 1 attempts).
MAX_RETRIES = 2


def import_ray():
    try:
        import ray
    except ImportError as exc:
        raise ImportError(
            "engine='ray' needs Ray, dlmath's optional extra: pip install 'dlmath[distributed]' "
            f"(import ray failed: {exc})"
        ) from exc
    return ray


def actor_options(resources: dict, workers: int | None) -> tuple[int, dict[str, Any]]:
    """How many actors, and each one's Ray resources, for ``ray.cluster_resources()``:
    one per GPU (``num_gpus=1``) when the cluster has GPUs, else one per CPU slot
    (``num_cpus=1``); with ``workers=N``, N actors, each with ``num_gpus=min(1, GPUs / N)``
    if there are GPUs (N > GPUs share them; whole GPUs would leave the extra actors
    unscheduled forever), else ``num_cpus=min(1, CPUs / N)``."""
    cpus, gpus = float(resources.get("CPU", 1.0)), int(resources.get("GPU", 0))
    if workers is not None:
        share = min(1.0, (gpus or cpus) / workers)
        return workers, {"num_gpus": share} if gpus > 0 else {"num_cpus": share}
    return (gpus, {"num_gpus": 1}) if gpus > 0 else (max(int(cpus), 1), {"num_cpus": 1})


def _portable(exc: BaseException) -> BaseException:
    """The exception itself if it survives pickling, else a RuntimeError with its text."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


class _Worker:
    """A Ray actor: one Evaluator; ``run`` never raises, it returns what happened."""

    def __init__(self, problem: Problem) -> None:
        self.error: tuple | None = None
        try:
            import ray
            import torch

            device = "cuda" if ray.get_gpu_ids() and torch.cuda.is_available() else None
            self.evaluator = Evaluator(problem, device)
        except Exception as exc:
            self.error = ("raise", _portable(exc), traceback.format_exc())

    def info(self) -> tuple:
        if self.error is not None:
            return self.error
        ev = self.evaluator
        return ("ok", ev.data_digest(), ev.call_size, ev.n_rows)

    def run(self, start: int, stop: int) -> tuple:
        if self.error is not None:
            return self.error
        try:
            return ("ok", self.evaluator.run(start, stop))
        except _PointFailure as f:
            return ("fail", f.lo, f.hi, _portable(f.error), traceback.format_exc())
        except Exception as exc:
            return ("raise", _portable(exc), traceback.format_exc())


def _raise_remote(record: tuple) -> None:
    _, exc, trace = record
    exc.add_note(f"raised on a Ray worker:\n{trace}")
    raise exc


class RayEngine:
    """Connects to (or starts) Ray, starts the actors and runs chunks on them."""

    def __init__(self, problem: Problem, workers: int | None) -> None:
        ray = self.ray = import_ray()
        self.started = False
        if not ray.is_initialized():
            quiet: dict[str, Any] = {"logging_level": "ERROR", "log_to_driver": False}
            if not os.environ.get("RAY_ADDRESS"):
                quiet["include_dashboard"] = False
            ray.init(**quiet)
            self.started = True
        self.actors: list[Any] = []
        try:
            self._start(problem, workers)
        except BaseException:
            self.close(graceful=False)
            raise

    def _start(self, problem: Problem, workers: int | None) -> None:
        ray = self.ray
        n, options = actor_options(ray.cluster_resources(), workers)
        self.n_workers = max(1, min(n, problem.coeffs.shape[0]))
        self.remote = ray.remote(_Worker).options(max_restarts=0, **options)
        self.problem_ref = ray.put(problem)
        self.actors = [self.remote.remote(self.problem_ref) for _ in range(self.n_workers)]
        infos = ray.get([a.info.remote() for a in self.actors])
        for record in infos:
            if record[0] != "ok":
                _raise_remote(record)
        if len({r[1:] for r in infos}) != 1:
            raise ValueError(
                "'X' must be a data factory that returns the same data on every worker; got "
                f"{len({r[1] for r in infos})} different data sets from {len(infos)} workers."
            )
        self.info = infos[0]
        _, self.data_digest, self.call_size, self.n_rows = infos[0]

    def _replace(self, i: int) -> None:
        """A fresh actor in slot ``i``, checked against the first ones' data and call size
        (a data factory may return other data on a new worker)."""
        self.ray.kill(self.actors[i], no_restart=True)
        self.actors[i] = new = self.remote.remote(self.problem_ref)
        record = self.ray.get(new.info.remote())
        if record[0] != "ok":
            _raise_remote(record)
        if record[1:] != self.info[1:]:
            raise ValueError(
                "'X' must be a data factory that returns the same data on every worker; a "
                "worker started after another died got different data (or call size): "
                f"{record[1:]} instead of {self.info[1:]}."
            )

    def run(
        self,
        todo: Sequence[tuple[int, int]],
        on_done: Callable[[int, int, np.ndarray], None],
    ) -> None:
        """Evaluate ``todo`` dynamically; on a failing point, finish the chunks in flight
        (handing them to ``on_done``), then raise it as :class:`_PointFailure`."""
        ray = self.ray
        died = tuple(
            getattr(ray.exceptions, name)
            for name in ("RayActorError", "WorkerCrashedError", "OutOfMemoryError")
            if hasattr(ray.exceptions, name)
        )
        pending = deque(todo)
        attempts: dict[tuple[int, int], int] = {}
        inflight: dict[Any, tuple[int, tuple[int, int]]] = {}
        failure: _PointFailure | None = None

        def submit(i: int) -> None:
            chunk = pending.popleft()
            inflight[self.actors[i].run.remote(*chunk)] = (i, chunk)

        for i in range(len(self.actors)):
            if pending:
                submit(i)
        while inflight:
            [ref], _ = ray.wait(list(inflight), num_returns=1)
            i, chunk = inflight.pop(ref)
            try:
                record = ray.get(ref)
            except died as exc:
                attempts[chunk] = attempts.get(chunk, 0) + 1
                if attempts[chunk] > MAX_RETRIES:
                    self._drain(inflight, on_done)
                    raise WorkerLostError(
                        f"a Ray worker died {attempts[chunk]} times evaluating grid points "
                        f"{chunk[0]}..{chunk[1] - 1} (retries exhausted: {MAX_RETRIES}); "
                        f"last error: {str(exc).splitlines()[0]}",
                        range(*chunk),
                    ) from exc
                try:
                    self._replace(i)
                except BaseException:
                    self._drain(inflight, on_done)
                    raise
                pending.appendleft(chunk)
                submit(i)
                continue
            if record[0] == "ok":
                on_done(*chunk, record[1])
            elif record[0] == "fail":
                _, lo, hi, exc, trace = record
                exc.add_note(f"raised on a Ray worker:\n{trace}")
                failure = failure or _PointFailure(lo, hi, exc, trace)
                pending.clear()
            else:
                self._drain(inflight, on_done)
                _raise_remote(record)
            if pending:
                submit(i)
        if failure is not None:
            raise failure

    def _drain(self, inflight: dict, on_done: Callable) -> None:
        """Keep the finished work of chunks still in flight (for the store), then stop."""
        for ref, (_, chunk) in list(inflight.items()):
            try:
                record = self.ray.get(ref)
            except Exception:
                continue
            if record[0] == "ok":
                on_done(*chunk, record[1])
        inflight.clear()

    def close(self, graceful: bool = True) -> None:
        """Stop the actors. ``graceful`` (after success): an exit queued behind their work,
        waited for, so their slots are free when this returns (``ray.kill`` alone is
        asynchronous and the next call's actors would queue). Otherwise (an error, Ctrl-C)
        ``ray.kill`` at once: chunks still running are abandoned, not waited for."""
        exits = []
        for actor in self.actors if graceful else ():
            with contextlib.suppress(Exception):
                exits.append(actor.__ray_terminate__.remote())
        if exits:
            with contextlib.suppress(Exception):
                self.ray.wait(exits, num_returns=len(exits), timeout=30)
        for actor in self.actors:
            with contextlib.suppress(Exception):
                self.ray.kill(actor, no_restart=True)
        self.actors = []
        if self.started:
            self.ray.shutdown()
            self.started = False
