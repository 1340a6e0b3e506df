"""dlmath.lowrank SVD tools against SciPy/LAPACK, scikit-learn and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.utils.extmath import randomized_svd as sk_randomized_svd

from dlmath.lowrank import (
    RankSweep,
    effective_rank,
    energy,
    matrix_with_spectrum,
    randomized_svd,
    rank_for_energy,
    rank_sweep,
    reconstruct,
    singular_values,
    stable_rank,
    truncated_svd,
)


def gaussian(m: int, n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((m, n))


def scipy_best(W: np.ndarray, r: int) -> np.ndarray:
    """Independent rank-r truncation through SciPy's LAPACK driver (gesvd, not gesdd)."""
    U, S, Vt = scipy.linalg.svd(W, full_matrices=False, lapack_driver="gesvd")
    return U[:, :r] @ np.diag(S[:r]) @ Vt[:r]


# ----------------------------------------------------------------------------- truncated_svd


@pytest.mark.parametrize("shape", [(30, 20), (20, 30), (25, 25)])
def test_truncated_svd_matches_scipy(shape):
    W = gaussian(*shape)
    r = 7
    U, S, Vt = truncated_svd(W, r)
    assert U.shape == (shape[0], r) and S.shape == (r,) and Vt.shape == (r, shape[1])
    S_ref = scipy.linalg.svdvals(W)[:r]
    np.testing.assert_allclose(S, S_ref, rtol=1e-12)
    np.testing.assert_allclose(reconstruct(U, S, Vt), scipy_best(W, r), atol=1e-12)
    np.testing.assert_allclose(U.T @ U, np.eye(r), atol=1e-12)
    np.testing.assert_allclose(Vt @ Vt.T, np.eye(r), atol=1e-12)


def test_full_rank_truncation_reconstructs_exactly():
    W = gaussian(40, 30)
    U, S, Vt = truncated_svd(W, 30)
    err = np.linalg.norm(W - reconstruct(U, S, Vt)) / np.linalg.norm(W)
    assert err < 1e-14


def test_truncated_svd_accepts_torch_and_leaves_input_alone():
    W = gaussian(12, 9)
    before = W.copy()
    U, S, Vt = truncated_svd(torch.tensor(W), 3)
    np.testing.assert_allclose(S, scipy.linalg.svdvals(W)[:3], rtol=1e-12)
    truncated_svd(W, 3)
    randomized_svd(W, 3)
    rank_sweep(W, [1, 2])
    stable_rank(W)
    np.testing.assert_array_equal(W, before)


# ----------------------------------------------------------------------------- rank_sweep


def test_rank_sweep_equals_explicit_reconstruction_errors():
    W = gaussian(30, 24, seed=1)
    sweep = rank_sweep(W)
    norm_F, norm_2 = np.linalg.norm(W), np.linalg.norm(W, 2)
    for r in range(1, 25):
        W_r = scipy_best(W, r)
        assert sweep.frobenius[r - 1] == pytest.approx(np.linalg.norm(W - W_r) / norm_F, abs=1e-13)
        assert sweep.spectral[r - 1] == pytest.approx(
            np.linalg.norm(W - W_r, 2) / norm_2, abs=1e-13
        )
    assert sweep.frobenius[-1] == 0.0 and sweep.spectral[-1] == 0.0


def test_rank_sweep_closed_form_for_a_known_spectrum():
    S = 1.0 / np.arange(1, 21)
    W = matrix_with_spectrum(S, 35, 20, seed=3)
    sweep = rank_sweep(W, [1, 5, 19])
    for i, r in enumerate([1, 5, 19]):
        expected = np.sqrt(np.sum(S[r:] ** 2) / np.sum(S**2))
        assert sweep.frobenius[i] == pytest.approx(expected, rel=1e-10)
        assert sweep.spectral[i] == pytest.approx(S[r] / S[0], rel=1e-10)
        assert sweep.energy[i] == pytest.approx(np.sum(S[:r] ** 2) / np.sum(S**2), rel=1e-12)


def test_rank_sweep_acts_as_the_frobenius_array():
    W = gaussian(10, 8)
    errs = rank_sweep(W, [1, 2, 3])
    assert isinstance(errs, RankSweep)
    # the reference: explicit rank-r reconstructions from LAPACK's SVD
    U, S, Vt = np.linalg.svd(W, full_matrices=False)
    explicit = [
        np.linalg.norm(W - (U[:, :r] * S[:r]) @ Vt[:r]) / np.linalg.norm(W) for r in (1, 2, 3)
    ]
    np.testing.assert_allclose(np.asarray(errs), explicit, rtol=1e-10)
    assert len(errs) == 3 and errs[1] == pytest.approx(explicit[1], rel=1e-10)
    np.testing.assert_allclose(list(errs), explicit, rtol=1e-10)
    energy = [np.sum(S[:r] ** 2) / np.sum(S**2) for r in (1, 2, 3)]
    np.testing.assert_allclose(errs.energy, energy, rtol=1e-12)
    assert "rel. Frobenius" in repr(errs)
    assert [row["rank"] for row in errs.rows()] == [1, 2, 3]


@settings(max_examples=25, deadline=None)
@given(
    m=st.integers(2, 20),
    n=st.integers(2, 20),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_eckart_young_property(m, n, seed, data):
    W = gaussian(m, n, seed)
    r = data.draw(st.integers(1, min(m, n)))
    sweep = rank_sweep(W, [r])
    W_r = scipy_best(W, r)
    best = np.linalg.norm(W - W_r) / np.linalg.norm(W)
    assert sweep.frobenius[0] == pytest.approx(best, abs=1e-12)
    # any other rank-r matrix (here a random projection of the columns) does no better
    Q, _ = np.linalg.qr(np.random.default_rng(seed + 1).standard_normal((n, r)))
    assert np.linalg.norm(W - W @ Q @ Q.T) / np.linalg.norm(W) >= best - 1e-12


# ----------------------------------------------------------------------------- randomized_svd


def decaying(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    S = 1.0 / np.arange(1, n + 1)
    return matrix_with_spectrum(S, n, n, seed=seed), S


def test_randomized_svd_is_near_optimal_and_agrees_with_sklearn():
    W, S_true = decaying()
    r = 20
    U, S, Vt = randomized_svd(W, r, n_oversamples=10, n_iter=4, seed=0)
    optimal = np.sqrt(np.sum(S_true[r:] ** 2))
    ours = np.linalg.norm(W - reconstruct(U, S, Vt))
    assert ours / optimal - 1 < 0.01
    np.testing.assert_allclose(S[:10], S_true[:10], rtol=1e-6)
    np.testing.assert_allclose(U.T @ U, np.eye(r), atol=1e-10)
    Uk, Sk, Vtk = sk_randomized_svd(W, r, n_oversamples=10, n_iter=4, random_state=0)
    theirs = np.linalg.norm(W - (Uk * Sk) @ Vtk)
    assert ours / theirs == pytest.approx(1.0, abs=0.01)


def test_power_iterations_improve_the_range_finder():
    W, S_true = decaying(200, seed=2)
    errs = [
        np.linalg.norm(W - reconstruct(*randomized_svd(W, 10, n_oversamples=2, n_iter=q)))
        for q in (0, 1, 4)
    ]
    optimal = np.sqrt(np.sum(S_true[10:] ** 2))
    assert errs[0] > errs[1] > errs[2] >= optimal * (1 - 1e-12)


def test_randomized_svd_keeps_float32_and_is_deterministic():
    W = decaying(100)[0].astype(np.float32)
    a = randomized_svd(W, 5, seed=3)
    b = randomized_svd(W, 5, seed=3)
    assert all(x.dtype == np.float32 for x in a)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_randomized_svd_exact_for_a_low_rank_matrix():
    W = gaussian(50, 5) @ gaussian(5, 40, seed=1)  # rank 5
    U, S, Vt = randomized_svd(W, 5, n_iter=0)
    np.testing.assert_allclose(reconstruct(U, S, Vt), W, atol=1e-10)


# ----------------------------------------------------------------------------- ranks and energy


def test_stable_rank_and_effective_rank_closed_forms():
    W = gaussian(20, 15)
    assert stable_rank(W) == pytest.approx(
        np.linalg.norm(W, "fro") ** 2 / np.linalg.norm(W, 2) ** 2, rel=1e-12
    )
    Q = np.linalg.qr(gaussian(10, 10))[0]
    assert stable_rank(Q) == pytest.approx(10.0, rel=1e-12)
    assert effective_rank(Q) == pytest.approx(10.0, rel=1e-12)  # k equal singular values
    rank1 = np.outer(np.arange(1.0, 6.0), np.ones(4))
    assert stable_rank(rank1) == pytest.approx(1.0, rel=1e-12)
    assert effective_rank(rank1) == pytest.approx(1.0, abs=1e-6)  # rounding-level tail


def test_energy_and_rank_for_energy_brute_force():
    S = np.array([4.0, 2.0, 1.0, 1.0])
    E = energy(S)
    np.testing.assert_allclose(E, np.cumsum(S**2) / 22.0)
    for target in (0.5, 0.7, 0.9, 0.99, 1.0):
        brute = min(r for r in range(1, 5) if np.sum(S[:r] ** 2) / 22.0 >= target - 1e-15)
        assert rank_for_energy(S, target) == brute


def test_singular_values_match_scipy():
    W = gaussian(9, 13)
    np.testing.assert_allclose(singular_values(W), scipy.linalg.svdvals(W), rtol=1e-12)


def test_matrix_with_spectrum_has_that_spectrum():
    S = np.array([5.0, 3.0, 0.5])
    W = matrix_with_spectrum(S, 7, 4, seed=1)
    np.testing.assert_allclose(scipy.linalg.svdvals(W)[:3], S, rtol=1e-12)
    assert scipy.linalg.svdvals(W)[3] < 1e-12


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("r", [0, -1, 6])
def test_rank_out_of_range(r):
    with pytest.raises(ValueError, match="'r'"):
        truncated_svd(gaussian(5, 8), r)
    with pytest.raises(ValueError, match="'r'"):
        randomized_svd(gaussian(5, 8), r)


def test_bad_matrices():
    for f in (
        lambda W: truncated_svd(W, 1),
        rank_sweep,
        stable_rank,
        lambda W: randomized_svd(W, 1),
    ):
        with pytest.raises(ValueError, match="'W'.*2-D"):
            f(np.ones(5))
        W = gaussian(4, 4)
        W[1, 2] = np.nan
        with pytest.raises(ValueError, match="'W'.*finite"):
            f(W)
        with pytest.raises(ValueError, match="'W'.*finite"):
            f(np.full((3, 3), np.inf))
    with pytest.raises(TypeError, match="'W'"):
        truncated_svd("abc", 1)
    with pytest.raises(ValueError, match="'W'.*non-zero"):
        rank_sweep(np.zeros((3, 3)))


def test_bad_ranks_and_other_arguments():
    W = gaussian(6, 4)
    for ranks in ([0], [5], [1, 2, 7], [], "abc"):
        with pytest.raises((ValueError, TypeError), match="'ranks'"):
            rank_sweep(W, ranks)
    with pytest.raises(TypeError, match="'ranks'"):
        rank_sweep(W, [1.5])
    with pytest.raises(ValueError, match="'n_iter'"):
        randomized_svd(W, 2, n_iter=-1)
    with pytest.raises(ValueError, match="'n_oversamples'"):
        randomized_svd(W, 2, n_oversamples=-3)
    with pytest.raises(ValueError, match="'target'"):
        rank_for_energy([1.0, 0.5], 1.5)
    with pytest.raises(ValueError, match="'S'"):
        matrix_with_spectrum([1.0, -1.0], 3, 3)
    with pytest.raises(ValueError, match="'S'"):
        matrix_with_spectrum([1.0, 1.0, 1.0], 2, 3)
