r"""The update rules, one kernel each, with every piece of state passed explicitly.

A kernel updates ``param`` and its state arrays IN PLACE from ``grad`` at step ``t``
(1-based) and allocates nothing: its temporaries go into ``scratch``, two arrays shaped
like ``param`` (allocated for you when ``None``). The kernels work on any same-shaped
arrays, so :mod:`dlmath.optim.optimizers` runs them over cache-sized blocks of big
parameters. They reproduce ``torch.optim``'s single-tensor update rules operation by
operation (up to rounding order).

The rules are built from three small pieces, each written once:

- :func:`decayed_grad`  ``g + wd * p`` (L2 / coupled weight decay),
- :func:`ema`           ``buf <- decay * buf + weight * x``
  (momentum, Adam's ``m``, RMSprop's centred mean),
- :func:`ema_square`    ``acc <- decay * acc + weight * x**2``
  (Adam's ``v``, RMSprop's mean square, Adagrad's running sum).

Variants are parameters, never copies: SGD is momentum 0, Nesterov is a flag, AdamW is
Adam with ``decoupled_weight_decay=True``, AMSGrad is Adam with a running max ``v_max``.
:func:`adam_step` is the course module's textbook function, pure (returns new arrays).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "adagrad_update",
    "adam_step",
    "adam_update",
    "decayed_grad",
    "ema",
    "ema_square",
    "rmsprop_update",
    "sgd_update",
]

Scratch = tuple[np.ndarray, np.ndarray]


def _scratch(param: np.ndarray, scratch: Scratch | None) -> Scratch:
    return (np.empty_like(param), np.empty_like(param)) if scratch is None else scratch


def decayed_grad(
    grad: np.ndarray, param: np.ndarray, weight_decay: float, out: np.ndarray
) -> np.ndarray:
    r"""$g + \lambda p$ written into ``out`` (``grad`` itself when $\lambda = 0$).

    ``grad`` (the caller's array) is never modified.
    """
    if weight_decay == 0:
        return grad
    np.multiply(param, weight_decay, out=out)
    out += grad
    return out


def ema(buf: np.ndarray, x: np.ndarray, decay: float, weight: float, tmp: np.ndarray) -> None:
    r"""In place: ``buf <- decay * buf + weight * x`` (an exponential moving average)."""
    if decay != 1.0:
        buf *= decay
    if weight == 1.0:
        buf += x
    else:
        np.multiply(x, weight, out=tmp)
        buf += tmp


def ema_square(
    acc: np.ndarray, x: np.ndarray, decay: float, weight: float, tmp: np.ndarray
) -> None:
    r"""In place: ``acc <- decay * acc + weight * x**2`` (a moving average of squares)."""
    np.multiply(x, x, out=tmp)
    if weight != 1.0:
        tmp *= weight
    if decay != 1.0:
        acc *= decay
    acc += tmp


def _step_along(param: np.ndarray, direction: np.ndarray, scale: float, tmp: np.ndarray) -> None:
    """In place: ``param += scale * direction`` (``tmp`` may be ``direction`` itself)."""
    np.multiply(direction, scale, out=tmp)
    param += tmp


def sgd_update(
    param: np.ndarray,
    grad: np.ndarray,
    momentum_buffer: np.ndarray | None,
    t: int,
    *,
    lr: float,
    momentum: float = 0.0,
    dampening: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
    scratch: Scratch | None = None,
) -> None:
    r"""SGD with optional (Nesterov) momentum, as ``torch.optim.SGD``. In place.

    .. math::
        g &\leftarrow g + \lambda\theta, \qquad
        b_t = \begin{cases} g & t = 1\\ \mu b_{t-1} + (1-\tau) g & t > 1\end{cases}\\
        d &= g + \mu b_t \ \text{(Nesterov)} \quad\text{or}\quad d = b_t, \qquad
        \theta \leftarrow \theta - \eta\, d

    with $\mu$ = ``momentum``, $\tau$ = ``dampening``, $\lambda$ = ``weight_decay``.
    With ``momentum == 0`` there is no buffer (pass ``None``) and $d = g$.
    All arrays share one shape; ``t`` is the 1-based step number.
    """
    a, b = _scratch(param, scratch)
    g = decayed_grad(grad, param, weight_decay, out=a)
    d = g
    if momentum != 0:
        if t == 1:  # torch starts the buffer at the first gradient, not at zero
            np.copyto(momentum_buffer, g)
        else:
            ema(momentum_buffer, g, momentum, 1.0 - dampening, tmp=b)
        if nesterov:  # look ahead: g + mu * b_t
            np.multiply(momentum_buffer, momentum, out=b)
            b += g
            d = b
        else:
            d = momentum_buffer
    _step_along(param, d, -lr, tmp=b)


def adam_update(
    param: np.ndarray,
    grad: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    v_max: np.ndarray | None,
    t: int,
    *,
    lr: float,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    decoupled_weight_decay: bool = False,
    scratch: Scratch | None = None,
) -> None:
    r"""Adam / AdamW / AMSGrad, as ``torch.optim.Adam`` and ``AdamW``. In place.

    .. math::
        \theta &\leftarrow (1 - \eta\lambda)\,\theta \ \text{(AdamW)}
            \quad\text{or}\quad g \leftarrow g + \lambda\theta \ \text{(Adam)}\\
        m_t &= \beta_1 m_{t-1} + (1-\beta_1) g, \qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g^2\\
        \hat m_t &= m_t / (1-\beta_1^t), \qquad \hat v_t = v_t / (1-\beta_2^t)\\
        \theta &\leftarrow \theta - \eta\, \hat m_t / (\sqrt{\hat v_t} + \epsilon)

    AMSGrad (``v_max`` not ``None``) keeps $v^{\max}_t = \max(v^{\max}_{t-1}, v_t)$ of the
    raw second moment and uses it in place of $v_t$. ``eps`` is added after the square
    root and the bias correction, as torch does. All arrays share one shape.
    """
    a, b = _scratch(param, scratch)
    if decoupled_weight_decay:
        if weight_decay != 0:
            param *= 1.0 - lr * weight_decay  # before the moments, as torch.optim.AdamW
        g = grad
    else:
        g = decayed_grad(grad, param, weight_decay, out=a)
    ema(m, g, beta1, 1.0 - beta1, tmp=b)
    ema_square(v, g, beta2, 1.0 - beta2, tmp=b)
    if v_max is not None:
        np.maximum(v_max, v, out=v_max)
    step_size = lr / (1.0 - beta1**t)  # bias correction of m folded into the step
    denom = np.sqrt(v if v_max is None else v_max, out=b)
    denom /= (1.0 - beta2**t) ** 0.5  # sqrt(v_hat)
    denom += eps
    np.divide(m, denom, out=b)
    _step_along(param, b, -step_size, tmp=b)


def rmsprop_update(
    param: np.ndarray,
    grad: np.ndarray,
    square_avg: np.ndarray,
    grad_avg: np.ndarray | None,
    momentum_buffer: np.ndarray | None,
    t: int,
    *,
    lr: float = 1e-2,
    alpha: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    scratch: Scratch | None = None,
) -> None:
    r"""RMSprop (optionally centred, with momentum), as ``torch.optim.RMSprop``. In place.

    .. math::
        g &\leftarrow g + \lambda\theta, \qquad s_t = \alpha s_{t-1} + (1-\alpha) g^2\\
        \sigma_t &= \sqrt{s_t - \bar g_t^2} + \epsilon \ \text{(centred, }
            \bar g_t = \alpha \bar g_{t-1} + (1-\alpha) g) \quad\text{or}\quad
            \sigma_t = \sqrt{s_t} + \epsilon\\
        b_t &= \mu b_{t-1} + g / \sigma_t, \quad \theta \leftarrow \theta - \eta b_t
            \quad\text{or, with } \mu = 0,\quad \theta \leftarrow \theta - \eta\, g/\sigma_t

    Centred iff ``grad_avg`` is given; momentum iff ``momentum_buffer`` is given (it
    starts at zero). ``t`` is unused (the rule has no bias correction) but kept so every
    kernel has the same call shape.
    """
    a, b = _scratch(param, scratch)
    g = decayed_grad(grad, param, weight_decay, out=a)
    ema_square(square_avg, g, alpha, 1.0 - alpha, tmp=b)
    if grad_avg is not None:
        ema(grad_avg, g, alpha, 1.0 - alpha, tmp=b)
        np.multiply(grad_avg, grad_avg, out=b)
        np.subtract(square_avg, b, out=b)  # variance estimate s - g_bar^2
        np.sqrt(b, out=b)
    else:
        np.sqrt(square_avg, out=b)
    b += eps
    np.divide(g, b, out=b)
    if momentum_buffer is not None:
        ema(momentum_buffer, b, momentum, 1.0, tmp=b)
        _step_along(param, momentum_buffer, -lr, tmp=b)
    else:
        _step_along(param, b, -lr, tmp=b)


def adagrad_update(
    param: np.ndarray,
    grad: np.ndarray,
    state_sum: np.ndarray,
    t: int,
    *,
    lr: float = 1e-2,
    lr_decay: float = 0.0,
    weight_decay: float = 0.0,
    eps: float = 1e-10,
    scratch: Scratch | None = None,
) -> None:
    r"""Adagrad, as ``torch.optim.Adagrad``. In place.

    .. math::
        g \leftarrow g + \lambda\theta, \quad G_t = G_{t-1} + g^2, \quad
        \eta_t = \frac{\eta}{1 + (t-1)\,\delta}, \quad
        \theta \leftarrow \theta - \eta_t\, g / (\sqrt{G_t} + \epsilon)

    with $\delta$ = ``lr_decay``; $G_0$ is ``initial_accumulator_value`` (set by the caller).
    """
    a, b = _scratch(param, scratch)
    g = decayed_grad(grad, param, weight_decay, out=a)
    ema_square(state_sum, g, 1.0, 1.0, tmp=b)
    np.sqrt(state_sum, out=b)
    b += eps
    np.divide(g, b, out=b)
    _step_along(param, b, -lr / (1.0 + (t - 1) * lr_decay), tmp=b)


def adam_step(
    param: np.ndarray,
    grad: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    t: int,
    lr: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""The course module's ``adam_step``: one Adam step, pure (inputs are not modified).

    Returns the new ``(param, m, v)``; same formula as :func:`adam_update`
    (which it calls on copies).
    """
    from dlmath._checks import NONNEG, POSITIVE, Int, Real, as_float_array, fail, validate_all

    where = "adam_step()"
    h = validate_all(
        {"t": t, "lr": lr, "beta1": beta1, "beta2": beta2, "eps": eps},
        {
            "t": Int(low=1),
            "lr": NONNEG,
            "beta1": Real(low=0.0, high=1.0, high_open=True),
            "beta2": Real(low=0.0, high=1.0, high_open=True),
            "eps": POSITIVE,
        },
        where,
    )
    arrays = {}
    for name, x in (("param", param), ("grad", grad), ("m", m), ("v", v)):
        arr = as_float_array(x, name, allow_empty=name != "param")
        if arr.dtype == np.float16:
            arr = arr.astype(np.float32)
        if name != "param" and arr.shape != arrays["param"].shape:
            raise fail(name, f"of shape {arrays['param'].shape} (param's)", arr, where=where)
        arrays[name] = arr
    if (arrays["v"] < 0).any():
        raise fail("v", "non-negative (a running mean of squares)", arrays["v"], where=where)
    dtype = np.result_type(*arrays.values())
    param, m, v = (np.array(arrays[k], dtype=dtype) for k in ("param", "m", "v"))  # copies
    grad = arrays["grad"].astype(dtype, copy=False)
    with np.errstate(over="ignore", invalid="ignore"):
        adam_update(
            param,
            grad,
            m,
            v,
            None,
            h["t"],
            lr=h["lr"],
            beta1=h["beta1"],
            beta2=h["beta2"],
            eps=h["eps"],
        )
    if not np.isfinite(param).all():
        raise FloatingPointError(
            f"{where}: the step made 'param' non-finite (lr={h['lr']:g}); lower 'lr'."
        )
    return param, m, v
