r"""Known mistakes, each a *mutant* of the reference: the reference with one thing done wrong.

The checker runs every mutant of an exercise on the same hidden case as the learner's code
(in the parent process, never in the learner's). When the learner's output matches a
mutant's and not the reference's, the diagnosis names that mistake ("tanh' computed as
1 - Z**2").

The library is the single source of truth, so a mutant is built from the exercise's
reference (the registry's adapter of a dlmath function) and writes only what is mistaken:

- the reference on a changed input (:func:`_changed`): ``X @ W`` is the reference at
  ``W.T``; t counted from 0 is the reference at ``t + 1``; tanh' from Z is the backward
  rule given ``A = Z``; Sutskever's momentum is the reference with ``lr * grad`` and
  ``lr = 1``; a missing bias correction of Adam is the reference at a rescaled lr and eps;
- the reference through one of the library's own flags (AdamW's
  ``decoupled_weight_decay=False`` is the coupled L2 decay; SGD's ``dampening``);
- the reference's output changed (dW transposed, a gradient divided by n once more).

Where the library has no hook for the mistake, the mutant writes the mistaken lines out
and its docstring says so ("Written out": forward differences, softmax without the max
shift, eps inside the square root, 0 log 0 left unmasked, a strict comparison).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

__all__ = ["MISTAKES", "Mistake"]


@dataclass(frozen=True)
class Mistake:
    """A named mistake: ``message`` is what the learner reads, ``fn`` the mutant.

    The message names the mistake; it never quotes a line of the solution.
    """

    key: str
    message: str
    fn: Callable


# --- building mutants from the references ---------------------------------------------------


def _reference(exercise: str) -> Callable:
    """The registry's reference of ``exercise``, looked up when a mutant runs (no import cycle)."""
    from dlmath.exercises.registry import EXERCISES

    return EXERCISES[exercise].reference


def _arguments(exercise: str, args: tuple, kwargs: dict) -> dict:
    """The reference's arguments by name, its defaults filled in."""
    bound = inspect.signature(_reference(exercise)).bind(*args, **kwargs)
    bound.apply_defaults()
    return dict(bound.arguments)


def _changed(exercise: str, change: Callable[[dict], dict]) -> Callable:
    """The mutant "the reference of ``exercise`` on changed inputs": ``change`` maps the
    reference's arguments by name (defaults filled in) to the ones it replaces."""

    def mutant(*args, **kwargs):
        a = _arguments(exercise, args, kwargs)
        return _reference(exercise)(**{**a, **change(a)})

    mutant.__doc__ = f"The reference of {exercise} on changed inputs (the library's own code)."
    return mutant


# --- Lab 1 ---------------------------------------------------------------------------------


def _lb_batch_divided(dZ, X, W):
    """dW and db divided by the batch size once more: the reference's, over n."""
    dX, dW, db = _reference("linear_backward")(dZ, X, W)
    n = dZ.shape[0]
    return dX, dW / n, db / n


def _lb_dW_transposed(dZ, X, W):
    """dW transposed: the reference's dW.T (the shape check names it when W is not square)."""
    dX, dW, db = _reference("linear_backward")(dZ, X, W)
    return dX, dW.T, db


def _sce_no_max(Z, y):
    """Softmax without subtracting the max: exp(Z) overflows at large logits.

    Written out: the library computes only the stable (shifted) softmax.
    """
    n = Z.shape[0]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        E = np.exp(Z)
        P = E / E.sum(axis=1, keepdims=True)
        loss = float(np.mean(np.log(E.sum(axis=1)) - Z[np.arange(n), y]))
    dZ = P.copy()
    dZ[np.arange(n), y] -= 1
    return loss, dZ / n


def _sce_dZ_scaled(k: float):
    def mutant(Z, y):
        """dZ times n**k: the reference's dZ rescaled (k = 1: not divided by n; -1: twice)."""
        loss, dZ = _reference("softmax_cross_entropy")(Z, y)
        return loss, dZ * Z.shape[0] ** k

    return mutant


def _sce_sum_loss(Z, y):
    """The loss summed over the batch: the reference's mean times n."""
    loss, dZ = _reference("softmax_cross_entropy")(Z, y)
    return loss * Z.shape[0], dZ


def _sce_no_onehot(Z, y):
    """dZ = softmax(Z) / n: the library's softmax without the one-hot subtracted."""
    from dlmath.backprop import softmax

    loss, _ = _reference("softmax_cross_entropy")(Z, y)
    return loss, softmax(Z) / Z.shape[0]


def _mlp(params, X, y, activation=None, scale=1.0):
    """The registry's reference MLP (dlmath.backprop.MLP), its activation or scale changed."""
    from dlmath.exercises.registry import reference_mlp

    mlp = reference_mlp(params)
    if activation is not None:
        mlp.act = activation
    loss, grads = mlp.loss_and_grads(X, y)
    return loss, {k: g * scale for k, g in grads.items()}


def _mlp_tanh_from_Z(params, X, y):
    """tanh' from Z in the hidden layers: the library's tanh backward rule given A = Z."""
    from dlmath.backprop import ACTIVATIONS

    tanh = ACTIVATIONS["tanh"]

    def backward(dA, Z, A):
        return tanh.backward(dA, Z, Z)  # the pre-activation where the activation belongs

    return _mlp(params, X, y, activation=replace(tanh, backward=backward))


def _mlp_scaled(k: float):
    def mutant(params, X, y):
        """Every gradient times n**k (k = 1: not divided by n; -1: divided twice)."""
        return _mlp(params, X, y, scale=len(X) ** k)

    return mutant


def _ng_forward(f, x, eps=1e-5):
    """Forward differences (f(x + eps e_i) - f(x)) / eps.

    Written out: the library's numerical_gradient has central differences only.
    """
    x = np.array(x, dtype=np.float64)
    f0 = f(x)
    grad = np.empty_like(x)
    for i in range(x.size):
        xp = x.copy()
        xp.flat[i] += eps
        grad.flat[i] = (f(xp) - f0) / eps
    return grad


# --- Lab 2 ---------------------------------------------------------------------------------


def _momentum_old_velocity(param, grad, velocity, lr, momentum=0.9):
    """param moved with the old velocity: an SGD step along it; the velocity is the reference's."""
    _, new_velocity = _reference("momentum_step")(param, grad, velocity, lr, momentum)
    return _reference("sgd_step")(param, velocity, lr), new_velocity


def _no_bias_correction(*, drop_m: bool, drop_v: bool) -> Callable[[dict], dict]:
    r"""The change of Adam's inputs that drops the bias correction of m and/or v.

    The library's kernel (``dlmath.optim.kernels.adam_update``) folds m's correction into
    the step size, $\eta / (1 - \beta_1^t)$, and divides $\sqrt v$ by
    $c = \sqrt{1 - \beta_2^t}$ before adding eps. So without m's correction the step is the
    reference's at $\eta (1 - \beta_1^t)$, and without v's, since
    $\sqrt v + \epsilon = c\,(\sqrt{\hat v} + \epsilon / c)$, it is the reference's at
    $\eta / c$ and $\epsilon / c$. AdamW's decay $(1 - \eta\lambda)$ keeps its $\eta$:
    weight_decay gets the inverse factor.
    """

    def change(a: dict) -> dict:
        c_m = 1 - a["beta1"] ** a["t"] if drop_m else 1.0
        c_v = math.sqrt(1 - a["beta2"] ** a["t"]) if drop_v else 1.0
        new = {"lr": a["lr"] * c_m / c_v, "eps": a["eps"] / c_v}
        if "weight_decay" in a:
            new["weight_decay"] = a["weight_decay"] * c_v / c_m
        return new

    return change


def _adam_eps_inside(exercise: str) -> Callable:
    def mutant(*args, **kwargs):
        """eps inside the square root: param - lr m_hat / sqrt(v_hat + eps).

        Written out: the library's Adam kernel has no hook for where eps goes. m and v are
        the reference's (this mistake leaves them right); the step is restated with eps
        moved, after AdamW's decay param (1 - lr weight_decay) for adamw_step.
        """
        a = _arguments(exercise, args, kwargs)
        _, m, v = _reference(exercise)(**a)
        m_hat = m / (1 - a["beta1"] ** a["t"])
        v_hat = v / (1 - a["beta2"] ** a["t"])
        decayed = a["param"] * (1 - a["lr"] * a.get("weight_decay", 0.0))
        return decayed - a["lr"] * m_hat / np.sqrt(v_hat + a["eps"]), m, v

    return mutant


def _adam_mistakes(exercise: str) -> tuple[Mistake, ...]:
    """The mistakes that Adam and AdamW share, as mutants of ``exercise``'s reference."""
    bias = "Adam without bias correction"
    return (
        Mistake(
            "no_bias_correction",
            f"{bias} (of m and of v)",
            _changed(exercise, _no_bias_correction(drop_m=True, drop_v=True)),
        ),
        Mistake(
            "no_bias_correction_m",
            f"{bias} of m (m used where m_hat belongs)",
            _changed(exercise, _no_bias_correction(drop_m=True, drop_v=False)),
        ),
        Mistake(
            "no_bias_correction_v",
            f"{bias} of v (v used where v_hat belongs)",
            _changed(exercise, _no_bias_correction(drop_m=False, drop_v=True)),
        ),
        Mistake(
            "t_from_0",
            "t counted from 0: your bias correction is that of step t + 1 (t starts at 1)",
            _changed(exercise, lambda a: {"t": a["t"] + 1}),
        ),
        Mistake(
            "eps_inside_sqrt",
            "eps inside the square root: it is added after the square root",
            _adam_eps_inside(exercise),
        ),
    )


def _train_mutant(kind):
    """The reference run with the one thing a learner's loop gets wrong."""

    def mutant(optimizer, lr, steps):
        """The reference's run of another optimizer or another lr."""
        train = _reference("train_on_rosenbrock")
        if kind == "momentum_as_sgd" and optimizer == "momentum":
            return train("sgd", lr, steps)
        if kind == "adam_default_lr" and optimizer == "adam":
            return train("adam", 1e-3, steps)
        raise ValueError("not applicable")  # the checker skips a mutant that does not apply

    return mutant


# --- Lab 3 ---------------------------------------------------------------------------------


def _fn_norm_over(axes: Callable[[int], tuple[int, ...] | None]) -> Callable:
    """The reference with its norms over ``axes(ndim)`` (None: the reference's own rule)."""

    def change(a: dict) -> dict:
        dims = axes(a["direction"].ndim)
        return {} if dims is None else {"dims": dims}

    return _changed("filter_normalize", change)


def _fn_unit_rows(a: dict) -> dict:
    """Rows rescaled to norm 1: the reference against a weight whose rows have norm 1."""
    w = a["weight"]
    return {"weight": np.full_like(w, 1 / math.sqrt(w.shape[-1]))}


def _cp_tol(rule: str) -> Callable:
    """The reference at the tolerance that turns its zero test into the mistaken one."""

    def change(a: dict) -> dict:
        from dlmath.exercises.registry import hessian_eigenvalues

        top = float(np.abs(hessian_eigenvalues(a["H"])).max())
        scale = max(1.0, top)  # the reference tests |lambda| <= tol * scale
        return {"tol": {"absolute": 1 / scale, "pure_relative": top / scale}[rule] * a["tol"]}

    return _changed("classify_critical_point", change)


# --- Lab 4 ---------------------------------------------------------------------------------


def _lra_rank(shift: int) -> Callable:
    def mutant(W, r):
        """The reference at rank r + shift (rank 0 keeps nothing: the zero matrix)."""
        return np.zeros_like(W) if r + shift == 0 else _reference("low_rank_approx")(W, r + shift)

    return mutant


def _lra_no_S(W, r):
    """U_r Vt_r: the library's truncated_svd and reconstruct with S_r replaced by ones."""
    from dlmath.lowrank import reconstruct, truncated_svd

    U, S, Vt = truncated_svd(W, r)
    return reconstruct(U, np.ones_like(S), Vt)


def _lra_smallest(W, r):
    """The r smallest triplets: the library's full truncated_svd, the last r reconstructed."""
    from dlmath.lowrank import reconstruct, truncated_svd

    U, S, Vt = truncated_svd(W, min(W.shape))
    return reconstruct(U[:, -r:], S[-r:], Vt[-r:])


def _rear_absolute(W, r):
    """||W - W_r||_F: the reference's relative error times ||W||_F."""
    return _reference("relative_error_at_rank")(W, r) * float(np.linalg.norm(W))


def _rear_squared(W, r):
    """The squared relative error (the energy left): the reference's, squared."""
    return _reference("relative_error_at_rank")(W, r) ** 2


def _rear_spectral(W, r):
    """The relative spectral error: the library's rank_sweep, its other norm."""
    from dlmath.lowrank import rank_sweep

    return float(rank_sweep(W, [r]).spectral[0])


def _lora_count_full(d_out, d_in, r):
    """The whole matrix counted. Written out: it is the mistake itself, no reference in it."""
    return d_out * d_in


def _rfe_zero_based(S, target=0.9):
    """A 0-based index: the reference minus one."""
    return _reference("rank_for_energy")(S, target) - 1


def _rfe_strict(S, target=0.9):
    """The smallest r with E_r > target (not >=), E_r from the library's energy.

    Written out: the library's rank_for_energy has no hook for the comparison.
    """
    from dlmath.lowrank import energy

    return int(np.searchsorted(energy(S), target, side="right")) + 1


# --- Lab 5 ---------------------------------------------------------------------------------


def _glp_no_constant(x, mu, sigma):
    """The constant dropped: log N(x) - log N(mu), the reference less its value at the mode."""
    ref = _reference("gaussian_log_pdf")
    return ref(x, mu, sigma) - ref(np.asarray(mu, dtype=float), mu, sigma)


def _glp_no_half(x, mu, sigma):
    """The quadratic term doubled: log N(x) + (log N(x) - log N(mu))."""
    ref = _reference("gaussian_log_pdf")
    return 2 * ref(x, mu, sigma) - ref(np.asarray(mu, dtype=float), mu, sigma)


def _bern_product(x, p):
    """x log p + (1 - x) log(1 - p): the reference's log P(1) and log P(0), weighted by x
    (0 * -inf = NaN at p = 0 or 1)."""
    ref = _reference("bernoulli_log_pmf")
    x = np.asarray(x)
    return x * ref(np.ones_like(x), p) + (1 - x) * ref(np.zeros_like(x), p)


def _bern_probability(x, p):
    """The probability, not its log: exp of the reference."""
    return np.exp(_reference("bernoulli_log_pmf")(x, p))


def _cat_probability(k, probs):
    """The probability, not its log: exp of the reference."""
    return np.exp(_reference("categorical_log_pmf")(k, probs))


def _cat_logits(k, probs):
    """probs taken as logits: the library's Categorical(logits=probs)."""
    from dlmath.prob import Categorical

    return np.asarray(Categorical(logits=np.asarray(probs, dtype=float)).log_prob(k))


def _entropy_unmasked(p):
    """-sum p log p with 0 log 0 left as NaN.

    Written out: the library's entropy always masks the zeros.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.sum(p * np.log(p), axis=-1)


def _cross_entropy_unmasked(p, q):
    """-sum p log q with 0 log 0 left as NaN.

    Written out: the library's cross-entropy always masks the terms with p_k = 0.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.sum(p * np.log(q), axis=-1)


def _kl_unmasked(p, q):
    """sum p log(p / q) with 0 log 0 left as NaN.

    Written out: the library's KL divergence always masks the terms with p_k = 0.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sum(p * np.log(p / q), axis=-1)


def _entropy_of_q(p, q):
    """H(q): the entropy exercise's reference on q."""
    return _reference("entropy")(q)


def _kl_as_cross_entropy(p, q):
    """H(p, q): the cross-entropy exercise's reference."""
    return _reference("cross_entropy")(p, q)


def _gnll_sum(y, y_hat, sigma):
    """Summed over the samples: the reference's mean times their number."""
    return _reference("gaussian_nll")(y, y_hat, sigma) * np.size(y)


def _gnll_no_constants(y, y_hat, sigma):
    """The constants dropped: the reference less its value at zero residual."""
    ref = _reference("gaussian_nll")
    return ref(y, y_hat, sigma) - ref(y_hat, y_hat, sigma)


def _gnll_mse(y, y_hat, sigma):
    """The MSE: the library's dlmath.backprop.mse."""
    from dlmath.backprop import mse

    return float(mse(np.asarray(y_hat, dtype=float), np.asarray(y, dtype=float)))


def _sqrt_sigma(a: dict) -> dict:
    """sigma used as the variance: the reference at standard deviation sqrt(sigma)."""
    return {"sigma": math.sqrt(a["sigma"])}


def _gmle_ddof1(x):
    """The unbiased sigma (n - 1): the reference's MLE times sqrt(n / (n - 1))."""
    mu, sigma = _reference("gaussian_mle")(x)
    n = len(x)
    return mu, sigma * math.sqrt(n / (n - 1))


def _gmle_variance(x):
    """The variance, not sigma: the reference's sigma squared."""
    mu, sigma = _reference("gaussian_mle")(x)
    return mu, sigma**2


# --- the table ------------------------------------------------------------------------------


def _ones_for_dA(a: dict) -> dict:
    """The derivative alone, without the upstream dA: the reference at dA = 1."""
    return {"dA": np.ones_like(a["dA"])}


def _no_upstream(exercise: str, act: str) -> Mistake:
    return Mistake(
        "no_upstream",
        f"returned {act}'(Z) without multiplying by the upstream dA",
        _changed(exercise, _ones_for_dA),
    )


def _build() -> dict[str, tuple[Mistake, ...]]:
    M = Mistake
    return {
        "linear_forward": (
            M(
                "W_not_transposed",
                "multiplied X by W as stored: W is (out, in), as in torch.nn.Linear, so "
                "it enters Z transposed",
                _changed("linear_forward", lambda a: {"W": a["W"].T}),
            ),
            M(
                "no_bias",
                "forgot to add the bias b",
                _changed("linear_forward", lambda a: {"b": np.zeros_like(a["b"])}),
            ),
        ),
        "linear_backward": (
            M(
                "batch_divided",
                "divided dW and db by the batch size n: dZ already carries "
                "the 1/n of the mean loss (batch size divided twice)",
                _lb_batch_divided,
            ),
            M(
                "dW_transposed",
                "dW is the transpose of the right one: a gradient has the shape of its "
                "parameter, and W is (out, in)",
                _lb_dW_transposed,
            ),
            M(
                "dX_WT",
                "dX used the transpose of W where the chain rule needs W as stored "
                "(with Z = X W^T, dX has X's shape (n, in))",
                _changed("linear_backward", lambda a: {"W": a["W"].T}),
            ),
        ),
        "relu_backward": (
            M(
                "relu_at_zero",
                "relu'(0) taken as 1 (Z >= 0): torch takes the derivative at exactly 0 to be 0",
                _changed("relu_backward", lambda a: {"Z": np.where(a["Z"] == 0, 1, a["Z"])}),
            ),
            _no_upstream("relu_backward", "relu"),
        ),
        "tanh_backward": (
            M(
                "tanh_from_Z",
                "tanh' computed as 1 - Z**2: Z is the pre-activation, and the derivative "
                "needs the activation tanh(Z) where you used Z",
                _changed("tanh_backward", lambda a: {"A": a["Z"]}),
            ),
            _no_upstream("tanh_backward", "tanh"),
        ),
        "sigmoid_backward": (
            M(
                "sigmoid_from_Z",
                "sigmoid' computed as Z (1 - Z): Z is the pre-activation, and the "
                "derivative needs the activation sigmoid(Z) where you used Z",
                _changed("sigmoid_backward", lambda a: {"A": a["Z"]}),
            ),
            _no_upstream("sigmoid_backward", "sigmoid"),
        ),
        "softmax_cross_entropy": (
            M(
                "softmax_no_max",
                "softmax without subtracting the max: exp overflows at "
                "large logits (shift each row by its max first)",
                _sce_no_max,
            ),
            M(
                "batch_not_divided",
                "dZ is not divided by the batch size n (the loss is the mean over the batch)",
                _sce_dZ_scaled(1),
            ),
            M("batch_divided_twice", "dZ is divided by the batch size n twice", _sce_dZ_scaled(-1)),
            M(
                "loss_summed",
                "the loss is summed over the batch, not averaged (as F.cross_entropy)",
                _sce_sum_loss,
            ),
            M(
                "no_onehot",
                "dZ is softmax(Z) / n: the one-hot of the labels was not subtracted",
                _sce_no_onehot,
            ),
        ),
        "mlp_loss_and_grads": (
            M(
                "tanh_from_Z",
                "tanh' computed as 1 - Z**2 in the hidden layers: the derivative needs "
                "the activations A = tanh(Z), not the pre-activations Z",
                _mlp_tanh_from_Z,
            ),
            M(
                "batch_not_divided",
                "gradients not divided by the batch size n (the loss is the mean)",
                _mlp_scaled(1),
            ),
            M(
                "batch_divided_twice",
                "gradients divided by the batch size n twice",
                _mlp_scaled(-1),
            ),
        ),
        "numerical_gradient": (
            M(
                "forward_difference",
                "forward differences (f(x + eps) - f(x)) / eps instead of central "
                "differences: the error is O(eps), not O(eps^2)",
                _ng_forward,
            ),
            M(
                "eps_ignored",
                "ignored the eps argument (used 1e-5 whatever was passed)",
                _changed("numerical_gradient", lambda a: {"eps": 1e-5}),
            ),
        ),
        "sgd_step": (
            M(
                "swapped",
                "param and grad swapped",
                _changed("sgd_step", lambda a: {"param": a["grad"], "grad": a["param"]}),
            ),
        ),
        "momentum_step": (
            M(
                "sutskever",
                "used v = mu v + lr g, param -= v (Sutskever's form): torch's convention "
                "keeps lr out of the velocity",
                _changed("momentum_step", lambda a: {"grad": a["lr"] * a["grad"], "lr": 1.0}),
            ),
            M(
                "ema",
                "used v = mu v + (1 - mu) g (an average, dampened): torch adds the whole "
                "gradient to the velocity",
                _changed("momentum_step", lambda a: {"dampening": a["momentum"]}),
            ),
            M(
                "old_velocity",
                "moved param with the old velocity: the step uses the velocity of this step",
                _momentum_old_velocity,
            ),
        ),
        "adam_step": _adam_mistakes("adam_step"),
        "adamw_step": (
            M(
                "coupled_decay",
                "AdamW's decay added to the gradient (coupled L2, that is "
                "Adam with weight_decay): AdamW decays the weights directly, apart from "
                "the gradient and its moments",
                _changed("adamw_step", lambda a: {"decoupled_weight_decay": False}),
            ),
            M(
                "decay_no_lr",
                "weight decay not multiplied by lr (torch.optim.AdamW scales the decay "
                "by the learning rate)",
                _changed("adamw_step", lambda a: {"weight_decay": a["weight_decay"] / a["lr"]}),
            ),
            *_adam_mistakes("adamw_step"),
        ),
        "train_on_rosenbrock": (
            M(
                "momentum_as_sgd",
                "the momentum run moves like plain SGD: is the velocity kept "
                "from one step to the next?",
                _train_mutant("momentum_as_sgd"),
            ),
            M(
                "adam_default_lr",
                "the Adam run uses lr = 1e-3 whatever lr is passed: is lr passed on to adam_step?",
                _train_mutant("adam_default_lr"),
            ),
        ),
        "filter_normalize": (
            M(
                "whole_matrix",
                "rescaled the whole matrix to ||weight|| (layer "
                "normalization); filter normalization rescales each row to its own norm",
                _fn_norm_over(lambda ndim: tuple(range(ndim)) if ndim >= 2 else None),
            ),
            M(
                "columns",
                "rescaled columns instead of rows (a row of W (out, in) is one "
                "output unit's filter)",
                _fn_norm_over(lambda ndim: (0,) if ndim >= 2 else None),
            ),
            M(
                "unit_rows",
                "rows rescaled to norm 1: each should get the norm of the matching row of weight",
                _changed("filter_normalize", _fn_unit_rows),
            ),
            M(
                "kept_1d",
                "1-D parameters rescaled instead of set to zero (Li et al. ignore biases)",
                _fn_norm_over(lambda ndim: (ndim - 1,)),
            ),
        ),
        "surface_on_plane": (
            M(
                "swapped_directions",
                "alphas went with d2 and betas with d1: the rows (alphas) belong to d1",
                _changed("surface_on_plane", lambda a: {"d1": a["d2"], "d2": a["d1"]}),
            ),
        ),
        "classify_critical_point": (
            M(
                "absolute_tol",
                "the zero test uses |lambda| <= tol: it must be relative to the scale of "
                "the spectrum (absolute only below scale 1)",
                _cp_tol("absolute"),
            ),
            M(
                "pure_relative_tol",
                "the zero test uses tol * max|lambda| without the "
                "max(1, ...): below scale 1 the test is absolute",
                _cp_tol("pure_relative"),
            ),
            M(
                "no_degenerate",
                "never says 'degenerate': test for a zero eigenvalue first",
                _changed("classify_critical_point", lambda a: {"tol": 0.0}),
            ),
            M(
                "diagonal",
                "judged the signs of H's diagonal; the test is on the eigenvalues",
                _changed("classify_critical_point", lambda a: {"H": np.diag(np.diag(a["H"]))}),
            ),
        ),
        "low_rank_approx": (
            M(
                "rank_plus_one",
                "kept r + 1 singular values (an off-by-one in the slice)",
                _lra_rank(1),
            ),
            M(
                "rank_minus_one",
                "kept r - 1 singular values (an off-by-one in the slice)",
                _lra_rank(-1),
            ),
            M(
                "no_S",
                "dropped the singular values: the approximation is weighted by S_r",
                _lra_no_S,
            ),
            M(
                "smallest",
                "kept the r smallest singular values; the best approximation keeps the r largest",
                _lra_smallest,
            ),
        ),
        "relative_error_at_rank": (
            M(
                "absolute",
                "returned ||W - W_r||_F without dividing by ||W||_F",
                _rear_absolute,
            ),
            M(
                "squared",
                "returned the squared error (the energy left); take the square root",
                _rear_squared,
            ),
            M(
                "spectral",
                "returned the spectral (2-norm) error; the exercise asks for the Frobenius norm",
                _rear_spectral,
            ),
            M(
                "rank_plus_one",
                "used rank r + 1 (an off-by-one in the slice)",
                _changed("relative_error_at_rank", lambda a: {"r": a["r"] + 1}),
            ),
        ),
        "lora_parameter_count": (
            M(
                "full",
                "counted the full matrix d_out * d_in; LoRA trains A (r, d_in) and B (d_out, r)",
                _lora_count_full,
            ),
            M(
                "square",
                "assumed a square weight (2 d r): A and B differ in size when d_in != d_out",
                _changed("lora_parameter_count", lambda a: {"d_out": a["d_in"]}),
            ),
            M(
                "square_out",
                "assumed a square weight (2 d r): A and B differ in size when d_in != d_out",
                _changed("lora_parameter_count", lambda a: {"d_in": a["d_out"]}),
            ),
        ),
        "lora_forward": (
            M(
                "no_scale",
                "LoRA without the alpha/r scaling of the low-rank part",
                _changed("lora_forward", lambda a: {"alpha": a["r"]}),
            ),
            M(
                "inverse_scale",
                "scaled by r/alpha instead of alpha/r",
                _changed("lora_forward", lambda a: {"alpha": a["r"] ** 2 / a["alpha"]}),
            ),
            M(
                "no_base",
                "forgot the frozen part x W^T",
                _changed("lora_forward", lambda a: {"W": np.zeros_like(a["W"])}),
            ),
        ),
        "rank_for_energy": (
            M(
                "energy_of_S",
                "energy from S instead of S**2 (the energy is the squared Frobenius norm)",
                _changed("rank_for_energy", lambda a: {"S": np.sqrt(a["S"])}),
            ),
            M(
                "zero_based",
                "returned a 0-based index; the rank is the count of kept values",
                _rfe_zero_based,
            ),
            M(
                "strict",
                "used E_r > target; the smallest r with E_r >= target",
                _rfe_strict,
            ),
        ),
        "gaussian_log_pdf": (
            M(
                "variance",
                "used sigma as the variance; sigma is the standard deviation",
                _changed("gaussian_log_pdf", _sqrt_sigma),
            ),
            M(
                "no_constant",
                "dropped the normalising constant -log(sigma sqrt(2 pi))",
                _glp_no_constant,
            ),
            M("no_half", "missing the 1/2 of the quadratic term", _glp_no_half),
        ),
        "bernoulli_log_pmf": (
            M(
                "zero_log_zero",
                "x log p + (1 - x) log(1 - p) gives 0 * log 0 = NaN at p = 0 "
                "or 1: take the log of the probability of the outcome that occurred",
                _bern_product,
            ),
            M("probability", "returned the probability, not its log", _bern_probability),
            M(
                "swapped",
                "used p for x = 0 and 1 - p for x = 1",
                _changed("bernoulli_log_pmf", lambda a: {"p": 1 - a["p"]}),
            ),
        ),
        "categorical_log_pmf": (
            M("probability", "returned the probability, not its log", _cat_probability),
            M(
                "logits",
                "took log_softmax of probs (treated them as logits): they are "
                "probabilities already",
                _cat_logits,
            ),
        ),
        "entropy": (
            M(
                "zero_log_zero",
                "0 log 0 gave NaN: by convention 0 log 0 = 0 (mask the zeros)",
                _entropy_unmasked,
            ),
        ),
        "cross_entropy": (
            M(
                "zero_log_zero",
                "0 log q gave NaN: terms with p_k = 0 are 0",
                _cross_entropy_unmasked,
            ),
            M("entropy_of_q", "returned H(q), the entropy of q alone", _entropy_of_q),
        ),
        "kl_divergence": (
            M(
                "zero_log_zero",
                "0 log(0 / q) gave NaN: terms with p_k = 0 are 0",
                _kl_unmasked,
            ),
            M(
                "cross_entropy",
                "returned the cross-entropy H(p, q); KL = H(p, q) - H(p)",
                _kl_as_cross_entropy,
            ),
        ),
        "gaussian_nll": (
            M("sum", "summed over the samples; the NLL here is the mean", _gnll_sum),
            M(
                "no_constants",
                "dropped the normalising constants (the log sigma and log 2 pi terms)",
                _gnll_no_constants,
            ),
            M(
                "mse",
                "returned the MSE: the Gaussian NLL also divides it by 2 sigma^2 and adds "
                "the normalising constants",
                _gnll_mse,
            ),
            M(
                "variance",
                "used sigma as the variance; sigma is the standard deviation",
                _changed("gaussian_nll", _sqrt_sigma),
            ),
        ),
        "gaussian_mle": (
            M(
                "ddof1",
                "divided by n - 1 (the unbiased variance); the maximum-likelihood "
                "estimate divides by n",
                _gmle_ddof1,
            ),
            M(
                "variance",
                "returned the variance; the exercise asks for sigma, its square root",
                _gmle_variance,
            ),
        ),
    }


#: exercise name -> its known mistakes
MISTAKES: dict[str, tuple[Mistake, ...]] = _build()
