"""Test functions (vs torch autograd), minimize (statuses, no NaN), and rates vs theory."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlmath.optim import (
    FUNCTIONS,
    SGD,
    Adam,
    gd_optimal,
    heavy_ball_optimal,
    measure_rates,
    measured_rate,
    minimize,
    quadratic,
    rosenbrock,
    saddle,
    steps_to_tolerance,
)

# the same formulas written in torch, differentiated by autograd (the reference)
TORCH_F = {
    "rosenbrock": lambda v: (1 - v[0]) ** 2 + 100 * (v[1] - v[0] ** 2) ** 2,
    "beale": lambda v: sum(
        (c - v[0] + v[0] * v[1] ** i) ** 2 for i, c in ((1, 1.5), (2, 2.25), (3, 2.625))
    ),
    "himmelblau": lambda v: (v[0] ** 2 + v[1] - 11) ** 2 + (v[0] + v[1] ** 2 - 7) ** 2,
    "rastrigin": lambda v: 20 + (v**2 - 10 * torch.cos(2 * torch.pi * v)).sum(),
    "saddle": lambda v: v[0] ** 2 - v[1] ** 2,
}


def torch_quadratic(kappa, angle):
    c, s = np.cos(angle), np.sin(angle)
    R = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
    A = R @ torch.diag(torch.tensor([1.0, kappa], dtype=torch.float64)) @ R.T
    return lambda v: 0.5 * v @ A @ v


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_value_gradient_hessian_match_autograd(name):
    fn = FUNCTIONS[name]()
    f_ref = torch_quadratic(10.0, np.pi / 6) if name == "quadratic" else TORCH_F[name]
    rng = np.random.default_rng(0)
    for x in rng.uniform(-2, 2, size=(8, 2)):
        v = torch.tensor(x, requires_grad=True)
        val = f_ref(v)
        (g,) = torch.autograd.grad(val, v)
        H = torch.autograd.functional.hessian(f_ref, torch.tensor(x))
        np.testing.assert_allclose(fn.f(x), val.item(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(fn.grad(x), g.numpy(), rtol=1e-11, atol=1e-10)
        np.testing.assert_allclose(fn.hessian(x), H.numpy(), rtol=1e-11, atol=1e-9)


@pytest.mark.parametrize("name", ["rosenbrock", "beale", "himmelblau", "saddle"])
def test_polynomial_f_takes_torch_tensors_and_autograd_matches_the_analytic_grad(name):
    fn = FUNCTIONS[name]()
    x = np.array([0.7, -1.3])
    v = torch.tensor(x, requires_grad=True)
    val = fn.f(v)
    assert isinstance(val, torch.Tensor)
    (g,) = torch.autograd.grad(val, v)
    np.testing.assert_allclose(val.item(), fn.f(x), rtol=1e-14)
    np.testing.assert_allclose(g.numpy(), fn.grad(x), rtol=1e-11, atol=1e-10)


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_known_minima_are_minima(name):
    fn = FUNCTIONS[name]()
    for m in fn.minima:
        assert np.linalg.norm(fn.grad(m)) <= 1e-9
        assert np.linalg.eigvalsh(fn.hessian(m)).min() > 0
        assert abs(fn.f(m) - fn.f_min) <= 1e-12
    if name == "saddle":  # no minimum: the origin is a saddle, eigenvalues of both signs
        assert len(fn.minima) == 0
        assert np.sign(np.linalg.eigvalsh(fn.hessian(np.zeros(2)))).tolist() == [-1.0, 1.0]


def test_himmelblau_has_four_distinct_minima():
    fn = FUNCTIONS["himmelblau"]()
    assert fn.minima.shape == (4, 2)
    np.testing.assert_allclose(fn.minima[0], [3.0, 2.0], atol=1e-14)
    d = np.linalg.norm(fn.minima[:, None] - fn.minima[None], axis=-1)
    assert d[~np.eye(4, dtype=bool)].min() > 1.0


def test_quadratic_condition_number():
    H = quadratic(kappa=250.0, angle=0.3).hessian(np.zeros(2))
    ev = np.linalg.eigvalsh(H)
    assert ev.max() / ev.min() == pytest.approx(250.0, rel=1e-12)


@settings(max_examples=10)
@given(n=st.integers(1, 6), m=st.integers(1, 6), name=st.sampled_from(sorted(FUNCTIONS)))
def test_functions_broadcast_over_grids(n, m, name):
    fn = FUNCTIONS[name]()
    pts = np.random.default_rng(n * 7 + m).uniform(-1, 1, size=(2, n, m))
    assert fn.f(pts).shape == (n, m)
    assert fn.grad(pts).shape == (2, n, m)
    assert fn.hessian(pts).shape == (2, 2, n, m)
    np.testing.assert_allclose(fn.grad(pts)[:, 0, 0], fn.grad(pts[:, 0, 0]), rtol=1e-14)
    np.testing.assert_allclose(
        fn.hessian(pts)[:, :, -1, -1], fn.hessian(pts[:, -1, -1]), rtol=1e-14
    )


# --- minimize -------------------------------------------------------------------------------
def test_minimize_records_the_trajectory_and_leaves_x0_alone():
    fn = rosenbrock()
    x0 = fn.x0.copy()
    traj = minimize(fn.f, fn.grad, x0, partial(SGD, lr=1e-3), 50)
    np.testing.assert_array_equal(x0, fn.x0)
    assert (
        traj.points.shape == (51, 2) and traj.losses.shape == (51,) and traj.status == "max_steps"
    )
    # the same 50 steps written out by hand
    x = x0.copy()
    for _ in range(50):
        x = x - 1e-3 * fn.grad(x)
    np.testing.assert_allclose(traj.x, x, rtol=1e-14)
    np.testing.assert_allclose(traj.losses, [fn.f(p) for p in traj.points], rtol=1e-14)
    np.testing.assert_allclose(traj.grad_norms[0], np.linalg.norm(fn.grad(x0)), rtol=1e-14)


def test_minimize_converges_with_tolerance():
    fn = quadratic(kappa=5.0)
    traj = minimize(fn.f, fn.grad, fn.x0, partial(Adam, lr=0.05), 5000, tol=1e-8)
    assert traj.status == "converged" and traj.grad_norms[-1] <= 1e-8 < traj.grad_norms[-2]
    assert traj.steps < 5000


def test_divergence_stops_with_a_status_and_no_nan():
    fn = quadratic(kappa=10.0)
    traj = minimize(fn.f, fn.grad, fn.x0, partial(SGD, lr=0.5), 10_000)  # 0.5 > 2/lmax
    assert traj.status == "diverged" and "diverged at step" in traj.message
    for arr in (traj.points, traj.losses, traj.grad_norms):
        assert np.isfinite(arr).all()
    assert traj.steps < 10_000
    # Rosenbrock overflows to inf with a big step: detected, not warned about
    r = rosenbrock()
    traj = minimize(r.f, r.grad, r.x0, partial(SGD, lr=0.1), 100)
    assert traj.status == "diverged" and np.isfinite(traj.losses).all()


def test_saddle_escape_is_reported_as_divergence():
    fn = saddle()
    traj = minimize(fn.f, fn.grad, fn.x0, partial(SGD, lr=0.1), 2000)
    assert traj.status == "diverged"
    assert abs(traj.points[-1, 1]) > abs(traj.points[0, 1])  # escaped along the y axis
    assert abs(traj.points[-1, 0]) < 1e-6  # while x converged


def test_steps_to_tolerance():
    assert steps_to_tolerance(np.array([5.0, 1.0, 0.1, 0.01]), 0.1) == 2
    assert steps_to_tolerance(np.array([5.0, 0.01, 0.5, 0.01]), 0.1) == 3  # must stay below
    assert steps_to_tolerance(np.array([5.0, 1.0]), 0.1) is None


def test_minimize_bad_input():
    fn = quadratic()
    with pytest.raises(ValueError, match="'x0'"):
        minimize(fn.f, fn.grad, np.array([np.nan, 1.0]), partial(SGD, lr=0.1), 10)
    with pytest.raises(ValueError, match="'steps'"):
        minimize(fn.f, fn.grad, fn.x0, partial(SGD, lr=0.1), -1)
    with pytest.raises(TypeError, match="'optimizer'"):
        minimize(fn.f, fn.grad, fn.x0, "adam", 10)


# --- theory -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kappa", [10.0, 100.0, 1000.0])
def test_measured_rates_match_theory_within_2_percent(kappa):
    r = measure_rates(kappa)
    assert r.gd_theory == pytest.approx((kappa - 1) / (kappa + 1), rel=1e-14)
    sk = np.sqrt(kappa)
    assert r.hb_theory == pytest.approx((sk - 1) / (sk + 1), rel=1e-14)
    assert abs(r.gd_measured - r.gd_theory) / r.gd_theory <= 0.02
    assert abs(r.hb_measured - r.hb_theory) / r.hb_theory <= 0.02
    assert r.hb_measured < r.gd_measured  # momentum is faster


@pytest.mark.parametrize("kappa", [10.0, 1000.0])
def test_optimal_settings_give_the_spectral_radius(kappa):
    """Independent check: the spectral radius of each method's iteration matrix."""
    lams = np.array([1.0, kappa])
    lr, rate = gd_optimal(1.0, kappa)
    assert np.abs(1 - lr * lams).max() == pytest.approx(rate, rel=1e-12)
    alpha, beta, rate_hb = heavy_ball_optimal(1.0, kappa)
    radius = 0.0
    for lam in np.linspace(1.0, kappa, 7):
        M = np.array([[1 + beta - alpha * lam, -beta], [1.0, 0.0]])  # (x_k, x_{k-1}) map
        radius = max(radius, np.abs(np.linalg.eigvals(M)).max())
    assert radius == pytest.approx(rate_hb, rel=1e-6)
    # a slightly worse momentum is slower: the optimum is an optimum
    M = np.array([[1 + 0.9 * beta - alpha * kappa, -0.9 * beta], [1.0, 0.0]])
    M1 = np.array([[1 + 0.9 * beta - alpha, -0.9 * beta], [1.0, 0.0]])
    assert max(np.abs(np.linalg.eigvals(M)).max(), np.abs(np.linalg.eigvals(M1)).max()) > rate_hb


def test_theory_bad_input():
    with pytest.raises(ValueError, match="'lmax'"):
        gd_optimal(2.0, 1.0)
    with pytest.raises(ValueError, match="'lmin'"):
        heavy_ball_optimal(0.0, 1.0)
    with pytest.raises(ValueError, match="'errors'"):
        measured_rate(np.array([1.0]))
    with pytest.raises(ValueError, match="'kappa'"):
        measure_rates(0.5)
