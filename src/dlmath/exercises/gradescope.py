r"""Gradescope: its ``results.json`` from a graded submission, and the autograder's two files.

The format is Gradescope's documented autograder output
(https://gradescope-autograders.readthedocs.io/en/latest/specs/, "Output format"):
top level ``score``, ``execution_time`` (s), ``output``, ``stdout_visibility``,
``tests``; each test ``name``, ``score``, ``max_score``, ``status`` ("passed"/"failed"),
``output``, ``visibility`` ("hidden" | "after_due_date" | "after_published" | "visible").
One test per exercise of the registry, worth one point (partial credit = the exercise's
score), so the assignment's total is the number of exercises.

``dlmath gradescope-setup DIR`` writes ``setup.sh`` (installs dlmath and the CPU build
of ``torch==2.13.0``) and ``run_autograder`` (grades ``/autograder/submission`` into
``/autograder/results/results.json``), which an instructor zips and uploads.
"""

from __future__ import annotations

import os
from pathlib import Path

from dlmath import __version__

__all__ = ["MARKER", "TORCH_PIN", "results_json", "run_autograder_script", "setup_script",
           "write_setup"]  # fmt: skip

TORCH_PIN = "torch==2.13.0"
MARKER = "# written by dlmath gradescope-setup"


def _test_output(e: dict) -> str:
    lines = [f"{e['status']}, score {float(e['score']):.2f}"]
    if e.get("max_error") is not None:
        lines.append(f"worst error: {float(e['max_error']):.3g}")
    if e.get("diagnosis"):
        lines.append(str(e["diagnosis"]))
    return "\n".join(lines)


def results_json(record: dict, *, visibility: str = "visible") -> dict:
    """Gradescope's ``results.json`` content for one graded submission (``record``)."""
    from dlmath.exercises.registry import EXERCISES

    by_name = {e["name"]: e for e in record["exercises"]}
    tests = []
    for name, ex in EXERCISES.items():
        e = by_name.get(name) or {
            "status": "not attempted", "score": 0.0, "max_error": None,
            "diagnosis": record["note"] or f"{name} is not defined",
        }  # fmt: skip
        tests.append({
            "name": f"Lab {ex.lab}: {name}",
            "score": round(float(e["score"]), 4),
            "max_score": 1.0,
            "status": "passed" if e["status"] == "passed" else "failed",
            "output": _test_output(e),
            "visibility": visibility,
        })  # fmt: skip
    summary = [f"dlmath {__version__}: {record['total']:g} / {record['max']} points "
               f"(seed {record['seed']})"]  # fmt: skip
    if record["note"]:
        summary.append(f"Note: {record['note']}")
    summary += [f"- {n}" for n in record["notes"]]
    if record["milestones"]:
        summary.append("Milestones:")
        summary += [f"[{'x' if m['passed'] else ' '}] {m['milestone']} ({m['evidence']})"
                    for m in record["milestones"]]  # fmt: skip
    return {
        "score": round(float(record["total"]), 4),
        "execution_time": max(1, round(float(record["seconds"]))),
        "output": "\n".join(summary),
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def setup_script() -> str:
    """``setup.sh``: runs once, as root, when Gradescope builds the autograder image."""
    return f"""#!/usr/bin/env bash
{MARKER} (dlmath {__version__})
# Installs Python, the CPU build of {TORCH_PIN} and dlmath into /opt/dlmath.
# dlmath comes from a wheel or source folder placed beside this file in the zip
# (`pip wheel . -w DIR --no-deps` in a dlmath checkout); never from the package index
# (a package of that name there may be another one).
set -euo pipefail
cd /autograder/source
if ! ls dlmath-*.whl >/dev/null 2>&1 && [ ! -f dlmath/pyproject.toml ]; then
  echo "dlmath setup.sh: no dlmath-*.whl (or dlmath/ source folder) beside setup.sh in the" \
    "autograder zip; build one in a dlmath checkout: pip wheel . -w DIR --no-deps" >&2
  exit 1
fi
apt-get update -q
apt-get install -y -q python3 python3-venv python3-pip
python3 -m venv /opt/dlmath
/opt/dlmath/bin/pip install -q --upgrade pip
/opt/dlmath/bin/pip install -q --index-url https://download.pytorch.org/whl/cpu "{TORCH_PIN}"
if ls dlmath-*.whl >/dev/null 2>&1; then
  /opt/dlmath/bin/pip install -q dlmath-*.whl
else
  /opt/dlmath/bin/pip install -q ./dlmath
fi
chmod -R a+rX /opt/dlmath  # graded code runs as nobody: it must read Python and dlmath
/opt/dlmath/bin/dlmath --version
"""


def run_autograder_script(*, timeout: float = 10.0, memory_mb: int = 2048, seed: int = 0) -> str:
    """``run_autograder``: grades one submission into Gradescope's results file."""
    return f"""#!/usr/bin/env bash
{MARKER} (dlmath {__version__})
# Grades /autograder/submission (every .py/.ipynb file in it: one submission) with the
# hidden cases of seed {seed}, and writes /autograder/results/results.json.
set -uo pipefail
mkdir -p /autograder/results
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
/opt/dlmath/bin/dlmath grade /autograder/submission --per-folder --jobs 1 \\
  --timeout {timeout:g} --memory-mb {int(memory_mb)} --seed {int(seed)} --no-progress \\
  --out /tmp/dlmath-grade --force --gradescope /autograder/results/results.json
status=$?
cp /tmp/dlmath-grade/feedback/*.html /autograder/results/ 2>/dev/null || true
if [ "$status" -ne 0 ] || [ ! -s /autograder/results/results.json ]; then
  # nothing gradable (no .py/.ipynb file, or several learners' folders): say so, score 0
  printf '{{"score": 0.0, "output": "%s", "tests": []}}\\n' \\
    "dlmath could not grade this submission (exit $status): upload your .py or .ipynb file" \\
    > /autograder/results/results.json
fi
"""


def write_setup(out, *, timeout: float = 10.0, memory_mb: int = 2048, seed: int = 0,
                force: bool = False) -> list[Path]:  # fmt: skip
    """Write ``setup.sh`` and ``run_autograder`` into ``out``; never over a foreign file.

    A file of that name is replaced only when this command wrote it (it starts with
    the marker line) or with ``force``; otherwise ``ValueError`` naming ``out``.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"'out' must be a folder; got {str(out)!r}, which is a file.")
    files = {
        "setup.sh": setup_script(),
        "run_autograder": run_autograder_script(timeout=timeout, memory_mb=memory_mb, seed=seed),
    }
    for name in files:
        target = out / name
        if target.exists() and not force:
            head = target.read_text(errors="replace").splitlines()[:2]
            if not any(line.startswith(MARKER) for line in head):
                raise ValueError(
                    f"'out' must not hold a {name} that dlmath did not write; got "
                    f"{str(target)!r} (pass --force to replace it)."
                )
    from dlmath.viz.files import atomic_write_text

    written = []
    for name, text in files.items():
        path = atomic_write_text(out / name, text)
        os.chmod(path, 0o755)
        written.append(path)
    return written
