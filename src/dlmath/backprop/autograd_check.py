"""Compare the hand-written backward pass with PyTorch autograd, parameter by parameter."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dlmath._checks import check_seed, fail, fail_type
from dlmath.backprop.gradcheck import relative_error

#: torch 2.x deprecation warning raised while torch.func imports its compiler stack
_JIT_WARNING = ".*torch.jit.script.* is deprecated"

__all__ = [
    "AutogradComparison",
    "compare_scalar_autograd",
    "compare_with_autograd",
    "jacobian_checks",
    "torch_loss_and_grads",
]


def torch_loss_and_grads(mlp, X: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
    """Loss and gradients of ``mlp``'s torch twin (``mlp.to_torch()``) by autograd.

    The loss is ``F.cross_entropy`` / ``F.mse_loss`` (mean), in the network's dtype.
    """
    import torch
    import torch.nn.functional as F

    from dlmath.backprop.mlp import check_mlp

    mlp = check_mlp(mlp)
    X = mlp.check_X(X)
    y = mlp.check_y(y, len(X))
    model = mlp.to_torch()
    out = model(torch.from_numpy(np.array(X, copy=True)))
    target = torch.from_numpy(np.array(y, copy=True))
    loss = F.cross_entropy(out, target) if mlp.loss == "cross_entropy" else F.mse_loss(out, target)
    loss.backward()
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    grads = {}
    for l, layer in enumerate(linears, start=1):
        grads[f"W{l}"] = layer.weight.grad.numpy().copy()
        grads[f"b{l}"] = layer.bias.grad.numpy().copy()
    return float(loss.item()), grads


@dataclass
class AutogradComparison:
    """Per-parameter agreement between manual backprop and torch autograd.

    ``rows``: one dict per parameter with ``param``, ``shape``, ``max_abs_diff`` (max |manual
    - autograd|) and ``rel_diff`` (:func:`relative_error`); ``loss_diff`` is |L_manual - L_torch|.
    """

    architecture: str
    dtype: str
    loss_diff: float
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def max_abs(self) -> float:
        """Largest |manual - autograd| over every gradient entry."""
        return max(r["max_abs_diff"] for r in self.rows)

    @property
    def max_rel(self) -> float:
        return max(r["rel_diff"] for r in self.rows)

    def __repr__(self) -> str:
        lines = [
            f"AutogradComparison({self.architecture}, {self.dtype}): "
            f"max |diff| {self.max_abs:.2e}, max rel {self.max_rel:.2e}, "
            f"|loss diff| {self.loss_diff:.2e}",
            f"  {'param':<6} {'shape':<12} {'max |diff|':>11} {'rel diff':>11}",
        ]
        for r in self.rows:
            lines.append(
                f"  {r['param']:<6} {str(r['shape']):<12} "
                f"{r['max_abs_diff']:>11.2e} {r['rel_diff']:>11.2e}"
            )
        return "\n".join(lines)


def compare_with_autograd(mlp, X: Any, y: Any) -> AutogradComparison:
    """Run ``mlp.loss_and_grads`` and torch autograd on the same copy of the parameters.

    The parameters are copied into ``mlp.to_torch()`` (same dtype), so both sides start
    from identical numbers; neither ``mlp`` nor ``X``/``y`` is modified.
    """
    from dlmath.backprop.mlp import check_mlp

    mlp = check_mlp(mlp)
    X = mlp.check_X(X)
    y = mlp.check_y(y, len(X))
    loss, grads = mlp.loss_and_grads(X, y)
    t_loss, t_grads = torch_loss_and_grads(mlp, X, y)
    rows = [
        {
            "param": k,
            "shape": tuple(grads[k].shape),
            "max_abs_diff": float(np.abs(grads[k] - t_grads[k]).max()),
            "rel_diff": relative_error(grads[k], t_grads[k]),
        }
        for k in mlp.params
    ]
    arch = "-".join(str(s) for s in mlp.sizes) + f" {mlp.activation}/{mlp.loss}"
    return AutogradComparison(arch, mlp.dtype.name, abs(loss - t_loss), rows)


def compare_scalar_autograd(fn, inputs: dict[str, float]) -> dict[str, Any]:
    """Run a scalar expression through :class:`~dlmath.backprop.graph.Value` and torch autograd.

    ``fn(**xs)`` must use only operations both know (``+ - * / **``, ``.exp()``, ``.log()``,
    ``.tanh()``, ``.relu()``, ``.sigmoid()``), so the same code builds both graphs. Returns
    the root ``Value`` (graph recorded, grads filled), ``value_diff`` and ``grad_diffs``
    (|Value grad - torch grad| per input, float64).
    """
    import torch

    from dlmath._checks import check_real
    from dlmath.backprop.graph import Value

    if not callable(fn):
        raise fail_type("fn", "a callable fn(**inputs) built from Value/tensor operations", fn)
    if not isinstance(inputs, Mapping) or not inputs:
        raise fail_type("inputs", "a non-empty dict name -> number", inputs)
    inputs = {str(k): check_real(v, f"inputs[{k!r}]") for k, v in inputs.items()}
    xs = {k: Value(v, label=k) for k, v in inputs.items()}
    try:
        root = fn(**xs)
    except TypeError as err:  # fn takes other arguments than the inputs' names
        raise fail("inputs", "one value per argument of fn", f"{err}", described=True) from None
    if not isinstance(root, Value):
        raise fail_type("fn", "a function returning a Value (one scalar expression)", root)
    root.backward()
    ts = {
        k: torch.tensor(float(v), dtype=torch.float64, requires_grad=True)
        for k, v in inputs.items()
    }
    t_root = fn(**ts)
    t_root.backward()
    t_value = float(t_root.detach())
    grad_diffs = {k: abs(xs[k].grad - float(ts[k].grad)) for k in inputs}
    return {
        "root": root,
        "inputs": xs,
        "value_diff": abs(root.data - t_value),
        "grad_diffs": grad_diffs,
        "max_diff": max([abs(root.data - t_value), *grad_diffs.values()]),
    }


def jacobian_checks(seed: int = 0, activation: str = "tanh") -> list[dict[str, Any]]:
    """Every analytic Jacobian in :mod:`dlmath.backprop.jacobians`, and the Hessian of a
    small network's loss, against ``torch.func.jacrev`` / ``torch.func.hessian`` (float64).

    Returns one row per quantity: ``quantity``, ``shape``, ``max_abs_diff``, ``reference``.
    """
    with warnings.catch_warnings():  # torch.func's first use imports code that warns
        warnings.filterwarnings("ignore", message=_JIT_WARNING, category=DeprecationWarning)
        return _jacobian_checks(check_seed(seed), activation)


def _jacobian_checks(seed: int, activation: str) -> list[dict[str, Any]]:
    """The body of :func:`jacobian_checks`."""
    import torch
    from torch.func import functional_call, hessian, jacrev

    from dlmath.backprop import jacobians as J
    from dlmath.backprop.mlp import MLP

    rng = np.random.default_rng(seed)
    d_in, d_out = 5, 4
    W, b = rng.standard_normal((d_out, d_in)), rng.standard_normal(d_out)
    x, z = rng.standard_normal(d_in), 3 * rng.standard_normal(d_out)
    Wt, bt, xt, zt = (torch.from_numpy(a) for a in (W, b, x, z))

    def row(name, ours, ref, reference="torch.func.jacrev"):
        ref = ref.detach().numpy()
        return {
            "quantity": name,
            "shape": tuple(ours.shape),
            "max_abs_diff": float(np.abs(ours - ref).max()),
            "reference": reference,
        }

    rows = [
        row("linear dz/dx", J.linear_jacobian_x(W), jacrev(lambda v: Wt @ v + bt)(xt)),
        row("linear dz/dW", J.linear_jacobian_W(x, d_out), jacrev(lambda M: M @ xt + bt)(Wt)),
        row("linear dz/db", J.linear_jacobian_b(d_out), jacrev(lambda c: Wt @ xt + c)(bt)),
    ]
    from dlmath.nets import torch_activation

    for name in ("relu", "tanh", "sigmoid", "gelu"):
        rows.append(
            row(f"{name} da/dz", J.activation_jacobian(z, name), jacrev(torch_activation(name))(zt))
        )
    rows.append(
        row("softmax dp/dz", J.softmax_jacobian(z), jacrev(lambda v: torch.softmax(v, 0))(zt))
    )
    # Hessian of a small network's loss w.r.t. all its parameters
    mlp = MLP([3, 4, 3], activation=activation, loss="cross_entropy", seed=seed)
    X = rng.standard_normal((6, 3))
    y = rng.integers(0, 3, 6)
    model = mlp.to_torch()
    names = [k for k, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def loss_of(theta):
        params, start = {}, 0
        for k, shape in zip(names, shapes, strict=True):
            params[k] = theta[start : start + shape.numel()].reshape(shape)
            start += shape.numel()
        return torch.nn.functional.cross_entropy(functional_call(model, params, (Xt,)), yt)

    H_ref = hessian(loss_of)(torch.from_numpy(mlp.flatten()))
    rows.append(
        row(
            f"Hessian of loss, MLP 3-4-3 {activation}",
            J.loss_hessian(mlp, X, y),
            H_ref,
            "torch.func.hessian",
        )
    )
    return rows
