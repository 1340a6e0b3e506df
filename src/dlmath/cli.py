"""The ``dlmath`` command line: rerun the labs, print the milestone checklist, write the report.

    dlmath labs [--out DIR] [--quick] [--only 1,3] [--seed N] [--no-progress]
    dlmath lab N [--out DIR] [--quick] [--seed N] [--no-progress]
    dlmath landscape SPEC.py [--grid 51] [--span 1] [--out DIR] [--engine ray] [--store PATH]
    dlmath exercises [--out DIR] [--lab N] [--solutions] [--force | --keep]
    dlmath check FILE [--lab N] [--json] [--seed N]
    dlmath grade SUBMISSION... [--out DIR] [--jobs N] [--timeout S] [--memory-mb M] [--per-folder]
                 [--gradescope PATH] [--seed N] [--force] [--no-progress]
    dlmath gradescope-setup DIR [--timeout S] [--memory-mb M] [--seed N] [--force]
    dlmath --version

Exit status: 0 when every milestone of the labs run passed, 1 when one failed (or a lab
crashed), 2 for a usage error (including an unusable ``--out``), 130 when interrupted
(Ctrl-C) and 143 when terminated (SIGTERM); an interrupted run still leaves a consistent
report. ``labs``/``lab`` write only the files they own (listed in ``DIR/.dlmath-manifest.json``)
and refuse a non-empty folder that is not a dlmath report unless ``--force``.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from dlmath import __version__

__all__ = ["main"]

_RULE = 78


def _lab_numbers(text: str) -> list[int]:
    from dlmath.labs import LABS

    try:
        numbers = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        numbers = []
    if not numbers or any(n not in LABS for n in numbers):
        raise argparse.ArgumentTypeError(
            f"expected lab numbers from {sorted(LABS)} separated by commas (e.g. 1,3); got {text!r}"
        )
    return numbers


def _lab_number(text: str) -> int:
    """One lab number (``dlmath lab N``): "1,3" is a usage error, not lab 1."""
    from dlmath.labs import LABS

    numbers = _lab_numbers(text)
    if len(numbers) != 1 or text.strip() != str(numbers[0]):
        raise argparse.ArgumentTypeError(
            f"expected one lab number from {sorted(LABS)} (for several: "
            f"dlmath labs --only {text}); got {text!r}"
        )
    return numbers[0]


class _Terminated(BaseException):
    """Raised by the SIGTERM handler so that staging folders are removed on the way out."""


def _raise_terminated(signum, frame):  # pragma: no cover - exercised in a subprocess
    raise _Terminated


@contextlib.contextmanager
def _sigterm_cleans_up():
    """While running labs, SIGTERM unwinds like Ctrl-C (cleanup runs) instead of killing."""
    try:
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dlmath",
        description="Mathematics for deep learning, from scratch and verified: "
        "rerun the five labs of module 1.3 and write a report.",
    )
    parser.add_argument("--version", action="version", version=f"dlmath {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--out",
            type=Path,
            default=Path("report"),
            metavar="DIR",
            help="folder for figures, result.json files and index.html (default: report)",
        )
        p.add_argument(
            "--quick", action="store_true", help="small sizes (seconds per lab; what the tests run)"
        )
        p.add_argument(
            "--seed", type=_seed, default=0, help="seed for every random choice (default 0)"
        )
        p.add_argument("--no-progress", action="store_true", help="hide progress bars")
        p.add_argument(
            "--force",
            action="store_true",
            help="write into a non-empty folder that is not a dlmath report "
            "(its files with the report's names are overwritten)",
        )

    labs = sub.add_parser("labs", help="run every lab (or --only some) and write the report")
    common(labs)
    labs.add_argument(
        "--only",
        type=_lab_numbers,
        default=None,
        metavar="N[,N...]",
        help="run only these labs, e.g. --only 1,3",
    )
    lab = sub.add_parser("lab", help="run one lab and update the report")
    lab.add_argument("n", type=_lab_number, metavar="N", help="lab number, 1-5")
    common(lab)
    _landscape_parser(sub)
    _learner_parsers(sub)
    _grading_parsers(sub)
    return parser


def _run_one(n: int, args: argparse.Namespace) -> dict:
    """Run lab ``n``; a crash becomes a failed result (with its traceback), not an abort."""
    from dlmath.labs import Check, LabResult, load_lab, run_lab, save_failed_result

    try:
        title = load_lab(n).TITLE
        print(f"\n── Lab 1.3.{n}: {title} ".ljust(_RULE, "─"), flush=True)
        result = run_lab(
            n, args.out, quick=args.quick, seed=args.seed, show_progress=_show_progress(args)
        )
    except Exception as exc:  # a lab's failure is reported, and the other labs still run
        trace = traceback.format_exc()
        print(trace, file=sys.stderr)
        result = LabResult(
            lab=n,
            title=f"lab {n}",
            quick=args.quick,
            error=trace,
            checks=[
                Check.holds("lab ran to completion", False, detail=f"{type(exc).__name__}: {exc}")
            ],
        )
        save_failed_result(result, args.out)
    return result.to_dict()


def _print_lab(data: dict) -> None:
    from dlmath.labs import Check

    for c in data["checks"]:
        fields = {k: c[k] for k in ("name", "value", "threshold", "op", "passed", "detail", "unit")}
        print("  " + Check(**fields).line())
    n_ok = sum(c["passed"] for c in data["checks"])
    print(
        f"  {n_ok}/{len(data['checks'])} checks passed in {data['seconds']:.1f} s; "
        f"{_count(len(data['figures']), 'figure')}, "
        f"{_count(len(data['interactive']), 'interactive plot')}"
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _print_checklist(out: Path) -> list[dict]:
    from dlmath.report import collect_results, milestone_status

    results = collect_results(out)
    rows = milestone_status(results)
    print("\n── Milestone checklist (module 1.3) ".ljust(_RULE, "─"))
    for row in rows:
        box = "[x]" if row["passed"] else "[ ]"
        print(f"  {box} {row['milestone']}  ({row['evidence']})")
        row["ran"] = all(n in results for n in row["labs"])
    return rows


def _seed(text: str) -> int:
    """``--seed``: an integer >= 0 (a usage error otherwise, exit 2)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0; got {text!r}")
    return value


def _show_progress(args: argparse.Namespace) -> bool:
    """Progress bars on a terminal only: a log file gets the check lines, not bar fragments."""
    return not args.no_progress and sys.stderr.isatty()


def cmd_labs(numbers: Sequence[int], args: argparse.Namespace) -> int:
    from dlmath.report import ReportDirError, check_report_dir

    try:
        check_report_dir(args.out, tuple(numbers), force=getattr(args, "force", False))
    except ReportDirError as err:
        print(f"dlmath: error: {err}", file=sys.stderr)
        return 2
    try:
        with _sigterm_cleans_up():
            return _run_labs(numbers, args)
    except (KeyboardInterrupt, _Terminated) as exc:
        code, what = (
            (130, "interrupted") if isinstance(exc, KeyboardInterrupt) else (143, "terminated")
        )
        with contextlib.suppress(Exception, KeyboardInterrupt):
            _write_index(args)  # the index describes exactly the labs on disk
        print(
            f"\ndlmath: {what}; the report in {args.out}/ shows the labs that finished.",
            file=sys.stderr,
        )
        return code


def _write_index(args: argparse.Namespace) -> Path:
    from dlmath.report import write_report

    return write_report(args.out, command=args.command_line)


def _run_labs(numbers: Sequence[int], args: argparse.Namespace) -> int:
    size = "quick sizes" if args.quick else "full sizes"
    print(
        f"dlmath {__version__}: module 1.3 labs {', '.join(map(str, numbers))} ({size}, "
        f"seed {args.seed}) -> {args.out}/",
        flush=True,
    )
    results = []
    for n in numbers:
        data = _run_one(n, args)
        _print_lab(data)
        results.append(data)
    index = _write_index(args)
    rows = _print_checklist(args.out)
    ok = all(r["passed"] for r in results)
    print(f"\nReport: {index}")
    passed = sum(r["passed"] for r in rows)
    not_run = sum(not r["ran"] for r in rows)
    if not ok:
        verdict = "Some milestones FAILED."
    elif not_run:
        verdict = (
            f"{passed} of {len(rows)} milestones passed, {not_run} not run "
            "(`dlmath labs` runs every lab)."
        )
    else:
        verdict = "All milestones passed."
    print(f"{verdict} {sum(r['passed'] for r in results)} of {len(results)} labs passed.")
    return 0 if ok else 1


# --- dlmath landscape SPEC.py: the loss surface of a user's own model ------------------

_LANDSCAPE_MANIFEST = ".dlmath-landscape.json"
_LANDSCAPE_FILES = ("surface.npz", "contour.png", "surface3d.png", "surface.html", "plotly.min.js")


def _landscape_parser(sub) -> None:
    p = sub.add_parser(
        "landscape",
        help="loss surface of your own model: SPEC.py defines model(), data(), loss_fn",
        description="Evaluate L(theta + a d1 + b d2) on a grid in the plane of two random, "
        "filter-normalized directions and write surface.npz, contour.png, surface3d.png and "
        "surface.html into --out.",
    )
    p.add_argument("spec", type=Path, metavar="SPEC.py", help="defines model(), data(), loss_fn")
    p.add_argument("--grid", type=int, default=51, help="points per axis (default 51)")
    p.add_argument("--span", type=float, default=1.0, help="a, b in [-span, span] (default 1)")
    p.add_argument("--out", type=Path, default=Path("landscape"), metavar="DIR")
    p.add_argument("--engine", choices=["local", "ray"], default="local")
    p.add_argument("--workers", type=int, default=None, help="Ray actors (default: one per slot)")
    p.add_argument("--store", type=Path, default=None, metavar="PATH", help="resumable chunks")
    p.add_argument("--seed", type=_seed, default=0, help="seed of the two directions (default 0)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _load_spec(path: Path):
    import importlib.util

    if not path.is_file():
        raise ValueError(f"SPEC.py must be a Python file; got {str(path)!r}, which is not a file.")
    spec = importlib.util.spec_from_file_location(f"dlmath_spec_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # so that pickling (for Ray workers) finds it
    spec.loader.exec_module(module)
    missing = [n for n in ("model", "data", "loss_fn") if not callable(getattr(module, n, None))]
    if missing:
        raise ValueError(f"SPEC.py must define model(), data() and loss_fn; {path} lacks {missing}")
    return module


def _landscape_owned(out: Path) -> set[str]:
    """The files a previous ``dlmath landscape`` wrote into ``out`` (its manifest)."""
    import json

    manifest = out / _LANDSCAPE_MANIFEST
    if not manifest.exists():
        return set()
    try:
        files = json.loads(manifest.read_text())["files"]
        if not (isinstance(files, list) and all(isinstance(n, str) for n in files)):
            raise TypeError(f"'files' is {type(files).__name__} {files!r}, not a list of names")
    except (ValueError, KeyError, TypeError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise ValueError(
            f"--out {str(out)!r}: manifest unreadable ({manifest.name}: {type(exc).__name__}: "
            f"{exc}); delete it or choose another folder (nothing was overwritten)."
        ) from exc
    return set(files)


def _landscape_interrupted(args: argparse.Namespace) -> int:
    kept = (
        f"the finished chunks are kept in --store {str(args.store)!r} (rerun with it to "
        "compute only the rest)"
        if args.store is not None
        else "nothing was kept (--store PATH makes a run resumable)"
    )
    print(f"\ndlmath landscape: interrupted; {kept}.", file=sys.stderr)
    return 130


def cmd_landscape(args: argparse.Namespace) -> int:
    """``dlmath landscape SPEC.py``: exit 0 on success, 1 if the model or loss raised, 2 for
    a usage error (bad SPEC.py, an unusable --out, or --out holding files this command did
    not write), 130 on Ctrl-C (finished chunks stay in --store)."""
    import io
    import json

    import numpy as np

    from dlmath.landscape import GridPointError, loss_surface, random_direction
    from dlmath.viz.files import atomic_write_bytes, atomic_write_text, save_plotly_html, save_png
    from dlmath.viz.landscape import plot_contour, plot_surface3d, plotly_surface

    out: Path = args.out
    try:
        if args.grid < 2 or not np.isfinite(args.span) or args.span <= 0:
            raise ValueError(f"--grid must be >= 2 and --span > 0; got {args.grid}, {args.span}.")
        if out.exists() and not out.is_dir():
            raise ValueError(f"--out must be a folder; got {str(out)!r}, a file.")
        manifest = out / _LANDSCAPE_MANIFEST
        owned = _landscape_owned(out)
        foreign = [n for n in _LANDSCAPE_FILES if (out / n).exists() and n not in owned]
        if foreign:
            raise ValueError(
                f"--out {str(out)!r} holds files this command did not write: {foreign}; "
                "choose another folder (nothing was overwritten)."
            )
        module = _load_spec(args.spec)
        if args.engine == "ray":
            import ray.cloudpickle

            ray.cloudpickle.register_pickle_by_value(module)
        model = module.model()
        d1 = random_direction(model, seed=args.seed)
        d2 = random_direction(model, seed=args.seed + 1)
        grid = np.linspace(-args.span, args.span, args.grid)
        # on Ray each worker calls data() itself: the data is not shipped from here
        X, y = (module.data, None) if args.engine == "ray" else module.data()
        out.mkdir(parents=True, exist_ok=True)  # an unusable --out fails before the work
        Z = loss_surface(
            model,
            module.loss_fn,
            X,
            y,
            (d1, d2),
            grid,
            grid,
            engine=None if args.engine == "local" else args.engine,
            workers=args.workers,
            store=args.store,
            progress=_show_progress(args),
        )
    except GridPointError as exc:
        print(f"dlmath landscape: {exc}", file=sys.stderr)
        return 1
    except (ValueError, TypeError, ImportError, OSError) as exc:
        print(f"dlmath landscape: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return _landscape_interrupted(args)
    try:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(manifest, json.dumps({"files": list(_LANDSCAPE_FILES)}))
        buf = io.BytesIO()
        np.savez(buf, alphas=grid, betas=grid, Z=Z)
        atomic_write_bytes(out / "surface.npz", buf.getvalue())
        title = f"Loss of {args.spec.name} around its weights ({args.grid}x{args.grid} grid)"
        labels = {"xlabel": "alpha (direction 1)", "ylabel": "beta (direction 2)"}
        save_png(plot_contour(grid, grid, Z, title=title, **labels), out / "contour.png")
        save_png(plot_surface3d(grid, grid, Z, title=title, **labels), out / "surface3d.png")
        page = plotly_surface(grid, grid, Z, title=title, **labels)
        save_plotly_html(page, out / "surface.html")
    except OSError as exc:
        print(f"dlmath landscape: cannot write into --out {str(out)!r}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return _landscape_interrupted(args)
    print(f"loss surface {Z.shape}: min {np.nanmin(Z):.4g}, max {np.nanmax(Z):.4g} -> {out}/")
    return 0


# --- learner mode: dlmath exercises, dlmath check ---------------------------------------


def _learner_parsers(sub) -> None:
    from dlmath.exercises.registry import LAB_TITLES

    labs = sorted(LAB_TITLES)
    p = sub.add_parser(
        "exercises",
        help="write the exercise notebooks (one per lab) to fill in and check",
        description="Write lab{N}_exercises.ipynb (or lab{N}_solutions.ipynb with --solutions) "
        "into --out. An existing notebook with other content (your work) is never overwritten "
        "unless --force.",
    )
    p.add_argument("--out", type=Path, default=Path("exercises"), metavar="DIR",
                   help="folder for the notebooks (default: exercises)")  # fmt: skip
    p.add_argument("--lab", type=int, choices=labs, default=None, help="only this lab")
    p.add_argument("--solutions", action="store_true", help="fill the stubs with solutions")
    p.add_argument("--force", action="store_true", help="overwrite existing notebooks")
    p.add_argument(
        "--keep", action="store_true", help="keep changed notebooks (your work), write the rest"
    )
    c = sub.add_parser(
        "check",
        help="check your exercise functions in FILE (.py or .ipynb) on hidden cases",
        description="Run every exercise function FILE defines on hidden cases in a separate "
        "process, compare with dlmath's references, name the mistakes, and judge the module's "
        "milestones on your code. Exit 0 when every attempted exercise passes, 1 otherwise, "
        "2 for a usage error.",
    )
    c.add_argument("file", type=Path, metavar="FILE", help="your .py file or .ipynb notebook")
    c.add_argument("--lab", type=int, choices=labs, default=None, help="only this lab")
    c.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    c.add_argument("--seed", type=int, default=0, help="seed of the hidden cases (default 0)")
    c.add_argument("--timeout", type=float, default=10.0, help="seconds per exercise (default 10)")


def cmd_exercises(args: argparse.Namespace) -> int:
    """``dlmath exercises``: exit 0 when written, 2 when a notebook would be overwritten."""
    from dlmath.exercises.notebooks import NotebookExistsError, write_notebooks

    labs = None if args.lab is None else [args.lab]
    try:
        done = write_notebooks(
            args.out, labs, solutions=args.solutions, force=args.force, keep=args.keep
        )
    except (NotebookExistsError, NotADirectoryError, OSError) as err:
        print(f"dlmath exercises: {err}", file=sys.stderr)
        return 2
    for path, what in done:
        print(f"{what:>9}  {path}")
    print(f"Open them with: jupyter lab {args.out}   (or: make exercises)")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """``dlmath check FILE``: exit 0 when every attempted exercise passes, 1 otherwise, 2 for
    a usage error (no such file, not .py/.ipynb)."""
    import json

    from dlmath.exercises.checking import check_file

    if args.file.suffix not in (".py", ".ipynb") or not args.file.is_file():
        print(f"dlmath check: FILE must be an existing .py or .ipynb file; got {str(args.file)!r}.",
              file=sys.stderr)  # fmt: skip
        return 2
    if _bad_seed(args, "check"):
        return 2
    try:
        report = check_file(args.file, lab=args.lab, seed=args.seed, timeout=args.timeout)
    except ValueError as err:
        print(f"dlmath check: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(f"dlmath check {args.file} (hidden cases, seed {args.seed})\n")
        print(report)
    return 0 if report.passed else 1


def _grading_parsers(sub) -> None:
    g = sub.add_parser(
        "grade",
        help="grade a class: every submission in its own sandbox; grades.csv, feedback pages, "
        "a class summary",
        description="Grade each SUBMISSION (a .py/.ipynb file, or a folder of them: one "
        "submission per file, or per folder with --per-folder) on the same seeded hidden "
        "cases, each in its own limited process. Writes DIR/grades.csv, DIR/feedback/*.html, "
        "DIR/summary.html and DIR/summary.json. Exit 0 when graded, 2 for a usage error.",
    )
    g.add_argument("submissions", nargs="+", type=Path, metavar="SUBMISSION")
    g.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="folder for the grades (required unless --gradescope: then a new "
                   "temporary folder)")  # fmt: skip
    g.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="parallel worker processes (default: the core count)")  # fmt: skip
    g.add_argument("--timeout", type=float, default=10.0, metavar="S",
                   help="wall-clock seconds per exercise (default 10)")  # fmt: skip
    g.add_argument("--memory-mb", type=int, default=2048, metavar="M",
                   help="memory limit of a submission's process in MB (default 2048)")  # fmt: skip
    g.add_argument("--per-folder", action="store_true",
                   help="a folder of files is one submission (named after the folder)")  # fmt: skip
    g.add_argument("--gradescope", type=Path, default=None, metavar="PATH",
                   help="also write Gradescope's results.json here (one submission)")  # fmt: skip
    g.add_argument("--seed", type=int, default=0, help="seed of the hidden cases (default 0)")
    g.add_argument("--force", action="store_true",
                   help="write into a non-empty folder the grader did not write "
                   "(only the grader's own file names are written)")  # fmt: skip
    g.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    s = sub.add_parser(
        "gradescope-setup",
        help="write setup.sh and run_autograder for a Gradescope autograder",
        description="Write DIR/setup.sh (installs dlmath and the CPU build of torch) and "
        "DIR/run_autograder (grades /autograder/submission into "
        "/autograder/results/results.json); zip them and upload. Files dlmath did not write "
        "are never replaced unless --force.",
    )
    s.add_argument("dir", type=Path, metavar="DIR")
    s.add_argument("--timeout", type=float, default=10.0, metavar="S")
    s.add_argument("--memory-mb", type=int, default=2048, metavar="M")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--force", action="store_true", help="replace files dlmath did not write")


def _bad_seed(args: argparse.Namespace, command: str) -> bool:
    """Print the usage error of a negative ``--seed`` (True when there is one)."""
    if args.seed >= 0:
        return False
    print(f"dlmath {command}: --seed must be an integer >= 0; got {args.seed}.", file=sys.stderr)
    return True


def cmd_grade(args: argparse.Namespace) -> int:
    """``dlmath grade``: exit 0 when every submission was graded, 2 for a usage error."""
    from dlmath.exercises.grading import grade

    if _bad_seed(args, "grade"):
        return 2

    if args.out is None and args.gradescope is None:
        print("dlmath grade: '--out DIR' is required (unless --gradescope PATH is given).",
              file=sys.stderr)  # fmt: skip
        return 2
    if args.out is None:  # `dlmath grade SUBMISSION_DIR --gradescope PATH` (issue 11's form)
        import tempfile

        args.out = Path(tempfile.mkdtemp(prefix="dlmath-grade-"))
    try:
        run = grade(
            args.submissions, args.out, jobs=args.jobs, timeout=args.timeout,
            memory_mb=args.memory_mb, per_folder=args.per_folder, gradescope=args.gradescope,
            seed=args.seed, force=args.force, progress=not args.no_progress,
            command=args.command_line,
        )  # fmt: skip
    except (ValueError, TypeError) as err:
        print(f"dlmath grade: {err}", file=sys.stderr)
        return 2
    s = run.summary
    print(
        f"Graded {s['submissions']} submissions in {run.seconds:.1f} s (seed {args.seed}): "
        f"mean {s['mean_total']:g} / {s['max']}; {len(s['noted'])} with a note."
    )
    for name, note in s["noted"].items():
        print(f"  {name}: {note}")
    print(f"Grades: {run.out / 'grades.csv'}\nSummary: {run.out / 'summary.html'}")
    if args.gradescope is not None:
        print(f"Gradescope results: {args.gradescope}")
    return 0


def cmd_gradescope_setup(args: argparse.Namespace) -> int:
    """``dlmath gradescope-setup DIR``: exit 0 when written, 2 for a usage error."""
    from dlmath.exercises.gradescope import write_setup

    if _bad_seed(args, "gradescope-setup"):
        return 2
    try:
        paths = write_setup(args.dir, timeout=args.timeout, memory_mb=args.memory_mb,
                            seed=args.seed, force=args.force)  # fmt: skip
    except (ValueError, OSError) as err:
        print(f"dlmath gradescope-setup: {err}", file=sys.stderr)
        return 2
    for path in paths:
        print(f"wrote {path}")
    print(
        "Put the dlmath wheel beside them (setup.sh refuses to install dlmath from the "
        f"package index): in a dlmath checkout run  pip wheel . -w {args.dir} --no-deps\n"
        f"Then zip the files (not the folder) and upload them: cd {args.dir} && zip ag.zip *"
    )
    return 0


def _headless_figures() -> None:
    """The command line draws figures into files only: matplotlib's Agg backend, chosen here
    (never on import of a library module, so a notebook keeps its inline backend)."""
    import matplotlib

    matplotlib.use("Agg")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    args.command_line = " ".join(["dlmath", *argv])
    _headless_figures()
    if args.command == "labs":
        from dlmath.labs import LABS

        return cmd_labs(args.only or sorted(LABS), args)
    if args.command == "lab":
        return cmd_labs([args.n], args)
    if args.command == "landscape":
        return cmd_landscape(args)
    if args.command == "exercises":
        return cmd_exercises(args)
    if args.command == "check":
        return cmd_check(args)
    if args.command == "grade":
        return cmd_grade(args)
    if args.command == "gradescope-setup":
        return cmd_gradescope_setup(args)
    _parser().print_help()
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
