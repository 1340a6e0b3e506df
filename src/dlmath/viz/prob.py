"""Figures for lab 5 (probability): samples vs densities, MLE curves, KL fits, posteriors.

Each builder takes computed numbers (never computes the math itself), returns a
matplotlib Figure, and leaves saving to the caller (``ctx.save_figure``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

__all__ = [
    "distributions_figure",
    "loss_curves_figure",
    "gd_convergence_figure",
    "kl_asymmetry_figure",
    "cross_entropy_bars_figure",
    "posterior_figure",
]


def _discrete_panel(ax: Any, probs: np.ndarray, samples: np.ndarray, title: str) -> None:
    k = np.arange(probs.size)
    freq = np.bincount(samples, minlength=probs.size) / samples.size
    ax.bar(k - 0.2, probs, width=0.4, label="pmf", color="tab:blue")
    ax.bar(
        k + 0.2, freq, width=0.4, label=f"sample frequency (n={samples.size})", color="tab:orange"
    )
    ax.set_xticks(k)
    ax.set_xlabel("outcome k")
    ax.set_ylabel("probability")
    ax.set_title(title)
    ax.legend(fontsize=8)


def distributions_figure(
    gaussian: Any,
    g_samples: np.ndarray,
    bernoulli: Any,
    b_samples: np.ndarray,
    categorical: Any,
    c_samples: np.ndarray,
) -> plt.Figure:
    """Three panels: Gaussian histogram vs pdf; Bernoulli and Categorical frequencies vs pmf."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    ax = axes[0]
    ax.hist(
        g_samples,
        bins=50,
        density=True,
        alpha=0.5,
        color="tab:orange",
        label=f"samples (n={g_samples.size})",
    )
    x = np.linspace(gaussian.mu - 4 * gaussian.sigma, gaussian.mu + 4 * gaussian.sigma, 400)
    ax.plot(x, gaussian.pdf(x), color="tab:blue", lw=2, label="pdf")
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    ax.set_title(repr(gaussian))
    ax.legend(fontsize=8)
    _discrete_panel(axes[1], bernoulli.probs, b_samples, repr(bernoulli))
    _discrete_panel(axes[2], categorical.probs, c_samples, repr(categorical))
    fig.suptitle("Samples against their distribution")
    fig.tight_layout()
    return fig


def loss_curves_figure(
    x: np.ndarray,
    curves: Mapping[str, np.ndarray],
    minimizer: float,
    *,
    xlabel: str,
    title: str,
    ylabel: str = "loss (nats)",
) -> plt.Figure:
    """Several losses of one parameter on one axis, with the closed-form minimiser marked."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    styles = ["-", "--", ":", "-."]
    for i, (label, y) in enumerate(curves.items()):
        ax.plot(x, y, styles[i % len(styles)], lw=2.5 - 0.5 * i, label=label)
    ax.axvline(minimizer, color="gray", lw=1, label=f"closed-form minimiser {minimizer:.4g}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def gd_convergence_figure(
    histories: Mapping[str, np.ndarray], targets: Mapping[str, float]
) -> plt.Figure:
    """|parameter - closed-form MLE| per gradient-descent step (log scale), one line each."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for label, h in histories.items():
        err = np.maximum(np.abs(np.asarray(h) - targets[label]), 1e-17)
        ax.semilogy(np.arange(err.size), err, label=label)
    ax.set_xlabel("gradient-descent step")
    ax.set_ylabel("|estimate - closed-form MLE|")
    ax.set_title("Gradient descent on the NLL converges to the closed-form MLE")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def kl_asymmetry_figure(
    x: np.ndarray,
    p_pdf: np.ndarray,
    q_forward: Any,
    q_reverse: Any,
    p_samples: np.ndarray | None = None,
) -> plt.Figure:
    """The bimodal target p with the forward-KL and reverse-KL Gaussian fits."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    if p_samples is not None:
        ax.hist(
            p_samples,
            bins=80,
            density=True,
            alpha=0.25,
            color="k",
            label=f"samples of p (n={p_samples.size})",
        )
    ax.plot(x, p_pdf, "k", lw=2.5, label="p: bimodal mixture")
    ax.plot(
        x,
        q_forward.pdf(x),
        "tab:blue",
        lw=2,
        label=f"argmin KL(p||q): {q_forward!r} (mass-covering)",
    )
    ax.plot(
        x, q_reverse.pdf(x), "tab:red", lw=2, label=f"argmin KL(q||p): {q_reverse!r} (mode-seeking)"
    )
    curves = np.vstack([p_pdf, q_forward.pdf(x), q_reverse.pdf(x)]).max(axis=0)
    visible = x[curves > 1e-3 * curves.max()]  # crop the empty tails of a wide grid
    ax.set_xlim(visible.min(), visible.max())
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    ax.set_title("KL is asymmetric: forward vs reverse fit of one Gaussian")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def cross_entropy_bars_figure(H: np.ndarray, KL: np.ndarray, CE: np.ndarray) -> plt.Figure:
    """Stacked bars H(p) + KL(p||q) per pair, with the separately computed H(p, q) on top."""
    fig, ax = plt.subplots(figsize=(8, 4))
    i = np.arange(len(H))
    ax.bar(i, H, label="H(p)", color="tab:blue")
    ax.bar(i, KL, bottom=H, label="KL(p || q)", color="tab:orange")
    ax.plot(i, CE, "k_", markersize=22, mew=2.5, label="H(p, q) computed directly")
    ax.set_xticks(i)
    ax.set_xlabel("random pair (p, q)")
    ax.set_ylabel("nats")
    ax.set_title("Cross-entropy = entropy + KL divergence")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def posterior_figure(
    theta: np.ndarray, posteriors: Sequence[tuple[str, np.ndarray]], true_p: float | None = None
) -> plt.Figure:
    """Posterior densities over the Bernoulli parameter as observations arrive."""
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(posteriors)))
    for (label, density), c in zip(posteriors, colors, strict=True):
        ax.plot(theta, density, color=c, lw=2, label=label)
    if true_p is not None:
        ax.axvline(true_p, color="k", ls="--", lw=1, label=f"true p = {true_p:g}")
    ax.set_xlabel("Bernoulli parameter p")
    ax.set_ylabel("posterior density")
    ax.set_title("Beta-Bernoulli posterior as data arrive")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
