"""Lab 1.3.2: optimizers from scratch, learning-rate schedules, convergence vs theory.

SGD, momentum, Nesterov, Adam, AdamW, RMSprop and Adagrad (``dlmath.optim``) are checked
against ``torch.optim`` over 500-step trajectories, then raced on 2-D test functions
(trajectories over contours, convergence curves, a speed/stability table from a
learning-rate sweep, an interactive slider plot), their schedules compared with
``torch.optim.lr_scheduler``, gradient descent and heavy ball measured against the
optimal rates of Goh (Distill 2017), and finally all of them train the Lab 1 MLP on digits.

The helpers below are what the notebook calls too.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from dlmath import optim
from dlmath.backprop import MLP
from dlmath.data import digits
from dlmath.labs._contract import Check, LabContext, LabResult, Section, drawn, progress_bar
from dlmath.milestones import milestones_of
from dlmath.optim import schedules as S
from dlmath.viz import optim as oviz
from dlmath.viz.inspect import finite_traces

TITLE = "Optimizers from scratch: SGD, momentum, Adam; schedules; rates vs theory"
MILESTONES = milestones_of(2)

#: label -> (class, hyperparameters other than lr): the optimizers raced in the lab
SPECS: dict[str, tuple[type, dict[str, Any]]] = {
    "SGD": (optim.SGD, {}),
    "Momentum": (optim.SGD, {"momentum": 0.9}),
    "Nesterov": (optim.SGD, {"momentum": 0.9, "nesterov": True}),
    "Adam": (optim.Adam, {}),
    "AdamW": (optim.AdamW, {"weight_decay": 1e-2}),
    "RMSprop": (optim.RMSprop, {}),
    "Adagrad": (optim.Adagrad, {}),
}

#: non-default settings checked against torch.optim (label, torch class name, hyper)
TORCH_CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("SGD", "SGD", {"lr": 0.05, "weight_decay": 0.01}),
    ("Momentum", "SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.1}),
    ("Nesterov", "SGD", {"lr": 0.05, "momentum": 0.8, "nesterov": True}),
    ("Adam", "Adam", {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1}),
    ("Adam (amsgrad)", "Adam", {"lr": 0.01, "amsgrad": True}),
    ("AdamW", "AdamW", {"lr": 0.01, "weight_decay": 0.1}),
    ("RMSprop", "RMSprop", {"lr": 0.01, "alpha": 0.9, "momentum": 0.5, "centered": True}),
    ("Adagrad", "Adagrad", {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1}),
]

#: functions in the speed/stability table; tolerance on the distance to the minimum
SWEEP_FUNCTIONS = ("rosenbrock", "beale", "himmelblau", "quadratic", "rastrigin")
TOL = 1e-3


@dataclass(frozen=True)
class Config:
    """Sizes of lab 2: ``torch_steps`` compared with torch.optim, ``steps`` per 2-D run over
    the learning rates ``lrs`` on ``functions``, ``epochs`` of MLP training, ``schedule_steps``."""

    quick: bool
    seed: int
    torch_steps: int
    steps: int
    functions: tuple[str, ...]
    lrs: tuple[float, ...]
    epochs: int
    schedule_steps: int = 100
    kappas: tuple[float, ...] = (10, 100, 1000)
    mlp_hidden: int = 32
    mlp_batch: int = 64


def config(quick: bool = False, seed: int = 0) -> Config:
    """The lab's sizes: ``quick`` for tests (seconds), else the full run."""
    if quick:
        lrs = tuple(np.logspace(-3.5, 0, 8))
        return Config(quick, seed, 100, 300, ("rosenbrock", "himmelblau", "quadratic"), lrs, 5)
    return Config(quick, seed, 500, 2000, SWEEP_FUNCTIONS, tuple(np.logspace(-4, 0.5, 19)), 40)


def make(label: str, params: list[np.ndarray], lr: Any) -> optim.Optimizer:
    """Build optimizer ``label`` of :data:`SPECS` on ``params`` with learning rate ``lr``."""
    cls, hyper = SPECS[label]
    return cls(params, lr=lr, **hyper)


def torch_equality(steps: int = 500) -> list[dict[str, Any]]:
    """Max relative difference to ``torch.optim`` over ``steps`` steps, per :data:`TORCH_CASES`."""
    rows = []
    for label, name, hyper in TORCH_CASES:
        diff = optim.compare_with_torch(name, steps=steps, **hyper)
        rows.append({"optimizer": label, "settings": str(hyper), "max_rel_diff": diff})
    return rows


def sweep(fn: optim.Function2D, lrs: np.ndarray, steps: int) -> dict[str, list[dict]]:
    """Learning-rate sweep of every optimizer in :data:`SPECS` on ``fn`` (rows per lr)."""

    def error(traj):
        return fn.distance_to_minimum(traj.points)

    return {
        label: optim.lr_sweep(fn.f, fn.grad, fn.x0, partial(make, label), lrs, steps, error, TOL)
        for label in SPECS
    }


def sweep_table(fn_name: str, sweeps: dict[str, list[dict]]) -> list[dict[str, Any]]:
    """Per optimizer: best lr (fewest steps to TOL, else lowest final error), its steps,
    and the largest stable lr of the sweep (speed and stability)."""
    rows = []
    for label, runs in sweeps.items():
        stable = [r for r in runs if r["stable"]]
        reached = [r for r in stable if r["steps_to_tol"] is not None]
        if reached:
            best = min(reached, key=lambda r: (r["steps_to_tol"], -r["lr"]))
        elif stable:
            best = min(stable, key=lambda r: r["final_error"])
        else:
            best = None
        rows.append(
            {
                "function": fn_name,
                "optimizer": label,
                "best_lr": None if best is None else best["lr"],
                "steps_to_tol": None if best is None else best["steps_to_tol"],
                "final_error": None if best is None else best["final_error"],
                "largest_stable_lr": max((r["lr"] for r in stable), default=None),
            }
        )
    return rows


def best_trajectories(fn: optim.Function2D, summary: list[dict], steps: int) -> dict:
    """Each optimizer's trajectory on ``fn`` at its best swept lr."""
    out = {}
    for row in summary:
        if row["best_lr"] is not None:
            maker = partial(make, row["optimizer"], lr=row["best_lr"])
            out[row["optimizer"]] = optim.minimize(fn.f, fn.grad, fn.x0, maker, steps)
    return out


def example_schedules(n: int = 100, base_lr: float = 0.1) -> dict[str, S.Schedule]:
    """One of each schedule over ``n`` steps (the lab's schedule figure)."""
    warm = max(n // 10, 1)
    return {
        "StepLR(step_size=n/4, gamma=0.5)": S.StepLR(base_lr, max(n // 4, 1), 0.5),
        "ExponentialLR(gamma=0.97)": S.ExponentialLR(base_lr, 0.97),
        "CosineAnnealingLR(T_max=n)": S.CosineAnnealingLR(base_lr, n, eta_min=1e-3),
        "LinearLR warmup": S.LinearLR(base_lr, 0.1, 1.0, warm),
        "OneCycleLR": S.OneCycleLR(base_lr, total_steps=n),
        "CosineAnnealingWarmRestarts(T_0=n/8, T_mult=2)": S.CosineAnnealingWarmRestarts(
            base_lr, max(n // 8, 1), 2, 1e-3
        ),
        "SequentialLR: warmup then cosine": S.SequentialLR(
            [S.LinearLR(base_lr, 0.1, 1.0, warm), S.CosineAnnealingLR(base_lr, n - warm)],
            [warm],
        ),
    }


#: learning rates per optimizer for the MLP (typical values for each rule)
MLP_LRS = {
    "SGD": 0.1,
    "Momentum": 0.02,
    "Nesterov": 0.02,
    "Adam": 2e-3,
    "AdamW": 2e-3,
    "RMSprop": 1e-3,
    "Adagrad": 0.05,
}


def train_digits(
    epochs: int, *, batch_size: int = 64, hidden: int = 32, seed: int = 0, progress=None
) -> dict[str, dict[str, list[float]]]:
    """Train the Lab 1 MLP (64-hidden-10, tanh, ``dlmath.backprop.MLP``) on digits with every
    optimizer of :data:`SPECS` at its :data:`MLP_LRS` learning rate.

    Same initialization and minibatch order for all; returns per optimizer the training
    loss (mean over the epoch's batches, epoch 0 = before training) and test accuracy.
    """
    data = digits(seed=seed)
    histories = {}
    labels = progress(SPECS, "optimizers on digits") if progress else SPECS
    for label in labels:
        mlp = MLP([data.n_features, hidden, data.n_classes], activation="tanh",
                  loss="cross_entropy", seed=seed)  # fmt: skip
        opt = make(label, mlp.params, MLP_LRS[label])
        rng = np.random.default_rng(seed)
        h = {"train_loss": [mlp.loss_value(data.X_train, data.y_train)],
             "test_accuracy": [mlp.accuracy(data.X_test, data.y_test)]}  # fmt: skip
        for _ in range(epochs):
            order = rng.permutation(len(data.X_train))
            losses = []
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                loss, grads = mlp.loss_and_grads(data.X_train[idx], data.y_train[idx])
                opt.step(grads)
                losses.append(loss)
            h["train_loss"].append(float(np.mean(losses)))
            h["test_accuracy"].append(mlp.accuracy(data.X_test, data.y_test))
        histories[label] = h
    return histories


# --- the lab's experiments ---------------------------------------------------------------
def equal_to_torch(cfg: Config) -> Section:
    """Every optimizer against its ``torch.optim`` twin over ``cfg.torch_steps`` steps."""
    steps = cfg.torch_steps
    rows = torch_equality(steps=steps)
    three = max(r["max_rel_diff"] for r in rows if r["optimizer"] in ("SGD", "Momentum", "Adam"))
    every = max(r["max_rel_diff"] for r in rows)
    checks = [
        Check.at_most(
            f"{MILESTONES[0]} and equal to torch.optim",
            three,
            1e-10,
            detail=f"max rel diff of params over {steps} steps, float64",
        ),
        Check.at_most(
            "Nesterov, AMSGrad, AdamW, RMSprop, Adagrad equal to torch.optim",
            every,
            1e-10,
            detail=f"max rel diff, all {len(rows)} configurations",
        ),
    ]
    return Section(
        "equal to torch.optim", checks, {"equal to torch.optim": rows}, values={"rows": rows}
    )


def race(cfg: Config, *, progress=progress_bar) -> Section:
    """Every optimizer on the 2-D test functions: lr sweeps, trajectories, convergence."""
    steps, lrs = cfg.steps, np.array(cfg.lrs)
    summary, panels, sweeps_by_fn = [], [], {}
    for name in progress(cfg.functions, "lr sweeps"):
        fn = optim.FUNCTIONS[name]()
        sweeps_by_fn[name] = sweep(fn, lrs, steps)
        rows = sweep_table(name, sweeps_by_fn[name])
        summary += rows
        panels.append((fn, best_trajectories(fn, rows, steps)))
    sad = optim.saddle()
    escapes = {lab: optim.minimize(sad.f, sad.grad, sad.x0, partial(make, lab, lr=0.05), 60)
               for lab in SPECS}  # fmt: skip
    panels.append((sad, escapes))
    rosen, rosen_trajs = next(p for p in panels if p[0].name == "rosenbrock")
    quad = next(p for p in panels if p[0].name.startswith("quadratic"))
    convergence = oviz.plot_convergence(rosen, rosen_trajs)
    curves = finite_traces(convergence)
    short = {k: _head(t, 300) for k, t in rosen_trajs.items()}
    check = Check.holds(
        MILESTONES[1],
        curves >= 2 * len(rosen_trajs) >= 6,
        detail=f"convergence.png: loss gap and distance to minimum, {len(rosen_trajs)} "
        f"optimizers, {curves} finite curves",
    )
    figures = {
        "trajectories.png": lambda: oviz.trajectory_grid(panels),
        "convergence.png": drawn(convergence),
        "convergence_quadratic.png": lambda: oviz.plot_convergence(*quad),
        "lr_sweep.png": lambda: oviz.plot_lr_sweep(sweeps_by_fn["rosenbrock"], "rosenbrock"),
        "trajectories_interactive.html": lambda: oviz.trajectory_animation(rosen, short),
    }
    table = {"speed and stability (steps to |x - x*| <= 1e-3 at the best lr)": summary}
    notes = [
        "Speed/stability: best lr = fewest steps to |x - x*| <= 1e-3 in a log-spaced sweep; "
        "largest stable lr = largest swept lr that neither diverged nor ended farther away."
    ]
    return Section(
        "racing on 2-D test functions",
        [check],
        table,
        notes,
        values={"summary": summary, "panels": panels, "sweeps": sweeps_by_fn},
        figures=figures,
    )


def _head(traj: optim.Trajectory, k: int) -> optim.Trajectory:
    return optim.Trajectory(
        traj.points[: k + 1],
        traj.losses[: k + 1],
        traj.grad_norms[: k + 1],
        traj.status,
        traj.message,
    )


def schedules(cfg: Config) -> Section:
    """One of each learning-rate schedule, equal to ``torch.optim.lr_scheduler``."""
    n = cfg.schedule_steps
    scheds = example_schedules(n)
    diffs = {
        k: float(np.abs(s.values(n) - optim.torch_schedule_values(s, n)).max())
        for k, s in scheds.items()
    }
    check = Check.at_most(
        "learning-rate schedules equal torch.optim.lr_scheduler",
        max(diffs.values()),
        1e-12,
        detail=f"max |lr diff| over {n} steps, {len(scheds)} schedules",
    )
    table = [{"schedule": k, "max_abs_diff": v} for k, v in diffs.items()]
    return Section(
        "learning-rate schedules",
        [check],
        {"schedules vs torch.optim.lr_scheduler": table},
        values={"schedules": scheds},
        figures={"schedules.png": lambda: oviz.plot_schedules(scheds, n)},
    )


def rates(cfg: Config, *, progress=progress_bar) -> Section:
    """Measured linear rates of GD and heavy ball on quadratics vs the optimal theory."""
    results = [optim.measure_rates(k) for k in progress(cfg.kappas, "rates")]
    table = [
        {
            "kappa": r.kappa,
            "GD theory": r.gd_theory,
            "GD measured": r.gd_measured,
            "heavy ball theory": r.hb_theory,
            "heavy ball measured": r.hb_measured,
            "max rel deviation": r.max_rel_deviation,
        }
        for r in results
    ]
    check = Check.at_most(
        "measured rates match theory (GD (k-1)/(k+1), heavy ball (sqrt k-1)/(sqrt k+1))",
        max(r.max_rel_deviation for r in results),
        0.02,
        detail="max rel deviation, kappa in {" + ", ".join(f"{k:g}" for k in cfg.kappas) + "}",
    )
    return Section(
        "convergence rates vs theory",
        [check],
        {"convergence rates vs theory": table},
        values={"results": results},
        figures={"rates_vs_theory.png": lambda: oviz.plot_rates(results)},
    )


def mlp_training(cfg: Config, *, progress=progress_bar) -> Section:
    """Every optimizer trains the Lab 1 MLP on digits (:func:`train_digits`)."""
    epochs = cfg.epochs
    histories = train_digits(
        epochs, batch_size=cfg.mlp_batch, hidden=cfg.mlp_hidden, seed=cfg.seed, progress=progress
    )
    table = [
        {"optimizer": k, "lr": MLP_LRS[k], "final train loss": h["train_loss"][-1],
         "test accuracy": h["test_accuracy"][-1]}
        for k, h in histories.items()
    ]  # fmt: skip
    best = max(h["test_accuracy"][-1] for h in histories.values())
    decreased = all(h["train_loss"][-1] < h["train_loss"][0] for h in histories.values())
    check = Check.at_least(
        "the optimizers train the Lab 1 MLP on digits",
        best if decreased else 0.0,
        0.9,
        detail=f"best test accuracy, {epochs} epochs (all {len(histories)} losses decreased: "
        f"{decreased})",
    )
    return Section(
        "training the Lab 1 MLP",
        [check],
        {"MLP on digits": table},
        ["MLP training used dlmath.backprop.MLP."],
        values={"histories": histories},
        figures={"mlp_loss_curves.png": lambda: oviz.plot_loss_curves(histories)},
    )


def run(ctx: LabContext) -> LabResult:
    """The lab's experiments in order, as one result."""
    cfg = config(ctx.quick, ctx.seed)
    sections = [
        equal_to_torch(cfg),
        race(cfg, progress=ctx.progress),
        schedules(cfg),
        rates(cfg, progress=ctx.progress),
        mlp_training(cfg, progress=ctx.progress),
    ]
    return ctx.result(2, TITLE, sections)
