"""Adam step time: dlmath.optim.Adam (NumPy, in place) vs torch.optim.Adam(foreach=True).

A realistic parameter list: 21 float32 arrays, about 5M values (an embedding and five
768-wide blocks). Both optimizers step the same parameters with the same gradients in
the same process, alternating rounds; we print the median step time of each and the
ratio (target <= 1.5), against torch at its default thread count and at one thread
(NumPy's ufuncs are single-threaded; on a shared 2-core machine torch's second thread
can make it much slower, so the one-thread ratio is the like-for-like figure).
Also measured: the optimizer state in bytes (Adam: exactly 2x the parameters), the
fixed block scratch, and the peak memory NumPy allocates during one step (tracemalloc;
no parameter-sized temporaries).

    python benchmarks/bench_optim.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc

import numpy as np
import torch

from dlmath.optim import Adam
from dlmath.optim.reference import max_rel_diff


def shapes() -> list[tuple[int, ...]]:
    out: list[tuple[int, ...]] = [(1024, 560)]
    for _ in range(5):
        out += [(768, 768), (768,), (768, 384), (384,)]
    return out


def median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    repeats, rounds = (5, 3) if args.quick else (15, 5)

    rng = np.random.default_rng(0)
    params = [rng.standard_normal(s).astype(np.float32) for s in shapes()]
    grads = [rng.standard_normal(s).astype(np.float32) for s in shapes()]
    n_values = sum(p.size for p in params)

    ours = [p.copy() for p in params]
    opt = Adam(ours, lr=1e-3)
    theirs = [torch.tensor(p) for p in params]
    for t, g in zip(theirs, grads, strict=True):
        t.grad = torch.from_numpy(g)
    ref = torch.optim.Adam(theirs, lr=1e-3, foreach=True)

    for _ in range(3):  # warm up (state allocation, caches) and agree on the first steps
        opt.step(grads)
        ref.step()
    agree = max(max_rel_diff(a, b.numpy()) for a, b in zip(ours, theirs, strict=True))

    threads = torch.get_num_threads()
    t_ours, t_torch, t_torch1 = [], [], []
    for _ in range(rounds):  # alternate so all see the same machine load
        t_ours.append(median_ms(lambda: opt.step(grads), repeats))
        t_torch.append(median_ms(ref.step, repeats))
        torch.set_num_threads(1)  # NumPy's ufuncs use one thread: the like-for-like reference
        t_torch1.append(median_ms(ref.step, repeats))
        torch.set_num_threads(threads)
    ms_ours, ms_torch = statistics.median(t_ours), statistics.median(t_torch)
    ms_torch1 = statistics.median(t_torch1)

    tracemalloc.start()
    opt.step(grads)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    param_bytes = opt.param_nbytes
    print(f"parameters: {len(params)} float32 arrays, {n_values:,} values, {param_bytes:,} bytes")
    print(f"after 3 steps, max rel diff dlmath vs torch (float32): {agree:.2e}")
    print(f"dlmath Adam step:                   {ms_ours:8.2f} ms (median)")
    print(f"torch.optim.Adam(foreach=True) step: {ms_torch:8.2f} ms (median, {threads} threads)")
    print(f"torch.optim.Adam(foreach=True) step: {ms_torch1:8.2f} ms (median, 1 thread)")
    print(f"ratio dlmath / torch ({threads} threads): {ms_ours / ms_torch:.2f}  (target <= 1.5)")
    print(
        f"ratio dlmath / torch (1 thread, like NumPy): {ms_ours / ms_torch1:.2f}  (target <= 1.5)"
    )
    print(
        f"optimizer state: {opt.state_nbytes:,} bytes = "
        f"{opt.state_nbytes / param_bytes:.6f} x parameters (m and v)"
    )
    scratch = sum(a.nbytes for arrays in opt._scratch.values() for a in arrays)
    print(f"fixed block scratch: {scratch:,} bytes ({scratch / param_bytes:.4%} of parameters)")
    print(
        f"peak NumPy allocation during one step (tracemalloc): {peak:,} bytes "
        f"({peak / param_bytes:.4%} of parameters)"
    )


if __name__ == "__main__":
    main()
