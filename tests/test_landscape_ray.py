"""engine="ray": equal to the local engine bit for bit, worker deaths survived, failures stored.

One local Ray (num_cpus=2) is started for the module; each call of the engine starts its
own actors on it. The reference is the local engine (itself tested against the loss with
the weights written into a copy of the model) and counted loss evaluations.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlmath.landscape import (
    GridPointError,
    WorkerLostError,
    loss_line,
    loss_points,
    loss_surface,
    random_direction,
)
from dlmath.nets import torch_mlp

DRIVER = os.getpid()
N_ROWS = 33
SPEC = Path(__file__).resolve().parents[1] / "examples" / "landscape_spec.py"


@pytest.fixture(scope="module")
def ray_cluster():
    env = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_DISABLE_IMPORT_WARNING": "1"}
    saved = {k: os.environ.get(k) for k in [*env, "RAY_ADDRESS"]}
    os.environ.update(env)
    os.environ.pop("RAY_ADDRESS", None)
    import ray
    import ray.cloudpickle

    ray.init(
        address="local",  # never a cluster some `ray start` left on this machine
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        logging_level="ERROR",
    )
    # the workers cannot import this test module: ship its functions by value
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield ray
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    ray.shutdown()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(N_ROWS, 4))
    y = rng.integers(0, 3, size=N_ROWS)
    model = torch_mlp([4, 7, 3], "tanh", seed=0, dtype=torch.float64)
    dirs = (random_direction(model, seed=1), random_direction(model, seed=2))
    return model, X, y, dirs


def params(model):
    return [p.detach().clone() for p in model.parameters()]


def test_equal_to_local_engine_bit_for_bit(ray_cluster, problem, tmp_path):
    model, X, y, dirs = problem
    before = params(model)
    a, b = np.linspace(-1, 1, 9), np.linspace(-0.5, 1, 7)
    for chunk_size in (None, 1):  # vmap path, one-point path
        local = loss_surface(
            model, F.cross_entropy, X, y, dirs, a, b, chunk_size=chunk_size, progress=False
        )
        remote = loss_surface(
            model,
            F.cross_entropy,
            X,
            y,
            dirs,
            a,
            b,
            chunk_size=chunk_size,
            engine="ray",
            progress=False,
        )
        np.testing.assert_array_equal(remote, local)
    coords = np.stack([a, a[::-1] / 2], axis=1)
    np.testing.assert_array_equal(
        loss_points(model, F.cross_entropy, X, y, dirs, coords, engine="ray", workers=2),
        loss_points(model, F.cross_entropy, X, y, dirs, coords, progress=False),
    )
    assert all(torch.equal(p, q) for p, q in zip(before, params(model), strict=True))


def dies_once(marker: str):
    """Cross-entropy whose first full evaluation on a Ray worker kills that worker."""

    def loss(out, target):
        if os.getpid() != DRIVER and len(target) == N_ROWS and not os.path.exists(marker):
            Path(marker).touch()
            os._exit(1)
        return F.cross_entropy(out, target)

    return loss


def test_worker_death_is_survived_and_data_factory(ray_cluster, problem, tmp_path):
    model, X, y, dirs = problem
    a = np.linspace(-1, 1, 12)
    loss = dies_once(str(tmp_path / "died"))
    Z = loss_line(model, loss, lambda: (X, y), None, dirs[0], a, engine="ray", progress=False)
    assert (tmp_path / "died").exists()  # a worker did die
    np.testing.assert_array_equal(Z, loss_line(model, F.cross_entropy, X, y, dirs[0], a))


def always_dies(out, target):
    if os.getpid() != DRIVER and len(target) == N_ROWS:
        os._exit(1)
    return F.cross_entropy(out, target)


def test_retries_exhausted_names_the_points(ray_cluster, problem, monkeypatch):
    import dlmath.landscape._ray as engine

    model, X, y, dirs = problem
    monkeypatch.setattr(engine, "MAX_RETRIES", 0)
    with pytest.raises(WorkerLostError, match=r"died 1 times evaluating grid points \d") as info:
        loss_line(model, always_dies, X, y, dirs[0], [0.0, 1.0], engine="ray", progress=False)
    assert set(info.value.points) <= {0, 1} and info.value.points


class ShiftGuard:
    """Cross-entropy that raises where the last bias moved above ``limit`` (the direction
    ``shift`` moves every output by alpha, so the failing point is known)."""

    def __init__(self, base: float, limit: float) -> None:
        self.base, self.limit, self.calls = base, limit, 0

    def __call__(self, out, target):
        if len(target) == N_ROWS:
            self.calls += 1
            if float(out.mean()) - self.base > self.limit:
                raise ArithmeticError("beyond the limit")
        return F.cross_entropy(out, target)


def test_failure_on_a_worker_keeps_finished_chunks(ray_cluster, problem, tmp_path):
    model, X, y, _ = problem
    shift = [torch.zeros_like(p) for p in model.parameters()]
    shift[-1] = torch.ones_like(shift[-1])
    with torch.no_grad():
        base = float(model(torch.as_tensor(X)).mean())
    a = np.linspace(-1, 1, 9)  # only a = 1 is beyond 0.9
    store = tmp_path / "s"
    # ShiftGuard(base, 0.9) and ShiftGuard(base, inf) are different losses to the store
    # (their limits differ); they agree wherever the first one finished, which the test
    # vouches for with store_key
    run = dict(chunk_size=1, store=store, store_key="cross-entropy", progress=False)
    with pytest.raises(GridPointError, match="ArithmeticError.*grid point 8 \\(alpha=1\\)") as info:
        loss_line(model, ShiftGuard(base, 0.9), X, y, shift, a, engine="ray", **run)
    assert info.value.points == [8]
    assert len(list(store.glob("chunk-*.npz"))) == 8  # every other chunk finished and kept
    resumed = ShiftGuard(base, np.inf)  # no longer failing; resumed locally
    with pytest.raises(ValueError, match="'store'.*different loss"):  # without the key
        loss_line(model, resumed, X, y, shift, a, chunk_size=1, store=store, progress=False)
    Z = loss_line(model, resumed, X, y, shift, a, **run)
    assert resumed.calls == 1
    np.testing.assert_array_equal(
        Z, loss_line(model, F.cross_entropy, X, y, shift, a, chunk_size=1, progress=False)
    )


def test_the_first_failing_point_is_named_as_locally(ray_cluster, problem):
    model, X, y, _ = problem
    shift = [torch.zeros_like(p) for p in model.parameters()]
    shift[-1] = torch.ones_like(shift[-1])
    with torch.no_grad():
        base = float(model(torch.as_tensor(X)).mean())
    a = np.linspace(-1, 1, 9)  # alpha = 0.5, 0.75, 1 (points 6, 7, 8) are beyond 0.3
    for engine in (None, "ray"):
        # point 6 fails 1 s late on its worker, so point 7 fails first on the other one
        with pytest.raises(GridPointError, match=r"grid point 6 \(alpha=0.5\)"):
            loss_line(
                model, SlowBeyond(base, 0.3, 1.0, then=ShiftGuard(base, 0.3)), X, y, shift,
                a, chunk_size=1, engine=engine, workers=2 if engine else None, progress=False,
            )  # fmt: skip


def test_actor_options_use_gpus_when_the_cluster_has_them():
    from dlmath.landscape._ray import actor_options

    gpus = {"CPU": 16.0, "GPU": 2.0}
    assert actor_options(gpus, None) == (2, {"num_gpus": 1})
    assert actor_options(gpus, 1) == (1, {"num_gpus": 1.0})
    assert actor_options(gpus, 2) == (2, {"num_gpus": 1.0})
    assert actor_options(gpus, 8) == (8, {"num_gpus": 0.25})  # 8 actors share 2 GPUs
    cpus = {"CPU": 2.0}
    assert actor_options(cpus, None) == (2, {"num_cpus": 1})
    assert actor_options(cpus, 1) == (1, {"num_cpus": 1.0})
    assert actor_options(cpus, 4) == (4, {"num_cpus": 0.5})
    # what open pools leave free: the rest of a GPU is still a GPU share, not a CPU actor
    assert actor_options({"CPU": 16.0, "GPU": 0.5}, None) == (1, {"num_gpus": 0.5})
    assert actor_options({"CPU": 1.5}, None) == (1, {"num_cpus": 1})


def other_data_after(marker: str, X, y):
    """A data factory that returns other data once ``marker`` exists (a worker died)."""

    def data():
        return (X + 1.0 if os.path.exists(marker) else X), y

    return data


def test_replacement_worker_with_other_data_is_refused(ray_cluster, problem, tmp_path):
    model, X, y, dirs = problem
    marker = str(tmp_path / "died")
    with pytest.raises(ValueError, match="'X' must be a data factory.*after another died"):
        loss_line(
            model,
            dies_once(marker),
            other_data_after(marker, X, y),
            None,
            dirs[0],
            np.linspace(-1, 1, 12),
            engine="ray",
            progress=False,
        )
    assert os.path.exists(marker)  # a worker did die, and its replacement saw X + 1


class SlowBeyond:
    """Cross-entropy (or ``then``) that first sleeps ``seconds`` on a worker where the
    outputs moved by more than ``limit`` but less than ``limit + 0.25`` (along the
    direction ``shift`` of the tests: alpha moves every output by alpha)."""

    def __init__(self, base: float, limit: float, seconds: float, then=F.cross_entropy):
        self.base, self.limit, self.seconds, self.then = base, limit, seconds, then

    def __call__(self, out, target):
        moved = float(out.mean()) - self.base
        if os.getpid() != DRIVER and len(target) == N_ROWS and 0 < moved - self.limit < 0.25:
            time.sleep(self.seconds)
        return self.then(out, target)


def test_interrupt_kills_the_workers_at_once(ray_cluster, problem, tmp_path, monkeypatch):
    """Ctrl-C (here: raised where the first finished chunk is stored) does not wait for
    the chunk still running on the other worker (a 60 s sleep)."""
    import dlmath.landscape.store as store_module

    model, X, y, _ = problem
    shift = [torch.zeros_like(p) for p in model.parameters()]
    shift[-1] = torch.ones_like(shift[-1])
    with torch.no_grad():
        base = float(model(torch.as_tensor(X)).mean())

    def interrupted(self, start, stop, values):
        raise KeyboardInterrupt

    monkeypatch.setattr(store_module.ChunkStore, "save", interrupted)
    slow = SlowBeyond(base, 0.9, seconds=60.0)  # point 1 (alpha=1) sleeps, point 0 not
    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        loss_line(
            model, slow, X, y, shift, [0.0, 1.0], chunk_size=1, store=tmp_path / "s",
            engine="ray", workers=2, progress=False,
        )  # fmt: skip
    assert time.perf_counter() - t0 < 25  # a graceful exit would wait 30 s for the sleep


def test_cli_on_ray_equals_local_surface(ray_cluster, tmp_path):
    from dlmath.cli import main

    out = tmp_path / "out"
    assert main(["landscape", str(SPEC), "--grid", "4", "--out", str(out), "--engine", "ray"]) == 0
    with np.load(out / "surface.npz") as npz:
        Z = npz["Z"]
    spec = sys.modules["dlmath_spec_landscape_spec"]
    model = spec.model()
    X, y = spec.data()
    dirs = (random_direction(model, seed=0), random_direction(model, seed=1))
    grid = np.linspace(-1, 1, 4)
    np.testing.assert_array_equal(
        Z, loss_surface(model, spec.loss_fn, X, y, dirs, grid, grid, progress=False)
    )


# --- RayWorkers: actors kept between calls -------------------------------------------------


class PidLog:
    """Cross-entropy that appends the id of the process evaluating it to a file."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __call__(self, out, target):
        with open(self.path, "a") as f:
            f.write(f"{os.getpid()}\n")
        return F.cross_entropy(out, target)


def pids(path: Path) -> set[int]:
    found = {int(line) for line in path.read_text().split()}
    path.unlink()
    return found


def test_pool_keeps_its_actors_between_calls_and_equals_local(ray_cluster, problem, tmp_path):
    from dlmath.landscape import RayWorkers

    model, X, y, dirs = problem
    other = torch_mlp([4, 5, 3], "relu", seed=3, dtype=torch.float64)
    other_dirs = (random_direction(other, seed=4), random_direction(other, seed=5))
    a, b = np.linspace(-1, 1, 6), np.linspace(-0.5, 1, 5)
    log = tmp_path / "pids"
    before = params(model)
    with RayWorkers(workers=2) as pool:
        assert pool.n_workers == 2
        first = loss_surface(model, PidLog(str(log)), X, y, dirs, a, b, engine=pool)
        first_pids = pids(log)
        # another model, loss and grid on the same actors
        second = loss_surface(other, PidLog(str(log)), X, y, other_dirs, b, a, engine=pool)
        second_pids = pids(log)
        os.kill(min(second_pids), signal.SIGKILL)  # a worker dies between calls (OOM killer)
        line = loss_line(model, PidLog(str(log)), lambda: (X, y), None, dirs[0], a, engine=pool)
        third_pids = pids(log)
    assert first_pids == second_pids and len(first_pids) == 2 and DRIVER not in first_pids
    assert len(third_pids) == 2 and third_pids - second_pids  # replaced, and the call worked
    np.testing.assert_array_equal(first, loss_surface(model, F.cross_entropy, X, y, dirs, a, b))
    np.testing.assert_array_equal(
        second, loss_surface(other, F.cross_entropy, X, y, other_dirs, b, a)
    )
    np.testing.assert_array_equal(line, loss_line(model, F.cross_entropy, X, y, dirs[0], a))
    assert all(torch.equal(p, q) for p, q in zip(before, params(model), strict=True))
    assert repr(pool) == "RayWorkers(workers=2) [closed]"
    # the pool's CPU slots are free again: a call with both of them does not wait
    loss_line(model, F.cross_entropy, X, y, dirs[0], a, engine="ray", workers=2, progress=False)


def raises_on_all_rows(out, target):
    if len(target) == N_ROWS:
        raise ArithmeticError("planted")
    return F.cross_entropy(out, target)


def test_pool_survives_a_dead_worker_and_a_failing_loss(ray_cluster, problem, tmp_path):
    from dlmath.landscape import RayWorkers

    model, X, y, dirs = problem
    a = np.linspace(-1, 1, 12)
    log = tmp_path / "pids"
    local = loss_line(model, F.cross_entropy, X, y, dirs[0], a)
    with RayWorkers(workers=2) as pool:
        Z = loss_line(model, dies_once(str(tmp_path / "died")), X, y, dirs[0], a, engine=pool)
        assert (tmp_path / "died").exists()
        np.testing.assert_array_equal(Z, local)
        np.testing.assert_array_equal(
            loss_line(model, PidLog(str(log)), X, y, dirs[0], a, engine=pool), local
        )
        before_error = pids(log)
        with pytest.raises(GridPointError, match="ArithmeticError"):
            loss_line(model, raises_on_all_rows, X, y, dirs[0], a, engine=pool)
        # nothing was left running: the next call gets the same actors, and the right Z
        np.testing.assert_array_equal(
            loss_line(model, PidLog(str(log)), X, y, dirs[0], a, engine=pool), local
        )
        assert pids(log) == before_error and len(before_error) == 2


def fails_on_workers():
    """A data factory that cannot read its data on the workers."""
    if os.getpid() != DRIVER:
        raise OSError("the data is not mounted on this worker")
    raise AssertionError("called on the driver")


def test_pool_keeps_its_actors_after_a_failing_data_factory(ray_cluster, problem, tmp_path):
    from dlmath.landscape import RayWorkers

    model, X, y, dirs = problem
    log = tmp_path / "pids"
    with RayWorkers(workers=2) as pool:
        loss_line(model, PidLog(str(log)), X, y, dirs[0], [0.0, 1.0], chunk_size=1, engine=pool)
        before = pids(log)
        with pytest.raises(OSError, match="not mounted"):
            loss_line(model, F.cross_entropy, fails_on_workers, None, dirs[0], [0.0], engine=pool)
        loss_line(model, PidLog(str(log)), X, y, dirs[0], [0.0, 1.0], chunk_size=1, engine=pool)
        assert pids(log) == before and len(before) == 2


def test_pool_after_an_interrupt_starts_afresh(ray_cluster, problem, tmp_path, monkeypatch):
    """Ctrl-C in a pool's call (raised where the first chunk is stored) kills the actors at
    once, as engine="ray" does (the other one sleeps 60 s); the next call gets new ones."""
    import dlmath.landscape.store as store_module
    from dlmath.landscape import RayWorkers

    model, X, y, _ = problem
    shift = [torch.zeros_like(p) for p in model.parameters()]
    shift[-1] = torch.ones_like(shift[-1])
    with torch.no_grad():
        base = float(model(torch.as_tensor(X)).mean())
    save = store_module.ChunkStore.save

    def interrupted(self, start, stop, values):
        raise KeyboardInterrupt

    log = tmp_path / "pids"
    with RayWorkers(workers=2) as pool:
        loss_line(model, PidLog(str(log)), X, y, shift, [0.0, 1.0], chunk_size=1, engine=pool)
        before = pids(log)
        monkeypatch.setattr(store_module.ChunkStore, "save", interrupted)
        t0 = time.perf_counter()
        with pytest.raises(KeyboardInterrupt):
            loss_line(
                model, SlowBeyond(base, 0.9, seconds=60.0), X, y, shift, [0.0, 1.0],
                chunk_size=1, store=tmp_path / "s", engine=pool, progress=False,
            )  # fmt: skip
        monkeypatch.setattr(store_module.ChunkStore, "save", save)
        Z = loss_line(model, PidLog(str(log)), X, y, shift, [0.0, 1.0], chunk_size=1, engine=pool)
        assert time.perf_counter() - t0 < 25  # nobody waited for the 60 s sleep
        assert len(before) == 2 and pids(log).isdisjoint(before)  # new actors
    np.testing.assert_array_equal(Z, loss_line(model, F.cross_entropy, X, y, shift, [0.0, 1.0]))


def test_pools_holding_every_slot_refuse_more_actors(ray_cluster, problem):
    from dlmath.landscape import RayWorkers

    model, X, y, dirs = problem
    with RayWorkers() as pool:  # one actor per CPU slot: both of them
        assert pool.n_workers == 2
        with pytest.raises(ValueError, match="'engine' must be an open RayWorkers .*all 2 CPU"):
            loss_line(model, F.cross_entropy, X, y, dirs[0], [0.0], engine="ray")
        with pytest.raises(ValueError, match=r"RayWorkers.start\(\): .*hold all 2 CPU"):
            RayWorkers(workers=1).start()
    with RayWorkers(workers=1) as one:  # one slot held, one left for engine="ray"
        np.testing.assert_array_equal(
            loss_line(model, F.cross_entropy, X, y, dirs[0], [0.0, 1.0], engine="ray"),
            loss_line(model, F.cross_entropy, X, y, dirs[0], [0.0, 1.0], engine=one),
        )


def test_pool_arguments_are_checked(ray_cluster, problem):
    from dlmath.landscape import RayWorkers

    model, X, y, dirs = problem
    with pytest.raises(ValueError, match=r"'workers' must be an integer in \[1, inf\]; got 0"):
        RayWorkers(workers=0)
    with pytest.raises(TypeError, match="'workers'"):
        RayWorkers(workers="2")
    pool = RayWorkers(workers=np.int64(1))
    assert repr(pool) == "RayWorkers(workers=1) [not started]"
    with pytest.raises(ValueError, match="'workers' must be None unless engine='ray'"):
        loss_line(model, F.cross_entropy, X, y, dirs[0], [0.0], engine=pool, workers=1)
    assert repr(pool) == "RayWorkers(workers=1) [not started]"  # refused before starting
    pool.close()
    with pytest.raises(ValueError, match="'engine' must be .*an open RayWorkers; got a closed"):
        loss_line(model, F.cross_entropy, X, y, dirs[0], [0.0], engine=pool)
    with pytest.raises(ValueError, match="'engine' must be None .*'ray' or a RayWorkers"):
        loss_line(model, F.cross_entropy, X, y, dirs[0], [0.0], engine="dask")


class SleepsOnWorkers:
    """Cross-entropy that sleeps on a worker (a call that stays busy for a while)."""

    def __call__(self, out, target):
        if os.getpid() != DRIVER and len(target) == N_ROWS:
            time.sleep(0.5)
        return F.cross_entropy(out, target)


def test_pool_serves_one_call_at_a_time(ray_cluster, problem):
    import threading

    from dlmath.landscape import RayWorkers

    model, X, y, dirs = problem
    a = np.linspace(-1, 1, 8)
    with RayWorkers(workers=1) as pool:
        busy = threading.Thread(
            target=loss_line,
            args=(model, SleepsOnWorkers(), X, y, dirs[0], a),
            kwargs={"chunk_size": 1, "engine": pool, "progress": False},
        )
        busy.start()
        deadline = time.monotonic() + 60
        while not pool._lock.locked() and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(ValueError, match="'engine' must be .*; got a RayWorkers serving"):
            loss_line(model, F.cross_entropy, X, y, dirs[0], a, engine=pool, progress=False)
        with pytest.raises(RuntimeError, match="a call is running on this pool"):
            pool.close()
        busy.join()
        np.testing.assert_array_equal(  # free again once the first call returned
            loss_line(model, F.cross_entropy, X, y, dirs[0], a, engine=pool, progress=False),
            loss_line(model, F.cross_entropy, X, y, dirs[0], a, progress=False),
        )


POOL_OWN_RAY = """
import os, numpy as np, torch, torch.nn.functional as F, ray
from dlmath.landscape import RayWorkers, loss_line, random_direction
from dlmath.nets import torch_mlp
model = torch_mlp([4, 7, 3], "tanh", seed=0, dtype=torch.float64)
X, y = np.random.default_rng(5).normal(size=(33, 4)), np.arange(33) % 3
d = random_direction(model, seed=1)
a = np.linspace(-1, 1, 5)
quiet = dict(address="local", include_dashboard=False, logging_level="ERROR", log_to_driver=False)
with RayWorkers(workers=2) as pool:  # no Ray running: the pool starts one
    Z = loss_line(model, F.cross_entropy, X, y, d, a, engine=pool, progress=False)
print("ray after close:", ray.is_initialized())
print("equal:", np.array_equal(Z, loss_line(model, F.cross_entropy, X, y, d, a)))
# a pool whose Ray ended, then a Ray of the user's own: refused, and close() leaves it up
orphan = RayWorkers(workers=1).start()
ray.shutdown()
ray.init(num_cpus=1, **quiet)
try:
    loss_line(model, F.cross_entropy, X, y, d, a, engine=orphan, progress=False)
except ValueError as exc:
    print("stale:", exc)
orphan.close()
print("user's ray after close:", ray.is_initialized())
"""


def test_pool_starts_and_stops_its_own_ray_and_refuses_an_ended_session(tmp_path):
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(RAY_USAGE_STATS_ENABLED="0", RAY_DISABLE_IMPORT_WARNING="1")
    done = subprocess.run(
        [sys.executable, "-c", POOL_OWN_RAY],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert "ray after close: False" in lines
    assert "equal: True" in lines
    assert any(
        line.startswith("stale: 'engine' must be") and "Ray session has ended" in line
        for line in lines
    ), done.stdout
    assert "user's ray after close: True" in lines
