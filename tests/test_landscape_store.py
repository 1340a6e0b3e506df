"""loss_surface(store=PATH): chunks on disk, resume after a failure, refusal of foreign stores.

References: the loss with the weights written into a deep copy of the model (the slow
way), an uninterrupted run without a store, and the number of loss evaluations counted.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlmath.landscape import GridPointError, loss_line, loss_surface, random_direction
from dlmath.nets import torch_mlp

N_ROWS = 29


@pytest.fixture
def problem():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(N_ROWS, 4))
    y = rng.integers(0, 3, size=N_ROWS)
    model = torch_mlp([4, 6, 3], "tanh", seed=0, dtype=torch.float64)
    dirs = (random_direction(model, seed=1), random_direction(model, seed=2))
    return model, X, y, dirs


def reference_loss(model, X, y, theta) -> float:
    clone = copy.deepcopy(model)
    with torch.no_grad():
        for p, t in zip(clone.parameters(), theta, strict=True):
            p.copy_(t)
        return float(F.cross_entropy(clone(torch.as_tensor(X)), torch.as_tensor(y)))


class PlantedLoss:
    """Cross-entropy that counts full-data evaluations and raises on the ``fail_at``-th."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.calls, self.fail_at = 0, fail_at

    def __call__(self, out, target):
        if len(target) == N_ROWS:  # not the one-row memory probe
            self.calls += 1
            if self.calls == self.fail_at:
                raise RuntimeError("planted failure")
        return F.cross_entropy(out, target)


def test_resume_after_failure_recomputes_only_missing_points(problem, tmp_path):
    model, X, y, dirs = problem
    a, b = np.linspace(-1, 1, 6), np.linspace(-0.5, 0.5, 4)  # 24 points, one per chunk
    store = tmp_path / "surface"
    planted = PlantedLoss(fail_at=10)  # one point per call: the 10th call is flat point 9
    # PlantedLoss(10) and PlantedLoss() differ in an attribute (fail_at) that the store's
    # fingerprint cannot know to be harmless: the test vouches for it with store_key
    run = dict(chunk_size=1, store=store, store_key="planted cross-entropy", progress=False)
    with pytest.raises(GridPointError, match=r"Z\[2, 1\]") as info:
        loss_surface(model, planted, X, y, dirs, a, b, **run)
    assert info.value.points == [9]
    np.testing.assert_array_equal(info.value.coords, [[a[2], b[1]]])
    assert isinstance(info.value.__cause__, RuntimeError)
    assert len(list(store.glob("chunk-*.npz"))) == 9  # the finished chunks were kept
    with pytest.raises(ValueError, match="'store'.*different loss.*store_key"):
        loss_surface(model, PlantedLoss(), X, y, dirs, a, b, chunk_size=1, store=store)
    resumed = PlantedLoss()
    Z = loss_surface(model, resumed, X, y, dirs, a, b, **run)
    assert resumed.calls == 24 - 9  # only the missing points were evaluated
    whole = loss_surface(model, F.cross_entropy, X, y, dirs, a, b, chunk_size=1, progress=False)
    np.testing.assert_array_equal(Z, whole)
    theta = [p.detach() for p in model.parameters()]
    for i, j in [(0, 0), (2, 1), (5, 3)]:
        point = [t + a[i] * u + b[j] * v for t, u, v in zip(theta, *dirs, strict=True)]
        assert abs(Z[i, j] - reference_loss(model, X, y, point)) < 1e-12
    again = PlantedLoss()  # a third call computes nothing
    Z3 = loss_surface(model, again, X, y, dirs, a, b, **run)
    assert again.calls == 0 and np.array_equal(Z3, Z)
    assert not list(store.glob(".*.tmp"))  # atomic writes leave no temporaries


def test_store_made_for_other_inputs_is_refused(problem, tmp_path):
    model, X, y, dirs = problem
    a = np.linspace(-1, 1, 5)
    store = tmp_path / "s"
    loss_surface(model, F.cross_entropy, X, y, dirs, a, a, store=store, progress=False)
    index = json.loads((store / "index.json").read_text())
    assert set(index["fingerprint"]) >= {"model", "center", "data", "directions", "grid", "loss"}
    with pytest.raises(ValueError, match="'store'.*different grid"):
        loss_surface(model, F.cross_entropy, X, y, dirs, a, a[:-1], store=store, progress=False)
    other = torch_mlp([4, 6, 3], "tanh", seed=9, dtype=torch.float64)
    with pytest.raises(ValueError, match="'store'.*different center"):
        loss_surface(other, F.cross_entropy, X, y, dirs, a, a, store=store, progress=False)
    with pytest.raises(ValueError, match="'store'.*different data"):
        loss_surface(model, F.cross_entropy, X + 1, y, dirs, a, a, store=store, progress=False)
    with pytest.raises(ValueError, match="'store'.*different directions"):
        loss_surface(model, F.cross_entropy, X, y, dirs[::-1], a, a, store=store, progress=False)
    with pytest.raises(ValueError, match="'store'.*different loss"):
        loss_surface(model, F.nll_loss, X, y, dirs, a, a, store=store, progress=False)
    # a folder that is not a store, or a file, is never written into
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    with pytest.raises(ValueError, match="'store'.*not a store"):
        loss_surface(model, F.cross_entropy, X, y, dirs, a, a, store=foreign, progress=False)
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]
    with pytest.raises(ValueError, match="'store'.*file"):
        loss_surface(model, F.cross_entropy, X, y, dirs, a, a, store=foreign / "notes.txt")
    with pytest.raises(TypeError, match="'store'"):
        loss_surface(model, F.cross_entropy, X, y, dirs, a, a, store=3, progress=False)


def test_damaged_chunk_is_recomputed(problem, tmp_path):
    model, X, y, dirs = problem
    a = np.linspace(-1, 1, 7)
    store = tmp_path / "line"
    Z = loss_line(model, PlantedLoss(), X, y, dirs[0], a, chunk_size=1, store=store, progress=False)
    sorted(store.glob("chunk-*.npz"))[3].write_bytes(b"not an npz")
    count = PlantedLoss()
    Z2 = loss_line(model, count, X, y, dirs[0], a, chunk_size=1, store=store, progress=False)
    assert count.calls == 1
    np.testing.assert_array_equal(Z2, Z)
    np.testing.assert_allclose(Z, loss_line(model, F.cross_entropy, X, y, dirs[0], a), rtol=1e-13)


# --- what the fingerprint tells apart: losses (and models) that compute other values ------

SMOOTHING = 0.1  # a global a loss reads (changed with monkeypatch below)


def smoothed(out, target):
    return F.cross_entropy(out, target, label_smoothing=SMOOTHING)


def smoothing(s: float):
    return lambda out, target: F.cross_entropy(out, target, label_smoothing=s)


def pair_store(model, X, y, dirs, first, second, tmp_path, name):
    """Store ``first``'s line, then ask the same store for ``second``'s: the loss of
    ``second`` at the 3 points, or the ValueError refusing the store."""
    a = [-0.5, 0.0, 0.5]
    store = tmp_path / name
    loss_line(model, first, X, y, dirs[0], a, store=store, progress=False)
    return loss_line(model, second, X, y, dirs[0], a, store=store, progress=False)


def test_store_tells_apart_losses_that_compute_other_values(problem, tmp_path, monkeypatch):
    model, X, y, dirs = problem
    w = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
    pairs = {  # same bytecode and constants in each pair, other values
        "names": (lambda o, t: F.mse_loss(o, t), lambda o, t: F.l1_loss(o, t)),
        "closure": (smoothing(0.0), smoothing(0.3)),
        "defaults": (
            lambda o, t, s=0.0: F.cross_entropy(o, t, label_smoothing=s),
            lambda o, t, s=0.3: F.cross_entropy(o, t, label_smoothing=s),
        ),
        "module attribute": (nn.CrossEntropyLoss(), nn.CrossEntropyLoss(label_smoothing=0.3)),
        "module state": (nn.CrossEntropyLoss(), nn.CrossEntropyLoss(weight=w)),
        "partial tensor": (  # digested by value (a long tensor's repr elides its middle)
            functools.partial(F.cross_entropy, weight=w),
            functools.partial(F.cross_entropy, weight=w * 2),
        ),
    }
    Yf = torch.nn.functional.one_hot(torch.as_tensor(y), 3).double()
    for name, (first, second) in pairs.items():
        targets = Yf if name == "names" else y
        with pytest.raises(ValueError, match="'store'.*different loss"):
            pair_store(model, X, targets, dirs, first, second, tmp_path, name)
    # a global the loss reads
    store = tmp_path / "global"
    loss_line(model, smoothed, X, y, dirs[0], [0.0, 1.0], store=store, progress=False)
    monkeypatch.setattr(sys.modules[__name__], "SMOOTHING", 0.3)
    with pytest.raises(ValueError, match="'store'.*different loss"):
        loss_line(model, smoothed, X, y, dirs[0], [0.0, 1.0], store=store, progress=False)


def test_store_accepts_equal_losses_built_twice(problem, tmp_path):
    """Fresh but equal losses (a new module, a new closure) resume: the fingerprint holds
    values, not object ids. Reference: the loss with weights written into a copy."""
    model, X, y, dirs = problem
    w = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
    theta = [p.detach() for p in model.parameters()]
    makers = {  # name: (a maker of the loss, its class weights)
        "module": (lambda: nn.CrossEntropyLoss(weight=w.clone(), label_smoothing=0.3), w),
        "closure": (lambda: smoothing(0.3), None),
        "partial": (lambda: functools.partial(F.cross_entropy, label_smoothing=0.3), None),
    }
    for name, (make, weight) in makers.items():
        Z = pair_store(model, X, y, dirs, make(), make(), tmp_path, name)
        for i, alpha in enumerate([-0.5, 0.0, 0.5]):
            clone = copy.deepcopy(model)
            with torch.no_grad():
                for p, t, d in zip(clone.parameters(), theta, dirs[0], strict=True):
                    p.copy_(t + alpha * d)
                out = clone(torch.as_tensor(X))
            expected = F.cross_entropy(out, torch.as_tensor(y), weight=weight, label_smoothing=0.3)
            assert abs(Z[i] - float(expected)) < 1e-12, name


def test_store_loss_fingerprint_is_the_same_in_another_process(tmp_path):
    """A store is resumed by a later process: the loss's fingerprint must not depend on
    object ids or the string hash seed (frozenset constants)."""
    script = tmp_path / "fp.py"
    script.write_text(
        "import functools, torch, torch.nn.functional as F\n"
        "from torch import nn\n"
        "from dlmath.landscape.engines import digest\n"
        "from dlmath.landscape.surface import _loss_identity\n"
        "s = 0.3\n"
        "losses = [F.cross_entropy, nn.CrossEntropyLoss(label_smoothing=s),\n"
        "          lambda o, t: F.cross_entropy(o, t) if 'a' in {'a', 'b', 'c'} else 0,\n"
        "          functools.partial(F.cross_entropy, weight=torch.ones(3))]\n"
        "print(digest([_loss_identity(f) for f in losses]))\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    runs = [
        subprocess.Popen(
            [sys.executable, str(script)],
            env={**env, "PYTHONHASHSEED": seed},
            stdout=subprocess.PIPE,
            text=True,
        )
        for seed in ("1", "2")
    ]
    outs = [r.communicate(timeout=120)[0] for r in runs]
    assert all(r.returncode == 0 for r in runs)
    assert outs[0] == outs[1] and len(outs[0].strip()) == 16


class Scaled(nn.Module):
    """An MLP whose output is multiplied by a plain attribute (not a parameter or buffer)."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.net = torch_mlp([4, 6, 3], "tanh", seed=0, dtype=torch.float64)
        self.scale = scale

    def forward(self, x):
        return self.scale * self.net(x)


def test_store_tells_apart_models_with_other_plain_attributes(problem, tmp_path):
    _, X, y, _ = problem
    one, two = Scaled(1.0), Scaled(2.0)
    d = random_direction(one, seed=1)
    store = tmp_path / "scaled"
    loss_line(one, F.cross_entropy, X, y, d, [0.0, 1.0], store=store, progress=False)
    with pytest.raises(ValueError, match="'store'.*different model"):
        loss_line(two, F.cross_entropy, X, y, d, [0.0, 1.0], store=store, progress=False)


def test_store_key_is_checked(problem, tmp_path):
    model, X, y, dirs = problem
    with pytest.raises(TypeError, match="'store_key'.*got int"):
        loss_line(model, F.cross_entropy, X, y, dirs[0], [0.0], store=tmp_path / "k", store_key=3)
    for bad, store in (("", tmp_path / "k"), ("ce", None)):
        with pytest.raises(ValueError, match="'store_key'"):
            loss_line(model, F.cross_entropy, X, y, dirs[0], [0.0], store=store, store_key=bad)
