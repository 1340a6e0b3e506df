"""Figures for Lab 1.3.1: training curves, agreement tables, and computational graphs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Circle, FancyBboxPatch

__all__ = ["draw_graph", "plot_agreement", "plot_table", "plot_training_curves"]


def plot_training_curves(history, *, target_accuracy: float | None = 0.90, title: str = ""):
    """Loss (left) and accuracy (right) per epoch for a :class:`~dlmath.backprop.History`."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.8))
    epochs = np.arange(1, history.epochs + 1)
    ax_loss.plot(epochs, history.train_loss, marker="o", ms=3, label="train (mean minibatch)")
    if history.test_loss:
        ax_loss.plot(epochs, history.test_loss, marker="s", ms=3, label="held-out")
    ax_loss.set_yscale("log")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss (nats, log scale)", title="Loss")
    ax_loss.legend()
    if history.train_acc:
        ax_acc.plot(epochs, history.train_acc, marker="o", ms=3, label="train")
    if history.test_acc:
        ax_acc.plot(epochs, history.test_acc, marker="s", ms=3, label="held-out")
    if target_accuracy is not None:
        ax_acc.axhline(
            target_accuracy, color="k", ls="--", lw=1, label=f"target {target_accuracy:g}"
        )
    ax_acc.set(xlabel="epoch", ylabel="accuracy (fraction correct)", title="Accuracy")
    ax_acc.legend(loc="lower right")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    fig.suptitle(title or "Training with the hand-written backward pass (minibatch SGD)")
    fig.tight_layout()
    return fig


def plot_agreement(
    series: dict[str, Sequence[float]],
    labels: Sequence[str],
    thresholds: dict[str, float],
    *,
    title: str = "Manual backprop vs torch autograd",
    ylabel: str = "max |manual - autograd|",
):
    """Grouped bars (log scale) of per-parameter differences, one group per parameter.

    ``series`` maps a name (e.g. "float64") to one value per label; ``thresholds`` draws
    dashed horizontal lines (e.g. {"1e-6 (module)": 1e-6}). Zeros are drawn at the floor.
    """
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(labels) + 2), 4))
    x = np.arange(len(labels))
    width = 0.8 / max(1, len(series))
    floor = 1e-18
    for i, (name, vals) in enumerate(series.items()):
        vals = np.maximum(np.asarray(vals, dtype=float), floor)
        ax.bar(x + (i - (len(series) - 1) / 2) * width, vals, width, label=name)
    for (name, value), style in zip(thresholds.items(), ("--", ":", "-."), strict=False):
        ax.axhline(value, color="k", ls=style, lw=1, label=f"threshold {name}")
    ax.set_yscale("log")
    ax.set_xticks(x, labels, rotation=30 if len(labels) > 6 else 0, ha="right")
    ax.set(ylabel=ylabel, title=title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2e}" if value != 0 else "0"
    return str(value)


def plot_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], *, title: str):
    """A table of ``rows`` (dicts) as a figure, one column per key in ``columns``."""
    fig, ax = plt.subplots(figsize=(1.9 * len(columns) + 1, 0.34 * len(rows) + 1.0))
    ax.axis("off")
    cells = [[_cell(r[c]) for c in columns] for r in rows]
    table = ax.table(cellText=cells, colLabels=list(columns), loc="center", cellLoc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    table.scale(1, 1.3)
    for (r, _), cell in table.get_celld().items():
        if r == 0:
            cell.set_text_props(weight="bold")
            cell.set_facecolor("#e8eef7")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def _layout(nodes, edges) -> dict[int, tuple[float, float]]:
    """Layered layout: a column per depth, rows ordered to keep edges short.

    An operation's depth is 1 + its deepest input's; an input (leaf) sits one column
    before its first use, so constants appear next to the operation that needs them.
    Rows start in topological order, then a few sweeps sort each column by the mean row
    of its neighbours (the barycentre heuristic of layered graph drawing).
    """
    depth: dict[int, int] = {}
    children: dict[int, list] = {id(n): [] for n in nodes}
    for parent, child in edges:
        children[id(parent)].append(child)
    for node in nodes:  # topological order: parents first
        depth[id(node)] = 1 + max((depth[id(p)] for p in node.parents), default=-1)
    for node in nodes:
        if not node.parents and children[id(node)]:
            depth[id(node)] = max(0, min(depth[id(c)] for c in children[id(node)]) - 1)
    columns: dict[int, list] = {}
    for node in nodes:
        columns.setdefault(depth[id(node)], []).append(node)
    row = {id(n): float(i) for col in columns.values() for i, n in enumerate(col)}
    for _ in range(4):
        for d in sorted(columns):
            col = columns[d]
            col.sort(
                key=lambda n: np.mean(
                    [row[id(m)] for m in (*n.parents, *children[id(n)])] or [row[id(n)]]
                )
            )
            for i, n in enumerate(col):
                row[id(n)] = i - (len(col) - 1) / 2
    return {id(n): (2.0 * depth[id(n)], row[id(n)]) for n in nodes}


def draw_graph(root, *, title: str = "Computational graph (forward value / gradient)"):
    """Draw the graph recorded by a :class:`~dlmath.backprop.graph.Value` with matplotlib.

    Each value is a box ``label | data | grad``; the operation that produced it is a circle
    just before it, with arrows from its inputs. Leaves (inputs) are on the left.
    """
    from dlmath.backprop.graph import trace

    nodes, edges = trace(root)
    pos = _layout(nodes, edges)
    n_cols = 1 + max(int(x // 2) for x, _ in pos.values())
    n_rows = max(sum(1 for x, _ in pos.values() if x == c * 2) for c in range(n_cols))
    fig, ax = plt.subplots(figsize=(2.1 * n_cols + 1, 0.9 * n_rows + 1.5))
    box_w, box_h = 1.25, 0.55
    for node in nodes:
        x, y = pos[id(node)]
        is_root = node is root
        ax.add_patch(
            FancyBboxPatch(
                (x - box_w / 2, y - box_h / 2),
                box_w,
                box_h,
                boxstyle="round,pad=0.03",
                fc="#fde9c8" if is_root else ("#dbe8f6" if not node.parents else "white"),
                ec="k",
                lw=0.8,
            )
        )
        name = f"{node.label}\n" if node.label else ("const\n" if not node.parents else "")
        ax.text(
            x, y, f"{name}{node.data:.4g} | g {node.grad:.3g}", ha="center", va="center", fontsize=7
        )
        if node.parents:
            ox, oy = x - 1.0, y
            ax.add_patch(Circle((ox, oy), 0.2, fc="#f2f2f2", ec="k", lw=0.8))
            ax.text(ox, oy, node.op, ha="center", va="center", fontsize=7)
            ax.annotate(
                "", (x - box_w / 2, y), (ox + 0.2, oy), arrowprops={"arrowstyle": "->", "lw": 0.8}
            )
            for p in node.parents:
                px, py = pos[id(p)]
                ax.annotate(
                    "",
                    (ox - 0.2, oy),
                    (px + box_w / 2, py),
                    arrowprops={"arrowstyle": "->", "lw": 0.6, "color": "0.35"},
                )
    xs = [x for x, _ in pos.values()]
    ys = [y for _, y in pos.values()]
    ax.set_xlim(min(xs) - 1.0, max(xs) + 1.0)
    ax.set_ylim(min(ys) - 0.8, max(ys) + 0.8)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(f"{title}: {len(nodes)} nodes, {len(edges)} edges")
    fig.tight_layout()
    return fig
