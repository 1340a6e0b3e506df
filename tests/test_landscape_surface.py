"""loss_surface beyond the basics: train-mode modules, data factories, engine arguments,
failures naming the grid point, the in-place one-point path, Ray not installed.

References: the loss with the weights written into a deep copy of the model in eval mode.
"""

from __future__ import annotations

import copy
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlmath.landscape import (
    GridPointError,
    loss_interpolation,
    loss_points,
    loss_surface,
    random_direction,
)
from dlmath.nets import torch_mlp


def reference_loss(model, X, y, theta) -> float:
    clone = copy.deepcopy(model).eval()
    with torch.no_grad():
        for p, t in zip(clone.parameters(), theta, strict=True):
            p.copy_(t)
        return float(F.cross_entropy(clone(torch.as_tensor(X)), torch.as_tensor(y)))


def plane_point(model, dirs, a, b):
    theta = [p.detach() for p in model.parameters()]
    return [t + a * u + b * v for t, u, v in zip(theta, *dirs, strict=True)]


def with_norm_and_dropout() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Tanh(), nn.Dropout(0.3), nn.Linear(6, 3)
    ).double()
    with torch.no_grad():  # non-trivial running statistics, as after training
        net[1].running_mean.uniform_(-0.5, 0.5)
        net[1].running_var.uniform_(0.5, 2.0)
    return net


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(31, 4)), rng.integers(0, 3, size=31)


@pytest.mark.parametrize("chunk_size", [1, 4])  # one-point path / vmap path
def test_train_mode_batchnorm_dropout_refused_eval_mode_exact(data, chunk_size):
    X, y = data
    net = with_norm_and_dropout()
    dirs = (random_direction(net, seed=1), random_direction(net, seed=2))
    rng_before = torch.get_rng_state()
    with pytest.raises(ValueError, match=r"'model'.*model\.eval\(\).*BatchNorm1d layer '1'"):
        loss_surface(net, F.cross_entropy, X, y, dirs, [0.0, 1.0], [0.0], progress=False)
    assert net.training  # the mode was not touched
    net.eval()
    a, b = [-0.5, 0.0, 1.0], [0.25, 0.5]
    Z = loss_surface(net, F.cross_entropy, X, y, dirs, a, b, chunk_size=chunk_size, progress=False)
    for i, ai in enumerate(a):
        for j, bj in enumerate(b):
            expected = reference_loss(net, X, y, plane_point(net, dirs, ai, bj))
            assert abs(Z[i, j] - expected) < 1e-12
    assert torch.equal(torch.get_rng_state(), rng_before)  # no random numbers drawn


def test_one_point_path_float32_matches_reference(data):
    X, y = data
    X32 = torch.as_tensor(X, dtype=torch.float32)
    model = torch_mlp([4, 8, 3], "relu", seed=3)
    dirs = (random_direction(model, seed=1), random_direction(model, seed=2))
    Z = loss_surface(
        model, F.cross_entropy, X32, y, dirs, [-1.0, 0.5], [0.0, 2.0], chunk_size=1, progress=False
    )
    for i, a in enumerate([-1.0, 0.5]):
        for j, b in enumerate([0.0, 2.0]):
            assert (
                abs(Z[i, j] - reference_loss(model, X32, y, plane_point(model, dirs, a, b))) < 1e-5
            )


def test_data_factory_equals_arrays(data):
    X, y = data
    model = torch_mlp([4, 5, 3], "tanh", seed=0, dtype=torch.float64)
    dirs = (random_direction(model, seed=1), random_direction(model, seed=2))
    grid = np.linspace(-1, 1, 3)
    Z = loss_surface(model, F.cross_entropy, X, y, dirs, grid, grid, progress=False)
    Zf = loss_surface(model, F.cross_entropy, lambda: (X, y), None, dirs, grid, grid)
    np.testing.assert_array_equal(Zf, Z)
    with pytest.raises(ValueError, match="'y'"):
        loss_surface(model, F.cross_entropy, lambda: (X, y), y, dirs, grid, grid)
    with pytest.raises(ValueError, match="'X'"):
        loss_surface(model, F.cross_entropy, lambda: X, None, dirs, grid, grid)


def test_failure_names_the_grid_point_on_the_vmap_path(data):
    X, y = data
    model = torch_mlp([4, 5, 3], "tanh", seed=0, dtype=torch.float64)
    dirs = (random_direction(model, seed=1), random_direction(model, seed=2))
    coords = np.array([[0.0, 0.0], [0.5, 0.0], [2.0, 1.0], [3.0, 0.0]])
    calls = []

    def exploding(out, target):  # two vmap calls of 2 points: the second one fails
        calls.append(1)
        if len(calls) == 2:
            raise FloatingPointError("planted")
        return F.cross_entropy(out, target)

    with pytest.raises(GridPointError, match="FloatingPointError: planted.*grid points 2") as info:
        loss_points(model, exploding, X, y, dirs, coords, chunk_size=2, progress=False)
    assert info.value.points == [2, 3]
    np.testing.assert_array_equal(info.value.coords, coords[2:])
    assert isinstance(info.value.__cause__, FloatingPointError)


def test_engine_arguments_checked(data, monkeypatch):
    X, y = data
    model = torch_mlp([4, 5, 3], "tanh", seed=0, dtype=torch.float64)
    d = random_direction(model, seed=1)
    with pytest.raises(ValueError, match="'engine'.*'ray'.*got 'dask'"):
        loss_surface(model, F.cross_entropy, X, y, (d, d), [0.0], [0.0], engine="dask")
    with pytest.raises(ValueError, match="'workers'.*engine='ray'"):
        loss_surface(model, F.cross_entropy, X, y, (d, d), [0.0], [0.0], workers=2)
    with pytest.raises(ValueError, match="'workers'"):
        loss_surface(model, F.cross_entropy, X, y, (d, d), [0.0], [0.0], engine="ray", workers=0)
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(ImportError, match=r"dlmath\[distributed\]"):
        loss_surface(model, F.cross_entropy, X, y, (d, d), [0.0], [0.0], engine="ray")


@pytest.mark.parametrize("chunk_size", [1, 3])
def test_loss_fn_not_scalar_refused_by_name(data, chunk_size):
    X, y = data
    model = torch_mlp([4, 5, 3], "tanh", seed=0, dtype=torch.float64)
    d = random_direction(model, seed=1)

    def per_row(out, target):
        return F.cross_entropy(out, target, reduction="none")

    with pytest.raises(ValueError, match=r"'loss_fn' must be .*one scalar.*shape \(31,\)"):
        loss_surface(model, per_row, X, y, (d, d), [0.0, 1.0], [0.0, 1.0], chunk_size=chunk_size)


def test_memory_probe_failures_name_the_argument(data):
    """The default chunk size is measured on one row: a model or loss failing there is
    named like any later failure (not a raw torch traceback)."""
    X, y = data
    model = torch_mlp([4, 5, 3], "tanh", seed=0, dtype=torch.float64)
    d = random_direction(model, seed=1)
    with pytest.raises(ValueError, match=r"'X' does not fit the model.*RuntimeError"):
        loss_surface(model, F.cross_entropy, X[:, :3], y, (d, d), [0.0, 1.0], [0.0, 1.0])
    with pytest.raises(ValueError, match=r"'loss_fn' failed .* targets 'y': IndexError"):
        loss_surface(model, F.cross_entropy, X, y + 5, (d, d), [0.0, 1.0], [0.0, 1.0])


def test_interpolation_names_end_minus_start_when_it_overflows(data):
    X, y = data
    model = torch_mlp([4, 5, 3], "tanh", seed=0, dtype=torch.float64)
    start = [p.detach().clone() for p in model.parameters()]
    end = [p.detach().clone() for p in model.parameters()]
    start[0].fill_(-1e308)
    end[0].fill_(1e308)  # both finite; end - start = inf
    with pytest.raises(ValueError, match=r"'\(end - start\)\['0.weight'\]' must be finite") as info:
        loss_interpolation(model, F.cross_entropy, X, y, start, end, [0.0, 1.0])
    assert "directions" not in str(info.value)


def test_a_grid_beyond_the_weights_float_range_is_refused_by_name():
    """1e39 times a direction overflows float32 weights: a named error, not a torch crash."""
    import numpy as np
    import torch.nn.functional as F
    from torch import nn

    from dlmath.landscape import loss_surface, random_direction

    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    X, y = np.ones((4, 3), np.float32), np.array([0, 1, 0, 1])
    dirs = [random_direction(model, seed=s) for s in (1, 2)]
    with pytest.raises(ValueError, match="'alphas' and 'betas'"):
        loss_surface(model, F.cross_entropy, X, y, dirs, np.array([1e39, 0.0]), np.zeros(2),
                     progress=False)  # fmt: skip


def test_in_place_activations_of_the_private_copy_change_no_value_and_not_the_model():
    """The one-point path lets a Sequential's ReLUs work in place in its private copy: Z is
    the loss of the weights written into a copy of the untouched model (to rounding), and
    the caller's model keeps its own activations."""
    import copy

    import numpy as np
    import torch
    import torch.nn.functional as F

    from dlmath.landscape import loss_surface, random_direction
    from dlmath.nets import torch_mlp

    model = torch_mlp([3, 8, 8, 2], "relu", seed=0, dtype=torch.float64)
    X = np.random.default_rng(0).standard_normal((16, 3))
    y = np.arange(16) % 2
    dirs = [random_direction(model, seed=s) for s in (1, 2)]
    a = np.linspace(-1.0, 1.0, 3)
    Z = loss_surface(model, F.cross_entropy, X, y, dirs, a, a, chunk_size=1, progress=False)
    assert not any(getattr(m, "inplace", False) for m in model.modules())
    theta = [p.detach() for p in model.parameters()]
    for i, ai in enumerate(a):
        for j, bj in enumerate(a):
            ref = copy.deepcopy(model)
            with torch.no_grad():
                for p, t, u, v in zip(ref.parameters(), theta, *dirs, strict=True):
                    p.copy_(t + ai * u + bj * v)
                expected = float(F.cross_entropy(ref(torch.as_tensor(X)), torch.as_tensor(y)))
            assert abs(Z[i, j] - expected) <= 1e-14 * abs(expected)
