"""The five labs of module 1.3, each a module ``labN`` that follows :mod:`dlmath.labs._contract`.

>>> from dlmath.labs import run_lab
>>> result = run_lab(1, "report", quick=True)   # doctest: +SKIP
>>> result.passed                                # doctest: +SKIP
True
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from types import ModuleType

from dlmath._checks import fail
from dlmath.labs._contract import Check, LabContext, LabResult

__all__ = [
    "LABS",
    "Check",
    "LabContext",
    "LabResult",
    "load_lab",
    "notebook_quick",
    "run_lab",
    "save_result",
]

#: lab number -> module name inside dlmath.labs
LABS: dict[int, str] = {1: "lab1", 2: "lab2", 3: "lab3", 4: "lab4", 5: "lab5"}


def load_lab(n: int) -> ModuleType:
    """Import lab ``n``'s module (lazily: a lab's heavy imports load only when it runs)."""
    if n not in LABS:
        raise fail("n", f"a lab number in {sorted(LABS)}", n)
    return importlib.import_module(f"dlmath.labs.{LABS[n]}")


def notebook_quick() -> bool:
    """True when the ``DLMATH_QUICK`` environment variable asks notebooks for small sizes.

    The test suite sets it so every notebook runs end to end within the CI budget; a
    learner running a notebook by hand gets the full sizes.
    """
    return os.environ.get("DLMATH_QUICK", "") not in ("", "0")


def run_lab(
    n: int, out: str | os.PathLike, *, quick: bool = False, seed: int = 0, show_progress=True
) -> LabResult:
    """Run lab ``n`` into ``out/labN`` and return its result (also saved as ``result.json``).

    The lab writes into a staging folder inside ``out`` that replaces ``out/labN`` only
    when the lab has finished, so a second run leaves no stale figures behind and an
    interrupted run leaves the previous results intact.
    """
    module = load_lab(n)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".lab{n}.", dir=out))
    try:
        ctx = LabContext(staging, quick=quick, seed=seed, show_progress=show_progress)
        start = time.perf_counter()
        result = module.run(ctx)
        if not isinstance(result, LabResult) or result.lab != n:
            raise TypeError(f"lab {n}'s run() must return a LabResult for lab {n}; got {result!r}")
        result.seconds = time.perf_counter() - start
        save_result(result, staging)
        _replace_dir(staging, out / f"lab{n}")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return result


def save_result(result: LabResult, lab_dir: str | os.PathLike) -> Path:
    """Write ``result.json`` (checks, figures, tables) into a lab's folder atomically."""
    from dlmath.viz.files import atomic_write_text

    text = json.dumps(result.to_dict(), indent=2, default=_json_default) + "\n"
    return atomic_write_text(Path(lab_dir) / "result.json", text)


def _json_default(obj):
    # numpy scalars and arrays that a lab put in its tables
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def _replace_dir(new: Path, final: Path) -> None:
    """Move ``new`` to ``final``, replacing an older ``final`` (two renames, then cleanup)."""
    trash = None
    if final.exists():
        trash = Path(tempfile.mkdtemp(prefix=f".{final.name}.old.", dir=final.parent))
        os.replace(final, trash / final.name)
    os.replace(new, final)
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)
