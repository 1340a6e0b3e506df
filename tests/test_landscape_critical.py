"""Critical points: classification against LAPACK eigenvalues, positions against scipy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import root

from dlmath.landscape import (
    classify_critical_point,
    find_critical_points,
    flat_mask,
    grid_values,
    random_direction,
    slice_function,
)
from dlmath.nets import torch_mlp

# torch.func.hessian's first call imports a torch module that still uses torch.jit.script
pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"
)

HIMMELBLAU = lambda v: (v[0] ** 2 + v[1] - 11) ** 2 + (v[0] + v[1] ** 2 - 7) ** 2


def himmelblau_grad(p):
    x, y = p
    u, w = x**2 + y - 11, x + y**2 - 7
    return np.array([4 * x * u + 2 * w, 2 * u + 4 * y * w])


def quadratic(A):
    At = torch.as_tensor(A)
    return lambda v: v @ At @ v


@settings(max_examples=15)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 5),
    signs=st.lists(st.sampled_from([-1.0, 1.0]), min_size=5, max_size=5),
)
def test_classification_of_quadratics(seed, n, signs):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    lam = np.array(signs[:n]) * rng.uniform(0.5, 3.0, size=n)
    A = Q @ np.diag(lam) @ Q.T  # f = x^T A x has Hessian 2A at every point
    cp = classify_critical_point(quadratic(A), np.zeros(n))
    np.testing.assert_allclose(cp.eigenvalues, np.linalg.eigvalsh(2 * A), atol=1e-12)
    expected = "minimum" if lam.min() > 0 else "maximum" if lam.max() < 0 else "saddle"
    assert cp.kind == expected and cp.grad_norm == 0.0
    assert np.all(np.diff(cp.eigenvalues) >= 0)


def test_degenerate_and_not_critical():
    cp = classify_critical_point(lambda v: v[0] ** 4 + v[1] ** 2, [0.0, 0.0])
    assert cp.kind == "degenerate"
    np.testing.assert_allclose(cp.eigenvalues, [0.0, 2.0])
    off = classify_critical_point(lambda v: v[0] ** 2 + v[1] ** 2, [1.0, 0.0])
    assert off.grad_norm == pytest.approx(2.0) and off.kind == "minimum"


def test_himmelblau_all_nine_critical_points():
    xs = np.linspace(-5, 5, 41)
    points = find_critical_points(HIMMELBLAU, xs, xs)
    kinds = [p.kind for p in points]
    assert kinds.count("minimum") == 4 and kinds.count("saddle") == 4
    assert kinds.count("maximum") == 1 and len(points) == 9
    for p in points:
        ref = root(himmelblau_grad, p.x, tol=1e-14).x  # independent: scipy on the gradient
        assert np.linalg.norm(ref - p.x) < 1e-8
        assert p.grad_norm < 1e-8
    maximum = next(p for p in points if p.kind == "maximum")
    np.testing.assert_allclose(maximum.x, [-0.270845, -0.923039], atol=1e-6)  # literature
    assert maximum.value == pytest.approx(181.617, abs=1e-3)


def test_monkey_saddle_is_degenerate_and_flat():
    f = lambda v: v[0] ** 3 - 3 * v[0] * v[1] ** 2
    xs = np.linspace(-1, 1, 21)
    points = find_critical_points(f, xs, xs, grad_tol=1e-12)
    assert [p.kind for p in points] == ["degenerate"]
    mask = flat_mask(xs, xs, grid_values(f, xs, xs), rel_tol=0.05)
    assert mask[10, 10] and not mask[0, 0]  # flat at the origin, steep in the corners


def test_grid_values_matches_direct_evaluation():
    xs, ys = np.linspace(-1, 2, 4), np.linspace(0, 1, 3)
    Z = grid_values(HIMMELBLAU, xs, ys)
    expected = [[float(HIMMELBLAU(torch.tensor([a, b]))) for b in ys] for a in xs]
    np.testing.assert_allclose(Z, expected, rtol=1e-14)


def test_network_slice_critical_point_is_a_true_stationary_point():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 2)), rng.integers(0, 2, size=30)
    model = torch_mlp([2, 5, 2], "tanh", seed=0, dtype=torch.float64)
    dirs = [random_direction(model, seed=s) for s in (1, 2)]
    f = slice_function(model, F.cross_entropy, X, y, dirs)
    c = torch.tensor([0.3, -0.2], dtype=torch.float64)
    theta = [
        p.detach() + 0.3 * u - 0.2 * v for p, u, v in zip(model.parameters(), *dirs, strict=True)
    ]
    clone = torch_mlp([2, 5, 2], "tanh", seed=0, dtype=torch.float64)
    torch.nn.utils.vector_to_parameters(
        torch.cat([t.reshape(-1) for t in theta]), clone.parameters()
    )
    with torch.no_grad():
        ref = F.cross_entropy(clone(torch.as_tensor(X)), torch.as_tensor(y))
    assert float(f(c)) == pytest.approx(float(ref), rel=1e-13)
    s = np.linspace(-1.5, 1.5, 15)
    for p in find_critical_points(f, s, s, n_starts=4):
        assert p.grad_norm < 1e-8 and p.kind in ("minimum", "maximum", "saddle", "degenerate")


def test_critical_bad_input():
    with pytest.raises(TypeError, match="'f'"):
        classify_critical_point("f", [0.0])
    with pytest.raises(ValueError, match="'x'"):
        classify_critical_point(HIMMELBLAU, [[0.0, 1.0]])
    with pytest.raises(ValueError, match="'Z'"):
        find_critical_points(
            HIMMELBLAU, np.linspace(0, 1, 5), np.linspace(0, 1, 4), np.zeros((4, 4))
        )
    with pytest.raises(ValueError, match="'xs'"):
        find_critical_points(HIMMELBLAU, [0.0, 1.0], np.linspace(0, 1, 4))
    with pytest.raises(ValueError, match="'f'"):
        classify_critical_point(lambda v: v * 2, [0.0, 1.0])
