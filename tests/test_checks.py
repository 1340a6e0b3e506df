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


def test_bool_seed_and_ranks():
    assert ck.check_bool(np.True_, "flag") is True
    for bad in ("yes", 1, None):
        with pytest.raises(TypeError, match="'flag' must be True or False"):
            ck.check_bool(bad, "flag")
    assert ck.check_seed(2**64 - 1) == 2**64 - 1
    with pytest.raises(
        ValueError, match=r"'seed' must be an integer in \[0, 18446744073709551615\]"
    ):
        ck.check_seed(-1)
    with pytest.raises(TypeError, match="'seed' must be an integer seed >= 0"):
        ck.check_seed(1.5)
    gen = np.random.default_rng(0)
    assert ck.check_seed(gen, generator=True) is gen
    assert ck.check_ranks(4) == (4,)  # one integer means [4], in every caller
    assert ck.check_ranks(np.array([1, 3]), high=3) == (1, 3)
    with pytest.raises(ValueError, match=r"'ranks' must be an integer in \[1, 3\]; got 4"):
        ck.check_ranks([1, 4], high=3)
    with pytest.raises(ValueError, match="'ranks' must be a non-empty sequence"):
        ck.check_ranks([])
    with pytest.raises(TypeError, match="'ranks' must be an integer rank or a sequence"):
        ck.check_ranks("12")


def test_declared_constraints_and_validate_params():
    @ck.validate_params(lr=ck.POSITIVE, steps=ck.Int(low=0), mode=ck.Choice(("a", "b")))
    def fit(x, *, lr=0.1, steps=3, mode="a"):
        return lr, steps, mode

    assert fit(1, lr=1, steps=np.int64(2)) == (1.0, 2, "a")  # checked values are passed on
    assert isinstance(fit(1, lr=1)[0], float)
    with pytest.raises(ValueError, match=r"^fit\(\): 'lr' must be a finite number in \(0, inf\)"):
        fit(1, lr=0)
    with pytest.raises(ValueError, match=r"^fit\(\): 'mode' must be one of 'a', 'b'; got 'c'"):
        fit(1, mode="c")
    with pytest.raises(TypeError, match=r"^fit\(\): "):
        fit(1, 2)  # a binding error names the function too
    with pytest.raises(TypeError, match="has no argument"):
        ck.validate_params(nope=ck.NONNEG)(lambda x: x)
    pair = ck.Pair(ck.Real(low=0.0, high=1.0, high_open=True))
    assert pair((0.5, 0), "betas") == (0.5, 0.0)
    with pytest.raises(ValueError, match=r"'betas\[1\]' must be a finite number in \[0, 1\)"):
        pair((0.5, 1.0), "betas")
    with pytest.raises(ValueError, match="'betas' must be a pair"):
        pair((0.5,), "betas")
    assert ck.OrNone(ck.NONNEG)(None, "atol") is None
    got = ck.validate_all({"eps": 1e-8}, {"eps": ck.POSITIVE}, "Adam()")
    assert got == {"eps": 1e-8}
    with pytest.raises(ValueError, match=r"^Adam\(\): 'eps'"):
        ck.validate_all({"eps": 0.0}, {"eps": ck.POSITIVE}, "Adam()")


def test_named_prefixes_once_and_deprecated_warns():
    with pytest.raises(ValueError, match=r"^SGD\(\): 'lr'"), ck.named("SGD()"), ck.named("SGD()"):
        ck.check_real(-1, "lr", low=0.0)
    old = ck.deprecated(
        "pkg.old(a, b)", "pkg.new(b, a)", lambda b, a: a - b, adapt=lambda a, b: b - a
    )
    with pytest.warns(DeprecationWarning, match=r"pkg\.old\(a, b\) is deprecated; use pkg\.new"):
        assert old(5, 2) == -3
    getattr_ = ck.deprecated_attributes("pkg", {"gone": ("pkg.kept", lambda: 42)})
    with pytest.warns(DeprecationWarning, match="pkg.gone is deprecated; use pkg.kept"):
        assert getattr_("gone") == 42
    with pytest.raises(AttributeError):
        getattr_("missing")


def test_fail_names_the_function_when_asked():
    err = ck.fail("eps", "> 0", 0.0, where="Adam()")
    assert str(err) == "Adam(): 'eps' must be > 0; got 0.0."
    assert str(ck.fail_type("x", "an array", None)) == "'x' must be an array; got NoneType None."
