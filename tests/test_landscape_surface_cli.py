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
