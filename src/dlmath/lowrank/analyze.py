"""The practitioner's "which LoRA rank?" tool: singular spectra of a model's weight matrices.

For each weight ``W`` (d_out, d_in) with singular values ``S`` it reports the stable rank
``sum S^2 / S_1^2``, the effective rank, the energy ``E_r = sum_{i<=r} S_i^2 / sum S_i^2``
kept at a few ranks, the smallest rank reaching a target energy, and what a LoRA adapter
of that rank would cost, ``r (d_in + d_out)``, against ``d_in d_out``.

Apply it to an update ``dW = W_finetuned - W_pretrained`` (:func:`analyze_weights`) to see
the rank a fine-tuning actually used: that, not the rank of ``W``, is what LoRA bets on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from torch import nn

from dlmath._checks import as_float_array, check_ranks, check_real, fail, fail_type
from dlmath.lowrank.lora import LoRALinear
from dlmath.lowrank.svd import effective_rank, energy, rank_for_energy, stable_rank

__all__ = ["LayerSpectrum", "ModelSpectrum", "analyze_model", "analyze_weights", "linear_weights"]


@dataclass(frozen=True, repr=False)
class LayerSpectrum:
    """The spectrum of one weight matrix and the LoRA figures that follow from it."""

    name: str
    shape: tuple[int, int]
    S: np.ndarray  # singular values, descending, shape (min(shape),)
    stable_rank: float
    effective_rank: float
    energy_at: dict[int, float]  # rank -> E_r (1.0 once r >= min(shape))
    target_energy: float
    rank_for_target: int  # smallest r with E_r >= target_energy
    lora_params: int  # r (d_in + d_out) at rank_for_target
    full_params: int  # d_out d_in

    def row(self) -> dict[str, object]:
        out: dict[str, object] = {
            "layer": self.name,
            "shape": f"{self.shape[0]}x{self.shape[1]}",
            "stable_rank": round(self.stable_rank, 3),
            "effective_rank": round(self.effective_rank, 3),
        }
        out |= {f"energy@{r}": round(e, 4) for r, e in self.energy_at.items()}
        out |= {
            f"rank@{self.target_energy:g}": self.rank_for_target,
            "lora_params": self.lora_params,
            "full_params": self.full_params,
        }
        return out

    def __repr__(self) -> str:
        return (
            f"LayerSpectrum({self.name!r}, shape={self.shape}, stable_rank="
            f"{self.stable_rank:.2f}, rank for {self.target_energy:.0%} energy="
            f"{self.rank_for_target})"
        )


@dataclass(frozen=True, repr=False)
class ModelSpectrum:
    """Per-layer spectra (:class:`LayerSpectrum`), printable as a table."""

    layers: tuple[LayerSpectrum, ...]
    ranks: tuple[int, ...]
    target_energy: float

    def __getitem__(self, name: str) -> LayerSpectrum:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def __len__(self) -> int:
        return len(self.layers)

    def rows(self) -> list[dict[str, object]]:
        return [layer.row() for layer in self.layers]

    def __repr__(self) -> str:
        rows = self.rows()
        cols = list(rows[0])
        text = [[str(c) for c in cols]] + [[_cell(row[c]) for c in cols] for row in rows]
        widths = [max(len(line[i]) for line in text) for i in range(len(cols))]
        lines = [f"ModelSpectrum({len(self)} layers, target energy {self.target_energy:g})"]
        for line in text:
            lines.append("  ".join(cell.rjust(w) for cell, w in zip(line, widths, strict=True)))
        return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _check_ranks(ranks) -> tuple[int, ...]:
    return check_ranks(ranks)


def _layer(name: str, W: np.ndarray, ranks: tuple[int, ...], target: float) -> LayerSpectrum:
    S = np.linalg.svd(W.astype(np.float64), compute_uv=False)
    if S[0] == 0:
        raise fail("weights", "non-zero matrices", f"{name!r} is all zeros", described=True)
    E = energy(S)
    d_out, d_in = W.shape
    r_star = rank_for_energy(S, target)
    return LayerSpectrum(
        name=name,
        shape=(d_out, d_in),
        S=S,
        stable_rank=stable_rank(W),
        effective_rank=effective_rank(W),
        energy_at={r: float(E[min(r, len(E)) - 1]) for r in ranks},
        target_energy=target,
        rank_for_target=r_star,
        lora_params=r_star * (d_in + d_out),
        full_params=d_out * d_in,
    )


def analyze_weights(
    weights: Mapping[str, object],
    ranks: Sequence[int] = (1, 4, 8, 16, 64),
    target_energy: float = 0.9,
) -> ModelSpectrum:
    """Analyze named 2-D matrices (NumPy arrays or tensors), e.g. fine-tuning updates dW.

    ``ranks``: where to report the energy ``E_r``; a rank beyond ``min(shape)`` keeps
    all of it (1.0). ``target_energy`` in (0, 1]: the energy the suggested rank must keep.
    """
    if not isinstance(weights, Mapping) or not weights:
        raise fail("weights", "a non-empty mapping of name -> 2-D matrix", weights)
    ranks = _check_ranks(ranks)
    target = check_real(target_energy, "target_energy", low=0.0, high=1.0, low_open=True)
    layers = tuple(
        _layer(str(name), as_float_array(W, f"weights[{name!r}]", ndim=2), ranks, target)
        for name, W in weights.items()
    )
    return ModelSpectrum(layers, ranks, target)


def linear_weights(model: nn.Module) -> dict[str, np.ndarray]:
    """``{name: W}`` (float64 copies) for every ``nn.Linear`` and ``LoRALinear`` in ``model``.

    A :class:`LoRALinear` contributes its merged weight ``W + (alpha / r) B A``.
    """
    if not isinstance(model, nn.Module):
        raise fail_type("model", "a torch.nn.Module", model)
    out: dict[str, np.ndarray] = {}
    skip: set[str] = set()
    for name, module in model.named_modules():
        if any(name.startswith(s + ".") for s in skip):
            continue  # the frozen base inside a LoRALinear is reported through the merge
        if isinstance(module, LoRALinear):
            W = module.base.weight + module.delta_weight()
            skip.add(name)
        elif isinstance(module, nn.Linear):
            W = module.weight
        else:
            continue
        out[name or type(module).__name__] = W.detach().cpu().double().numpy().copy()
    if not out:
        raise fail("model", "a model with at least one nn.Linear layer", model)
    return out


def analyze_model(
    model: nn.Module,
    ranks: Sequence[int] = (1, 4, 8, 16, 64),
    target_energy: float = 0.9,
) -> ModelSpectrum:
    """Per-layer singular spectra of every Linear layer of ``model`` (read only).

    >>> spec = analyze_model(model)          # doctest: +SKIP
    >>> spec                                 # a table: stable rank, E_r, rank@0.9, ...
    """
    return analyze_weights(linear_weights(model), ranks, target_energy)
