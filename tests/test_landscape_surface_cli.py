"""`dlmath landscape SPEC.py`: the surface file, figures, page; other people's files untouched.

Reference: the loss of the spec's model with the weights written into a copy of it.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np
import torch

from dlmath.cli import main
from dlmath.landscape import random_direction

SPEC = Path(__file__).resolve().parents[1] / "examples" / "landscape_spec.py"


def test_cli_writes_surface_figures_and_page(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["landscape", str(SPEC), "--grid", "3", "--span", "0.5", "--out", str(out)]
    assert main([*argv, "--store", str(tmp_path / "chunks"), "--no-progress"]) == 0
    for name in ("surface.npz", "contour.png", "surface3d.png", "surface.html", "plotly.min.js"):
        assert (out / name).stat().st_size > 0
    assert (tmp_path / "chunks" / "index.json").exists()
    with np.load(out / "surface.npz") as npz:
        Z, alphas = npz["Z"], npz["alphas"]
    np.testing.assert_array_equal(alphas, [-0.5, 0.0, 0.5])
    spec = sys.modules["dlmath_spec_landscape_spec"]
    model = spec.model()
    X, y = spec.data()
    d1, d2 = random_direction(model, seed=0), random_direction(model, seed=1)
    for i, j in [(1, 1), (0, 2), (2, 0)]:
        clone = copy.deepcopy(model)
        with torch.no_grad():
            for p, u, v in zip(clone.parameters(), d1, d2, strict=True):
                p.add_(alphas[i] * u + alphas[j] * v)
            expected = float(spec.loss_fn(clone(X), y))
        assert abs(Z[i, j] - expected) < 1e-5
    assert "loss surface (3, 3)" in capsys.readouterr().out
    # a rerun replaces its own files
    assert main([*argv, "--no-progress"]) == 0


def test_cli_never_overwrites_files_it_did_not_write(tmp_path, capsys):
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "contour.png").write_bytes(b"my figure")
    argv = ["landscape", str(SPEC), "--grid", "2", "--no-progress"]
    assert main([*argv, "--out", str(theirs)]) == 2
    assert (theirs / "contour.png").read_bytes() == b"my figure"
    assert sorted(p.name for p in theirs.iterdir()) == ["contour.png"]
    assert "did not write" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main([*argv, "--out", str(tmp_path / "file")]) == 2
    assert main(["landscape", str(tmp_path / "missing.py"), "--out", str(tmp_path / "o")]) == 2
    bad = tmp_path / "bad_spec.py"
    bad.write_text("def model():\n    return None\n")
    assert main(["landscape", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "lacks ['data', 'loss_fn']" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_cli_unwritable_out_and_broken_manifest_exit_2_in_one_line(tmp_path, capsys, monkeypatch):
    argv = ["landscape", str(SPEC), "--grid", "2", "--no-progress", "--out"]
    (tmp_path / "file").write_text("x")
    assert main([*argv, str(tmp_path / "file" / "sub")]) == 2  # mkdir: NotADirectoryError
    err = capsys.readouterr().err
    assert err.startswith("dlmath landscape: ") and err.count("\n") == 1
    import dlmath.viz.files

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(dlmath.viz.files, "save_png", full_disk)  # after the surface
    assert main([*argv, str(tmp_path / "full")]) == 2
    err = capsys.readouterr().err
    assert "cannot write into --out" in err and "No space left" in err and err.count("\n") == 1
    monkeypatch.undo()
    out = tmp_path / "broken"
    out.mkdir()
    for text in ("{not json", '{"other": 1}', "[1, 2]", '{"files": 3}', '{"files": [null]}'):
        (out / ".dlmath-landscape.json").write_text(text)
        assert main([*argv, str(out)]) == 2, text
        err = capsys.readouterr().err
        assert "manifest unreadable" in err and err.count("\n") == 1, text
    assert [p.name for p in out.iterdir()] == [".dlmath-landscape.json"]


STOPPING_SPEC = """
import os
import numpy as np
import torch
import torch.nn.functional as F
from dlmath.nets import torch_mlp

N = 23
CALLS = [0]


def model():
    return torch_mlp([3, 4, 2], "tanh", seed=0, dtype=torch.float64).eval()


def data():
    rng = np.random.default_rng(0)
    return torch.as_tensor(rng.normal(size=(N, 3))), torch.as_tensor(rng.integers(0, 2, N))


def loss_fn(out, y):
    if len(y) == N:  # not the one-row memory probe
        CALLS[0] += 1
        if CALLS[0] == int(os.environ.get("STOP_AT_CALL", "0")):
            raise KeyboardInterrupt  # as Ctrl-C would, in the middle of the surface
    return F.cross_entropy(out, y)
"""


def test_cli_ctrl_c_exits_130_and_keeps_finished_chunks(tmp_path, capsys, monkeypatch):
    spec_path = tmp_path / "stopping.py"
    spec_path.write_text(STOPPING_SPEC)
    store, out = tmp_path / "chunks", tmp_path / "out"
    argv = ["landscape", str(spec_path), "--grid", "3", "--store", str(store), "--no-progress"]
    monkeypatch.setenv("STOP_AT_CALL", "3")
    assert main([*argv, "--out", str(out)]) == 130
    err = capsys.readouterr().err.strip()
    assert err.startswith("dlmath landscape: interrupted") and str(store) in err
    assert "\n" not in err
    kept = len(list(store.glob("chunk-*.npz")))
    assert kept == 2  # the two calls before the interrupted one
    monkeypatch.delenv("STOP_AT_CALL")
    assert main([*argv, "--out", str(out)]) == 0
    spec = sys.modules["dlmath_spec_stopping"]
    n_chunks = len(list(store.glob("chunk-*.npz")))
    assert spec.CALLS[0] == n_chunks - kept  # only the missing chunks were computed
    with np.load(out / "surface.npz") as npz:
        Z, alphas = npz["Z"], npz["alphas"]
    model = spec.model()
    X, y = spec.data()
    d1, d2 = random_direction(model, seed=0), random_direction(model, seed=1)
    for i in range(3):
        for j in range(3):
            clone = copy.deepcopy(model)
            with torch.no_grad():
                for p, u, v in zip(clone.parameters(), d1, d2, strict=True):
                    p.add_(alphas[i] * u + alphas[j] * v)
                expected = float(torch.nn.functional.cross_entropy(clone(X), y))
            assert abs(Z[i, j] - expected) < 1e-12
