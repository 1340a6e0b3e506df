"""loss_surface(store=PATH): chunks on disk, resume after a failure, refusal of foreign stores.

References: the loss with the weights written into a deep copy of the model (the slow
way), an uninterrupted run without a store, and the number of loss evaluations counted.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

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
    with pytest.raises(GridPointError, match=r"Z\[2, 1\]") as info:
        loss_surface(model, planted, X, y, dirs, a, b, chunk_size=1, store=store, progress=False)
    assert info.value.points == [9]
    np.testing.assert_array_equal(info.value.coords, [[a[2], b[1]]])
    assert isinstance(info.value.__cause__, RuntimeError)
    assert len(list(store.glob("chunk-*.npz"))) == 9  # the finished chunks were kept
    resumed = PlantedLoss()
    Z = loss_surface(model, resumed, X, y, dirs, a, b, chunk_size=1, store=store, progress=False)
    assert resumed.calls == 24 - 9  # only the missing points were evaluated
    whole = loss_surface(model, F.cross_entropy, X, y, dirs, a, b, chunk_size=1, progress=False)
    np.testing.assert_array_equal(Z, whole)
    theta = [p.detach() for p in model.parameters()]
    for i, j in [(0, 0), (2, 1), (5, 3)]:
        point = [t + a[i] * u + b[j] * v for t, u, v in zip(theta, *dirs, strict=True)]
        assert abs(Z[i, j] - reference_loss(model, X, y, point)) < 1e-12
    again = PlantedLoss()  # a third call computes nothing
    Z3 = loss_surface(model, again, X, y, dirs, a, b, chunk_size=1, store=store, progress=False)
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
