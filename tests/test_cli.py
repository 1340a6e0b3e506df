"""The command line and the report, driven by stand-in labs so each behaviour is exact.

The real labs are run by `make test` (`dlmath labs --quick`) and by their own tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import matplotlib.pyplot as plt
import plotly.graph_objects as go
import pytest

import dlmath
from dlmath import labs as labs_pkg
from dlmath.cli import main
from dlmath.labs import Check, LabContext


def _make_lab(
    n: int, name: str, *, passes: bool = True, crash: bool = False, figure: str = "curve.png"
):
    mod = types.ModuleType(f"dlmath.labs.{name}")
    mod.TITLE = f"Stand-in {name}"
    mod.MILESTONES = []

    def run(ctx: LabContext):
        fig, ax = plt.subplots()
        ax.plot([0, 1], [1, 0])
        ax.set_title("a curve <with> markup")
        ctx.save_figure(fig, figure)
        ctx.save_html(go.Figure(go.Scatter(x=[0, 1], y=[1, 0])), "surface.html")
        if crash:
            raise RuntimeError("boom in the lab")
        value = 3.1e-16 if passes else 0.5
        return ctx.result(
            n,
            mod.TITLE,
            [Check.at_most("manual backprop matches autograd", value, 1e-6, detail="max |diff|")],
            tables={"agreement": [{"param": "W1", "max_abs": value}]},
        )

    mod.run = run
    return mod


@pytest.fixture
def fake_labs(monkeypatch):
    """Labs 1 and 2 replaced by stand-ins; returns a setter to swap one in."""

    def install(n: int, **kw):
        name = f"_fake{n}"
        monkeypatch.setitem(sys.modules, f"dlmath.labs.{name}", _make_lab(n, name, **kw))
        monkeypatch.setitem(labs_pkg.LABS, n, name)

    install(1)
    install(2)
    return install


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"dlmath {dlmath.__version__}"


def test_python_dash_m_entry_point():
    out = subprocess.run(
        [sys.executable, "-m", "dlmath", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"dlmath {dlmath.__version__}"


def test_labs_pass_prints_evidence_and_writes_report(fake_labs, tmp_path, capsys):
    out = tmp_path / "rep"
    code = main(["labs", "--only", "1,2", "--out", str(out), "--no-progress"])
    text = capsys.readouterr().out
    assert code == 0
    assert "manual backprop matches autograd: max |diff|: 3.10e-16 <= 1.00e-06  PASS" in text
    assert "Milestone checklist" in text
    # writes only inside DIR, and exactly the documented layout
    assert _files(tmp_path) == {"rep"} | {f"rep/{f}" for f in _files(out)}
    assert {"index.html", "results.json", "lab1/result.json", "lab1/curve.png"} <= _files(out)
    assert "lab1/surface.html" in _files(out) and "lab1/plotly.min.js" in _files(out)
    assert not [f for f in _files(out) if ".tmp" in f or Path(f).name.startswith(".")]
    data = json.loads((out / "lab1" / "result.json").read_text())
    check = data["checks"][0]
    assert (check["value"], check["threshold"], check["passed"]) == (3.1e-16, 1e-6, True)
    assert data["figures"] == ["curve.png"] and data["interactive"] == ["surface.html"]
    html = (out / "index.html").read_text()
    assert 'src="lab1/curve.png"' in html and 'src="lab1/surface.html"' in html
    assert "manual backprop matches autograd" in html and "3.10e-16" in html


def test_failing_milestone_exits_nonzero(fake_labs, tmp_path, capsys):
    fake_labs(2, passes=False)
    code = main(["labs", "--only", "1,2", "--out", str(tmp_path), "--no-progress"])
    text = capsys.readouterr().out
    assert code == 1
    assert "0.5 <= 1.00e-06  FAIL" in text
    assert json.loads((tmp_path / "lab2" / "result.json").read_text())["passed"] is False


def test_crashing_lab_is_reported_and_others_still_run(fake_labs, tmp_path, capsys):
    fake_labs(1, crash=True)
    code = main(["labs", "--only", "1,2", "--out", str(tmp_path), "--no-progress"])
    captured = capsys.readouterr()
    assert code == 1
    assert "lab ran to completion: RuntimeError: boom in the lab  FAIL" in captured.out
    assert "boom in the lab" in captured.err
    lab1 = json.loads((tmp_path / "lab1" / "result.json").read_text())
    assert lab1["passed"] is False and "RuntimeError" in lab1["error"]
    assert json.loads((tmp_path / "lab2" / "result.json").read_text())["passed"] is True
    assert "boom in the lab" in (tmp_path / "index.html").read_text()


def test_second_run_replaces_the_lab_folder_cleanly(fake_labs, tmp_path):
    assert main(["lab", "1", "--out", str(tmp_path), "--no-progress"]) == 0
    (tmp_path / "lab1" / "stale.png").write_bytes(b"old")
    first = (tmp_path / "lab1" / "curve.png").read_bytes()
    fake_labs(1, figure="other.png")
    assert main(["lab", "1", "--out", str(tmp_path), "--no-progress"]) == 0
    names = {p.name for p in (tmp_path / "lab1").iterdir()}
    assert names == {"other.png", "surface.html", "plotly.min.js", "result.json"}
    assert (tmp_path / "lab1" / "other.png").read_bytes() == first  # same figure, same bytes
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("only", ["0", "1,9", "x", ""])
def test_bad_lab_numbers_are_usage_errors(only, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["labs", "--only", only])
    assert exc.value.code == 2
    assert "expected lab numbers from [1, 2, 3, 4, 5]" in capsys.readouterr().err


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "usage: dlmath" in capsys.readouterr().out


def test_check_semantics():
    assert Check.at_least("acc", 0.95, 0.9).passed
    assert not Check.at_least("acc", 0.85, 0.9).passed
    assert not Check.at_most("err", float("nan"), 1.0).passed  # NaN never passes
    assert Check.holds("plot written", True, detail="3 figures").line() == (
        "plot written: 3 figures  PASS"
    )
    with pytest.raises(ValueError, match="'op' must be one of"):
        Check.compare("x", 1.0, "==", 1.0)


def test_context_refuses_paths_outside_its_folder(tmp_path):
    ctx = LabContext(tmp_path / "lab9")
    for bad in ("../escape.png", "sub/x.png", "", ".."):
        with pytest.raises(ValueError, match="'name' must be a plain file name"):
            ctx.path(bad)
