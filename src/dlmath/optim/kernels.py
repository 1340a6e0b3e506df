"""The optimizers' update kernels, UNCHECKED: a namespace for callers that validated already.

These are the in-place rules of :mod:`dlmath.optim.rules` (``sgd_update``,
``adam_update``, ``rmsprop_update``, ``adagrad_update`` and their pieces). They check
nothing: wrong shapes broadcast or fail inside NumPy, ``eps=0`` divides by zero, NaN
gradients are written into the parameters. The optimizer classes (:class:`~dlmath.optim.Adam`
and the others) validate every argument and then call these; use the classes, or
:func:`dlmath.optim.adam_step` (checked, pure), unless you need the raw kernel in a loop
you have validated yourself.
"""

from dlmath.optim.rules import (
    adagrad_update,
    adam_update,
    decayed_grad,
    ema,
    ema_square,
    rmsprop_update,
    sgd_update,
)

__all__ = [
    "adagrad_update",
    "adam_update",
    "decayed_grad",
    "ema",
    "ema_square",
    "rmsprop_update",
    "sgd_update",
]
