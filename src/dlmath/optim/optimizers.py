"""Optimizer classes with ``torch.optim``'s names, defaults and update rules.

``opt = Adam(params, lr=1e-3)`` keeps references to ``params`` (a list, or a dict, of
float32/float64 NumPy arrays; torch tensors are taken as NumPy views of their memory) and
``opt.step(grads)`` updates those arrays IN PLACE. So ``[p.detach().numpy() for p in
model.parameters()]`` trains a torch model with these optimizers.

Each class declares its hyperparameters once, in torch's order, as a table of
``name: (default, constraint)`` (:mod:`dlmath._checks`); the constructor, its signature
(``inspect.signature(Adam)``), the checks and the kernel's keyword arguments all come
from that table. The arithmetic is the kernel in :mod:`dlmath.optim.rules`.
:class:`Optimizer.step` checks every gradient (count, shape, dtype, finiteness) and the
learning rate BEFORE touching anything, so a bad call raises ``ValueError`` and leaves
parameters and state unchanged. A step that makes a parameter non-finite (an ``lr`` so
large the update overflows) raises ``FloatingPointError`` naming that parameter; the same
array given twice (it would be updated twice per step) is refused.
Large parameters are processed in blocks of :data:`BLOCK` values with preallocated
scratch, so a step allocates no parameter-sized temporaries and stays in cache.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from dlmath._checks import (
    NONNEG,
    POSITIVE,
    UNIT,
    Bool,
    Constraint,
    Pair,
    Real,
    as_float_array,
    check_finite,
    check_real,
    fail,
    fail_type,
    named,
    validate_all,
)
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
    _check_distinct(arrays, names)
    return arrays, names


def _check_distinct(arrays: list[np.ndarray], names: list[str] | None) -> None:
    """Refuse two parameters that share memory (one array twice would step twice).

    Sorted by start address, an overlap always shows between neighbours in that order
    (against the furthest end seen so far); ``np.shares_memory`` confirms it exactly.
    """
    bounds = sorted(
        (np.lib.array_utils.byte_bounds(p) + (i,) for i, p in enumerate(arrays) if p.size),
    )
    reach, owner = -1, -1
    for lo, hi, i in bounds:
        if lo < reach and np.shares_memory(arrays[owner], arrays[i]):
            first, second = sorted((owner, i))
            label = lambda k: f"params[{names[k] if names else k}]"
            raise fail(
                label(second),
                f"a different array from {label(first)} (each parameter once)",
                "the same memory twice",
                described=True,
            )
        if hi > reach:
            reach, owner = hi, i


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

    A subclass declares ``hyperparameters`` (``name -> (default, constraint)``, in
    torch's positional order after ``lr``), ``lr_default``, ``_kernel`` (a function of
    :mod:`~dlmath.optim.rules`), ``_buffers`` (the state names passed to it, in order)
    and ``_new_state``; its ``__init__`` is generated from the table.
    """

    hyperparameters: ClassVar[dict[str, tuple[Any, Constraint]]] = {}
    lr_default: ClassVar[float] = 1e-3
    _kernel: ClassVar[Callable[..., None]]
    _buffers: ClassVar[tuple[str, ...]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" not in cls.__dict__:
            cls.__init__ = _generated_init(cls)

    def __init__(self, params: Any, lr: LR = 1e-3, **hyper: Any) -> None:
        where = f"{type(self).__name__}()"
        self.lr = _check_lr(lr, where)
        declared = type(self).hyperparameters
        unknown = set(hyper) - set(declared)
        if unknown:
            raise TypeError(f"{where}: unexpected hyperparameter(s) {sorted(unknown)}")
        values = {k: hyper.get(k, default) for k, (default, _) in declared.items()}
        self.hyper = validate_all(values, {k: c for k, (_, c) in declared.items()}, where)
        self._check_together(self.hyper, where)
        with named(where):
            self.params, self.names = _as_params(params)
        self.t = 0  # optimizer steps taken; a schedule gives lr = lr(t) for the next one
        self.state = [self._new_state(p) for p in self.params]
        self._scratch: dict[np.dtype, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    # --- what subclasses define -----------------------------------------------------
    def _check_together(self, hyper: dict[str, Any], where: str) -> None:
        """Rules that involve several hyperparameters (none by default)."""

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
        If the update makes a parameter non-finite, every parameter is still stepped (the
        state stays consistent) and ``FloatingPointError`` names the first such one.
        """
        with named(f"{type(self).__name__}.step()"):
            grads = self._check_grads(grads)
            lr = self.current_lr()
        kwargs = self._kernel_kwargs()
        kernel = type(self)._kernel
        broken = None
        with np.errstate(over="ignore", invalid="ignore"):  # reported below, by parameter
            broken = self._update(grads, lr, kernel, kwargs)
        self.t += 1
        if broken is not None:
            name = f"params[{self.names[broken] if self.names else broken}]"
            raise FloatingPointError(
                f"{type(self).__name__}.step(): '{name}' became non-finite at step {self.t} "
                f"(lr={lr:g}): the update overflowed; lower 'lr' or check the gradients."
            )

    def _update(self, grads, lr, kernel, kwargs) -> int | None:
        """Run the kernel over every parameter; the index of the first non-finite one."""
        broken = None
        for i, (p, g, s) in enumerate(zip(self.params, grads, self.state, strict=True)):
            s.step += 1
            buffers = [s.buffers[name] for name in self._buffers]
            if p.flags.c_contiguous:  # cache-sized blocks of flat views, preallocated scratch
                a, b, _ = self._scratch_for(p.dtype)
                for block in _flat_blocks([p, g, *buffers], p.size):
                    n = block[0].size
                    kernel(*block, s.step, lr=lr, **kwargs, scratch=(a[:n], b[:n]))
                    if broken is None and not _block_finite(block[0]):
                        broken = i
            else:  # a strided view: whole-array update with full-size scratch (rare)
                kernel(p, g, *buffers, s.step, lr=lr, **kwargs, scratch=None)
                if broken is None and not np.isfinite(p).all():
                    broken = i
        return broken

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


def _block_finite(block: np.ndarray) -> bool:
    """Whether every value is finite: one sum (NaN/inf propagate), confirmed if it is not."""
    total = np.add.reduce(block)
    return bool(np.isfinite(total)) or bool(np.isfinite(block).all())


def _check_lr(lr: Any, where: str) -> LR:
    if callable(lr):
        return lr
    return validate_all({"lr": lr}, {"lr": NONNEG}, where)["lr"]


def _generated_init(cls: type[Optimizer]) -> Callable[..., None]:
    """``__init__(self, params, lr=<lr_default>, <name>=<default>, ...)`` from the table.

    A real signature (positional or keyword, as torch's), so ``help(Adam)`` and
    ``inspect.signature(Adam)`` show every hyperparameter with its default.
    """
    names = list(cls.hyperparameters)
    defaults = {"lr": cls.lr_default} | {k: d for k, (d, _) in cls.hyperparameters.items()}
    args = ", ".join(f"{k}=_d[{k!r}]" for k in ["lr", *names])
    pass_on = ", ".join(f"{k}={k}" for k in names)
    src = (
        f"def __init__(self, params, {args}):\n"
        f"    Optimizer.__init__(self, params, lr, {pass_on})\n"
    )
    namespace: dict[str, Any] = {"_d": defaults, "Optimizer": Optimizer}
    exec(src, namespace)  # noqa: S102 - a signature built from the class's own table
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__name__}.__init__"
    init.__doc__ = f"{cls.__name__}(params, lr={cls.lr_default:g}, ...): see the class."
    return init


class SGD(Optimizer):
    r"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay.

    ``torch.optim.SGD``'s update (see :func:`~dlmath.optim.rules.sgd_update`); plain SGD
    is ``momentum=0``, heavy ball is ``momentum>0``. State: ``momentum_buffer`` (only
    when ``momentum > 0``).
    """

    lr_default = 1e-3
    hyperparameters = {
        "momentum": (0.0, NONNEG),
        "dampening": (0.0, UNIT),
        "weight_decay": (0.0, NONNEG),
        "nesterov": (False, Bool()),
    }
    _kernel = staticmethod(rules.sgd_update)
    _buffers = ("momentum_buffer",)

    def _check_together(self, h: dict[str, Any], where: str) -> None:
        if h["nesterov"] and (h["momentum"] <= 0 or h["dampening"] != 0):
            raise fail(
                "nesterov",
                "False unless momentum > 0 and dampening == 0",
                f"nesterov=True with momentum={h['momentum']:g}, dampening={h['dampening']:g}",
                described=True,
                where=where,
            )

    def _new_state(self, p: np.ndarray) -> State:
        buf = np.zeros_like(p) if self.hyper["momentum"] != 0 else None
        return State(0, momentum_buffer=buf)


class Adam(Optimizer):
    r"""Adam (``amsgrad`` optional), ``torch.optim.Adam``'s update and defaults.

    ``weight_decay`` is L2 (added to the gradient); :class:`AdamW` decouples it. See
    :func:`~dlmath.optim.rules.adam_update`. State: ``m``, ``v`` (and ``v_max``), so the
    state is exactly twice the parameters without AMSGrad. ``eps`` must be > 0 (with 0 a
    zero gradient gives 0/0 = NaN).
    """

    lr_default = 1e-3
    hyperparameters = {
        "betas": ((0.9, 0.999), Pair(Real(low=0.0, high=1.0, high_open=True))),
        "eps": (1e-8, POSITIVE),
        "weight_decay": (0.0, NONNEG),
        "amsgrad": (False, Bool()),
    }
    _kernel = staticmethod(rules.adam_update)
    _buffers = ("m", "v", "v_max")
    _decoupled: ClassVar[bool] = False

    def _new_state(self, p: np.ndarray) -> State:
        v_max = np.zeros_like(p) if self.hyper["amsgrad"] else None
        return State(0, m=np.zeros_like(p), v=np.zeros_like(p), v_max=v_max)

    def _kernel_kwargs(self) -> dict[str, Any]:
        h = self.hyper
        beta1, beta2 = h["betas"]
        return {
            "beta1": beta1,
            "beta2": beta2,
            "eps": h["eps"],
            "weight_decay": h["weight_decay"],
            "decoupled_weight_decay": self._decoupled,
        }


class AdamW(Adam):
    r"""Adam with decoupled weight decay: $\theta \leftarrow (1-\eta\lambda)\theta$ first.

    ``torch.optim.AdamW``'s defaults (``weight_decay=1e-2``); the rest is :class:`Adam`.
    """

    hyperparameters = {**Adam.hyperparameters, "weight_decay": (1e-2, NONNEG)}
    _decoupled = True


class RMSprop(Optimizer):
    r"""RMSprop (``centered``, ``momentum`` optional), ``torch.optim.RMSprop``'s update.

    See :func:`~dlmath.optim.rules.rmsprop_update`. State: ``square_avg`` (and
    ``grad_avg`` when centred, ``momentum_buffer`` when ``momentum > 0``).
    """

    lr_default = 1e-2
    hyperparameters = {
        "alpha": (0.99, UNIT),
        "eps": (1e-8, POSITIVE),
        "weight_decay": (0.0, NONNEG),
        "momentum": (0.0, NONNEG),
        "centered": (False, Bool()),
    }
    _kernel = staticmethod(rules.rmsprop_update)
    _buffers = ("square_avg", "grad_avg", "momentum_buffer")

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

    lr_default = 1e-2
    hyperparameters = {
        "lr_decay": (0.0, NONNEG),
        "weight_decay": (0.0, NONNEG),
        "initial_accumulator_value": (0.0, NONNEG),
        "eps": (1e-10, POSITIVE),
    }
    _kernel = staticmethod(rules.adagrad_update)
    _buffers = ("state_sum",)

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
