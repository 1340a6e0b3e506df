"""Benchmark learner mode: `check(fn)` per exercise, and `dlmath check` of a solved file.

Usage: python benchmarks/bench_check.py [--quick] [--repeats R]

1. ``check(fn)`` as a notebook cell calls it, for each of the 29 exercises with its
   registry solution: a forked learner process, the hidden cases, the references, the
   comparison and the diagnosis. The notebook's first cell, ``from dlmath.exercises import
   check``, imports the references' packages (torch among them); it and the first check
   are measured in a fresh interpreter.
2. ``dlmath check FILE`` of one file with all 29 exercises solved, as a learner runs it:
   a fresh interpreter (``python -m dlmath check``), so the time includes starting Python
   and importing numpy, torch and dlmath.
3. The same file with a slow but correct solution (pure-Python loops) of
   ``linear_forward``, to show that it passes within the per-exercise time limit.

Targets (issue 10): < 2 s per exercise, < 30 s for all 29 on a 2-core machine.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from dlmath.exercises import EXERCISES, check

SLOW_LINEAR_FORWARD = '''
def linear_forward(X, W, b):
    """Z = X @ W.T + b with three Python loops."""
    n, d_out, d_in = X.shape[0], W.shape[0], W.shape[1]
    Z = np.zeros((n, d_out), dtype=X.dtype)
    for i in range(n):
        for j in range(d_out):
            s = 0.0
            for k in range(d_in):
                s += X[i, k] * W[j, k]
            Z[i, j] = s + b[j]
    return Z
'''


def solved_source(replace: dict[str, str] | None = None) -> str:
    replace = replace or {}
    parts = [replace.get(e.name, e.solution_source) for e in EXERCISES.values()]
    return "import numpy as np\n\n" + "\n\n".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one repeat of each measurement")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    repeats = 1 if args.quick else args.repeats

    namespace: dict = {"np": np}
    exec(solved_source(), namespace)  # the solutions, defined as a notebook would

    print("1. check(fn) per exercise (median of", repeats, "after a first call)")
    cold_script = (
        "import time; t = time.perf_counter(); import numpy as np\n"
        "from dlmath.exercises import EXERCISES, check\n"
        "t1 = time.perf_counter(); ns = {'np': np}\n"
        "exec(EXERCISES['lora_forward'].solution_source, ns)\n"
        "assert check(ns['lora_forward']).exercises[0].status == 'passed'\n"
        "print(t1 - t, time.perf_counter() - t1)"
    )
    out = subprocess.run(
        [sys.executable, "-c", cold_script], capture_output=True, text=True, check=True
    ).stdout
    imports, first = (float(v) for v in out.split())
    print(
        f"   a fresh kernel: `from dlmath.exercises import check` {imports:.2f} s (numpy, "
        f"torch, dlmath), then its first check {first:.2f} s"
    )
    check(namespace["linear_forward"])
    rows = []
    for name in EXERCISES:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            report = check(namespace[name])
            times.append(time.perf_counter() - start)
        r = report.exercises[0]
        assert r.status == "passed", (name, r.diagnosis)
        rows.append((name, r.cases, statistics.median(times)))
    for name, n_cases, t in rows:
        print(f"   {name:<26} {n_cases:3d} cases  {t * 1e3:7.1f} ms")
    worst = max(rows, key=lambda row: row[2])
    total_cases = sum(row[1] for row in rows)
    print(
        f"   slowest: {worst[0]} {worst[2]:.3f} s; sum over 29 exercises "
        f"{sum(row[2] for row in rows):.2f} s ({total_cases} hidden cases); target < 2 s each"
    )

    with tempfile.TemporaryDirectory() as tmp:
        for label, source in (
            ("2. dlmath check of a file with all 29 solved", solved_source()),
            (
                "3. the same with a pure-Python loop linear_forward",
                solved_source({"linear_forward": SLOW_LINEAR_FORWARD}),
            ),
        ):
            path = Path(tmp) / "solved.py"
            path.write_text(source)
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                proc = subprocess.run(
                    [sys.executable, "-m", "dlmath", "check", str(path)],
                    capture_output=True,
                    text=True,
                )
                times.append(time.perf_counter() - start)
                assert proc.returncode == 0, proc.stdout + proc.stderr
            print(
                f"{label}: {statistics.median(times):.2f} s (fresh interpreter, median of "
                f"{repeats}; exit 0, 29/29 passed); target < 30 s"
            )


if __name__ == "__main__":
    main()
