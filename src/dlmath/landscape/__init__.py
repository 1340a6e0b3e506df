"""Loss landscapes of any ``torch.nn.Module``: slices, trajectories, critical points, Hessians.

>>> from dlmath.landscape import random_direction, loss_surface       # doctest: +SKIP
>>> d1, d2 = random_direction(model, seed=1), random_direction(model, seed=2)
>>> Z = loss_surface(model, F.cross_entropy, X, y, (d1, d2), alphas, betas)

Nothing here modifies the caller's model (except :func:`train_with_snapshots`, which
trains it): losses and Hessian-vector products go through ``torch.func.functional_call``
on copies of the weights.
"""

from dlmath.landscape._ray import RayWorkers
from dlmath.landscape.critical import (
    KINDS,
    CriticalPoint,
    classify_critical_point,
    find_critical_points,
    flat_mask,
    grid_values,
    slice_function,
)
from dlmath.landscape.directions import (
    NORMALIZATIONS,
    PCADirections,
    pca_directions,
    random_direction,
)
from dlmath.landscape.hessian import (
    HessianEigs,
    HessianOperator,
    TraceEstimate,
    hessian_eigs,
    hessian_trace,
    lanczos,
)
from dlmath.landscape.reference import (
    dense_hessian,
    fd_hessian_error,
    model_state,
    pointwise_loss,
    same_state,
    write_weights,
)
from dlmath.landscape.runs import Run, plane_grid, train_runs
from dlmath.landscape.surface import (
    GridPointError,
    NonFiniteLossWarning,
    WorkerLostError,
    loss_interpolation,
    loss_line,
    loss_points,
    loss_surface,
)
from dlmath.landscape.training import (
    Snapshots,
    parameter_views,
    snapshot,
    train_with_snapshots,
)

__all__ = [
    "Run",
    "dense_hessian",
    "fd_hessian_error",
    "model_state",
    "plane_grid",
    "pointwise_loss",
    "same_state",
    "train_runs",
    "write_weights",
    "KINDS",
    "NORMALIZATIONS",
    "CriticalPoint",
    "GridPointError",
    "HessianEigs",
    "HessianOperator",
    "NonFiniteLossWarning",
    "PCADirections",
    "RayWorkers",
    "Snapshots",
    "TraceEstimate",
    "WorkerLostError",
    "classify_critical_point",
    "find_critical_points",
    "flat_mask",
    "grid_values",
    "hessian_eigs",
    "hessian_trace",
    "lanczos",
    "loss_interpolation",
    "loss_line",
    "loss_points",
    "loss_surface",
    "parameter_views",
    "pca_directions",
    "random_direction",
    "slice_function",
    "snapshot",
    "train_with_snapshots",
]


def __getattr__(name: str):
    # deprecated: landscape.Trajectory is now Snapshots (warns, names the replacement)
    from dlmath.landscape import training

    return training.__getattr__(name)
