"""Run an optimizer on a function of a vector and record the trajectory.

:func:`minimize` never returns NaN: when the loss, gradient or point becomes non-finite,
or the loss explodes, it stops and says so in ``status`` (``"diverged"``) and
``message``; the trajectory holds only the finite steps before it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from dlmath._checks import as_float_array, check_int, check_real, fail, fail_type
from dlmath.optim.optimizers import Optimizer

__all__ = ["Trajectory", "lr_sweep", "minimize", "steps_to_tolerance"]

STATUSES = ("converged", "max_steps", "diverged")


@dataclass(repr=False)
class Trajectory:
    """Points ``(k+1, d)``, losses ``(k+1,)``, gradient norms ``(k+1,)`` from x0 to the end.

    ``status`` is ``"converged"`` (gradient norm <= tol), ``"max_steps"`` or
    ``"diverged"``; ``message`` says why it stopped.
    """

    points: np.ndarray
    losses: np.ndarray
    grad_norms: np.ndarray
    status: str
    message: str

    @property
    def steps(self) -> int:
        return len(self.points) - 1

    @property
    def x(self) -> np.ndarray:
        """The last point."""
        return self.points[-1]

    def __repr__(self) -> str:
        return (
            f"Trajectory(steps={self.steps}, status={self.status!r}, "
            f"loss={self.losses[-1]:.4g}, grad_norm={self.grad_norms[-1]:.3g})"
        )


def minimize(
    f: Callable[[np.ndarray], float],
    grad: Callable[[np.ndarray], np.ndarray],
    x0: np.ndarray,
    optimizer: Callable[[list[np.ndarray]], Optimizer],
    steps: int,
    *,
    tol: float = 0.0,
    max_loss: float = 1e12,
    max_norm: float = 1e12,
) -> Trajectory:
    """Minimize ``f`` from ``x0`` with ``optimizer(params)`` for at most ``steps`` steps.

    ``optimizer`` builds the optimizer on a parameter list, e.g. ``partial(Adam, lr=0.1)``
    or ``lambda p: SGD(p, lr=0.01, momentum=0.9)``. ``x0`` (shape (d,)) is copied, never
    modified. Stops early when ``||grad|| <= tol`` (``"converged"``) or when the run
    diverges: a non-finite loss/gradient/point, ``|loss| > max_loss`` or
    ``||x|| > max_norm``.
    """
    x = as_float_array(x0, "x0", ndim=1).astype(np.float64, copy=True)
    steps = check_int(steps, "steps", low=0)
    tol = check_real(tol, "tol", low=0.0)
    if not callable(optimizer):
        raise fail_type("optimizer", "a callable building an Optimizer from [x]", optimizer)
    for name, fn in (("f", f), ("grad", grad)):
        if not callable(fn):
            raise fail_type(name, "a callable of a point x (d,)", fn)
    max_loss = check_real(max_loss, "max_loss", low=0.0, low_open=True)
    max_norm = check_real(max_norm, "max_norm", low=0.0, low_open=True)
    opt = optimizer([x])
    if not hasattr(opt, "step"):
        raise fail_type("optimizer", "a callable returning an object with .step(grads)", opt)
    points = np.empty((steps + 1, x.size))
    losses = np.empty(steps + 1)
    norms = np.empty(steps + 1)
    status, message, k = "max_steps", f"ran all {steps} steps", 0
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is detected, not warned
        for k in range(steps + 1):
            loss, g = _evaluate(f, grad, x)
            g_norm = float(np.sqrt(g @ g))
            problem = _divergence(x, loss, g_norm, max_loss, max_norm)
            if problem:
                status, message = "diverged", f"diverged at step {k}: {problem}"
                break
            points[k], losses[k], norms[k] = x, loss, g_norm
            if g_norm <= tol:
                status, message = "converged", f"gradient norm {g_norm:.3g} <= tol at step {k}"
                k += 1
                break
            if k < steps:
                opt.step([g])
        else:
            k = steps + 1
    return Trajectory(points[:k].copy(), losses[:k].copy(), norms[:k].copy(), status, message)


def _evaluate(f: Callable, grad: Callable, x: np.ndarray) -> tuple[float, np.ndarray]:
    """``f(x)`` as a float and ``grad(x)`` as a (d,) float array, or a named error."""
    try:
        loss = float(f(x))
    except (TypeError, ValueError) as err:
        raise fail_type("f", "a function returning one real number", f"{err}") from None
    try:
        g = np.asarray(grad(x), dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise fail_type("grad", "a function returning a real array (d,)", f"{err}") from None
    if g.shape != x.shape:
        raise fail("grad", f"a function returning an array of shape {x.shape}", g)
    return loss, g


def _divergence(x: np.ndarray, loss: float, g_norm: float, max_loss: float, max_norm: float):
    if not np.isfinite(x).all():
        return "the point is not finite"
    if not np.isfinite(loss) or not np.isfinite(g_norm):
        return f"non-finite loss or gradient (loss={loss}, |grad|={g_norm})"
    if abs(loss) > max_loss:
        return f"|loss| = {abs(loss):.3g} > max_loss = {max_loss:g}"
    if float(np.sqrt(x @ x)) > max_norm:
        return f"|x| > max_norm = {max_norm:g}"
    return ""


def steps_to_tolerance(errors: np.ndarray, tol: float) -> int | None:
    """First step ``k`` with ``errors[k] <= tol`` and staying there; ``None`` if never."""
    errors = as_float_array(errors, "errors", ndim=1, finite=False)
    tol = check_real(tol, "tol", low=0.0)
    above = np.flatnonzero(~(errors <= tol))
    if len(above) == 0:
        return 0
    last = above[-1] + 1
    return int(last) if last < len(errors) else None


def lr_sweep(
    f: Callable,
    grad: Callable,
    x0: np.ndarray,
    make: Callable[..., Optimizer],
    lrs: Sequence[float],
    steps: int,
    error: Callable[[Trajectory], np.ndarray],
    tol: float,
) -> list[dict]:
    """Run ``make(params, lr=lr)`` for each lr; per lr: status, final error, steps to ``tol``.

    ``error(trajectory)`` gives the per-step error (e.g. distance to the minimum). A run
    is *stable* when it did not diverge and its final error is not larger than its first.
    """
    if not callable(make):
        raise fail_type("make", "a callable make(params, lr=lr) -> Optimizer", make)
    if not callable(error):
        raise fail_type("error", "a callable trajectory -> per-step errors", error)
    if isinstance(lrs, str | bytes) or not isinstance(lrs, Sequence | np.ndarray) or not len(lrs):
        raise fail_type("lrs", "a non-empty sequence of learning rates", lrs)
    lrs = [check_real(lr, "lrs", low=0.0) for lr in lrs]
    tol = check_real(tol, "tol", low=0.0)
    rows = []
    for lr in lrs:
        traj = minimize(f, grad, x0, lambda p, lr=lr: make(p, lr=lr), steps)
        err = as_float_array(error(traj), "error", ndim=1, finite=False)
        stable = traj.status != "diverged" and err[-1] <= err[0]
        rows.append(
            {
                "lr": float(lr),
                "status": traj.status,
                "stable": bool(stable),
                "final_error": float(err[-1]) if traj.status != "diverged" else float("inf"),
                "steps_to_tol": steps_to_tolerance(err, tol) if stable else None,
            }
        )
    return rows
