"""Learner mode: exercise notebooks, ``check(fn)``, and feedback that names the mistake.

>>> from dlmath.exercises import check
>>> check(adam_step)            # doctest: +SKIP  (hidden cases vs dlmath's reference)

``EXERCISES`` (:mod:`dlmath.exercises.registry`) declares the 29 exercises of the five labs;
``dlmath exercises`` writes their notebooks and ``dlmath check FILE`` checks a learner's
``.py`` or ``.ipynb``. The learner's code runs in its own limited process
(:mod:`dlmath.exercises.sandbox`); the references and the comparison never do.
"""

# The references' packages load with dlmath.exercises (a notebook's first cell), so the first
# check(fn) does not pay for importing torch; a forked learner process inherits them loaded.
import dlmath.backprop
import dlmath.landscape
import dlmath.lowrank
import dlmath.optim
import dlmath.prob  # noqa: F401
from dlmath.exercises.checking import CheckReport, ExerciseResult, check, check_file, check_learner
from dlmath.exercises.display import plot_convergence, plot_rank_error, plot_surface
from dlmath.exercises.registry import EXERCISES, LAB_TITLES, Exercise

__all__ = [
    "EXERCISES",
    "LAB_TITLES",
    "CheckReport",
    "Exercise",
    "ExerciseResult",
    "check",
    "check_file",
    "check_learner",
    "plot_convergence",
    "plot_rank_error",
    "plot_surface",
]
