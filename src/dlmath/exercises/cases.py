"""Hidden cases, generated at check time from a seed: random shapes, seeds and dtypes plus
the edge cases that expose each known mistake (logits of +-1e4, t = 1, gradients small
enough that eps matters, zeros in a distribution, degenerate Hessians, non-square W).

A generator takes a ``numpy.random.Generator`` and returns a list of :class:`Case`. Cases
are grouped (``Case.group``): the learner sees one verdict per group, and the group's
label says what the inputs were like, never the inputs themselves. ``Case.where`` names
the input in a diagnosis ("at logits of +-1e4"); ``Case.factors`` are the constants a
wrong result may be off by (the batch size n, lr, alpha/r), so the diagnosis can name them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dlmath.exercises.sandbox import Fn

__all__ = ["Case", "mlp_params"]


@dataclass(frozen=True)
class Case:
    """One hidden call ``f(*args, **kwargs)``; ``group`` labels the kind of input."""

    group: str
    args: tuple
    kwargs: dict = field(default_factory=dict)
    where: str = ""
    factors: dict[str, float] = field(default_factory=dict)


def _normal(rng, shape, dtype=np.float64, scale=1.0):
    return (scale * rng.standard_normal(shape)).astype(dtype)


def _dims(rng, k: int, low: int = 1, high: int = 7) -> list[int]:
    """``k`` distinct sizes (so shapes never agree by accident and transposes show)."""
    return [int(v) for v in rng.choice(np.arange(low, high + 1), size=k, replace=False)]


# --- Lab 1 ---------------------------------------------------------------------------------


def linear_forward(rng):
    cases = []
    for _ in range(4):
        n, d_in, d_out = _dims(rng, 3, 2, 8)
        cases.append(
            Case(
                "random shapes, float64",
                (_normal(rng, (n, d_in)), _normal(rng, (d_out, d_in)), _normal(rng, d_out)),
            )
        )
    for _ in range(2):
        n, d_in, d_out = _dims(rng, 3, 2, 8)
        args = (
            _normal(rng, (n, d_in), np.float32),
            _normal(rng, (d_out, d_in), np.float32),
            _normal(rng, d_out, np.float32),
        )
        cases.append(Case("float32 (dtype kept)", args))
    for _ in range(2):
        n, d = _dims(rng, 2, 2, 6)
        cases.append(
            Case("square W", (_normal(rng, (n, d)), _normal(rng, (d, d)), _normal(rng, d)))
        )
    d_in, d_out = _dims(rng, 2, 2, 6)
    cases.append(
        Case(
            "one sample (n = 1)",
            (_normal(rng, (1, d_in)), _normal(rng, (d_out, d_in)), _normal(rng, d_out)),
        )
    )
    return cases


def linear_backward(rng):
    cases = []
    for _ in range(4):
        n, d_in, d_out = _dims(rng, 3, 2, 8)
        args = (_normal(rng, (n, d_out)), _normal(rng, (n, d_in)), _normal(rng, (d_out, d_in)))
        cases.append(Case("random shapes, float64", args, factors={"n": n}))
    for _ in range(2):
        n, d_in, d_out = _dims(rng, 3, 2, 8)
        args = (
            _normal(rng, (n, d_out), np.float32),
            _normal(rng, (n, d_in), np.float32),
            _normal(rng, (d_out, d_in), np.float32),
        )
        cases.append(Case("float32 (dtype kept)", args, factors={"n": n}))
    for _ in range(2):
        n, d = _dims(rng, 2, 2, 6)
        args = (_normal(rng, (n, d)), _normal(rng, (n, d)), _normal(rng, (d, d)))
        cases.append(Case("square W", args, factors={"n": n}))
    return cases


def _activation_cases(rng, extreme: str):
    cases = []
    for _ in range(3):
        shape = tuple(_dims(rng, 2, 2, 8))
        cases.append(
            Case("random shapes, float64", (_normal(rng, shape), _normal(rng, shape, scale=2)))
        )
    shape = tuple(_dims(rng, 2, 2, 8))
    cases.append(
        Case(
            "float32 (dtype kept)",
            (_normal(rng, shape, np.float32), _normal(rng, shape, np.float32)),
        )
    )
    shape = tuple(_dims(rng, 3, 2, 5))
    cases.append(Case("any shape (3-D)", (_normal(rng, shape), _normal(rng, shape))))
    n = int(rng.integers(4, 9))
    if extreme == "zeros":
        Z = _normal(rng, (n, 5))
        Z[:, ::2] = 0.0
        cases.append(Case("Z with exact zeros", (_normal(rng, (n, 5)), Z), where="at Z = 0"))
    else:
        Z = np.linspace(-40, 40, 5 * n).reshape(n, 5)
        cases.append(
            Case(
                "saturated units, |Z| up to 40", (_normal(rng, (n, 5)), Z), where="at |Z| up to 40"
            )
        )
    return cases


def relu_backward(rng):
    return _activation_cases(rng, "zeros")


def tanh_backward(rng):
    return _activation_cases(rng, "large")


def sigmoid_backward(rng):
    return _activation_cases(rng, "large")


def softmax_cross_entropy(rng):
    cases = []
    for _ in range(4):
        n, C = int(rng.integers(2, 9)), int(rng.integers(2, 7))
        args = (_normal(rng, (n, C), scale=3), rng.integers(0, C, n))
        cases.append(Case("random logits, float64", args, factors={"n": n}))
    n, C = int(rng.integers(2, 9)), int(rng.integers(2, 7))
    args = (_normal(rng, (n, C), np.float32), rng.integers(0, C, n))
    cases.append(Case("float32 (dtype kept)", args, factors={"n": n}))
    for _ in range(2):
        n, C = int(rng.integers(2, 9)), int(rng.integers(2, 7))
        Z = rng.choice([-1e4, 1e4], size=(n, C)) + _normal(rng, (n, C))
        args = (Z, rng.integers(0, C, n))
        cases.append(Case("logits of +-1e4", args, where="at logits of 1e4", factors={"n": n}))
    C = int(rng.integers(2, 7))
    args = (_normal(rng, (1, C)), rng.integers(0, C, 1))
    cases.append(Case("one sample (n = 1)", args, factors={"n": 1}))
    return cases


def mlp_params(rng, sizes, dtype=np.float64) -> dict:
    """Parameters ``W1 b1 ... W3 b3`` of an MLP with layer widths ``sizes`` (torch's init)."""
    params = {}
    for l, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True), start=1):
        bound = 1.0 / np.sqrt(d_in)
        params[f"W{l}"] = rng.uniform(-bound, bound, (d_out, d_in)).astype(dtype)
        params[f"b{l}"] = rng.uniform(-bound, bound, d_out).astype(dtype)
    return params


def mlp_loss_and_grads(rng):
    cases = []
    float64 = "random MLPs, float64"
    for group, n, dtype in (
        (float64, None, np.float64),
        (float64, None, np.float64),
        (float64, None, np.float64),
        (float64, None, np.float64),
        ("float32 (dtype kept)", None, np.float32),
        ("one sample (n = 1)", 1, np.float64),
    ):
        d0, h1, h2, C = _dims(rng, 4, 2, 7)
        n = int(rng.integers(4, 11)) if n is None else n
        # weights scaled up so that tanh' is far from 1 and layer mistakes show
        params = {k: 2 * v for k, v in mlp_params(rng, [d0, h1, h2, C], dtype).items()}
        args = (params, _normal(rng, (n, d0), dtype), rng.integers(0, C, n))
        cases.append(Case(group, args, factors={"n": n}))
    return cases


def numerical_gradient(rng):
    cases = []
    for shape in ((int(rng.integers(3, 7)),), (int(rng.integers(3, 7)),)):
        f = Fn("sum_sin", {"scale": rng.uniform(0.5, 2.0, shape)})
        cases.append(Case("sum of sines, vector x", (f, _normal(rng, shape))))
    for _ in range(2):
        shape = tuple(_dims(rng, 2, 2, 4))
        f = Fn("sum_sin", {"scale": rng.uniform(0.5, 2.0, shape)})
        cases.append(Case("matrix x (any shape)", (f, _normal(rng, shape))))
    n = int(rng.integers(3, 6))
    M = _normal(rng, (n, n))
    f = Fn("quadratic", {"A": M @ M.T, "b": _normal(rng, n)})
    cases.append(Case("quadratic, vector x", (f, _normal(rng, n))))
    shape = (2, int(rng.integers(2, 4)))
    f = Fn("logsumexp", {"scale": 1.0})
    cases.append(Case("logsumexp, matrix x", (f, _normal(rng, shape))))
    f = Fn("sum_sin", {"scale": rng.uniform(1.0, 2.0, 4)})
    cases.append(Case("eps given (eps = 1e-2)", (f, _normal(rng, 4)), {"eps": 1e-2}))
    return cases


# --- Lab 2 ---------------------------------------------------------------------------------


def sgd_step(rng):
    cases = []
    for _ in range(3):
        shape = (int(rng.integers(2, 8)),)
        lr = float(rng.choice([0.1, 0.03, 0.5]))
        cases.append(
            Case(
                "random vectors", (_normal(rng, shape), _normal(rng, shape), lr), factors={"lr": lr}
            )
        )
    shape = tuple(_dims(rng, 2, 2, 5))
    cases.append(
        Case("matrix param", (_normal(rng, shape), _normal(rng, shape), 0.2), factors={"lr": 0.2})
    )
    args = (_normal(rng, 5, np.float32), _normal(rng, 5, np.float32), 0.1)
    cases.append(Case("float32 (dtype kept)", args, factors={"lr": 0.1}))
    return cases


def momentum_step(rng):
    cases = []
    for _ in range(2):
        n = int(rng.integers(2, 8))
        lr = float(rng.choice([0.1, 0.05]))
        args = (_normal(rng, n), _normal(rng, n), np.zeros(n), lr)
        cases.append(Case("first step (velocity = 0)", args, factors={"lr": lr}))
    for _ in range(3):
        n = int(rng.integers(2, 8))
        lr = float(rng.choice([0.1, 0.05]))
        args = (_normal(rng, n), _normal(rng, n), _normal(rng, n), lr)
        cases.append(Case("later step (velocity given)", args, factors={"lr": lr}))
    n = int(rng.integers(2, 8))
    args = (_normal(rng, n), _normal(rng, n), _normal(rng, n), 0.1)
    cases.append(Case("momentum given (0.5)", args, {"momentum": 0.5}, factors={"lr": 0.1}))
    args = (
        _normal(rng, 4, np.float32),
        _normal(rng, 4, np.float32),
        _normal(rng, 4, np.float32),
        0.1,
    )
    cases.append(Case("float32 (dtype kept)", args, factors={"lr": 0.1}))
    return cases


def _adam_state(rng, n, t, dtype=np.float64, grad_scale=1.0):
    """A plausible (m, v) after ``t - 1`` steps: m ~ g, v ~ g^2 scaled by the bias factors."""
    m = (1 - 0.9 ** (t - 1)) * grad_scale * rng.standard_normal(n)
    v = (1 - 0.999 ** (t - 1)) * grad_scale**2 * rng.uniform(0.5, 2.0, n)
    return m.astype(dtype), v.astype(dtype)


def adam_step(rng, extra: dict | None = None):
    extra = extra or {}

    def at_defaults(group: str, args: tuple, where: str) -> Case:  # lr = 1e-3
        return Case(group, args, dict(extra), where=where, factors={"lr": 1e-3})

    cases = []
    for _ in range(2):
        n = int(rng.integers(2, 8))
        args = (_normal(rng, n), _normal(rng, n), np.zeros(n), np.zeros(n), 1)
        cases.append(at_defaults("first step (t = 1, m = v = 0)", args, "at t = 1"))
    for t in (2, int(rng.integers(5, 20)), int(rng.integers(50, 200))):
        n = int(rng.integers(2, 8))
        m, v = _adam_state(rng, n, t)
        args = (_normal(rng, n), _normal(rng, n), m, v, t)
        cases.append(at_defaults("later steps (t > 1, m and v given)", args, f"at t = {t}"))
    for t in (1, 10):
        n = int(rng.integers(2, 8))
        m, v = _adam_state(rng, n, t, grad_scale=1e-8)
        args = (_normal(rng, n), 1e-8 * _normal(rng, n), m, v, t)
        group = "tiny gradients (1e-8: eps matters)"
        cases.append(at_defaults(group, args, "at gradients of 1e-8"))
    n = int(rng.integers(2, 8))
    m, v = _adam_state(rng, n, 3)
    args = (_normal(rng, n), _normal(rng, n), m, v, 3)
    kwargs = {"lr": 0.05, "beta1": 0.8, "beta2": 0.99, "eps": 1e-6, **extra}
    cases.append(Case("hyperparameters given", args, kwargs, factors={"lr": 0.05}))
    m, v = _adam_state(rng, 4, 4, np.float32)
    args = (_normal(rng, 4, np.float32), _normal(rng, 4, np.float32), m, v, 4)
    cases.append(Case("float32 (dtype kept)", args, dict(extra), factors={"lr": 1e-3}))
    return cases


def adamw_step(rng):
    cases = adam_step(rng)
    n = int(rng.integers(2, 8))
    m, v = _adam_state(rng, n, 5)
    args = (_normal(rng, n, scale=3), _normal(rng, n), m, v, 5)
    cases.append(
        Case(
            "strong decay (weight_decay = 0.5, lr = 0.1)",
            args,
            {"lr": 0.1, "weight_decay": 0.5},
            factors={"lr": 0.1},
        )
    )
    return cases


def train_on_rosenbrock(rng):
    cases = []
    for optimizer, lrs in (
        ("sgd", (5e-4, 2e-4)),
        ("momentum", (1e-4, 5e-5)),
        ("adam", (2e-2, 5e-2)),
    ):
        for lr in lrs:
            steps = int(rng.integers(100, 200))
            cases.append(Case(f"{optimizer}", (optimizer, lr, steps), where=f"with {optimizer}"))
    return cases


# --- Lab 3 ---------------------------------------------------------------------------------


def filter_normalize(rng):
    cases = []
    for _ in range(3):
        shape = tuple(_dims(rng, 2, 2, 7))
        cases.append(
            Case("2-D weights (out, in)", (_normal(rng, shape), _normal(rng, shape, scale=3)))
        )
    for _ in range(2):
        n = int(rng.integers(2, 8))
        cases.append(Case("1-D parameters (biases) give zeros", (_normal(rng, n), _normal(rng, n))))
    shape = tuple(_dims(rng, 2, 2, 7))
    args = (_normal(rng, shape, np.float32), _normal(rng, shape, np.float32))
    cases.append(Case("float32 (dtype kept)", args))
    return cases


def _plane_args(rng, f: Fn, n: int, alpha_span, beta_span) -> tuple:
    """(f, theta, d1, d2, alphas, betas) on a rectangular grid of distinct sizes."""
    k, m = _dims(rng, 2, 2, 7)
    theta, d1, d2 = (_normal(rng, n) for _ in range(3))
    return f, theta, d1, d2, np.linspace(*alpha_span, k), np.linspace(*beta_span, m)


def surface_on_plane(rng):
    cases = []
    for _ in range(2):
        n = int(rng.integers(2, 6))
        M = _normal(rng, (n, n))
        f = Fn("quadratic", {"A": M @ M.T, "b": _normal(rng, n)})
        args = _plane_args(rng, f, n, (-1, 1), (-0.5, 1.5))
        cases.append(Case("quadratic, rectangular grid", args))
    n = int(rng.integers(2, 6))
    f = Fn("sum_sin", {"scale": rng.uniform(0.5, 2.0, n)})
    cases.append(Case("sum of sines, rectangular grid", _plane_args(rng, f, n, (-2, 2), (-1, 1))))
    f = Fn("rosenbrock", {})
    args = (
        f,
        np.array([1.0, 1.0]),
        np.array([1.0, 0.0]),
        np.array([0.0, 1.0]),
        np.array([0.5]),
        np.linspace(-1, 1, 4),
    )
    cases.append(Case("a single alpha", args))
    return cases


def _sym(rng, eigenvalues):
    n = len(eigenvalues)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    H = (Q * np.asarray(eigenvalues, dtype=float)) @ Q.T
    return (H + H.T) / 2


def classify_critical_point(rng):
    cases = []
    for group, eig in (
        ("minimum", rng.uniform(0.5, 3, 3)),
        ("minimum", rng.uniform(0.5, 3, 2)),
        ("maximum", -rng.uniform(0.5, 3, 3)),
        ("saddle", [2.0, -1.5, 0.7]),
        ("saddle", [1.0, -1.0]),
        ("degenerate (a zero eigenvalue)", [2.0, 0.0, 1.0]),
        ("degenerate (a zero eigenvalue)", [-1.0, 0.0]),
        ("degenerate relative to the spectrum (1e4 and 1e-5)", [1e4, 1e-5, 3.0]),
        ("degenerate below scale 1 (1e-9 and 2e-9)", [1e-9, 2e-9]),
    ):
        cases.append(Case(group, (_sym(rng, eig),)))
    # a saddle whose diagonal is positive: the signs are the eigenvalues', not the diagonal's
    H = np.array([[1.0, 3.0], [3.0, 1.0]])
    cases.append(Case("saddle", (H,)))
    cases.append(Case("tolerance given", (_sym(rng, [1.0, 1e-3]),), {"tol": 1e-2}))
    return cases


# --- Lab 4 ---------------------------------------------------------------------------------


def _matrix(rng, m, n, dtype=np.float64):
    return _normal(rng, (m, n), dtype)


def low_rank_approx(rng):
    cases = []
    for _ in range(3):
        m, n = _dims(rng, 2, 3, 9)
        r = int(rng.integers(2, min(m, n)))
        cases.append(Case("random non-square W", (_matrix(rng, m, n), r)))
    m, n = _dims(rng, 2, 2, 6)
    cases.append(Case("r = 1", (_matrix(rng, m, n), 1)))
    m, n = _dims(rng, 2, 2, 6)
    cases.append(Case("full rank (exact)", (_matrix(rng, m, n), min(m, n))))
    m, n = _dims(rng, 2, 3, 7)
    cases.append(Case("float32 (dtype kept)", (_matrix(rng, m, n, np.float32), 2)))
    return cases


def relative_error_at_rank(rng):
    cases = []
    for _ in range(3):
        m, n = _dims(rng, 2, 3, 9)
        W = 4.0 * _matrix(rng, m, n)
        cases.append(Case("random non-square W", (W, int(rng.integers(1, min(m, n))))))
    m, n = _dims(rng, 2, 3, 9)
    cases.append(Case("random non-square W", (_matrix(rng, m, n), 1)))
    m, n = _dims(rng, 2, 2, 6)
    cases.append(Case("full rank (error 0)", (_matrix(rng, m, n), min(m, n))))
    return cases


def lora_parameter_count(rng):
    cases = []
    for _ in range(2):
        d = int(rng.choice([64, 256, 768]))
        cases.append(Case("square weights", (d, d, int(rng.choice([4, 8, 16])))))
    for _ in range(3):
        d_out, d_in = (int(v) for v in rng.choice([32, 96, 300, 768, 1024], 2, replace=False))
        cases.append(Case("non-square weights", (d_out, d_in, int(rng.choice([2, 8, 32])))))
    cases.append(Case("r = 1", (40, 10, 1)))
    return cases


def lora_forward(rng):
    cases = []
    for _ in range(3):
        n, d_in, d_out = _dims(rng, 3, 3, 9)
        r = int(rng.integers(1, 3))
        alpha = float(rng.choice([4.0, 8.0, 16.0]))
        args = (
            _normal(rng, (n, d_in)),
            _normal(rng, (d_out, d_in)),
            _normal(rng, (r, d_in)),
            _normal(rng, (d_out, r)),
            alpha,
            r,
        )
        cases.append(Case("random shapes, alpha != r", args, factors={"alpha/r": alpha / r}))
    n, d_in, d_out = _dims(rng, 3, 3, 9)
    args = (
        _normal(rng, (n, d_in), np.float32),
        _normal(rng, (d_out, d_in), np.float32),
        _normal(rng, (2, d_in), np.float32),
        _normal(rng, (d_out, 2), np.float32),
        8.0,
        2,
    )
    cases.append(Case("float32 (dtype kept)", args, factors={"alpha/r": 4.0}))
    n, d_in, d_out = _dims(rng, 3, 3, 9)
    args = (
        _normal(rng, (n, d_in)),
        _normal(rng, (d_out, d_in)),
        _normal(rng, (2, d_in)),
        _normal(rng, (d_out, 2)),
        2.0,
        2,
    )
    cases.append(Case("alpha = r (scale 1)", args))
    return cases


def rank_for_energy(rng):
    cases = []
    for _ in range(3):
        S = np.sort(rng.uniform(0.1, 5.0, int(rng.integers(4, 12))))[::-1].copy()
        cases.append(Case("random spectra", (S, float(rng.choice([0.5, 0.8, 0.9, 0.95])))))
    S = 1.0 / np.arange(1, 11)
    cases.append(Case("default target (0.9)", (S,)))
    cases.append(Case("target reached exactly", (np.ones(4), 0.5)))
    return cases


# --- Lab 5 ---------------------------------------------------------------------------------


def gaussian_log_pdf(rng):
    cases = []
    for _ in range(3):
        shape = (int(rng.integers(2, 9)),)
        mu, sigma = float(rng.normal()), float(rng.uniform(0.3, 3))
        cases.append(Case("random x, mu, sigma", (_normal(rng, shape, scale=2), mu, sigma)))
    cases.append(Case("matrix x", (_normal(rng, (3, 4)), 0.5, 2.0)))
    cases.append(Case("small sigma (0.01)", (_normal(rng, 5, scale=0.02), 0.0, 0.01)))
    return cases


def bernoulli_log_pmf(rng):
    cases = []
    for _ in range(3):
        cases.append(
            Case("random p in (0, 1)", (rng.integers(0, 2, 8), float(rng.uniform(0.05, 0.95))))
        )
    cases.append(Case("p = 0 and p = 1", (np.array([0, 1, 1, 0]), 0.0), where="at p = 0"))
    cases.append(Case("p = 0 and p = 1", (np.array([1, 0, 1, 1]), 1.0), where="at p = 1"))
    return cases


def _dist(rng, K, zeros: int = 0):
    p = rng.uniform(0.1, 1.0, K)
    if zeros:
        p[rng.choice(K, zeros, replace=False)] = 0.0
    return p / p.sum()


def categorical_log_pmf(rng):
    cases = []
    for _ in range(3):
        K = int(rng.integers(3, 8))
        cases.append(Case("random probs", (rng.integers(0, K, 6), _dist(rng, K))))
    probs = np.array([0.5, 0.0, 0.5])
    cases.append(
        Case(
            "a zero probability (log 0 = -inf)",
            (np.array([0, 1, 2, 1]), probs),
            where="at a zero probability",
        )
    )
    return cases


def entropy(rng):
    cases = []
    for _ in range(2):
        cases.append(Case("random p (1-D)", (_dist(rng, int(rng.integers(3, 8))),)))
    for _ in range(2):
        n, K = _dims(rng, 2, 2, 6)
        cases.append(Case("a batch of rows (n, K)", (np.stack([_dist(rng, K) for _ in range(n)]),)))
    K = int(rng.integers(4, 8))
    cases.append(Case("zeros in p (0 log 0 = 0)", (_dist(rng, K, zeros=2),), where="at p_k = 0"))
    cases.append(Case("zeros in p (0 log 0 = 0)", (np.array([0.0, 1.0, 0.0]),), where="at p_k = 0"))
    return cases


def _pair_cases(rng, kl: bool):
    cases = []
    for _ in range(2):
        K = int(rng.integers(3, 8))
        cases.append(Case("random p, q (1-D)", (_dist(rng, K), _dist(rng, K))))
    n, K = _dims(rng, 2, 2, 6)
    P = np.stack([_dist(rng, K) for _ in range(n)])
    Q = np.stack([_dist(rng, K) for _ in range(n)])
    cases.append(Case("a batch of rows (n, K)", (P, Q)))
    K = int(rng.integers(4, 8))
    cases.append(
        Case(
            "zeros in p (0 log q = 0)", (_dist(rng, K, zeros=2), _dist(rng, K)), where="at p_k = 0"
        )
    )
    p = np.array([0.0, 0.25, 0.75])
    cases.append(Case("zeros in p (0 log q = 0)", (p, p.copy()), where="at p_k = q_k = 0"))
    p, q = np.array([0.5, 0.5, 0.0]), np.array([1.0, 0.0, 0.0])
    cases.append(Case("q_k = 0 < p_k (infinite)", (p, q), where="at q_k = 0 < p_k"))
    if kl:
        p = _dist(rng, 4)
        cases.append(Case("p = q (KL = 0)", (p, p.copy())))
    return cases


def cross_entropy(rng):
    return _pair_cases(rng, kl=False)


def kl_divergence(rng):
    return _pair_cases(rng, kl=True)


def gaussian_nll(rng):
    cases = []
    for _ in range(3):
        n = int(rng.integers(3, 10))
        y = _normal(rng, n)
        args = (y, y + _normal(rng, n, scale=0.5), float(rng.uniform(0.5, 2.0)))
        cases.append(Case("random y, y_hat, sigma", args, factors={"n": n}))
    y = _normal(rng, (3, 4))
    cases.append(Case("matrix y (mean over all elements)", (y, y + 0.3, 0.7), factors={"n": 12}))
    y = _normal(rng, 5)
    cases.append(Case("sigma = 1", (y, y + _normal(rng, 5), 1.0), factors={"n": 5}))
    return cases


def gaussian_mle(rng):
    cases = []
    for _ in range(3):
        n = int(rng.integers(3, 12))
        cases.append(
            Case(
                "random samples",
                (rng.normal(rng.normal(), rng.uniform(0.5, 3), n),),
                factors={"n": n},
            )
        )
    cases.append(Case("two samples", (np.array([1.0, 3.0]),), factors={"n": 2}))
    return cases
