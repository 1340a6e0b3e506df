"""Optimizer classes with ``torch.optim``'s names, defaults and update rules.

``opt = Adam(params, lr=1e-3)`` keeps references to ``params`` (a list, or a dict, of
float32/float64 NumPy arrays; torch tensors are taken as NumPy views of their memory) and
``opt.step(grads)`` updates those arrays IN PLACE. So ``[p.detach().numpy() for p in
model.parameters()]`` trains a torch model with these optimizers.

Each class only validates its hyperparameters and names its per-parameter state; the
arithmetic is the kernel in :mod:`dlmath.optim.rules`. :class:`Optimizer.step` checks
every gradient (count, shape, dtype, finiteness) and the learning rate BEFORE touching
anything, so a bad call raises ``ValueError`` and leaves parameters and state unchanged.
Large parameters are processed in blocks of :data:`BLOCK` values with preallocated
scratch, so a step allocates no parameter-sized temporaries and stays in cache.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from dlmath._checks import as_float_array, check_finite, check_real, fail, fail_type
from dlmath.optim import rules

__all__ = [
    "BLOCK",
    "OPTIMIZERS",
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "Optimizer",
    "RMSprop",
    "State",
]

#: values per block: a block of every array an Adam step touches fits in a 2 MiB L2 cache
BLOCK = 1 << 15

LR = float | Callable[[int], float]


class State:
    """Per-parameter optimizer state: the step count and named buffers (printable).

    ``buffers`` maps names (``m``, ``v``, ``momentum_buffer``, ...) to arrays shaped
    like the parameter, or to ``None`` for a buffer the configuration does not use.
    """

    def __init__(self, step: int, **buffers: np.ndarray | None) -> None:
        self.step = step
        self.buffers = buffers

    def __getitem__(self, name: str) -> np.ndarray | None:
        return self.buffers[name]

    @property
    def nbytes(self) -> int:
        return sum(b.nbytes for b in self.buffers.values() if b is not None)

    def copy(self) -> State:
        return State(
            self.step, **{k: None if b is None else b.copy() for k, b in self.buffers.items()}
        )

    def __repr__(self) -> str:
        parts = [f"step={self.step}"]
        for name, buf in self.buffers.items():
            if buf is None:
                continue
            if buf.size <= 4:
                parts.append(f"{name}={np.array2string(buf.ravel(), precision=4)}")
            else:
                parts.append(f"{name}=<{buf.shape} {buf.dtype} norm={np.linalg.norm(buf):.4g}>")
        return f"State({', '.join(parts)})"


def _as_params(params: Any) -> tuple[list[np.ndarray], list[str] | None]:
    """The parameter arrays (never copied) and their names when given as a dict."""
    names = None
    if isinstance(params, Mapping):
        names = [str(k) for k in params]
        values = list(params.values())
    elif isinstance(params, np.ndarray) or not isinstance(params, Sequence | Iterator):
        raise fail_type("params", "a list or dict of float arrays", params)
    else:
        values = list(params)
    if not values:
        raise fail("params", "a non-empty list of arrays", params)
    arrays = []
    for i, p in enumerate(values):
        name = f"params[{names[i] if names else i}]"
        if hasattr(p, "detach") and hasattr(p, "numpy"):  # torch tensor: share its memory
            p = p.detach().numpy()
        if not isinstance(p, np.ndarray):
            raise fail_type(name, "a NumPy float array (updated in place)", p)
        if p.dtype not in (np.float32, np.float64):
            raise fail(name, "float32 or float64", p)
        if not p.flags.writeable:
            raise fail(name, "a writeable array", p)
        arrays.append(p)
    return arrays, names


def _flat_blocks(arrays: Sequence[np.ndarray | None], size: int) -> Iterator[tuple]:
    """Aligned flat views ``a.ravel()[i:i+BLOCK]`` of same-shaped contiguous arrays."""
    flat = [None if a is None else a.reshape(-1) for a in arrays]
    for start in range(0, max(size, 1), BLOCK):
        yield tuple(None if a is None else a[start : start + BLOCK] for a in flat)


def _all_finite(g: np.ndarray, mask: np.ndarray) -> bool:
    """Whether ``g`` is finite, checked block by block into ``mask`` (no big temporary)."""
    flat = g.reshape(-1)
    for start in range(0, flat.size, BLOCK):
        block = flat[start : start + BLOCK]
        m = mask[: block.size]
        np.isfinite(block, out=m)
        if not m.all():
            return False
    return True


class Optimizer:
    """Base class: holds params, hyperparameters, per-parameter :class:`State`; runs ``step``.

    Subclasses set ``_kernel`` (a function of :mod:`~dlmath.optim.rules`), ``_buffers``
    (the state names passed to it, in order) and implement ``_validate`` and
    ``_new_state``.
    """

    _kernel: ClassVar[Callable[..., None]]
    _buffers: ClassVar[tuple[str, ...]]

    def __init__(self, params: Any, lr: LR, **hyper: Any) -> None:
        self.lr = _check_lr(lr)
        self.hyper = self._validate(**hyper)
        self.params, self.names = _as_params(params)
        self.t = 0  # optimizer steps taken; a schedule gives lr = lr(t) for the next one
        self.state = [self._new_state(p) for p in self.params]
        self._scratch: dict[np.dtype, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    # --- what subclasses define -----------------------------------------------------
    def _validate(self, **hyper: Any) -> dict[str, Any]:
        raise NotImplementedError

    def _new_state(self, p: np.ndarray) -> State:
        raise NotImplementedError

    def _kernel_kwargs(self) -> dict[str, Any]:
        return dict(self.hyper)

    # --- the step ---------------------------------------------------------------------
    def current_lr(self) -> float:
        """The learning rate the next step will use: ``lr`` or ``lr(t)`` for a schedule."""
        if not callable(self.lr):
            return self.lr
        value = self.lr(self.t)
        if isinstance(value, np.floating | np.integer):
            value = float(value)
        return check_real(value, "lr", low=0.0)

    def step(self, grads: Any) -> None:
        """One update of every parameter, in place, from ``grads`` (same count/shapes/dtypes).

        All input is checked first; on ``ValueError``/``TypeError`` nothing has changed.
        """
        grads = self._check_grads(grads)
        lr = self.current_lr()
        kwargs = self._kernel_kwargs()
        kernel = type(self)._kernel
        for p, g, s in zip(self.params, grads, self.state, strict=True):
            s.step += 1
            buffers = [s.buffers[name] for name in self._buffers]
            if p.flags.c_contiguous:  # cache-sized blocks of flat views, preallocated scratch
                a, b, _ = self._scratch_for(p.dtype)
                for block in _flat_blocks([p, g, *buffers], p.size):
                    n = block[0].size
                    kernel(*block, s.step, lr=lr, **kwargs, scratch=(a[:n], b[:n]))
            else:  # a strided view: whole-array update with full-size scratch (rare)
                kernel(p, g, *buffers, s.step, lr=lr, **kwargs, scratch=None)
        self.t += 1

    def _scratch_for(self, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if dtype not in self._scratch:
            n = min(BLOCK, max(p.size for p in self.params))
            self._scratch[dtype] = (
                np.empty(n, dtype),
                np.empty(n, dtype),
                np.empty(n, bool),  # finiteness mask
            )
        return self._scratch[dtype]

    def _check_grads(self, grads: Any) -> list[np.ndarray]:
        if self.names is not None:
            if not isinstance(grads, Mapping) or set(map(str, grads)) != set(self.names):
                raise fail("grads", f"a dict with the keys {self.names}", grads)
            grads = {str(k): v for k, v in grads.items()}
            items = [(f"grads[{k!r}]", grads[k]) for k in self.names]
        else:
            if isinstance(grads, Mapping | np.ndarray) or not isinstance(grads, Sequence):
                raise fail_type("grads", "a list of arrays, one per parameter", grads)
            if len(grads) != len(self.params):
                raise fail(
                    "grads",
                    f"a list of {len(self.params)} arrays (one per parameter)",
                    f"{len(grads)} arrays",
                    described=True,
                )
            items = [(f"grads[{i}]", g) for i, g in enumerate(grads)]
        checked = []
        for (name, g), p in zip(items, self.params, strict=True):
            g = as_float_array(g, name, finite=False, allow_empty=True)
            if g.shape != p.shape:
                raise fail(name, f"of shape {p.shape} (its parameter's)", g)
            if g.dtype != p.dtype:
                raise fail(name, f"of dtype {p.dtype} (its parameter's)", g)
            if not g.flags.c_contiguous and p.flags.c_contiguous:
                g = np.ascontiguousarray(g)
            mask = self._scratch_for(p.dtype)[2]
            if not _all_finite(g, mask):
                check_finite(g, name)  # raises the standard message
            checked.append(g)
        return checked

    # --- inspection -------------------------------------------------------------------
    @property
    def state_nbytes(self) -> int:
        """Bytes held in optimizer state buffers (not counting the fixed block scratch)."""
        return sum(s.nbytes for s in self.state)

    @property
    def param_nbytes(self) -> int:
        return sum(p.nbytes for p in self.params)

    def snapshot(self) -> tuple[list[np.ndarray], list[State], int]:
        """Copies of the params, state and step count (for tests and trajectories)."""
        return [p.copy() for p in self.params], [s.copy() for s in self.state], self.t

    def __repr__(self) -> str:
        size = sum(p.size for p in self.params)
        lr = self.lr if not callable(self.lr) else repr(self.lr)
        hyper = ", ".join(f"{k}={v!r}" for k, v in self._public_hyper().items())
        return (
            f"{type(self).__name__}({len(self.params)} params, {size} values, "
            f"lr={lr}, {hyper}, t={self.t})"
        )

    def _public_hyper(self) -> dict[str, Any]:
        return dict(self.hyper)


def _check_lr(lr: Any) -> LR:
    if callable(lr):
        return lr
    return check_real(lr, "lr", low=0.0)


def _check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise fail_type(name, "True or False", value)
    return bool(value)


def _nonneg(value: Any, name: str) -> float:
    return check_real(value, name, low=0.0)


class SGD(Optimizer):
    r"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay.

    ``torch.optim.SGD``'s update (see :func:`~dlmath.optim.rules.sgd_update`); plain SGD
    is ``momentum=0``, heavy ball is ``momentum>0``. State: ``momentum_buffer`` (only
    when ``momentum > 0``).
    """

    _kernel = staticmethod(rules.sgd_update)
    _buffers = ("momentum_buffer",)

    def __init__(
        self,
        params: Any,
        lr: LR = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        super().__init__(
            params,
            lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
        )

    def _validate(self, momentum, dampening, weight_decay, nesterov) -> dict[str, Any]:
        momentum = _nonneg(momentum, "momentum")
        dampening = check_real(dampening, "dampening", low=0.0, high=1.0)
        nesterov = _check_bool(nesterov, "nesterov")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise fail(
                "nesterov",
                "False unless momentum > 0 and dampening == 0",
                f"nesterov=True with momentum={momentum:g}, dampening={dampening:g}",
                described=True,
            )
        return {
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": _nonneg(weight_decay, "weight_decay"),
            "nesterov": nesterov,
        }

    def _new_state(self, p: np.ndarray) -> State:
        buf = np.zeros_like(p) if self.hyper["momentum"] != 0 else None
        return State(0, momentum_buffer=buf)


class Adam(Optimizer):
    r"""Adam (``amsgrad`` optional), ``torch.optim.Adam``'s update and defaults.

    ``weight_decay`` is L2 (added to the gradient); :class:`AdamW` decouples it. See
    :func:`~dlmath.optim.rules.adam_update`. State: ``m``, ``v`` (and ``v_max``), so the
    state is exactly twice the parameters without AMSGrad.
    """

    _kernel = staticmethod(rules.adam_update)
    _buffers = ("m", "v", "v_max")
    _decoupled: ClassVar[bool] = False

    def __init__(
        self,
        params: Any,
        lr: LR = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(
            params, lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad
        )

    def _validate(self, betas, eps, weight_decay, amsgrad) -> dict[str, Any]:
        if not isinstance(betas, Sequence) or isinstance(betas, str) or len(betas) != 2:
            raise fail("betas", "a pair (beta1, beta2)", betas)
        for i, beta in enumerate(betas):
            check_real(beta, f"betas[{i}]", low=0.0, high=1.0, high_open=True)
        return {
            "betas": (float(betas[0]), float(betas[1])),
            "eps": _nonneg(eps, "eps"),
            "weight_decay": _nonneg(weight_decay, "weight_decay"),
            "amsgrad": _check_bool(amsgrad, "amsgrad"),
        }

    def _new_state(self, p: np.ndarray) -> State:
        v_max = np.zeros_like(p) if self.hyper["amsgrad"] else None
        return State(0, m=np.zeros_like(p), v=np.zeros_like(p), v_max=v_max)

    def _kernel_kwargs(self) -> dict[str, Any]:
        h = self.hyper
        return {
            "beta1": h["betas"][0],
            "beta2": h["betas"][1],
            "eps": h["eps"],
            "weight_decay": h["weight_decay"],
            "decoupled_weight_decay": self._decoupled,
        }


class AdamW(Adam):
    r"""Adam with decoupled weight decay: $\theta \leftarrow (1-\eta\lambda)\theta$ first.

    ``torch.optim.AdamW``'s defaults (``weight_decay=1e-2``); the rest is :class:`Adam`.
    """

    _decoupled = True

    def __init__(
        self,
        params: Any,
        lr: LR = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)


class RMSprop(Optimizer):
    r"""RMSprop (``centered``, ``momentum`` optional), ``torch.optim.RMSprop``'s update.

    See :func:`~dlmath.optim.rules.rmsprop_update`. State: ``square_avg`` (and
    ``grad_avg`` when centred, ``momentum_buffer`` when ``momentum > 0``).
    """

    _kernel = staticmethod(rules.rmsprop_update)
    _buffers = ("square_avg", "grad_avg", "momentum_buffer")

    def __init__(
        self,
        params: Any,
        lr: LR = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None:
        super().__init__(
            params,
            lr,
            alpha=alpha,
            eps=eps,
            weight_decay=weight_decay,
            momentum=momentum,
            centered=centered,
        )

    def _validate(self, alpha, eps, weight_decay, momentum, centered) -> dict[str, Any]:
        return {
            "alpha": check_real(alpha, "alpha", low=0.0, high=1.0),
            "eps": _nonneg(eps, "eps"),
            "weight_decay": _nonneg(weight_decay, "weight_decay"),
            "momentum": _nonneg(momentum, "momentum"),
            "centered": _check_bool(centered, "centered"),
        }

    def _new_state(self, p: np.ndarray) -> State:
        h = self.hyper
        return State(
            0,
            square_avg=np.zeros_like(p),
            grad_avg=np.zeros_like(p) if h["centered"] else None,
            momentum_buffer=np.zeros_like(p) if h["momentum"] > 0 else None,
        )

    def _kernel_kwargs(self) -> dict[str, Any]:
        return {k: v for k, v in self.hyper.items() if k != "centered"}


class Adagrad(Optimizer):
    r"""Adagrad with ``lr_decay``, ``initial_accumulator_value``: ``torch.optim.Adagrad``.

    See :func:`~dlmath.optim.rules.adagrad_update`. State: ``state_sum``.
    """

    _kernel = staticmethod(rules.adagrad_update)
    _buffers = ("state_sum",)

    def __init__(
        self,
        params: Any,
        lr: LR = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
    ) -> None:
        super().__init__(
            params,
            lr,
            lr_decay=lr_decay,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            eps=eps,
        )

    def _validate(self, lr_decay, weight_decay, initial_accumulator_value, eps) -> dict:
        return {
            "lr_decay": _nonneg(lr_decay, "lr_decay"),
            "weight_decay": _nonneg(weight_decay, "weight_decay"),
            "initial_accumulator_value": _nonneg(
                initial_accumulator_value, "initial_accumulator_value"
            ),
            "eps": _nonneg(eps, "eps"),
        }

    def _new_state(self, p: np.ndarray) -> State:
        return State(0, state_sum=np.full_like(p, self.hyper["initial_accumulator_value"]))

    def _kernel_kwargs(self) -> dict[str, Any]:
        return {k: v for k, v in self.hyper.items() if k != "initial_accumulator_value"}


#: name -> class, for sweeps and tables
OPTIMIZERS: dict[str, type[Optimizer]] = {
    "SGD": SGD,
    "Adam": Adam,
    "AdamW": AdamW,
    "RMSprop": RMSprop,
    "Adagrad": Adagrad,
}
