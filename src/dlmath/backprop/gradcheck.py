"""Numerical gradients by central differences, and a whole-network gradient check.

Central difference for each element ``i`` of ``x`` (any shape)::

    df/dx_i ~ (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)      error O(eps^2)

Three ways to evaluate the ``2 x.size`` perturbed values, fastest last:

1. ``numerical_gradient(f, x)``: one private working copy of ``x``; each element is
   nudged in place, ``f`` called, and the element restored (the module's version copies
   the whole ``x`` twice per element instead). ``x`` itself is never touched.
2. ``numerical_gradient(f, x, batched=True)``: ``f`` takes a stack (m, *x.shape) and
   returns m values; the perturbed copies are built ``chunk_size`` at a time, so ``f``
   runs once per chunk (one batched matrix product per layer for an MLP) instead of once
   per element.
3. ``mlp_numerical_gradients(mlp, X, y)``: the same central differences of the same
   loss, evaluated with the network's structure. Nudging ``W_l[j, k]`` (or ``b_l[j]``)
   moves only column j of ``Z_l`` (by ``eps * A_{l-1}[:, k]``, or ``eps``), so the layers
   below are not recomputed, and the next layer's pre-activation changes by a rank-one
   term ``dA[:, j] W_{l+1}[:, j].T``. All perturbations of a layer run as stacks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from dlmath._checks import as_float_array, check_int, check_real, fail, fail_type

__all__ = [
    "GradCheck",
    "gradient_check",
    "mlp_numerical_gradients",
    "numerical_gradient",
    "relative_error",
]

_TINY = np.finfo(np.float64).tiny


def relative_error(a: Any, b: Any, tiny: float = _TINY) -> float:
    """``max |a - b| / max(max|a|, max|b|, tiny)``: 0 for equal arrays, ~1 for unrelated ones."""
    a = as_float_array(a, "a", allow_empty=True)
    b = as_float_array(b, "b", allow_empty=True)
    tiny = check_real(tiny, "tiny", low=0.0, low_open=True)
    if a.shape != b.shape:
        raise fail("b", f"of the same shape as 'a' {a.shape}", b)
    if a.size == 0:
        return 0.0
    scale = max(float(np.abs(a).max()), float(np.abs(b).max()), tiny)
    return float(np.abs(a - b).max()) / scale


def _central(f_plus: np.ndarray, f_minus: np.ndarray, eps: float) -> np.ndarray:
    """``(f(x + eps e_i) - f(x - eps e_i)) / (2 eps)``: the one central-difference formula."""
    return (np.asarray(f_plus, dtype=np.float64) - np.asarray(f_minus, dtype=np.float64)) / (
        2.0 * eps
    )


def _scalar(value: Any) -> float:
    v = np.asarray(value)
    if v.dtype.kind not in "biuf":
        raise fail_type("f", "a function returning one real number", value)
    if v.size != 1:
        raise fail("f", "a function returning one number", f"an output of shape {v.shape}")
    v = float(v.reshape(()))
    if not np.isfinite(v):
        raise fail("f", "finite at every perturbed point", v)
    return v


def numerical_gradient(
    f: Callable[[np.ndarray], Any],
    x: Any,
    eps: float = 1e-5,
    *,
    batched: bool = False,
    chunk_size: int = 256,
) -> np.ndarray:
    """Central-difference gradient of a scalar function ``f`` at ``x`` (any shape).

    Parameters
    ----------
    f : ``f(x) -> number``; with ``batched=True``, ``f(xs) -> (m,)`` for a stack
        ``xs`` of shape (m, *x.shape).
    x : the point; never modified (``f`` only ever sees private copies).
    eps : the step; the truncation error is O(eps^2), the rounding error O(u / eps).
    chunk_size : how many perturbed copies one batched call receives (2 * chunk_size
        rows: the + and - steps together).

    Returns the gradient, shape ``x.shape``, float64. The perturbed points are float64
    too (a float32 ``x`` could not represent ``x + 1e-5`` exactly).
    """
    if not callable(f):
        raise fail_type("f", "a callable f(x) -> number", f)
    x = as_float_array(x, "x", allow_empty=True)
    eps = check_real(eps, "eps", low=0.0, low_open=True)
    chunk_size = check_int(chunk_size, "chunk_size", low=1)
    grad = np.empty(x.shape, dtype=np.float64)
    if not batched:
        work = x.astype(np.float64)  # the one copy; nudged and restored element by element
        flat = work.reshape(-1)
        for i in range(flat.size):
            orig = flat[i]
            flat[i] = orig + eps
            f_plus = _scalar(f(work))
            flat[i] = orig - eps
            f_minus = _scalar(f(work))
            flat[i] = orig
            grad.flat[i] = _central(f_plus, f_minus, eps)
        return grad
    n = x.size
    for start in range(0, n, chunk_size):
        idx = np.arange(start, min(start + chunk_size, n))
        m = len(idx)
        stack = np.repeat(
            x.reshape(1, -1).astype(np.float64), 2 * m, axis=0
        )  # rows: + steps, then - steps
        stack[np.arange(m), idx] += eps
        stack[m + np.arange(m), idx] -= eps
        values = np.asarray(f(stack.reshape((2 * m,) + x.shape)), dtype=np.float64).reshape(-1)
        if values.shape != (2 * m,):
            raise fail("f", f"a batched function returning {2 * m} values", values)
        if not np.isfinite(values).all():
            raise fail("f", "finite at every perturbed point", values)
        grad.flat[idx] = _central(values[:m], values[m:], eps)
    return grad


def _column_losses(mlp, cache, l: int, j: np.ndarray, z_cols: np.ndarray, y) -> np.ndarray:
    """Loss when column j of ``Z_l`` is replaced by ``z_cols`` (m, n), for m (j, column) pairs."""
    L = mlp.n_layers
    if l == L:
        out = np.repeat(cache[L - 1].Z[None], len(j), axis=0)  # (m, n, C)
        out[np.arange(len(j)), :, j] = z_cols
        return mlp.loss_fn.value(out, y)
    layer = cache[l - 1]
    dA = mlp.act.forward(z_cols, out=z_cols)  # new column j of A_l, (m, n)
    dA -= layer.A[:, j].T
    W_next = mlp.params[f"W{l + 1}"]
    # Z_{l+1} = A_l @ W_{l+1}.T + b: a change dA in column j adds dA (outer) W_{l+1}[:, j].
    Z_next = np.multiply(dA[:, :, None], W_next.T[j][:, None, :])
    Z_next += cache[l].Z
    return mlp.loss_fn.value(mlp._forward_from(l + 1, Z_next, overwrite=True), y)


def _weight_direction(A_prev: np.ndarray, d_in: int, i: np.ndarray):
    """Flat indices i of W_l -> (column j, change direction A_prev[:, k]) per index."""
    return i // d_in, A_prev[:, i % d_in].T


def _bias_direction(n: int, dtype, i: np.ndarray):
    """Flat indices i of b_l -> (column j = i, direction ones(n))."""
    return i, np.ones((len(i), n), dtype=dtype)


def mlp_numerical_gradients(
    mlp, X: Any, y: Any, eps: float = 1e-5, *, max_elements: int = 1 << 20
) -> dict[str, np.ndarray]:
    """Central-difference gradients of ``mlp``'s loss for every parameter (dict like params).

    Exactly the central differences of ``numerical_gradient`` on the loss, evaluated
    through the network's structure (see the module docstring): ``max_elements`` bounds
    the size of one stack of perturbed activations.
    """
    from dlmath.backprop.mlp import check_mlp

    mlp = check_mlp(mlp)
    X = mlp.check_X(X)
    y = mlp.check_y(y, len(X))
    eps = check_real(eps, "eps", low=0.0, low_open=True)
    _, cache = mlp._forward_cache(X)
    n = len(X)
    grads = {}
    for l in range(1, mlp.n_layers + 1):
        A_prev, Z = cache[l - 1].A_prev, cache[l - 1].Z
        width = max(mlp.sizes[l:])
        chunk = max(1, max_elements // (2 * n * width))
        d_out, d_in = mlp.params[f"W{l}"].shape
        # W_l[j, k] moves column j by A_prev[:, k]; b_l[j] moves it by ones.
        for name, n_idx, direction in (
            (f"W{l}", d_out * d_in, partial(_weight_direction, A_prev, d_in)),
            (f"b{l}", d_out, partial(_bias_direction, n, Z.dtype)),
        ):
            g = np.empty(n_idx, dtype=np.float64)
            for start in range(0, n_idx, chunk):
                i = np.arange(start, min(start + chunk, n_idx))
                j, v = direction(i)
                base = Z[:, j].T  # (m, n)
                both = np.concatenate([base + eps * v, base - eps * v])
                values = _column_losses(mlp, cache, l, np.concatenate([j, j]), both, y)
                g[i] = _central(values[: len(i)], values[len(i) :], eps)
            grads[name] = g.reshape(mlp.params[name].shape)
    return {k: grads[k] for k in mlp.params}


@dataclass
class GradCheck:
    """Analytic (backprop) vs numerical gradients, per parameter: ``relative_error`` each."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    eps: float = 1e-5

    @property
    def max_rel(self) -> float:
        return max(r["rel_error"] for r in self.rows)

    @property
    def max_abs(self) -> float:
        return max(r["max_abs_diff"] for r in self.rows)

    def __repr__(self) -> str:
        lines = [f"GradCheck(eps={self.eps:g}, max rel error {self.max_rel:.2e})"]
        lines.append(f"  {'param':<6} {'shape':<12} {'max |diff|':>11} {'rel error':>11}")
        for r in self.rows:
            lines.append(
                f"  {r['param']:<6} {str(r['shape']):<12} "
                f"{r['max_abs_diff']:>11.2e} {r['rel_error']:>11.2e}"
            )
        return "\n".join(lines)


def gradient_check(mlp, X: Any, y: Any, eps: float = 1e-5) -> GradCheck:
    """Compare ``mlp.loss_and_grads`` with :func:`mlp_numerical_gradients`, per parameter."""
    from dlmath.backprop.mlp import check_mlp

    _, grads = check_mlp(mlp).loss_and_grads(X, y)
    numeric = mlp_numerical_gradients(mlp, X, y, eps)
    rows = [
        {
            "param": k,
            "shape": tuple(grads[k].shape),
            "max_abs_diff": float(np.abs(grads[k] - numeric[k]).max()),
            "rel_error": relative_error(grads[k], numeric[k]),
        }
        for k in mlp.params
    ]
    return GradCheck(rows, eps)
