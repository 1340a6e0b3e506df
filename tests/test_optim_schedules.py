"""dlmath.optim.schedules against torch.optim.lr_scheduler (sequences to 1e-12)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.optim import lr_scheduler as T

from dlmath.optim import schedules as S
from dlmath.optim import torch_schedule_values

BASE = 0.1


def torch_lrs(make, n: int, base: float = BASE) -> np.ndarray:
    """The lr of each of n optimizer steps, stepping torch's scheduler the documented way."""
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=base, momentum=0.9)
    sched = make(opt)
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.array(out)


CASES = [
    ("StepLR", lambda: S.StepLR(BASE, step_size=7, gamma=0.5), lambda o: T.StepLR(o, 7, 0.5), 60),
    ("ExponentialLR", lambda: S.ExponentialLR(BASE, 0.95), lambda o: T.ExponentialLR(o, 0.95), 200),
    ("Cosine", lambda: S.CosineAnnealingLR(BASE, 25, 0.002),
     lambda o: T.CosineAnnealingLR(o, 25, 0.002), 120),
    ("Cosine-eta0", lambda: S.CosineAnnealingLR(BASE, 10),
     lambda o: T.CosineAnnealingLR(o, 10), 45),
    ("LinearLR-warmup", lambda: S.LinearLR(BASE, 0.05, 1.0, 12),
     lambda o: T.LinearLR(o, 0.05, 1.0, 12), 40),
    ("LinearLR-decay", lambda: S.LinearLR(BASE, 1.0, 0.0, 30),
     lambda o: T.LinearLR(o, 1.0, 0.0, 30), 40),
    ("OneCycle-cos", lambda: S.OneCycleLR(BASE, total_steps=90),
     lambda o: T.OneCycleLR(o, BASE, total_steps=90), 90),
    ("OneCycle-3phase-linear",
     lambda: S.OneCycleLR(BASE, epochs=5, steps_per_epoch=13, pct_start=0.2,
                          anneal_strategy="linear", div_factor=10.0, final_div_factor=100.0,
                          three_phase=True),
     lambda o: T.OneCycleLR(o, BASE, epochs=5, steps_per_epoch=13, pct_start=0.2,
                            anneal_strategy="linear", div_factor=10.0, final_div_factor=100.0,
                            three_phase=True), 65),
    ("WarmRestarts", lambda: S.CosineAnnealingWarmRestarts(BASE, 10, 1, 0.001),
     lambda o: T.CosineAnnealingWarmRestarts(o, 10, 1, 0.001), 55),
    ("WarmRestarts-mult", lambda: S.CosineAnnealingWarmRestarts(BASE, 3, 3),
     lambda o: T.CosineAnnealingWarmRestarts(o, 3, 3), 130),
    ("Sequential-warmup-cosine",
     lambda: S.SequentialLR([S.LinearLR(BASE, 0.1, 1.0, 8),
                             S.CosineAnnealingLR(BASE, 40, 0.001)], [8]),
     lambda o: T.SequentialLR(o, [T.LinearLR(o, 0.1, 1.0, 8),
                                  T.CosineAnnealingLR(o, 40, 0.001)], [8]),
     70),
    ("Sequential-3",
     lambda: S.SequentialLR([S.LinearLR(BASE, 0.2, 1.0, 5), S.ExponentialLR(BASE, 0.9),
                             S.StepLR(BASE, 4, 0.5)], [5, 20]),
     lambda o: T.SequentialLR(o, [T.LinearLR(o, 0.2, 1.0, 5), T.ExponentialLR(o, 0.9),
                                  T.StepLR(o, 4, 0.5)], [5, 20]),
     40),
]  # fmt: skip


@pytest.mark.parametrize(("label", "ours", "theirs", "n"), CASES, ids=[c[0] for c in CASES])
def test_schedule_equals_torch(label, ours, theirs, n):
    ref = torch_lrs(theirs, n)
    got = ours().values(n)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12 * BASE)
    # sched(t) is random access: the same values in any order
    sched = ours()
    for t in (n - 1, 0, n // 2):
        assert abs(sched(t) - ref[t]) <= 1e-12 * BASE


def test_library_torch_helper_matches_the_closed_form():
    """torch_schedule_values (the labs' torch reference) against the schedule's formula:
    linear warmup lr_t = base (0.1 + 0.9 t / 8) for t < 8, then cosine annealing
    lr_t = eta_min + (base - eta_min) (1 + cos(pi (t - 8) / 40)) / 2."""
    sched = CASES[-2][1]()
    t = np.arange(48)
    warmup = BASE * (0.1 + 0.9 * t / 8)
    cosine = 0.001 + (BASE - 0.001) * (1 + np.cos(np.pi * (t - 8) / 40)) / 2
    expected = np.where(t < 8, warmup, cosine)
    np.testing.assert_allclose(torch_schedule_values(sched, 48), expected, rtol=0, atol=1e-15)


@settings(max_examples=20)
@given(T_0=st.integers(1, 12), T_mult=st.integers(1, 3), eta_min=st.floats(0.0, 0.05))
def test_warm_restarts_any_period_equals_torch(T_0, T_mult, eta_min):
    n = 80
    ref = torch_lrs(lambda o: T.CosineAnnealingWarmRestarts(o, T_0, T_mult, eta_min), n)
    got = S.CosineAnnealingWarmRestarts(BASE, T_0, T_mult, eta_min).values(n)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12 * BASE)


@settings(max_examples=20)
@given(total=st.integers(2, 200), pct=st.floats(0.05, 0.95), div=st.floats(2.0, 100.0))
def test_one_cycle_any_length_equals_torch(total, pct, div):
    ref = torch_lrs(
        lambda o: T.OneCycleLR(o, BASE, total_steps=total, pct_start=pct, div_factor=div), total
    )
    got = S.OneCycleLR(BASE, total_steps=total, pct_start=pct, div_factor=div).values(total)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12 * BASE)


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: S.StepLR(-0.1, 5), "base_lr"),
        (lambda: S.StepLR(0.1, 0), "step_size"),
        (lambda: S.StepLR(0.1, 5, gamma=0.0), "gamma"),
        (lambda: S.ExponentialLR(0.1, -0.5), "gamma"),
        (lambda: S.CosineAnnealingLR(0.1, 0), "T_max"),
        (lambda: S.CosineAnnealingLR(0.1, 10, eta_min=-1.0), "eta_min"),
        (lambda: S.LinearLR(0.1, start_factor=0.0), "start_factor"),
        (lambda: S.LinearLR(0.1, start_factor=1.5), "start_factor"),
        (lambda: S.LinearLR(0.1, end_factor=1.2), "end_factor"),
        (lambda: S.LinearLR(0.1, total_iters=0), "total_iters"),
        (lambda: S.OneCycleLR(0.1), "total_steps"),
        (lambda: S.OneCycleLR(0.1, total_steps=0), "total_steps"),
        (lambda: S.OneCycleLR(0.1, total_steps=10, pct_start=1.5), "pct_start"),
        (lambda: S.OneCycleLR(0.1, total_steps=10, anneal_strategy="exp"), "anneal_strategy"),
        (lambda: S.OneCycleLR(0.1, total_steps=10, div_factor=0.0), "div_factor"),
        (lambda: S.CosineAnnealingWarmRestarts(0.1, 0), "T_0"),
        (lambda: S.CosineAnnealingWarmRestarts(0.1, 5, T_mult=0), "T_mult"),
        (lambda: S.SequentialLR([S.StepLR(0.1, 2)], [3]), "milestones"),
        (lambda: S.SequentialLR([S.StepLR(0.1, 2)] * 3, [5, 5]), "milestones"),
        (lambda: S.SequentialLR([], []), "schedulers"),
    ],
)
def test_bad_schedule_arguments_raise_naming_them(make, name):
    with pytest.raises(ValueError, match=f"'{name}'"):
        make()


def test_bad_step_index():
    with pytest.raises(ValueError, match="'t'"):
        S.StepLR(0.1, 5)(-1)
    with pytest.raises(ValueError, match="'t'"):
        S.OneCycleLR(0.1, total_steps=10)(11)
    with pytest.raises(TypeError, match="'t'"):
        S.ExponentialLR(0.1, 0.9)(1.5)
    assert repr(S.StepLR(0.1, 5)) == "StepLR(base_lr=0.1, step_size=5, gamma=0.1)"
