"""Plumbing shared by the landscape tools: a model's parameters, directions, data, batches.

Everything here reads a model and never writes to it. A *parameter list* is a list of
arrays or tensors in the order of ``model.named_parameters()``, one per parameter, with
the parameter's shape; a flat vector is their concatenation (``torch.cat`` of
``p.reshape(-1)``), the order ``torch.nn.utils.parameters_to_vector`` uses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from dlmath._checks import as_float_array, check_int, check_same_length, fail, fail_type

__all__ = [
    "STOCHASTIC_IN_TRAIN",
    "check_eval_mode",
    "trainable_parameters",
    "as_data",
    "as_param_list",
    "batch_slices",
    "buffers_copy",
    "check_loss_fn",
    "checked_forward",
    "checked_loss",
    "flatten",
    "model_parameters",
    "unflatten",
]


def model_parameters(model: Any, name: str = "model") -> list[tuple[str, torch.Tensor]]:
    """``model.named_parameters()`` as a list, refusing non-modules and parameter-free models."""
    if not isinstance(model, nn.Module):
        raise fail_type(name, "a torch.nn.Module", model)
    named = list(model.named_parameters())
    if not named:
        raise fail(
            name,
            "a module with at least one parameter",
            f"{type(model).__name__} with no parameters",
            described=True,
        )
    dtypes = {p.dtype for _, p in named}
    if len(dtypes) != 1 or not next(iter(dtypes)).is_floating_point:
        raise fail(
            name,
            "a module whose parameters share one floating dtype",
            f"dtypes {sorted(str(d) for d in dtypes)}",
            described=True,
        )
    return named


#: layers whose forward pass in train mode is random (Dropout) or depends on the batch and
#: updates buffers (BatchNorm): a loss of the *parameters* needs them in eval mode
STOCHASTIC_IN_TRAIN: tuple[type[nn.Module], ...] = (
    nn.modules.dropout._DropoutNd,
    nn.modules.batchnorm._BatchNorm,
    nn.modules.instancenorm._InstanceNorm,
)


def check_eval_mode(model: nn.Module, name: str = "model") -> None:
    """Refuse a model with Dropout or BatchNorm layers in train mode, by name.

    In train mode such a loss is random (Dropout consumes the global RNG) or depends on the
    batch composition (BatchNorm), so Hessian-vector products would not be of one function.
    """
    for sub_name, module in model.named_modules():
        if module.training and isinstance(module, STOCHASTIC_IN_TRAIN):
            kind = type(module).__name__
            raise fail(
                name,
                "in eval mode for this (deterministic) computation: call model.eval() first",
                f"{kind} layer {sub_name or '(the model)'!r} in train mode",
                described=True,
            )


def trainable_parameters(named: list[tuple[str, torch.Tensor]], name: str = "model") -> list[int]:
    """Indices of the parameters with ``requires_grad`` (frozen ones are constants)."""
    idx = [i for i, (_, p) in enumerate(named) if p.requires_grad]
    if not idx:
        raise fail(
            name,
            "a module with at least one trainable parameter (requires_grad=True)",
            "every parameter frozen",
            described=True,
        )
    return idx


def buffers_copy(model: nn.Module) -> dict[str, torch.Tensor]:
    """Detached copies of the model's buffers, so a functional call never writes into them."""
    return {n: b.detach().clone() for n, b in model.named_buffers()}


def check_loss_fn(loss_fn: Any) -> Callable:
    if not callable(loss_fn):
        raise fail_type("loss_fn", "a callable loss_fn(output, y) -> scalar tensor", loss_fn)
    return loss_fn


def as_param_list(
    value: Any, named: list[tuple[str, torch.Tensor]], name: str
) -> list[torch.Tensor]:
    """Check that ``value`` is shaped like the parameters and return it as detached tensors.

    ``value`` is a sequence of arrays/tensors in parameter order, a mapping from
    parameter names, or an ``nn.Module`` of the same architecture. The result has the
    parameters' dtype and device; the caller's arrays are copied, never aliased for writing.
    """
    if isinstance(value, nn.Module):
        value = [p for _, p in value.named_parameters()]
    if isinstance(value, Mapping):
        missing = [n for n, _ in named if n not in value]
        if missing or len(value) != len(named):
            raise fail(
                name,
                f"a mapping with exactly the keys {[n for n, _ in named]}",
                f"keys {list(value)}",
                described=True,
            )
        value = [value[n] for n, _ in named]
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise fail_type(name, "a list of arrays shaped like the model's parameters", value)
    if len(value) != len(named):
        raise fail(
            name,
            f"a list of {len(named)} arrays (one per model parameter)",
            f"a list of {len(value)}",
            described=True,
        )
    out = []
    for (pname, p), v in zip(named, value, strict=True):
        arr = as_float_array(v, f"{name}[{pname!r}]", allow_empty=True, finite=True)
        if arr.shape != tuple(p.shape):
            raise fail(
                name,
                f"shaped like the model's parameters ({pname!r}: {tuple(p.shape)})",
                f"shape {arr.shape} for {pname!r}",
                described=True,
            )
        out.append(torch.as_tensor(np.array(arr, copy=True), dtype=p.dtype, device=p.device))
    return out


def as_data(X: Any, y: Any, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs as a tensor of the parameters' dtype; targets as int64 (labels) or that dtype."""
    X_arr = as_float_array(X, "X", ndim=None)
    if X_arr.ndim == 0:
        raise fail("X", "batch-first data with at least 1 dimension", X_arr)
    if hasattr(y, "detach") and hasattr(y, "numpy"):
        y = y.detach().cpu().numpy()
    y_arr = np.asarray(y)
    if y_arr.ndim == 0 or y_arr.dtype.kind not in "biuf":
        raise fail("y", "batch-first targets (labels or real values)", y_arr)
    check_same_length(X_arr, "X", y_arr, "y")
    Xt = torch.as_tensor(np.array(X_arr, copy=True), dtype=like.dtype, device=like.device)
    if y_arr.dtype.kind in "biu":
        yt = torch.as_tensor(y_arr.astype(np.int64), device=like.device)
    else:
        as_float_array(y_arr, "y")  # refuses NaN / inf targets
        yt = torch.as_tensor(np.array(y_arr, copy=True), dtype=like.dtype, device=like.device)
    return Xt, yt


def batch_slices(n: int, batch_size: int | None) -> Iterator[slice]:
    """Consecutive slices of ``range(n)`` of at most ``batch_size`` rows (all rows if None)."""
    size = n if batch_size is None else check_int(batch_size, "batch_size", low=1)
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def flatten(params: Sequence[torch.Tensor]) -> torch.Tensor:
    """Concatenate a parameter list into one flat vector (parameter order, row-major)."""
    return torch.cat([p.reshape(-1) for p in params])


def unflatten(vector: torch.Tensor, like: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Split a flat vector back into tensors shaped like ``like`` (inverse of :func:`flatten`)."""
    out, start = [], 0
    for p in like:
        out.append(vector[start : start + p.numel()].reshape(p.shape))
        start += p.numel()
    return out


def checked_forward(model: nn.Module, X: torch.Tensor, name: str = "X") -> torch.Tensor:
    """``model(X)``; an input the model cannot take (wrong width, dtype) becomes a
    ``ValueError`` naming ``X`` instead of a torch traceback."""
    try:
        return model(X)
    except (RuntimeError, ValueError, TypeError, IndexError) as err:
        raise ValueError(
            f"'{name}' does not fit the model (shape {tuple(X.shape)}, {X.dtype}): "
            f"{type(err).__name__}: {err}"
        ) from err


def checked_loss(loss_fn: Callable, output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``loss_fn(output, y)`` as a 0-d tensor. A loss that raises on these targets (a label
    out of range, the wrong target dtype) becomes a ``ValueError`` naming ``loss_fn`` and
    ``y``; anything but one scalar is refused by name."""
    try:
        loss = loss_fn(output, y)
    except (RuntimeError, ValueError, TypeError, IndexError) as err:
        raise ValueError(
            f"'loss_fn' failed on the model's output and the targets 'y': "
            f"{type(err).__name__}: {err}"
        ) from err
    if not (isinstance(loss, torch.Tensor) and loss.numel() == 1):
        raise fail("loss_fn", "a callable returning a scalar tensor", loss)
    return loss.reshape(())
