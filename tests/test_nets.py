"""The shared torch MLP: architecture, torch's default initialization, private RNG."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dlmath.nets import torch_mlp


def test_architecture_and_forward_matches_manual_composition():
    model = torch_mlp([5, 7, 3], activation="gelu", seed=0, dtype=torch.float64)
    assert [type(m) for m in model] == [nn.Linear, nn.GELU, nn.Linear]
    X = torch.randn(4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    W1, b1, W2, b2 = (p.detach() for p in model.parameters())
    gelu = 0.5 * (X @ W1.T + b1) * (1 + torch.erf((X @ W1.T + b1) / 2**0.5))
    torch.testing.assert_close(model(X), gelu @ W2.T + b2, rtol=0, atol=1e-12)


def test_init_bounds_seed_and_global_rng_untouched():
    state = torch.random.get_rng_state()
    a, b = torch_mlp([100, 50, 2], seed=4), torch_mlp([100, 50, 2], seed=4)
    assert torch.equal(torch.random.get_rng_state(), state)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    w = a[0].weight
    assert w.abs().max() <= 0.1 and w.abs().max() > 0.09  # U(-1/sqrt(100), 1/sqrt(100))
    assert not torch.equal(w, torch_mlp([100, 50, 2], seed=5)[0].weight)


@pytest.mark.parametrize(
    ("sizes", "activation", "pattern"),
    [
        ([3], "relu", "'sizes'"),
        ([3, 0], "relu", r"'sizes\[1\]'"),
        ([3, 2], "swish", "'activation'"),
    ],
)
def test_bad_input(sizes, activation, pattern):
    with pytest.raises(ValueError, match=pattern):
        torch_mlp(sizes, activation)
