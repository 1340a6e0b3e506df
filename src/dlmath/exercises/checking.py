r"""Check a learner's functions against the references on hidden cases, and say what is wrong.

The learner's code runs in its own process (:class:`dlmath.exercises.sandbox.Learner`);
the cases, the references, the mutants and the comparison run here, in the parent, on
plain data that came back through a pipe, so nothing the learner's code does to NumPy or
dlmath changes the verdict.

>>> from dlmath.exercises import check
>>> check(adam_step)                     # doctest: +SKIP   (in a notebook: a table)
>>> check_file("my_lab2.py", lab=2)      # doctest: +SKIP   (what `dlmath check` prints)
"""

from __future__ import annotations

import contextlib
import time
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dlmath.exercises.diagnosis import call_reference, judge_case, summarize
from dlmath.exercises.registry import EXERCISES, LAB_TITLES

__all__ = [
    "CheckReport",
    "ExerciseResult",
    "check",
    "check_file",
    "check_learner",
    "check_source",
]

#: True while ``check_file`` loads a learner's file: the file's own ``check(...)`` calls
#: (the notebook's check cells) and plot cells are skipped in the learner's process,
#: which is a fork of this one and inherits the flag.
LOADING_FILE = False


@dataclass
class ExerciseResult:
    """The verdict on one exercise. ``groups``: one dict per case group."""

    lab: int
    name: str
    status: str  # "passed" | "failed" | "not attempted" | "error" | "timeout"
    score: float
    max_error: float | None
    diagnosis: str
    groups: list[dict] = field(default_factory=list)
    mistakes: list[str] = field(default_factory=list)  # keys of the named known mistakes
    cases: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {
            "lab": self.lab,
            "name": self.name,
            "status": self.status,
            "score": round(self.score, 4),
            "max_error": self.max_error,
            "diagnosis": self.diagnosis,
        }

    def _repr_html_(self) -> str:
        from dlmath.exercises.display import exercise_html

        return exercise_html(self)

    def __repr__(self) -> str:
        from dlmath.exercises.display import exercise_text

        return exercise_text(self, detail=True)


@dataclass
class CheckReport:
    """Every exercise checked, and the module's milestones judged on the learner's code."""

    exercises: list[ExerciseResult]
    milestones: list[dict]
    seed: int = 0
    load_error: str = ""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """The ``dlmath check --json`` format (with ``load_error`` when the file had one)."""
        data = {
            "exercises": [e.to_dict() for e in self.exercises],
            "milestones": [dict(m) for m in self.milestones],
        }
        if self.load_error:
            data["load_error"] = self.load_error
        if self.notes:  # e.g. the file imports dlmath's own code
            data["notes"] = list(self.notes)
        return data

    @property
    def attempted(self) -> list[ExerciseResult]:
        return [e for e in self.exercises if e.status != "not attempted"]

    @property
    def passed(self) -> bool:
        """Every attempted exercise passed, and something was attempted (``dlmath check``
        exits 0). A load error after the exercises were defined does not fail them; the
        report still shows it."""
        return bool(self.attempted) and all(e.status == "passed" for e in self.attempted)

    def _repr_html_(self) -> str:
        from dlmath.exercises.display import report_html

        return report_html(self)

    def __repr__(self) -> str:
        from dlmath.exercises.display import report_text

        return report_text(self)


@contextlib.contextmanager
def _learners_warnings():
    """Fork the learner's process with Python's default warning filters, not the caller's
    (under pytest's "error" filter a learner's harmless RuntimeWarning would be raised)."""
    with warnings.catch_warnings():
        warnings.resetwarnings()
        warnings.simplefilter("default")
        yield


def _rng(seed: int, name: str) -> np.random.Generator:
    """Each exercise's own stream: the same cases whichever other exercises are checked."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode())])


def _not_attempted(ex, why: str) -> ExerciseResult:
    return ExerciseResult(ex.lab, ex.name, "not attempted", 0.0, None, why)


def check_learner(
    learner, *, lab: int | None = None, seed: int = 0, names: list[str] | None = None
) -> CheckReport:
    """Check every exercise (of ``lab``, or only ``names``) that ``learner`` defines."""
    selected = [
        ex
        for ex in EXERCISES.values()
        if (lab is None or ex.lab == lab) and (names is None or ex.name in names)
    ]
    results, seen = [], {}
    for ex in selected:
        if ex.name not in learner.names:
            results.append(_not_attempted(ex, f"{ex.name} is not defined"))
            continue
        start = time.perf_counter()
        cases = ex.cases(_rng(seed, ex.name))
        refs = [call_reference(ex.reference, c.args, c.kwargs) for c in cases]
        with _learners_warnings():  # a restarted child is forked here
            outcomes = learner.call_many(ex.name, [(c.args, c.kwargs) for c in cases])
        verdicts = [judge_case(ex, c, o, r) for c, o, r in zip(cases, outcomes, refs, strict=True)]
        s = summarize(ex, cases, verdicts)
        results.append(
            ExerciseResult(
                lab=ex.lab,
                name=ex.name,
                cases=len(cases),
                seconds=time.perf_counter() - start,
                **{
                    k: s[k]
                    for k in ("status", "score", "max_error", "diagnosis", "groups", "mistakes")
                },
            )
        )
        seen[ex.name] = (cases, outcomes)
    _explain_dependencies(results)
    report = CheckReport(results, [], seed, learner.load_error)
    if lab is None and names is None:
        report.milestones = milestones(report, seen)
    elif names is None:
        report.milestones = [m for m in milestones(report, seen) if m.get("lab") == lab]
    return report


def _explain_dependencies(results: list[ExerciseResult]) -> None:
    """train_on_rosenbrock runs the learner's own steps: point at the failing step first."""
    by_name = {r.name: r for r in results}
    train = by_name.get("train_on_rosenbrock")
    if train is None or train.status in ("passed", "not attempted"):
        return
    broken = [
        n
        for n in ("sgd_step", "momentum_step", "adam_step")
        if n in by_name and by_name[n].status != "passed"
    ]
    if broken:
        train.diagnosis += (
            f" (it uses your {', '.join(broken)}: fix {'it' if len(broken) == 1 else 'them'} first)"
        )


# --- milestones, judged on the learner's own code ------------------------------------------


def _passed(report: CheckReport, names: list[str]) -> tuple[bool, str]:
    by_name = {e.name: e for e in report.exercises}
    status = {n: by_name[n].status if n in by_name else "not checked" for n in names}
    bad = [f"{n} {s}" for n, s in status.items() if s != "passed"]
    if bad and all(s == "not attempted" for s in status.values()):
        if len(names) == 1:  # name it: other exercises of the lab may have been attempted
            return False, f"{names[0]} not attempted"
        if len(names) <= 4:
            return False, f"none of {', '.join(names)} attempted"
        return False, "not attempted"
    return not bad, ", ".join(bad)


def _your(names: list[str]) -> str:
    quoted = [f"`{n}`" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _mlp_vs_autograd(seen: dict) -> float | None:
    """max |your gradients - torch autograd's| on the first hidden MLP case."""
    if "mlp_loss_and_grads" not in seen:
        return None
    cases, outcomes = seen["mlp_loss_and_grads"]
    case, outcome = cases[0], outcomes[0]
    if outcome.status != "ok":
        return None
    from dlmath.backprop import torch_loss_and_grads
    from dlmath.exercises.registry import reference_mlp

    params, X, y = case.args
    loss, grads = torch_loss_and_grads(reference_mlp(params), X, y)
    value = outcome.value
    try:
        mine_loss, mine = value
        diffs = [abs(float(mine_loss) - loss)]
        diffs += [
            float(np.max(np.abs(np.asarray(mine[k], dtype=float) - g))) for k, g in grads.items()
        ]
    except (TypeError, ValueError, KeyError, IndexError):
        return None
    worst = max(diffs)
    return worst if np.isfinite(worst) else None


def _rosenbrock_evidence(seen: dict) -> str:
    if "train_on_rosenbrock" not in seen:
        return ""
    cases, outcomes = seen["train_on_rosenbrock"]
    parts, done = [], set()
    for c, o in zip(cases, outcomes, strict=True):
        opt = c.args[0]
        if opt in done or o.status != "ok":
            continue
        try:
            losses = np.asarray(o.value, dtype=float)
            parts.append(f"{opt} {losses[0]:.3g} -> {losses[-1]:.3g} in {len(losses) - 1} steps")
            done.add(opt)
        except (TypeError, ValueError, IndexError):
            continue
    return "; ".join(parts)


def milestones(report: CheckReport, seen: dict) -> list[dict]:
    """The module's checklist, each line judged on the learner's functions."""
    try:
        from dlmath.milestones import MODULE_MILESTONES
    except ImportError:  # before the checklist moved out of the report module
        from dlmath.report import MODULE_MILESTONES

    by_lab = {n: [e.name for e in EXERCISES.values() if e.lab == n] for n in LAB_TITLES}
    rows = []
    for text, labs in MODULE_MILESTONES:
        lab = labs[0] if len(labs) == 1 else None
        if text.startswith("Manual backprop"):
            names = ["mlp_loss_and_grads"]
            ok, bad = _passed(report, names)
            diff = _mlp_vs_autograd(seen)
            if diff is not None:
                ok = ok and diff <= 1e-6
                evidence = f"your `mlp_loss_and_grads` vs torch autograd, max |diff| {diff:.1g}"
            else:
                evidence = bad or "not attempted"
        elif text.startswith("Three optimizers"):
            names = ["sgd_step", "momentum_step", "adam_step"]
            ok, bad = _passed(report, names)
            evidence = f"your {_your(names)} equal torch.optim's updates" if ok else bad
        elif text.startswith("Convergence"):
            names = ["train_on_rosenbrock", "sgd_step", "momentum_step", "adam_step"]
            ok, bad = _passed(report, names)
            curves = _rosenbrock_evidence(seen)
            evidence = (
                f"your `train_on_rosenbrock` on Rosenbrock: {curves}" if ok and curves else bad
            )
        elif lab is not None:
            names = by_lab[lab]
            ok, bad = _passed(report, names)
            evidence = f"your {_your(names)} pass" if ok else bad
        else:
            n_ok = sum(e.status == "passed" for e in report.exercises)
            ok = n_ok == len(EXERCISES) and len(report.exercises) == len(EXERCISES)
            evidence = f"{n_ok}/{len(EXERCISES)} exercises passed"
        rows.append({"milestone": text, "passed": bool(ok), "evidence": evidence, "lab": lab})
    return rows


# --- entry points --------------------------------------------------------------------------


def check_file(
    path: Any,
    *,
    lab: int | None = None,
    seed: int = 0,
    timeout: float = 10.0,
    memory_mb: int = 2048,
) -> CheckReport:
    """Check every exercise that the ``.py`` or ``.ipynb`` file at ``path`` defines."""
    from dlmath.exercises.grading import _library_imports
    from dlmath.exercises.source import PREAMBLE, source_from_path

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"'path' must be an existing .py or .ipynb file; got {str(path)!r}.")
    if lab is not None and lab not in LAB_TITLES:
        raise ValueError(f"'lab' must be one of {sorted(LAB_TITLES)}; got {lab!r}.")
    source, notes = source_from_path(path)
    report = check_source(
        source, filename=path.name, lab=lab, seed=seed, timeout=timeout, memory_mb=memory_mb
    )
    report.notes = list(notes)
    library = _library_imports(source.removeprefix(PREAMBLE))
    if library:  # what `dlmath grade` notes for the instructor: say it to the learner too
        report.notes.append(
            f"your file imports {', '.join(library)} (dlmath's own code): a check passes it, "
            "but `dlmath grade` notes it for your instructor; write the exercises yourself"
        )
    return report


def check_source(
    source: str,
    *,
    filename: str = "submission.py",
    lab: int | None = None,
    seed: int = 0,
    names: list[str] | None = None,
    timeout: float = 10.0,
    memory_mb: int = 2048,
) -> CheckReport:
    """Check the exercises that the script ``source`` defines (loaded in the sandbox)."""
    global LOADING_FILE
    from dlmath._checks import check_seed
    from dlmath.exercises.sandbox import Learner

    seed = check_seed(seed, "seed")
    LOADING_FILE = True
    try:
        with _learners_warnings():
            learner = Learner.from_source(
                source, filename=filename, timeout=timeout, memory_mb=memory_mb
            )
        with learner:
            report = check_learner(learner, lab=lab, seed=seed, names=names)
    finally:
        LOADING_FILE = False
    if report.load_error:
        for e in report.exercises:
            if e.status == "not attempted":
                e.diagnosis = "the file did not load (see above)"
    return report


def check(fn: Callable, *, name: str | None = None, seed: int = 0, timeout: float = 10.0):
    """Check one of your functions in a notebook: a table of case groups, green or red.

    ``fn`` is your function; its ``__name__`` (or ``name``) says which exercise it answers.
    It runs in a forked process with a time limit; the comparison runs here.
    """
    from dlmath.exercises.sandbox import Learner

    if LOADING_FILE:  # a notebook's check cell while `dlmath check` loads the notebook
        return None
    if not callable(fn):
        raise TypeError(f"'fn' must be your function (a callable); got {type(fn).__name__}.")
    name = name or getattr(fn, "__name__", "")
    if name not in EXERCISES:
        raise ValueError(
            f"'fn' must be one of the exercises ({', '.join(EXERCISES)}); got a function named "
            f"{name!r} (pass name=... if you renamed it)."
        )
    with _learners_warnings():
        learner = Learner.from_namespace({name: fn}, timeout=timeout)
    with learner:
        return check_learner(learner, seed=seed, names=[name])
