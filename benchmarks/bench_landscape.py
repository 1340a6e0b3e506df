"""Benchmark dlmath.landscape against its peers, measured in the same run.

1. ``loss_surface`` vs ``loss_landscapes.random_plane`` (PyPI loss-landscapes 3.0.6) vs a
   point-by-point loop that writes weights into the model: MLP 64-256-256-10 (float32) on
   all 1,797 digits, a 51 x 51 grid (``--quick``: 11 x 11). Prints seconds, ratios and the
   achieved GFLOP/s (matmul FLOPs of the forward passes) against the machine's measured
   float32 matmul GFLOP/s, and whether each tool left the model as it found it. Then the
   same grid on a local 2-CPU Ray: 1 actor vs 2 actors, with ``engine="ray"`` (each call
   starts its actors: the speed-up with and without that fixed start-up, measured as a
   1-column grid's time) and on a warm ``RayWorkers`` pool (actors kept between calls).
2. ``hessian_eigs`` top-1 vs PyHessian 0.1 (power iteration) on the same model and data, at
   equal accuracy: each tool's loosest tolerance whose eigenvalue is within 1e-3 (relative)
   of a reference (ARPACK ``eigsh`` on float64 Hessian-vector products, tol 1e-12; the
   85k x 85k dense Hessian does not fit in memory). Prints seconds and the ratio.

Timings interleave the tools round by round and report medians (the machine is shared).
The peers are benchmark-only (``pip install -e .[bench]``).
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from dlmath.landscape import (
    HessianOperator,
    RayWorkers,
    hessian_eigs,
    loss_surface,
    random_direction,
)
from dlmath.nets import torch_mlp

SIZES = [64, 256, 256, 10]


def digits_all() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    data = load_digits()
    X = data.data
    X = (X - X.mean(0)) / np.where(X.std(0) > 0, X.std(0), 1.0)
    return torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(data.target)


SAMPLES: dict[str, list[float]] = {}  # every timing of the last median_times call


def median_times(fns: dict, repeats: int) -> dict[str, float]:
    """Run each function ``repeats`` times, interleaved round by round; median seconds
    (all samples are kept in ``SAMPLES``, to print the spread on a shared machine)."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    SAMPLES.clear()
    SAMPLES.update(times)
    return {k: statistics.median(v) for k, v in times.items()}


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" on {os.cpu_count()} CPUs"
    except OSError:
        return "unknown"


def matmul_gflops(repeats: int = 20) -> float:
    """float32 GEMM throughput at the benchmark's dominant shape (1797x256 @ 256x256)."""
    A, B = torch.randn(1797, 256), torch.randn(256, 256)
    A @ B
    best = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(10):
            A @ B
        best.append((time.perf_counter() - start) / 10)
    return 2 * 1797 * 256 * 256 / statistics.median(best) / 1e9


def params_of(model) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def max_change(before, model) -> float:
    after = params_of(model)
    return max(float((a - b).abs().max()) for a, b in zip(before, after, strict=True))


def bench_surface(n: int, repeats: int) -> None:
    import loss_landscapes
    import loss_landscapes.metrics

    X, y = digits_all()
    model = torch_mlp(SIZES, "relu", seed=0)
    d1, d2 = random_direction(model, seed=1), random_direction(model, seed=2)
    grid = np.linspace(-1.0, 1.0, n)
    theta = params_of(model)

    def ours():
        return loss_surface(model, F.cross_entropy, X, y, (d1, d2), grid, grid, progress=False)

    def peer():
        metric = loss_landscapes.metrics.Loss(F.cross_entropy, X, y)
        return loss_landscapes.random_plane(
            model, metric, distance=1, steps=n, normalization="filter", deepcopy_model=True
        )

    def loop():
        work = copy.deepcopy(model)
        Z = np.empty((n, n))
        with torch.no_grad():
            for i, a in enumerate(grid):
                for j, b in enumerate(grid):
                    for p, t, u, v in zip(work.parameters(), theta, d1, d2, strict=True):
                        p.copy_(t + a * u + b * v)
                    Z[i, j] = F.cross_entropy(work(X), y).item()
        return Z

    Z_ours, Z_loop = ours(), loop()  # warm-up, and the agreement check
    peer()
    t = median_times(
        {
            "dlmath.loss_surface": ours,
            "loss_landscapes.random_plane": peer,
            "point-by-point loop": loop,
        },
        repeats,
    )
    flops = n * n * 2 * len(X) * sum(a * b for a, b in zip(SIZES[:-1], SIZES[1:], strict=True))
    peak = matmul_gflops()
    print(
        f"== loss surface: MLP {'-'.join(map(str, SIZES))} float32, {len(X)} digits, "
        f"{n}x{n} grid, median of {repeats} =="
    )
    print(f"max |Z_loss_surface - Z_loop| = {np.abs(Z_ours - Z_loop).max():.2e}")
    for name, sec in t.items():
        print(
            f"{name:30s} {sec:8.3f} s   {flops / sec / 1e9:7.1f} GFLOP/s "
            f"({100 * flops / sec / 1e9 / peak:5.1f}% of matmul)"
        )
    print(
        f"measured float32 matmul (1797x256 @ 256x256): {peak:.1f} GFLOP/s "
        f"(torch threads: {torch.get_num_threads()})"
    )
    ours_s = t["dlmath.loss_surface"]
    for name, samples in SAMPLES.items():
        print(f"  {name:28s} all runs: {', '.join(f'{x:.2f}' for x in samples)} s")
    low = {k: min(v) for k, v in SAMPLES.items()}
    print(
        f"fastest runs: loss_landscapes / loss_surface = "
        f"{low['loss_landscapes.random_plane'] / low['dlmath.loss_surface']:.2f}x, loop / "
        f"loss_surface = {low['point-by-point loop'] / low['dlmath.loss_surface']:.2f}x; "
        f"load average (1, 5, 15 min) {load_average()}"
    )
    print(
        f"ratio loss_landscapes / loss_surface = {t['loss_landscapes.random_plane'] / ours_s:.2f}x"
    )
    print(f"ratio loop / loss_surface            = {t['point-by-point loop'] / ours_s:.2f}x")
    # who leaves the model as it was?
    before = params_of(model)
    ours()
    ours_change = max_change(before, model)
    victim = copy.deepcopy(model)
    before_v = params_of(victim)
    metric = loss_landscapes.metrics.Loss(F.cross_entropy, X, y)
    loss_landscapes.random_plane(victim, metric, steps=5, deepcopy_model=False)
    print(
        f"model parameters changed afterwards: loss_surface max |delta| = {ours_change:.1e}; "
        f"random_plane(deepcopy_model=False) max |delta| = {max_change(before_v, victim):.2e}"
    )


def warm_times(call, repeats: int) -> dict[str, float]:
    """Median seconds of a full-grid call on a :class:`RayWorkers` pool of 1 and of 2
    actors that had already served one call (a 1-column grid, untimed), interleaved
    round by round; a pool holds its CPU slots, so the two never run at once."""
    times: dict[str, list[float]] = {"1 worker, warm pool": [], "2 workers, warm pool": []}
    for _ in range(repeats):
        for workers, name in ((1, "1 worker, warm pool"), (2, "2 workers, warm pool")):
            with RayWorkers(workers) as pool:
                call(pool, first_column=True)
                start = time.perf_counter()
                call(pool, first_column=False)
                times[name].append(time.perf_counter() - start)
    SAMPLES.update(times)
    return {k: statistics.median(v) for k, v in times.items()}


def bench_ray(n: int, repeats: int) -> None:
    """The same grid on Ray: 1 actor vs 2 actors (one CPU slot and torch thread each),
    each call starting its own actors (``engine="ray"``) and on a warm pool
    (``engine=RayWorkers(...)``, actors started by an earlier call)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError:
        print("\n== Ray: not installed (pip install 'dlmath[distributed]'); not measured ==")
        return

    X, y = digits_all()
    model = torch_mlp(SIZES, "relu", seed=0)
    d1, d2 = random_direction(model, seed=1), random_direction(model, seed=2)
    grid = np.linspace(-1.0, 1.0, n)
    ray.init(
        address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
        logging_level="ERROR",
    )  # fmt: skip
    try:

        def surface(alphas: np.ndarray, **engine):
            return loss_surface(
                model, F.cross_entropy, X, y, (d1, d2), alphas, grid, progress=False, **engine
            )

        def on_ray(workers: int, alphas: np.ndarray):
            return lambda: surface(alphas, engine="ray", workers=workers)

        def on_pool(pool, first_column: bool):
            return surface(grid[:1] if first_column else grid, engine=pool)

        Z_local = surface(grid)
        Z_ray = on_ray(2, grid)()  # warm-up and agreement
        with RayWorkers(2) as pool:
            Z_pool = on_pool(pool, first_column=False)
        t = median_times(
            {
                "1 worker": on_ray(1, grid),
                "2 workers": on_ray(2, grid),
                "1 worker, 1 column (start-up)": on_ray(1, grid[:1]),
                "2 workers, 1 column (start-up)": on_ray(2, grid[:1]),
                "in this process (2 threads)": lambda: surface(grid),
            },
            repeats,
        )
        t.update(warm_times(on_pool, repeats))
    finally:
        ray.shutdown()
    print(f"\n== the same {n}x{n} grid on Ray (local cluster, num_cpus=2), median of {repeats} ==")
    print(
        f"Z on Ray == Z local, bit for bit: {np.array_equal(Z_ray, Z_local)} (engine='ray'), "
        f"{np.array_equal(Z_pool, Z_local)} (RayWorkers)"
    )
    for name, sec in t.items():
        print(f"{name:32s} {sec:8.3f} s")
    for name, samples in SAMPLES.items():
        print(f"  {name:30s} all runs: {', '.join(f'{x:.2f}' for x in samples)} s")
    print(f"load average (1, 5, 15 min) {load_average()}")
    low = {k: min(v) for k, v in SAMPLES.items()}
    print(
        f"fastest runs: speed-up 2 workers / 1 worker = {low['1 worker'] / low['2 workers']:.2f}x "
        f"(engine='ray'), {low['1 worker, warm pool'] / low['2 workers, warm pool']:.2f}x "
        f"(warm pool); 2 workers take "
        f"{low['2 workers, warm pool'] / low['in this process (2 threads)']:.2f}x the time of "
        "loss_surface in this process (2 torch threads)"
    )
    one, two = t["1 worker"], t["2 workers"]
    s1, s2 = t["1 worker, 1 column (start-up)"], t["2 workers, 1 column (start-up)"]
    print(
        f"speed-up 2 workers / 1 worker, engine='ray' = {one / two:.2f}x (wall clock, "
        f"each call starts its actors: {s2:.2f} s for 2)"
    )
    print(
        f"speed-up 2 workers / 1 worker, warm RayWorkers pool = "
        f"{t['1 worker, warm pool'] / t['2 workers, warm pool']:.2f}x (wall clock)"
    )
    print(
        f"speed-up without the fixed start-up (engine='ray' time minus a 1-column grid's) = "
        f"{(one - s1) / (two - s2):.2f}x"
    )


def pyhessian_top(model, X, y, tol: float) -> float:
    from pyhessian import hessian as PyHessian

    torch.manual_seed(0)  # PyHessian draws its start vector from the global RNG
    work = copy.deepcopy(model)  # it calls .eval() and leaves .grad graphs on the model
    with warnings.catch_warnings():  # its loss.backward(create_graph=True) warns of a cycle
        warnings.filterwarnings("ignore", message="Using backward")
        top, _ = PyHessian(work, F.cross_entropy, data=(X, y), cuda=False).eigenvalues(
            maxIter=1000, tol=tol, top_n=1
        )
    return float(top[0])


def ours_top(model, X, y, tol: float) -> float:
    return float(hessian_eigs(model, F.cross_entropy, X, y, k=1, tol=tol, seed=0).eigenvalues[0])


def bench_hessian(repeats: int, rows: int | None) -> None:
    from scipy.sparse.linalg import LinearOperator, eigsh

    X, y = digits_all()
    if rows is not None:
        X, y = X[:rows], y[:rows]
    model = torch_mlp(SIZES, "relu", seed=0)
    op = HessianOperator(copy.deepcopy(model).double(), F.cross_entropy, X.double(), y)
    A = LinearOperator(
        (op.n, op.n), matvec=lambda v: op.matvec(torch.as_tensor(v)).numpy(), dtype=np.float64
    )
    start = time.perf_counter()
    vals = eigsh(A, k=1, which="LM", tol=1e-12, v0=np.ones(op.n), return_eigenvectors=False)
    ref = float(vals[0])
    print(f"\n== top Hessian eigenvalue: same model, {len(X)} digits, n = {op.n} parameters ==")
    print(
        f"reference (ARPACK eigsh on float64 HVPs, tol 1e-12): {ref:.8g} "
        f"({op.n_products} products, {time.perf_counter() - start:.1f} s)"
    )

    def loosest(fn, tols):
        for tol in tols:
            value = fn(model, X, y, tol)
            if abs(value - ref) / abs(ref) <= 1e-3:
                return tol, value
        raise RuntimeError(f"no tolerance in {tols} reached 1e-3")

    tol_o, v_o = loosest(ours_top, [1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 1e-4, 1e-6])
    tol_p, v_p = loosest(pyhessian_top, [1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7])
    t = median_times(
        {
            "dlmath.hessian_eigs (Lanczos)": lambda: ours_top(model, X, y, tol_o),
            "PyHessian (power iteration)": lambda: pyhessian_top(model, X, y, tol_p),
        },
        repeats,
    )
    n_ours = hessian_eigs(model, F.cross_entropy, X, y, k=1, tol=tol_o, seed=0).n_products
    for (name, sec), tol, v in zip(t.items(), (tol_o, tol_p), (v_o, v_p), strict=True):
        print(
            f"{name:32s} {sec:7.3f} s  tol={tol:g}  value={v:.8g}  "
            f"rel err={abs(v - ref) / abs(ref):.1e}"
        )
    print(f"Lanczos used {n_ours} Hessian-vector products")
    ratio = t["PyHessian (power iteration)"] / t["dlmath.hessian_eigs (Lanczos)"]
    print(f"ratio PyHessian / hessian_eigs = {ratio:.2f}x (equal accuracy 1e-3)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small grid, fewer repeats")
    parser.add_argument(
        "--only", choices=["surface", "ray", "hessian"], default=None, help="run one part"
    )
    args = parser.parse_args()
    n, repeats = (11, 3) if args.quick else (51, 5)
    if args.only in (None, "surface"):
        bench_surface(n, repeats)
    if args.only in (None, "ray"):
        bench_ray(n, repeats)
    if args.only in (None, "hessian"):
        bench_hessian(3 if args.quick else 5, rows=None)


if __name__ == "__main__":
    main()
