"""The report a person opens in a browser: ``DIR/index.html`` over every lab's results.

Each lab writes its own folder ``DIR/labN`` (figures, interactive pages, ``result.json``);
this module reads those results and writes the index page and ``DIR/results.json``.
It writes only inside ``DIR``, every file atomically.

File ownership: ``DIR/.dlmath-manifest.json`` lists every file dlmath wrote into ``DIR``
(paths relative to ``DIR``). A rerun replaces or removes only those files; anything else
(a user's notes inside ``DIR/lab1/``, a user file named ``DIR/lab1``) is kept.
:func:`check_report_dir` refuses a folder that is not a dlmath report (unless forced).
"""

from __future__ import annotations

import html
import json
import os
import re
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dlmath import __version__
from dlmath.milestones import MODULE_MILESTONES
from dlmath.viz.files import atomic_write_text

__all__ = [
    "MANIFEST",
    "MODULE_MILESTONES",
    "ReportDirError",
    "check_report_dir",
    "collect_results",
    "milestone_status",
    "owned_files",
    "record_files",
    "write_report",
]

#: the file, inside a report folder, that lists what dlmath wrote there
MANIFEST = ".dlmath-manifest.json"
_LAB_DIR = re.compile(r"lab([0-9]+)")


class ReportDirError(ValueError):
    """``--out`` cannot be used as a report folder (the message is one line for the CLI)."""


# --- which files are ours ---------------------------------------------------------------


def _legacy_files(out: Path) -> set[str] | None:
    """Files of a report written before the manifest existed, or None if ``out`` is not one.

    Such a report has a ``results.json`` with a ``dlmath_version``; its files are the ones
    that JSON names (each lab's result.json, figures, pages), never anything else.
    """
    try:
        data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or "dlmath_version" not in data:
        return None
    files = {"index.html", "results.json"}
    for lab in data.get("labs", []):
        if not isinstance(lab, dict) or not isinstance(lab.get("lab"), int):
            continue
        d = f"lab{lab['lab']}"
        pages = [str(f) for f in lab.get("interactive", [])]
        names = ["result.json", *map(str, lab.get("figures", [])), *pages]
        files |= {f"{d}/{name}" for name in names + (["plotly.min.js"] if pages else [])}
    return _inside(out, files)


def _inside(out: Path, names: set[str]) -> set[str]:
    """The names that are files inside ``out``: relative, no ``..``, resolving under ``out``.

    A crafted manifest or legacy ``results.json`` could name ``lab1/../../x``, ``/etc/x``
    or a path through a symlink out of ``out``; such a name is never ours to replace or
    delete.
    """
    root = out.resolve()
    kept = set()
    for name in names:
        rel = Path(name)
        if not name or rel.is_absolute() or rel.anchor or ".." in rel.parts:
            continue
        try:
            if (out / rel).resolve().is_relative_to(root):
                kept.add(name)
        except (OSError, ValueError):  # a NUL byte, a symlink loop: not a file of ours
            continue
    return kept


def owned_files(out: str | os.PathLike) -> set[str] | None:
    """The files dlmath wrote into ``out`` (relative paths), or None if it is no dlmath report."""
    out = Path(out)
    try:
        data = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
        files = data["files"]
    except FileNotFoundError:
        return _legacy_files(out)
    except (OSError, ValueError, KeyError, TypeError):
        return _legacy_files(out)
    if not isinstance(files, list):
        return _legacy_files(out)
    return _inside(out, {f for f in files if isinstance(f, str)})


def record_files(
    out: str | os.PathLike, add: set[str] = frozenset(), remove: set[str] = frozenset()
) -> None:
    """Update the manifest: ``files = (owned - remove) | add`` (written atomically)."""
    out = Path(out)
    files = ((owned_files(out) or set()) - set(remove)) | set(add)
    text = json.dumps({"dlmath_version": __version__, "files": sorted(files)}, indent=1)
    atomic_write_text(out / MANIFEST, text + "\n")


def check_report_dir(
    out: str | os.PathLike, labs: tuple[int, ...] = (), *, force: bool = False
) -> Path:
    """Make sure ``out`` can hold a report; create it if missing. Raises :class:`ReportDirError`.

    Refused: a path that is a file; a folder that cannot be written; a non-empty folder
    that is not a dlmath report (its own ``index.html`` would be overwritten) unless
    ``force``; a non-folder ``out/labN`` for a lab about to run (a user's file is kept).
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ReportDirError(f"--out {out} is a file, not a folder; choose a folder.")
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".dlmath-probe.")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise ReportDirError(f"--out {out} cannot be written ({reason}).") from None
    if not force and owned_files(out) is None and any(map(_not_ours, out.iterdir())):
        raise ReportDirError(
            f"--out {out} is a non-empty folder that is not a dlmath report; "
            "choose another folder or pass --force to write into it."
        )
    for n in labs:
        lab_dir = out / f"lab{n}"
        if lab_dir.exists() and not lab_dir.is_dir():
            raise ReportDirError(
                f"{lab_dir} exists and is not a folder (kept); move it or choose another --out."
            )
    return out


def _not_ours(path: Path) -> bool:
    """Anything but dlmath's own leftovers (a staging folder ``.labN.*`` of a killed run)."""
    return not (re.fullmatch(r"\.lab[0-9]+\..+", path.name) and path.is_dir())


def collect_results(out: str | os.PathLike) -> dict[int, dict[str, Any]]:
    """Read every ``DIR/labN/result.json`` present, keyed by lab number.

    Only folders named ``lab<number>`` count, and only a result whose ``lab`` field is
    that number: a user's ``DIR/labnotes/result.json`` or a broken file is ignored.
    """
    results: dict[int, dict[str, Any]] = {}
    for path in sorted(Path(out).glob("lab*/result.json")):
        match = _LAB_DIR.fullmatch(path.parent.name)
        if match is None:
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("lab") == int(match.group(1)):
            results[int(data["lab"])] = data
    return results


def milestone_status(results: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """The module checklist with, per line, whether every supporting lab ran and passed."""
    rows = []
    for line, labs in MODULE_MILESTONES:
        ran = [n for n in labs if n in results]
        checks = [c for n in ran for c in results[n]["checks"]]
        passed = len(ran) == len(labs) and all(results[n]["passed"] for n in ran)
        missing = [n for n in labs if n not in results]
        evidence = (
            f"{sum(c['passed'] for c in checks)}/{len(checks)} checks passed in lab "
            + ", ".join(map(str, ran))
            if ran
            else ""
        )
        if missing:
            evidence += ("; " if ran else "") + "lab " + ", ".join(map(str, missing)) + " not run"
        rows.append({"milestone": line, "labs": list(labs), "passed": passed, "evidence": evidence})
    return rows


def write_report(out: str | os.PathLike, *, command: str = "dlmath labs") -> Path:
    """Write ``DIR/index.html`` and ``DIR/results.json`` from the lab results in ``DIR``."""
    out = Path(out)
    results = collect_results(out)
    checklist = milestone_status(results)
    summary = {
        "dlmath_version": __version__,
        "command": command,
        "labs": [results[n] for n in sorted(results)],
        "milestones": checklist,
    }
    out.mkdir(parents=True, exist_ok=True)
    record_files(out, add={"results.json", "index.html"})  # listed before they are written
    atomic_write_text(out / "results.json", json.dumps(summary, indent=2) + "\n")
    return atomic_write_text(out / "index.html", _page(results, checklist, command))


# --- HTML -----------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2330;
background:#f6f7f9;line-height:1.45}
header{background:#1d2330;color:#fff;padding:1.2rem 2rem}
header h1{margin:0;font-size:1.5rem} header p{margin:.3rem 0 0;color:#c9ced8}
main{max-width:1200px;margin:0 auto;padding:1rem 2rem 3rem}
section{background:#fff;border-radius:8px;box-shadow:0 1px 3px #0002;margin:1.2rem 0;
padding:1rem 1.4rem}
h2{margin:.2rem 0 .6rem;font-size:1.25rem}
table{border-collapse:collapse;width:100%;font-size:.92rem;margin:.4rem 0 1rem}
th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #e3e6eb;vertical-align:top}
th{background:#f0f2f5}
.pass{color:#127a3a;font-weight:600}.fail{color:#b3261e;font-weight:600}
.badge{display:inline-block;border-radius:4px;padding:0 .45rem;font-size:.8rem;
margin-left:.5rem;vertical-align:middle}
.badge.pass{background:#dff3e4}.badge.fail{background:#fbe3e1}.badge.quick{background:#eef;color:#335}
.figs{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:1rem}
figure{margin:0} figure img{width:100%;border:1px solid #e3e6eb;border-radius:4px}
figcaption{font-size:.85rem;color:#555}
iframe{width:100%;height:560px;border:1px solid #e3e6eb;border-radius:4px;background:#fff}
code{background:#f0f2f5;padding:0 .25rem;border-radius:3px}
nav a{margin-right:1rem;color:#fff}
"""


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _mark(passed: bool) -> str:
    return '<span class="pass">PASS</span>' if passed else '<span class="fail">FAIL</span>'


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    cols = list(rows[0])
    head = "".join(f"<th>{_e(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{_e(_cell(r.get(c, '')))}</td>" for c in cols) + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if 1e-3 <= abs(v) < 1e5 or v == 0 else f"{v:.3e}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_cell(x) for x in v) + "]"
    return str(v)


def _lab_section(res: dict[str, Any]) -> str:
    n = res["lab"]
    status = "pass" if res["passed"] else "fail"
    badges = f'<span class="badge {status}">{status.upper()}</span>'
    if res.get("quick"):
        badges += '<span class="badge quick">quick sizes</span>'
    checks = "".join(
        f"<tr><td>{_e(c['name'])}</td><td>{_e(c['evidence'])}</td><td>{_mark(c['passed'])}</td></tr>"
        for c in res["checks"]
    )
    parts = [
        f'<section id="lab{n}"><h2>Lab 1.3.{n}: {_e(res["title"])}{badges}</h2>',
        f'<p>Ran in {res["seconds"]:.1f} s. Checks: <a href="lab{n}/result.json">'
        f"lab{n}/result.json</a></p>",
        f"<table><tr><th>milestone</th><th>measured evidence</th><th></th></tr>{checks}</table>",
    ]
    if res.get("error"):
        parts.append(f'<pre class="fail">{_e(res["error"])}</pre>')
    for title, rows in res.get("tables", {}).items():
        parts.append(f"<h3>{_e(title)}</h3>{_table(rows)}")
    for note in res.get("notes", []):
        parts.append(f"<p>{_e(note)}</p>")
    for page in res.get("interactive", []):
        src = f"lab{n}/{page}"
        parts.append(
            f"<h3>Interactive: {_e(Path(page).stem.replace('_', ' '))} "
            f'(<a href="{_e(src)}">open full page</a>)</h3>'
            f'<iframe src="{_e(src)}" title="{_e(page)}" loading="lazy"></iframe>'
        )
    if res.get("figures"):
        figs = "".join(
            f'<figure><a href="lab{n}/{_e(f)}"><img src="lab{n}/{_e(f)}" alt="{_e(f)}"></a>'
            f"<figcaption>{_e(Path(f).stem.replace('_', ' '))}</figcaption></figure>"
            for f in res["figures"]
        )
        parts.append(f'<div class="figs">{figs}</div>')
    parts.append("</section>")
    return "\n".join(parts)


def _page(results: dict[int, dict[str, Any]], checklist: list[dict[str, Any]], command: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    rows = "".join(
        f"<tr><td>{'&#9745;' if m['passed'] else '&#9744;'} {_e(m['milestone'])}</td>"
        f"<td>{_e(m['evidence'])}</td><td>{_mark(m['passed'])}</td></tr>"
        for m in checklist
    )
    nav = "".join(f'<a href="#lab{n}">Lab {n}</a>' for n in sorted(results))
    labs = "\n".join(_lab_section(results[n]) for n in sorted(results))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>dlmath report: Mathematics for Deep Learning (module 1.3)</title>
<style>{_CSS}</style></head>
<body><header><h1>dlmath report: Mathematics for Deep Learning</h1>
<p>dlmath {_e(__version__)} &middot; <code>{_e(command)}</code> &middot; written {stamp}</p>
<nav>{nav}</nav></header>
<main>
<section id="milestones"><h2>Milestone checklist</h2>
<table><tr><th>module milestone</th><th>evidence</th><th></th></tr>{rows}</table></section>
{labs}
</main></body></html>
"""
