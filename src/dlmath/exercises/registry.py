r"""The exercise registry: each exercise declared once, everything else generated from it.

An :class:`Exercise` holds the statement (Markdown/LaTeX with the derivation hint), the
signature and docstring of the stub (shapes), a from-scratch NumPy solution (source text,
for ``dlmath exercises --solutions``), the reference (a dlmath library function, through a
thin adapter where the signatures differ), the hidden-case generator, the tolerances and
the known mistakes. The exercise notebooks, the stubs, the checker and the grader all read
:data:`EXERCISES`; nothing is written twice.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np

from dlmath.exercises import cases as C
from dlmath.exercises.mistakes import MISTAKES, Mistake

__all__ = ["EXERCISES", "LAB_TITLES", "STUB_MESSAGE", "Exercise", "reference_mlp"]

LAB_TITLES = {
    1: "Manual backpropagation",
    2: "Optimizers from scratch",
    3: "Loss landscapes",
    4: "SVD and LoRA",
    5: "Probability behind the losses",
}

#: The message of the stub's ``NotImplementedError``: raised by the exercise function itself,
#: it (and nothing else) means "not implemented yet".
STUB_MESSAGE = "not implemented yet"


@dataclass(frozen=True)
class Exercise:
    """One exercise. ``signature`` is ``name(args)``; ``doc`` the stub's docstring (shapes).

    ``outputs`` names the returned values (one name: returned as is; several: a tuple).
    ``step``: a ``*_step`` exercise, which may update its inputs in place; its
    ``delta_of`` outputs are compared as updates (``new - old``) so that a wrong scale or
    sign of the step is named. ``swaps``: argument positions a learner may exchange.
    ``rtol``/``atol`` apply to float64 results; float32 results get ``rtol32``/``atol32``.
    ``choices``: the strings a str-valued exercise may return.
    """

    name: str
    lab: int
    title: str
    statement: str
    signature: str
    doc: str
    solution: str
    reference: Callable
    cases: Callable[[np.random.Generator], list]
    outputs: tuple[str, ...]
    rtol: float = 1e-7
    atol: float = 1e-10
    rtol32: float = 1e-4
    atol32: float = 1e-5
    step: bool = False
    delta_of: dict[str, int] = field(default_factory=dict)
    swaps: tuple[tuple[int, int], ...] = ()
    choices: tuple[str, ...] = ()  # the strings a str-valued exercise may return
    mistakes: tuple[Mistake, ...] = ()

    @property
    def arg_names(self) -> list[str]:
        inside = self.signature[self.signature.index("(") + 1 : self.signature.rindex(")")]
        return [a.split("=")[0].strip() for a in inside.split(",") if a.strip()]

    def _def(self, body: str) -> str:
        doc = textwrap.indent(textwrap.dedent(self.doc).strip(), "    ")
        return f'def {self.signature}:\n    """{doc.lstrip()}\n    """\n{body.rstrip()}\n'

    @property
    def stub(self) -> str:
        """The function the learner starts from: signature, docstring, ``NotImplementedError``."""
        return self._def(f'    raise NotImplementedError("{STUB_MESSAGE}")')

    @property
    def solution_source(self) -> str:
        """A from-scratch NumPy solution (never the library's reference)."""
        return self._def(textwrap.indent(textwrap.dedent(self.solution).strip("\n"), "    "))

    def __repr__(self) -> str:
        return f"Exercise({self.name!r}, lab {self.lab}, {len(self.mistakes)} known mistakes)"


# --- references: the library's functions, adapted where the exercise's signature differs ---
# A keyword-only argument of a reference is a hook for the mutants of mistakes.py (a library
# flag such as AdamW's decoupling); the reference itself always runs with its default.


def ref_linear_forward(X, W, b):
    from dlmath.backprop import linear_forward

    return linear_forward(X, W, b)


def ref_linear_backward(dZ, X, W):
    from dlmath.backprop import linear_backward

    return linear_backward(dZ, X, W)


def _activation_backward(name, dA, Z, A=None):
    """The library's backward rule ``dA * f'(Z)``; ``A = f(Z)`` unless given (a mutant's hook)."""
    from dlmath.backprop import ACTIVATIONS

    act = ACTIVATIONS[name]
    return act.backward(np.array(dA, copy=True), Z, act.forward(Z) if A is None else A)


def ref_softmax_cross_entropy(Z, y):
    from dlmath.backprop import cross_entropy_grad

    return cross_entropy_grad(Z, y)


def reference_mlp(params):
    """A ``dlmath.backprop.MLP`` (tanh, cross-entropy) holding copies of ``params``."""
    from dlmath.backprop import MLP

    sizes = [
        params["W1"].shape[1],
        params["W1"].shape[0],
        params["W2"].shape[0],
        params["W3"].shape[0],
    ]
    mlp = MLP(sizes, activation="tanh", loss="cross_entropy", dtype=params["W1"].dtype)
    mlp.params = {k: np.array(params[k], copy=True) for k in mlp.params}
    return mlp


def ref_mlp_loss_and_grads(params, X, y):
    return reference_mlp(params).loss_and_grads(X, y)


def ref_numerical_gradient(f, x, eps=1e-5):
    from dlmath.backprop import numerical_gradient

    return numerical_gradient(f, x, eps)


def ref_sgd_step(param, grad, lr):
    from dlmath.optim import kernels

    param = np.array(param, copy=True)
    kernels.sgd_update(param, grad, None, 1, lr=lr)
    return param


def ref_momentum_step(param, grad, velocity, lr, momentum=0.9, *, dampening=0.0):
    """torch's SGD with momentum, one step (``dampening``: torch's flag, a mutant's hook)."""
    from dlmath.optim import kernels

    param, velocity = np.array(param, copy=True), np.array(velocity, copy=True)
    # t > 1: v = mu v + (1 - dampening) g (at t = 1 torch would start v at g)
    kernels.sgd_update(param, grad, velocity, 2, lr=lr, momentum=momentum, dampening=dampening)
    return param, velocity


def ref_adam_step(param, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    from dlmath.optim import adam_step

    return adam_step(param, grad, m, v, t, lr, beta1, beta2, eps)


def ref_adamw_step(
    param,
    grad,
    m,
    v,
    t,
    lr=1e-3,
    beta1=0.9,
    beta2=0.999,
    eps=1e-8,
    weight_decay=1e-2,
    *,
    decoupled_weight_decay=True,
):
    """torch.optim.AdamW's step (``decoupled_weight_decay=False``: Adam's L2, a mutant's hook)."""
    from dlmath.optim import kernels

    param, m, v = (np.array(a, copy=True) for a in (param, m, v))
    kernels.adam_update(
        param,
        grad,
        m,
        v,
        None,
        t,
        lr=lr,
        beta1=beta1,
        beta2=beta2,
        eps=eps,
        weight_decay=weight_decay,
        decoupled_weight_decay=decoupled_weight_decay,
    )
    return param, m, v


_ROSENBROCK_X0 = (-1.5, 2.0)


def ref_train_on_rosenbrock(optimizer, lr, steps):
    from dlmath.optim import SGD, Adam, minimize, rosenbrock

    make = {
        "sgd": partial(SGD, lr=lr),
        "momentum": partial(SGD, lr=lr, momentum=0.9),
        "adam": partial(Adam, lr=lr),
    }[optimizer]
    fn = rosenbrock()
    return minimize(fn.f, fn.grad, np.array(_ROSENBROCK_X0), make, steps).losses


def ref_filter_normalize(direction, weight, *, dims=None):
    """dlmath.landscape's filter normalization: ``direction * ||weight|| / ||direction||``
    with one norm per output row (the axes ``dims``, a mutant's hook; by default every axis
    but the first, and zeros for a 1-D parameter, as ``random_direction(ignore_1d=True)``)."""
    import torch

    from dlmath.landscape.directions import _rescale

    if dims is None:
        if direction.ndim <= 1:
            return np.zeros_like(direction)
        dims = tuple(range(1, direction.ndim))
    return _rescale(torch.from_numpy(direction), torch.from_numpy(weight), dims).numpy()


def ref_surface_on_plane(f, theta, d1, d2, alphas, betas):
    """The slice's definition, restated: the library has no NumPy-callable version of it
    (``dlmath.landscape.loss_surface`` needs an ``nn.Module``, ``grid_values`` a torch
    function of a 2-vector), so this one line is the reference."""
    return np.array([[f(theta + a * d1 + b * d2) for b in betas] for a in alphas], dtype=float)


def hessian_eigenvalues(H) -> np.ndarray:
    """The eigenvalues (ascending) of the symmetric part of ``H``, as the second-order test
    reads them."""
    H = np.asarray(H, dtype=float)
    return np.linalg.eigvalsh((H + H.T) / 2)


def ref_classify_critical_point(H, tol=1e-8):
    from dlmath.landscape.critical import _kind

    return _kind(hessian_eigenvalues(H), tol)


def ref_low_rank_approx(W, r):
    from dlmath.lowrank import reconstruct, truncated_svd

    return reconstruct(*truncated_svd(W, r))


def ref_relative_error_at_rank(W, r):
    from dlmath.lowrank import rank_sweep

    return float(rank_sweep(W, [r]).frobenius[0])


def ref_lora_parameter_count(d_out, d_in, r):
    from dlmath.lowrank import lora_parameter_count

    return lora_parameter_count(d_out, d_in, r)


def ref_lora_forward(x, W, A, B, alpha, r):
    import torch

    from dlmath.lowrank import LoRALinear

    dtype = torch.float32 if x.dtype == np.float32 else torch.float64
    base = torch.nn.Linear(W.shape[1], W.shape[0], bias=False, dtype=dtype)
    with torch.no_grad():
        base.weight.copy_(torch.from_numpy(W))
        layer = LoRALinear(base, r, alpha, copy_base=False)
        layer.A.copy_(torch.from_numpy(A))
        layer.B.copy_(torch.from_numpy(B))
        return layer(torch.from_numpy(x)).numpy()


def ref_rank_for_energy(S, target=0.9):
    from dlmath.lowrank import rank_for_energy

    return rank_for_energy(S, target)


def ref_gaussian_log_pdf(x, mu, sigma):
    from dlmath.prob import Gaussian

    return np.asarray(Gaussian(mu, sigma).log_prob(x))


def ref_bernoulli_log_pmf(x, p):
    from dlmath.prob import Bernoulli

    return np.asarray(Bernoulli(p).log_prob(x))


def ref_categorical_log_pmf(k, probs):
    from dlmath.prob import Categorical

    return np.asarray(Categorical(probs).log_prob(k))


def ref_entropy(p):
    from dlmath.prob import entropy

    return entropy(p)


def ref_cross_entropy(p, q):
    from dlmath.prob import distribution_cross_entropy

    return distribution_cross_entropy(p, q)


def ref_kl_divergence(p, q):
    from dlmath.prob import kl_divergence

    return kl_divergence(p, q)


def ref_gaussian_nll(y, y_hat, sigma):
    from dlmath.prob import gaussian_nll

    return gaussian_nll(y, y_hat, sigma)


def ref_gaussian_mle(x):
    from dlmath.prob import Gaussian

    fit = Gaussian.fit(x)
    return fit.mu, fit.sigma


# --- the exercises -------------------------------------------------------------------------

_ADAM_DOC = """
    param, grad, m, v: the same shape; t >= 1 -> (param, m, v), each of param's shape:
        m = beta1 m + (1 - beta1) grad,   v = beta2 v + (1 - beta2) grad**2
        m_hat = m / (1 - beta1**t),       v_hat = v / (1 - beta2**t)
        param = param - lr m_hat / (sqrt(v_hat) + eps)
    t is the step number, counted from 1."""
_ADAM_SOLUTION = """\
m = beta1 * m + (1 - beta1) * grad
v = beta2 * v + (1 - beta2) * grad**2
m_hat = m / (1 - beta1**t)
v_hat = v / (1 - beta2**t)
return param - lr * m_hat / (np.sqrt(v_hat) + eps), m, v"""


def _activation_exercise(act: str, title: str, statement: str, solution: str) -> Exercise:
    """The backward pass of the activation ``act``: dZ = dA * act'(Z), one declaration shape."""
    return Exercise(
        name=f"{act}_backward",
        lab=1,
        title=title,
        statement=statement,
        signature=f"{act}_backward(dA, Z)",
        doc=f"dZ = dA * {act}'(Z); Z is the pre-activation.\n\n"
        "dA, Z: the same shape (any) -> dZ: that shape.",
        solution=solution,
        reference=partial(_activation_backward, act),
        cases=getattr(C, f"{act}_backward"),
        outputs=("dZ",),
    )


_EXERCISES = [
    Exercise(
        name="linear_forward",
        lab=1,
        title="Linear layer, forward",
        statement=r"""
A linear layer maps a batch $X \in \mathbb{R}^{n\times d_\text{in}}$ (one sample per row) to
$Z = X W^\top + b$, with $W \in \mathbb{R}^{d_\text{out}\times d_\text{in}}$ stored like
`torch.nn.Linear`. The module writes $z = W x + b$ for one column vector $x$: stacking the
samples as rows, $x_i^\top$, turns it into $z_i^\top = x_i^\top W^\top + b^\top$.""",
        signature="linear_forward(X, W, b)",
        doc="Z = X @ W.T + b.\n\nX: (n, d_in), W: (d_out, d_in), b: (d_out,) -> Z: (n, d_out).",
        solution="return X @ W.T + b",
        reference=ref_linear_forward,
        cases=C.linear_forward,
        outputs=("Z",),
    ),
    Exercise(
        name="linear_backward",
        lab=1,
        title="Linear layer, backward",
        statement=r"""
Given $dZ = \partial L/\partial Z$ for $Z = X W^\top + b$, the chain rule gives, element by
element, $\partial L/\partial W_{jk} = \sum_i dZ_{ij} X_{ik}$ and
$\partial L/\partial X_{ik} = \sum_j dZ_{ij} W_{jk}$:
$$dW = dZ^\top X,\qquad dX = dZ\, W,\qquad db = \textstyle\sum_i dZ_{i\cdot}.$$
*Hint:* every gradient has the shape of the thing it is the gradient of. `dZ` already
carries the $1/n$ of a mean loss; do not divide again.""",
        signature="linear_backward(dZ, X, W)",
        doc="Gradients of Z = X @ W.T + b given dZ = dL/dZ.\n\n"
        "dZ: (n, d_out), X: (n, d_in), W: (d_out, d_in)\n"
        "-> (dX (n, d_in), dW (d_out, d_in), db (d_out,)).",
        solution="dX = dZ @ W\ndW = dZ.T @ X\ndb = dZ.sum(axis=0)\nreturn dX, dW, db",
        reference=ref_linear_backward,
        cases=C.linear_backward,
        outputs=("dX", "dW", "db"),
    ),
    _activation_exercise(
        "relu",
        "ReLU, backward",
        r"""
An activation acts elementwise, $A = f(Z)$, so its Jacobian is diagonal and the backward
pass is a product: $dZ = dA \odot f'(Z)$. For ReLU $f'(z) = 1$ for $z > 0$ and $0$
otherwise (PyTorch takes $f'(0) = 0$).""",
        "return dA * (Z > 0)",
    ),
    _activation_exercise(
        "tanh",
        "tanh, backward",
        r"""
$\frac{d}{dz}\tanh z = 1 - \tanh^2 z$. The argument is the *pre-activation* $Z$: the
derivative is $1 - \tanh(Z)^2$, which equals $1 - A^2$ with $A = \tanh Z$, not $1 - Z^2$.""",
        "return dA * (1 - np.tanh(Z) ** 2)",
    ),
    _activation_exercise(
        "sigmoid",
        "Sigmoid, backward",
        r"""
For $s(z) = 1/(1 + e^{-z})$, $s'(z) = s(z)\,(1 - s(z))$. Compute $s$ without overflow for
large $|z|$ (for $z < 0$ write $s(z) = e^{z}/(1 + e^{z})$).""",
        """
e = np.exp(-np.abs(Z))
s = np.where(Z >= 0, 1 / (1 + e), e / (1 + e))
return dA * s * (1 - s)""",
    ),
    Exercise(
        name="softmax_cross_entropy",
        lab=1,
        title="Softmax cross-entropy, loss and gradient",
        statement=r"""
For logits $Z \in \mathbb{R}^{n\times C}$ and labels $y_i$, the mean cross-entropy (as
`F.cross_entropy`) is $L = \frac1n\sum_i\big(\log\sum_c e^{Z_{ic}} - Z_{i y_i}\big)$.
Differentiating, $\partial L/\partial Z = \frac1n(\mathrm{softmax}(Z) - \mathrm{onehot}(y))$.
*Hint:* $\log\sum_c e^{Z_c} = m + \log\sum_c e^{Z_c - m}$ with $m = \max_c Z_c$ never
overflows; logits of $10^4$ must work.""",
        signature="softmax_cross_entropy(Z, y)",
        doc="Mean cross-entropy of logits Z against integer labels y, and dL/dZ.\n\n"
        "Z: (n, C), y: (n,) ints in [0, C) -> (loss (a number), dZ (n, C)).",
        solution="""
n = Z.shape[0]
shifted = Z - Z.max(axis=1, keepdims=True)
log_sum = np.log(np.exp(shifted).sum(axis=1))
loss = np.mean(log_sum - shifted[np.arange(n), y])
dZ = np.exp(shifted - log_sum[:, None])
dZ[np.arange(n), y] -= 1
return loss, dZ / n""",
        reference=ref_softmax_cross_entropy,
        cases=C.softmax_cross_entropy,
        outputs=("loss", "dZ"),
    ),
    Exercise(
        name="mlp_loss_and_grads",
        lab=1,
        title="A 3-layer MLP by hand",
        statement=r"""
The network is $A_0 = X$, $Z_l = A_{l-1}W_l^\top + b_l$, $A_l = \tanh Z_l$ for $l = 1, 2$,
logits $Z_3$, and the mean cross-entropy of the logits. Backward, from the loss down:
$dZ_3$ from the loss, then for each layer $dW_l = dZ_l^\top A_{l-1}$,
$db_l = \sum_i dZ_l$, $dA_{l-1} = dZ_l W_l$, $dZ_{l-1} = dA_{l-1}\odot(1 - A_{l-1}^2)$.
Reuse your functions above. The check tells you which parameters' gradients are right.""",
        signature="mlp_loss_and_grads(params, X, y)",
        doc="Loss and gradients of a 3-layer tanh MLP with a cross-entropy loss.\n\n"
        "params: dict W1 (h1, d), b1 (h1,), W2 (h2, h1), b2 (h2,), W3 (C, h2), b3 (C,);\n"
        "X: (n, d), y: (n,) ints -> (loss, grads) with grads a dict of params' keys\n"
        "and shapes.",
        solution="""
A0 = X
Z1 = A0 @ params["W1"].T + params["b1"]
A1 = np.tanh(Z1)
Z2 = A1 @ params["W2"].T + params["b2"]
A2 = np.tanh(Z2)
Z3 = A2 @ params["W3"].T + params["b3"]
n = len(X)
shifted = Z3 - Z3.max(axis=1, keepdims=True)
log_sum = np.log(np.exp(shifted).sum(axis=1))
loss = np.mean(log_sum - shifted[np.arange(n), y])
dZ3 = np.exp(shifted - log_sum[:, None])
dZ3[np.arange(n), y] -= 1
dZ3 /= n
grads = {"W3": dZ3.T @ A2, "b3": dZ3.sum(axis=0)}
dZ2 = (dZ3 @ params["W3"]) * (1 - A2**2)
grads["W2"], grads["b2"] = dZ2.T @ A1, dZ2.sum(axis=0)
dZ1 = (dZ2 @ params["W2"]) * (1 - A1**2)
grads["W1"], grads["b1"] = dZ1.T @ A0, dZ1.sum(axis=0)
return loss, grads""",
        reference=ref_mlp_loss_and_grads,
        cases=C.mlp_loss_and_grads,
        outputs=("loss", "grads"),
    ),
    Exercise(
        name="numerical_gradient",
        lab=1,
        title="Numerical gradient (central differences)",
        statement=r"""
The central difference $\frac{f(x + \epsilon e_i) - f(x - \epsilon e_i)}{2\epsilon}$ has
error $O(\epsilon^2)$ (the $\epsilon^2 f'''/6$ term of the Taylor series); the forward
difference $\frac{f(x + \epsilon e_i) - f(x)}{\epsilon}$ only $O(\epsilon)$. Handle `x` of
any shape (iterate over `x.flat` or `np.ndindex`), and do not modify the caller's `x`.""",
        signature="numerical_gradient(f, x, eps=1e-5)",
        doc="Central-difference gradient of a scalar function f at x.\n\n"
        "f: callable x -> number, x: array of any shape -> grad: x's shape.\n"
        "x itself is left unchanged.",
        solution="""
x = np.array(x, dtype=float)
grad = np.zeros_like(x)
for i in np.ndindex(x.shape):
    x_plus, x_minus = x.copy(), x.copy()
    x_plus[i] += eps
    x_minus[i] -= eps
    grad[i] = (f(x_plus) - f(x_minus)) / (2 * eps)
return grad""",
        reference=ref_numerical_gradient,
        cases=C.numerical_gradient,
        outputs=("grad",),
        rtol=1e-6,
        atol=1e-8,
    ),
    Exercise(
        name="sgd_step",
        lab=2,
        title="Vanilla SGD",
        statement=r"""
One step of gradient descent: $\theta \leftarrow \theta - \eta\, g$. A step exercise may
update `param` in place or return a new array; either way, return the new parameter.""",
        signature="sgd_step(param, grad, lr)",
        doc="param - lr * grad.\n\nparam, grad: the same shape; lr: a number -> new param.",
        solution="return param - lr * grad",
        reference=ref_sgd_step,
        cases=C.sgd_step,
        outputs=("param",),
        step=True,
        delta_of={"param": 0},
        swaps=((0, 1),),
    ),
    Exercise(
        name="momentum_step",
        lab=2,
        title="SGD with momentum (torch's convention)",
        statement=r"""
Heavy-ball momentum as `torch.optim.SGD(momentum=mu)` writes it:
$v \leftarrow \mu v + g$, $\theta \leftarrow \theta - \eta v$. (Sutskever et al. write
$v \leftarrow \mu v + \eta g$, $\theta \leftarrow \theta - v$: the same path for a
constant $\eta$, but a different velocity.) The velocity starts at zero.""",
        signature="momentum_step(param, grad, velocity, lr, momentum=0.9)",
        doc="One momentum step: v = momentum * velocity + grad; param - lr * v.\n\n"
        "param, grad, velocity: the same shape -> (new param, new velocity).",
        solution="velocity = momentum * velocity + grad\nreturn param - lr * velocity, velocity",
        reference=ref_momentum_step,
        cases=C.momentum_step,
        outputs=("param", "velocity"),
        step=True,
        delta_of={"param": 0, "velocity": 2},
    ),
    Exercise(
        name="adam_step",
        lab=2,
        title="Adam",
        statement=r"""
Adam keeps moving averages of the gradient and of its square,
$m_t = \beta_1 m_{t-1} + (1-\beta_1) g$, $v_t = \beta_2 v_{t-1} + (1-\beta_2) g^2$, starting
at zero, so they are biased towards zero: $\mathbb{E}[m_t] = (1 - \beta_1^t)\,\mathbb{E}[g]$.
Dividing by $1 - \beta^t$ removes the bias; the step is
$\theta \leftarrow \theta - \eta\,\hat m_t / (\sqrt{\hat v_t} + \epsilon)$, with $t$ from 1.
*Hint:* at $t = 1$ the corrected step is $\eta\,\mathrm{sign}(g)$ (for $|g| \gg \epsilon$).""",
        signature="adam_step(param, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8)",
        doc="One Adam step (the module's signature)." + _ADAM_DOC,
        solution=_ADAM_SOLUTION,
        reference=ref_adam_step,
        cases=C.adam_step,
        outputs=("param", "m", "v"),
        step=True,
        delta_of={"param": 0},
    ),
    Exercise(
        name="adamw_step",
        lab=2,
        title="AdamW (decoupled weight decay)",
        statement=r"""
Adam with L2 regularization adds $\lambda\theta$ to the gradient, so the decay is divided by
$\sqrt{\hat v}$ like everything else. AdamW (Loshchilov and Hutter) *decouples* it:
$\theta \leftarrow \theta - \eta\lambda\theta$ first, then the Adam step with the plain
gradient, exactly as `torch.optim.AdamW`.""",
        signature="adamw_step(param, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, "
        "weight_decay=1e-2)",
        doc="One AdamW step, as torch.optim.AdamW: param *= 1 - lr * weight_decay, then Adam."
        + _ADAM_DOC,
        solution="param = param * (1 - lr * weight_decay)\n" + _ADAM_SOLUTION,
        reference=ref_adamw_step,
        cases=C.adamw_step,
        outputs=("param", "m", "v"),
        step=True,
        delta_of={"param": 0},
    ),
    Exercise(
        name="train_on_rosenbrock",
        lab=2,
        title="Train on Rosenbrock and compare",
        statement=r"""
Minimize Rosenbrock's $f(x, y) = (1 - x)^2 + 100\,(y - x^2)^2$ from $(-1.5, 2)$ with *your*
`sgd_step`, `momentum_step` (momentum 0.9) or `adam_step` (default betas), and return the
loss before each step and after the last. The gradient is
$\nabla f = \big(-2(1 - x) - 400\,x\,(y - x^2),\; 200\,(y - x^2)\big)$. The plot below draws
your three convergence curves.""",
        signature="train_on_rosenbrock(optimizer, lr, steps)",
        doc='Losses of `steps` steps of "sgd", "momentum" or "adam" on Rosenbrock.\n\n'
        "Start at (-1.5, 2.0); returns an array of steps + 1 losses (the first at the\n"
        "start), using your own sgd_step / momentum_step / adam_step\n"
        "-> losses (steps + 1,).",
        solution="""
def f(p):
    return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2

def grad(p):
    return np.array([-2 * (1 - p[0]) - 400 * p[0] * (p[1] - p[0] ** 2),
                     200 * (p[1] - p[0] ** 2)])

p = np.array([-1.5, 2.0])
velocity, m, v = np.zeros(2), np.zeros(2), np.zeros(2)
losses = [f(p)]
for t in range(1, steps + 1):
    g = grad(p)
    if optimizer == "sgd":
        p = sgd_step(p, g, lr)
    elif optimizer == "momentum":
        p, velocity = momentum_step(p, g, velocity, lr)
    else:
        p, m, v = adam_step(p, g, m, v, t, lr=lr)
    losses.append(f(p))
return np.array(losses)""",
        reference=ref_train_on_rosenbrock,
        cases=C.train_on_rosenbrock,
        outputs=("losses",),
        rtol=1e-6,
        atol=1e-9,
    ),
    Exercise(
        name="filter_normalize",
        lab=3,
        title="Filter normalization",
        statement=r"""
Li et al. (2018) rescale a random direction $d$ so that each *filter* (a row $i$ of a
weight of shape (out, in)) has the norm of the matching row of the weight:
$d_i \leftarrow d_i\,\lVert\theta_i\rVert / \lVert d_i\rVert$. Then slices of networks
with different weight scales are comparable. 1-D parameters (biases) get a zero direction.""",
        signature="filter_normalize(direction, weight)",
        doc="Each row of a 2-D direction rescaled to the norm of that row of weight.\n\n"
        "direction, weight: the same shape, (out, in) or 1-D -> that shape\n"
        "(zeros for 1-D).",
        solution="""
if direction.ndim == 1:
    return np.zeros_like(direction)
d_norm = np.linalg.norm(direction, axis=1, keepdims=True)
w_norm = np.linalg.norm(weight, axis=1, keepdims=True)
return direction * w_norm / d_norm""",
        reference=ref_filter_normalize,
        cases=C.filter_normalize,
        outputs=("direction",),
    ),
    Exercise(
        name="surface_on_plane",
        lab=3,
        title="A loss surface on a plane",
        statement=r"""
A 2-D slice of a loss through $\theta$ along directions $d_1, d_2$:
$Z_{ij} = f(\theta + \alpha_i d_1 + \beta_j d_2)$. Rows follow `alphas`, columns `betas`
(`np.meshgrid(..., indexing="ij")` order). The plot below draws your surface for a small
network, with directions from your `filter_normalize`.""",
        signature="surface_on_plane(f, theta, d1, d2, alphas, betas)",
        doc="Z[i, j] = f(theta + alphas[i] * d1 + betas[j] * d2).\n\n"
        "f: callable (n,) -> number; theta, d1, d2: (n,); alphas: (k,), betas: (m,)\n"
        "-> Z: (k, m).",
        solution="""
Z = np.empty((len(alphas), len(betas)))
for i, a in enumerate(alphas):
    for j, b in enumerate(betas):
        Z[i, j] = f(theta + a * d1 + b * d2)
return Z""",
        reference=ref_surface_on_plane,
        cases=C.surface_on_plane,
        outputs=("Z",),
    ),
    Exercise(
        name="classify_critical_point",
        lab=3,
        title="Classify a critical point",
        statement=r"""
At a critical point the second-order test reads the Hessian's eigenvalues
$\lambda_1 \le \dots \le \lambda_n$: all positive, a minimum; all negative, a maximum; both
signs, a saddle. When some $|\lambda| \le \mathrm{tol}\cdot\max(1, \max|\lambda|)$ the test
cannot decide: *degenerate* (a flat direction, as for $x^4$). Use `np.linalg.eigvalsh`.""",
        signature="classify_critical_point(H, tol=1e-8)",
        doc="The kind of critical point a symmetric Hessian H says it is.\n\n"
        'H: (n, n) -> "minimum", "maximum", "saddle" or "degenerate" (when some\n'
        "|lambda| <= tol * max(1, max |lambda|)).",
        solution="""
lam = np.linalg.eigvalsh(H)
if np.any(np.abs(lam) <= tol * max(1.0, np.abs(lam).max())):
    return "degenerate"
if np.all(lam > 0):
    return "minimum"
if np.all(lam < 0):
    return "maximum"
return "saddle\"""",
        reference=ref_classify_critical_point,
        cases=C.classify_critical_point,
        outputs=("kind",),
        choices=("minimum", "maximum", "saddle", "degenerate"),
    ),
    Exercise(
        name="low_rank_approx",
        lab=4,
        title="Best rank-r approximation",
        statement=r"""
With the SVD $W = U\,\mathrm{diag}(S)\,V^\top$ (singular values descending), the best
rank-$r$ approximation in the Frobenius and spectral norms (Eckart-Young-Mirsky) keeps the
top $r$ triplets: $W_r = U_{:, :r}\,\mathrm{diag}(S_{:r})\,V^\top_{:r, :}$.""",
        signature="low_rank_approx(W, r)",
        doc="The best rank-r approximation of W.\n\nW: (m, n), 1 <= r <= min(m, n) -> (m, n).",
        solution="""
U, S, Vt = np.linalg.svd(W, full_matrices=False)
return (U[:, :r] * S[:r]) @ Vt[:r]""",
        reference=ref_low_rank_approx,
        cases=C.low_rank_approx,
        outputs=("W_r",),
        rtol=1e-6,
        atol=1e-9,
    ),
    Exercise(
        name="relative_error_at_rank",
        lab=4,
        title="Relative reconstruction error",
        statement=r"""
$\lVert W - W_r\rVert_F / \lVert W\rVert_F = \sqrt{\sum_{i > r} S_i^2 / \sum_i S_i^2}$: the
singular values alone give the error of every rank. The plot below draws your curve of the
error against the rank.""",
        signature="relative_error_at_rank(W, r)",
        doc="||W - W_r||_F / ||W||_F for the best rank-r approximation W_r.\n\n"
        "W: (m, n), 1 <= r <= min(m, n) -> a number.",
        solution="""
S = np.linalg.svd(W, compute_uv=False)
return float(np.sqrt(np.sum(S[r:] ** 2) / np.sum(S**2)))""",
        reference=ref_relative_error_at_rank,
        cases=C.relative_error_at_rank,
        outputs=("error",),
        rtol=1e-7,
        atol=1e-9,
    ),
    Exercise(
        name="rank_for_energy",
        lab=4,
        title="Which rank keeps 90% of the energy",
        statement=r"""
The energy kept by rank $r$ is $E_r = \sum_{i \le r} S_i^2 / \sum_i S_i^2$. Return the
smallest $r$ with $E_r \ge$ `target`.""",
        signature="rank_for_energy(S, target=0.9)",
        doc="Smallest r with sum(S[:r]**2) / sum(S**2) >= target.\n\n"
        "S: (k,) singular values, descending -> an int in [1, k].",
        solution="""
E = np.cumsum(S**2) / np.sum(S**2)
return int(np.searchsorted(E, target - 1e-12) + 1)""",
        reference=ref_rank_for_energy,
        cases=C.rank_for_energy,
        outputs=("r",),
    ),
    Exercise(
        name="lora_parameter_count",
        lab=4,
        title="LoRA's trainable parameters",
        statement=r"""
LoRA freezes $W$ ($d_\text{out}\times d_\text{in}$) and trains $B A$ with
$A \in \mathbb{R}^{r\times d_\text{in}}$, $B \in \mathbb{R}^{d_\text{out}\times r}$: how many
numbers train?""",
        signature="lora_parameter_count(d_out, d_in, r)",
        doc="Trainable numbers of a rank-r LoRA adapter on a (d_out, d_in) weight.\n\n"
        "d_out, d_in, r: ints -> an int.",
        solution="return r * (d_in + d_out)",
        reference=ref_lora_parameter_count,
        cases=C.lora_parameter_count,
        outputs=("count",),
    ),
    Exercise(
        name="lora_forward",
        lab=4,
        title="LoRA forward pass",
        statement=r"""
$h = x W^\top + \frac{\alpha}{r}\, x A^\top B^\top$. Multiply $x A^\top$ first: two thin
products cost $O(n r (d_\text{in} + d_\text{out}))$ and never form the $d_\text{out}\times
d_\text{in}$ update. The $\alpha/r$ scaling keeps the update's size when $r$ changes.""",
        signature="lora_forward(x, W, A, B, alpha, r)",
        doc="h = x @ W.T + (alpha / r) * x @ A.T @ B.T.\n\n"
        "x: (n, d_in), W: (d_out, d_in), A: (r, d_in), B: (d_out, r) -> h: (n, d_out).",
        solution="return x @ W.T + (alpha / r) * ((x @ A.T) @ B.T)",
        reference=ref_lora_forward,
        cases=C.lora_forward,
        outputs=("h",),
    ),
    Exercise(
        name="gaussian_log_pdf",
        lab=5,
        title="Gaussian log-density",
        statement=r"""
$\log\mathcal N(x;\mu,\sigma^2) = -\tfrac12\log(2\pi\sigma^2) - \frac{(x-\mu)^2}{2\sigma^2}$;
$\sigma$ is the standard deviation.""",
        signature="gaussian_log_pdf(x, mu, sigma)",
        doc="log N(x; mu, sigma^2) elementwise.\n\n"
        "x: any shape; mu, sigma > 0: numbers -> x's shape.",
        solution="return -0.5 * np.log(2 * np.pi * sigma**2) - (x - mu) ** 2 / (2 * sigma**2)",
        reference=ref_gaussian_log_pdf,
        cases=C.gaussian_log_pdf,
        outputs=("log_p",),
    ),
    Exercise(
        name="bernoulli_log_pmf",
        lab=5,
        title="Bernoulli log-probability",
        statement=r"""
$\log P(x) = x\log p + (1 - x)\log(1 - p)$ for $x \in \{0, 1\}$, but at $p = 0$ or $1$ the
formula computes $0\cdot\log 0 = \mathrm{NaN}$. Take the log of the probability of the
outcome that occurred: $\log p$ where $x = 1$, $\log(1-p)$ where $x = 0$ (as
`scipy.stats.bernoulli.logpmf`; an impossible outcome has $-\infty$).""",
        signature="bernoulli_log_pmf(x, p)",
        doc="log P(x) for Bernoulli(p), elementwise.\n\n"
        "x: 0/1 ints, any shape; p in [0, 1] -> x's shape.",
        solution="""
with np.errstate(divide="ignore"):
    return np.where(x == 1, np.log(p), np.log(1 - p))""",
        reference=ref_bernoulli_log_pmf,
        cases=C.bernoulli_log_pmf,
        outputs=("log_p",),
    ),
    Exercise(
        name="categorical_log_pmf",
        lab=5,
        title="Categorical log-probability",
        statement=r"""
$\log P(k) = \log p_k$. Maximizing $\sum_i \log p_{y_i}$ with $p = \mathrm{softmax}(z)$ is
minimizing the cross-entropy: the loss of Lab 1 *is* this negative log-likelihood.""",
        signature="categorical_log_pmf(k, probs)",
        doc="log probs[k] elementwise.\n\nk: ints in [0, K), any shape; probs: (K,) -> k's shape.",
        solution="""
with np.errstate(divide="ignore"):
    return np.log(probs)[k]""",
        reference=ref_categorical_log_pmf,
        cases=C.categorical_log_pmf,
        outputs=("log_p",),
    ),
    Exercise(
        name="entropy",
        lab=5,
        title="Entropy",
        statement=r"""
$H(p) = -\sum_k p_k\log p_k$ in nats (natural log), over the last axis, with
$0\log 0 = 0$ (the limit of $x\log x$).""",
        signature="entropy(p)",
        doc="H(p) in nats over the last axis.\n\np: (..., K) probability vectors -> (...).",
        solution="""
safe = np.where(p > 0, p, 1.0)
return -np.sum(p * np.log(safe), axis=-1)""",
        reference=ref_entropy,
        cases=C.entropy,
        outputs=("H",),
    ),
    Exercise(
        name="cross_entropy",
        lab=5,
        title="Cross-entropy",
        statement=r"""
$H(p, q) = -\sum_k p_k\log q_k$ (nats, last axis; terms with $p_k = 0$ are 0, and a
$q_k = 0 < p_k$ makes it $+\infty$). It equals $H(p) + \mathrm{KL}(p\,\Vert\,q)$.""",
        signature="cross_entropy(p, q)",
        doc="H(p, q) in nats over the last axis.\n\np, q: (..., K) -> (...).",
        solution="""
with np.errstate(divide="ignore", invalid="ignore"):
    terms = p * np.log(q)
return -np.sum(np.where(p > 0, terms, 0.0), axis=-1)""",
        reference=ref_cross_entropy,
        cases=C.cross_entropy,
        outputs=("H",),
        swaps=((0, 1),),
    ),
    Exercise(
        name="kl_divergence",
        lab=5,
        title="KL divergence",
        statement=r"""
$\mathrm{KL}(p\,\Vert\,q) = \sum_k p_k(\log p_k - \log q_k) \ge 0$ (nats, last axis,
$0\log 0 = 0$). It is not symmetric: the order of the arguments matters.""",
        signature="kl_divergence(p, q)",
        doc="KL(p || q) in nats over the last axis.\n\np, q: (..., K) -> (...).",
        solution="""
with np.errstate(divide="ignore", invalid="ignore"):
    terms = p * (np.log(np.where(p > 0, p, 1.0)) - np.log(q))
return np.sum(np.where(p > 0, terms, 0.0), axis=-1)""",
        reference=ref_kl_divergence,
        cases=C.kl_divergence,
        outputs=("KL",),
        swaps=((0, 1),),
    ),
    Exercise(
        name="gaussian_nll",
        lab=5,
        title="Gaussian negative log-likelihood",
        statement=r"""
With $y_i \sim \mathcal N(\hat y_i, \sigma^2)$, the mean negative log-likelihood is
$\frac1n\sum_i \frac{(y_i - \hat y_i)^2}{2\sigma^2} + \log\sigma + \tfrac12\log 2\pi$:
the MSE over $2\sigma^2$ plus a constant, so minimizing the NLL in $\hat y$ *is*
minimizing the MSE.""",
        signature="gaussian_nll(y, y_hat, sigma)",
        doc="Mean of -log N(y; y_hat, sigma^2) over all elements.\n\n"
        "y, y_hat: the same shape; sigma > 0 -> a number.",
        solution="""
sq = (y - y_hat) ** 2 / (2 * sigma**2)
return float(np.mean(sq) + np.log(sigma) + 0.5 * np.log(2 * np.pi))""",
        reference=ref_gaussian_nll,
        cases=C.gaussian_nll,
        outputs=("nll",),
    ),
    Exercise(
        name="gaussian_mle",
        lab=5,
        title="Gaussian maximum likelihood",
        statement=r"""
Setting the derivatives of $\sum_i\log\mathcal N(x_i;\mu,\sigma^2)$ to zero gives
$\hat\mu = \bar x$ and $\hat\sigma^2 = \frac1n\sum_i (x_i - \bar x)^2$ (divided by $n$, not
$n - 1$: the MLE is biased).""",
        signature="gaussian_mle(x)",
        doc="Maximum-likelihood (mu, sigma) of samples x (n,) -> (a number, a number).",
        solution="""
mu = np.mean(x)
return mu, np.sqrt(np.mean((x - mu) ** 2))""",
        reference=ref_gaussian_mle,
        cases=C.gaussian_mle,
        outputs=("mu", "sigma"),
    ),
]

#: name -> Exercise, in lab order (the order of the notebooks and of grade columns)
EXERCISES: dict[str, Exercise] = {
    ex.name: ex
    for ex in sorted(
        (replace(ex, mistakes=MISTAKES.get(ex.name, ())) for ex in _EXERCISES),
        key=lambda e: e.lab,
    )
}
