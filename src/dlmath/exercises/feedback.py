r"""Pages a grade run writes: one feedback page per learner, and the class summary.

A feedback page shows each exercise's status, score, worst error and diagnosis, the case
groups (their names only: "t = 1", "logits of +-1e4"), the notes on the submission
(magics skipped, a timeout, a crash) and the milestone checklist judged on the learner's
code. It never holds the reference code or the hidden inputs: nothing here reads them,
the records carry only verdicts. Everything the learner's code produced (tracebacks,
messages) is HTML-escaped.

The summary (:func:`summarize`, the same numbers as ``summary.json``) has the score
histogram, the pass rate of each exercise and, per exercise, the most frequent diagnosed
mistakes as a percentage of the class ("adam_step: 37% Adam without bias correction").
"""

from __future__ import annotations

import base64
import html
import io
import statistics
from collections import Counter

import numpy as np

__all__ = ["feedback_page", "mistake_label", "summarize", "summary_page"]

_STYLE = """
body { font-family: system-ui, -apple-system, Segoe UI, sans-serif; margin: 2rem auto;
       max-width: 72rem; padding: 0 1rem; color: #1d2330; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
table { border-collapse: collapse; width: 100%; font-size: .92rem; }
th, td { border-bottom: 1px solid #dde1e8; padding: .35rem .5rem; text-align: left;
         vertical-align: top; }
th { background: #f3f5f8; }
.passed { color: #11772b; font-weight: 600; } .failed, .error, .timeout { color: #b3261e;
  font-weight: 600; } .not-attempted { color: #6b7280; }
.bar { background: #e5e7eb; width: 10rem; height: .8rem; display: inline-block; }
.bar span { background: #2f6fdd; height: 100%; display: block; }
pre { background: #f6f7f9; padding: .6rem; overflow-x: auto; font-size: .85rem; }
.note { background: #fff7e0; border-left: 4px solid #e0a800; padding: .4rem .7rem; }
.muted { color: #6b7280; } ul.mistakes { margin: 0; padding-left: 1.1rem; }
"""


def _e(text) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def _fmt_error(x) -> str:
    return "" if x is None else f"{float(x):.3g}"


def _status(status: str) -> str:
    return f"<span class='{_e(status.replace(' ', '-'))}'>{_e(status)}</span>"


# ----------------------------------------------------------------------------- one learner


def feedback_page(record: dict, settings: dict) -> str:
    """The HTML feedback page of one graded submission (``record`` from grading)."""
    name = record["submission"]
    files = ", ".join(str(f).rsplit("/", 1)[-1] for f in record["files"])
    parts = [
        f"<h1>Feedback: {_e(name)}</h1>",
        f"<p><b>Score: {record['total']:g} / {record['max']}</b> "
        f"<span class='muted'>(one point per exercise, partial credit per case group; "
        f"files: {_e(files)}; seed {int(settings['seed'])}; time limit "
        f"{settings['timeout']:g} s per exercise)</span></p>",
    ]
    if record["note"]:
        parts.append(f"<p class='note' id='note'>{_e(record['note'])}</p>")
    if record["load_error"]:
        parts.append(
            "<h2>Your code did not load completely</h2>"
            f"<pre id='load-error'>{_e(record['load_error'])}</pre>"
        )
    if record["notes"]:
        items = "".join(f"<li>{_e(n)}</li>" for n in record["notes"])
        parts.append(f"<h2>Notes on your notebook</h2><ul id='notes'>{items}</ul>")
    rows = []
    for e in record["exercises"]:
        rows.append(
            f"<tr><td>{int(e['lab'])}</td><td><code>{_e(e['name'])}</code></td>"
            f"<td>{_status(e['status'])}</td><td>{float(e['score']):.2f}</td>"
            f"<td>{_fmt_error(e['max_error'])}</td><td>{_e(e['diagnosis'])}</td></tr>"
        )
    if rows:
        parts.append(
            "<h2>Exercises</h2><table id='exercises'><tr><th>lab</th><th>exercise</th>"
            "<th>status</th><th>score</th><th>worst error</th><th>diagnosis</th></tr>"
            + "".join(rows) + "</table>"
        )  # fmt: skip
    details = []
    for e in record["exercises"]:
        bad = [g for g in e["groups"] if not g.get("passed")]
        if not bad or e["status"] == "not attempted":  # shown once, as not attempted
            continue
        items = "".join(
            f"<tr><td>{_e(g.get('group'))}</td><td>{_e(g.get('cases'))}</td>"
            f"<td>{_fmt_error(g.get('max_error'))}</td><td>{_e(g.get('diagnosis'))}</td></tr>"
            for g in bad
        )
        details.append(
            f"<details><summary><code>{_e(e['name'])}</code>: {len(bad)} of "
            f"{len(e['groups'])} case groups failed</summary><table><tr><th>case group</th>"
            f"<th>cases</th><th>worst error</th><th>diagnosis</th></tr>{items}</table></details>"
        )
    if details:
        parts.append("<h2>Failed case groups</h2>" + "".join(details))
    if record["milestones"]:
        items = "".join(
            f"<li>{'&#9745;' if m['passed'] else '&#9744;'} {_e(m['milestone'])} "
            f"<span class='muted'>({_e(m['evidence'])})</span></li>"
            for m in record["milestones"]
        )
        parts.append(f"<h2>Milestone checklist</h2><ul id='milestones'>{items}</ul>")
    return _page(f"dlmath feedback: {name}", "\n".join(parts))


# ----------------------------------------------------------------------------- the class


def mistake_label(exercise: str, result: dict) -> list[str]:
    """Short labels of what went wrong in one exercise result (for counting over a class).

    Named known mistakes give their message's first clause ("Adam without bias correction
    (of m and of v)"); otherwise the diagnosis's first clause; a timeout is "timed out".
    """
    from dlmath.exercises.mistakes import MISTAKES

    status = result["status"]
    if status in ("passed", "not attempted"):
        return []
    if status == "timeout":
        return ["timed out"]
    messages = {m.key: m.message for m in MISTAKES.get(exercise, ())}
    named = [messages[k] for k in result.get("mistakes", []) if k in messages]
    labels = named or [result.get("diagnosis") or status]
    return sorted({_clause(t) for t in labels})


def _clause(text: str) -> str:
    text = str(text).strip().splitlines()[0] if str(text).strip() else ""
    for stop in (" (in: ", "; ", " [right:", ": "):
        text = text.split(stop, 1)[0]
    return text.strip()[:120] or "failed"


def summarize(records: list[dict], settings: dict) -> dict:
    """The class's numbers: score histogram, pass rates, most frequent mistakes."""
    from dlmath.exercises.registry import EXERCISES

    n = len(records)
    maximum = records[0]["max"] if records else len(EXERCISES)
    totals = [float(r["total"]) for r in records]
    edges = list(range(0, maximum + 2))
    counts = np.histogram(totals, bins=np.asarray(edges, dtype=float) - 1e-9)[0] if n else []
    exercises = []
    for name, ex in EXERCISES.items():
        results = [e for r in records for e in r["exercises"] if e["name"] == name]
        passed = sum(e["status"] == "passed" for e in results)
        attempted = sum(e["status"] != "not attempted" for e in results)
        labels = Counter(lab for e in results for lab in mistake_label(name, e))
        mistakes = [
            {"mistake": label, "count": c, "percent": round(100 * c / n, 1)}
            for label, c in sorted(labels.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
        ]
        mean = sum(r["scores"].get(name, 0.0) for r in records) / n if n else 0.0
        exercises.append({
            "lab": ex.lab, "name": name, "attempted": attempted, "passed": passed,
            "pass_rate": round(passed / n, 4) if n else 0.0, "mean_score": round(mean, 4),
            "mistakes": mistakes,
        })  # fmt: skip
    return {
        "submissions": n,
        "max": maximum,
        "mean_total": round(statistics.fmean(totals), 4) if n else 0.0,
        "median_total": round(statistics.median(totals), 4) if n else 0.0,
        "histogram": {
            "bins": edges[:-1],
            "counts": [int(c) for c in counts],
            "meaning": "counts[i]: submissions with bins[i] <= total < bins[i] + 1",
        },
        "could_not_run": sorted(
            r["submission"] for r in records if r["note"].startswith("could not run")
        ),
        "noted": {r["submission"]: r["note"] for r in records if r["note"]},
        "totals": {r["submission"]: r["total"] for r in records},
        "exercises": exercises,
        "settings": dict(settings),
    }


def histogram_png(summary: dict) -> bytes:
    """The score histogram as PNG bytes (matplotlib's object API: no global state)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(7.5, 3.2), dpi=110)
    ax = fig.subplots()
    bins, counts = summary["histogram"]["bins"], summary["histogram"]["counts"]
    ax.bar(bins, counts, width=0.9, align="edge", color="#2f6fdd", label="submissions")
    if summary["submissions"]:
        ax.axvline(summary["mean_total"], color="#b3261e", ls="--",
                   label=f"mean {summary['mean_total']:.1f}")  # fmt: skip
    ax.set_xlim(0, summary["max"] + 1)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(f"total score (points, out of {summary['max']}; bin [k, k+1))")
    ax.set_ylabel("submissions (count)")
    ax.set_title(f"Score distribution of {summary['submissions']} submissions")
    ax.legend(loc="upper left")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def summary_page(summary: dict) -> str:
    """``summary.html``: histogram, pass rate per exercise, frequent mistakes, notes."""
    s = summary
    png = base64.b64encode(histogram_png(s)).decode()
    st = s["settings"]
    parts = [
        "<h1>Class summary</h1>",
        f"<p>{s['submissions']} submissions graded; mean {s['mean_total']:g}, median "
        f"{s['median_total']:g} of {s['max']} points. <span class='muted'>seed "
        f"{int(st['seed'])}, {st['timeout']:g} s and {int(st['memory_mb'])} MB per exercise, "
        f"dlmath {_e(st['dlmath'])}</span></p>",
        f"<img id='histogram' alt='score histogram' src='data:image/png;base64,{png}'>",
        "<h2>Pass rate and the most frequent mistakes, per exercise</h2>",
        "<table id='exercises'><tr><th>lab</th><th>exercise</th><th>pass rate</th>"
        "<th>attempted</th><th>most frequent mistakes (% of the class)</th></tr>",
    ]
    for e in s["exercises"]:
        pct = 100 * e["pass_rate"]
        mistakes = "".join(f"<li>{m['percent']:g}% {_e(m['mistake'])}</li>" for m in e["mistakes"])
        parts.append(
            f"<tr><td>{e['lab']}</td><td><code>{_e(e['name'])}</code></td>"
            f"<td><span class='bar'><span style='width:{pct:.0f}%'></span></span> "
            f"{pct:.0f}%</td><td>{e['attempted']}</td>"
            f"<td><ul class='mistakes'>{mistakes}</ul></td></tr>"
        )
    parts.append("</table>")
    rows = "".join(
        f"<tr><td><a href='feedback/{_e(name)}.html'>{_e(name)}</a></td><td>{total:g}</td>"
        f"<td>{_e(s['noted'].get(name, ''))}</td></tr>"
        for name, total in s["totals"].items()
    )
    parts.append(
        "<h2>Submissions</h2><table id='submissions'><tr><th>submission</th><th>total</th>"
        f"<th>note</th></tr>{rows}</table>"
    )
    return _page("dlmath grade: class summary", "\n".join(parts))
