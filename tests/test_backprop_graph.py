"""The scalar autograd engine against torch (float64), micrograd-style."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dlmath.backprop import Value, compare_scalar_autograd, topological_order, trace


def expr_everything(a, b, c):
    d = a * b + b**3 - c / a
    e = (d.tanh() + (a - c).relu() + (-b).exp()).sigmoid()
    f = (e * 2.0 + 1.0).log() - 3.0 / (1.0 + b * b)
    return f * f + 1.5 - d


def expr_reuse(x, y):
    z = x * x * y  # x used twice in one node chain
    return z + z * x - (y - x) ** 2


@pytest.mark.parametrize("fn", [expr_everything, expr_reuse])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_values_and_grads_match_torch(fn, seed):
    rng = np.random.default_rng(seed)
    names = ["a", "b", "c"] if fn is expr_everything else ["x", "y"]
    inputs = {k: float(v) for k, v in zip(names, rng.uniform(0.3, 1.5, len(names)), strict=True)}
    xs = {k: Value(v, label=k) for k, v in inputs.items()}
    out = fn(**xs)
    out.backward()
    ts = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in inputs.items()}
    t_out = fn(**ts)
    t_out.backward()
    assert out.data == pytest.approx(t_out.item(), abs=1e-13)
    for k in inputs:
        assert xs[k].grad == pytest.approx(ts[k].grad.item(), abs=1e-12), k
    assert compare_scalar_autograd(fn, inputs)["max_diff"] <= 1e-12


def test_relu_at_zero_and_negative_like_torch():
    for v in (-1.0, 0.0, 2.0):
        x = Value(v)
        y = x.relu() * 3.0
        y.backward()
        xt = torch.tensor(v, dtype=torch.float64, requires_grad=True)
        (torch.relu(xt) * 3.0).backward()
        assert x.grad == xt.grad.item()


def test_topological_order_and_trace():
    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    c = a * b
    d = c + a  # a reaches d twice
    nodes, edges = trace(d)
    position = {id(n): i for i, n in enumerate(nodes)}
    assert len(nodes) == 4 and len(edges) == 4
    for parent, child in edges:
        assert position[id(parent)] < position[id(child)]
    d.backward()
    assert a.grad == pytest.approx(b.data + 1.0) and b.grad == pytest.approx(a.data)
    d.backward()  # a second backward recomputes, it does not double
    assert a.grad == pytest.approx(-2.0)


def test_derived_ops_are_built_from_basic_ones():
    x = Value(0.7)
    assert {n.op for n in topological_order(x - 1.0)} <= {"", "+", "*"}
    assert {n.op for n in topological_order(x / 2.0)} <= {"", "*", "**-1"}
    assert {n.op for n in topological_order(x.sigmoid())} <= {"", "+", "*", "**-1", "exp"}
    assert x.sigmoid().data == pytest.approx(1 / (1 + math.exp(-0.7)), abs=1e-15)


def test_deep_graph_needs_no_recursion():
    x = Value(0.5)
    y = x
    for _ in range(5000):
        y = y * 1.0001 + 0.0
    y.backward()
    assert x.grad == pytest.approx(1.0001**5000, rel=1e-10)


def test_repr_and_bad_input():
    v = Value(1.5, label="w")
    assert "w=1.5" in repr(v)
    with pytest.raises(TypeError, match="'c'"):
        v ** Value(2.0)
    with pytest.raises(ValueError, match="positive"):
        Value(-1.0).log()
    with pytest.raises(TypeError, match="'data'"):
        Value("1.0")
    with pytest.raises(TypeError, match="'root'"):
        topological_order(3.0)


def test_draw_graph_draws_every_node():
    from matplotlib.patches import Circle, FancyBboxPatch

    from dlmath.viz.backprop import draw_graph

    x, w = Value(1.0, label="x"), Value(-2.0, label="w")
    out = (x * w + 1.0).tanh()
    out.backward()
    fig = draw_graph(out)
    nodes, edges = trace(out)
    ax = fig.axes[0]
    boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch)]
    ops = [p for p in ax.patches if isinstance(p, Circle)]
    assert len(boxes) == len(nodes) and len(ops) == sum(1 for n in nodes if n.parents)
    import matplotlib.pyplot as plt

    plt.close(fig)
