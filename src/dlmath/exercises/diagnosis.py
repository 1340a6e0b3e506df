r"""Judge one hidden case and name the mistake, the way a TA would, without showing answers.

Order of the questions, first answer wins:

1. *structural*: not implemented (the stub's own ``NotImplementedError``: its exact
   message, raised in the exercise function's own frame; any other exception, a learner
   helper's ``NotImplementedError`` too, is an error shown with the learner's traceback,
   trimmed to their code), a timeout, ``None`` or a wrong type, the
   wrong number of outputs, a wrong shape (*transposed* when the values are the
   transpose), a changed dtype, NaN/inf where the reference is finite (and on which
   input);
2. *known mistakes*: the learner's output matches a mutant of the reference
   (:mod:`dlmath.exercises.mistakes`) or the reference with two arguments swapped;
3. *numeric patterns*: off by a constant factor, named when it is a known one (the batch
   size n, 1/n, 2, 1/ln 2 = bits instead of nats, lr, alpha/r), or of the wrong sign; for
   ``*_step`` exercises the factor is that of the update, ``new - old``;
4. otherwise the worst error and where (which outputs are right, which are wrong).

Inputs are never printed: only shapes, dtypes, the case group's label ("logits of
+-1e4") and named constants.
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dlmath.exercises.registry import STUB_MESSAGE
from dlmath.exercises.sandbox import FUNCTIONS, Fn

__all__ = ["CaseVerdict", "is_stub_error", "judge_case", "materialize", "summarize"]

_LN2 = math.log(2.0)


@dataclass
class CaseVerdict:
    """The verdict on one case: ``kind`` is "passed", "not implemented", "error", "timeout",
    "structure", "mistake", "factor" or "value"; ``wrong``/``right`` list output names."""

    passed: bool
    kind: str
    diagnosis: str = ""
    max_error: float | None = None
    mistake: str = ""
    right: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    detail: str = ""  # case-specific addition ("at t = 1: your step is 3.16x the right one")


def materialize(arg: Any) -> Any:
    """A :class:`Fn` as the callable it names (built here from trusted code); else ``arg``."""
    if isinstance(arg, Fn):
        return FUNCTIONS[arg.name](**arg.params)
    return arg


def call_reference(fn, args: tuple, kwargs: dict) -> Any:
    """``fn`` on private copies of the case's inputs (the case stays pristine)."""
    with np.errstate(all="ignore"):
        return fn(*copy.deepcopy(tuple(materialize(a) for a in args)), **copy.deepcopy(kwargs))


# --- turning a returned value into named components -----------------------------------------


def components(ex, value: Any) -> dict[str, Any] | str:
    """``{output name: value}`` (dict outputs expanded by key), or a structural complaint."""
    names = ex.outputs
    if value is None:
        return "returned None (is a `return` missing?)"
    if len(names) > 1:
        if not isinstance(value, (tuple, list)):
            return f"returned {_what(value)}; expected a tuple ({', '.join(names)})"
        if len(value) != len(names):
            return f"returned {len(value)} values; expected {len(names)} ({', '.join(names)})"
        parts = dict(zip(names, value, strict=True))
    else:
        parts = {names[0]: value}
    out: dict[str, Any] = {}
    for name, v in parts.items():
        if isinstance(v, dict):
            for k in v:  # the reference's order: W1 b1 W2 b2 ...
                out[f"{name}[{k}]"] = v[k]
        else:
            out[name] = v
    return out


def _what(v: Any) -> str:
    if isinstance(v, np.ndarray):
        return f"an array of shape {v.shape}"
    if isinstance(v, (tuple, list)):
        return f"a {type(v).__name__}"
    return type(v).__name__


def _label(name: str) -> str:
    """``grads[W1]`` -> ``W1`` for messages."""
    return name[name.index("[") + 1 : -1] if "[" in name else name


# --- comparing one component ----------------------------------------------------------------


@dataclass
class _Cmp:
    ok: bool
    issue: str = ""  # "" | "type" | "shape" | "dtype" | "nonfinite" | "value"
    message: str = ""
    error: float | None = None


def _tol(ex, is32: bool) -> tuple[float, float]:
    return (ex.rtol32, ex.atol32) if is32 else (ex.rtol, ex.atol)


def compare(
    ex, name: str, got: Any, want: Any, is32: bool, where: str = "", nan_equal: str = ""
) -> _Cmp:
    """Does ``got`` equal the reference ``want`` within the exercise's tolerance?"""
    label = _label(name)
    if isinstance(want, str):
        choices = ", ".join(repr(c) for c in ex.choices)
        if not isinstance(got, str):
            return _Cmp(False, "type", f"returned {_what(got)}; expected a str: one of {choices}")
        if ex.choices and got not in ex.choices:
            return _Cmp(False, "type", f"returned {got!r}; expected one of {choices}")
        if got != want:
            return _Cmp(False, "value", f"returned {got!r} where the answer is another kind")
        return _Cmp(True, error=0.0)
    if isinstance(want, (int, np.integer)) and not isinstance(want, bool):
        g = np.asarray(got) if isinstance(got, (int, np.ndarray, np.integer)) else None
        if g is None or g.shape != () or g.dtype.kind not in "iu":
            return _Cmp(False, "type", f"returned {_what(got)} for {label}; expected an int")
        err = float(abs(int(g) - int(want)))
        if err:
            return _Cmp(False, "value", f"{label} is off by {int(g) - int(want):+d}", err)
        return _Cmp(True, error=0.0)
    w = np.asarray(want)
    if isinstance(got, bool) or not isinstance(got, (int, float, np.ndarray, np.generic)):
        return _Cmp(False, "type", f"returned {_what(got)} for {label}; expected an array")
    g = np.asarray(got)
    if g.dtype.kind not in "biuf":
        return _Cmp(False, "type", f"{label} has dtype {g.dtype}; expected real numbers")
    if g.shape != w.shape:
        if g.ndim == 2 and g.shape == w.shape[::-1]:
            rtol, atol = _tol(ex, is32)
            if np.allclose(g.T, w, rtol=rtol, atol=atol):
                return _Cmp(
                    False,
                    "shape",
                    f"{label} is transposed: expected shape {w.shape}, got {g.shape}",
                )
        return _Cmp(False, "shape", f"{label} has shape {g.shape}; expected {w.shape}")
    if w.ndim >= 1 and w.dtype.kind == "f" and g.dtype != w.dtype:
        return _Cmp(
            False,
            "dtype",
            f"dtype changed: {label} is {g.dtype}, expected {w.dtype} (keep the inputs' dtype)",
        )
    g64, w64 = g.astype(np.float64), w.astype(np.float64)
    if nan_equal:  # matching a mutant: non-finite (NaN or inf) at the same places
        if not np.array_equal(np.isfinite(g64), np.isfinite(w64)):
            return _Cmp(False, "nonfinite", f"{label} is non-finite elsewhere")
        if nan_equal == "exact" and not (
            np.array_equal(np.isnan(g64), np.isnan(w64))
            and np.array_equal(g64[np.isinf(g64)], w64[np.isinf(g64)])
        ):
            return _Cmp(False, "nonfinite", f"{label} is non-finite differently")
        g64 = np.where(np.isfinite(g64), g64, 0.0)
        w64 = np.where(np.isfinite(w64), w64, 0.0)
    w_inf = np.isinf(w64)
    if np.any(w_inf) and not np.array_equal(g64[w_inf], w64[w_inf]):
        return _Cmp(
            False,
            "value",
            f"{label} should be infinite where an outcome is impossible "
            f"({where or 'on these inputs'})",
        )
    bad = ~np.isfinite(g64) & ~w_inf
    if bad.any():
        kind = "NaN" if np.isnan(g64[bad]).any() else "inf"
        return _Cmp(
            False,
            "nonfinite",
            f"{label} has {kind} {where or 'on these inputs'} (the reference is finite)",
        )
    finite = np.isfinite(w64)
    diff = np.abs(g64[finite] - w64[finite])
    err = float(diff.max()) if diff.size else 0.0
    rtol, atol = _tol(ex, is32)
    if np.all(diff <= atol + rtol * np.abs(w64[finite])):
        return _Cmp(True, error=err)
    return _Cmp(False, "value", f"{label} is wrong (beyond rtol {rtol:g}, atol {atol:g})", err)


def _matches(ex, learner: dict, other: Any, is32: bool, exact: bool = False) -> bool:
    """Do the learner's components equal ``other``'s (a mutant's output)?

    Non-finite values match wherever both are non-finite (NaN and inf alike: a learner's
    overflow may show as either); ``exact`` asks for the same NaN/inf (to tell whether a
    mutant differs from the reference at all).
    """
    parts = components(ex, other)
    if isinstance(parts, str) or set(parts) != set(learner):
        return False
    mode = "exact" if exact else "loose"
    return all(compare(ex, k, learner[k], parts[k], is32, nan_equal=mode).ok for k in parts)


# --- the constant factor ----------------------------------------------------------------------


def _factor_names(case) -> list[tuple[float, str]]:
    named = []
    labels = {"n": "the batch size n", "lr": "the learning rate lr", "alpha/r": "alpha/r"}
    for key, value in case.factors.items():
        if value in (0, 1):
            continue
        what = labels.get(key, key)
        named += [
            (value, f"{key} = {value:g} ({what})"),
            (1 / value, f"1/{key} = 1/{value:g} ({what})"),
        ]
    named += [
        (2.0, "2"),
        (0.5, "1/2"),
        (1 / _LN2, "1/ln 2 = 1.443: bits instead of nats (use the natural log)"),
        (_LN2, "ln 2 = 0.693: nats converted as if they were bits"),
    ]
    return named


def factor_of(got: np.ndarray, want: np.ndarray, case) -> tuple[float, str] | None:
    """``c`` with ``got ~ c * want`` (and its name, "" if unnamed), or None."""
    g = np.asarray(got, dtype=np.float64).ravel()
    w = np.asarray(want, dtype=np.float64).ravel()
    if g.shape != w.shape or not (np.isfinite(g).all() and np.isfinite(w).all()):
        return None
    ww = float(w @ w)
    if ww == 0:
        return None
    c = float(g @ w) / ww
    resid = float(np.linalg.norm(g - c * w)) / max(float(np.linalg.norm(g)), 1e-300)
    if resid > 1e-5 or abs(c - 1) < 1e-5:
        return None
    if abs(c + 1) < 1e-5:
        return c, "-1"
    for value, name in _factor_names(case):
        if abs(c / value - 1) < 1e-5:
            return c, name
    return (c, "") if g.size >= 2 else None


def _factor_message(ex, comp: str, c: float, name: str, is_delta: bool) -> str:
    what = f"the update of {_label(comp)}" if is_delta else _label(comp)
    if c == 0:  # got is exactly zero (the factor test's residual is then 0)
        if is_delta:
            return f"{_label(comp)} is unchanged: the update is all zeros"
        return f"returned all zeros for {what}"
    if name == "-1":
        return f"wrong sign: {what} has the opposite sign" + (
            " (your step goes along the gradient; it should go against it)" if is_delta else ""
        )
    text = f"{what} is {c:.3g}x the right value"
    return text + (f": a factor of {name}" if name else " (off by a constant factor)")


# --- one case ---------------------------------------------------------------------------------


def _unchanged(before: Any, after: Any) -> bool:
    if isinstance(before, np.ndarray):
        a = np.asarray(after) if after is not None else None
        return (
            a is not None and a.shape == before.shape and np.array_equal(a, before, equal_nan=True)
        )
    if isinstance(before, dict):
        return isinstance(after, dict) and all(
            _unchanged(v, after.get(k)) for k, v in before.items()
        )
    return True


def _in_place(ex, case, outcome) -> str:
    if ex.step or not outcome.args_after:
        return ""
    names = ex.arg_names
    for i, before in enumerate(case.args):
        changed = i < len(outcome.args_after) and not _unchanged(before, outcome.args_after[i])
        if isinstance(before, (np.ndarray, dict)) and changed:
            arg = names[i] if i < len(names) else f"argument {i + 1}"
            return f"modified its input `{arg}` in place (work on a copy: {arg}.copy())"
    return ""


_FRAME = re.compile(r'^  File "[^\n]*", line \d+, in (.+)$', re.MULTILINE)


def is_stub_error(error: str) -> bool:
    """Is ``error`` (the sandbox's trimmed traceback of a call) the stub's own exception?

    Only ``NotImplementedError`` with the stub's exact message, raised in the frame of the
    function that the checker called (the traceback's only frame: the sandbox's own frames
    are trimmed), means "not implemented yet". The same exception raised by a helper the
    exercise calls, or with another message, is the learner's error.
    """
    lines = [line for line in error.strip().splitlines() if line.strip()]
    if not lines or lines[-1].strip() != f"NotImplementedError: {STUB_MESSAGE}":
        return False
    return len(_FRAME.findall(error)) == 1


def _error_text(error: str) -> str:
    lines = [line for line in error.strip().splitlines() if line.strip()]
    return "\n".join(lines[-6:])


def _is32(case) -> bool:
    def has32(a):
        if isinstance(a, np.ndarray):
            return a.dtype == np.float32
        if isinstance(a, dict):
            return any(has32(v) for v in a.values())
        return False

    return any(has32(a) for a in case.args)


def _step_ratio(ex, case, learner: dict, ref: dict) -> str:
    """For a step exercise: how much larger the learner's step is (the typical ratio)."""
    if "param" not in ex.delta_of or "param" not in learner:
        return ""
    old = np.asarray(case.args[ex.delta_of["param"]], dtype=np.float64)
    dl = np.asarray(learner["param"], dtype=np.float64) - old
    dr = np.asarray(ref["param"], dtype=np.float64) - old
    ok = np.abs(dr) > 0
    if not ok.any() or not np.isfinite(dl).all():
        return ""
    ratio = float(np.median(np.abs(dl[ok]) / np.abs(dr[ok])))
    if abs(ratio - 1) < 0.01:
        return ""
    where = f"{case.where}: " if case.where else ""
    return f" ({where}your step is {ratio:.3g}x the right one)"


def judge_case(ex, case, outcome, reference: Any) -> CaseVerdict:
    """The verdict on one case: ``outcome`` from the sandbox, ``reference`` the right value."""
    status = outcome.status
    if status == "missing":
        return CaseVerdict(False, "missing", f"{ex.name} is not defined")
    if status != "ok":
        if status == "error" and is_stub_error(outcome.error):
            return CaseVerdict(False, "not implemented", STUB_MESSAGE)
        if status == "timeout":
            return CaseVerdict(False, "timeout", outcome.error or "timed out")
        text = outcome.error or status
        if text.startswith("Traceback"):  # the learner's own exception, trimmed to their code
            last = text.strip().splitlines()[-1]
            kind = last.split(":", 1)[0].strip() or "an exception"
            return CaseVerdict(False, "error", f"raised {kind}:", detail="\n" + _error_text(text))
        return CaseVerdict(False, "error", text)
    in_place = _in_place(ex, case, outcome)
    verdict = _judge_value(ex, case, outcome.value, reference)
    if in_place:
        if verdict.passed:
            return CaseVerdict(False, "structure", in_place)  # not about accuracy: no error
        verdict.diagnosis += f"; it also {in_place}"
    return verdict


def _judge_value(ex, case, value: Any, reference: Any) -> CaseVerdict:
    ref = components(ex, reference)
    assert not isinstance(ref, str), f"the reference of {ex.name} returned {reference!r}"
    got = components(ex, value)
    if isinstance(got, str):
        return CaseVerdict(False, "structure", got)
    missing = [k for k in ref if k not in got]
    if missing:
        extra = [k for k in got if k not in ref]
        text = f"missing {', '.join(map(_label, missing))}"
        return CaseVerdict(
            False, "structure", text + (f" (got {', '.join(map(_label, extra))})" if extra else "")
        )
    is32 = _is32(case)
    results = {k: compare(ex, k, got[k], ref[k], is32, case.where) for k in ref}
    errors = [r.error for r in results.values() if r.error is not None]
    max_error = max(errors) if errors else None
    if any(not r.ok and r.error is None for r in results.values()):
        max_error = None  # NaN/inf or a wrong shape: no finite worst error to show
    right = [_label(k) for k, r in results.items() if r.ok]
    wrong = [_label(k) for k, r in results.items() if not r.ok]
    if not wrong:
        return CaseVerdict(True, "passed", max_error=max_error, right=right)
    learner = {k: got[k] for k in ref}

    def verdict(kind, text, mistake="", detail=""):
        if len(ref) > 1 and right:
            text = f"{text} [right: {', '.join(right)}; wrong: {', '.join(wrong)}]"
        return CaseVerdict(False, kind, text, max_error, mistake, right, wrong, detail)

    structural = [r for r in results.values() if r.issue in ("type", "shape", "dtype")]
    if structural:
        return verdict("structure", structural[0].message)
    # known mistakes: the learner's output is a mutant's
    for m in ex.mistakes:
        try:
            mutant = call_reference(m.fn, case.args, case.kwargs)
        except Exception:  # a mutant that does not apply to this input
            continue
        if _matches(ex, learner, mutant, is32) and not _matches(ex, ref, mutant, is32, True):
            detail = ""
            if ex.step:
                detail = _step_ratio(ex, case, learner, ref)
            elif any(r.issue == "nonfinite" for r in results.values()) and case.where:
                detail = f" (NaN/inf {case.where})"
            return verdict("mistake", m.message, m.key, detail)
    for i, j in ex.swaps:
        args = list(case.args)
        args[i], args[j] = args[j], args[i]
        try:
            swapped = call_reference(ex.reference, tuple(args), case.kwargs)
        except Exception:
            continue
        if _matches(ex, learner, swapped, is32) and not _matches(ex, ref, swapped, is32, True):
            names = ex.arg_names
            return verdict(
                "mistake",
                f"arguments swapped: `{names[i]}` and `{names[j]}` are used the other way round",
                "swapped",
            )
    nonfinite = [r for r in results.values() if r.issue == "nonfinite"]
    if nonfinite:
        return verdict("value", nonfinite[0].message)
    # a constant factor (of the update, for a step)
    for k, r in results.items():
        if r.ok or r.issue != "value":
            continue
        g, w = learner[k], ref[k]
        if isinstance(w, str):
            continue
        is_delta = _label(k) in ex.delta_of
        if is_delta:
            old = np.asarray(case.args[ex.delta_of[_label(k)]], dtype=np.float64)
            g, w = np.asarray(g, dtype=np.float64) - old, np.asarray(w, dtype=np.float64) - old
        found = factor_of(g, w, case)
        if found is not None:
            return verdict("factor", _factor_message(ex, k, *found, is_delta))
    first = next(r for r in results.values() if not r.ok)
    return verdict("value", first.message)


# --- many cases -------------------------------------------------------------------------------


def _worst(verdicts: list[CaseVerdict]) -> float | None:
    """The largest error over ``verdicts``; None (JSON null) when there is none, or when a
    failing case has no finite error (NaN/inf output, a changed input, an exception), so
    that a small number never hides such a failure."""
    if any(not v.passed and v.max_error is None for v in verdicts):
        return None
    errors = [v.max_error for v in verdicts if v.max_error is not None]
    return max(errors) if errors else None


def summarize(ex, cases: list, verdicts: list[CaseVerdict]) -> dict:
    """Per group and overall: status, score, worst error, diagnosis, named mistakes."""
    groups: dict[str, list[CaseVerdict]] = {}
    for case, v in zip(cases, verdicts, strict=True):
        groups.setdefault(case.group, []).append(v)
    rows = []
    for name, vs in groups.items():
        failed = [v for v in vs if not v.passed]
        rows.append(
            {
                "group": name,
                "passed": not failed,
                "cases": len(vs),
                "max_error": _worst(vs),
                "diagnosis": _most_common(failed),
                "base": _most_common(failed, with_detail=False),
            }
        )
    kinds = {v.kind for v in verdicts}
    score = sum(r["passed"] for r in rows) / len(rows) if rows else 0.0
    if kinds == {"not implemented"} or kinds == {"missing"}:
        status = "not attempted"
    elif all(v.passed for v in verdicts):
        status = "passed"
    elif "timeout" in kinds:
        status = "timeout"
    elif kinds <= {"error", "not implemented"}:
        status = "error"
    else:
        status = "failed"
    mistakes = sorted({v.mistake for v in verdicts if v.mistake})
    diagnosis = _overall(rows, verdicts) if status != "passed" else ""
    for r in rows:
        del r["base"]
    return {
        "status": status,
        "score": score,
        "max_error": _worst(verdicts),
        "diagnosis": diagnosis,
        "groups": rows,
        "mistakes": mistakes,
    }


def _most_common(failed: list[CaseVerdict], with_detail: bool = True) -> str:
    """The most frequent diagnosis (with the first case's detail), "" when none failed."""
    if not failed:
        return ""
    counts: dict[str, int] = {}
    for v in failed:
        counts[v.diagnosis] = counts.get(v.diagnosis, 0) + 1
    text = max(counts, key=lambda t: counts[t])
    if not with_detail:
        return text
    return text + next(v.detail for v in failed if v.diagnosis == text)


def _problem(base: str) -> str:
    """What a diagnosis is about, so that one mistake seen in several case groups (with other
    shapes, or as a transposed shape on non-square W) is one line: shapes left out, "dW is
    transposed: expected shape ..." and "dW is the transpose of ..." the same problem."""
    found = re.match(r"(\w+) is (?:transposed: expected shape|the transpose of)", base)
    if found:
        return f"{found.group(1)} transposed"
    return re.sub(r"\(\d+(?:, \d+)*,?\)", "(...)", base)


def _overall(rows: list[dict], verdicts: list[CaseVerdict]) -> str:
    """One text for the exercise: the named mistake first, then each other failing group."""
    if all(v.kind == "not implemented" for v in verdicts):
        return STUB_MESSAGE
    failing = [r for r in rows if not r["passed"]]
    named = {v.diagnosis for v in verdicts if v.kind == "mistake"}
    by_base: dict[str, list[dict]] = {}  # one line per distinct problem (keyed, see _problem)
    for r in sorted(failing, key=lambda r: r["base"] not in named):
        by_base.setdefault(_problem(r["base"]), []).append(r)
    order = sorted(by_base, key=lambda t: (by_base[t][0]["base"] not in named, -len(by_base[t])))
    parts = []
    if len(order) > 3:
        more = len(order) - 3
        order = order[:3]
    else:
        more = 0
    for base in order:
        groups = by_base[base]
        text = groups[0]["diagnosis"]  # a named mistake's wording first
        if not (len(failing) == len(rows) and len(order) == 1):
            text += f" (in: {'; '.join(g['group'] for g in groups)})"
        parts.append(text)
    if more:
        parts.append(f"... and {more} other problem{'s' if more > 1 else ''}: see the case groups")
    return "\n".join(parts)
