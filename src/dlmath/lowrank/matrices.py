"""Test matrices for low-rank experiments: a random init-scale weight, a power-law spectrum.

Both are deterministic given ``seed``; :func:`dlmath.lowrank.matrix_with_spectrum` turns a
spectrum into a matrix with random singular vectors.
"""

from __future__ import annotations

import numpy as np

from dlmath._checks import check_int

__all__ = ["decaying_spectrum", "random_matrix"]


def random_matrix(n: int, seed: int = 0) -> np.ndarray:
    """An (n, n) matrix with iid N(0, 1/n) entries (the scale of a LeCun/Xavier init).

    Its singular values follow the quarter-circle law on [0, 2] as n grows.
    """
    check_int(n, "n", low=1)
    check_int(seed, "seed", low=0)
    return np.random.default_rng(seed).normal(0.0, 1.0 / np.sqrt(n), size=(n, n))


def decaying_spectrum(n: int) -> np.ndarray:
    """``s_i = 1 / i`` for i = 1..n, shape (n,): a power-law spectrum like many trained weights."""
    check_int(n, "n", low=1)
    return 1.0 / np.arange(1, n + 1)
