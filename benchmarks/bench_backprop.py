"""Benchmarks for dlmath.backprop, each against a reference timed in the same run.

1. Manual forward+backward (NumPy) vs torch autograd on the CPU: the same MLP
   64-256-256-10, batch 256, float32, cross-entropy, same parameters. Target: <= 1.25x torch.
2. A full numerical gradient check of a ~10k-parameter MLP (64-72-64-10, 10,002 params,
   float64, loss on a batch of 8 and of 32 rows): the module's loop (written below, two
   full copies per element) vs the vectorized versions in dlmath. Target: >= 20x faster.

Usage: python benchmarks/bench_backprop.py [--quick]   (prints medians of repeats)
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_limits

from dlmath.backprop import (
    MLP,
    mlp_numerical_gradients,
    numerical_gradient,
    relative_error,
)


def median_time(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def interleaved_times(fns: list[Callable[[], object]], repeats: int, warmup: int = 20):
    """Median time of each function, calling them in turn every round.

    Interleaving means a burst of load from other processes hits all of them alike.
    """
    for _ in range(warmup):
        for fn in fns:
            fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times, strict=True):
            start = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - start)
    return [float(np.median(ts)) for ts in times]


def module_numerical_gradient(f, x, eps=1e-5):
    """The module's reference loop, verbatim (for a 1-D x): two full copies per element."""
    grad = np.zeros_like(x)
    for i in range(len(x)):
        x_plus = x.copy()
        x_plus[i] += eps
        x_minus = x.copy()
        x_minus[i] -= eps
        grad[i] = (f(x_plus) - f(x_minus)) / (2 * eps)
    return grad


def bench_forward_backward(repeats: int) -> None:
    sizes, batch = [64, 256, 256, 10], 256
    mlp = MLP(sizes, activation="relu", loss="cross_entropy", seed=0, dtype=np.float32)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], batch)
    model = mlp.to_torch()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def manual():
        return mlp.loss_and_grads(X, y)

    def autograd():
        model.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(Xt), yt)
        loss.backward()
        return loss

    t_manual, t_torch = interleaved_times([manual, autograd], repeats)
    _, grads = manual()
    autograd()
    torch_grads = [p.grad.numpy() for p in model.parameters()]
    diff = max(float(np.abs(g - t).max()) for g, t in zip(grads.values(), torch_grads, strict=True))
    print(
        f"[1] forward+backward, MLP {'-'.join(map(str, sizes))}, batch {batch}, float32, "
        f"{mlp.n_params:,} params"
    )
    print(f"    manual NumPy : {t_manual * 1e3:8.3f} ms   (median of {repeats})")
    print(f"    torch autograd: {t_torch * 1e3:8.3f} ms")
    print(
        f"    ratio manual/torch = {t_manual / t_torch:.2f}x (target <= 1.25x); "
        f"max |grad diff| = {diff:.1e}"
    )


def bench_gradcheck(n: int, repeats: int, quick: bool) -> None:
    sizes = [64, 72, 64, 10]
    mlp = MLP(sizes, activation="tanh", loss="cross_entropy", seed=0)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((n, sizes[0]))
    y = rng.integers(0, sizes[-1], n)
    theta = mlp.flatten()

    probe = mlp.copy()

    def loss_of(theta_vec):  # the module's f: a flat parameter vector -> the loss
        probe.params = probe.unflatten(theta_vec)  # views into theta_vec, no copy
        return probe.loss_value(X, y)

    print(
        f"[2] full numerical gradient check, MLP {'-'.join(map(str, sizes))} "
        f"({mlp.n_params:,} params), batch {n}, float64, eps 1e-5"
    )
    _, grads = mlp.loss_and_grads(X, y)
    analytic = mlp.flatten(grads)
    # The loop is the slow reference: timed once, over every parameter.
    start = time.perf_counter()
    g_loop = module_numerical_gradient(loss_of, theta)
    t_loop = time.perf_counter() - start
    t_batched = median_time(
        lambda: numerical_gradient(lambda T: mlp.stacked_losses(T, X, y), theta, batched=True),
        1 if quick else 3,
        warmup=0,
    )
    t_struct = median_time(lambda: mlp_numerical_gradients(mlp, X, y), repeats, warmup=1)
    g_struct = mlp.flatten(mlp_numerical_gradients(mlp, X, y))
    print(f"    module loop (reference)            : {t_loop:8.3f} s")
    print(
        f"    numerical_gradient(batched=True)   : {t_batched:8.3f} s   "
        f"ratio {t_loop / t_batched:6.1f}x"
    )
    print(
        f"    mlp_numerical_gradients (vectorized): {t_struct:8.3f} s   "
        f"ratio {t_loop / t_struct:6.1f}x (target >= 20x)"
    )
    print(
        f"    rel error vs backprop: loop {relative_error(g_loop, analytic):.1e}, "
        f"vectorized {relative_error(g_struct, analytic):.1e}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument(
        "--threads", type=int, default=1, help="BLAS threads for NumPy and torch alike (default 1)"
    )
    args = parser.parse_args()
    # Both libraries get the same thread count. On a small shared machine one thread each
    # measures the code rather than how two thread pools fight over the cores.
    torch.set_num_threads(args.threads)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}, "
        f"torch {torch.__version__}, threads {args.threads} (numpy BLAS and torch)"
    )
    with threadpool_limits(args.threads):
        bench_forward_backward(repeats=50 if args.quick else 300)
        for n in (8, 32):  # the data batch the check differentiates the loss on
            bench_gradcheck(n, repeats=1 if args.quick else 3, quick=args.quick)


if __name__ == "__main__":
    main()
