"""A multilayer perceptron with its forward and backward passes written by hand in NumPy.

For sizes ``[d0, d1, ..., dL]`` the network is (batch first, ``W_l`` of shape (d_l, d_{l-1}))::

    A_0 = X
    Z_l = A_{l-1} @ W_l.T + b_l          l = 1..L
    A_l = f(Z_l)                         l = 1..L-1   (no activation after the last layer)
    out = Z_L                            (logits for cross_entropy)

and the backward pass is the chain rule run from the loss down::

    dZ_L     = dL/dout                                  (from the loss)
    dW_l     = dZ_l.T @ A_{l-1}      db_l = dZ_l.sum(0)
    dA_{l-1} = dZ_l @ W_l
    dZ_{l-1} = dA_{l-1} * f'(Z_{l-1})

Parameters are stored like ``torch.nn.Linear`` so they copy into :func:`dlmath.nets.torch_mlp`
unchanged; :meth:`MLP.to_torch` does exactly that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlmath._checks import (
    as_float_array,
    as_label_array,
    check_int,
    check_seed,
    fail,
    fail_type,
)
from dlmath.backprop.layers import _linear_backward, _linear_forward, get_activation
from dlmath.backprop.losses import get_loss

__all__ = ["MLP", "check_mlp", "check_sizes"]


def check_mlp(mlp: Any, name: str = "mlp") -> MLP:
    """Refuse anything but a :class:`MLP`, by name (``'mlp' must be a dlmath.backprop.MLP``)."""
    if not isinstance(mlp, MLP):
        raise fail_type(name, "a dlmath.backprop.MLP", mlp)
    return mlp


def check_sizes(sizes: Any) -> tuple[int, ...]:
    """Validate layer widths: a sequence of at least 2 positive integers."""
    is_sequence = isinstance(sizes, (Sequence, np.ndarray))
    if isinstance(sizes, (str, bytes)) or not is_sequence:
        raise fail_type("sizes", "a sequence of layer widths", sizes)
    sizes = list(sizes)
    if len(sizes) < 2:
        raise fail("sizes", "a sequence of at least 2 layer widths (input and output)", sizes)
    return tuple(check_int(w, f"sizes[{i}]", low=1) for i, w in enumerate(sizes))


@dataclass
class _Layer:
    """What the backward pass needs from one layer's forward pass."""

    A_prev: np.ndarray  # input of the layer (n, d_{l-1})
    Z: np.ndarray  # pre-activation (n, d_l)
    A: np.ndarray | None  # f(Z); None for the last layer


class MLP:
    """Fully connected network ``sizes[0] -> ... -> sizes[-1]`` with a hand-written backward.

    Parameters
    ----------
    sizes : layer widths, at least 2 (input and output), each >= 1.
    activation : "relu" | "tanh" | "sigmoid" | "gelu" (exact erf form), between layers.
    loss : "cross_entropy" (``F.cross_entropy``: logits, integer labels, mean) or
        "mse" (``F.mse_loss``: mean over all elements, targets of shape (n, sizes[-1])).
    seed : initialization seed; weights and biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
        the distribution ``torch.nn.Linear`` uses.
    dtype : float64 (default, for checks) or float32; kept throughout, never upcast.

    ``params`` maps ``"W1", "b1", ..., "WL", "bL"`` to arrays (``W_l`` (d_l, d_{l-1})).
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str = "tanh",
        loss: str = "cross_entropy",
        seed: int = 0,
        dtype: Any = np.float64,
    ) -> None:
        self.sizes = check_sizes(sizes)
        self.act = get_activation(activation)
        self.loss_fn = get_loss(loss)
        check_seed(seed)
        try:
            self.dtype = np.dtype(dtype)
        except TypeError as err:
            raise fail_type("dtype", "a NumPy float dtype (float32 or float64)", dtype) from err
        if self.dtype not in (np.float32, np.float64):
            raise fail("dtype", "float32 or float64", self.dtype)
        self.seed = seed
        rng = np.random.default_rng(seed)
        self.params: dict[str, np.ndarray] = {}
        layer_shapes = zip(self.sizes[:-1], self.sizes[1:], strict=True)
        for l, (d_in, d_out) in enumerate(layer_shapes, start=1):
            bound = 1.0 / np.sqrt(d_in)
            self.params[f"W{l}"] = rng.uniform(-bound, bound, (d_out, d_in)).astype(self.dtype)
            self.params[f"b{l}"] = rng.uniform(-bound, bound, d_out).astype(self.dtype)

    # --- description -------------------------------------------------------------------
    @property
    def activation(self) -> str:
        return self.act.name

    @property
    def loss(self) -> str:
        return self.loss_fn.name

    @property
    def n_layers(self) -> int:
        """Number of linear layers L."""
        return len(self.sizes) - 1

    @property
    def n_params(self) -> int:
        return sum(p.size for p in self.params.values())

    def __repr__(self) -> str:
        arch = "-".join(str(s) for s in self.sizes)
        return (
            f"MLP({arch}, activation={self.activation!r}, loss={self.loss!r}, "
            f"params={self.n_params:,}, dtype={self.dtype.name})"
        )

    # --- copies and conversions ----------------------------------------------------------
    def copy(self, dtype: Any = None) -> MLP:
        """An independent copy (optionally converted to ``dtype``)."""
        new = MLP.__new__(MLP)
        new.__dict__.update(self.__dict__)
        new.dtype = np.dtype(dtype) if dtype is not None else self.dtype
        if new.dtype not in (np.float32, np.float64):
            raise fail("dtype", "float32 or float64", new.dtype)
        new.params = {k: v.astype(new.dtype, copy=True) for k, v in self.params.items()}
        return new

    def to_torch(self):
        """The equivalent ``torch.nn.Sequential`` (:func:`dlmath.nets.torch_mlp`), params copied in.

        The torch model has this network's dtype; its tensors own their memory, so
        training one never changes the other.
        """
        import torch

        from dlmath.nets import torch_mlp

        torch_dtype = torch.float64 if self.dtype == np.float64 else torch.float32
        model = torch_mlp(self.sizes, self.activation, seed=self.seed, dtype=torch_dtype)
        linears = [m for m in model if isinstance(m, torch.nn.Linear)]
        with torch.no_grad():
            for l, layer in enumerate(linears, start=1):
                layer.weight.copy_(torch.from_numpy(self.params[f"W{l}"]))
                layer.bias.copy_(torch.from_numpy(self.params[f"b{l}"]))
        return model

    def flatten(self, tensors: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """Concatenate ``params`` (or a dict like it, e.g. grads) into one vector, W1 b1 W2 ..."""
        tensors = self.params if tensors is None else tensors
        return np.concatenate([tensors[k].ravel() for k in self.params])

    def unflatten(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """Split a vector (P,) -- or a stack (..., P) -- into views shaped like ``params``."""
        if theta.ndim == 0 or theta.shape[-1] != self.n_params:
            raise fail("theta", f"of length {self.n_params} (the number of parameters)", theta)
        out, start = {}, 0
        for k, p in self.params.items():
            out[k] = theta[..., start : start + p.size].reshape(theta.shape[:-1] + p.shape)
            start += p.size
        return out

    # --- input checks --------------------------------------------------------------------
    def check_X(self, X: Any) -> np.ndarray:
        """``X`` as a finite (n, sizes[0]) array of this network's dtype (never modified)."""
        X = as_float_array(X, "X", ndim=2, dtype=self.dtype)
        if X.shape[1] != self.sizes[0]:
            raise fail("X", f"of shape (n, {self.sizes[0]}) (sizes[0] features)", X)
        return X

    def check_y(self, y: Any, n: int) -> np.ndarray:
        """Labels (n,) in [0, sizes[-1]) for cross_entropy; targets (n, sizes[-1]) for mse."""
        if self.loss == "cross_entropy":
            return as_label_array(y, "y", n=n, n_classes=self.sizes[-1])
        y = as_float_array(y, "y", ndim=2, dtype=self.dtype)
        if y.shape != (n, self.sizes[-1]):
            raise fail("y", f"of shape ({n}, {self.sizes[-1]}) like the network's output", y)
        return y

    # --- forward and backward --------------------------------------------------------------
    def _forward_cache(self, X: np.ndarray) -> tuple[np.ndarray, list[_Layer]]:
        """Forward pass keeping each layer's (A_prev, Z, A) for the backward pass."""
        cache, A = [], X
        for l in range(1, self.n_layers + 1):
            Z = _linear_forward(A, self.params[f"W{l}"], self.params[f"b{l}"])
            A_next = self.act.forward(Z) if l < self.n_layers else None
            cache.append(_Layer(A, Z, A_next))
            A = A_next
        return cache[-1].Z, cache

    def _forward_from(
        self, l: int, Z: np.ndarray, params: dict | None = None, *, overwrite: bool = False
    ) -> np.ndarray:
        """Finish the forward pass from layer ``l``'s pre-activation Z (..., n, d_l).

        Activations are computed in place on the pre-activations this function made; on
        the given ``Z`` only when ``overwrite`` says the caller no longer needs it.
        """
        params = self.params if params is None else params
        for k in range(l + 1, self.n_layers + 1):
            A = self.act.forward(Z, out=Z if overwrite or k > l + 1 else None)
            Z = _linear_forward(A, params[f"W{k}"], params[f"b{k}"])
        return Z

    def _backward(
        self, dZ: np.ndarray, cache: list[_Layer], record: dict | None = None
    ) -> dict[str, np.ndarray]:
        """Chain rule from ``dZ_L = dL/dout`` down to layer 1; returns grads like params.

        ``record`` (a dict), if given, receives ``record[l] = (dZ_l, dA_{l-1})`` per layer
        (``dA_0`` is None): what the Hessian-vector product differentiates.
        """
        grads: dict[str, np.ndarray] = {}
        for l in range(self.n_layers, 0, -1):
            layer = cache[l - 1]
            dA_prev, grads[f"W{l}"], grads[f"b{l}"] = _linear_backward(
                dZ, layer.A_prev, self.params[f"W{l}"], need_dX=l > 1
            )
            if record is not None:
                record[l] = (dZ, None if dA_prev is None else dA_prev.copy())
            if l > 1:
                below = cache[l - 2]
                dZ = self.act.backward(dA_prev, below.Z, below.A)
        return {k: grads[k] for k in self.params}  # W1, b1, W2, ... order

    def forward(self, X: Any) -> np.ndarray:
        """Network output ``Z_L`` (n, sizes[-1]): logits for cross_entropy."""
        return self._forward_cache(self.check_X(X))[0]

    def predict(self, X: Any) -> np.ndarray:
        """Class labels (argmax of logits) for cross_entropy; outputs for mse."""
        out = self.forward(X)
        return out.argmax(axis=1) if self.loss == "cross_entropy" else out

    def loss_value(self, X: Any, y: Any) -> float:
        """The loss on (X, y), without gradients."""
        X = self.check_X(X)
        y = self.check_y(y, len(X))
        return float(self.loss_fn.value(self._forward_cache(X)[0], y))

    def accuracy(self, X: Any, y: Any) -> float:
        """Fraction of rows whose argmax logit is the label (cross_entropy only)."""
        if self.loss != "cross_entropy":
            raise fail("loss", "'cross_entropy' for accuracy", self.loss)
        X = self.check_X(X)
        y = self.check_y(y, len(X))
        return float(np.mean(self._forward_cache(X)[0].argmax(axis=1) == y))

    def loss_and_grads(self, X: Any, y: Any) -> tuple[float, dict[str, np.ndarray]]:
        """Loss and its gradient for every parameter (same keys and shapes as ``params``)."""
        X = self.check_X(X)
        y = self.check_y(y, len(X))
        out, cache = self._forward_cache(X)
        loss, dout = self.loss_fn.value_and_grad(out, y)
        return loss, self._backward(dout, cache)

    def stacked_losses(self, thetas: np.ndarray, X: Any, y: Any) -> np.ndarray:
        """Losses of m networks at once: ``thetas`` (m, n_params) flat parameter vectors -> (m,).

        Every layer runs as one batched matrix product over the stack; used to evaluate many
        perturbed copies of the network in one call (vectorized numerical gradients).
        """
        X = self.check_X(X)
        y = self.check_y(y, len(X))
        thetas = as_float_array(thetas, "thetas", ndim=2, dtype=self.dtype)
        params = self.unflatten(thetas)
        Z0 = _linear_forward(X, params["W1"], params["b1"])
        return self.loss_fn.value(self._forward_from(1, Z0, params, overwrite=True), y)
