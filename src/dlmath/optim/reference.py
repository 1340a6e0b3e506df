"""The independent reference: the same trajectory run by ``torch.optim``.

:func:`compare_with_torch` runs one of our optimizers and the ``torch.optim`` class of
the same name from the same start on a deterministic, state-dependent gradient field
(a noisy quadratic pull, so rounding differences do not grow), and returns the largest
relative difference of the parameters over the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from dlmath._checks import check_choice, check_int, check_seed, fail_type
from dlmath.backprop.gradcheck import relative_error
from dlmath.optim.optimizers import OPTIMIZERS
from dlmath.optim.schedules import OneCycleLR, Schedule, SequentialLR

__all__ = ["compare_with_torch", "max_rel_diff", "pull_gradient", "torch_schedule_values"]


def max_rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    """``max|a - b| / max(|a|, |b|)``, that is :func:`dlmath.backprop.relative_error`."""
    return relative_error(a, b)


def pull_gradient(p: np.ndarray, t: int, index: int) -> np.ndarray:
    """A gradient that depends on the parameter and the step: ``c (p - 0.3) + 0.1 sin(t + k)``.

    ``c`` in [0.5, 2] varies per entry (an ill-conditioned pull towards 0.3), the sine
    term varies per step and entry ``k``, so every update rule sees changing signs.
    """
    k = np.arange(p.size, dtype=p.dtype).reshape(p.shape)
    c = 0.5 + 1.5 * ((k * 0.618 + index * 0.3) % 1.0)
    return c * (p - 0.3) + 0.1 * np.sin(t + k + index)


def compare_with_torch(
    name: str,
    shapes: Sequence[tuple[int, ...]] = ((3, 4), (5,), (2, 3, 2)),
    steps: int = 500,
    *,
    seed: int = 0,
    dtype: Any = np.float64,
    **hyper: Any,
) -> float:
    """Max relative parameter difference, ours vs ``torch.optim.<name>``, over ``steps`` steps."""
    check_choice(name, "name", tuple(OPTIMIZERS))
    steps = check_int(steps, "steps", low=1)
    rng = np.random.default_rng(check_seed(seed))
    if isinstance(shapes, str | bytes) or not isinstance(shapes, Sequence) or not shapes:
        raise fail_type("shapes", "a non-empty list of parameter shapes", shapes)
    try:
        shapes = [tuple(check_int(d, "shapes", low=1) for d in s) for s in shapes]
    except TypeError:
        expected = "a list of shapes (tuples of positive integers)"
        raise fail_type("shapes", expected, shapes) from None
    start = [rng.standard_normal(s).astype(dtype) for s in shapes]
    ours = [p.copy() for p in start]
    opt = OPTIMIZERS[name](ours, **hyper)
    theirs = [torch.tensor(p, requires_grad=True) for p in start]
    ref = getattr(torch.optim, name)(theirs, foreach=False, **hyper)
    worst = 0.0
    for t in range(steps):
        opt.step([pull_gradient(p, t, i) for i, p in enumerate(ours)])
        for i, p in enumerate(theirs):
            p.grad = torch.from_numpy(pull_gradient(p.detach().numpy(), t, i))
        ref.step()
        for a, b in zip(ours, theirs, strict=True):
            worst = max(worst, max_rel_diff(a, b.detach().numpy()))
    return worst


def _torch_scheduler(sched: Schedule, opt: torch.optim.Optimizer):
    from torch.optim import lr_scheduler

    if isinstance(sched, SequentialLR):
        subs = [_torch_scheduler(s, opt) for s in sched.schedulers]
        return lr_scheduler.SequentialLR(opt, subs, list(sched.milestones))
    kwargs = {k: v for k, v in sched._args().items() if k != "base_lr"}
    return getattr(lr_scheduler, type(sched).__name__)(opt, **kwargs)


def torch_schedule_values(sched: Schedule, n: int) -> np.ndarray:
    """The lr of each of ``n`` optimizer steps under the ``torch.optim.lr_scheduler`` twin.

    Steps a dummy ``torch.optim.SGD`` (momentum 0.9, so OneCycleLR may cycle momentum)
    in torch's order: ``optimizer.step()`` then ``scheduler.step()``. For a
    :class:`SequentialLR` the optimizer's lr is the first schedule's ``base_lr``.
    """
    if not isinstance(sched, Schedule):
        raise fail_type("sched", "a dlmath.optim.schedules schedule", sched)
    first = sched.schedulers[0] if isinstance(sched, SequentialLR) else sched
    base = first.max_lr if isinstance(first, OneCycleLR) else first.base_lr
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=base, momentum=0.9)
    torch_sched = _torch_scheduler(sched, opt)
    out = []
    for _ in range(check_int(n, "n", low=0)):
        out.append(opt.param_groups[0]["lr"])
        opt.step()  # no gradient: a no-op that keeps torch's call-order check quiet
        torch_sched.step()
    return np.array(out, dtype=np.float64)
