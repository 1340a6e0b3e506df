"""The five labs of module 1.3, each a module ``labN`` that follows :mod:`dlmath.labs._contract`.

>>> from dlmath.labs import run_lab
>>> result = run_lab(1, "report", quick=True)   # doctest: +SKIP
>>> result.passed                                # doctest: +SKIP
True
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from dlmath._checks import fail
from dlmath.labs._contract import Check, LabContext, LabResult, Section, summarize

__all__ = [
    "LABS",
    "Check",
    "LabContext",
    "LabResult",
    "Section",
    "load_lab",
    "notebook_quick",
    "run_lab",
    "save_failed_result",
    "save_result",
    "summarize",
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

    The lab writes into a staging folder inside ``out``; only when it has finished are its
    files moved into ``out/labN`` (each by an atomic rename, ``result.json`` last) and
    listed in ``out``'s manifest, and the files of the previous run that this one did not
    write again are removed. Files dlmath did not write (a user's notes) are kept; an
    interrupted or crashed run removes its staging and leaves the previous results intact.
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
    finally:
        _remove_staging(staging)
    return result


def save_failed_result(result: LabResult, out: str | os.PathLike) -> None:
    """Replace lab ``result.lab``'s files in ``out`` by just this (failed) ``result.json``."""
    out = Path(out)
    staging = Path(tempfile.mkdtemp(prefix=f".lab{result.lab}.", dir=out))
    try:
        save_result(result, staging)
        _replace_dir(staging, out / f"lab{result.lab}")
    finally:
        _remove_staging(staging)


def save_result(result: LabResult, lab_dir: str | os.PathLike) -> Path:
    """Write ``result.json`` (checks, figures, tables) into a lab's folder atomically."""
    from dlmath.viz.files import atomic_write_text

    # to_dict() is plain JSON data already (json_safe); a NaN that slipped past it raises
    text = json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n"
    return atomic_write_text(Path(lab_dir) / "result.json", text)


#: the signals that a user sends to stop a run (Ctrl-C, ``kill``): held while files move
_HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM for the block; those that arrived are delivered after it.

    So an interrupt cannot land between two renames (a lab folder half old, half new) or
    in the middle of removing a staging folder. The signals are blocked for this thread
    (``pthread_sigmask``) and, for one that the kernel hands to another thread, the
    Python handlers record it instead of acting; at the end the mask and handlers are
    restored and each recorded signal is raised again, so the caller's handler (or the
    default action) runs as if it had just arrived. Off the main thread nothing is held.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []
    previous: dict[int, object] = {}
    old_mask = None
    try:
        for sig in _HELD_SIGNALS:
            if signal.getsignal(sig) is not None:  # None: set outside Python, cannot restore
                previous[sig] = signal.signal(sig, lambda signum, frame: arrived.append(signum))
        if hasattr(signal, "pthread_sigmask"):  # POSIX
            old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD_SIGNALS)
        yield
    finally:
        if old_mask is not None:  # pending signals reach the recorders now
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sig in dict.fromkeys(arrived):
            signal.raise_signal(sig)


def _remove_staging(staging: Path) -> None:
    """Remove a staging folder entirely, even when an interrupt arrives meanwhile."""
    with _signals_held():
        shutil.rmtree(staging, ignore_errors=True)


def _replace_dir(new: Path, final: Path) -> None:
    """Install the files of folder ``new`` as ``final`` (= ``DIR/labN``), owning only those.

    In order: the manifest of ``DIR`` lists the new files (so an interruption never leaves
    a file of ours unlisted), each file is renamed over its target (``result.json`` last,
    so a reader never sees a result without its figures), the manifest drops the previous
    run's files that were not rewritten and they are deleted. Other files stay. SIGINT
    and SIGTERM are held meanwhile (:func:`_signals_held`): an interrupt never leaves
    ``final`` half old, half new.
    """
    from dlmath.report import owned_files, record_files

    with _signals_held():  # an interrupt waits until every file is in place
        out = final.parent
        if final.exists() and not final.is_dir():
            raise FileExistsError(f"{final} exists and is not a folder; it was kept.")
        files = sorted(
            (p.relative_to(new).as_posix() for p in new.rglob("*") if p.is_file()),
            key=lambda rel: rel == "result.json",
        )
        prefix = f"{final.name}/"
        new_owned = {prefix + rel for rel in files}
        old_owned = {f for f in owned_files(out) or set() if f.startswith(prefix)}
        record_files(out, add=new_owned)
        final.mkdir(exist_ok=True)
        for rel in files:
            target = final / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(new / rel, target)
        stale = old_owned - new_owned
        record_files(out, remove=stale)
        for rel in stale:
            (out / rel).unlink(missing_ok=True)
