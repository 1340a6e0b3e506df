"""Hessian spectra of a model's loss without forming the Hessian: Lanczos and Hutchinson.

Both only need Hessian-vector products ``H v`` (``H = d^2 L / d theta^2``, n x n for n
parameters), computed by double backward: with ``g = dL/dtheta`` built with
``create_graph=True``, ``H v = d(g . v)/dtheta``. That costs about two backward passes
and never stores an n x n matrix.

Lanczos builds an orthonormal basis ``Q_m = [q_1 .. q_m]`` of the Krylov space
``span(v, Hv, .., H^{m-1} v)`` in which ``Q_m^T H Q_m = T_m`` is tridiagonal (diagonal
``alpha_j = q_j . H q_j``, off-diagonal ``beta_j``). The eigenvalues of ``T_m`` (Ritz
values) converge to the extreme eigenvalues of ``H`` first; Ritz pair ``(theta_i, Q s_i)``
has residual ``||H Q s_i - theta_i Q s_i|| = beta_m |s_i[m]|``, the stopping test.

The model is read, never written: the parameters are cloned into fresh leaf tensors and
the loss is evaluated with ``torch.func.functional_call``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from dlmath._checks import check_choice, check_int, check_real, check_seed, fail, fail_type
from dlmath._results import ArrayResult
from dlmath.landscape._params import (
    as_data,
    batch_slices,
    buffers_copy,
    check_eval_mode,
    check_loss_fn,
    flatten,
    model_parameters,
    trainable_parameters,
    unflatten,
)

__all__ = [
    "HessianEigs",
    "HessianOperator",
    "TraceEstimate",
    "hessian_eigs",
    "hessian_trace",
    "lanczos",
]

WHICH = ("LM", "LA", "SA")


class HessianOperator:
    """``v -> H v`` for the full-data loss of ``model`` at its current parameters.

    ``H v = sum_b (N_b / N) H_b v`` over mini-batches (exact for a batch-mean loss). With a
    single batch the gradient graph is built once and reused for every product.
    ``matvec`` takes and returns flat float64 vectors of length ``n``.

    ``H`` is the Hessian w.r.t. the *trainable* parameters (``requires_grad``; frozen ones
    are constants, and ``n`` counts only the trainable entries). A parameter the loss does
    not use has zero rows and columns; a loss linear in the parameters has ``H = 0``. The
    model must be in eval mode if it has Dropout or BatchNorm layers (else the loss is
    random or batch-dependent): ``model.eval()``.

    A model with a NaN or inf parameter is refused by name (``model``); a loss that is
    not finite, or whose ``H v`` is not, raises naming ``loss_fn`` (``X`` and ``y`` are
    checked finite on the way in), so no NaN ever reaches Lanczos or Hutchinson.
    """

    def __init__(
        self, model: nn.Module, loss_fn: Callable, X: Any, y: Any, *, batch_size: int | None = None
    ) -> None:
        named = model_parameters(model)
        bad = [n for n, p in named if not bool(torch.isfinite(p.detach()).all())]
        if bad:
            raise fail(
                "model", "a module with finite parameters", f"NaN or inf in {bad}", described=True
            )
        self.loss_fn = check_loss_fn(loss_fn)
        check_eval_mode(model)
        self.model = model
        self.trainable = trainable_parameters(named)
        self.names = [n for n, _ in named]
        # fresh leaves: gradients land on these, never on the model's parameters
        self.all_params = [p.detach().clone() for _, p in named]
        self.theta = [self.all_params[i].requires_grad_(True) for i in self.trainable]
        self.shapes = [tuple(p.shape) for _, p in named]
        self.buffers = buffers_copy(model)
        self.X, self.y = as_data(X, y, self.theta[0])
        self.slices = list(batch_slices(len(self.X), batch_size))
        self.n = sum(p.numel() for p in self.theta)
        self.n_products = 0
        self._cached = None

    def __repr__(self) -> str:
        return (
            f"HessianOperator(n={self.n}, rows={len(self.X)}, batches={len(self.slices)}, "
            f"products={self.n_products})"
        )

    def _grads(self, sl: slice) -> tuple[torch.Tensor, ...]:
        params = dict(zip(self.names, self.all_params, strict=True))
        out = functional_call(self.model, {**params, **self.buffers}, (self.X[sl],))
        loss = self.loss_fn(out, self.y[sl])
        if not (isinstance(loss, torch.Tensor) and loss.numel() == 1):
            raise fail("loss_fn", "a callable returning a scalar tensor", loss)
        if not bool(torch.isfinite(loss.detach()).all()):
            raise fail(
                "loss_fn",
                "a callable returning a finite loss at the model's parameters",
                f"loss {float(loss.detach().reshape(())):g}",
                described=True,
            )
        if not loss.requires_grad:  # the loss does not depend on the parameters at all
            return tuple(torch.zeros_like(t) for t in self.theta)
        grads = torch.autograd.grad(loss, self.theta, create_graph=True, allow_unused=True)
        # an unused parameter has gradient 0 (and so zero Hessian rows)
        pairs = zip(grads, self.theta, strict=True)
        return tuple(torch.zeros_like(t) if g is None else g for g, t in pairs)

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """``H v`` for a flat float64 vector ``v`` of length ``n`` (float64 result)."""
        vs = unflatten(v.to(self.theta[0].dtype), self.theta)
        total = torch.zeros(self.n, dtype=torch.float64)
        single = len(self.slices) == 1
        with torch.enable_grad():
            for sl in self.slices:
                if single and self._cached is None:
                    self._cached = self._grads(sl)
                g = self._cached if single else self._grads(sl)
                live = [i for i, gi in enumerate(g) if gi.requires_grad]
                if not live:  # the gradient is constant: a loss linear in theta, H = 0
                    continue
                Hv_live = torch.autograd.grad(
                    [g[i] for i in live],
                    self.theta,
                    [vs[i] for i in live],
                    retain_graph=single,
                    allow_unused=True,
                )
                pairs = zip(Hv_live, self.theta, strict=True)
                Hv = [torch.zeros_like(t) if h is None else h for h, t in pairs]
                total += (sl.stop - sl.start) / len(self.X) * flatten(Hv).double()
        if not bool(torch.isfinite(total).all()):
            raise fail(
                "loss_fn",
                "a loss with finite Hessian-vector products at the model's parameters",
                "NaN or inf in H v",
                described=True,
            )
        self.n_products += 1
        return total

    def full_vector(self, v: torch.Tensor) -> list[torch.Tensor]:
        """A flat vector of the trainable entries as a list shaped like *all* parameters
        (zero blocks for frozen ones), in the model's dtype."""
        parts = unflatten(v, self.theta)
        out = [torch.zeros(s, dtype=self.theta[0].dtype) for s in self.shapes]
        for i, part in zip(self.trainable, parts, strict=True):
            out[i] = part.to(self.theta[0].dtype)
        return out

    def dense(self) -> torch.Tensor:
        """The full n x n Hessian as ``[H e_1, .., H e_n]`` (small models only: n products)."""
        eye = torch.eye(self.n, dtype=torch.float64)
        return torch.stack([self.matvec(e) for e in eye], dim=1)


@dataclass(frozen=True)
class HessianEigs(ArrayResult):
    """Eigenvalues of the Hessian (order of ``which``), eigenvectors shaped like the parameters.

    ``residuals[i] = ||H u_i - lambda_i u_i||`` (unit ``u_i``); ``n_products`` Hessian-vector
    products were used; ``converged`` says every residual met ``tol * |lambda_i|``.
    """

    _array_field: ClassVar[str] = "eigenvalues"

    eigenvalues: np.ndarray
    eigenvectors: list[list[torch.Tensor]] = field(repr=False)
    residuals: np.ndarray
    n_products: int
    converged: bool
    which: str = "LM"

    def __repr__(self) -> str:
        vals = np.array2string(self.eigenvalues, precision=6)
        return (
            f"HessianEigs(eigenvalues={vals}, which={self.which!r}, "
            f"n_products={self.n_products}, converged={self.converged})"
        )


def _select(ritz: np.ndarray, k: int, which: str) -> np.ndarray:
    """Indices of the k wanted Ritz values, in output order."""
    if which == "LM":
        return np.argsort(-np.abs(ritz), kind="stable")[:k]
    if which == "LA":
        return np.argsort(-ritz, kind="stable")[:k]
    return np.argsort(ritz, kind="stable")[:k]


def lanczos(
    matvec: Callable[[torch.Tensor], torch.Tensor],
    n: int,
    k: int,
    *,
    which: str = "LM",
    tol: float = 1e-6,
    max_iter: int | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, torch.Tensor, np.ndarray, bool]:
    """k eigenpairs of a symmetric operator by Lanczos with full reorthogonalization.

    Returns ``(eigenvalues (k,), eigenvectors (n, k) float64, residuals (k,), converged)``.
    Full reorthogonalization (twice, classical Gram-Schmidt) keeps ``Q`` orthonormal so no
    spurious copies of converged eigenvalues appear.
    """
    if not callable(matvec):
        raise fail_type("matvec", "a callable v -> H v on flat float64 tensors", matvec)
    n = check_int(n, "n", low=1)
    return _lanczos(matvec, n, *_lanczos_options(n, k, which, tol, max_iter, seed))


def _lanczos_options(
    n: int, k: int, which: str, tol: float, max_iter: int | None, seed: int
) -> tuple[int, str, float, int | None, int]:
    """The checked ``(k, which, tol, max_iter, seed)`` of a Lanczos run on an n x n operator."""
    k = check_int(k, "k", low=1, high=n)
    which = check_choice(which, "which", WHICH)  # "XX" used to mean "SA" silently
    tol = check_real(tol, "tol", low=0.0, low_open=True)
    if max_iter is not None:
        max_iter = check_int(max_iter, "max_iter", low=k)
    return k, which, tol, max_iter, check_seed(seed)


def _lanczos(
    matvec: Callable[[torch.Tensor], torch.Tensor],
    n: int,
    k: int,
    which: str,
    tol: float,
    max_iter: int | None,
    seed: int,
) -> tuple[np.ndarray, torch.Tensor, np.ndarray, bool]:
    """:func:`lanczos` on arguments already checked by :func:`_lanczos_options`."""
    m_max = n if max_iter is None else min(max_iter, n)
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(n, generator=gen, dtype=torch.float64)
    Q = torch.empty(m_max, n, dtype=torch.float64)
    # imported here, not at the top: scipy.linalg adds 0.16 s to `import dlmath.landscape`,
    # which every Ray worker pays at start-up, and only Lanczos needs it
    from scipy.linalg import eigh_tridiagonal

    Q[0] = q / torch.linalg.vector_norm(q)
    alpha: list[float] = []
    beta: list[float] = []
    for j in range(m_max):
        w = matvec(Q[j])
        if not isinstance(w, torch.Tensor) or tuple(w.shape) != (n,):
            raise fail("matvec", f"a callable returning a tensor of shape ({n},)", w)
        w = w.to(torch.float64)
        if not bool(torch.isfinite(w).all()):
            raise fail("matvec", "a callable returning finite values", "NaN or inf", described=True)
        alpha.append(float(w @ Q[j]))
        for _ in range(2):  # w <- (I - Q Q^T) w, twice for stability
            w = w - Q[: j + 1].T @ (Q[: j + 1] @ w)
        b = float(torch.linalg.vector_norm(w))
        ritz, S = eigh_tridiagonal(np.array(alpha), np.array(beta))
        idx = _select(ritz, min(k, j + 1), which)
        res = b * np.abs(S[-1, idx])
        done = len(idx) == k and bool(np.all(res <= tol * np.maximum(np.abs(ritz[idx]), 1e-12)))
        if done or j + 1 == m_max:
            vectors = Q[: j + 1].T @ torch.as_tensor(S[:, idx])
            return ritz[idx], vectors, res, done
        if b <= 1e-10 * max(float(np.abs(ritz).max()), 1e-300) or b == 0.0:
            # The Krylov space is invariant (H has fewer distinct eigenvalues than steps
            # taken): carry on in its orthogonal complement from a fresh random vector.
            w = torch.randn(n, generator=gen, dtype=torch.float64)
            for _ in range(2):
                w = w - Q[: j + 1].T @ (Q[: j + 1] @ w)
            b_next, w = 0.0, w / torch.linalg.vector_norm(w)
        else:
            b_next, w = b, w / b
        beta.append(b_next)
        Q[j + 1] = w
    raise AssertionError("unreachable")  # pragma: no cover


def hessian_eigs(
    model: nn.Module,
    loss_fn: Callable,
    X: Any,
    y: Any,
    k: int = 1,
    *,
    which: str = "LM",
    tol: float = 1e-6,
    max_iter: int | None = 300,
    batch_size: int | None = None,
    seed: int = 0,
) -> HessianEigs:
    """Top-k eigenvalues of the loss Hessian at the model's parameters, by Lanczos on ``H v``.

    which : ``"LM"`` largest magnitude (sorted by decreasing ``|lambda|``), ``"LA"`` largest
        (decreasing), ``"SA"`` smallest (increasing).
    tol : stop when every wanted Ritz pair has ``||H u - lambda u|| <= tol |lambda|``
        (this bounds the eigenvalue's relative error by ``tol``).
    max_iter : at most this many products (Lanczos steps); ``None`` allows n.
    seed : seeds the start vector (a private generator).
    """
    op = HessianOperator(model, loss_fn, X, y, batch_size=batch_size)
    k, which, tol, max_iter, seed = _lanczos_options(op.n, k, which, tol, max_iter, seed)
    values, vectors, res, converged = _lanczos(op.matvec, op.n, k, which, tol, max_iter, seed)
    eigvecs = [op.full_vector(vectors[:, i]) for i in range(k)]
    return HessianEigs(values, eigvecs, res, op.n_products, converged, which)


@dataclass(frozen=True)
class TraceEstimate:
    """Hutchinson estimate of ``tr(H)``: mean of ``z^T H z`` over Rademacher ``z``, with stderr."""

    estimate: float
    stderr: float
    n_samples: int

    def __repr__(self) -> str:
        return (
            f"TraceEstimate({self.estimate:.6g} +- {self.stderr:.2g}, n_samples={self.n_samples})"
        )


def hessian_trace(
    model: nn.Module,
    loss_fn: Callable,
    X: Any,
    y: Any,
    n_samples: int = 100,
    *,
    batch_size: int | None = None,
    seed: int = 0,
) -> TraceEstimate:
    """Hutchinson's estimator ``tr(H) ~ (1/S) sum_s z_s^T H z_s``, ``z_s`` uniform in {-1, +1}^n.

    Unbiased because ``E[z z^T] = I``; the standard error is ``std(z^T H z) / sqrt(S)``.
    """
    op = HessianOperator(model, loss_fn, X, y, batch_size=batch_size)
    n_samples = check_int(n_samples, "n_samples", low=2)
    gen = torch.Generator().manual_seed(check_seed(seed))
    samples = np.empty(n_samples)
    for s in range(n_samples):
        z = torch.randint(0, 2, (op.n,), generator=gen, dtype=torch.float64) * 2 - 1
        samples[s] = float(z @ op.matvec(z))
        if not np.isfinite(samples[s]):  # a finite H v can still overflow z^T H z
            raise fail("loss_fn", "a loss with a finite z^T H z", samples[s])
    return TraceEstimate(
        float(samples.mean()), float(samples.std(ddof=1) / np.sqrt(n_samples)), n_samples
    )
