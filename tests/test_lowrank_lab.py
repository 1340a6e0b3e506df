"""The experiment pieces of Lab 1.3.4 (dlmath.labs.lab4), on small sizes."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from dlmath.data import rotate_digits
from dlmath.labs import lab4
from dlmath.lowrank import decaying_spectrum, random_matrix
from dlmath.nets import single_thread


def test_svd_study_against_scipy():
    W = random_matrix(40, seed=1)
    study = lab4.svd_study(W, ranks=(1, 4, 16, 64))
    assert study.ranks == (1, 4, 16)  # ranks above min(shape) are dropped
    S_ref = scipy.linalg.svdvals(W)
    np.testing.assert_allclose(study.S, S_ref, rtol=1e-12)
    for r, err in zip(study.ranks, study.explicit, strict=True):
        expected = np.sqrt(np.sum(S_ref[r:] ** 2) / np.sum(S_ref**2))
        assert err == pytest.approx(expected, rel=1e-10)
    assert study.decomposition_error < 1e-13 and study.eckart_young_gap < 1e-13
    assert "eckart_young_gap" in repr(study)


def test_random_matrix_scale_and_determinism():
    W = random_matrix(300, seed=2)
    assert W.std() == pytest.approx(1 / np.sqrt(300), rel=0.01)
    np.testing.assert_array_equal(W, random_matrix(300, seed=2))


def test_competitors_never_beat_the_truncated_svd():
    ratios = lab4.competitor_ratios(random_matrix(50, seed=3), 5, seed=4)
    assert len(ratios) == 3
    assert all(value >= 1.0 - 1e-12 for value in ratios.values())


def test_rotate_digits_is_a_pixel_grid_rotation():
    X = np.random.default_rng(0).standard_normal((3, 64)).astype(np.float32)
    np.testing.assert_allclose(rotate_digits(X, 0.0), X, atol=1e-6)
    quarter = rotate_digits(X, 90.0).reshape(3, 8, 8)
    np.testing.assert_allclose(quarter, np.rot90(X.reshape(3, 8, 8), axes=(1, 2)), atol=1e-5)
    assert rotate_digits(X).dtype == np.float32


def test_decaying_spectrum_is_one_over_i():
    np.testing.assert_array_equal(decaying_spectrum(4), [1.0, 0.5, 1.0 / 3.0, 0.25])


def test_single_thread_restores_the_torch_setting():
    # make test runs torch on 1 thread: start from 2, so "restored" is not 1 -> 1
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with single_thread():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
