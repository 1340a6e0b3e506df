"""Benchmark dlmath.prob entropy / cross_entropy / kl_divergence against SciPy and torch.

Usage: python benchmarks/bench_prob.py [--quick] [--repeats R]

Rows of (n, K) = (1e6, 100) float64 probability vectors (--quick: (1e5, 100)). For each
quantity it prints the median time of dlmath, SciPy and torch (measured in the same run,
interleaved), the ratios reference / dlmath (> 1: dlmath is faster), and the peak
temporary memory each NumPy/SciPy call allocates on top of its inputs, traced with
tracemalloc (NumPy reports its array allocations to it), in units of one input array.
torch's allocator is not traced by tracemalloc, so its memory column says n/a.

References: entropy -> scipy.stats.entropy(p, axis=-1), Categorical(probs).entropy();
kl_divergence -> scipy.stats.entropy(p, q, axis=-1), torch kl_divergence(Categorical,
Categorical); cross_entropy (SciPy has none) -> -scipy.special.xlogy(p, q).sum(-1),
F.cross_entropy(log q, p, reduction="none").
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable

import numpy as np
import scipy.special
import scipy.stats
import torch
import torch.nn.functional as F
from torch import distributions as td

from dlmath.prob import distribution_cross_entropy, entropy, kl_divergence


def timed(fn: Callable[[], object]) -> float:
    gc.collect()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def peak_temporary(fn: Callable[[], object]) -> int:
    """Peak bytes allocated during ``fn`` beyond what was allocated before it (the result too)."""
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="(1e5, 100) instead of (1e6, 100)")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    n, K = (100_000, 100) if args.quick else (1_000_000, 100)
    repeats = args.repeats or (5 if args.quick else 3)
    rng = np.random.default_rng(0)
    p = rng.random((n, K))
    p /= p.sum(axis=1, keepdims=True)
    q = rng.random((n, K))
    q /= q.sum(axis=1, keepdims=True)
    tp, tq = torch.from_numpy(p), torch.from_numpy(q)  # shared memory, no copy
    print(
        f"inputs: p, q of shape ({n}, {K}) float64, {p.nbytes / 2**20:.0f} MiB each; "
        f"torch {torch.__version__} with {torch.get_num_threads()} threads; "
        f"median of {repeats} runs"
    )

    cases = {
        "entropy": {
            "dlmath": lambda: entropy(p),
            "scipy": lambda: scipy.stats.entropy(p, axis=-1),
            "torch": lambda: td.Categorical(probs=tp, validate_args=False).entropy(),
        },
        "cross_entropy": {
            "dlmath": lambda: distribution_cross_entropy(p, q),
            "scipy": lambda: -scipy.special.xlogy(p, q).sum(axis=-1),
            "torch": lambda: F.cross_entropy(torch.log(tq), tp, reduction="none"),
        },
        "kl_divergence": {
            "dlmath": lambda: kl_divergence(p, q),
            "scipy": lambda: scipy.stats.entropy(p, q, axis=-1),
            "torch": lambda: td.kl_divergence(
                td.Categorical(probs=tp, validate_args=False),
                td.Categorical(probs=tq, validate_args=False),
            ),
        },
    }
    header = (
        f"{'quantity':<14}{'dlmath s':>10}{'scipy s':>10}{'torch s':>10}"
        f"{'scipy/dlmath':>14}{'torch/dlmath':>14}{'max |diff|':>12}"
        f"   peak temp (x input): dlmath / scipy"
    )
    print(header)
    for name, fns in cases.items():
        ours = fns["dlmath"]()
        err = max(np.abs(ours - fns["scipy"]()).max(), np.abs(ours - fns["torch"]().numpy()).max())
        times: dict[str, list[float]] = {k: [] for k in fns}
        for _ in range(repeats):  # interleaved, so machine load hits all three alike
            for k, fn in fns.items():
                times[k].append(timed(fn))
        med = {k: statistics.median(v) for k, v in times.items()}
        mem_ours = peak_temporary(fns["dlmath"]) / p.nbytes
        mem_scipy = peak_temporary(fns["scipy"]) / p.nbytes
        print(
            f"{name:<14}{med['dlmath']:>10.3f}{med['scipy']:>10.3f}{med['torch']:>10.3f}"
            f"{med['scipy'] / med['dlmath']:>14.2f}{med['torch'] / med['dlmath']:>14.2f}"
            f"{err:>12.1e}   {mem_ours:.4f} / {mem_scipy:.2f}   (torch: n/a)"
        )
    print("target: scipy/dlmath >= 1 (no slower than SciPy); dlmath peak temp <= 2 inputs")


if __name__ == "__main__":
    main()
