r"""Convergence rates on quadratics: theory, and the rates our optimizers actually achieve.

On $f(x) = \tfrac12 x^\top A x$ with eigenvalues in $[\lambda_{\min}, \lambda_{\max}]$ and
$\kappa = \lambda_{\max}/\lambda_{\min}$ (Goh, "Why Momentum Really Works", Distill 2017):

- gradient descent $x_{k+1} = x_k - \alpha A x_k$ multiplies the error along eigenvalue
  $\lambda$ by $1 - \alpha\lambda$; the best step $\alpha^* = 2/(\lambda_{\min} + \lambda_{\max})$
  gives the rate $\max_\lambda |1 - \alpha^*\lambda| = (\kappa - 1)/(\kappa + 1)$;
- heavy ball $x_{k+1} = x_k - \alpha A x_k + \beta (x_k - x_{k-1})$ with
  $\alpha^* = \big(2/(\sqrt{\lambda_{\min}} + \sqrt{\lambda_{\max}})\big)^2$ and
  $\beta^* = \big((\sqrt\kappa - 1)/(\sqrt\kappa + 1)\big)^2$ converges at
  $\sqrt{\beta^*} = (\sqrt\kappa - 1)/(\sqrt\kappa + 1)$.

Heavy ball is exactly ``SGD(lr=alpha, momentum=beta)`` (torch's buffer form
$b_k = \beta b_{k-1} + g_k$, $x_{k+1} = x_k - \alpha b_k$), so the measurement runs our
optimizer class through :func:`~dlmath.optim.minimize.minimize`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import numpy as np

from dlmath._checks import as_float_array, check_int, check_real, fail
from dlmath.optim.functions import quadratic
from dlmath.optim.minimize import Trajectory, minimize
from dlmath.optim.optimizers import SGD

__all__ = ["RateResult", "gd_optimal", "heavy_ball_optimal", "measure_rates", "measured_rate"]


def _check_spectrum(lmin: float, lmax: float) -> tuple[float, float]:
    lmin = check_real(lmin, "lmin", low=0.0, low_open=True)
    lmax = check_real(lmax, "lmax", low=0.0, low_open=True)
    if lmax < lmin:
        raise fail("lmax", f"at least lmin={lmin:g}", lmax)
    return lmin, lmax


def gd_optimal(lmin: float, lmax: float) -> tuple[float, float]:
    r"""Gradient descent's best step and rate.

    $\alpha^* = 2/(\lambda_{\min}+\lambda_{\max})$, rate $(\kappa-1)/(\kappa+1)$.
    """
    lmin, lmax = _check_spectrum(lmin, lmax)
    kappa = lmax / lmin
    return 2.0 / (lmin + lmax), (kappa - 1) / (kappa + 1)


def heavy_ball_optimal(lmin: float, lmax: float) -> tuple[float, float, float]:
    r"""Heavy ball's best (step, momentum, rate): $(\alpha^*, \beta^*, \sqrt{\beta^*})$."""
    lmin, lmax = _check_spectrum(lmin, lmax)
    sk = math.sqrt(lmax / lmin)
    alpha = (2.0 / (math.sqrt(lmin) + math.sqrt(lmax))) ** 2
    rate = (sk - 1) / (sk + 1)
    return alpha, rate**2, rate


def measured_rate(errors: np.ndarray, start_fraction: float = 0.5) -> float:
    r"""Average per-step contraction $(e_K / e_j)^{1/(K-j)}$ over the run's tail.

    ``j = start_fraction * K``: skipping the start removes the transient (for heavy ball
    at the optimum, a Jordan block makes $e_k \propto k\,r^k$, whose effect on the tail
    estimate shrinks as $2^{1/(K/2)}$).
    """
    errors = as_float_array(errors, "errors", ndim=1)
    start_fraction = check_real(start_fraction, "start_fraction", low=0.0, high=1.0, high_open=True)
    K = len(errors) - 1
    j = int(start_fraction * K)
    if K - j < 1 or errors[j] <= 0 or errors[K] <= 0:
        raise fail("errors", "at least 2 positive values in the measured tail", errors)
    return float((errors[K] / errors[j]) ** (1.0 / (K - j)))


@dataclass(repr=False)
class RateResult:
    """Theory vs measurement for one condition number ``kappa``."""

    kappa: float
    gd_theory: float
    gd_measured: float
    hb_theory: float
    hb_measured: float
    gd: Trajectory
    hb: Trajectory

    @property
    def max_rel_deviation(self) -> float:
        return max(
            abs(self.gd_measured - self.gd_theory) / self.gd_theory,
            abs(self.hb_measured - self.hb_theory) / self.hb_theory,
        )

    def __repr__(self) -> str:
        return (
            f"RateResult(kappa={self.kappa:g}, GD {self.gd_measured:.5f} vs {self.gd_theory:.5f}, "
            f"heavy ball {self.hb_measured:.5f} vs {self.hb_theory:.5f})"
        )


def measure_rates(
    kappa: float, *, lmin: float = 1.0, reduction: float = 1e-100, max_steps: int = 5000
) -> RateResult:
    """Run GD and heavy ball at their optimal settings on :func:`quadratic` (``kappa``).

    Each run stops when the gradient norm has dropped by ``reduction`` (or after
    ``max_steps``); the rate is :func:`measured_rate` of the distance to the minimum.
    """
    kappa = check_real(kappa, "kappa", low=1.0, high=1e12, low_open=True)  # GD needs ~kappa steps
    lmin = check_real(lmin, "lmin", low=1e-150, high=1e150)
    reduction = check_real(reduction, "reduction", low=0.0, high=1.0, low_open=True, high_open=True)
    max_steps = check_int(max_steps, "max_steps", low=2)
    fn = quadratic(kappa, lmin=lmin)
    lr_gd, rate_gd = gd_optimal(lmin, kappa * lmin)
    lr_hb, beta, rate_hb = heavy_ball_optimal(lmin, kappa * lmin)
    tol = reduction * float(np.linalg.norm(fn.grad(fn.x0)))
    runs = {}
    for name, make in (
        ("gd", partial(SGD, lr=lr_gd)),
        ("hb", partial(SGD, lr=lr_hb, momentum=beta)),
    ):
        runs[name] = minimize(fn.f, fn.grad, fn.x0, make, max_steps, tol=tol)
    gd_rate = measured_rate(fn.distance_to_minimum(runs["gd"].points))
    hb_rate = measured_rate(fn.distance_to_minimum(runs["hb"].points))
    return RateResult(kappa, rate_gd, gd_rate, rate_hb, hb_rate, runs["gd"], runs["hb"])
