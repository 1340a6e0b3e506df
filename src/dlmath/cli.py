"""The ``dlmath`` command line: rerun the labs, print the milestone checklist, write the report.

    dlmath labs [--out DIR] [--quick] [--only 1,3] [--seed N] [--no-progress]
    dlmath lab N [--out DIR] [--quick] [--seed N] [--no-progress]
    dlmath --version

Exit status: 0 when every milestone of the labs run passed, 1 when one failed (or a lab
crashed), 2 for a usage error.
"""

from __future__ import annotations

import argparse
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
            "--seed", type=int, default=0, help="seed for every random choice (default 0)"
        )
        p.add_argument("--no-progress", action="store_true", help="hide progress bars")

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
    lab.add_argument("n", type=lambda s: _lab_numbers(s)[0], metavar="N", help="lab number, 1-5")
    common(lab)
    return parser


def _run_one(n: int, args: argparse.Namespace) -> dict:
    """Run lab ``n``; a crash becomes a failed result (with its traceback), not an abort."""
    from dlmath.labs import Check, LabResult, load_lab, run_lab, save_result

    try:
        title = load_lab(n).TITLE
        print(f"\n── Lab 1.3.{n}: {title} ".ljust(_RULE, "─"), flush=True)
        result = run_lab(
            n, args.out, quick=args.quick, seed=args.seed, show_progress=not args.no_progress
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
        lab_dir = Path(args.out) / f"lab{n}"
        lab_dir.mkdir(parents=True, exist_ok=True)
        save_result(result, lab_dir)
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


def _print_checklist(out: Path) -> bool:
    from dlmath.report import collect_results, milestone_status

    rows = milestone_status(collect_results(out))
    print("\n── Milestone checklist (module 1.3) ".ljust(_RULE, "─"))
    for row in rows:
        box = "[x]" if row["passed"] else "[ ]"
        print(f"  {box} {row['milestone']}  ({row['evidence']})")
    return all(r["passed"] for r in rows)


def cmd_labs(numbers: Sequence[int], args: argparse.Namespace) -> int:
    from dlmath.report import write_report

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
    index = write_report(args.out, command=args.command_line)
    _print_checklist(args.out)
    ok = all(r["passed"] for r in results)
    print(f"\nReport: {index}")
    print(
        f"{'All milestones passed.' if ok else 'Some milestones FAILED.'} "
        f"{sum(r['passed'] for r in results)} of {len(results)} labs passed."
    )
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    args.command_line = " ".join(["dlmath", *argv])
    if args.command == "labs":
        from dlmath.labs import LABS

        return cmd_labs(args.only or sorted(LABS), args)
    if args.command == "lab":
        return cmd_labs([args.n], args)
    _parser().print_help()
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
