"""Analytic Jacobians of each layer and the Hessian of a network's loss (module topic 1.3.2).

Jacobians are for one sample in the module's column-vector convention, ``J[i, j] = dy_i/dx_j``:

=====================  ==========================  =====================================
layer                  y                           Jacobian
=====================  ==========================  =====================================
linear, w.r.t. x       ``z = W x + b``             ``W``                    (out, in)
linear, w.r.t. W       ``z = W x + b``             ``J[i, j, k] = delta_ij x_k`` (out, out, in)
linear, w.r.t. b       ``z = W x + b``             ``I``                    (out, out)
activation f           ``a = f(z)`` elementwise    ``diag(f'(z))``
softmax                ``p = softmax(z)``          ``diag(p) - p p^T``
=====================  ==========================  =====================================

The Hessian of the loss w.r.t. all parameters is built from exact Hessian-vector
products (Pearlmutter's R-operator: differentiate the forward and backward passes along
a direction V), applied to every column of the identity at once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlmath._checks import as_float_array, check_int, fail, fail_type
from dlmath.backprop.layers import _linear_backward, get_activation
from dlmath.backprop.losses import softmax
from dlmath.backprop.mlp import check_mlp

__all__ = [
    "activation_jacobian",
    "hessian_vector_product",
    "linear_jacobian_W",
    "linear_jacobian_b",
    "linear_jacobian_x",
    "loss_hessian",
    "softmax_jacobian",
]


def _vector(x: Any, name: str) -> np.ndarray:
    return as_float_array(x, name, ndim=1)


def linear_jacobian_x(W: Any) -> np.ndarray:
    """``dz/dx = W`` for ``z = W x + b`` (out, in)."""
    return as_float_array(W, "W", ndim=2).copy()


def linear_jacobian_W(x: Any, out: int) -> np.ndarray:
    """``dz_i/dW_jk = delta_ij x_k`` (out, out, in): row i of z sees only row i of W."""
    x = _vector(x, "x")
    out = check_int(out, "out", low=1)
    J = np.zeros((out, out, x.size), dtype=x.dtype)
    J[np.arange(out), np.arange(out)] = x
    return J


def linear_jacobian_b(out: int, dtype: Any = np.float64) -> np.ndarray:
    """``dz/db = I`` (out, out)."""
    out = check_int(out, "out", low=1)
    try:
        dtype = np.dtype(dtype)
    except TypeError as err:
        raise fail_type("dtype", "a NumPy float dtype", dtype) from err
    if dtype.kind != "f":
        raise fail("dtype", "a float dtype (float32 or float64)", dtype)
    return np.eye(out, dtype=dtype)


def activation_jacobian(z: Any, activation: str) -> np.ndarray:
    """``da/dz = diag(f'(z))`` for an elementwise activation (d, d)."""
    return np.diag(get_activation(activation).d1(_vector(z, "z")))


def softmax_jacobian(z: Any) -> np.ndarray:
    """``dp/dz = diag(p) - p p^T`` with ``p = softmax(z)`` (d, d)."""
    p = softmax(_vector(z, "z"))
    return np.diag(p) - np.outer(p, p)


def hessian_vector_product(mlp, X: Any, y: Any, V: Any) -> np.ndarray:
    """Exact ``H v`` for each row v of ``V`` (k, n_params): the Hessian of mlp's loss times V.

    R-operator ``R(q) = d/dr q(theta + r v)`` at r = 0, pushed through the forward pass::

        R(Z_l) = R(A_{l-1}) W_l^T + A_{l-1} V_Wl^T + V_bl       R(A_l) = f'(Z_l) R(Z_l)

    then through the backward pass: the product rule applied to the MLP's own backward
    (:meth:`MLP._backward`, whose ``dZ_l`` and ``dA_{l-1}`` it records), layer by layer
    with the same :func:`linear_backward` and :meth:`Activation.backward`::

        R(dZ_L) = H_out R(Z_L)       (CE: (p * r - p <p, r>) / n;  MSE: 2 r / N)
        R(lin_bw(dZ, A, W)) = lin_bw(R(dZ), A, W) + lin_bw(dZ, R(A), V_W)
        R(dZ_{l-1}) = act_bw(R(dA_{l-1}), Z_{l-1}) + dA_{l-1} f''(Z_{l-1}) R(Z_{l-1})

    (``lin_bw`` = :func:`linear_backward`, ``act_bw`` = :meth:`Activation.backward`).

    and ``(R(dW_1), R(db_1), ...)`` flattened is ``H v``. All k directions run as one stack.
    """
    mlp = check_mlp(mlp)
    X = mlp.check_X(X)
    y = mlp.check_y(y, len(X))
    V = as_float_array(V, "V", ndim=(1, 2), dtype=mlp.dtype)
    single = V.ndim == 1
    V = V[None] if single else V
    if V.shape[1] != mlp.n_params:
        raise fail("V", f"of shape (k, {mlp.n_params}) (one direction per row)", V)
    Vp = mlp.unflatten(V)
    act, L, n = mlp.act, mlp.n_layers, len(X)
    out, cache = mlp._forward_cache(X)
    _, dout = mlp.loss_fn.value_and_grad(out, y)
    backward: dict[int, tuple] = {}
    mlp._backward(dout, cache, record=backward)  # dZ_l and dA_{l-1} of the one backward
    # R forward pass: R(Z_l) = R(A_{l-1}) W_l^T + A_{l-1} V_Wl^T + V_bl, R(A_l) = f'(Z_l) R(Z_l)
    RZ, RA = [], None
    for l in range(1, L + 1):
        A_prev, W = cache[l - 1].A_prev, mlp.params[f"W{l}"]
        Rz = A_prev @ np.swapaxes(Vp[f"W{l}"], -1, -2) + Vp[f"b{l}"][:, None, :]
        if RA is not None:
            Rz += RA @ W.T
        RZ.append(Rz)
        RA = act.d1(cache[l - 1].Z, cache[l - 1].A) * Rz if l < L else None
    # R of the loss gradient dL/dout
    if mlp.loss == "cross_entropy":
        P = softmax(out)
        PR = P * RZ[-1]
        RdZ = (PR - P * PR.sum(axis=-1, keepdims=True)) / n
    else:
        RdZ = RZ[-1] * (2.0 / out.size)
    # R backward pass
    blocks: dict[str, np.ndarray] = {}
    for l in range(L, 0, -1):
        A_prev, W = cache[l - 1].A_prev, mlp.params[f"W{l}"]
        RdA, RdW, Rdb = _linear_backward(RdZ, A_prev, W, need_dX=l > 1)
        if l > 1:
            dZ, dA_prev = backward[l]
            below = cache[l - 2]
            RA_prev = act.d1(below.Z, below.A) * RZ[l - 2]
            dA_V, dW_RA, _ = _linear_backward(dZ, RA_prev, Vp[f"W{l}"])
            RdW = RdW + dW_RA
            RdZ = act.backward(RdA + dA_V, below.Z, below.A) + dA_prev * act.d2(below.Z) * RZ[l - 2]
        blocks[f"W{l}"], blocks[f"b{l}"] = RdW, Rdb
    k = V.shape[0]
    HV = np.concatenate([blocks[name].reshape(k, -1) for name in mlp.params], axis=1)
    return HV[0] if single else HV


def loss_hessian(mlp, X: Any, y: Any) -> np.ndarray:
    """The full Hessian (n_params, n_params) of ``mlp``'s loss, ordered like ``mlp.flatten()``.

    ``H = H I``: every column of the identity is one Hessian-vector product. Meant for
    small networks (memory grows as n_params^2 * batch).
    """
    mlp = check_mlp(mlp)
    H = hessian_vector_product(mlp, X, y, np.eye(mlp.n_params, dtype=mlp.dtype))
    return 0.5 * (H + H.T)  # exact up to rounding; symmetrize the last ulp
