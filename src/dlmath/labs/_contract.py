"""The lab contract: what a lab takes (a :class:`LabContext`) and returns (a :class:`LabResult`).

A lab module ``dlmath.labs.labN`` defines ``TITLE`` (str), ``MILESTONES`` (the module's
checklist lines it answers) and ``run(ctx: LabContext) -> LabResult``. It computes its
experiment through the math packages, writes figures with ``ctx.save_figure`` /
``ctx.save_html`` (only inside ``ctx.out_dir``), and returns measured :class:`Check` s.
The CLI and the report only read the result; they hold no lab logic.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

__all__ = ["Check", "LabContext", "LabResult"]

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
}


@dataclass(frozen=True)
class Check:
    """One milestone line with its measured evidence.

    ``passed`` is ``value <op> threshold``; for a yes/no check (a figure was written, a
    table equals torch) ``value`` is 1.0 or 0.0 against threshold 1.0 with ``>=``.
    """

    name: str
    value: float
    threshold: float
    op: str = "<="
    passed: bool = False
    detail: str = ""
    unit: str = ""

    @classmethod
    def compare(
        cls, name: str, value: float, op: str, threshold: float, *, detail: str = "", unit: str = ""
    ) -> Check:
        """Check ``value <op> threshold``; a NaN value never passes."""
        if op not in _OPS:
            raise ValueError(f"'op' must be one of {sorted(_OPS)}; got {op!r}.")
        value = float(value)
        passed = not math.isnan(value) and _OPS[op](value, float(threshold))
        return cls(name, value, float(threshold), op, bool(passed), detail, unit)

    @classmethod
    def at_most(cls, name: str, value: float, threshold: float, **kw: Any) -> Check:
        return cls.compare(name, value, "<=", threshold, **kw)

    @classmethod
    def at_least(cls, name: str, value: float, threshold: float, **kw: Any) -> Check:
        return cls.compare(name, value, ">=", threshold, **kw)

    @classmethod
    def holds(cls, name: str, condition: bool, *, detail: str = "") -> Check:
        """A yes/no milestone (value 1 = holds); ``detail`` says what was measured."""
        return cls.compare(name, 1.0 if condition else 0.0, ">=", 1.0, detail=detail)

    @property
    def is_boolean(self) -> bool:
        return self.op == ">=" and self.threshold == 1.0 and self.value in (0.0, 1.0)

    def evidence(self) -> str:
        """The measured figure as a short phrase: ``max |diff| = 3.1e-16 <= 1e-06``."""
        if self.is_boolean:
            return self.detail or ("yes" if self.passed else "no")
        unit = f" {self.unit}" if self.unit else ""
        text = f"{_fmt(self.value)}{unit} {self.op} {_fmt(self.threshold)}{unit}"
        return f"{self.detail}: {text}" if self.detail else text

    def line(self) -> str:
        mark = "PASS" if self.passed else "FAIL"
        return f"{self.name}: {self.evidence()}  {mark}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"evidence": self.evidence()}


def _fmt(x: float) -> str:
    if x == 0 or math.isnan(x) or math.isinf(x):
        return str(x)
    if 1e-3 <= abs(x) < 1e5:
        return f"{x:.4g}"
    return f"{x:.2e}"


@dataclass
class LabResult:
    """What a lab returns: its checks and the figure files it wrote (relative to the lab dir)."""

    lab: int
    title: str
    checks: list[Check] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    interactive: list[str] = field(default_factory=list)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    quick: bool = False
    error: str = ""  # the traceback when the lab crashed

    @property
    def passed(self) -> bool:
        return not self.error and bool(self.checks) and all(c.passed for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "lab": self.lab,
            "title": self.title,
            "passed": self.passed,
            "quick": self.quick,
            "seconds": round(self.seconds, 3),
            "checks": [c.to_dict() for c in self.checks],
            "figures": list(self.figures),
            "interactive": list(self.interactive),
            "tables": self.tables,
            "notes": list(self.notes),
            "error": self.error,
        }


@dataclass
class LabContext:
    """Where a lab writes and how big it runs.

    ``out_dir`` is the lab's own folder (``DIR/labN``); ``quick`` asks for small sizes
    (tests and CI); ``seed`` seeds every random choice; ``show_progress`` turns the
    progress bars on. Figures saved through the context are recorded for the result.
    """

    out_dir: Path
    quick: bool = False
    seed: int = 0
    show_progress: bool = True
    figures: list[str] = field(default_factory=list)
    interactive: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        """A path inside ``out_dir``; names with folders or '..' are refused."""
        if Path(name).name != name or name in ("", ".", ".."):
            raise ValueError(f"'name' must be a plain file name; got {name!r}.")
        return self.out_dir / name

    def save_figure(self, fig: Any, name: str, *, dpi: int = 120) -> Path:
        """Save a matplotlib figure as PNG atomically, close it, and record it."""
        from dlmath.viz.files import save_png

        path = save_png(fig, self.path(name), dpi=dpi)
        self.figures.append(path.name)
        return path

    def save_html(self, fig: Any, name: str) -> Path:
        """Save a plotly figure as a self-contained HTML page atomically and record it."""
        from dlmath.viz.files import save_plotly_html

        path = save_plotly_html(fig, self.path(name))
        self.interactive.append(path.name)
        return path

    def progress(self, iterable: Iterable[Any], desc: str, total: int | None = None) -> Iterator:
        """Wrap a loop in a progress bar (silent when ``show_progress`` is off)."""
        return iter(
            tqdm(iterable, desc=desc, total=total, leave=False, disable=not self.show_progress)
        )

    def result(self, lab: int, title: str, checks: list[Check], **extra: Any) -> LabResult:
        """Bundle checks with the figures recorded so far."""
        return LabResult(
            lab=lab,
            title=title,
            checks=list(checks),
            figures=list(self.figures),
            interactive=list(self.interactive),
            quick=self.quick,
            **extra,
        )
