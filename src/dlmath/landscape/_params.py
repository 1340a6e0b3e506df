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
    "as_data",
    "as_param_list",
    "batch_slices",
    "buffers_copy",
    "check_loss_fn",
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
