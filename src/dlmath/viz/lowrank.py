"""Figures for Lab 1.3.4 (SVD, low rank, LoRA). Each builder returns a matplotlib figure.

The caller saves it (``ctx.save_figure`` or :func:`dlmath.viz.files.save_png`), which
also closes it. Builders take plain numbers and arrays, never run an experiment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from dlmath.lowrank import MemoryTable, RankSweep, quarter_circle_pdf

__all__ = [
    "error_vs_rank_figure",
    "lora_sweep_figure",
    "memory_figure",
    "quarter_circle_figure",
    "reconstruction_figure",
    "spectra_figure",
    "variance_depth_figure",
]


def error_vs_rank_figure(
    sweeps: Mapping[str, RankSweep],
    explicit: Mapping[str, tuple[Sequence[int], Sequence[float]]] | None = None,
    *,
    title: str = "Best rank-r approximation: error vs rank (Eckart-Young)",
):
    """Relative Frobenius error vs rank, log scale: a line per matrix from its singular
    values, and markers at the ranks where the reconstruction was formed explicitly."""
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for i, (label, sweep) in enumerate(sweeps.items()):
        color = f"C{i}"
        keep = sweep.frobenius > 0  # log scale: the exact zero at full rank is not drawable
        ax.plot(sweep.ranks[keep], sweep.frobenius[keep], color=color, lw=1.6, label=label)
        if explicit and label in explicit:
            ranks, errs = (np.asarray(v, dtype=float) for v in explicit[label])
            ok = errs > 0
            ax.plot(ranks[ok], errs[ok], "o", color=color, mfc="none", ms=9)
    ax.plot(
        [], [], "o", color="gray", mfc="none", label="explicit ||W - U_r S_r Vt_r||_F / ||W||_F"
    )
    ax.plot(
        [], [], "-", color="gray", label="from singular values: sqrt(sum_(i>r) s_i^2 / sum s_i^2)"
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(1e-3, 1.5)  # below 1e-3 the curves only fall off the cliff at full rank
    ax.set_xlabel("rank r")
    ax.set_ylabel("relative Frobenius error ||W - W_r||_F / ||W||_F")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    return fig


def quarter_circle_figure(S: np.ndarray, n: int, sigma: float):
    """Histogram of ``S / (sigma sqrt(n))`` against the quarter-circle density on [0, 2]."""
    x = np.asarray(S, dtype=float) / (sigma * np.sqrt(n))
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    ax.hist(x, bins=40, density=True, alpha=0.6, color="C0",
            label=f"singular values of one {n}x{n} Gaussian matrix")  # fmt: skip
    grid = np.linspace(0.0, 2.0, 400)
    ax.plot(grid, quarter_circle_pdf(grid), color="C3", lw=2, label="quarter circle sqrt(4-x^2)/pi")
    ax.set_xlabel("scaled singular value x = s / (sigma sqrt(n))")
    ax.set_ylabel("density")
    ax.set_title("Singular values of a random matrix vs the quarter-circle law")
    ax.legend(fontsize=8)
    return fig


def reconstruction_figure(W: np.ndarray, reconstructions: Mapping[int, np.ndarray], crop: int = 64):
    """Top row: the ``crop`` x ``crop`` corner of ``W`` and of each ``W_r``. Bottom row: the
    residual ``W - W_r`` on the same colour scale, titled with its relative Frobenius error."""
    n = len(reconstructions) + 1
    fig, axes = plt.subplots(2, n, figsize=(2.2 * n, 4.8), sharex=True, sharey=True)
    vmax = float(np.abs(W[:crop, :crop]).max())
    norm = np.linalg.norm(W)
    kw = {"cmap": "RdBu_r", "vmin": -vmax, "vmax": vmax}
    im = axes[0, 0].imshow(W[:crop, :crop], **kw)
    axes[0, 0].set_title("W (original)", fontsize=9)
    axes[1, 0].imshow(np.zeros((crop, crop)), **kw)
    axes[1, 0].set_title("residual W - W_r", fontsize=9)
    for j, (r, Wr) in enumerate(reconstructions.items(), start=1):
        axes[0, j].imshow(Wr[:crop, :crop], **kw)
        axes[0, j].set_title(f"W_r, r = {r}", fontsize=9)
        R = W - Wr
        axes[1, j].imshow(R[:crop, :crop], **kw)
        axes[1, j].set_title(f"error {np.linalg.norm(R) / norm:.2g}", fontsize=9)
    for ax in axes[1]:
        ax.set_xlabel("column j")
    for ax in axes[:, 0]:
        ax.set_ylabel("row i")
    fig.colorbar(im, ax=list(axes.ravel()), shrink=0.7, label="entry value")
    fig.suptitle(f"Rank-r reconstructions U_r S_r Vt_r and residuals ({crop}x{crop} corner)")
    return fig


def spectra_figure(spectra: Mapping[str, np.ndarray], *, title: str = "Singular spectra"):
    """Left: ``S_i / S_1`` vs index (log y). Right: cumulative energy ``E_r`` vs rank."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for i, (label, S) in enumerate(spectra.items()):
        S = np.asarray(S, dtype=float)
        idx = np.arange(1, len(S) + 1)
        style = "--" if "dW" in label else "-"
        ax1.plot(idx, S / S[0], style, color=f"C{i}", label=label)
        ax2.plot(idx, np.cumsum(S**2) / np.sum(S**2), style, color=f"C{i}", label=label)
    ax1.set_yscale("log")
    ax1.set_ylim(1e-4, 1.5)  # exact zeros (rank-deficient updates) sit at rounding level
    ax1.set_xlabel("index i")
    ax1.set_ylabel("s_i / s_1")
    ax1.set_title("normalized singular values")
    ax2.set_xscale("log")
    ax2.set_xlabel("rank r")
    ax2.set_ylabel("energy E_r = sum_(i<=r) s_i^2 / sum s_i^2")
    ax2.set_title("energy kept by the best rank-r approximation")
    ax2.axhline(0.9, color="gray", lw=0.8, ls=":")
    for ax in (ax1, ax2):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    return fig


def memory_figure(tables: Mapping[str, MemoryTable]):
    """Trainable numbers of LoRA as a percentage of full fine-tuning, vs rank (log-log)."""
    fig, ax = plt.subplots(figsize=(6.8, 4.2))
    for i, (label, table) in enumerate(tables.items()):
        ranks = [row["rank"] for row in table.rows]
        pct = [row["percent"] for row in table.rows]
        ax.plot(ranks, pct, "o-", color=f"C{i}", label=label)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("LoRA rank r")
    ax.set_ylabel("trainable parameters, % of full fine-tuning")
    ax.set_title("LoRA memory: r (d_in + d_out) vs d_in d_out")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def lora_sweep_figure(rows: Sequence[Mapping[str, float]], *, full_acc: float, base_acc: float):
    """Test accuracy (left axis) and trainable parameters (right axis, log) vs LoRA rank."""
    ranks = [row["rank"] for row in rows]
    fig, ax = plt.subplots(figsize=(6.8, 4.2))
    ax.plot(ranks, [row["accuracy"] for row in rows], "o-", color="C0", label="LoRA accuracy")
    ax.axhline(full_acc, color="C2", ls="--", label=f"full fine-tuning ({full_acc:.3f})")
    ax.axhline(base_acc, color="C3", ls=":", label=f"pretrained, no tuning ({base_acc:.3f})")
    ax.set_xscale("log", base=2)
    ax.set_xticks(ranks, [str(r) for r in ranks])
    ax.set_xlabel("LoRA rank r")
    ax.set_ylabel("test accuracy on the shifted task")
    ax2 = ax.twinx()
    ax2.plot(ranks, [row["trainable"] for row in rows], "s--", color="C1", label="trainable params")
    ax2.set_yscale("log")
    ax2.set_ylabel("trainable parameters")
    lines = ax.get_legend_handles_labels()
    more = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8, loc="lower right")
    ax.set_title("LoRA fine-tuning on rotated digits: accuracy and cost vs rank")
    ax.grid(True, alpha=0.3)
    return fig


def variance_depth_figure(curves: Mapping[str, np.ndarray]):
    """Variance of the pre-activations vs layer index (log y), one line per init/activation."""
    fig, ax = plt.subplots(figsize=(6.8, 4.2))
    for i, (label, v) in enumerate(curves.items()):
        ax.plot(np.arange(len(v)), v, color=f"C{i}", label=label)
    ax.set_yscale("log")
    ax.set_xlabel("layer l")
    ax.set_ylabel("Var(z_l) (pre-activations)")
    ax.set_title("Activation variance through a deep stack")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig
