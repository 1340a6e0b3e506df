"""The shared argument validation: one message shape naming the argument."""

from __future__ import annotations

import numpy as np
import pytest

from dlmath import _checks as ck


def test_as_float_array_converts_ints_and_keeps_float32():
    assert ck.as_float_array([1, 2], "x").dtype == np.float64
    x32 = np.ones(3, dtype=np.float32)
    out = ck.as_float_array(x32, "x")
    assert out.dtype == np.float32 and out is x32  # no copy when none is needed


@pytest.mark.parametrize(
    ("value", "kwargs", "exc", "pattern"),
    [
        ("abc", {}, TypeError, r"'x' must be an array of real numbers"),
        (np.array(["a"]), {}, TypeError, r"'x' must be an array of real numbers"),
        (np.ones((2, 2)), {"ndim": 1}, ValueError, r"'x' must be a 1-D array; got array of shape"),
        (np.array([]), {}, ValueError, r"'x' must be non-empty"),
        (np.array([1.0, np.nan, np.inf]), {}, ValueError, r"2 non-finite value\(s\), the first at"),
    ],
)
def test_as_float_array_rejects(value, kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        ck.as_float_array(value, "x", **kwargs)


def test_nonfinite_reports_first_index():
    x = np.zeros((2, 3))
    x[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"index \(1, 2\)"):
        ck.as_float_array(x, "X")
    assert np.isnan(x[1, 2])  # the caller's array is untouched


def test_labels():
    assert ck.as_label_array([0, 2, 1], "y", n=3, n_classes=3).dtype == np.int64
    with pytest.raises(TypeError, match="'y' must be integer class labels"):
        ck.as_label_array(np.array([0.0, 1.0]), "y")
    with pytest.raises(ValueError, match=r"'y' must be labels in \[0, 2\]; got labels in \[0, 3\]"):
        ck.as_label_array([0, 3], "y", n_classes=3)
    with pytest.raises(ValueError, match="'y' must be of length 3"):
        ck.as_label_array([0, 1], "y", n=3)
    with pytest.raises(ValueError, match="'y' must be a 1-D array"):
        ck.as_label_array(np.zeros((2, 1), dtype=int), "y")


def test_scalars():
    assert ck.check_int(3, "k", low=1) == 3
    with pytest.raises(TypeError, match="'k' must be an integer"):
        ck.check_int(True, "k")
    with pytest.raises(ValueError, match=r"'k' must be an integer in \[1, 5\]; got 7"):
        ck.check_int(7, "k", low=1, high=5)
    assert ck.check_real(0.5, "lr", low=0.0) == 0.5
    with pytest.raises(ValueError, match=r"'lr' must be a finite number in \(0, inf\); got 0.0"):
        ck.check_real(0.0, "lr", low=0.0, low_open=True)
    with pytest.raises(ValueError, match="'lr' must be a finite number"):
        ck.check_real(float("nan"), "lr")
    with pytest.raises(ValueError, match=r"'p' must be a finite number in \[0, 1\]"):
        ck.check_probability(1.5, "p")
    with pytest.raises(ValueError, match="'loss' must be one of 'mse', 'ce'; got 'l1'"):
        ck.check_choice("l1", "loss", ("mse", "ce"))
    with pytest.raises(ValueError, match="'X' and 'y' must have the same length"):
        ck.check_same_length([1, 2], "X", [1], "y")
