"""Argument validation shared by every dlmath package: one place, one message shape.

Every message reads ``'<name>' must be <what is expected>; got <what was passed>.``
so a user sees which argument was wrong, what it was, and what would be right.
Checks never modify their input; ``as_float_array`` returns a new array only when it
must convert.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "describe",
    "fail",
    "fail_type",
    "as_float_array",
    "as_label_array",
    "check_finite",
    "check_choice",
    "check_int",
    "check_real",
    "check_probability",
    "check_same_length",
]


def describe(value: Any) -> str:
    """A short, readable description of ``value`` for error messages."""
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    if hasattr(value, "shape") and hasattr(value, "dtype"):  # torch tensors
        return f"{type(value).__name__} of shape {tuple(value.shape)} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def fail(name: str, expected: str, got: Any, *, described: bool = False) -> ValueError:
    """Build the standard ``ValueError``; ``raise fail(...)`` at the call site."""
    got_text = got if described else describe(got)
    return ValueError(f"'{name}' must be {expected}; got {got_text}.")


def fail_type(name: str, expected: str, got: Any) -> TypeError:
    """Build the standard ``TypeError`` for a value of the wrong type."""
    return TypeError(f"'{name}' must be {expected}; got {type(got).__name__} {describe(got)}.")


def check_finite(x: np.ndarray, name: str) -> np.ndarray:
    """Raise if ``x`` holds NaN or +-inf, saying how many and where the first one is."""
    finite = np.isfinite(x)
    if not finite.all():
        bad = np.argwhere(~finite)
        first = tuple(int(i) for i in bad[0])
        raise fail(
            name,
            "finite (no NaN or inf)",
            f"{len(bad)} non-finite value(s), the first at index {first}",
            described=True,
        )
    return x


def as_float_array(
    x: Any,
    name: str,
    *,
    ndim: int | Sequence[int] | None = None,
    finite: bool = True,
    dtype: Any = None,
    allow_empty: bool = False,
) -> np.ndarray:
    """Return ``x`` as a floating-point ndarray after checking it.

    Integer and boolean input is converted to float64; float16/32/64 keep their dtype
    unless ``dtype`` is given. The caller's array is never modified; it is returned
    as is (not copied) when no conversion is needed.
    """
    if isinstance(x, (str, bytes)) or x is None:
        raise fail_type(name, "an array of real numbers", x)
    if hasattr(x, "detach") and hasattr(x, "numpy"):  # a torch tensor
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as err:  # ragged nested lists
        raise fail_type(name, "an array of real numbers", x) from err
    if arr.dtype.kind not in "biuf":
        raise fail_type(name, "an array of real numbers", arr)
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    elif arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise fail(name, f"a {want} array", arr)
    if not allow_empty and arr.size == 0:
        raise fail(name, "non-empty", arr)
    if finite:
        check_finite(arr, name)
    return arr


def as_label_array(y: Any, name: str, *, n: int | None = None, n_classes: int | None = None):
    """Return integer class labels as a 1-D int64 array, checking count and range."""
    if hasattr(y, "detach") and hasattr(y, "numpy"):
        y = y.detach().cpu().numpy()
    arr = np.asarray(y)
    if arr.dtype.kind not in "iu":
        raise fail_type(name, "integer class labels (an int array)", arr)
    if arr.ndim != 1:
        raise fail(name, "a 1-D array of class labels", arr)
    if n is not None and arr.shape[0] != n:
        raise fail(name, f"of length {n} (one label per row of X)", arr)
    if n_classes is not None and arr.size and (arr.min() < 0 or arr.max() >= n_classes):
        raise fail(
            name,
            f"labels in [0, {n_classes - 1}]",
            f"labels in [{arr.min()}, {arr.max()}]",
            described=True,
        )
    return arr.astype(np.int64, copy=False)


def check_choice(value: Any, name: str, choices: Iterable[str]) -> str:
    """Check that ``value`` is one of ``choices`` (strings)."""
    options = tuple(choices)
    if not isinstance(value, str) or value not in options:
        raise fail(name, "one of " + ", ".join(repr(c) for c in options), value)
    return value


def check_int(value: Any, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """Check an integer (bool excluded) within ``[low, high]`` (either bound optional)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise fail_type(name, "an integer", value)
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise fail(name, f"an integer in [{lo}, {hi}]", value)
    return value


def check_real(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Check a finite real number in a (half-)open or closed interval; return it as float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise fail_type(name, "a real number", value)
    value = float(value)
    lo_ok = low is None or (value > low if low_open else value >= low)
    hi_ok = high is None or (value < high if high_open else value <= high)
    if not math.isfinite(value) or not (lo_ok and hi_ok):
        left = "(" if low_open or low is None else "["
        right = ")" if high_open or high is None else "]"
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        raise fail(name, f"a finite number in {left}{lo}, {hi}{right}", value)
    return value


def check_probability(value: Any, name: str) -> float:
    """Check a probability in [0, 1]."""
    return check_real(value, name, low=0.0, high=1.0)


def check_same_length(a: Any, a_name: str, b: Any, b_name: str) -> None:
    """Check that two batch-first arrays have the same number of rows."""
    if len(a) != len(b):
        raise ValueError(
            f"'{a_name}' and '{b_name}' must have the same length (one row each); "
            f"got {len(a)} and {len(b)}."
        )
