"""Argument validation shared by every dlmath package: one place, one message shape.

Every message reads ``'<name>' must be <what is expected>; got <what was passed>.``
so a user sees which argument was wrong, what it was, and what would be right; a
function declared with :func:`validate_params` prefixes it with its own name
(``SGD(): 'lr' must be ...``), as scikit-learn's ``validate_params`` does.
Checks never modify their input; ``as_float_array`` returns a new array only when it
must convert.

Two ways to use it, with the same checks behind both:

- declaratively, for scalar hyperparameters: a table of :class:`Constraint` objects
  (:class:`Real`, :class:`Int`, :class:`Bool`, :class:`Choice`, :class:`Seed`,
  :class:`Pair`), applied by :func:`validate_params` or :func:`validate_all`;
- imperatively, for arrays and anything shape-dependent: ``as_float_array``,
  ``as_label_array``, ``check_ranks`` and friends.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
import numbers
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
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
    "check_bool",
    "check_seed",
    "check_ranks",
    "Constraint",
    "Real",
    "Int",
    "Bool",
    "Choice",
    "Seed",
    "Pair",
    "OrNone",
    "NONNEG",
    "POSITIVE",
    "UNIT",
    "deprecated",
    "deprecated_attributes",
    "named",
    "validate_all",
    "validate_params",
]

#: the largest seed NumPy and torch both accept
MAX_SEED = 2**64 - 1


def describe(value: Any) -> str:
    """A short, readable description of ``value`` for error messages."""
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    if hasattr(value, "shape") and hasattr(value, "dtype"):  # torch tensors
        return f"{type(value).__name__} of shape {tuple(value.shape)} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def fail(
    name: str, expected: str, got: Any, *, described: bool = False, where: str | None = None
) -> ValueError:
    """Build the standard ``ValueError``; ``raise fail(...)`` at the call site.

    ``where`` (e.g. ``"SGD()"``) names the function: ``SGD(): 'lr' must be ...``.
    """
    got_text = got if described else describe(got)
    prefix = f"{where}: " if where else ""
    return ValueError(f"{prefix}'{name}' must be {expected}; got {got_text}.")


def fail_type(name: str, expected: str, got: Any, *, where: str | None = None) -> TypeError:
    """Build the standard ``TypeError`` for a value of the wrong type."""
    prefix = f"{where}: " if where else ""
    return TypeError(
        f"{prefix}'{name}' must be {expected}; got {type(got).__name__} {describe(got)}."
    )


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


def check_bool(value: Any, name: str) -> bool:
    """Check a flag: ``True`` or ``False`` (NumPy booleans too), never ``"yes"`` or ``1``."""
    if not isinstance(value, bool | np.bool_):
        raise fail_type(name, "True or False", value)
    return bool(value)


def check_seed(value: Any, name: str = "seed", *, generator: bool = False) -> Any:
    """Check a seed: an integer in [0, 2**64 - 1] (or a ``numpy.random.Generator``
    where ``generator`` allows it). Negative seeds are refused here, with the name,
    rather than by NumPy or torch without it."""
    if generator and isinstance(value, np.random.Generator):
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        what = "an integer seed >= 0" + (" or a numpy.random.Generator" if generator else "")
        raise fail_type(name, what, value)
    return check_int(value, name, low=0, high=MAX_SEED)


def check_ranks(ranks: Any, name: str = "ranks", *, high: int | None = None) -> tuple[int, ...]:
    """The one rank-list validator: an integer ``r`` (meaning ``[r]``) or a non-empty
    sequence of integers, each in ``[1, high]`` (``high`` = the largest rank that fits)."""
    if isinstance(ranks, numbers.Integral) and not isinstance(ranks, bool):
        ranks = [ranks]
    if isinstance(ranks, np.ndarray):
        ranks = ranks.tolist() if ranks.ndim == 1 else ranks
    if isinstance(ranks, str | bytes | Mapping) or not isinstance(ranks, Iterable):
        raise fail_type(name, "an integer rank or a sequence of integer ranks", ranks)
    ranks = list(ranks)
    if not ranks:
        raise fail(name, "a non-empty sequence of integer ranks", ranks)
    return tuple(check_int(r, name, low=1, high=high) for r in ranks)


# --- declared constraints ---------------------------------------------------------------


class Constraint:
    """One argument's constraint: ``constraint(value, name)`` returns the checked value."""

    def __call__(self, value: Any, name: str) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class Real(Constraint):
    """A finite real number in an interval (``check_real``)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __call__(self, value: Any, name: str) -> float:
        return check_real(
            value,
            name,
            low=self.low,
            high=self.high,
            low_open=self.low_open,
            high_open=self.high_open,
        )


#: frequent intervals
NONNEG = Real(low=0.0)
POSITIVE = Real(low=0.0, low_open=True)
UNIT = Real(low=0.0, high=1.0)


@dataclass(frozen=True)
class Int(Constraint):
    """An integer (bool excluded) in ``[low, high]``."""

    low: int | None = None
    high: int | None = None

    def __call__(self, value: Any, name: str) -> int:
        return check_int(value, name, low=self.low, high=self.high)


@dataclass(frozen=True)
class Bool(Constraint):
    """``True`` or ``False``."""

    def __call__(self, value: Any, name: str) -> bool:
        return check_bool(value, name)


@dataclass(frozen=True)
class Choice(Constraint):
    """One of a few strings."""

    options: tuple[str, ...]

    def __call__(self, value: Any, name: str) -> str:
        return check_choice(value, name, self.options)


@dataclass(frozen=True)
class Seed(Constraint):
    """A seed (``check_seed``)."""

    generator: bool = False

    def __call__(self, value: Any, name: str) -> Any:
        return check_seed(value, name, generator=self.generator)


@dataclass(frozen=True)
class Pair(Constraint):
    """A pair ``(a, b)``, each checked by ``item`` as ``name[0]`` and ``name[1]``."""

    item: Constraint

    def __call__(self, value: Any, name: str) -> tuple[Any, Any]:
        if isinstance(value, str | bytes) or not isinstance(value, Sequence | np.ndarray):
            raise fail_type(name, "a pair (a, b)", value)
        if len(value) != 2:
            raise fail(name, "a pair (a, b)", value)
        return (self.item(value[0], f"{name}[0]"), self.item(value[1], f"{name}[1]"))


@dataclass(frozen=True)
class OrNone(Constraint):
    """``None`` or a value that satisfies ``item``."""

    item: Constraint

    def __call__(self, value: Any, name: str) -> Any:
        return None if value is None else self.item(value, name)


def _prefixed(err: Exception, where: str) -> Exception:
    if str(err).startswith(f"{where}: "):
        return err
    try:
        new = type(err)(f"{where}: {err}")
    except Exception:  # an exception class with its own constructor: keep it as is
        return err
    return new


@contextlib.contextmanager
def named(where: str) -> Iterator[None]:
    """Prefix the ``ValueError``/``TypeError`` raised inside with the function's name.

    >>> with named("Adam()"):
    ...     check_real(-1, "eps", low=0)
    Traceback (most recent call last):
    ValueError: Adam(): 'eps' must be a finite number in [0, inf); got -1.0.
    """
    try:
        yield
    except (ValueError, TypeError) as err:
        new = _prefixed(err, where)
        if new is err:
            raise
        raise new from None


def validate_all(
    values: Mapping[str, Any], constraints: Mapping[str, Constraint], where: str | None = None
) -> dict[str, Any]:
    """Apply ``constraints`` to ``values`` (same keys); the checked values, in that order.

    ``where`` (a function or class name) prefixes every message: ``Adam(): 'eps' must be ...``.
    """
    out = {}
    for key, constraint in constraints.items():
        try:
            out[key] = constraint(values[key], key)
        except (ValueError, TypeError) as err:
            if where is None:
                raise
            raise _prefixed(err, where) from None
    return out


def validate_params(**constraints: Constraint) -> Callable[[Callable], Callable]:
    """Decorator: check the named arguments of a function before it runs.

    >>> @validate_params(lr=POSITIVE, steps=Int(low=0))
    ... def fit(x, *, lr=0.1, steps=100): ...

    The function receives the checked values (``float(lr)``, ``int(steps)``); a bad value
    raises the standard message prefixed by the function's name, e.g.
    ``fit(): 'lr' must be a finite number in (0, inf); got -1.``
    """

    def wrap(func: Callable) -> Callable:
        sig = inspect.signature(func)
        unknown = set(constraints) - set(sig.parameters)
        if unknown:
            raise TypeError(f"validate_params: {func.__name__} has no argument {sorted(unknown)}")
        where = f"{func.__name__}()"

        @functools.wraps(func)
        def checked(*args: Any, **kwargs: Any) -> Any:
            try:
                bound = sig.bind(*args, **kwargs)
            except TypeError as err:
                raise _prefixed(err, where) from None
            bound.apply_defaults()
            present = {k: bound.arguments[k] for k in constraints if k in bound.arguments}
            bound.arguments.update(
                validate_all(present, {k: constraints[k] for k in present}, where)
            )
            return func(*bound.args, **bound.kwargs)

        checked.__dlmath_constraints__ = dict(constraints)
        return checked

    return wrap


# --- deprecation ------------------------------------------------------------------------


def deprecated(old: str, new: str, func: Callable, *, adapt: Callable | None = None) -> Callable:
    """A function for the deprecated name ``old``: warns, then calls ``func``.

    The ``DeprecationWarning`` names the replacement ``new`` (how to call it when the
    arguments moved); ``adapt(*args, **kwargs)`` maps the old call onto ``func``
    (reordered arguments), default: the same arguments.
    """

    @functools.wraps(func)
    def alias(*args: Any, **kwargs: Any) -> Any:
        import warnings

        warnings.warn(f"{old} is deprecated; use {new}.", DeprecationWarning, stacklevel=2)
        return adapt(*args, **kwargs) if adapt is not None else func(*args, **kwargs)

    alias.__name__ = alias.__qualname__ = old.rsplit(".", 1)[-1].split("(")[0]
    alias.__doc__ = f"Deprecated: use {new}."
    alias.__wrapped__ = func
    alias.__dlmath_deprecated__ = new
    return alias


def deprecated_attributes(module: str, moved: Mapping[str, tuple[str, Callable[[], Any]]]):
    """A module ``__getattr__`` for names that left a module's API.

    ``moved`` maps an old name to ``(replacement text, loader)``; the attribute still
    works, with a ``DeprecationWarning`` naming the replacement.
    """

    def __getattr__(name: str) -> Any:
        if name in moved:
            import warnings

            new, load = moved[name]
            warnings.warn(
                f"{module}.{name} is deprecated; use {new}.", DeprecationWarning, stacklevel=2
            )
            return load()
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__
