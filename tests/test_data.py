"""Data sets: the digits split against scikit-learn's own arrays, and determinism."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

from dlmath.data import digits, two_moons


def test_digits_is_a_standardized_partition_of_load_digits():
    split = digits(test_fraction=0.25, seed=3)
    raw = load_digits()
    assert split.X_train.shape == (1348, 64) and split.X_test.shape == (449, 64)
    assert split.n_classes == 10
    # every image is in exactly one part: undo the standardization and match the raw rows
    train_raw = raw.data[np.random.default_rng(3).permutation(1797)[449:]]
    mu, sd = train_raw.mean(0), train_raw.std(0)
    sd[sd == 0] = 1.0
    np.testing.assert_allclose(split.X_train, (train_raw - mu) / sd, rtol=0, atol=1e-12)
    np.testing.assert_allclose(split.X_train.mean(0), 0.0, atol=1e-12)
    counts = np.bincount(np.concatenate([split.y_train, split.y_test]), minlength=10)
    np.testing.assert_array_equal(counts, np.bincount(raw.target, minlength=10))


def test_deterministic_and_dtype():
    a, b = digits(seed=1, dtype=np.float32), digits(seed=1, dtype=np.float32)
    assert a.X_train.dtype == np.float32
    np.testing.assert_array_equal(a.X_train, b.X_train)
    assert not np.array_equal(a.y_train, digits(seed=2).y_train)


def test_two_moons_shapes_and_bad_input():
    s = two_moons(n=200, seed=0)
    assert s.X_train.shape[1] == 2 and s.n_classes == 2
    assert len(s.X_train) + len(s.X_test) == 200
    with pytest.raises(ValueError, match="'test_fraction'"):
        digits(test_fraction=1.0)
    with pytest.raises(ValueError, match="'n'"):
        two_moons(n=1)
