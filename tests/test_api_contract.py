"""The public API's promise on bad input, walked over every name of every package ``__all__``.

For each public callable, :data:`SPECS` holds a *good* call (tiny inputs, keyword
arguments). Hypothesis then replaces one argument at a time by a generated bad value
(wrong type, wrong shape, NaN/inf, empty, out-of-range number, non-bool flag, negative
seed, int/float16 dtype, read-only or non-contiguous array) and asserts the contract:

- the call raises ``ValueError``/``TypeError`` (``FloatingPointError`` for a documented
  divergence) whose message names the argument (``'lr'``, ``'params[0]'``), or returns a
  finite result (every float in it, in arrays, tensors, dataclasses, lists and dicts);
- the caller's inputs (arrays, tensors, models: parameters, ``requires_grad``, ``.grad``,
  train/eval mode) and the global NumPy, torch and ``random`` RNG states are unchanged.

A public name without an entry in :data:`SPECS` fails :func:`test_every_public_name_has_a_spec`
with a message saying where to add one. Names whose owner has not yet applied the
contract are listed in :data:`KNOWN_GAPS` and run as strict xfails: when they are fixed the
xfail passes and the test fails, asking for the entry to be removed.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import math
import random
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

PACKAGES = (
    "dlmath.backprop",
    "dlmath.optim",
    "dlmath.optim.schedules",
    "dlmath.landscape",
    "dlmath.lowrank",
    "dlmath.prob",
    "dlmath.data",
    "dlmath.nets",
)
#: documented as unchecked: walked only for "never modifies what it does not own"
UNCHECKED = ("dlmath.optim.kernels",)


# --- tiny good inputs (fresh objects on every call) ---------------------------------------


def _rng():
    return np.random.default_rng(0)


def X():
    return _rng().standard_normal((6, 3))


def labels():
    return np.array([0, 1, 0, 1, 1, 0])


def logits():
    return _rng().standard_normal((6, 2))


def probs():
    return np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])


def W():
    return _rng().standard_normal((5, 4))


def vec(n=4):
    return _rng().standard_normal(n)


def S():
    return np.array([3.0, 2.0, 1.0, 0.5])


def mlp():
    from dlmath.backprop import MLP

    return MLP([3, 4, 2], activation="tanh", seed=0)


def model():
    torch.manual_seed(0)  # the walker restores the global RNG around every call
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()


def direction():
    return [torch.full(tuple(p.shape), 0.1, dtype=torch.float64) for p in model().parameters()]


def f2(x):
    x = torch.as_tensor(x)
    return (x**2).sum() - x[0] * x[1]


def quad_f(x):
    with np.errstate(all="ignore"):  # a user's function: its overflow is its own business
        return float(np.sum(np.asarray(x) ** 2))


def quad_grad(x):
    with np.errstate(all="ignore"):
        return 2 * np.asarray(x, dtype=float)


def snapshots():
    base = [p.detach().numpy().copy() for p in model().parameters()]
    return [[b + 0.01 * k * (i + 1) for i, b in enumerate(base)] for k in range(4)]


# --- specs ---------------------------------------------------------------------------------


@dataclasses.dataclass
class Call:
    """A good call: ``good()`` -> keyword arguments; ``vary`` = the arguments to perturb."""

    good: Callable[[], dict[str, Any]]
    vary: tuple[str, ...] | None = None  # None = every argument of the good call
    mutates: tuple[str, ...] = ()  # arguments the function documents it modifies
    may_be_inf: bool = False  # a documented +inf (KL with q = 0 < p)
    also: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    target: Callable | None = None  # call this instead of the name itself (a method)


@dataclasses.dataclass
class NotCallable:
    """A constant, a result type built by dlmath, or a namespace: why it needs no walk."""

    why: str


CONST = NotCallable("a constant table")
RESULT = NotCallable("a result type: dlmath builds it, its fields are not an input API")
MODULE = NotCallable("a namespace module; its own names are walked")


def _opt(cls, **extra):
    return Call(lambda: {"params": [vec(3), np.ones((2, 2))], "lr": 0.1, **extra})


def _sched(cls, **kw):
    return Call(lambda: dict(kw))


def _data(extra: Callable[[], dict[str, Any]] = dict):
    """model, loss_fn, X, y plus ``extra()`` (a factory, so every call gets fresh objects)."""
    return lambda: {
        "model": model(),
        "loss_fn": F.cross_entropy,
        "X": X(),
        "y": labels(),
        **extra(),
    }


def _value_graph():
    from dlmath.backprop import Value

    a, b = Value(2.0), Value(-3.0)
    return a * b + a


def _make_sgd(params):
    from dlmath.optim import SGD

    return SGD(params, lr=0.05)


def _make_sgd_lr(params, lr):
    from dlmath.optim import SGD

    return SGD(params, lr=lr)


def _step_lr():
    from dlmath.optim.schedules import StepLR

    return StepLR(0.1, step_size=2)


def _state():
    from dlmath.landscape import model_state

    return model_state(model())


def _mixture():
    from dlmath.prob import GaussianMixture1D

    return GaussianMixture1D([0.5, 0.5], [-1.0, 1.0], [0.5, 1.0])


def _lora_model():
    from dlmath.lowrank import apply_lora

    return apply_lora(model(), 1)[0]


SPECS: dict[str, Call | NotCallable] = {
    # ---------------------------------------------------------------- backprop
    "dlmath.backprop.ACTIVATIONS": CONST,
    "dlmath.backprop.LOSSES": CONST,
    "dlmath.backprop.MLP": Call(lambda: {"sizes": [3, 4, 2], "activation": "relu", "seed": 1}),
    "dlmath.backprop.Activation": RESULT,
    "dlmath.backprop.AutogradComparison": RESULT,
    "dlmath.backprop.GradCheck": RESULT,
    "dlmath.backprop.History": RESULT,
    "dlmath.backprop.Value": Call(lambda: {"data": 1.5}, vary=("data",)),
    "dlmath.backprop.activation_jacobian": Call(lambda: {"z": vec(), "activation": "tanh"}),
    "dlmath.backprop.compare_scalar_autograd": Call(
        lambda: {"fn": lambda a, b: a * b + a, "inputs": {"a": 1.0, "b": 2.0}}
    ),
    "dlmath.backprop.compare_with_autograd": Call(lambda: {"mlp": mlp(), "X": X(), "y": labels()}),
    "dlmath.backprop.cross_entropy": Call(lambda: {"input": logits(), "target": labels()}),
    "dlmath.backprop.cross_entropy_grad": Call(lambda: {"input": logits(), "target": labels()}),
    "dlmath.backprop.gradient_check": Call(lambda: {"mlp": mlp(), "X": X(), "y": labels()}),
    "dlmath.backprop.hessian_vector_product": Call(
        lambda: {"mlp": mlp(), "X": X(), "y": labels(), "V": np.ones(26)}
    ),
    "dlmath.backprop.jacobian_checks": Call(lambda: {"seed": 0, "activation": "tanh"}),
    "dlmath.backprop.linear_backward": Call(
        lambda: {"dZ": np.ones((6, 5)), "X": X(), "W": np.ones((5, 3))}
    ),
    "dlmath.backprop.linear_forward": Call(
        lambda: {"X": X(), "W": np.ones((5, 3)), "b": np.zeros(5)}
    ),
    "dlmath.backprop.linear_jacobian_W": Call(lambda: {"x": vec(3), "out": 2}),
    "dlmath.backprop.linear_jacobian_b": Call(lambda: {"out": 3}),
    "dlmath.backprop.linear_jacobian_x": Call(lambda: {"W": W()}),
    "dlmath.backprop.log_softmax": Call(lambda: {"x": logits()}),
    "dlmath.backprop.logsumexp": Call(lambda: {"x": logits()}),
    "dlmath.backprop.loss_hessian": Call(lambda: {"mlp": mlp(), "X": X(), "y": labels()}),
    "dlmath.backprop.mlp_numerical_gradients": Call(
        lambda: {"mlp": mlp(), "X": X(), "y": labels()}
    ),
    "dlmath.backprop.mse": Call(lambda: {"input": X(), "target": X() + 1}),
    "dlmath.backprop.mse_grad": Call(lambda: {"input": X(), "target": X() + 1}),
    "dlmath.backprop.numerical_gradient": Call(
        lambda: {"f": quad_f, "x": vec(3)},
        also={"x": ("f",)},  # f(x) = inf: f's value at x
    ),
    "dlmath.backprop.relative_error": Call(lambda: {"a": vec(3), "b": vec(3) + 1e-3}),
    "dlmath.backprop.sgd_step": Call(
        lambda: {"params": {"W": np.ones((2, 2))}, "grads": {"W": np.ones((2, 2))}, "lr": 0.1},
        mutates=("params",),
        also={"params": ("grads",)},  # keys that disagree: named as the pair
    ),
    "dlmath.backprop.softmax": Call(lambda: {"x": logits()}),
    "dlmath.backprop.softmax_jacobian": Call(lambda: {"z": vec(3)}),
    "dlmath.backprop.topological_order": Call(lambda: {"root": _value_graph()}),
    "dlmath.backprop.torch_loss_and_grads": Call(lambda: {"mlp": mlp(), "X": X(), "y": labels()}),
    "dlmath.backprop.trace": Call(lambda: {"root": _value_graph()}),
    "dlmath.backprop.train": Call(
        lambda: {"mlp": mlp(), "X": X(), "y": labels(), "epochs": 2, "batch_size": 3},
        mutates=("mlp",),
    ),
    # ---------------------------------------------------------------- optim
    "dlmath.optim.FUNCTIONS": CONST,
    "dlmath.optim.OPTIMIZERS": CONST,
    "dlmath.optim.SGD": _opt("SGD", momentum=0.9, dampening=0.0, nesterov=False),
    "dlmath.optim.Adam": _opt("Adam", betas=(0.9, 0.999), eps=1e-8, amsgrad=False),
    "dlmath.optim.AdamW": _opt("AdamW", weight_decay=0.01, eps=1e-8),
    "dlmath.optim.RMSprop": _opt("RMSprop", alpha=0.99, eps=1e-8, centered=False),
    "dlmath.optim.Adagrad": _opt("Adagrad", lr_decay=0.0, initial_accumulator_value=0.0),
    "dlmath.optim.Optimizer": NotCallable("the abstract base class of the optimizers"),
    "dlmath.optim.Function2D": RESULT,
    "dlmath.optim.RateResult": RESULT,
    "dlmath.optim.State": RESULT,
    "dlmath.optim.Trajectory": RESULT,
    "dlmath.optim.adam_step": Call(
        lambda: {"param": vec(3), "grad": vec(3), "m": np.zeros(3), "v": np.zeros(3), "t": 1}
    ),
    "dlmath.optim.beale": Call(dict),
    "dlmath.optim.himmelblau": Call(dict),
    "dlmath.optim.saddle": Call(dict, may_be_inf=True),  # f_min = -inf: unbounded below
    "dlmath.optim.quadratic": Call(lambda: {"kappa": 10.0}),
    "dlmath.optim.rastrigin": Call(lambda: {"A": 10.0}),
    "dlmath.optim.rosenbrock": Call(lambda: {"a": 1.0, "b": 100.0}),
    "dlmath.optim.compare_with_torch": Call(
        lambda: {"name": "Adam", "shapes": [(3,)], "steps": 3, "seed": 0}
    ),
    "dlmath.optim.gd_optimal": Call(lambda: {"lmin": 1.0, "lmax": 10.0}, also={"lmin": ("lmax",)}),
    "dlmath.optim.heavy_ball_optimal": Call(
        lambda: {"lmin": 1.0, "lmax": 10.0}, also={"lmin": ("lmax",)}
    ),
    "dlmath.optim.lr_sweep": Call(
        lambda: {
            "f": quad_f,
            "grad": quad_grad,
            "x0": np.ones(2),
            "make": _make_sgd_lr,
            "lrs": [0.1, 0.2],
            "steps": 5,
            "error": lambda t: t.losses,
            "tol": 1e-3,
        },
        also={"make": ("optimizer",)},  # make(params, lr) is minimize's optimizer
    ),
    "dlmath.optim.max_rel_diff": Call(lambda: {"a": vec(3), "b": vec(3) + 1e-3}),
    "dlmath.optim.measure_rates": Call(lambda: {"kappa": 4.0, "max_steps": 50}),
    "dlmath.optim.measured_rate": Call(lambda: {"errors": 0.5 ** np.arange(20.0)}),
    "dlmath.optim.minimize": Call(
        lambda: {
            "f": quad_f,
            "grad": quad_grad,
            "x0": np.ones(2),
            "optimizer": _make_sgd,
            "steps": 5,
        }
    ),
    "dlmath.optim.steps_to_tolerance": Call(
        lambda: {"errors": 0.5 ** np.arange(20.0), "tol": 1e-3}
    ),
    "dlmath.optim.torch_schedule_values": Call(lambda: {"sched": _step_lr(), "n": 5}),
    "dlmath.optim.kernels": MODULE,
    "dlmath.optim.schedules": MODULE,
    # ---------------------------------------------------------------- optim.schedules
    "dlmath.optim.schedules.CosineAnnealingLR": _sched(None, base_lr=0.1, T_max=10),
    "dlmath.optim.schedules.CosineAnnealingWarmRestarts": _sched(None, base_lr=0.1, T_0=5),
    "dlmath.optim.schedules.ExponentialLR": _sched(None, base_lr=0.1, gamma=0.9),
    "dlmath.optim.schedules.LinearLR": _sched(None, base_lr=0.1),
    "dlmath.optim.schedules.OneCycleLR": _sched(None, max_lr=0.1, total_steps=10),
    "dlmath.optim.schedules.Schedule": NotCallable("the abstract base class of the schedules"),
    "dlmath.optim.schedules.SequentialLR": Call(
        lambda: {"schedulers": [_step_lr(), _step_lr()], "milestones": [3]},
        also={"schedulers": ("milestones",)},
    ),
    "dlmath.optim.schedules.StepLR": _sched(None, base_lr=0.1, step_size=3),
    # ---------------------------------------------------------------- landscape
    "dlmath.landscape.KINDS": CONST,
    "dlmath.landscape.NORMALIZATIONS": CONST,
    "dlmath.landscape.CriticalPoint": RESULT,
    "dlmath.landscape.GridPointError": NotCallable("an exception type"),
    "dlmath.landscape.WorkerLostError": NotCallable("an exception type"),
    "dlmath.landscape.NonFiniteLossWarning": NotCallable("a warning type"),
    "dlmath.landscape.HessianEigs": RESULT,
    "dlmath.landscape.PCADirections": RESULT,
    "dlmath.landscape.Snapshots": RESULT,
    "dlmath.landscape.TraceEstimate": RESULT,
    "dlmath.landscape.Run": RESULT,
    # builds the pool without starting Ray (that happens on start() / first use)
    "dlmath.landscape.RayWorkers": Call(lambda: {"workers": 1}),
    "dlmath.landscape.HessianOperator": Call(_data()),
    "dlmath.landscape.classify_critical_point": Call(lambda: {"f": f2, "x": np.zeros(2)}),
    "dlmath.landscape.find_critical_points": Call(
        lambda: {
            "f": f2,
            "xs": np.linspace(-1, 1, 5),
            "ys": np.linspace(-1, 1, 5),
            "n_starts": 2,
            "newton_steps": 3,
        }
    ),
    "dlmath.landscape.flat_mask": Call(
        lambda: {"xs": np.linspace(-1, 1, 4), "ys": np.linspace(-1, 1, 3), "Z": np.ones((4, 3))}
    ),
    "dlmath.landscape.grid_values": Call(
        lambda: {"f": f2, "xs": np.linspace(-1, 1, 3), "ys": np.linspace(-1, 1, 3)}
    ),
    "dlmath.landscape.hessian_eigs": Call(_data(lambda: dict(k=1, max_iter=10))),
    "dlmath.landscape.hessian_trace": Call(_data(lambda: dict(n_samples=3))),
    "dlmath.landscape.lanczos": Call(
        lambda: {"matvec": lambda v: 2.0 * v, "n": 4, "k": 1}, vary=("matvec", "n", "k")
    ),
    "dlmath.landscape.loss_interpolation": Call(
        _data(
            lambda: dict(
                start=direction(), end=direction(), alphas=np.linspace(0, 1, 3), progress=False
            )
        )
    ),
    "dlmath.landscape.loss_line": Call(
        _data(lambda: dict(direction=direction(), alphas=np.linspace(-1, 1, 3), progress=False))
    ),
    "dlmath.landscape.loss_points": Call(
        _data(
            lambda: dict(directions=[direction()], coords=np.array([[0.0], [1.0]]), progress=False)
        )
    ),
    "dlmath.landscape.loss_surface": Call(
        _data(
            lambda: dict(
                directions=(direction(), direction()),
                alphas=np.linspace(-1, 1, 2),
                betas=np.linspace(-1, 1, 2),
                progress=False,
            )
        )
    ),
    "dlmath.landscape.parameter_views": Call(lambda: {"model": model()}),
    "dlmath.landscape.pca_directions": Call(lambda: {"snapshots": snapshots()}),
    "dlmath.landscape.random_direction": Call(lambda: {"model": model(), "seed": 1}),
    "dlmath.landscape.slice_function": Call(
        _data(lambda: dict(directions=[direction(), direction()]))
    ),
    "dlmath.landscape.snapshot": Call(lambda: {"model": model()}),
    "dlmath.landscape.train_with_snapshots": Call(
        _data(lambda: dict(make_optimizer=_make_sgd, epochs=1)), mutates=("model",)
    ),
    # the lead's helpers moved out of lab 3 (issue 9); see KNOWN_GAPS
    "dlmath.landscape.dense_hessian": Call(_data()),
    "dlmath.landscape.fd_hessian_error": Call(lambda: {"h": f2, "x": np.zeros(2)}),
    "dlmath.landscape.model_state": Call(lambda: {"model": model()}),
    "dlmath.landscape.same_state": Call(lambda: {"a": _state(), "b": _state()}, vary=("a", "b")),
    "dlmath.landscape.pointwise_loss": Call(_data(lambda: dict(theta=direction()))),
    "dlmath.landscape.plane_grid": Call(lambda: {"trajectory": np.ones((3, 2)), "n": 4}),
    "dlmath.landscape.write_weights": Call(
        lambda: {"model": model(), "weights": direction()}, mutates=("model",)
    ),
    "dlmath.landscape.train_runs": Call(
        lambda: {
            "sizes": [3, 4, 2],
            "activation": "tanh",
            "X": X(),
            "y": labels(),
            "epochs": 1,
            "batch_size": None,
            "optimizers": {"sgd": _make_sgd},
            "seed": 0,
        }
    ),
    # ---------------------------------------------------------------- lowrank
    "dlmath.lowrank.PCA": RESULT,
    "dlmath.lowrank.Identity": RESULT,
    "dlmath.lowrank.LayerSpectrum": RESULT,
    "dlmath.lowrank.LoRAReport": RESULT,
    "dlmath.lowrank.MemoryTable": RESULT,
    "dlmath.lowrank.ModelSpectrum": RESULT,
    "dlmath.lowrank.ParameterCount": RESULT,
    "dlmath.lowrank.RankSweep": RESULT,
    "dlmath.lowrank.LoRALinear": Call(lambda: {"base": nn.Linear(4, 3).double(), "r": 2}),
    "dlmath.lowrank.activation_variance": Call(
        lambda: {"depth": 2, "width": 4, "scheme": "he", "n_samples": 8}
    ),
    "dlmath.lowrank.analyze_model": Call(lambda: {"model": model(), "ranks": [1, 2]}),
    "dlmath.lowrank.analyze_weights": Call(lambda: {"weights": {"W": W()}, "ranks": [1, 2]}),
    "dlmath.lowrank.apply_lora": Call(lambda: {"model": model(), "r": 1}),
    "dlmath.lowrank.count_parameters": Call(lambda: {"model": model()}),
    "dlmath.lowrank.effective_rank": Call(lambda: {"W": W()}),
    "dlmath.lowrank.energy": Call(lambda: {"S": S()}),
    "dlmath.lowrank.init_std": Call(lambda: {"d_out": 3, "d_in": 4, "scheme": "he"}),
    "dlmath.lowrank.init_weight": Call(lambda: {"d_out": 3, "d_in": 4}),
    "dlmath.lowrank.linear_weights": Call(lambda: {"model": model()}),
    "dlmath.lowrank.lora_memory_table": Call(lambda: {"shapes": [(8, 8)], "ranks": [1, 2]}),
    "dlmath.lowrank.lora_parameter_count": Call(lambda: {"d_out": 8, "d_in": 6, "r": 2}),
    "dlmath.lowrank.marchenko_pastur_pdf": Call(
        lambda: {"s": np.linspace(0.1, 1.5, 5), "m": 20, "n": 10}
    ),
    "dlmath.lowrank.matrix_with_spectrum": Call(lambda: {"S": S(), "m": 5, "n": 4}),
    "dlmath.lowrank.merge_lora": Call(lambda: {"model": _lora_model()}),
    "dlmath.lowrank.pca": Call(lambda: {"X": X(), "n_components": 2}),
    "dlmath.lowrank.quarter_circle_cdf": Call(lambda: {"x": np.linspace(0, 2, 5)}),
    "dlmath.lowrank.quarter_circle_pdf": Call(lambda: {"x": np.linspace(0, 2, 5)}),
    "dlmath.lowrank.randomized_svd": Call(lambda: {"W": W(), "r": 2}),
    "dlmath.lowrank.rank_for_energy": Call(lambda: {"S": S()}),
    "dlmath.lowrank.rank_sweep": Call(lambda: {"W": W(), "ranks": [1, 2]}),
    "dlmath.lowrank.reconstruct": Call(
        lambda: {"U": np.ones((5, 2)), "S": np.array([2.0, 1.0]), "Vt": np.ones((2, 4))}
    ),
    "dlmath.lowrank.singular_values": Call(lambda: {"W": W()}),
    "dlmath.lowrank.stable_rank": Call(lambda: {"W": W()}),
    "dlmath.lowrank.tensor_identities": Call(lambda: {"seed": 0}),
    "dlmath.lowrank.truncated_svd": Call(lambda: {"W": W(), "r": 2}),
    "dlmath.lowrank.random_matrix": Call(lambda: {"n": 4}),
    "dlmath.lowrank.decaying_spectrum": Call(lambda: {"n": 4}),
    # ---------------------------------------------------------------- prob
    "dlmath.prob.DEFAULT_ATOL": CONST,
    "dlmath.prob.Gaussian": Call(lambda: {"mu": 0.5, "sigma": 2.0}),
    "dlmath.prob.Bernoulli": Call(lambda: {"p": 0.3}),
    "dlmath.prob.Categorical": Call(lambda: {"probs": np.array([0.2, 0.3, 0.5])}),
    "dlmath.prob.GaussianMixture1D": Call(
        lambda: {
            "weights": np.array([0.5, 0.5]),
            "mus": np.array([-1.0, 1.0]),
            "sigmas": np.array([0.5, 1.0]),
        }
    ),
    "dlmath.prob.BetaBernoulli": Call(lambda: {"alpha": 2.0, "beta": 3.0}),
    "dlmath.prob.as_distribution": Call(lambda: {"p": probs()}),
    "dlmath.prob.entropy": Call(lambda: {"p": probs()}),
    "dlmath.prob.distribution_cross_entropy": Call(
        lambda: {"p": probs(), "q": probs()[::-1].copy()}, may_be_inf=True
    ),
    "dlmath.prob.kl_divergence": Call(
        lambda: {"p": probs(), "q": probs()[::-1].copy()}, may_be_inf=True
    ),
    "dlmath.prob.logsumexp": Call(lambda: {"x": logits()}),
    "dlmath.prob.log_softmax": Call(lambda: {"x": logits()}),
    "dlmath.prob.softmax": Call(lambda: {"x": logits()}),
    "dlmath.prob.kl_gaussian": Call(
        lambda: {"mu_p": 0.0, "sigma_p": 1.0, "mu_q": 1.0, "sigma_q": 2.0},
        also={"sigma_p": ("sigma_q",), "mu_p": ("sigma_q",), "mu_q": ("sigma_q",)},
    ),
    "dlmath.prob.grid_kl": Call(
        lambda: {"log_p": -(np.linspace(-2, 2, 7) ** 2), "log_q": -(np.linspace(-1, 3, 7) ** 2)},
        may_be_inf=True,
    ),
    "dlmath.prob.fit_gaussian_kl": Call(
        lambda: {"p": _mixture(), "x": np.linspace(-4, 4, 41), "direction": "reverse"}
    ),
    "dlmath.prob.gaussian_nll": Call(lambda: {"y": vec(), "y_hat": vec() + 1, "sigma": 1.5}),
    "dlmath.prob.gaussian_nll_grad": Call(lambda: {"y": vec(), "y_hat": vec() + 1, "sigma": 1.5}),
    "dlmath.prob.one_hot": Call(lambda: {"y": labels(), "K": 3}),
    "dlmath.prob.gradient_descent": Call(
        lambda: {"grad": quad_grad, "theta0": np.ones(2), "lr": 0.1, "steps": 5}
    ),
    "dlmath.prob.fit_gaussian_gd": Call(lambda: {"data": vec(8), "steps": 20}),
    "dlmath.prob.fit_categorical_gd": Call(lambda: {"data": labels(), "K": 3, "steps": 10}),
    "dlmath.prob.fit_linear_regression_gd": Call(lambda: {"X": X(), "y": vec(6), "steps": 10}),
    "dlmath.prob.sympy_gaussian_mle": NotCallable(
        "symbolic (SymPy) derivation for the notebook; its one argument n is checked and "
        "covered by tests/test_prob_mle.py (each call takes seconds)"
    ),
    "dlmath.prob.sympy_softmax_nll_grad": NotCallable(
        "symbolic (SymPy) derivation; arguments checked in tests/test_prob_mle.py"
    ),
    "dlmath.prob.ridge_map": Call(
        lambda: {"X": X(), "y": vec(6), "noise_sigma": 1.0, "prior_sigma": 2.0},
        also={"noise_sigma": ("prior_sigma",)},
    ),
    "dlmath.prob.neg_log_posterior": Call(
        lambda: {"w": vec(3), "X": X(), "y": vec(6), "noise_sigma": 1.0, "prior_sigma": 2.0}
    ),
    "dlmath.prob.neg_log_posterior_grad": Call(
        lambda: {"w": vec(3), "X": X(), "y": vec(6), "noise_sigma": 1.0, "prior_sigma": 2.0}
    ),
    # ---------------------------------------------------------------- data, nets
    "dlmath.data.Split": RESULT,
    "dlmath.data.digits": Call(lambda: {"test_fraction": 0.25, "seed": 0}),
    "dlmath.data.two_moons": Call(lambda: {"n": 40, "noise": 0.1, "seed": 0}),
    "dlmath.data.rotate_digits": Call(lambda: {"X": np.ones((2, 64)), "degrees": 30.0}),
    "dlmath.nets.ACTIVATIONS": CONST,
    "dlmath.nets.accuracy": Call(lambda: {"model": model(), "X": X(), "y": labels()}),
    "dlmath.nets.single_thread": NotCallable("a context manager without arguments"),
    "dlmath.nets.torch_activation": Call(lambda: {"name": "relu"}),
    "dlmath.nets.torch_mlp": Call(lambda: {"sizes": [3, 4, 2], "activation": "tanh", "seed": 1}),
    "dlmath.nets.train_full_batch": Call(
        lambda: {"model": model(), "X": X(), "y": labels(), "steps": 2, "lr": 0.01},
        mutates=("model",),
    ),
}

#: methods walked like functions: (spec name, target built from a good object)
METHODS: dict[str, Call] = {
    "MLP.loss_and_grads": Call(
        lambda: {"X": X(), "y": labels()}, target=lambda: mlp().loss_and_grads
    ),
    "MLP.forward": Call(lambda: {"X": X()}, target=lambda: mlp().forward),
    "Adam.step": Call(
        lambda: {"grads": [np.ones(3)]},
        target=lambda: __import__("dlmath.optim", fromlist=["Adam"]).Adam([np.ones(3)]).step,
    ),
    "OneCycleLR.__call__": Call(
        lambda: {"t": 3},
        target=lambda: __import__("dlmath.optim.schedules", fromlist=["OneCycleLR"]).OneCycleLR(
            0.1, total_steps=10
        ),
    ),
    "Gaussian.log_prob": Call(
        lambda: {"x": vec()}, target=lambda: __import__("dlmath.prob").prob.Gaussian().log_prob
    ),
    "Gaussian.sample": Call(
        lambda: {"n": 3, "seed": 1},
        target=lambda: __import__("dlmath.prob").prob.Gaussian().sample,
    ),
    "Gaussian.fit": Call(
        lambda: {"data": vec(5)}, target=lambda: __import__("dlmath.prob").prob.Gaussian.fit
    ),
}

#: names whose owner has not applied the contract yet (run as strict xfails): name -> who/why
KNOWN_GAPS: dict[str, str] = {}


# --- bad values ------------------------------------------------------------------------


def _readonly(a: np.ndarray) -> np.ndarray:
    a = a.copy()
    a.flags.writeable = False
    return a


def _strided(a: np.ndarray) -> np.ndarray:
    big = np.repeat(a, 2, axis=-1)
    return big[..., ::2]  # equal values, not contiguous


def _with(a: np.ndarray, value: float) -> np.ndarray:
    a = np.array(a, dtype=float)
    a.flat[0] = value
    return a


def bad_values(good: Any) -> list[Any]:
    """Values that a caller could pass instead of ``good``: wrong, edge, or unusual."""
    junk: list[Any] = [None, "abc", object()]
    if isinstance(good, bool):
        return [*junk, "yes", 1, 0.0]
    if isinstance(good, int):
        return [*junk, -1, 0, 2**70, 1.5, "2", True, float("nan")]
    if isinstance(good, float):
        return [
            *junk,
            float("nan"),
            float("inf"),
            -float("inf"),
            -1.0,
            0.0,
            1e308,
            -1e308,
            1e-320,
            True,
            "0.1",
        ]
    if isinstance(good, str):
        return [*junk, "XX", 3, b"bytes"]
    if isinstance(good, np.ndarray):
        out = [*junk, good.tolist(), np.array([]), good[None], np.float64(1.0)]
        if good.dtype.kind == "f":
            out += [
                _with(good, np.nan),
                _with(good, np.inf),
                _with(good, -np.inf),
                good.astype(np.float16),
                good.astype(np.float32),
                np.round(good).astype(int),
                _readonly(good),
                _strided(good),
                good * 1e200,
                good * 1e-200,
                good.astype(complex),
                good.astype(bool),
            ]
        else:
            out += [
                good.astype(float) + 0.5,
                good + 100,
                good - 100,
                good[:-1],
                _readonly(good),
                good.astype(np.int8),
            ]
        return out
    if isinstance(good, torch.Tensor):
        return [*junk, good.numpy() * np.nan, good[None], torch.empty(0)]
    if isinstance(good, nn.Module):
        return [*junk, nn.Module(), nn.Linear(3, 4).double().train(), good.float()]
    if isinstance(good, Mapping):
        return [*junk, {}, {"zz": 1}, list(good.values())]
    if isinstance(good, (list, tuple)):
        out = [*junk, [], good[:1], [None] * len(good), "".join("x" for _ in good)]
        if good and isinstance(good[0], (np.ndarray, torch.Tensor, list)):
            out.append([bad_values(good[0])[4], *good[1:]])
        return out
    if callable(good):
        return [*junk, 3, lambda *a, **k: float("nan"), lambda *a, **k: "not a number"]
    return junk


# --- the checks ----------------------------------------------------------------------------


def _snapshot(value: Any) -> Any:
    if isinstance(value, nn.Module):
        return (
            [p.detach().clone() for p in value.parameters()],
            [p.requires_grad for p in value.parameters()],
            [None if p.grad is None else p.grad.clone() for p in value.parameters()],
            [m.training for m in value.modules()],
        )
    if isinstance(value, np.ndarray):
        return value.copy(), value.flags.writeable
    if isinstance(value, torch.Tensor):
        return value.detach().clone(), value.requires_grad
    if isinstance(value, (list, tuple)):
        return [_snapshot(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _snapshot(v) for k, v in value.items()}
    return None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, np.ndarray):
        if a.dtype.kind in "fc":
            return (
                a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
            )
        return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, torch.Tensor):
        return a.shape == b.shape and bool(torch.equal(torch.nan_to_num(a), torch.nan_to_num(b)))
    return a == b


def _rng_state() -> tuple:
    legacy = np.random.get_state()[1].copy()  # noqa: NPY002 - the global state we must not touch
    return (legacy, torch.random.get_rng_state(), random.getstate())


def _finite(value: Any, depth: int = 0) -> bool:
    if depth > 4:
        return True
    if isinstance(value, (bool, np.bool_, str, bytes)) or value is None:
        return True
    if isinstance(value, (int, np.integer)):
        return True
    if isinstance(value, (float, np.floating)):
        return math.isfinite(value)
    if isinstance(value, np.ndarray):
        return value.dtype.kind not in "fc" or bool(np.isfinite(value).all())
    if isinstance(value, torch.Tensor):
        return not value.is_floating_point() or bool(torch.isfinite(value).all())
    if isinstance(value, nn.Module):
        return all(_finite(p) for p in value.parameters())
    if isinstance(value, Mapping):
        return all(_finite(v, depth + 1) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_finite(v, depth + 1) for v in value[:64])
    if dataclasses.is_dataclass(value):
        return all(_finite(getattr(value, f.name), depth + 1) for f in dataclasses.fields(value))
    return True


def _names_argument(message: str, names: tuple[str, ...]) -> bool:
    return any(re.search(rf"'{re.escape(n)}(\[[^\]]*\])*'", message) for n in names)


def _call_checked(fn: Callable, kwargs: dict[str, Any], spec: Call, bad_arg: str | None):
    before = {k: _snapshot(v) for k, v in kwargs.items()}
    rng = _rng_state()
    try:
        out = fn(**kwargs)
    except (ValueError, TypeError, FloatingPointError) as err:
        assert bad_arg is not None, f"the good call failed: {type(err).__name__}: {err}"
        names = (bad_arg, *spec.also.get(bad_arg, ()))
        assert _names_argument(str(err), names), (
            f"{type(err).__name__} does not name {names}: {err}"
        )
    else:
        if not spec.may_be_inf:
            assert _finite(out), f"non-finite result for {bad_arg}={kwargs.get(bad_arg)!r}"
    finally:
        after_rng = _rng_state()
    for k, v in kwargs.items():
        if k not in spec.mutates:
            assert _same(before[k], _snapshot(v)), f"argument {k!r} was modified"
    assert all(_same(a, b) for a, b in zip(rng[:2], after_rng[:2], strict=True)), (
        "the global NumPy/torch RNG changed"
    )
    assert rng[2] == after_rng[2], "Python's global random state changed"


def _public_names() -> list[str]:
    names = []
    for pkg in PACKAGES:
        module = importlib.import_module(pkg)
        names += [f"{pkg}.{n}" for n in module.__all__]
    return names


def _resolve(full: str) -> Any:
    module, _, name = full.rpartition(".")
    return getattr(importlib.import_module(module), name)


# --- the tests -------------------------------------------------------------------------------


def test_every_public_name_has_a_spec():
    missing = [n for n in _public_names() if n not in SPECS]
    assert not missing, (
        f"public names without a bad-input strategy: {missing}. Add a Call(good=...) (or a "
        "NotCallable with the reason) for each to SPECS in tests/test_api_contract.py."
    )
    stale = [n for n in SPECS if n not in _public_names()]
    assert not stale, f"SPECS names that are no longer public: {stale}"


def test_constants_and_result_types_are_what_the_spec_says():
    for name, spec in SPECS.items():
        obj = _resolve(name) if name in _public_names() else None
        if spec is CONST:
            assert not callable(obj), name
        elif spec is MODULE:
            assert inspect.ismodule(obj), name
        elif spec is RESULT:
            assert inspect.isclass(obj), name


_WALKED = [n for n in SPECS if isinstance(SPECS[n], Call)]


def _param(name: str):
    if name in KNOWN_GAPS:
        return pytest.param(name, marks=pytest.mark.xfail(reason=KNOWN_GAPS[name], strict=True))
    return name


@pytest.mark.parametrize("name", [_param(n) for n in _WALKED])
def test_bad_input_gets_a_named_error_or_a_finite_answer(name):
    spec = SPECS[name]
    fn = _resolve(name)
    _call_checked(fn, spec.good(), spec, None)
    args = list(spec.vary or spec.good())
    if not args:  # a function without arguments: the good call is the whole contract
        return

    @settings(max_examples=8, deadline=None, database=None)
    @given(data=st.data())
    def walk(data):
        kwargs = spec.good()
        arg = data.draw(st.sampled_from(args), label="argument")
        kwargs[arg] = data.draw(st.sampled_from(bad_values(kwargs[arg])), label="bad value")
        _call_checked(fn, kwargs, spec, arg)

    walk()


@pytest.mark.parametrize("name", list(METHODS))
def test_methods_keep_the_contract(name):
    spec = METHODS[name]
    _call_checked(spec.target(), spec.good(), spec, None)

    @settings(max_examples=8, deadline=None, database=None)
    @given(data=st.data())
    def walk(data):
        kwargs = spec.good()
        arg = data.draw(st.sampled_from(list(kwargs)), label="argument")
        kwargs[arg] = data.draw(st.sampled_from(bad_values(kwargs[arg])), label="bad value")
        _call_checked(spec.target(), kwargs, spec, arg)

    walk()


def test_unchecked_kernels_are_documented_as_such():
    for pkg in UNCHECKED:
        module = importlib.import_module(pkg)
        assert "UNCHECKED" in module.__doc__
        for name in module.__all__:
            assert f"{pkg}.{name}" not in SPECS  # not part of the checked contract


# --- every case listed in issue 12, as a regression test ------------------------------------


def test_exported_kernels_are_checked_or_namespaced():
    from dlmath import backprop, optim
    from dlmath.landscape import lanczos
    from dlmath.lowrank import reconstruct

    with pytest.raises(ValueError, match=r"'target' must be labels in \[0, 1\]"):
        backprop.cross_entropy(np.zeros((2, 2)), np.array([0, 5]))  # was IndexError
    got = backprop.logsumexp(np.array([[1, 2, 3]]))  # was UFuncTypeError on ints
    assert got == pytest.approx(np.log(np.exp([1.0, 2.0, 3.0]).sum()), rel=1e-15)
    with pytest.raises(ValueError, match="'target' must be of the same shape as 'input'"):
        backprop.mse(np.ones((4, 3)), np.ones((1, 3)))  # broadcast silently before
    params, grads = {"W": np.ones(2)}, {"W": np.array([np.nan, 1.0])}
    with pytest.raises(ValueError, match=r"'grads\['W'\]' must be finite"):
        backprop.sgd_step(params, grads, 0.1)
    np.testing.assert_array_equal(params["W"], np.ones(2))  # NaN never written
    with pytest.raises(ValueError, match=r"'t' must be an integer in \[1, inf\]"):
        optim.adam_step(np.ones(2), np.ones(2), np.zeros(2), np.zeros(2), 0)
    with pytest.raises(ValueError, match="'which' must be one of 'LM', 'LA', 'SA'; got 'XX'"):
        lanczos(lambda v: v, 3, 1, which="XX")  # meant "SA" silently
    with pytest.raises(ValueError, match=r"'S' must be of shape \(2,\)"):
        reconstruct(np.ones((3, 2)), np.ones(3), np.ones((2, 4)))
    with pytest.warns(DeprecationWarning, match=r"dlmath\.optim\.kernels\.adam_update"):
        assert optim.adam_update is optim.kernels.adam_update


@pytest.mark.parametrize("name", ["Adam", "AdamW", "RMSprop", "Adagrad"])
def test_eps_zero_is_refused(name):
    from dlmath import optim

    with pytest.raises(ValueError, match=rf"{name}\(\): 'eps' must be a finite number in \(0"):
        getattr(optim, name)([np.zeros(2)], eps=0.0)


def test_a_step_that_overflows_names_the_parameter():
    from dlmath.optim import SGD

    opt = SGD({"w": np.ones(2)}, lr=1e308)
    with pytest.raises(FloatingPointError, match=r"SGD\.step\(\): 'params\[w\]' became non-finite"):
        opt.step({"w": np.full(2, 1e10)})
    assert opt.t == 1 and opt.state[0].step == 1  # the state stays consistent


def test_the_same_array_twice_is_refused():
    from dlmath.optim import Adam

    w = np.ones(3)
    with pytest.raises(
        ValueError, match=r"'params\[1\]' must be a different array from params\[0\]"
    ):
        Adam([w, w])
    with pytest.raises(ValueError, match=r"'params\[1\]'"):
        Adam([w[:2], w[1:]])  # overlapping views: one value would step twice
    Adam([w[::2], np.ones(3)[1::2]])  # disjoint memory is fine


def test_schedules_that_divided_by_zero_or_overflowed():
    from dlmath.optim.schedules import ExponentialLR, OneCycleLR, StepLR

    s = OneCycleLR(1.0, total_steps=10, pct_start=0.1)  # warm-up of zero length
    assert s(0) == 1.0  # at the end of its zero-length phase: max_lr (torch divides by zero)
    lo = 1.0 / 25 / 1e4
    assert s(1) == pytest.approx(lo + (1 - lo) / 2 * (math.cos(math.pi / 9) + 1), rel=1e-14)
    with pytest.raises(ValueError, match="ExponentialLR.*'t' must be small enough"):
        ExponentialLR(1.0, 10.0)(400)
    assert ExponentialLR(1.0, 10.0)(300) == pytest.approx(1e300, rel=1e-12)
    assert StepLR(1.0, 1, gamma=0.1)(400) == 0.0  # underflow to 0 is exact enough


def test_spectra_of_huge_and_tiny_matrices_are_finite_and_right():
    from dlmath.lowrank import energy, rank_sweep, stable_rank, truncated_svd

    sweep = rank_sweep(np.diag([1e200, 1.0]))
    np.testing.assert_array_equal(sweep.energy, [1.0, 1.0])  # 1e400 / (1e400 + 1)
    assert sweep.frobenius[0] == pytest.approx(1e-200, rel=1e-12)  # sqrt(1 / 1e400)
    assert stable_rank(np.diag([1e200, 1.0])) == 1.0
    np.testing.assert_allclose(rank_sweep(1e-200 * np.eye(3)).energy, [1 / 3, 2 / 3, 1], rtol=1e-15)
    np.testing.assert_allclose(energy([1e-200, 1e-200]), [0.5, 1.0], rtol=1e-15)
    W = np.random.default_rng(0).standard_normal((5, 4))
    _, S16, _ = truncated_svd(W.astype(np.float16), 2)  # LAPACK has no float16
    _, S32, _ = truncated_svd(W.astype(np.float16).astype(np.float32), 2)
    np.testing.assert_array_equal(S16, S32)


def test_probability_overflow_cases():
    from dlmath import prob

    with pytest.raises(ValueError, match="'sigma_q' must be large enough"):
        prob.kl_gaussian(0.0, 1e300, 0.0, 1e-300)  # the KL is 5e599 nats
    assert prob.kl_gaussian(0.0, 1.0, 1.0, 2.0) == pytest.approx(
        math.log(2) + (1 + 1) / 8 - 0.5, rel=1e-15
    )
    rng = np.random.default_rng(0)
    X_, y_ = rng.standard_normal((10, 3)), rng.standard_normal(10)
    w, lam = prob.ridge_map(X_, y_, noise_sigma=1e100, prior_sigma=1e-10)
    assert lam == pytest.approx(1e220, rel=1e-12)
    np.testing.assert_allclose(w, X_.T @ y_ / lam, rtol=1e-12)  # (X^T X + lam I)^-1 X^T y
    with pytest.raises(ValueError, match="'prior_sigma' must be within a factor"):
        prob.ridge_map(X_, y_, noise_sigma=1e300, prior_sigma=1e-300)
    fit, _ = prob.fit_gaussian_gd([1e6, 2e6, 3e6])
    assert fit.mu == pytest.approx(2e6, rel=1e-12)
    assert fit.sigma == pytest.approx(math.sqrt(2 / 3) * 1e6, rel=1e-9)
    g = prob.Gaussian.fit([1e300, -1e300])  # the squares overflowed and blamed 'sigma'
    assert (g.mu, g.sigma) == (0.0, 1e300)


def _two_layer():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()


def _dense_trainable_hessian(m, X_, y_):
    """The reference: torch.autograd.functional.hessian over the trainable entries."""
    from torch.func import functional_call

    named = [(n, p) for n, p in m.named_parameters()]
    train = [(n, p) for n, p in named if p.requires_grad]
    flat = torch.cat([p.detach().reshape(-1) for _, p in train])

    def loss(v):
        parts = torch.split(v, [p.numel() for _, p in train])
        weights = {n: p.detach() for n, p in named}
        weights.update({n: w.reshape(p.shape) for (n, p), w in zip(train, parts, strict=True)})
        return F.cross_entropy(
            functional_call(m, weights, (torch.as_tensor(X_),)), torch.as_tensor(y_)
        )

    return torch.autograd.functional.hessian(loss, flat).numpy()


def test_hessian_of_real_models():
    from dlmath.landscape import hessian_eigs, hessian_trace, train_with_snapshots
    from dlmath.optim import SGD

    X_, y_ = X(), labels()

    class WithUnused(nn.Module):
        def __init__(self):
            super().__init__()
            self.net, self.unused = _two_layer(), nn.Linear(3, 3).double()

        def forward(self, x):
            return self.net(x)

    m = WithUnused()
    H = _dense_trainable_hessian(m.net, X_, y_)
    top = np.sort(np.abs(np.linalg.eigvalsh(H)))[::-1][:2]
    got = hessian_eigs(m, F.cross_entropy, X_, y_, k=2, tol=1e-10)
    np.testing.assert_allclose(np.abs(got.eigenvalues), top, rtol=1e-7)

    frozen = _two_layer()
    frozen[0].weight.requires_grad_(False)
    H = _dense_trainable_hessian(frozen, X_, y_)
    got = hessian_eigs(frozen, F.cross_entropy, X_, y_, k=1, tol=1e-10)
    assert abs(got.eigenvalues[0]) == pytest.approx(np.abs(np.linalg.eigvalsh(H)).max(), rel=1e-7)
    assert [tuple(t.shape) for t in got.eigenvectors[0]] == [(4, 3), (4,), (2, 4), (2,)]
    assert torch.count_nonzero(got.eigenvectors[0][0]) == 0  # no component on the frozen one
    tr = hessian_trace(frozen, F.cross_entropy, X_, y_, n_samples=2000, seed=1)
    assert abs(tr.estimate - np.trace(H)) <= 5 * tr.stderr

    lin = nn.Linear(3, 1).double()
    zero = hessian_eigs(lin, lambda out, t: out.mean(), X_, y_.astype(float), k=1)
    assert zero.eigenvalues[0] == 0.0  # the loss is linear in the parameters

    before = frozen[0].weight.detach().clone()
    train_with_snapshots(
        frozen, F.cross_entropy, X_, y_, lambda ps: SGD(ps, lr=0.1, weight_decay=0.5), 2
    )
    assert torch.equal(frozen[0].weight, before)  # frozen means untouched, decay included

    drop = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5), nn.Linear(4, 2)).double()
    with pytest.raises(ValueError, match=r"call model\.eval\(\) first; got Dropout layer '1'"):
        hessian_eigs(drop, F.cross_entropy, X_, y_)
    assert hessian_eigs(drop.eval(), F.cross_entropy, X_, y_).eigenvalues.shape == (1,)


def test_lora_keeps_modes_shared_layers_and_tied_weights():
    from dlmath.lowrank import LoRALinear, apply_lora, merge_lora

    m = _two_layer().eval()
    adapted, _ = apply_lora(m, 1)
    assert not any(mod.training for mod in adapted.modules())  # was: LoRA layers in train mode

    shared = nn.Linear(4, 4).double()
    twice = nn.Sequential(nn.Linear(3, 4).double(), shared, nn.Tanh(), shared)
    adapted, _ = apply_lora(twice, 2)
    assert isinstance(adapted[1], LoRALinear) and adapted[1] is adapted[3]  # tie kept

    torch.manual_seed(1)
    enc, dec = nn.Linear(4, 4).double(), nn.Linear(4, 4).double()
    dec.weight = enc.weight  # a weight tied between two layers
    tied = nn.Sequential(enc, nn.Tanh(), dec)
    x = torch.randn(5, 4, dtype=torch.float64)
    adapted, _ = apply_lora(tied, 2, init="svd")
    with torch.no_grad():
        assert (adapted(x) - tied(x)).abs().max() < 1e-12  # was 0.81: residual written twice
        merged = merge_lora(adapted)
        assert (merged(x) - tied(x)).abs().max() < 1e-12
    assert merged[0].weight is merged[2].weight
    torch.testing.assert_close(merged[0].weight, enc.weight, rtol=0, atol=1e-13)


def test_wrong_names_in_messages_are_fixed():
    from dlmath import backprop, prob
    from dlmath.backprop import MLP
    from dlmath.lowrank import randomized_svd

    assert prob.grid_kl([0.0, -np.inf], [0.0, 0.0]) == pytest.approx(math.log(2), rel=1e-15)
    with pytest.raises(ValueError, match="'log_p'"):
        prob.grid_kl([0.0, np.nan], [0.0, 0.0])  # blamed 'x'
    rng = np.random.default_rng(0)
    X_, y_ = rng.standard_normal((10, 3)), rng.standard_normal(10)
    with pytest.raises(FloatingPointError, match="lower 'lr'"):
        prob.fit_linear_regression_gd(X_, y_, lr=10.0)  # blamed 'y_hat'
    with pytest.raises(TypeError, match="'normalize' must be True or False; got str 'yes'"):
        prob.entropy([0.5, 0.5], normalize="yes")
    with pytest.raises(TypeError, match="'q' must be an array of probabilities"):
        prob.distribution_cross_entropy([0.5, 0.5], None)  # was UnboundLocalError
    with pytest.raises(ValueError, match="'target' must be integer class labels"):
        backprop.cross_entropy([0.5, 0.5], None)
    for call in (
        lambda: MLP([2, 2], seed=-1),
        lambda: randomized_svd(np.ones((3, 3)), 1, seed=-1),
        lambda: prob.Gaussian().sample(2, seed=-1),
    ):
        with pytest.raises(ValueError, match=r"'seed' must be an integer in \[0, "):
            call()


def test_one_rank_validator_agrees_about_ranks_4():
    from dlmath.lowrank import analyze_weights, lora_memory_table, rank_sweep

    W_ = np.random.default_rng(0).standard_normal((6, 5))
    assert list(rank_sweep(W_, 4).ranks) == [4]
    assert analyze_weights({"W": W_}, ranks=4).ranks == (4,)
    assert [r["rank"] for r in lora_memory_table([(6, 5)], 4).rows] == [4]
    for call in (
        lambda: rank_sweep(W_, [0]),
        lambda: analyze_weights({"W": W_}, ranks=[]),
        lambda: lora_memory_table([(6, 5)], [9]),
    ):
        with pytest.raises(ValueError, match="'ranks' must be"):
            call()


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_optimizer_signatures_match_torch(name):
    """The declared tables give torch.optim's positional parameters and defaults."""
    from dlmath import optim

    ours = inspect.signature(getattr(optim, name)).parameters
    theirs = inspect.signature(getattr(torch.optim, name)).parameters
    for key, param in ours.items():
        assert key in theirs, key
        if key != "params":
            default = theirs[key].default
            default = float(default) if isinstance(default, torch.Tensor) else default
            assert param.default == default, key
    assert list(ours) == [k for k in theirs if k in ours]  # same order


def test_deprecated_names_warn_and_name_the_replacement():
    import dlmath.landscape as landscape

    with pytest.warns(DeprecationWarning, match="use dlmath.landscape.Snapshots"):
        assert landscape.Trajectory is landscape.Snapshots
