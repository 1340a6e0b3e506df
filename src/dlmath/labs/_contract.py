"""The lab contract: what a lab's experiments return and how a run is assembled.

A lab module ``dlmath.labs.labN`` defines

- ``TITLE`` (str) and ``MILESTONES`` (its lines of :data:`dlmath.milestones.MODULE_MILESTONES`);
- ``config(quick=False, seed=0) -> Config``: every size and seed of the lab, in one frozen
  dataclass (``quick`` = the small sizes the tests run);
- its experiments, functions ``f(cfg, ...) -> Section`` that compute and return numbers,
  the :class:`Check` s with their thresholds, tables, and *builders* of their figures,
  without saving or printing anything;
- ``run(ctx: LabContext) -> LabResult``: a table of contents that calls the experiments
  in order and hands each :class:`Section` to ``ctx.add`` (which draws and saves its figures).

The lab's notebook calls the same experiment functions step by step and shows each
section's figures inline (``section.show()``); its last cell, :func:`summarize`, gives the
same checks as ``run``. The CLI and the report only read results; they hold no lab logic.
"""

from __future__ import annotations

import html
import math
import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

__all__ = [
    "Check",
    "LabContext",
    "LabResult",
    "Section",
    "drawn",
    "json_safe",
    "progress_bar",
    "summarize",
]

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
        """Plain data for ``result.json``; non-finite floats become ``None`` (valid JSON)."""
        return json_safe(
            {
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
        )

    def _repr_html_(self) -> str:
        head = f"Lab 1.3.{self.lab}: {self.title}"
        n_ok = sum(c.passed for c in self.checks)
        return (
            f"<h4>{html.escape(head)}: {n_ok}/{len(self.checks)} checks passed</h4>"
            + _checks_html(self.checks)
        )

    def _repr_json_(self) -> dict[str, Any]:
        # what the notebook parity test reads from the executed notebook
        return {"lab": self.lab, "checks": json_safe([c.to_dict() for c in self.checks])}

    def __repr__(self) -> str:
        lines = [f"Lab 1.3.{self.lab}: {self.title}"] + ["  " + c.line() for c in self.checks]
        return "\n".join(lines)


def json_safe(obj: Any) -> Any:
    """``obj`` with every non-finite float (NaN, +-inf) replaced by ``None``, recursively,
    and NumPy scalars/arrays turned into Python numbers/lists: ``json.dumps`` of the
    result is valid JSON (no ``NaN`` token)."""
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):
        return json_safe(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _checks_html(checks: Sequence[Check]) -> str:
    rows = "".join(
        f"<tr><td style='color:{'#18794e' if c.passed else '#c4352b'};font-weight:bold'>"
        f"{'PASS' if c.passed else 'FAIL'}</td><td style='text-align:left'>{html.escape(c.name)}"
        f"</td><td style='text-align:left'>{html.escape(c.evidence())}</td></tr>"
        for c in checks
    )
    return (
        "<table><thead><tr><th></th><th style='text-align:left'>check</th>"
        f"<th style='text-align:left'>measured</th></tr></thead><tbody>{rows}</tbody></table>"
    )


#: a figure builder: no arguments, returns a matplotlib or plotly figure
FigureBuilder = Callable[[], Any]


@dataclass
class Section:
    """What one experiment returns: its checks, tables and notes, the numbers and arrays it
    computed (``values``, for the notebook to look at), and its figures as *builders*
    keyed by file name (``.png`` = matplotlib, ``.html`` = plotly, interactive).

    Nothing is drawn until asked: ``ctx.add(section)`` draws and saves the figures of a
    run; ``section.show()`` draws and displays them inline in a notebook.
    """

    title: str
    checks: list[Check] = field(default_factory=list)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, FigureBuilder] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def show(self, *names: str) -> None:
        """Display the checks, then draw and display the figures (all, or those ``names``)."""
        from IPython.display import HTML, display

        if self.checks and not names:
            display(HTML(_checks_html(self.checks)))
        for name in names or tuple(self.figures):
            display_figure(self.figures[name](), name)

    def _repr_html_(self) -> str:
        figs = ", ".join(self.figures) or "none"
        return f"<b>{html.escape(self.title)}</b> (figures: {html.escape(figs)})" + _checks_html(
            self.checks
        )

    def __repr__(self) -> str:
        lines = [
            f"Section({self.title!r}: {len(self.checks)} checks, figures {list(self.figures)})"
        ]
        return "\n".join(lines + ["  " + c.line() for c in self.checks])


def drawn(fig: Any) -> FigureBuilder:
    """The builder of a figure an experiment has already drawn (to check what it shows).

    A matplotlib figure is closed at once: it is saved or displayed later from the object,
    and Jupyter's inline backend does not show a closed figure a second time.
    """
    if hasattr(fig, "savefig"):
        import matplotlib.pyplot as plt

        plt.close(fig)
    return lambda: fig


_plotly_js_sent = False


def display_figure(fig: Any, name: str = "") -> None:
    """Show a figure inline in Jupyter, tagged with its file ``name`` (output metadata
    ``dlmath_figure``): a matplotlib figure as a PNG (then closed, so the inline backend does
    not show it twice), a plotly figure as plotly's own output plus an offline HTML page
    (plotly.js sent once per kernel), so it renders in JupyterLab and in HTML exports."""
    global _plotly_js_sent
    from IPython.display import display

    tag = {"dlmath_figure": name}
    if hasattr(fig, "savefig"):
        import io

        import matplotlib.pyplot as plt
        from IPython.display import Image

        # rendered here, not by the kernel's figure formatter: the PNG shows whatever
        # matplotlib backend the kernel has (inline, or Agg set by the environment)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
        plt.close(fig)
        display(Image(data=buf.getvalue(), format="png"), metadata=tag)
        return
    import json

    html = fig.to_html(full_html=False, include_plotlyjs=not _plotly_js_sent)
    _plotly_js_sent = True
    bundle = {"application/vnd.plotly.v1+json": json.loads(fig.to_json()), "text/html": html}
    display(bundle, raw=True, metadata=tag)


def summarize(
    lab: int, title: str, sections: Iterable[Section], *, quick: bool = False
) -> LabResult:
    """The lab's checks, tables and notes from its sections, in order, without any file:
    what a notebook's last cell shows, equal to ``run_lab``'s checks."""
    sections = list(sections)
    return LabResult(
        lab=lab,
        title=title,
        checks=[c for s in sections for c in s.checks],
        tables={k: v for s in sections for k, v in s.tables.items()},
        notes=[n for s in sections for n in s.notes],
        quick=quick,
    )


def progress_bar(
    iterable: Iterable[Any], desc: str, total: int | None = None, *, enabled: bool = True
) -> Iterator:
    """The progress bar of an experiment's long loops (tqdm, cleared when done); the default
    ``progress`` of every experiment that has one."""
    return iter(tqdm(iterable, desc=desc, total=total, leave=False, disable=not enabled))


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
        return progress_bar(iterable, desc, total, enabled=self.show_progress)

    def add(self, section: Section) -> Section:
        """Draw and save every figure of ``section`` (PNG or interactive HTML by name)."""
        for name, build in section.figures.items():
            fig = build()
            if name.endswith(".html"):
                self.save_html(fig, name)
            else:
                self.save_figure(fig, name)
        return section

    def result(self, lab: int, title: str, sections: Iterable[Section]) -> LabResult:
        """Save every section's figures, then bundle its checks, tables and notes."""
        sections = [self.add(s) for s in sections]
        result = summarize(lab, title, sections, quick=self.quick)
        result.figures, result.interactive = list(self.figures), list(self.interactive)
        return result
