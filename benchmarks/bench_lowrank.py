"""Benchmark dlmath.lowrank: randomized SVD and the one-SVD rank sweep.

1. ``randomized_svd`` vs ``numpy.linalg.svd`` (full) vs ``sklearn.utils.extmath.randomized_svd``
   vs ``torch.svd_lowrank`` on the same n x n float32 matrix with singular values 1/i,
   r = 64: median time of repeats, speed-up over the full SVD, and Frobenius error
   relative to the Eckart-Young optimum ``sqrt(sum_{i>r} s_i^2)``.
2. ``rank_sweep`` over every rank 1..k from one SVD vs forming each reconstruction.

Run: ``python benchmarks/bench_lowrank.py [--quick] [--threads N]`` (quick: n = 1024 and
k = 256; every method runs with the same thread count, 1 by default).
Timings on shared machines are noisy: read the ratios, measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable

import numpy as np
import torch
from sklearn.utils.extmath import randomized_svd as sk_randomized_svd
from threadpoolctl import threadpool_limits

from dlmath.lowrank import matrix_with_spectrum, randomized_svd, rank_sweep, reconstruct


def median_time(f: Callable[[], object], repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), out


def bench_randomized(n: int, r: int, repeats: int, seed: int = 0) -> None:
    S_true = 1.0 / np.arange(1, n + 1)
    W = matrix_with_spectrum(S_true, n, n, seed=seed).astype(np.float32)
    W64 = W.astype(np.float64)
    Wt = torch.from_numpy(W)
    optimal = np.sqrt(np.sum(S_true[r:] ** 2))
    p = 10

    def torch_lowrank(q: int):
        state = torch.random.get_rng_state()  # svd_lowrank draws from the global RNG
        torch.manual_seed(seed)
        U, S, V = torch.svd_lowrank(Wt, q=r + p, niter=q)
        torch.random.set_rng_state(state)
        return U[:, :r].numpy(), S[:r].numpy(), V[:, :r].T.numpy()

    def error(out) -> float:
        U, S, Vt = (np.asarray(a) for a in out)
        return float(np.linalg.norm(W64 - reconstruct(U[:, :r], S[:r], Vt[:r])) / optimal)

    def ours(q: int):
        return randomized_svd(W, r, n_oversamples=p, n_iter=q, seed=seed)

    def sklearn(q: int):
        return sk_randomized_svd(W, r, n_oversamples=p, n_iter=q, random_state=seed)

    q = 4
    methods: dict[str, Callable[[], tuple]] = {
        "numpy.linalg.svd (full)": lambda: np.linalg.svd(W, full_matrices=False),
        f"dlmath randomized_svd (p={p}, q={q})": lambda: ours(q),
        f"sklearn randomized_svd (p={p}, q={q})": lambda: sklearn(q),
        "sklearn randomized_svd (defaults)": lambda: sk_randomized_svd(W, r, random_state=seed),
        f"torch.svd_lowrank (p={p}, niter={q})": lambda: torch_lowrank(q),
    }
    print(f"\n== top-{r} SVD of a {n}x{n} float32 matrix, s_i = 1/i (median of {repeats}) ==")
    print(f"Eckart-Young optimum ||W - W_{r}||_F = {optimal:.6f}")
    print(f"{'method':<40} {'time [s]':>9} {'full/this':>10} {'error/optimal':>14}")
    results = {}
    for name, f in methods.items():
        t, out = median_time(f, 1 if "full" in name else repeats)
        results[name] = (t, error(out))
    t_full = results["numpy.linalg.svd (full)"][0]
    for name, (t, ratio) in results.items():
        print(f"{name:<40} {t:>9.4f} {t_full / t:>9.1f}x {ratio:>14.6f}")
    mine = results[f"dlmath randomized_svd (p={p}, q={q})"]
    print(
        f"dlmath vs full SVD: {t_full / mine[0]:.1f}x faster (target >= 10x), error "
        f"{100 * (mine[1] - 1):.3f}% above optimal (target <= 1%)"
    )

    # equal error: each method's cheapest number of power iterations reaching a tolerance
    scan = {"dlmath": ours, "sklearn": sklearn, "torch": torch_lowrank}
    table = {
        name: [(qq, *median_time(lambda f=f, qq=qq: f(qq), repeats)) for qq in range(0, 9)]
        for name, f in scan.items()
    }
    print(f"\npower iterations q: time [s] / (error/optimal - 1), p = {p}")
    print(f"{'q':>3} " + " ".join(f"{name:>22}" for name in scan))
    for qq in range(0, 9):
        cells = []
        for name in scan:
            _, t, out = table[name][qq]
            cells.append(f"{t:>9.4f} / {error(out) - 1:>9.2e}")
        print(f"{qq:>3} " + " ".join(f"{c:>22}" for c in cells))
    for tol in (1e-2, 1e-3, 1e-4):
        best = {}
        for name in scan:
            hits = [(t, qq) for qq, t, out in table[name] if error(out) - 1 <= tol]
            best[name] = min(hits) if hits else (float("nan"), -1)
        line = ", ".join(f"{k} {t:.4f} s (q={qq})" for k, (t, qq) in best.items())
        print(
            f"equal error <= {tol:g} above optimal: {line}; "
            f"sklearn/dlmath = {best['sklearn'][0] / best['dlmath'][0]:.2f}, "
            f"torch/dlmath = {best['torch'][0] / best['dlmath'][0]:.2f}, "
            f"full/dlmath = {t_full / best['dlmath'][0]:.1f}"
        )


def bench_sweep(k: int, repeats: int, seed: int = 0) -> None:
    W = np.random.default_rng(seed).standard_normal((k, k))
    ranks = np.arange(1, k + 1)

    def explicit():
        U, S, Vt = np.linalg.svd(W, full_matrices=False)
        norm = np.linalg.norm(W)
        return (
            np.array([np.linalg.norm(W - reconstruct(U[:, :r], S[:r], Vt[:r])) for r in ranks])
            / norm
        )

    t_sweep, sweep = median_time(lambda: rank_sweep(W, ranks), repeats)
    t_explicit, errs = median_time(explicit, 1)
    print(f"\n== relative Frobenius error at every rank 1..{k} of a {k}x{k} float64 matrix ==")
    print(f"rank_sweep (one SVD, singular values only): {t_sweep:.4f} s (median of {repeats})")
    print(f"one SVD + {k} explicit reconstructions:     {t_explicit:.4f} s (one run)")
    print(f"ratio explicit / rank_sweep = {t_explicit / t_sweep:.1f}x; "
          f"max |difference| = {np.max(np.abs(sweep.frobenius - errs)):.2e}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (n=1024, k=256)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="BLAS/LAPACK and torch threads for every method (default 1: on a shared machine "
        "a busy thread pool makes threaded LAPACK erratic, e.g. a 2048x74 QR 100x slower)",
    )
    args = parser.parse_args()
    n, k, repeats = (1024, 256, 3) if args.quick else (2048, 768, 5)
    torch.set_num_threads(args.threads)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; {args.threads} thread(s) for "
        f"numpy/scipy BLAS and torch; numpy {np.__version__}, torch {torch.__version__}"
    )
    with threadpool_limits(args.threads):
        bench_randomized(n, 64, repeats)
        bench_sweep(k, repeats)


if __name__ == "__main__":
    main()
