"""Lab 1.3.1: manual backpropagation, verified against autograd, then used to train.

Steps (the module's instructions, then the checks that prove them):

1. a 3-layer MLP 64 -> 64 -> 64 -> 10 (input -> hidden -> hidden -> output) on the
   scikit-learn digits, forward and backward written by hand (:mod:`dlmath.backprop`);
2. its gradients against torch autograd for every activation and loss, in float64 and
   float32, and against central differences (numerical gradient check);
3. each layer's Jacobian and a small network's Hessian against ``torch.func``;
4. a scalar autograd engine that records the computational graph, against torch;
5. minibatch SGD with the manual backward to >= 90% held-out accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dlmath.backprop import (
    ACTIVATIONS,
    LOSSES,
    MLP,
    compare_scalar_autograd,
    compare_with_autograd,
    gradient_check,
    jacobian_checks,
    train,
)
from dlmath.backprop.losses import cross_entropy_grad
from dlmath.data import Split, digits
from dlmath.labs._contract import Check, LabContext, LabResult, Section, progress_bar
from dlmath.milestones import milestones_of

TITLE = "Manual backpropagation"
MILESTONES = milestones_of(1)

MODULE_TOL = 1e-6  # the module's tolerance
FLOAT64_TOL = 1e-12  # what float64 arithmetic allows for the same computation
TARGET_ACCURACY = 0.90


def neuron_loss(x1, x2, w1, w2, b, t):
    """A tanh neuron, its squared error and a log-sigmoid term: one expression, two engines."""
    n = x1 * w1 + x2 * w2 + b
    return (n.tanh() - t) ** 2 - n.sigmoid().log()


NEURON_INPUTS = {"x1": 2.0, "x2": -1.0, "w1": -0.6, "w2": 0.8, "b": 0.7, "t": 0.5}


@dataclass(frozen=True)
class Config:
    """Sizes and seeds of lab 1: ``n_check`` rows for the numerical gradient check,
    ``epochs`` of minibatch SGD (batch ``batch_size``, learning rate ``lr``)."""

    quick: bool
    seed: int
    n_check: int
    epochs: int
    batch_size: int = 32
    lr: float = 0.1
    hidden: tuple[int, ...] = (64, 64)


def config(quick: bool = False, seed: int = 0) -> Config:
    """The lab's sizes: ``quick`` for tests (seconds), else the full run."""
    return Config(quick, seed, n_check=8 if quick else 32, epochs=8 if quick else 40)


def setup(cfg: Config) -> tuple[Split, MLP]:
    """The digits split and the one network that is both gradient-checked and trained."""
    data = digits(seed=cfg.seed)
    sizes = [data.n_features, *cfg.hidden, data.n_classes]
    return data, MLP(sizes, activation="tanh", loss="cross_entropy", seed=cfg.seed)


def _targets(mlp: MLP, y: np.ndarray, n_classes: int) -> np.ndarray:
    """Labels for cross-entropy; one-hot float targets for mse."""
    return y if mlp.loss == "cross_entropy" else np.eye(n_classes, dtype=mlp.dtype)[y]


def _autograd_agreement(data, sizes, seed):
    """compare_with_autograd for every activation x loss, float64 and float32."""
    X, y = data.X_train[:64], data.y_train[:64]
    summary, main = [], None
    for act in ACTIVATIONS:
        for loss in LOSSES:
            mlp = MLP(sizes, activation=act, loss=loss, seed=seed)
            c64 = compare_with_autograd(mlp, X, _targets(mlp, y, data.n_classes))
            mlp32 = mlp.copy(np.float32)
            c32 = compare_with_autograd(mlp32, X, _targets(mlp32, y, data.n_classes))
            summary.append(
                {
                    "activation": act,
                    "loss": loss,
                    "float64 max |diff|": c64.max_abs,
                    "float32 max |diff|": c32.max_abs,
                    "float32 max rel": c32.max_rel,
                }
            )
            if act == "tanh" and loss == "cross_entropy":
                main = (c64, c32)
    return summary, main


def run(ctx: LabContext) -> LabResult:
    """The lab's experiments in the order of the module docstring, as one result."""
    cfg = config(ctx.quick, ctx.seed)
    data, mlp = setup(cfg)
    sections = [
        agreement(cfg, data),
        numerical_check(cfg, data, mlp),
        jacobians_and_hessian(cfg),
        scalar_autograd(cfg),
        softmax_stability(cfg),
        training(cfg, data, mlp, progress=ctx.progress),
    ]
    return ctx.result(1, TITLE, sections)


def agreement(cfg: Config, data: Split) -> Section:
    """Manual backprop vs torch autograd for every activation and loss, float64 and float32."""
    from dlmath.viz.backprop import plot_agreement, plot_table

    sizes = [data.n_features, *cfg.hidden, data.n_classes]
    summary, (c64, c32) = _autograd_agreement(data, sizes, cfg.seed)
    worst64 = max(r["float64 max |diff|"] for r in summary)
    worst32 = max(r["float32 max |diff|"] for r in summary)
    every = f"max |diff| over {len(ACTIVATIONS)} activations x {len(LOSSES)} losses"
    checks = [
        Check.at_most(
            "manual backprop matches autograd (float64)",
            worst64,
            MODULE_TOL,
            detail=every,
        ),
        Check.at_most(
            "manual backprop matches autograd (float32)",
            worst32,
            MODULE_TOL,
            detail=every,
        ),
        Check.at_most(
            "manual backprop matches autograd to float64 precision",
            worst64,
            FLOAT64_TOL,
            detail="max |diff|",
        ),
    ]
    per_param = [
        {
            "param": a["param"],
            "shape": str(a["shape"]),
            "float64 max |diff|": a["max_abs_diff"],
            "float32 max |diff|": b["max_abs_diff"],
            "float32 rel diff": b["rel_diff"],
        }
        for a, b in zip(c64.rows, c32.rows, strict=True)
    ]
    figures = {
        "autograd_agreement.png": lambda: plot_agreement(
            {
                "float64": [r["float64 max |diff|"] for r in per_param],
                "float32": [r["float32 max |diff|"] for r in per_param],
            },
            [r["param"] for r in per_param],
            {"1e-6 (module)": MODULE_TOL, "1e-12 (float64)": FLOAT64_TOL},
            title="Manual backprop vs torch autograd, MLP 64-64-64-10 tanh, cross-entropy",
        ),
        "autograd_table.png": lambda: plot_table(
            summary,
            list(summary[0]),
            title="Manual backprop vs autograd: every activation and loss (batch 64)",
        ),
    }
    tables = {
        "autograd agreement, MLP 64-64-64-10 tanh / cross-entropy": per_param,
        "autograd agreement, every activation and loss": summary,
    }
    return Section(
        "manual backprop vs autograd",
        checks,
        tables,
        values={"float64": c64, "float32": c32, "summary": summary},
        figures=figures,
    )


def numerical_check(cfg: Config, data: Split, mlp: MLP) -> Section:
    """Central differences (float64) against the manual backward, every parameter."""
    n_check = cfg.n_check
    gc = gradient_check(mlp, data.X_train[:n_check], data.y_train[:n_check])
    check = Check.at_most(
        "numerical gradient check",
        gc.max_rel,
        MODULE_TOL,
        detail=f"max relative error, all {mlp.n_params:,} parameters",
    )
    rows = [{**r, "shape": str(r["shape"])} for r in gc.rows]
    table = {"numerical gradient check (central differences, eps 1e-5)": rows}
    return Section("numerical gradient check", [check], table, values={"check": gc})


def jacobians_and_hessian(cfg: Config) -> Section:
    """Every layer's analytic Jacobian and a small network's Hessian against torch.func."""
    from dlmath.viz.backprop import plot_table

    jac = jacobian_checks(seed=cfg.seed)
    check = Check.at_most(
        "Jacobians and Hessian match torch.func",
        max(r["max_abs_diff"] for r in jac),
        1e-10,
        detail="max |diff|",
    )
    rows = [{**r, "shape": str(r["shape"])} for r in jac]
    figures = {
        "jacobian_hessian_checks.png": lambda: plot_table(
            rows,
            ["quantity", "shape", "max_abs_diff", "reference"],
            title="Analytic Jacobians and Hessian vs torch.func (float64)",
        )
    }
    return Section(
        "Jacobians and Hessians",
        [check],
        {"Jacobians and Hessian vs torch.func": rows},
        values={"rows": jac},
        figures=figures,
    )


def scalar_autograd(cfg: Config) -> Section:
    """The scalar engine on :func:`neuron_loss`: value and gradients vs torch, and its graph."""
    from dlmath.viz.backprop import draw_graph

    scalar = compare_scalar_autograd(neuron_loss, NEURON_INPUTS)
    check = Check.at_most(
        "scalar autograd matches torch",
        scalar["max_diff"],
        FLOAT64_TOL,
        detail="max |diff| of value and 6 gradients",
    )
    title = "(tanh(x1 w1 + x2 w2 + b) - t)^2 - log sigmoid(x1 w1 + x2 w2 + b)"
    return Section(
        "scalar autograd and its graph",
        [check],
        values=scalar,
        figures={"computational_graph.png": lambda: draw_graph(scalar["root"], title=title)},
    )


def softmax_stability(cfg: Config) -> Section:
    """Softmax cross-entropy and its gradient at logits of +-1e4, against torch."""
    import torch
    import torch.nn.functional as F

    # exp(1e4) overflows float64: only a max-shifted softmax survives the first two rows.
    Z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5e3], [3.0, 1.0, -2.0]])
    labels = np.array([1, 1, 0])
    loss, dZ = cross_entropy_grad(Z, labels)
    Zt = torch.tensor(Z, requires_grad=True)
    t_loss = F.cross_entropy(Zt, torch.from_numpy(labels))
    t_loss.backward()
    stable = bool(
        np.isfinite(loss)
        and np.isfinite(dZ).all()
        and abs(loss - t_loss.item()) <= 1e-12 * abs(t_loss.item())
        and np.abs(dZ - Zt.grad.numpy()).max() <= 1e-15
    )
    check = Check.holds(
        "softmax cross-entropy stable at logits of +-1e4",
        stable,
        detail=f"loss {loss:.6g} = torch {t_loss.item():.6g}, grads finite",
    )
    return Section(
        "softmax cross-entropy at extreme logits",
        [check],
        values={"loss": loss, "dZ": dZ, "torch_loss": t_loss.item()},
    )


def training(cfg: Config, data: Split, mlp: MLP, *, progress=progress_bar) -> Section:
    """Minibatch SGD on digits with the manual backward, to the held-out accuracy target.

    Trains a copy of ``mlp`` (the lab's network, the one the gradient check verified), so
    the caller's network and a second call are untouched; the trained one is
    ``section["mlp"]``.
    """
    from dlmath.viz.backprop import plot_training_curves

    epochs = cfg.epochs
    mlp = mlp.copy()
    history = train(
        mlp,
        data.X_train,
        data.y_train,
        epochs=epochs,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        seed=cfg.seed,
        X_test=data.X_test,
        y_test=data.y_test,
        progress=progress,
    )
    check = Check.at_least(
        "held-out accuracy on digits",
        history.test_acc[-1],
        TARGET_ACCURACY,
        detail=f"after {epochs} epochs of SGD",
    )
    # Trained weights are far from the initialization the agreement section checked.
    after = compare_with_autograd(mlp, data.X_test[:64], data.y_test[:64])
    rows = [
        {
            "epoch": e + 1,
            "train loss": history.train_loss[e],
            "held-out loss": history.test_loss[e],
            "train acc": history.train_acc[e],
            "held-out acc": history.test_acc[e],
        }
        for e in range(epochs)
    ]
    title = (
        f"MLP 64-64-64-10 tanh on digits ({len(data.X_train)} train, "
        f"{len(data.X_test)} held-out images), manual backward"
    )
    figures = {
        "training_curves.png": lambda: plot_training_curves(
            history, target_accuracy=TARGET_ACCURACY, title=title
        )
    }
    notes = [
        f"Network: {mlp!r}; data: {data!r}.",
        f"After training the gradients still match autograd: max |diff| {after.max_abs:.1e}.",
        "Gradient checks use float64; float32 agreement is measured on the same networks.",
    ]
    return Section(
        "training with the manual backward",
        [check],
        {f"training (minibatch SGD, lr {cfg.lr:g}, batch {cfg.batch_size})": rows},
        notes,
        values={"history": history, "after_training": after, "mlp": mlp},
        figures=figures,
    )
