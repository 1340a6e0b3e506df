"""LoRA (Hu et al. 2021): fine-tune ``W + (alpha / r) B A`` with ``W`` frozen.

A frozen ``nn.Linear`` with weight ``W`` (d_out, d_in) gets two small trainable factors,
``A`` (r, d_in) and ``B`` (d_out, r)::

    h = W x + b + (alpha / r) B A x

Only ``r (d_in + d_out)`` numbers train instead of ``d_in d_out``. ``B = 0`` at the start,
so the wrapped model computes exactly what the original did; after training,
:meth:`LoRALinear.merge` folds the update into one plain ``nn.Linear`` (no extra cost at
inference). The SVD initialization (PiSSA, Meng et al. 2024) instead puts the top-r
singular directions of ``W`` into ``B A`` and keeps the residual frozen.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from dlmath._checks import (
    check_choice,
    check_int,
    check_probability,
    check_ranks,
    check_real,
    check_seed,
    fail,
    fail_type,
)

__all__ = [
    "INITS",
    "LoRALinear",
    "LoRAReport",
    "MemoryTable",
    "ParameterCount",
    "apply_lora",
    "count_parameters",
    "lora_memory_table",
    "lora_parameter_count",
    "merge_lora",
]

INITS = ("default", "svd")


def _shape(d_out, d_in) -> tuple[int, int]:
    return check_int(d_out, "d_out", low=1), check_int(d_in, "d_in", low=1)


def lora_parameter_count(d_out: int, d_in: int, r: int) -> int:
    """Trainable numbers of a rank-``r`` LoRA adapter on a (d_out, d_in) weight: r (d_in + d_out).

    ``A`` is (r, d_in) and ``B`` is (d_out, r); ``r`` must lie in [1, min(d_out, d_in)]
    (a larger rank can represent nothing more than a full update).
    """
    d_out, d_in = _shape(d_out, d_in)
    r = check_int(r, "r", low=1, high=min(d_out, d_in))
    return r * (d_in + d_out)


#: bytes per number for the precisions in the memory table
BYTES = {"fp32": 4, "fp16/bf16": 2}
#: fp32 bytes per *trainable* number while training with Adam: weight, gradient, m and v
ADAM_TRAIN_BYTES = 16


@dataclass(frozen=True, repr=False)
class MemoryTable:
    """Parameter counts and bytes of full fine-tuning vs LoRA, one row per rank.

    Each row holds ``rank``, ``full_params`` (sum of d_out d_in over the adapted matrices),
    ``lora_params`` (sum of r (d_in + d_out)), ``percent`` (lora/full in %), ``savings``
    (100 - percent), the bytes of the trainable numbers in fp32 and fp16/bf16 for both,
    and ``adam_full_bytes`` / ``adam_lora_bytes``: fp32 weight + gradient + Adam's m and v
    (16 bytes per trainable number), where the saving matters most in practice.
    """

    shapes: tuple[tuple[int, int], ...]
    rows: tuple[dict[str, float], ...]

    def __repr__(self) -> str:
        n = len(self.shapes)
        distinct = sorted(set(self.shapes))
        what = ", ".join(f"{a}x{b}" for a, b in distinct)
        lines = [f"MemoryTable({n} matri{'x' if n == 1 else 'ces'} of shape {what})"]
        lines.append(
            f"{'rank':>5} {'LoRA params':>13} {'full params':>13} {'% of full':>10} "
            f"{'saved':>8} {'fp32':>10} {'fp16/bf16':>10} {'Adam fp32':>10}"
        )
        for row in self.rows:
            lines.append(
                f"{row['rank']:>5} {row['lora_params']:>13,} {row['full_params']:>13,} "
                f"{row['percent']:>9.3f}% {row['savings']:>7.3f}% "
                f"{_bytes(row['lora_fp32_bytes']):>10} {_bytes(row['lora_fp16_bytes']):>10} "
                f"{_bytes(row['adam_lora_bytes']):>10}"
            )
        full = self.rows[0]
        lines.append(
            f"full fine-tuning: {_bytes(full['full_fp32_bytes'])} fp32, "
            f"{_bytes(full['full_fp16_bytes'])} fp16/bf16, "
            f"{_bytes(full['adam_full_bytes'])} with Adam state"
        )
        return "\n".join(lines)


def _bytes(n: float) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{int(n)} B"


def lora_memory_table(shapes: Sequence[tuple[int, int]], ranks: Sequence[int]) -> MemoryTable:
    """Memory of LoRA vs full fine-tuning of the matrices ``shapes`` at each rank in ``ranks``.

    ``shapes``: one (d_out, d_in) per adapted matrix, e.g. ``[(4096, 4096)] * 64`` for the
    q and v projections of a 32-layer d=4096 transformer. Every rank must fit every shape.
    """
    if isinstance(shapes, tuple) and len(shapes) == 2 and all(isinstance(d, int) for d in shapes):
        shapes = [shapes]  # one (d_out, d_in) pair
    try:
        pairs = tuple((int(a), int(b)) for a, b in shapes)
    except (TypeError, ValueError) as err:
        raise fail("shapes", "a sequence of (d_out, d_in) pairs", shapes) from err
    if not pairs:
        raise fail("shapes", "a non-empty sequence of (d_out, d_in) pairs", shapes)
    for d_out, d_in in pairs:
        _shape(d_out, d_in)
    limit = min(min(p) for p in pairs)
    ranks = check_ranks(ranks, high=limit)
    full = sum(a * b for a, b in pairs)
    rows = []
    for r in ranks:
        lora = sum(lora_parameter_count(a, b, r) for a, b in pairs)
        rows.append(
            {
                "rank": r,
                "lora_params": lora,
                "full_params": full,
                "percent": 100.0 * lora / full,
                "savings": 100.0 * (1.0 - lora / full),
                "lora_fp32_bytes": lora * BYTES["fp32"],
                "lora_fp16_bytes": lora * BYTES["fp16/bf16"],
                "full_fp32_bytes": full * BYTES["fp32"],
                "full_fp16_bytes": full * BYTES["fp16/bf16"],
                "adam_lora_bytes": lora * ADAM_TRAIN_BYTES,
                "adam_full_bytes": full * ADAM_TRAIN_BYTES,
            }
        )
    return MemoryTable(pairs, tuple(rows))


class LoRALinear(nn.Module):
    """``h = base(x) + (alpha / r) B A dropout(x)`` around a frozen copy of ``base``.

    Parameters
    ----------
    base : nn.Linear
        The layer to adapt, weight ``W`` (d_out, d_in). It is deep-copied (the caller's
        layer is never modified) and the copy's parameters are frozen.
    r : int
        Rank in [1, min(d_out, d_in)]; ``A`` is (r, d_in), ``B`` is (d_out, r).
    alpha : float > 0
        The update is scaled by ``alpha / r``, so changing ``r`` does not change the
        update's size at initialization of training (Hu et al. 2021, section 4.1).
    dropout : float in [0, 1)
        Dropout on the adapter's input only.
    init : "default" | "svd"
        ``"default"``: ``A ~ U(-1/sqrt(d_in), 1/sqrt(d_in))`` (PEFT's Kaiming-uniform
        with a = sqrt(5)), ``B = 0``: the output equals ``base(x)`` exactly.
        ``"svd"`` (PiSSA): with ``W = U diag(S) Vt`` and ``s = alpha / r``,
        ``B = U_r sqrt(S_r / s)``, ``A = sqrt(S_r / s) Vt_r``, the frozen weight becomes
        the residual ``W - s B A``; the merged weight equals ``W`` up to rounding.
    seed : int
        Seeds ``A`` through a private ``torch.Generator`` (the global RNG is untouched).
    copy_base : bool
        Deep-copy ``base`` (default). ``False`` adopts ``base`` itself (freezing it, and
        with ``init="svd"`` overwriting its weight): only for callers that own the layer,
        as :func:`apply_lora` does with its own copy of the model.
    """

    def __init__(
        self,
        base: nn.Linear,
        r: int,
        alpha: float = 1.0,
        dropout: float = 0.0,
        *,
        init: str = "default",
        seed: int = 0,
        copy_base: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise fail_type("base", "a torch.nn.Linear", base)
        d_out, d_in = base.weight.shape
        self.r = check_int(r, "r", low=1, high=min(d_out, d_in))
        self.alpha = check_real(alpha, "alpha", low=0.0, low_open=True)
        p = check_probability(dropout, "dropout")
        if p >= 1.0:
            raise fail("dropout", "a probability in [0, 1)", dropout)
        self.init = check_choice(init, "init", INITS)
        seed = check_seed(seed)
        self.scaling = self.alpha / self.r
        # copy_base=False is for apply_lora, which already works on its own deep copy
        self.base = copy.deepcopy(base) if copy_base else base
        self.base.requires_grad_(False)
        weight = self.base.weight
        factory = {"dtype": weight.dtype, "device": weight.device}
        self.A = nn.Parameter(torch.empty(self.r, d_in, **factory))
        self.B = nn.Parameter(torch.zeros(d_out, self.r, **factory))
        self.dropout = nn.Dropout(p) if p > 0 else nn.Identity()
        self.train(base.training)  # an eval-mode layer gives an eval-mode adapter
        if self.init == "default":
            bound = 1.0 / math.sqrt(d_in)
            gen = torch.Generator(device=weight.device).manual_seed(seed)
            with torch.no_grad():
                self.A.uniform_(-bound, bound, generator=gen)
        else:
            self._init_svd()

    @classmethod
    def _tied_to(cls, base: nn.Linear, first: LoRALinear) -> LoRALinear:
        """An adapter for ``base``, whose weight is ``first.base``'s weight (tied weights).

        One weight gets one adapter: ``A`` and ``B`` are ``first``'s own parameters and the
        (already residual) weight is not touched again, so the tie survives and the
        adapted model equals the original at init for either ``init``.
        """
        self = cls.__new__(cls)
        nn.Module.__init__(self)
        self.r, self.alpha, self.init, self.scaling = (
            first.r,
            first.alpha,
            first.init,
            first.scaling,
        )
        self.base = base
        self.base.requires_grad_(False)
        self.A, self.B = first.A, first.B
        self.dropout = copy.deepcopy(first.dropout)
        self.train(base.training)
        return self

    def _init_svd(self) -> None:
        # the split is done in float64 so the residual + update re-adds to W to rounding
        W = self.base.weight.detach().to(torch.float64)
        U, S, Vh = torch.linalg.svd(W, full_matrices=False)
        root = torch.sqrt(S[: self.r] / self.scaling)
        B = U[:, : self.r] * root
        A = root[:, None] * Vh[: self.r]
        with torch.no_grad():
            self.B.copy_(B)
            self.A.copy_(A)
            self.base.weight.copy_(W - self.scaling * (B @ A))

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    def delta_weight(self) -> torch.Tensor:
        """The update ``(alpha / r) B A``, shape (d_out, d_in)."""
        return self.scaling * (self.B @ self.A)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (x A^T) B^T: two thin products, never the (d_out, d_in) update itself
        return self.base(x) + self.scaling * (self.dropout(x) @ self.A.T @ self.B.T)

    @torch.no_grad()
    def merge(self) -> nn.Linear:
        """A new plain ``nn.Linear`` with weight ``W + (alpha / r) B A`` and the same bias.

        The adapter itself is left unchanged; the result's parameters train again
        (``requires_grad`` True), like any fresh layer.
        """
        base = self.base
        merged = torch.nn.utils.skip_init(  # no init: it would draw from the global RNG
            nn.Linear,
            base.in_features,
            base.out_features,
            bias=base.bias is not None,
            dtype=base.weight.dtype,
            device=base.weight.device,
        )
        merged.weight.copy_(base.weight + self.delta_weight())
        if base.bias is not None:
            merged.bias.copy_(base.bias)
        return merged

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, r={self.r}, "
            f"alpha={self.alpha:g}, init={self.init!r}, "
            f"trainable={self.A.numel() + self.B.numel():,}"
        )


@dataclass(frozen=True)
class ParameterCount:
    """Trainable and total parameters of a model (numbers, not tensors)."""

    trainable: int
    total: int

    @property
    def fraction(self) -> float:
        return self.trainable / self.total if self.total else 0.0

    def __repr__(self) -> str:
        return (
            f"ParameterCount(trainable={self.trainable:,}, total={self.total:,}, "
            f"{100 * self.fraction:.3f}% trainable)"
        )


def count_parameters(model: nn.Module) -> ParameterCount:
    """Count ``model``'s trainable (``requires_grad``) and total parameters."""
    if not isinstance(model, nn.Module):
        raise fail_type("model", "a torch.nn.Module", model)
    params = list(model.parameters())
    return ParameterCount(
        sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)
    )


@dataclass(frozen=True)
class LoRAReport:
    """What :func:`apply_lora` did: the wrapped layer names and the parameter counts."""

    wrapped: tuple[str, ...]
    r: int
    alpha: float
    trainable: int
    total: int
    original_total: int

    @property
    def fraction(self) -> float:
        """Trainable share of the adapted model's parameters."""
        return self.trainable / self.total

    def __repr__(self) -> str:
        names = ", ".join(self.wrapped)
        return (
            f"LoRAReport(r={self.r}, alpha={self.alpha:g}, wrapped=[{names}], "
            f"trainable={self.trainable:,} of {self.total:,} ({100 * self.fraction:.3f}%), "
            f"original model {self.original_total:,} parameters)"
        )


def _targets(model: nn.Module, target) -> list[str]:
    """Names of the Linear layers selected by ``target``.

    ``None`` selects every ``nn.Linear``. A name selects the module of that exact name,
    or every module whose dotted name ends in it (``"q_proj"`` matches
    ``"layers.3.attn.q_proj"``), as PEFT's ``target_modules`` does.
    """
    modules = dict(model.named_modules())
    linears = [name for name, m in modules.items() if isinstance(m, nn.Linear) and name]
    if target is None:
        if not linears:
            raise fail("model", "a model with at least one nn.Linear layer", model)
        return linears
    keys = [target] if isinstance(target, str) else target
    if not isinstance(keys, Sequence) or not keys or not all(isinstance(k, str) for k in keys):
        raise fail("target", "None, a layer name or a non-empty list of layer names", target)
    chosen: list[str] = []
    for key in keys:
        hits = [n for n in modules if n and (n == key or n.endswith("." + key))]
        if not hits:
            raise fail(
                "target",
                f"names of modules in the model (Linear layers: {linears})",
                key,
            )
        for name in hits:
            if not isinstance(modules[name], nn.Linear):
                kind = type(modules[name]).__name__
                raise fail(
                    "target",
                    "names of nn.Linear layers",
                    f"{key!r} -> {name} ({kind})",
                    described=True,
                )
            if name not in chosen:
                chosen.append(name)
    return chosen


def apply_lora(
    model: nn.Module,
    r: int,
    alpha: float = 1.0,
    target: str | Sequence[str] | None = None,
    *,
    dropout: float = 0.0,
    init: str = "default",
    seed: int = 0,
) -> tuple[nn.Module, LoRAReport]:
    """A LoRA-adapted **copy** of ``model``: chosen Linear layers wrapped, all else frozen.

    ``model`` itself is never modified (it is deep-copied first). In the copy every
    parameter is frozen, then each selected ``nn.Linear`` is replaced by a
    :class:`LoRALinear` whose ``A`` and ``B`` train (seeded ``seed + i`` for the i-th
    wrapped layer). ``target``: see :func:`_targets` (None = every Linear layer).
    Returns ``(adapted_model, report)``; ``report`` counts trainable vs total parameters.

    ``init="svd"`` rewrites a wrapped weight as the residual ``W - (alpha / r) B A``; a
    weight tied to a module that is not wrapped (an ``nn.Embedding`` sharing the output
    layer's weight) would see that residual instead of ``W``, so it is refused by name
    (use ``init="default"``, or wrap every layer that holds the weight).
    """
    if not isinstance(model, nn.Module):
        raise fail_type("model", "a torch.nn.Module", model)
    r = check_int(r, "r", low=1)
    check_real(alpha, "alpha", low=0.0, low_open=True)
    names = _targets(model, target)
    if init == "svd":
        _refuse_weights_tied_outside(model, names)
    original = count_parameters(model).total
    adapted = copy.deepcopy(model)  # keeps shared layers and tied weights shared
    adapted.requires_grad_(False)
    by_layer: dict[int, LoRALinear] = {}  # a Linear used twice is wrapped once
    by_weight: dict[int, LoRALinear] = {}  # a weight tied between layers gets one adapter
    for i, name in enumerate(names):
        layer = adapted.get_submodule(name)
        if isinstance(layer, LoRALinear) or id(layer) in by_layer:
            continue
        high = min(layer.weight.shape)
        if r > high:
            raise fail("r", f"a rank in [1, {high}] (the smallest wrapped layer: {name})", r)
        first = by_weight.get(id(layer.weight))
        if first is not None:
            wrapped = LoRALinear._tied_to(layer, first)
        else:
            wrapped = LoRALinear(
                layer, r, alpha, dropout, init=init, seed=seed + i, copy_base=False
            )
            by_weight[id(layer.weight)] = wrapped
        by_layer[id(layer)] = wrapped
        _replace_everywhere(adapted, layer, wrapped)
    counts = count_parameters(adapted)
    report = LoRAReport(tuple(names), r, float(alpha), counts.trainable, counts.total, original)
    return adapted, report


def _refuse_weights_tied_outside(model: nn.Module, names: list[str]) -> None:
    """``init="svd"`` only where no module other than the wrapped layers holds their weight."""
    layers = {id(model.get_submodule(name)) for name in names}
    weights = {id(model.get_submodule(name).weight): name for name in names}
    for owner, module in model.named_modules():
        if id(module) in layers:
            continue
        for pname, p in module.named_parameters(recurse=False):
            if id(p) in weights:
                where = f"{owner}.{pname}" if owner else pname
                raise fail(
                    "init",
                    "'default' when a wrapped weight is tied to a layer that is not wrapped "
                    f"({weights[id(p)]}.weight is also {where}, of a {type(module).__name__}; "
                    "the svd residual W - (alpha / r) B A would change that layer too)",
                    "'svd'",
                    described=True,
                )


def _replace_everywhere(root: nn.Module, old: nn.Module, new: nn.Module) -> None:
    """Put ``new`` wherever ``old`` is a child (a layer used twice is replaced twice)."""
    for module in list(root.modules()):
        for key, child in module._modules.items():
            if child is old:
                module._modules[key] = new


def merge_lora(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every :class:`LoRALinear` merged into a plain ``nn.Linear``."""
    if not isinstance(model, nn.Module):
        raise fail_type("model", "a torch.nn.Module", model)
    if isinstance(model, LoRALinear):
        return model.merge()
    merged = copy.deepcopy(model)
    adapters = [m for m in merged.modules() if isinstance(m, LoRALinear)]  # each once
    first_of: dict[tuple[int, int], nn.Linear] = {}  # (weight, adapter) -> merged layer
    for module in adapters:
        plain = module.merge()
        key = (id(module.base.weight), id(module.A))
        if key in first_of:
            plain.weight = first_of[key].weight  # tied weights stay tied: one merged weight
        else:
            first_of[key] = plain
        _replace_everywhere(merged, module, plain)
    return merged
