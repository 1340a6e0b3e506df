"""The module's milestone checklist (module 1.3), in one place.

Each line names the labs whose checks give its evidence. The labs (``labN.MILESTONES``),
the report's checklist and the learner's ``dlmath check`` all read it from here.
"""

from __future__ import annotations

__all__ = ["MODULE_MILESTONES", "milestones_of"]

#: The checklist lines, each with the labs whose checks are its evidence.
MODULE_MILESTONES: list[tuple[str, tuple[int, ...]]] = [
    ("Manual backprop implementation matches autograd within 1e-6", (1,)),
    ("Three optimizers (SGD, Momentum, Adam) implemented", (2,)),
    ("Convergence comparison plot created", (2,)),
    ("2D and 3D loss landscape visualizations complete", (3,)),
    ("SVD decomposition notebook with LoRA explanation", (4,)),
    ("Cross-entropy derived from maximum likelihood", (5,)),
    ("All concepts connected to neural network applications", (1, 2, 3, 4, 5)),
]

_ALL_LABS = (1, 2, 3, 4, 5)


def milestones_of(lab: int) -> list[str]:
    """The checklist lines that lab ``lab`` alone answers (the shared last line excluded)."""
    return [line for line, labs in MODULE_MILESTONES if labs == (lab,)]
