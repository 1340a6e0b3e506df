"""Data sets used by the labs: real data shipped inside scikit-learn, or generated.

Nothing here touches the network. Every function takes a ``seed`` and gives the same
arrays on every call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dlmath._checks import check_int, check_real, check_seed, fail

__all__ = ["Split", "digits", "rotate_digits", "two_moons"]


@dataclass(frozen=True)
class Split:
    """A train/test split, batch first: ``X_*`` of shape (n, d), ``y_*`` of shape (n,) int64."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int

    @property
    def n_features(self) -> int:
        return self.X_train.shape[1]

    def __repr__(self) -> str:
        return (
            f"Split(train={self.X_train.shape}, test={self.X_test.shape}, "
            f"n_classes={self.n_classes}, dtype={self.X_train.dtype})"
        )


def _standardize(X_train: np.ndarray, X_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Statistics from the training rows only, so the test set stays unseen.
    mu = X_train.mean(axis=0)
    sd = X_train.std(axis=0)
    sd[sd == 0] = 1.0  # constant pixels (the digits' borders) stay zero
    return (X_train - mu) / sd, (X_test - mu) / sd


def _check_split_args(test_fraction: float, seed: int, dtype) -> Any:
    check_real(test_fraction, "test_fraction", low=0.0, high=1.0, low_open=True, high_open=True)
    check_seed(seed)
    try:
        dt = np.dtype(dtype)
    except TypeError as err:
        raise fail("dtype", "a float dtype (np.float32 or np.float64)", dtype) from err
    if dt not in (np.float32, np.float64):
        raise fail("dtype", "a float dtype (np.float32 or np.float64)", dtype)
    return dt


def _split(X: np.ndarray, y: np.ndarray, test_fraction: float, seed: int, dtype) -> Split:
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(X))
    n_test = int(round(test_fraction * len(X)))
    test, train = order[:n_test], order[n_test:]
    X_train, X_test = _standardize(X[train], X[test])
    return Split(
        X_train.astype(dtype),
        y[train].astype(np.int64),
        X_test.astype(dtype),
        y[test].astype(np.int64),
        int(y.max()) + 1,
    )


def digits(test_fraction: float = 0.25, seed: int = 0, dtype=np.float64) -> Split:
    """scikit-learn's 8x8 handwritten digits (1,797 images, 64 features, 10 classes).

    The images ship inside scikit-learn (no download). Features are standardized with
    the training rows' mean and standard deviation.
    """
    from sklearn.datasets import load_digits

    dtype = _check_split_args(test_fraction, seed, dtype)
    data = load_digits()
    return _split(data.data.astype(np.float64), data.target, test_fraction, seed, dtype)


def two_moons(
    n: int = 400, noise: float = 0.15, test_fraction: float = 0.25, seed: int = 0, dtype=np.float64
) -> Split:
    """Two interleaving half circles in 2-D (scikit-learn's ``make_moons``), 2 classes."""
    from sklearn.datasets import make_moons

    check_int(n, "n", low=4, high=10**7)
    check_real(noise, "noise", low=0.0, high=1e3)
    dtype = _check_split_args(test_fraction, seed, dtype)
    # a private generator: sklearn would otherwise fall back to NumPy's global one
    X, y = make_moons(n_samples=n, noise=noise, random_state=np.random.RandomState(seed % 2**32))
    return _split(X, y, test_fraction, seed, dtype)


def rotate_digits(X: np.ndarray, degrees: float = 30.0) -> np.ndarray:
    """Digits images seen through a rotated camera: each row of ``X`` (n, 64), an 8x8 image,
    rotated by ``degrees`` about its centre (bilinear, zero fill outside); returns (n, 64)
    in ``X``'s dtype. ``X`` is not modified.
    """
    from scipy import ndimage

    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != 64 or not np.issubdtype(X.dtype, np.floating):
        raise TypeError(
            f"'X' must be a float array of 8x8 digits images, shape (n, 64); "
            f"got {X.dtype} of shape {X.shape}."
        )
    check_real(degrees, "degrees")
    images = X.reshape(-1, 8, 8)
    out = ndimage.rotate(images, degrees, axes=(1, 2), reshape=False, order=1, cval=0.0)
    return out.reshape(len(X), 64).astype(X.dtype)
