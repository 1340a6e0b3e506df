"""The command line and the report, driven by stand-in labs so each behaviour is exact.

The real labs are run by `make test` (`dlmath labs --quick`) and by their own tests.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import matplotlib.pyplot as plt
import plotly.graph_objects as go
import pytest

import dlmath
from dlmath import labs as labs_pkg
from dlmath.cli import main
from dlmath.labs import Check, LabContext, LabResult


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
        return LabResult(
            lab=n,
            title=mod.TITLE,
            checks=[
                Check.at_most("manual backprop matches autograd", value, 1e-6, detail="max |diff|")
            ],
            figures=list(ctx.figures),
            interactive=list(ctx.interactive),
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
    hidden = [f for f in _files(out) if ".tmp" in f or Path(f).name.startswith(".")]
    assert hidden == [".dlmath-manifest.json"]
    owned = set(json.loads((out / ".dlmath-manifest.json").read_text())["files"])
    assert owned == _files(out) - {".dlmath-manifest.json", "lab1", "lab2"}
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


def test_second_run_replaces_only_its_own_files(fake_labs, tmp_path):
    assert main(["lab", "1", "--out", str(tmp_path), "--no-progress"]) == 0
    (tmp_path / "lab1" / "my_notes.txt").write_text("mine")  # a user's file in our folder
    first = (tmp_path / "lab1" / "curve.png").read_bytes()
    fake_labs(1, figure="other.png")
    assert main(["lab", "1", "--out", str(tmp_path), "--no-progress"]) == 0
    names = {p.name for p in (tmp_path / "lab1").iterdir()}
    # our stale curve.png is gone, the user's notes stay
    assert names == {"other.png", "surface.html", "plotly.min.js", "result.json", "my_notes.txt"}
    assert (tmp_path / "lab1" / "my_notes.txt").read_text() == "mine"
    assert (tmp_path / "lab1" / "other.png").read_bytes() == first  # same figure, same bytes
    hidden = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert hidden == [".dlmath-manifest.json"]  # no staging or trash folder left


def test_user_file_named_like_a_lab_folder_is_kept(fake_labs, tmp_path, capsys):
    assert main(["lab", "2", "--out", str(tmp_path), "--no-progress"]) == 0
    (tmp_path / "lab1").write_text("my file called lab1")
    assert main(["lab", "1", "--out", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "lab1 exists and is not a folder (kept)" in err[0]
    assert (tmp_path / "lab1").read_text() == "my file called lab1"


def test_foreign_folder_is_refused_unless_forced(fake_labs, tmp_path, capsys):
    (tmp_path / "index.html").write_text("<p>someone's page</p>")
    assert main(["lab", "1", "--out", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a dlmath report" in err[0] and "--force" in err[0]
    assert (tmp_path / "index.html").read_text() == "<p>someone's page</p>"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.html"]
    assert main(["lab", "1", "--out", str(tmp_path), "--no-progress", "--force"]) == 0
    assert "Lab 1.3.1" in (tmp_path / "index.html").read_text()


def test_a_killed_first_run_does_not_lock_the_folder(fake_labs, tmp_path):
    (tmp_path / ".lab1.k2j4x").mkdir()  # staging of a run killed with SIGKILL
    assert main(["lab", "1", "--out", str(tmp_path), "--no-progress"]) == 0


def test_legacy_report_without_manifest_is_adopted(fake_labs, tmp_path):
    assert main(["lab", "1", "--out", str(tmp_path), "--no-progress"]) == 0
    (tmp_path / ".dlmath-manifest.json").unlink()  # as written by dlmath before manifests
    (tmp_path / "lab1" / "my_notes.txt").write_text("mine")
    fake_labs(1, figure="other.png")
    assert main(["lab", "1", "--out", str(tmp_path), "--no-progress"]) == 0
    names = {p.name for p in (tmp_path / "lab1").iterdir()}
    assert "curve.png" not in names and {"other.png", "my_notes.txt"} <= names


def test_out_that_is_a_file_is_a_one_line_usage_error(fake_labs, tmp_path, capsys):
    target = tmp_path / "report"
    target.write_text("not a folder")
    assert main(["labs", "--only", "1", "--out", str(target), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"dlmath: error: --out {target} is a file, not a folder; choose a folder."]
    assert target.read_text() == "not a folder"


def test_read_only_out_is_a_one_line_usage_error(fake_labs, tmp_path, capsys, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    if os.geteuid() == 0:  # root writes anywhere: make the folder refuse writes as it would
        real = tempfile.mkstemp

        def refuse(*a, dir=None, **kw):
            if dir is not None and Path(dir) == ro:
                raise PermissionError(13, "Permission denied")
            return real(*a, dir=dir, **kw)

        monkeypatch.setattr(tempfile, "mkstemp", refuse)
    try:
        assert main(["labs", "--only", "1", "--out", str(ro), "--no-progress"]) == 2
    finally:
        ro.chmod(0o755)
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"dlmath: error: --out {ro} cannot be written (Permission denied)."]
    assert list(ro.iterdir()) == []


def test_stray_result_json_outside_lab_folders_is_ignored(fake_labs, tmp_path):
    assert main(["lab", "1", "--out", str(tmp_path), "--no-progress"]) == 0
    (tmp_path / "labnotes").mkdir()
    (tmp_path / "labnotes" / "result.json").write_text('{"my": "notes"}')
    (tmp_path / "lab7").mkdir()
    (tmp_path / "lab7" / "result.json").write_text("not json")
    assert main(["lab", "2", "--out", str(tmp_path), "--no-progress"]) == 0
    summary = json.loads((tmp_path / "results.json").read_text())
    assert [lab["lab"] for lab in summary["labs"]] == [1, 2]
    assert (tmp_path / "labnotes" / "result.json").read_text() == '{"my": "notes"}'


def test_crashed_rerun_drops_the_old_figures_keeps_user_files(fake_labs, tmp_path):
    assert main(["lab", "1", "--out", str(tmp_path), "--no-progress"]) == 0
    (tmp_path / "lab1" / "my_notes.txt").write_text("mine")
    fake_labs(1, crash=True)
    assert main(["lab", "1", "--out", str(tmp_path), "--no-progress"]) == 1
    assert {p.name for p in (tmp_path / "lab1").iterdir()} == {"result.json", "my_notes.txt"}


@pytest.mark.parametrize("arg", ["1,3", "1,", "01", "9"])
def test_lab_takes_exactly_one_number(arg, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["lab", arg])
    assert exc.value.code == 2
    assert "expected" in capsys.readouterr().err


_SLOW_RUN = """
import signal, sys, time, types
# Ctrl-C as at a terminal, even when the tests run as a background job (whose shell
# starts it with SIGINT ignored, and every child inherits that)
signal.signal(signal.SIGINT, signal.default_int_handler)
from dlmath import labs
from dlmath.cli import main
from dlmath.labs import Check, LabResult

def make(name, value, slow):
    mod = types.ModuleType("dlmath.labs." + name)
    mod.TITLE, mod.MILESTONES = "stand-in " + name, []
    def run(ctx):
        ctx.path("x.txt").write_text("partial")
        if slow:
            print("READY", flush=True)
            time.sleep(60)
        checks = [Check.at_most("err", value, 1.0)]
        return LabResult(lab=ctx_lab[name], title=mod.TITLE, checks=checks)
    mod.run = run
    sys.modules[mod.__name__] = mod
    return name

ctx_lab = {"_f1": 1, "_f2": 2}
slow = sys.argv[2] == "slow"
labs.LABS[1] = make("_f1", float(sys.argv[3]), False)
labs.LABS[2] = make("_f2", 0.25, slow)
sys.exit(main(["labs", "--only", "1,2", "--out", sys.argv[1], "--no-progress"]))
"""


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_leaves_a_consistent_report_and_no_staging(tmp_path, sig, code):
    script = tmp_path / "run.py"
    script.write_text(_SLOW_RUN)
    out = tmp_path / "rep"
    first = subprocess.run(
        [sys.executable, str(script), str(out), "fast", "0.125"], capture_output=True, text=True
    )
    assert first.returncode == 0, first.stderr
    proc = subprocess.Popen(
        [sys.executable, str(script), str(out), "slow", "0.375"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in proc.stdout:
        if line.strip() == "READY":
            break
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1
    assert not [p.name for p in out.iterdir() if p.name.startswith(".lab")]
    summary = json.loads((out / "results.json").read_text())
    values = {lab["lab"]: lab["checks"][0]["value"] for lab in summary["labs"]}
    assert values == {1: 0.375, 2: 0.25}  # lab 1 from the new run, lab 2 kept from the old
    assert "0.375 &lt;= 1" in (out / "index.html").read_text()


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


def test_a_crafted_report_cannot_make_dlmath_delete_files_outside_it(fake_labs, tmp_path):
    from dlmath.report import MANIFEST, owned_files

    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    out = tmp_path / "rep"
    (out / "lab1").mkdir(parents=True)
    (out / "lab1" / "curve.png").write_text("old figure")
    legacy = {"dlmath_version": "0.1", "labs": [{"lab": 1, "figures": ["../../victim.txt"]}]}
    (out / "results.json").write_text(json.dumps(legacy))  # written before manifests existed
    assert owned_files(out) == {"index.html", "results.json", "lab1/result.json"}
    assert main(["lab", "1", "--out", str(out), "--no-progress"]) == 0
    assert victim.read_text() == "keep me"
    # a manifest naming absolute paths, '..' or a path through a symlink out of DIR
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "x.png").write_text("keep")
    (out / "link").symlink_to(tmp_path / "elsewhere")
    names = [str(victim), "lab1/../../victim.txt", "link/x.png", "lab1/curve.png"]
    (out / MANIFEST).write_text(json.dumps({"files": names}))
    assert owned_files(out) == {"lab1/curve.png"}


def _text_lab(monkeypatch, tag: str) -> None:
    """Lab 1 replaced by one that writes three text files saying ``tag``."""
    mod = types.ModuleType("dlmath.labs._text1")
    mod.TITLE, mod.MILESTONES = f"text {tag}", []

    def run(ctx: LabContext):
        for name in ("a.txt", "b.txt", "c.txt"):
            ctx.path(name).write_text(tag)
        return LabResult(lab=1, title=mod.TITLE, checks=[Check.at_most("err", 0.0, 1.0)])

    mod.run = run
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    monkeypatch.setitem(labs_pkg.LABS, 1, "_text1")


class _Stopped(Exception):
    pass


@pytest.fixture
def stop_on_signals():
    """SIGINT and SIGTERM raise _Stopped (as the CLI's handlers raise) during the test."""

    def stop(signum, frame):
        raise _Stopped(signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in previous.items():
        signal.signal(sig, handler)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_the_renames_waits_until_the_lab_folder_is_all_new(
    monkeypatch, tmp_path, stop_on_signals, sig
):
    _text_lab(monkeypatch, "old")
    labs_pkg.run_lab(1, tmp_path, show_progress=False)
    _text_lab(monkeypatch, "new")
    real, sent = os.replace, []

    def replace(src, dst):
        if Path(dst).parent == tmp_path / "lab1" and not sent:  # the first file of the lab
            sent.append(sig)
            os.kill(os.getpid(), sig)
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(_Stopped):  # the signal still arrives, once the folder is consistent
        labs_pkg.run_lab(1, tmp_path, show_progress=False)
    assert sent == [sig]
    texts = {p.name: p.read_text() for p in (tmp_path / "lab1").glob("*.txt")}
    assert texts == {"a.txt": "new", "b.txt": "new", "c.txt": "new"}
    assert json.loads((tmp_path / "lab1" / "result.json").read_text())["title"] == "text new"
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".lab")]


def test_a_signal_while_staging_is_removed_still_removes_all_of_it(
    monkeypatch, tmp_path, stop_on_signals
):
    _text_lab(monkeypatch, "new")
    real, sent = shutil.rmtree, []

    def rmtree(path, *a, **kw):
        sent.append(Path(path).name)
        os.kill(os.getpid(), signal.SIGTERM)
        real(path, *a, **kw)

    monkeypatch.setattr(shutil, "rmtree", rmtree)
    with pytest.raises(_Stopped):
        labs_pkg.run_lab(1, tmp_path, show_progress=False)
    assert len(sent) == 1 and sent[0].startswith(".lab1.")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".dlmath-manifest.json", "lab1"]


@pytest.mark.parametrize("argv", [["labs", "--seed", "-1"], ["lab", "1", "--seed", "x"]])
def test_a_bad_labs_seed_is_a_usage_error(argv, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--out", str(tmp_path / "r")])
    assert exit_.value.code == 2
    assert "--seed" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_a_partial_run_says_which_milestones_were_not_run(fake_labs, tmp_path, capsys):
    assert main(["labs", "--only", "1", "--quick", "--no-progress", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "All milestones passed" not in out
    assert "not run" in out and "1 of 1 labs passed" in out
