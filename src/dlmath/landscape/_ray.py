"""The Ray engine: actors that each hold the problem and evaluate chunks handed out dynamically.

Each actor builds the same :class:`~dlmath.landscape.engines.Evaluator` as the local engine
from the same problem (shipped once through the object store, or rebuilt from the user's
data factory on the worker) and runs the same chunk function; the driver keeps one chunk
in flight per actor and gives the next chunk to whichever actor finishes first, so fast
and slow workers balance. One actor per GPU (``num_gpus=1``) when the cluster has GPUs,
else one per CPU slot. A worker that dies (killed, ``os._exit``, out of memory) is
replaced and its chunk retried, at most ``MAX_RETRIES`` times per chunk.

``engine="ray"`` starts its actors for one call and stops them after it; most of their
start-up is each new process importing torch. :class:`RayWorkers` keeps the actors between
calls: each call only ships its problem to them.

Ray is imported only here, and only when Ray is asked for.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import threading
import traceback
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from dlmath._checks import check_int, fail
from dlmath.landscape.engines import (
    Evaluator,
    Problem,
    WorkerLostError,
    _PointFailure,
)

__all__ = ["MAX_RETRIES", "RayEngine", "RayWorkers", "actor_options", "import_ray"]

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


def actor_options(
    resources: dict, workers: int | None, gpus: bool | None = None
) -> tuple[int, dict[str, Any]]:
    """How many actors, and each one's Ray resources, for the (free) ``resources`` of the
    cluster: one per GPU (``num_gpus=1``) when it has GPUs (``gpus``, default: whether
    ``resources`` counts any), else one per CPU slot (``num_cpus=1``); with ``workers=N``,
    N actors, each with ``num_gpus=min(1, GPUs / N)`` if there are GPUs (N > GPUs share
    them; whole GPUs would leave the extra actors unscheduled forever), else
    ``num_cpus=min(1, CPUs / N)``. Less than one GPU (or CPU) left: one actor with it."""
    cpus, n_gpus = float(resources.get("CPU", 1.0)), float(resources.get("GPU", 0.0))
    on_gpus = n_gpus > 0 if gpus is None else gpus
    have, key = (n_gpus, "num_gpus") if on_gpus else (cpus, "num_cpus")
    if workers is not None:
        return workers, {key: min(1.0, have / workers)}
    return max(int(have), 1), {key: min(1, have)}


def _portable(exc: BaseException) -> BaseException:
    """The exception itself if it survives pickling, else a RuntimeError with its text."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def _raised(exc: BaseException) -> tuple:
    return ("raise", _portable(exc), traceback.format_exc())


class _Worker:
    """A Ray actor: holds one problem's Evaluator at a time (``load``); its methods never
    raise, they return what happened. (Ray imports this module, and with it torch, when it
    creates the actor: before any problem arrives.)"""

    def __init__(self) -> None:
        self.evaluator: Evaluator | None = None

    def load(self, problem: Problem) -> tuple:
        self.evaluator = None
        try:
            import ray
            import torch

            device = "cuda" if ray.get_gpu_ids() and torch.cuda.is_available() else None
            self.evaluator = Evaluator(problem, device)
        except Exception as exc:
            return _raised(exc)
        ev = self.evaluator
        return ("ok", ev.data_digest(), ev.call_size, ev.n_rows)

    def unload(self) -> None:
        self.evaluator = None

    def run(self, start: int, stop: int) -> tuple:
        try:
            return ("ok", self.evaluator.run(start, stop))
        except _PointFailure as f:
            return ("fail", f.lo, f.hi, _portable(f.error), traceback.format_exc())
        except Exception as exc:
            return _raised(exc)


def _raise_remote(record: tuple) -> None:
    _, exc, trace = record
    exc.add_note(f"raised on a Ray worker:\n{trace}")
    raise exc


def _session(ray) -> tuple[str, str]:
    """What identifies this process's Ray session: a new ``ray.init`` on the same cluster
    gets a new job id, a new local cluster a new node id (job ids restart there)."""
    context = ray.get_runtime_context()
    return context.get_job_id(), context.get_node_id()


def _died(ray) -> tuple[type[BaseException], ...]:
    """The errors Ray raises for a call whose actor died (killed, ``os._exit``, OOM)."""
    names = ("RayActorError", "WorkerCrashedError", "OutOfMemoryError")
    return tuple(getattr(ray.exceptions, n) for n in names if hasattr(ray.exceptions, n))


#: The pools open in this process (their actors hold Ray resources between calls).
_OPEN_POOLS: weakref.WeakSet[RayWorkers] = weakref.WeakSet()


def _held(session: tuple[str, str]) -> dict[str, float]:
    """The CPU and GPU slots this process's open pools hold in ``session``."""
    held = {"CPU": 0.0, "GPU": 0.0}
    for pool in list(_OPEN_POOLS):
        actors = pool._actors
        if actors is not None and actors.session == session:
            for kind, share in (("CPU", "num_cpus"), ("GPU", "num_gpus")):
                held[kind] += len(actors.actors) * actors.options.get(share, 0.0)
    return held


class _NoFreeSlots(ValueError):
    """This process's open pools hold every CPU (or GPU) slot of the cluster."""


class _Actors:
    """Actor slots on the cluster ``ray.init()`` started or ``RAY_ADDRESS`` names (else a
    new local one, shut down by :meth:`close`). Creating them returns at once: the
    processes start (and import torch) while the caller goes on. When this process's own
    pools hold every slot, :class:`_NoFreeSlots` (Ray would wait for them forever)."""

    def __init__(self, workers: int | None, most: int | None = None) -> None:
        ray = self.ray = import_ray()
        self.started = False
        if not ray.is_initialized():
            quiet: dict[str, Any] = {"logging_level": "ERROR", "log_to_driver": False}
            if not os.environ.get("RAY_ADDRESS"):  # not a cluster `ray start` left running
                quiet.update(address="local", include_dashboard=False)
            ray.init(**quiet)
            self.started = True
        self.died = _died(ray)
        self.actors: list[Any] = []
        self.options: dict[str, float] = {}
        self.problem_ref: Any = None
        self.info: tuple | None = None
        self.running = False  # calls may still run on the actors (an interrupted call)
        try:
            self.session = _session(ray)
            total = {k: float(ray.cluster_resources().get(k, 0.0)) for k in ("CPU", "GPU")}
            held = _held(self.session)
            free = {k: total[k] - held[k] for k in total}
            kind = "GPU" if total["GPU"] > 0 else "CPU"
            # only where our own pools hold the slots: a cluster may show 0 CPUs until
            # its autoscaler adds nodes, and then actors rightly wait
            if held[kind] > 0 and free[kind] <= 1e-9:  # shares are floats
                raise _NoFreeSlots(
                    f"the open RayWorkers of this process hold all {total[kind]:g} {kind} "
                    "slots of the Ray cluster"
                )
            n, self.options = actor_options(free, workers, kind == "GPU")
            self.remote = ray.remote(_Worker).options(max_restarts=0, **self.options)
            self.actors = [self.remote.remote() for _ in range(max(1, min(n, most or n)))]
        except BaseException:
            self.close(graceful=False)
            raise

    def load(self, problem: Problem) -> tuple:
        """Ship ``problem`` to every actor; ``(data digest, call size, rows)`` (the same on
        all of them, or a ValueError: a data factory returned different data)."""
        self.running = True
        self.problem_ref = self.ray.put(problem)
        refs = [a.load.remote(self.problem_ref) for a in self.actors]
        infos, errors = [], []
        for i, ref in enumerate(refs):  # every answer, so that none is left running
            try:
                infos.append(self._loaded(i, ref))
            except Exception as exc:
                errors.append(exc)
        self.running = False
        if errors:
            raise errors[0]
        if len({r[1:] for r in infos}) != 1:
            raise ValueError(
                "'X' must be a data factory that returns the same data on every worker; got "
                f"{len({r[1] for r in infos})} different data sets from {len(infos)} workers."
            )
        self.info = infos[0]
        return self.info[1:]

    def _loaded(self, i: int, ref: Any) -> tuple:
        """Actor ``i``'s answer to ``load``. An actor that died (since the last call of a
        pool, or while loading) is replaced and loaded again, at most MAX_RETRIES times."""
        deaths = 0
        while True:
            try:
                record = self.ray.get(ref)
            except self.died as exc:
                deaths += 1
                if deaths > MAX_RETRIES:
                    raise WorkerLostError(
                        f"a Ray worker died {deaths} times loading the problem (the model, "
                        "the data or the data factory; no grid point was evaluated); last "
                        f"error: {str(exc).splitlines()[0]}",
                        [],
                    ) from exc
                self.ray.kill(self.actors[i], no_restart=True)
                self.actors[i] = self.remote.remote()
                ref = self.actors[i].load.remote(self.problem_ref)
                continue
            if record[0] != "ok":
                _raise_remote(record)
            return record

    def unload(self) -> None:
        """Let the actors drop the problem (its model and data), keeping the processes."""
        with contextlib.suppress(Exception):
            self.ray.get([a.unload.remote() for a in self.actors], timeout=30)
        self.problem_ref = self.info = None

    def _replace(self, i: int) -> None:
        """A fresh actor in slot ``i``, loaded with the problem and checked against the
        first ones' data and call size (a data factory may return other data on a new
        worker)."""
        self.ray.kill(self.actors[i], no_restart=True)
        self.actors[i] = self.remote.remote()
        record = self._loaded(i, self.actors[i].load.remote(self.problem_ref))
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
        pending = deque(todo)
        inflight: dict[Any, tuple[int, tuple[int, int]]] = {}
        self.running = True
        try:
            self._run(pending, inflight, on_done)
        finally:  # after an error or Ctrl-C, chunks still in flight run on
            self.running = bool(inflight)

    def _run(self, pending: deque, inflight: dict, on_done: Callable) -> None:
        ray, died = self.ray, self.died
        attempts: dict[tuple[int, int], int] = {}
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
                except Exception:  # (Ctrl-C: no waiting for the chunks in flight)
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
                if failure is None or lo < failure.lo:  # the first failing point, as locally
                    failure = _PointFailure(lo, hi, exc, trace)
                pending.clear()  # chunks before it were all handed out: they are in flight
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
        self.problem_ref = self.info = None
        if self.started:
            self.ray.shutdown()
            self.started = False


class RayEngine:
    """One call's engine on Ray: ``load`` the problem, ``run`` chunks, ``close``.

    Made by ``engine="ray"`` with actors of its own (started here, stopped by ``close``),
    or by a :class:`RayWorkers` with the pool's actors (kept by ``close`` unless calls
    may still run on them)."""

    def __init__(self, actors: _Actors, pool: RayWorkers | None = None) -> None:
        self.actors, self.pool = actors, pool

    @classmethod
    def start(cls, workers: int | None, n_points: int) -> RayEngine:
        """Actors of this call's own (no more than the grid has points)."""
        try:
            return cls(_Actors(workers, most=n_points))
        except _NoFreeSlots as exc:
            raise fail(
                "engine",
                "an open RayWorkers (engine=pool), or 'ray' once the pools are closed",
                f"'ray' while {exc}",
                described=True,
            ) from None

    def load(self, problem: Problem) -> None:
        self.data_digest, self.call_size, self.n_rows = self.actors.load(problem)

    def run(self, todo, on_done) -> None:
        self.actors.run(todo, on_done)

    def close(self, graceful: bool = True) -> None:
        if self.pool is None:
            self.actors.close(graceful)
            return
        try:
            if self.actors.running:  # an interrupted call: chunks still run on them
                self.pool._discard()
            else:  # after success, or an error that left nothing running
                self.actors.unload()
        finally:
            self.pool._lock.release()


class RayWorkers:
    """Ray actors kept between calls: ``engine=RayWorkers(...)`` for several surfaces in a row.

    ``engine="ray"`` starts actors for each call and stops them after it; a new actor
    process spends most of its start-up importing torch (1.6-1.9 s per call on a 2-core
    machine). A ``RayWorkers`` starts its actors once, on ``start()`` or entering ``with``
    (else on first use), and each call with ``engine=pool`` ships only its problem (model,
    directions, data) to them, which they drop again after the call::

        with RayWorkers(workers=2) as pool:
            Z1 = loss_surface(model1, loss_fn, X, y, dirs1, a, b, engine=pool)
            Z2 = loss_surface(model2, loss_fn, X, y, dirs2, a, b, engine=pool)

    Everything ``engine="ray"`` promises holds (the same ``Z``; a dead worker, during a
    call or between calls, is replaced; retries); ``workers`` is as there (default: one
    actor per GPU, else per CPU slot). The actors hold their Ray resources (a CPU slot or
    a GPU share each) until :meth:`close` or the end of the ``with`` block, so other
    ``engine="ray"`` calls and pools of this process get only the slots left (refused when
    there are none, where they would wait forever). A Ray that the pool started itself
    (none was running and ``RAY_ADDRESS`` is unset) is shut down by ``close`` too. One call
    at a time: a second call while one runs (another thread) is refused.
    """

    def __init__(self, workers: int | None = None) -> None:
        self.workers = None if workers is None else check_int(workers, "workers", low=1)
        self._actors: _Actors | None = None
        self._session: tuple[str, str] | None = None  # the Ray session of the first start
        self._owns_ray = False  # the pool started that Ray itself: close() stops it
        self._lock = threading.Lock()  # held by the call running on the actors
        self._starting = threading.Lock()
        self.closed = False

    def _ended(self) -> bool:
        """Whether the Ray session the pool started in is over (ray.shutdown())."""
        if self._session is None:
            return False
        ray = import_ray()
        return not ray.is_initialized() or _session(ray) != self._session

    def _start(self) -> None:
        """Start the actors unless they run; :class:`_NoFreeSlots` if this process's pools
        hold every slot."""
        with self._starting:
            if self._actors is not None:
                return
            self._actors = actors = _Actors(self.workers)
            if self._session is None:
                self._session, self._owns_ray = actors.session, actors.started
            actors.started = False  # Ray outlives these actors (see _discard): close() stops it
            _OPEN_POOLS.add(self)

    def start(self) -> RayWorkers:
        """Start the actors now (they import torch while the caller goes on); idempotent."""
        if self.closed:
            raise ValueError("RayWorkers.start(): this pool is closed; create a new one.")
        if self._ended():
            raise ValueError(
                "RayWorkers.start(): this pool's Ray session has ended (ray.shutdown() was "
                "called); create a new one."
            )
        try:
            self._start()
        except _NoFreeSlots as exc:
            raise ValueError(
                f"RayWorkers.start(): {exc}, and new actors would wait for them forever; "
                "close one first."
            ) from None
        return self

    @property
    def n_workers(self) -> int:
        """The number of actors (starts them if they are not yet)."""
        return len(self.start()._actors.actors)

    def _engine(self) -> RayEngine:
        """This call's engine on the pool's actors (holding the pool until its ``close``)."""
        expected, got = "None, 'ray' or an open RayWorkers", None
        if self.closed:
            got = "a closed RayWorkers"
        elif self._ended():
            got = "a RayWorkers whose Ray session has ended (ray.shutdown() since it started)"
        elif not self._lock.acquire(blocking=False):
            got = "a RayWorkers serving another call (one call at a time)"
        if got is not None:
            raise fail("engine", expected, got, described=True)
        try:
            self._start()
            return RayEngine(self._actors, pool=self)
        except _NoFreeSlots as exc:
            self._lock.release()
            raise fail(
                "engine", expected + " that can start its actors", f"a RayWorkers while {exc}",
                described=True,
            ) from None  # fmt: skip
        except BaseException:
            self._lock.release()
            raise

    def _discard(self) -> None:
        """Kill the actors at once (work may still run on them); the next use starts new
        ones. A Ray the pool started stays up until :meth:`close`."""
        actors, self._actors = self._actors, None
        if actors is not None:
            actors.close(graceful=False)

    def close(self) -> None:
        """Stop the actors (and a Ray the pool started itself, if it is still the current
        one); idempotent. Refused while a call runs on the pool (from another thread)."""
        if not self._lock.acquire(blocking=False):
            raise RuntimeError("RayWorkers.close(): a call is running on this pool; close it after")
        try:
            ended = self._ended()
            if self._actors is not None:
                if not ended:
                    self._actors.close(graceful=True)
                self._actors = None
            if self._owns_ray and not ended:
                import_ray().shutdown()
            self._owns_ray = False
            self.closed = True
            _OPEN_POOLS.discard(self)
        finally:
            self._lock.release()

    def __enter__(self) -> RayWorkers:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "running" if self._actors else "not started"
        return f"RayWorkers(workers={self.workers!r}) [{state}]"
