"""A scalar autograd engine (micrograd-style) that records the computational graph.

Each :class:`Value` remembers the values it was computed from (``parents``) and the
operation (``op``). ``backward()`` orders the graph topologically (every node after the
nodes it depends on) and walks it in reverse, each node adding
``local derivative x upstream gradient`` into its parents' ``grad`` (``+=``, so a value
used twice collects both contributions: the multivariate chain rule).

Basic operations with their own derivative rule: ``+``, ``*``, ``** c`` (constant c),
``exp``, ``log``, ``tanh``, ``relu``. Everything else is built from them, so each rule
exists once: ``-a = a * -1``, ``a - b = a + (-b)``, ``a / b = a * b**-1``,
``sigmoid(a) = 1 / (1 + exp(-a))``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable

from dlmath._checks import fail, fail_type

__all__ = ["Value", "topological_order", "trace", "values"]


class Value:
    """A scalar in a computational graph: ``data``, ``grad`` (dL/dself after backward)."""

    __slots__ = ("data", "grad", "parents", "op", "label", "_backward")

    def __init__(
        self, data: float, parents: tuple[Value, ...] = (), op: str = "", label: str = ""
    ) -> None:
        if isinstance(data, bool) or not isinstance(data, numbers.Real):
            raise fail_type("data", "a real number", data)
        self.data = float(data)
        self.grad = 0.0
        self.parents = parents
        self.op = op
        self.label = label
        self._backward: Callable[[], None] = lambda: None

    def __repr__(self) -> str:
        name = f"{self.label}=" if self.label else ""
        op = f", op={self.op!r}" if self.op else ""
        return f"Value({name}{self.data:.6g}, grad={self.grad:.6g}{op})"

    @staticmethod
    def _lift(other: Value | float) -> Value:
        return other if isinstance(other, Value) else Value(other)

    # --- basic operations: each has its own local derivative --------------------------
    def __add__(self, other: Value | float) -> Value:
        other = self._lift(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():  # d(a+b)/da = d(a+b)/db = 1
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other: Value | float) -> Value:
        other = self._lift(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():  # d(ab)/da = b, d(ab)/db = a
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def __pow__(self, c: float) -> Value:
        if isinstance(c, (Value, bool)) or not isinstance(c, numbers.Real):
            raise fail_type("c", "a constant real exponent (use exp/log for a ** b)", c)
        out = Value(self.data**c, (self,), f"**{c:g}")

        def _backward():  # d(a^c)/da = c a^(c-1)
            self.grad += c * self.data ** (c - 1) * out.grad

        out._backward = _backward
        return out

    def exp(self) -> Value:
        out = Value(math.exp(self.data), (self,), "exp")

        def _backward():  # d exp(a)/da = exp(a)
            self.grad += out.data * out.grad

        out._backward = _backward
        return out

    def log(self) -> Value:
        if self.data <= 0:
            raise fail("self", "positive for log", self.data)
        out = Value(math.log(self.data), (self,), "log")

        def _backward():  # d log(a)/da = 1/a
            self.grad += out.grad / self.data

        out._backward = _backward
        return out

    def tanh(self) -> Value:
        out = Value(math.tanh(self.data), (self,), "tanh")

        def _backward():  # d tanh(a)/da = 1 - tanh(a)^2
            self.grad += (1.0 - out.data**2) * out.grad

        out._backward = _backward
        return out

    def relu(self) -> Value:
        out = Value(max(self.data, 0.0), (self,), "relu")

        def _backward():  # 1 where a > 0 (0 at a = 0, as torch)
            self.grad += (self.data > 0) * out.grad

        out._backward = _backward
        return out

    # --- derived operations: compositions of the basic ones ------------------------------
    def __neg__(self) -> Value:
        return self * -1.0

    def __sub__(self, other: Value | float) -> Value:
        return self + (-self._lift(other))

    def __truediv__(self, other: Value | float) -> Value:
        return self * self._lift(other) ** -1.0

    def __radd__(self, other: float) -> Value:
        return self + other

    def __rmul__(self, other: float) -> Value:
        return self * other

    def __rsub__(self, other: float) -> Value:
        return self._lift(other) - self

    def __rtruediv__(self, other: float) -> Value:
        return self._lift(other) / self

    def sigmoid(self) -> Value:
        return 1.0 / (1.0 + (-self).exp())

    # --- reverse mode ---------------------------------------------------------------------
    def backward(self) -> None:
        """Set ``grad = d self / d node`` on every node of the graph (earlier grads reset)."""
        order = topological_order(self)
        for node in order:
            node.grad = 0.0
        self.grad = 1.0
        for node in reversed(order):
            node._backward()


def topological_order(root: Value) -> list[Value]:
    """Every node reachable from ``root``, each after all of its parents (iterative DFS)."""
    if not isinstance(root, Value):
        raise fail_type("root", "a Value", root)
    order: list[Value] = []
    seen: set[int] = set()
    stack: list[tuple[Value, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((p, False) for p in node.parents if id(p) not in seen)
    return order


def trace(root: Value) -> tuple[list[Value], list[tuple[Value, Value]]]:
    """The recorded graph: nodes in topological order and edges (parent, child)."""
    nodes = topological_order(root)
    edges = [(p, node) for node in nodes for p in node.parents]
    return nodes, edges


def values(xs: Iterable[float], labels: Iterable[str]) -> list[Value]:
    """Leaf ``Value`` s with labels (convenience for building expressions)."""
    return [Value(x, label=lab) for x, lab in zip(xs, labels, strict=True)]
