r"""Grade a class: every submission checked in its own sandbox, grades, feedback, a summary.

>>> from dlmath.exercises.grading import grade
>>> run = grade(["submissions/"], "grades", jobs=2)       # doctest: +SKIP

Each submission (a ``.py``/``.ipynb`` file, or with ``per_folder`` a folder of them) is
checked by :func:`dlmath.exercises.checking.check_file` on the same seeded hidden cases,
in a pool of warm worker processes (forks of this one, NumPy and dlmath imported). A
worker forks one sandboxed child per submission (:mod:`dlmath.exercises.sandbox`), so
a hostile submission can end only its own child; a worker that dies anyway (a submission
that signalled its grader) is replaced and the submission retried alone, then noted.

The score of an exercise is in [0, 1] (the fraction of its case groups passed); a
submission's ``total`` is the sum over every exercise of the registry, ``max`` their
number. Written into ``out`` (and nowhere else): ``grades.csv``, ``grades.json`` (every
detail), ``feedback/<submission>.html``, ``summary.html``, ``summary.json`` and a manifest
``.dlmath-grade.json`` naming the files the grader wrote, so a rerun replaces only those.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import os
import re
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from dlmath import __version__
from dlmath._checks import check_seed

__all__ = ["GradeRun", "Submission", "find_submissions", "grade", "grade_submission"]

SUFFIXES = (".py", ".ipynb")
MANIFEST = ".dlmath-grade.json"
OWN_NAMES = ("grades.csv", "grades.json", "summary.html", "summary.json", MANIFEST)
_SKIP_DIRS = {"__pycache__", ".ipynb_checkpoints", ".git", "node_modules"}
_NOTE_LIMIT = 160
# dlmath's own implementations: a submission importing them is flagged for a human look
# what a submission may import from dlmath unflagged (the exercise notebooks' first cell)
_LEARNER_API = tuple(
    f"dlmath.exercises.{n}"
    for n in ("check", "plot_convergence", "plot_rank_error", "plot_surface")
)


@dataclass(frozen=True)
class Submission:
    """One learner's work: a unique, file-name-safe ``name`` and its ``files``."""

    name: str
    files: tuple[Path, ...]


@dataclass
class GradeRun:
    """What :func:`grade` wrote and found. ``records``: one dict per submission."""

    out: Path
    records: list[dict]
    summary: dict
    seconds: float
    files: list[Path] = field(default_factory=list)


# ----------------------------------------------------------------------------- finding


def _code_files(folder: Path) -> list[Path]:
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
        for name in sorted(files):
            if name.lower().endswith(SUFFIXES) and not name.startswith("."):
                found.append(Path(root) / name)
    return found


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "submission"


def find_submissions(paths: Iterable, *, per_folder: bool = False) -> list[Submission]:
    """The submissions named by ``paths`` (files and folders), in a stable order.

    A file is one submission. A folder holds one submission per code file inside it
    (recursively), or, with ``per_folder``, is one submission when it holds code files
    itself, and otherwise holds one submission per subfolder (named after the folder).
    Names are the file stems (or folder names), made unique with the parent folders'
    names where two would collide.
    """
    paths = [Path(p) for p in ([paths] if isinstance(paths, (str, os.PathLike)) else paths)]
    if not paths:
        raise ValueError("'submissions' must name at least one file or folder; got none.")
    groups: list[tuple[Path, tuple[Path, ...]]] = []  # (identity path, files)
    for p in paths:
        if p.is_file():
            if p.suffix.lower() not in SUFFIXES:
                raise ValueError(
                    f"'submissions' must be .py/.ipynb files or folders; got {str(p)!r}."
                )
            groups.append((p.with_suffix(""), (p,)))
        elif p.is_dir():
            if not per_folder:
                groups += [(f.with_suffix(""), (f,)) for f in _code_files(p)]
            elif any(f.suffix.lower() in SUFFIXES for f in p.iterdir() if f.is_file()):
                groups.append((p, tuple(_code_files(p))))
            else:
                for sub in sorted(
                    d for d in p.iterdir() if d.is_dir() and d.name not in _SKIP_DIRS
                ):
                    files = tuple(_code_files(sub))
                    if files:
                        groups.append((sub, files))
        else:
            raise ValueError(
                f"'submissions' must be existing files or folders; got {str(p)!r} (not found)."
            )
    if not groups:
        raise ValueError(
            "'submissions' must contain .py or .ipynb files; "
            f"found none in {[str(p) for p in paths]}."
        )
    # the same files named twice are one submission; bob.py and bob.ipynb are two
    # (the second keeps its suffix in its name: "bob", "bob.ipynb")
    seen: dict[tuple[Path, ...], Path] = {}
    for ident, files in groups:
        seen.setdefault(tuple(f.resolve() for f in files), ident.resolve())
    counts: dict[Path, int] = {}
    for ident in seen.values():
        counts[ident] = counts.get(ident, 0) + 1
    keyed = []
    for files, ident in seen.items():
        if counts[ident] > 1 and len(files) == 1 and files[0].suffix.lower() != ".py":
            ident = ident.with_name(files[0].name)
        keyed.append((ident, files))
    names = _unique_names([ident for ident, _ in keyed])
    subs = [Submission(names[i], files) for i, (_, files) in enumerate(keyed)]
    return sorted(subs, key=lambda s: s.name)


def _unique_names(idents: list[Path]) -> list[str]:
    """The shortest path tails (``a__b``) that tell the submissions apart."""
    depth = 1
    while True:
        names = [_safe("__".join(p.parts[-depth:])) for p in idents]
        if len(set(names)) == len(names) or depth > max(len(p.parts) for p in idents):
            break
        depth += 1
    counts: dict[str, int] = {}
    unique = []
    for n in names:  # still equal (only at the root): number them
        counts[n] = counts.get(n, 0) + 1
        unique.append(n if counts[n] == 1 else f"{n}_{counts[n]}")
    return unique


# ----------------------------------------------------------------------------- one submission


_COMPUTED_IMPORT = "a module named at run time (importlib/__import__)"


def _imports_by_name(call: ast.Call) -> bool:
    """``call`` imports a module whose name is computed (not a plain string): it may be
    dlmath's own, and no string in the file says so."""
    f = call.func
    name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
    if name not in ("import_module", "__import__") or not call.args:
        return False
    first = call.args[0]
    return not (isinstance(first, ast.Constant) and isinstance(first.value, str))


def _library_imports(source: str) -> list[str]:
    """dlmath modules that ``source`` imports, or names in a string (``importlib``,
    ``__import__``): all but the learner's API, ``from dlmath.exercises import check``
    (and the plot helpers), the notebooks' first cell."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    found = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module in ("dlmath", "dlmath.exercises"):  # from dlmath import optim
                names = [f"{node.module}.{a.name}" for a in node.names]
            else:
                names = [node.module]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names = re.findall(r"\bdlmath(?:\.\w+)+", node.value)
        elif isinstance(node, ast.Call) and _imports_by_name(node):
            found.add(_COMPUTED_IMPORT)  # importlib.import_module("dl" + "math.prob")
        for name in names:
            if name.split(".")[0] == "dlmath" and name not in _LEARNER_API:
                found.add(name)
    return sorted(found)


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in str(text).strip().splitlines() if ln.strip()]
    if not lines:
        return ""
    traceback = any(ln.startswith("Traceback (most recent call last)") for ln in lines)
    line = lines[-1] if traceback else lines[0]  # a traceback: its exception line
    return line if len(line) <= _NOTE_LIMIT else line[: _NOTE_LIMIT - 3] + "..."


def grade_submission(
    sub: Submission, *, seed: int = 0, timeout: float = 10.0, memory_mb: int = 2048
) -> dict:
    """Check one submission; the record that grades.csv, feedback and the summary use."""
    from dlmath.exercises.checking import check_file
    from dlmath.exercises.registry import EXERCISES
    from dlmath.exercises.source import PREAMBLE, source_from_path

    start = time.perf_counter()
    notes: list[str] = []  # for the feedback page
    flags: list[str] = []  # for grades.csv's note column
    report = None
    try:
        sources = []
        for f in sub.files:
            source, file_notes = source_from_path(f)
            sources.append((f, source))
            prefix = f"{f.name}: " if len(sub.files) > 1 else ""
            notes += [prefix + n for n in file_notes]
        # a notebook's first line is dlmath's own stand-in for IPython, not the learner's
        library = sorted(
            {m for _, s in sources for m in _library_imports(s.removeprefix(PREAMBLE))}
        )
        if library:
            flags.append(f"imports {', '.join(library)} (dlmath's own code; look at it)")
        if len(sub.files) == 1:
            report = check_file(sub.files[0], seed=seed, timeout=timeout, memory_mb=memory_mb)
        else:
            with tempfile.TemporaryDirectory(prefix="dlmath-grade-") as tmp:
                combined = Path(tmp) / f"{sub.name}.py"
                combined.write_text(
                    "\n\n".join(f"# ==== {f.name}\n{s}" for f, s in sources), encoding="utf-8"
                )
                report = check_file(combined, seed=seed, timeout=timeout, memory_mb=memory_mb)
    except (ValueError, OSError) as exc:
        flags.insert(0, f"could not run: {_first_line(exc)}")
    except Exception as exc:  # a grader bug must not stop the class: note it
        flags.insert(0, f"grader error ({type(exc).__name__}): {_first_line(exc)}")
    exercises, milestones, load_error = [], [], ""
    if report is not None:
        load_error = report.load_error
        exercises = [
            {
                **e.to_dict(),
                "mistakes": list(e.mistakes),
                "cases": e.cases,
                "groups": [
                    {k: g.get(k) for k in ("group", "passed", "cases", "max_error", "diagnosis")}
                    for g in e.groups
                ],
            }
            for e in report.exercises
        ]
        milestones = [
            {k: m.get(k) for k in ("milestone", "passed", "evidence")} for m in report.milestones
        ]
        attempted = [e for e in exercises if e["status"] != "not attempted"]
        if load_error:
            prefix = "could not run" if not attempted else "stopped while loading"
            flags.insert(0, f"{prefix}: {_first_line(load_error)}")
        elif not attempted:
            flags.insert(0, "no exercise attempted (none of the exercise functions is defined)")
        for e in exercises:
            if e["status"] in ("timeout", "error"):
                flags.append(f"{e['name']}: {_first_line(e['diagnosis']) or e['status']}")
    by_name = {e["name"]: e for e in exercises}
    scores = {n: float(by_name[n]["score"]) if n in by_name else 0.0 for n in EXERCISES}
    return {
        "submission": sub.name,
        "files": [str(f) for f in sub.files],
        "total": round(sum(scores.values()), 4),
        "max": len(EXERCISES),
        "scores": scores,
        "note": "; ".join(flags),
        "notes": notes,
        "load_error": load_error,
        "exercises": exercises,
        "milestones": milestones,
        "seed": seed,
        "seconds": round(time.perf_counter() - start, 3),
    }


# ----------------------------------------------------------------------------- the batch


def _init_worker() -> None:
    """One BLAS/torch thread per worker (no oversubscription, the same sums every run)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def _grade_task(args: tuple) -> dict:
    sub, kwargs, started = args
    Path(started).touch()  # so a dead pool tells which submissions were being graded
    return grade_submission(sub, **kwargs)


def _killed_record(sub: Submission, kwargs: dict) -> dict:
    from dlmath.exercises.registry import EXERCISES

    return {
        "submission": sub.name, "files": [str(f) for f in sub.files], "total": 0.0,
        "max": len(EXERCISES), "scores": dict.fromkeys(EXERCISES, 0.0),
        "note": "could not run: it killed the grader's worker process", "notes": [],
        "load_error": "the grader's worker process was killed while grading this submission",
        "exercises": [], "milestones": [], "seed": kwargs["seed"], "seconds": 0.0,
    }  # fmt: skip


def _warm_up() -> None:
    """Import what checking imports lazily, once, before the workers fork (they inherit it)."""
    import dlmath.backprop  # noqa: F401  (the milestone's autograd comparison)
    import dlmath.exercises.checking  # noqa: F401
    import dlmath.milestones  # noqa: F401


def _run_pool(subs: list[Submission], kwargs: dict, jobs: int, progress: bool) -> list[dict]:
    import multiprocessing

    from tqdm.auto import tqdm

    _warm_up()
    context = multiprocessing.get_context("fork")
    records: dict[int, dict] = {}
    pending = list(range(len(subs)))
    bar = tqdm(total=len(subs), desc="grading", unit="submission", disable=not progress)
    suspects: list[int] = []  # submissions in flight when a worker died: each retried alone
    marks = tempfile.mkdtemp(prefix="dlmath-grade-started-")
    try:
        while pending:
            alone = bool(suspects)
            workers = 1 if alone else min(jobs, len(pending))
            broken: list[int] = []
            with (
                warnings.catch_warnings(),  # 3.12+: "multi-threaded fork" (the workers
                ProcessPoolExecutor(  # only run grading code, no inherited threads)
                    workers, mp_context=context, initializer=_init_worker
                ) as pool,
            ):
                warnings.filterwarnings("ignore", ".*fork.*", DeprecationWarning)
                todo = suspects[:1] if alone else pending
                futures = {
                    pool.submit(_grade_task, (subs[i], kwargs, os.path.join(marks, str(i)))): i
                    for i in todo
                }
                for fut in as_completed(futures):
                    i = futures[fut]
                    try:
                        records[i] = fut.result()
                        bar.update(1)
                    except BrokenProcessPool:
                        broken.append(i)
            if alone:
                if broken:  # it killed its worker even when graded alone
                    records[broken[0]] = _killed_record(subs[broken[0]], kwargs)
                    bar.update(1)
                suspects = suspects[1:]
            elif broken:  # suspects: what the dead pool had started and not finished
                unfinished = [i for i in todo if i not in records]
                suspects = [i for i in unfinished if os.path.exists(os.path.join(marks, str(i)))]
                suspects = suspects or unfinished
            pending = [i for i in pending if i not in records]
    finally:
        bar.close()
        shutil.rmtree(marks, ignore_errors=True)
    return [records[i] for i in range(len(subs))]


def _check_out(out: Path, force: bool) -> list[str]:
    """Refuse a non-empty folder the grader did not write; the files a previous run wrote."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"'out' must be a folder; got {str(out)!r}, which is a file.")
    if not out.exists() or not any(out.iterdir()):
        return []
    manifest = out / MANIFEST
    if manifest.is_file():
        try:
            return [str(p) for p in json.loads(manifest.read_text())["files"]]
        except (ValueError, KeyError, TypeError):
            return []
    if not force:
        raise ValueError(
            f"'out' must be empty or a folder that dlmath grade wrote; got {str(out)!r}, "
            "which holds other files (pass --force to write beside them; only the grader's "
            "own file names are written)."
        )
    return []


def _own_stale_file(out: Path, rel: str) -> Path | None:
    """The file a manifest entry ``rel`` names, if it may be deleted: one of the grader's
    own names directly in ``out``, or an ``.html`` page directly in ``out/feedback`` (the
    manifest is only data: ``feedback/../../x`` or a link never reaches outside)."""
    if not isinstance(rel, str) or "\x00" in rel:
        return None
    root = out.resolve()
    path = (out / rel).resolve()
    if rel in OWN_NAMES and path.parent == root and path.name == rel:
        return out / rel
    feedback_dir = (out / "feedback").resolve()
    if (
        path.parent == feedback_dir
        and feedback_dir.parent == root
        and path.suffix == ".html"
        and rel == f"feedback/{path.name}"
    ):
        return out / rel
    return None


def grade(
    submissions: Sequence,
    out,
    *,
    jobs: int | None = None,
    timeout: float = 10.0,
    memory_mb: int = 2048,
    per_folder: bool = False,
    gradescope=None,
    seed: int = 0,
    force: bool = False,
    progress: bool = True,
    command: str = "",
) -> GradeRun:
    """Grade every submission into ``out``; see the module docstring for what is written.

    ``jobs`` worker processes (default: the core count); each exercise of each
    submission gets ``timeout`` seconds of wall clock and ``memory_mb`` of memory.
    ``gradescope``: also write Gradescope's ``results.json`` there (one submission only).
    """
    from dlmath.exercises import feedback
    from dlmath.exercises.gradescope import results_json
    from dlmath.viz.files import atomic_write_text

    start = time.perf_counter()
    jobs = (os.cpu_count() or 1) if jobs is None else jobs
    if not (isinstance(jobs, int) and jobs >= 1):
        raise ValueError(f"'jobs' must be a positive integer; got {jobs!r}.")
    if not (isinstance(timeout, (int, float)) and timeout > 0):
        raise ValueError(f"'timeout' must be a positive number of seconds; got {timeout!r}.")
    if not (isinstance(memory_mb, int) and memory_mb > 0):
        raise ValueError(f"'memory_mb' must be a positive integer (MB); got {memory_mb!r}.")
    seed = check_seed(seed, "seed")  # a negative seed: a usage error, not 0 for everyone
    out = Path(out)
    previous = _check_out(out, force)
    subs = find_submissions(submissions, per_folder=per_folder)
    if gradescope is not None and len(subs) != 1:
        raise ValueError(
            f"'gradescope' needs exactly one submission (Gradescope grades one at a time); "
            f"got {len(subs)}: {', '.join(s.name for s in subs[:5])}"
            + (f", ... ({len(subs) - 5} more)" if len(subs) > 5 else "")
        )
    kwargs = {"seed": seed, "timeout": float(timeout), "memory_mb": memory_mb}
    records = _run_pool(subs, kwargs, jobs, progress)
    settings = {
        "seed": seed, "timeout": float(timeout), "memory_mb": memory_mb, "jobs": jobs,
        "dlmath": __version__, "command": command,
    }  # fmt: skip
    summary = feedback.summarize(records, settings)
    written: list[Path] = []

    def write(rel: str, text: str) -> None:
        written.append(atomic_write_text(out / rel, text))

    out.mkdir(parents=True, exist_ok=True)
    write("grades.csv", grades_csv(records))
    write("grades.json", json.dumps({"settings": settings, "submissions": records}, indent=1))
    for rec in records:
        write(f"feedback/{rec['submission']}.html", feedback.feedback_page(rec, settings))
    write("summary.json", json.dumps(summary, indent=1))
    write("summary.html", feedback.summary_page(summary))
    now = {str(p.relative_to(out)) for p in written} | {MANIFEST}
    for rel in previous:  # pages of an earlier run's submissions that are gone now
        old = _own_stale_file(out, rel)
        if old is not None and rel not in now:
            old.unlink(missing_ok=True)
    write(MANIFEST, json.dumps({"written_by": f"dlmath {__version__} grade", "files": sorted(now)}))
    if gradescope is not None:
        gs = Path(gradescope)
        written.append(atomic_write_text(gs, json.dumps(results_json(records[0]), indent=1)))
    return GradeRun(out, records, summary, time.perf_counter() - start, written)


def grades_csv(records: list[dict]) -> str:
    """``submission,total,max,<exercise...>,note,file``: one row per submission; ``file``
    is the submitted path (several joined by ``;``)."""
    from dlmath.exercises.registry import EXERCISES

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["submission", "total", "max", *EXERCISES, "note", "file"])
    for r in records:
        writer.writerow(
            [r["submission"], f"{r['total']:g}", r["max"],
             *(f"{r['scores'][n]:g}" for n in EXERCISES), r["note"], ";".join(r["files"])]
        )  # fmt: skip
    return buf.getvalue()
