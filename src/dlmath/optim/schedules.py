r"""Learning-rate schedules as closed forms: ``sched(t)`` is the lr used at step ``t``.

Each class mirrors a ``torch.optim.lr_scheduler`` class: same argument names and
defaults, and ``sched(t)`` equals the lr torch's scheduler holds after ``t`` calls of
``scheduler.step()`` (the lr of the ``t``-th optimizer step, counting from 0). Torch
computes most of them recursively (``lr_t = lr_{t-1} * factor``); here each is the
closed form, so ``sched(t)`` is random access and the values agree to rounding.

The first argument is ``base_lr`` (``max_lr`` for :class:`OneCycleLR`): the optimizer's
initial lr in torch. :class:`SequentialLR` chains schedules at milestones (warmup then
decay). An optimizer accepts any schedule as its ``lr``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from dlmath._checks import (
    NONNEG,
    check_bool,
    check_choice,
    check_int,
    check_real,
    fail,
    fail_type,
    named,
)

__all__ = [
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "ExponentialLR",
    "LinearLR",
    "OneCycleLR",
    "Schedule",
    "SequentialLR",
    "StepLR",
]


class Schedule:
    """Base class: ``sched(t)`` checks ``t`` (an integer >= 0) and returns ``self.lr_at(t)``.

    Bad arguments raise the standard message prefixed with the class name
    (``OneCycleLR(): 'pct_start' must be ...``); a ``t`` at which the schedule would
    overflow (``ExponentialLR`` with ``gamma > 1``) is refused by name, never ``inf``.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            init = cls.__dict__["__init__"]

            def checked_init(self, *args: Any, __init=init, **kw: Any) -> None:
                with named(f"{cls.__name__}()"):
                    __init(self, *args, **kw)

            checked_init.__signature__ = inspect.signature(init)
            checked_init.__doc__, checked_init.__qualname__ = init.__doc__, init.__qualname__
            cls.__init__ = checked_init

    def __call__(self, t: int) -> float:
        with named(f"{type(self).__name__}(t)"):
            return self.lr_at(check_int(t, "t", low=0))

    def lr_at(self, t: int) -> float:
        raise NotImplementedError

    def values(self, n: int) -> np.ndarray:
        """The first ``n`` learning rates ``[sched(0), ..., sched(n-1)]``."""
        with named(f"{type(self).__name__}.values()"):
            return np.array([self.lr_at(t) for t in range(check_int(n, "n", low=0))])

    def _args(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._args().items())
        return f"{type(self).__name__}({args})"


def _lr(value: Any, name: str) -> float:
    return NONNEG(value, name)


def _power(base_lr: float, gamma: float, k: int, t: int) -> float:
    """``base_lr * gamma**k`` in log form: 0 on underflow, a named error on overflow."""
    if base_lr == 0:
        return 0.0
    log_lr = math.log(base_lr) + k * math.log(gamma)
    if log_lr > _LOG_MAX:
        raise fail("t", "small enough that the lr stays finite (gamma > 1 grows it)", t)
    return math.exp(log_lr)


_LOG_MAX = math.log(np.finfo(np.float64).max)


def _cosine(start: float, end: float, fraction: float) -> float:
    """Half-cosine from ``start`` (fraction 0) to ``end`` (fraction 1), torch's form."""
    return end + (start - end) / 2.0 * (math.cos(math.pi * fraction) + 1)


class StepLR(Schedule):
    r"""$\eta_t = \eta_0\,\gamma^{\lfloor t / \text{step\_size} \rfloor}$."""

    def __init__(self, base_lr: float, step_size: int, gamma: float = 0.1) -> None:
        self.base_lr = _lr(base_lr, "base_lr")
        self.step_size = check_int(step_size, "step_size", low=1)
        self.gamma = check_real(gamma, "gamma", low=0.0, low_open=True)

    def lr_at(self, t: int) -> float:
        return _power(self.base_lr, self.gamma, t // self.step_size, t)


class ExponentialLR(Schedule):
    r"""$\eta_t = \eta_0\,\gamma^t$."""

    def __init__(self, base_lr: float, gamma: float) -> None:
        self.base_lr = _lr(base_lr, "base_lr")
        self.gamma = check_real(gamma, "gamma", low=0.0, low_open=True)

    def lr_at(self, t: int) -> float:
        return _power(self.base_lr, self.gamma, t, t)


class CosineAnnealingLR(Schedule):
    r"""$\eta_t = \eta_{\min} + (\eta_0 - \eta_{\min})\,\tfrac12(1 + \cos(\pi t / T_{\max}))$.

    Like torch, it keeps following the cosine after ``T_max`` (back up to ``base_lr`` at
    ``2 T_max``); use :class:`CosineAnnealingWarmRestarts` for restarts.
    """

    def __init__(self, base_lr: float, T_max: int, eta_min: float = 0.0) -> None:
        self.base_lr = _lr(base_lr, "base_lr")
        self.T_max = check_int(T_max, "T_max", low=1)
        self.eta_min = _lr(eta_min, "eta_min")

    def lr_at(self, t: int) -> float:
        return (
            self.eta_min
            + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * t / self.T_max)) / 2
        )


class LinearLR(Schedule):
    r"""Linear warmup (or decay) of the factor: $\eta_t = \eta_0\,(s + (e - s)\min(t, T)/T)$.

    $s$ = ``start_factor`` in (0, 1], $e$ = ``end_factor`` in [0, 1], $T$ = ``total_iters``.
    """

    def __init__(
        self,
        base_lr: float,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
    ) -> None:
        self.base_lr = _lr(base_lr, "base_lr")
        self.start_factor = check_real(
            start_factor, "start_factor", low=0.0, high=1.0, low_open=True
        )
        self.end_factor = check_real(end_factor, "end_factor", low=0.0, high=1.0)
        self.total_iters = check_int(total_iters, "total_iters", low=1)

    def lr_at(self, t: int) -> float:
        fraction = min(self.total_iters, t) / self.total_iters
        return self.base_lr * (self.start_factor + (self.end_factor - self.start_factor) * fraction)


class CosineAnnealingWarmRestarts(Schedule):
    r"""SGDR: cosine from $\eta_0$ to $\eta_{\min}$ over $T_i$ steps, then restart.

    $T_0$ = ``T_0`` and each period is ``T_mult`` times the previous one;
    $\eta_t = \eta_{\min} + (\eta_0 - \eta_{\min})\tfrac12(1 + \cos(\pi T_{cur}/T_i))$.
    """

    def __init__(self, base_lr: float, T_0: int, T_mult: int = 1, eta_min: float = 0.0) -> None:
        self.base_lr = _lr(base_lr, "base_lr")
        self.T_0 = check_int(T_0, "T_0", low=1)
        self.T_mult = check_int(T_mult, "T_mult", low=1)
        self.eta_min = _lr(eta_min, "eta_min")

    def lr_at(self, t: int) -> float:
        t_cur, t_i = t, self.T_0
        if self.T_mult == 1:
            t_cur = t % self.T_0
        else:  # walk the periods in integers (torch's log formula can round wrongly)
            while t_cur >= t_i:
                t_cur -= t_i
                t_i *= self.T_mult
        return (
            self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * t_cur / t_i)) / 2
        )


class OneCycleLR(Schedule):
    r"""The 1cycle policy: warm up from ``max_lr/div_factor`` to ``max_lr``, then anneal.

    Phase ends (as torch): ``pct_start*total_steps - 1`` and ``total_steps - 1``
    (three phases: up, back down to the initial lr, then to
    ``initial_lr/final_div_factor``). ``anneal_strategy`` is ``"cos"`` or ``"linear"``.
    ``sched(t)`` is defined for ``0 <= t <= total_steps``. Only the lr is scheduled
    (torch also cycles momentum when ``cycle_momentum=True``).
    """

    def __init__(
        self,
        max_lr: float,
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
    ) -> None:
        self.max_lr = _lr(max_lr, "max_lr")
        if total_steps is not None:
            self.total_steps = check_int(total_steps, "total_steps", low=1)
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = check_int(epochs, "epochs", low=1) * check_int(
                steps_per_epoch, "steps_per_epoch", low=1
            )
        else:
            raise fail("total_steps", "given (or both epochs and steps_per_epoch)", None)
        self.pct_start = check_real(pct_start, "pct_start", low=0.0, high=1.0)
        self.anneal_strategy = check_choice(anneal_strategy, "anneal_strategy", ("cos", "linear"))
        self.div_factor = check_real(div_factor, "div_factor", low=0.0, low_open=True)
        self.final_div_factor = check_real(
            final_div_factor, "final_div_factor", low=0.0, low_open=True
        )
        self.three_phase = three_phase = check_bool(three_phase, "three_phase")
        initial = self.max_lr / self.div_factor
        minimum = initial / self.final_div_factor
        up_end = float(self.pct_start * self.total_steps) - 1
        if three_phase:
            down_end = float(2 * self.pct_start * self.total_steps) - 2
            phases = [(up_end, initial, self.max_lr), (down_end, self.max_lr, initial)]
            phases.append((self.total_steps - 1, initial, minimum))
        else:
            phases = [(up_end, initial, self.max_lr), (self.total_steps - 1, self.max_lr, minimum)]
        self._phases = phases  # (end step, lr at its start, lr at its end)

    def lr_at(self, t: int) -> float:
        if t > self.total_steps:
            raise fail("t", f"at most total_steps={self.total_steps}", t)
        start_step = 0.0
        for i, (end_step, start_lr, end_lr) in enumerate(self._phases):
            if t <= end_step or i == len(self._phases) - 1:
                # a phase of zero length (pct_start * total_steps == 1) is already at its end
                span = end_step - start_step
                fraction = (t - start_step) / span if span > 0 else 1.0
                if self.anneal_strategy == "cos":
                    return _cosine(start_lr, end_lr, fraction)
                return (end_lr - start_lr) * fraction + start_lr
            start_step = end_step
        raise AssertionError("unreachable: the last phase always matches")


class SequentialLR(Schedule):
    """Chain schedules: ``schedulers[i]`` runs from ``milestones[i-1]``, restarted at 0.

    ``sched(t) = schedulers[i](t - milestones[i-1])`` for ``milestones[i-1] <= t <
    milestones[i]`` (torch's ``SequentialLR``); e.g. ``LinearLR`` warmup then
    ``CosineAnnealingLR``. ``milestones`` are strictly increasing positive integers,
    one fewer than the schedules.
    """

    def __init__(self, schedulers: Sequence[Schedule], milestones: Sequence[int]) -> None:
        if isinstance(schedulers, Schedule) or not isinstance(schedulers, Sequence):
            raise fail_type("schedulers", "a list of schedules", schedulers)
        if not schedulers or not all(isinstance(s, Schedule) for s in schedulers):
            raise fail("schedulers", "a non-empty list of Schedule objects", schedulers)
        if isinstance(milestones, str | bytes) or not isinstance(milestones, Sequence):
            raise fail_type("milestones", "a list of step numbers", milestones)
        milestones = [check_int(m, "milestones", low=1) for m in milestones]
        if len(milestones) != len(schedulers) - 1:
            raise fail(
                "milestones",
                f"{len(schedulers) - 1} values (one fewer than the schedules)",
                milestones,
            )
        if any(b <= a for a, b in zip(milestones[:-1], milestones[1:], strict=False)):
            raise fail("milestones", "strictly increasing", milestones)
        self.schedulers = list(schedulers)
        self.milestones = milestones

    def lr_at(self, t: int) -> float:
        start = 0
        for sched, milestone in zip(self.schedulers, [*self.milestones, math.inf], strict=False):
            if t < milestone:
                return sched.lr_at(t - start)
            start = milestone
        raise AssertionError("unreachable: the last milestone is infinite")
