"""Optimizers from scratch with ``torch.optim`` semantics, schedules, test functions, theory.

>>> import numpy as np
>>> from dlmath.optim import Adam
>>> w = np.ones(3)
>>> opt = Adam([w], lr=0.1)
>>> opt.step([np.array([1.0, -1.0, 0.0])])
>>> w
array([0.9, 1.1, 1. ])
"""

from dlmath._checks import deprecated_attributes
from dlmath.optim import kernels, schedules
from dlmath.optim.functions import (
    FUNCTIONS,
    Function2D,
    beale,
    himmelblau,
    quadratic,
    rastrigin,
    rosenbrock,
    saddle,
)
from dlmath.optim.minimize import Trajectory, lr_sweep, minimize, steps_to_tolerance
from dlmath.optim.optimizers import (
    OPTIMIZERS,
    SGD,
    Adagrad,
    Adam,
    AdamW,
    Optimizer,
    RMSprop,
    State,
)
from dlmath.optim.reference import compare_with_torch, max_rel_diff, torch_schedule_values
from dlmath.optim.rules import adam_step
from dlmath.optim.theory import (
    RateResult,
    gd_optimal,
    heavy_ball_optimal,
    measure_rates,
    measured_rate,
)

__all__ = [
    "FUNCTIONS",
    "OPTIMIZERS",
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "Function2D",
    "Optimizer",
    "RMSprop",
    "RateResult",
    "State",
    "Trajectory",
    "adam_step",
    "beale",
    "compare_with_torch",
    "gd_optimal",
    "heavy_ball_optimal",
    "himmelblau",
    "lr_sweep",
    "max_rel_diff",
    "measure_rates",
    "measured_rate",
    "minimize",
    "quadratic",
    "rastrigin",
    "rosenbrock",
    "kernels",
    "saddle",
    "schedules",
    "steps_to_tolerance",
    "torch_schedule_values",
]

# The raw kernels left the checked API for the `kernels` namespace (documented as unchecked).
__getattr__ = deprecated_attributes(
    __name__,
    {
        name: (
            f"dlmath.optim.kernels.{name} (unchecked) or an optimizer class",
            lambda name=name: getattr(kernels, name),
        )
        for name in ("adagrad_update", "adam_update", "rmsprop_update", "sgd_update")
    },
)
