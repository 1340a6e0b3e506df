"""dlmath.landscape: directions, surfaces, interpolation, PCA, training snapshots.

References: writing weights into a copy of the model and evaluating it (the slow way),
numpy's SVD for PCA, closed-form norms for the normalizations.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from dlmath.landscape import (
    NonFiniteLossWarning,
    loss_interpolation,
    loss_line,
    loss_points,
    loss_surface,
    pca_directions,
    random_direction,
    train_with_snapshots,
)
from dlmath.nets import torch_mlp


@pytest.fixture
def problem():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(37, 4))
    y = rng.integers(0, 3, size=37)
    model = torch_mlp([4, 6, 5, 3], "tanh", seed=0, dtype=torch.float64)
    return model, X, y


def reference_loss(model, X, y, theta, loss_fn=F.cross_entropy) -> float:
    """Write ``theta`` into a deep copy and evaluate: what loss-landscapes does per point."""
    clone = copy.deepcopy(model)
    with torch.no_grad():
        for p, t in zip(clone.parameters(), theta, strict=True):
            p.copy_(torch.as_tensor(t))
        return float(loss_fn(clone(torch.as_tensor(X)), torch.as_tensor(y)))


def state(model: nn.Module):
    return (
        [p.detach().clone() for p in model.parameters()],
        [p.requires_grad for p in model.parameters()],
        [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        [m.training for m in model.modules()],
        [id(p) for p in model.parameters()],
    )


def assert_same_state(a, b):
    for x, y in zip(a[0], b[0], strict=True):
        assert torch.equal(x, y)
    assert a[1] == b[1] and a[3] == b[3] and a[4] == b[4]
    for x, y in zip(a[2], b[2], strict=True):
        assert (x is None and y is None) or torch.equal(x, y)


# --- directions ------------------------------------------------------------------------


def test_filter_normalization_matches_weight_row_norms(problem):
    model, _, _ = problem
    d = random_direction(model, seed=3, normalization="filter")
    for p, di in zip(model.parameters(), d, strict=True):
        assert di.shape == p.shape and di.dtype == p.dtype
        if p.dim() == 1:
            assert torch.count_nonzero(di) == 0  # biases ignored
        else:
            np.testing.assert_allclose(
                np.linalg.norm(di.numpy(), axis=1),
                np.linalg.norm(p.detach().numpy(), axis=1),
                rtol=1e-12,
            )


def test_filter_normalization_on_conv_is_per_output_channel():
    conv = nn.Conv2d(3, 4, kernel_size=3).double()
    d = random_direction(conv, seed=1, normalization="filter", ignore_1d=False)
    w = conv.weight.detach().numpy()
    np.testing.assert_allclose(
        np.sqrt((d[0].numpy() ** 2).sum(axis=(1, 2, 3))),
        np.sqrt((w**2).sum(axis=(1, 2, 3))),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        np.linalg.norm(d[1].numpy()), np.linalg.norm(conv.bias.detach().numpy()), rtol=1e-12
    )


def test_layer_and_no_normalization(problem):
    model, _, _ = problem
    d_layer = random_direction(model, seed=5, normalization="layer", ignore_1d=False)
    for p, di in zip(model.parameters(), d_layer, strict=True):
        assert np.isclose(np.linalg.norm(di.numpy()), np.linalg.norm(p.detach().numpy()))
    raw = random_direction(model, seed=5, normalization=None, ignore_1d=False)
    gen = torch.Generator().manual_seed(5)  # same draws, same order as the parameters
    for p, di in zip(model.parameters(), raw, strict=True):
        assert torch.equal(di, torch.randn(p.shape, generator=gen, dtype=p.dtype))


def test_random_direction_is_deterministic_and_leaves_global_rng(problem):
    model, _, _ = problem
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = random_direction(model, seed=9)
    assert torch.equal(torch.rand(3), expected)
    b = random_direction(model, seed=9)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_random_direction_bad_input(problem):
    model, _, _ = problem
    with pytest.raises(ValueError, match="'normalization'"):
        random_direction(model, normalization="model")
    with pytest.raises(ValueError, match="'model'"):
        random_direction(nn.ReLU())
    with pytest.raises(TypeError, match="'model'"):
        random_direction([1.0, 2.0])


# --- surfaces ----------------------------------------------------------------------------


def test_loss_surface_matches_pointwise_reference(problem):
    model, X, y = problem
    d1, d2 = random_direction(model, seed=1), random_direction(model, seed=2, ignore_1d=False)
    a, b = np.linspace(-1, 1, 5), np.linspace(-0.5, 1.5, 4)
    Z = loss_surface(model, F.cross_entropy, X, y, (d1, d2), a, b, chunk_size=3, progress=False)
    assert Z.shape == (5, 4)
    theta = [p.detach() for p in model.parameters()]
    for i in range(5):
        for j in range(4):
            point = [t + a[i] * u + b[j] * v for t, u, v in zip(theta, d1, d2, strict=True)]
            assert abs(Z[i, j] - reference_loss(model, X, y, point)) < 1e-12


@settings(max_examples=8)
@given(
    batch_size=st.integers(1, 40),
    chunk_size=st.integers(1, 12),
    seed=st.integers(0, 1000),
)
def test_loss_surface_independent_of_batching_and_chunking(batch_size, chunk_size, seed):
    rng = np.random.default_rng(seed)
    X, y = rng.normal(size=(23, 3)), rng.normal(size=(23, 2))
    model = torch_mlp([3, 4, 2], "relu", seed=seed, dtype=torch.float64)
    dirs = (random_direction(model, seed=seed), random_direction(model, seed=seed + 1))
    grid = np.linspace(-1, 1, 4)
    whole = loss_surface(model, F.mse_loss, X, y, dirs, grid, grid, progress=False)
    parts = loss_surface(
        model,
        F.mse_loss,
        X,
        y,
        dirs,
        grid,
        grid,
        batch_size=batch_size,
        chunk_size=chunk_size,
        progress=False,
    )
    np.testing.assert_allclose(parts, whole, rtol=1e-12, atol=1e-14)


def test_loss_surface_float32_and_tensors(problem):
    _, X, y = problem
    model = torch_mlp([4, 6, 3], "relu", seed=1)  # float32
    dirs = (random_direction(model, seed=1), random_direction(model, seed=2))
    Z = loss_surface(
        model,
        F.cross_entropy,
        torch.as_tensor(X, dtype=torch.float32),
        torch.as_tensor(y),
        dirs,
        [0.0, 0.5],
        [0.0],
        progress=False,
    )
    assert (
        abs(
            Z[0, 0]
            - reference_loss(
                model, X.astype(np.float32), y, [p.detach() for p in model.parameters()]
            )
        )
        < 1e-6
    )


def test_loss_line_and_points_agree_with_surface(problem):
    model, X, y = problem
    d1, d2 = random_direction(model, seed=1), random_direction(model, seed=2)
    a = np.linspace(-1, 1, 7)
    Z = loss_surface(model, F.cross_entropy, X, y, (d1, d2), a, [0.0, 0.3], progress=False)
    line = loss_line(model, F.cross_entropy, X, y, d1, a, progress=False)
    np.testing.assert_allclose(line, Z[:, 0], rtol=1e-13)
    pts = loss_points(
        model,
        F.cross_entropy,
        X,
        y,
        (d1, d2),
        np.stack([a, np.full(7, 0.3)], axis=1),
        progress=False,
    )
    np.testing.assert_allclose(pts, Z[:, 1], rtol=1e-13)


def test_interpolation_endpoints_and_midpoint(problem):
    model, X, y = problem
    other = torch_mlp([4, 6, 5, 3], "tanh", seed=7, dtype=torch.float64)
    out = loss_interpolation(
        model, F.cross_entropy, X, y, model, other, [0.0, 0.5, 1.0], progress=False
    )
    t0 = [p.detach() for p in model.parameters()]
    t1 = [p.detach() for p in other.parameters()]
    mid = [(u + v) / 2 for u, v in zip(t0, t1, strict=True)]
    expected = [reference_loss(model, X, y, t) for t in (t0, mid, t1)]
    np.testing.assert_allclose(out, expected, rtol=1e-13)


class Flaky(nn.Module):
    """An MLP with dropout, batch norm and a frozen parameter: all things one can disturb."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(4, 5), nn.BatchNorm1d(5), nn.Tanh(), nn.Dropout(0.5), nn.Linear(5, 3)
        ).double()
        self.net[0].bias.requires_grad_(False)

    def forward(self, x):
        return self.net(x)


@pytest.mark.parametrize("chunk_size", [1, 2])  # a private model copy / vmap
def test_model_state_exactly_restored_on_return_and_on_raise(problem, chunk_size):
    _, X, y = problem
    model = Flaky()
    model.eval()
    model.net[4].train()  # a mixed mode that a careless tool would flatten
    model.net[4].weight.grad = torch.ones_like(model.net[4].weight)
    before = state(model)
    buffers = [b.clone() for b in model.buffers()]
    dirs = (random_direction(model, seed=1), random_direction(model, seed=2))
    loss_surface(
        model, F.cross_entropy, X, y, dirs, [0.0, 1.0], [0.5], chunk_size=chunk_size, progress=False
    )
    assert_same_state(before, state(model))
    calls = []

    def exploding(out, target):
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("boom")
        return F.cross_entropy(out, target)

    with pytest.raises(RuntimeError, match="boom"):
        loss_surface(
            model,
            exploding,
            X,
            y,
            dirs,
            np.linspace(-1, 1, 6),
            [0.0],
            chunk_size=chunk_size,
            batch_size=10,
            progress=False,
        )
    assert_same_state(before, state(model))
    assert all(torch.equal(a, b) for a, b in zip(buffers, model.buffers(), strict=True))


def test_callers_arrays_not_modified(problem):
    model, X, y = problem
    dirs = [[d.numpy() for d in random_direction(model, seed=s)] for s in (1, 2)]
    copies = [[a.copy() for a in d] for d in dirs]
    X0, y0 = X.copy(), y.copy()
    loss_surface(model, F.cross_entropy, X, y, dirs, [0.0, 1.0], [1.0], progress=False)
    assert np.array_equal(X, X0) and np.array_equal(y, y0)
    for d, c in zip(dirs, copies, strict=True):
        assert all(np.array_equal(a, b) for a, b in zip(d, c, strict=True))


def test_non_finite_losses_kept_and_warned_once(problem):
    model, X, y = problem
    # a direction that shifts only the last bias by 1: the mean logit moves by exactly alpha
    d = [torch.zeros_like(p) for p in model.parameters()]
    d[-1] = torch.ones_like(d[-1])
    with torch.no_grad():
        base = model(torch.as_tensor(X)).mean()

    def log_loss(out, target):  # log(0.5 - alpha): NaN once alpha > 0.5
        return torch.log(0.5 - (out.mean() - base))

    a = np.array([0.0, 0.25, 0.75, 1.0])
    with pytest.warns(NonFiniteLossWarning, match="2 of 4") as record:
        Z = loss_line(model, log_loss, X, y, d, a, progress=False)
    assert len(record) == 1
    assert np.isnan(Z[2:]).all()
    np.testing.assert_allclose(Z[:2], np.log(0.5 - a[:2]), rtol=1e-10)


def test_loss_surface_bad_input(problem):
    model, X, y = problem
    d = random_direction(model, seed=1)
    grid = [0.0, 1.0]
    with pytest.raises(ValueError, match="'alphas'"):
        loss_surface(model, F.cross_entropy, X, y, (d, d), [], grid)
    with pytest.raises(ValueError, match="'directions"):
        loss_surface(model, F.cross_entropy, X, y, (d,), grid, grid)
    with pytest.raises(ValueError, match="'directions\\[1\\]'"):
        loss_surface(model, F.cross_entropy, X, y, (d, d[:-1]), grid, grid)
    with pytest.raises(ValueError, match="'directions\\[0\\]'"):
        bad = [t.clone() for t in d]
        bad[0] = torch.zeros(2, 2, dtype=torch.float64)
        loss_surface(model, F.cross_entropy, X, y, (bad, d), grid, grid)
    with pytest.raises(ValueError, match="'X' and 'y'"):
        loss_surface(model, F.cross_entropy, X, y[:-1], (d, d), grid, grid)
    with pytest.raises(ValueError, match="'model'"):
        loss_surface(nn.Tanh(), F.cross_entropy, X, y, (d, d), grid, grid)
    with pytest.raises(ValueError, match="'X'"):
        loss_surface(model, F.cross_entropy, np.full_like(X, np.nan), y, (d, d), grid, grid)
    with pytest.raises(TypeError, match="'loss_fn'"):
        loss_surface(model, "mse", X, y, (d, d), grid, grid)
    with pytest.raises(ValueError, match="'chunk_size'"):
        loss_surface(model, F.cross_entropy, X, y, (d, d), grid, grid, chunk_size=0)
    with pytest.raises(ValueError, match="'batch_size'"):
        loss_surface(model, F.cross_entropy, X, y, (d, d), grid, grid, batch_size=0)
    with pytest.raises(ValueError, match="'betas'"):
        loss_surface(model, F.cross_entropy, X, y, (d, d), grid, [[0.0]])


# --- PCA directions ------------------------------------------------------------------


def test_pca_directions_match_numpy_svd():
    rng = np.random.default_rng(0)
    T, shapes = 9, [(3, 4), (4,)]
    base = [rng.normal(size=s) for s in shapes]
    snaps = [[b + t * rng.normal(size=b.shape) * 0.1 for b in base] for t in range(T)]
    pca = pca_directions(snaps)
    flat = np.stack([np.concatenate([a.ravel() for a in s]) for s in snaps])
    M = flat[:-1] - flat[-1]
    U, S, Vt = np.linalg.svd(M - M.mean(axis=0), full_matrices=False)
    np.testing.assert_allclose(pca.explained_variance_ratio, S[:2] ** 2 / (S**2).sum(), rtol=1e-10)
    for k in range(2):
        d = np.concatenate([a.ravel() for a in pca.directions[k]])
        assert [a.shape for a in pca.directions[k]] == shapes
        assert abs(abs(d @ Vt[k]) - 1) < 1e-10  # same axis up to sign
        np.testing.assert_allclose(pca.trajectory[:, k], (flat - flat[-1]) @ d, atol=1e-12)
    np.testing.assert_array_equal(pca.trajectory[-1], [0.0, 0.0])
    assert "explained_variance_ratio" in repr(pca)


def test_pca_directions_bad_input():
    snap = [np.zeros(3)]
    with pytest.raises(ValueError, match="'snapshots'"):
        pca_directions([snap, snap])
    with pytest.raises(ValueError, match="'snapshots'"):
        pca_directions([snap, [np.zeros(4)], snap])
    with pytest.raises(ValueError, match="'snapshots'"):
        pca_directions([snap, snap, snap])  # no movement at all
    with pytest.raises(TypeError, match="'snapshots'"):
        pca_directions("abc")


# --- training with snapshots ---------------------------------------------------------


class PlainSGD:
    """Independent reference optimizer (theta <- theta - lr g), in place on NumPy views."""

    def __init__(self, params, lr):
        self.params, self.lr = params, lr

    def step(self, grads):
        for p, g in zip(self.params, grads, strict=True):
            p -= self.lr * g


def test_train_with_snapshots_matches_torch_optim(problem):
    _, X, y = problem
    ours = torch_mlp([4, 6, 3], "tanh", seed=2, dtype=torch.float64)
    ref = copy.deepcopy(ours)
    traj = train_with_snapshots(
        ours, F.cross_entropy, X, y, lambda p: PlainSGD(p, 0.1), 3, batch_size=None
    )
    opt = torch.optim.SGD(ref.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(ref(torch.as_tensor(X)), torch.as_tensor(y)).backward()
        opt.step()
    for a, b in zip(ours.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
    assert len(traj.snapshots) == 4 and list(traj.steps) == [0, 1, 2, 3]
    assert traj.losses[-1] < traj.losses[0]
    assert all(p.grad is None for p in ours.parameters())


def test_train_with_dlmath_optim_adam_matches_torch(problem):
    from dlmath.optim import Adam

    _, X, y = problem
    ours = torch_mlp([4, 6, 3], "tanh", seed=3, dtype=torch.float64)
    ref = copy.deepcopy(ours)
    train_with_snapshots(
        ours, F.cross_entropy, X, y, lambda p: Adam(p, lr=0.01), 2, batch_size=10, seed=4
    )
    opt = torch.optim.Adam(ref.parameters(), lr=0.01)
    rng = np.random.default_rng(4)  # the same shuffles as train_with_snapshots
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    for _ in range(2):
        order = torch.as_tensor(rng.permutation(len(X)))
        for start in range(0, len(X), 10):
            rows = order[start : start + 10]
            opt.zero_grad()
            F.cross_entropy(ref(Xt[rows]), yt[rows]).backward()
            opt.step()
    for a, b in zip(ours.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


# --- figures -----------------------------------------------------------------------------


def test_figures_mask_non_finite_and_html_is_self_contained(tmp_path):
    import re

    from dlmath.viz.files import save_plotly_html, save_png
    from dlmath.viz.landscape import plot_contour, plot_surface3d, plotly_surface

    xs = np.linspace(-1, 1, 6)
    Z = np.add.outer(xs**2, xs**2) + 0.1
    Z[0, 0], Z[1, 2] = np.nan, np.inf
    path = np.array([[0.9, 0.9], [0.5, 0.4], [0.0, 0.0]])
    save_png(
        plot_contour(xs, xs, Z, log_scale=True, trajectories={"run": path}), tmp_path / "c.png"
    )
    save_png(plot_surface3d(xs, xs, Z), tmp_path / "s.png")
    fig = plotly_surface(xs, xs, Z, trajectories={"run": (path, np.array([1.0, 0.5, 0.1]))})
    html = save_plotly_html(fig, tmp_path / "s.html").read_text()
    assert (tmp_path / "c.png").stat().st_size > 1000 and (tmp_path / "s.png").stat().st_size > 1000
    # works offline: plotly.js is inlined or loaded from a file beside the page, never a URL
    for src in re.findall(r"<script[^>]+src=\"([^\"]+)\"", html):
        assert "//" not in src and (tmp_path / src).stat().st_size > 1_000_000
    z = fig.data[0].z  # z[row = y][col = x]
    assert z[0][0] is None and z[2][1] is None  # NaN and inf become gaps (JSON null)
    assert sum(v is None for row in z for v in row) == 2 and "null" in html
    assert fig.data[0].type == "surface" and fig.data[1].type == "scatter3d"
    assert fig.layout.scene.xaxis.title.text == "alpha" and fig.layout.title.text
