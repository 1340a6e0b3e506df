"""LoRA: parameter counts, LoRALinear against closed forms and torch autograd, apply_lora."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from dlmath.lowrank import (
    LoRALinear,
    apply_lora,
    count_parameters,
    lora_memory_table,
    lora_parameter_count,
    merge_lora,
)


def linear(d_in: int, d_out: int, seed: int = 0, dtype=torch.float64) -> nn.Linear:
    gen = torch.Generator().manual_seed(seed)
    layer = nn.Linear(d_in, d_out, dtype=dtype)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(d_out, d_in, generator=gen, dtype=dtype))
        layer.bias.copy_(torch.randn(d_out, generator=gen, dtype=dtype))
    return layer


def randomize_B(lora: LoRALinear, seed: int = 1) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        lora.B.copy_(torch.randn(lora.B.shape, generator=gen, dtype=lora.B.dtype))


def mlp(seed: int = 0) -> nn.Sequential:
    torch_gen = torch.Generator().manual_seed(seed)
    model = nn.Sequential(
        nn.Linear(6, 12), nn.Tanh(), nn.Linear(12, 12), nn.Tanh(), nn.Linear(12, 3)
    )
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=torch_gen))
    return model


# ----------------------------------------------------------------------------- counts and memory


@settings(max_examples=30, deadline=None)
@given(d_out=st.integers(1, 40), d_in=st.integers(1, 40), data=st.data())
def test_parameter_count_equals_what_torch_counts(d_out, d_in, data):
    r = data.draw(st.integers(1, min(d_out, d_in)))
    lora = LoRALinear(nn.Linear(d_in, d_out), r, alpha=1.0)
    counted = count_parameters(lora)
    assert lora_parameter_count(d_out, d_in, r) == counted.trainable == r * (d_in + d_out)
    assert counted.total == counted.trainable + d_out * d_in + d_out


def test_memory_table_for_a_transformer():
    table = lora_memory_table([(4096, 4096)] * 64, [1, 8, 256])
    r8 = table.rows[1]
    assert r8["full_params"] == 64 * 4096 * 4096
    assert r8["lora_params"] == 64 * 8 * (4096 + 4096)
    assert r8["lora_fp32_bytes"] == 4 * r8["lora_params"]
    assert r8["lora_fp16_bytes"] == 2 * r8["lora_params"]
    assert r8["adam_full_bytes"] == 16 * r8["full_params"]
    assert r8["percent"] == pytest.approx(100 * 8 * 8192 / 4096**2)
    assert r8["savings"] == pytest.approx(100 - r8["percent"])
    assert "4096x4096" in repr(table) and "GiB" in repr(table)


def test_memory_table_mixed_shapes():
    table = lora_memory_table([(768, 768), (3072, 768)], [4])
    assert table.rows[0]["lora_params"] == 4 * (768 + 768) + 4 * (768 + 3072)
    assert table.rows[0]["full_params"] == 768 * 768 + 3072 * 768
    assert lora_memory_table((768, 768), [4]).rows[0]["lora_params"] == 4 * 1536


# ----------------------------------------------------------------------------- LoRALinear


def test_starts_identical_and_freezes_a_copy_of_base():
    base = linear(5, 4)
    before = {k: v.clone() for k, v in base.state_dict().items()}
    lora = LoRALinear(base, 2, alpha=4.0)
    x = torch.randn(7, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    assert torch.equal(lora(x), base(x))  # exactly: B = 0
    assert not any(p.requires_grad for p in lora.base.parameters())
    assert [n for n, p in lora.named_parameters() if p.requires_grad] == ["A", "B"]
    # the caller's layer keeps its values and stays trainable
    assert all(torch.equal(before[k], v) for k, v in base.state_dict().items())
    assert all(p.requires_grad for p in base.parameters())


def test_forward_matches_numpy_formula():
    base = linear(5, 4)
    lora = LoRALinear(base, 3, alpha=6.0, seed=5)
    randomize_B(lora)
    x = np.random.default_rng(0).standard_normal((8, 5))
    W, b = base.weight.detach().numpy(), base.bias.detach().numpy()
    A, B = lora.A.detach().numpy(), lora.B.detach().numpy()
    expected = x @ W.T + b + (6.0 / 3) * x @ A.T @ B.T  # h = W x + b + (alpha/r) B A x
    got = lora(torch.tensor(x)).detach().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_gradients_of_A_and_B_match_closed_form():
    base = linear(5, 4)
    lora = LoRALinear(base, 2, alpha=2.0, seed=1)
    randomize_B(lora)
    x = torch.randn(6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    G = torch.randn(6, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    (lora(x) * G).sum().backward()  # dL/dh = G
    s, X, A, B, Gn = 1.0, x.numpy(), lora.A.detach().numpy(), lora.B.detach().numpy(), G.numpy()
    # h = ... + s (X A^T) B^T  =>  dB = s G^T (X A^T),  dA = s (G B)^T X
    np.testing.assert_allclose(lora.B.grad.numpy(), s * Gn.T @ (X @ A.T), rtol=1e-12)
    np.testing.assert_allclose(lora.A.grad.numpy(), s * (Gn @ B).T @ X, rtol=1e-12)
    assert lora.base.weight.grad is None


def test_merge_equals_adapted_forward():
    base = linear(7, 5, dtype=torch.float32)
    lora = LoRALinear(base, 3, alpha=5.0)
    randomize_B(lora)
    merged = lora.merge()
    assert type(merged) is nn.Linear
    x = torch.randn(9, 7, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(merged(x), lora(x), rtol=1e-5, atol=1e-5)
    expected = base.weight + (5.0 / 3) * lora.B @ lora.A
    torch.testing.assert_close(merged.weight, expected.detach(), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(merged.bias, base.bias.detach())


def test_svd_init_merges_back_to_the_original_and_holds_the_top_directions():
    base = linear(8, 6)
    lora = LoRALinear(base, 3, alpha=2.0, init="svd")
    W = base.weight.detach().numpy()
    np.testing.assert_allclose(lora.merge().weight.detach().numpy(), W, atol=1e-13)
    U, S, Vt = np.linalg.svd(W)
    top = (U[:, :3] * S[:3]) @ Vt[:3]  # best rank-3 part, computed independently
    np.testing.assert_allclose(lora.delta_weight().detach().numpy(), top, atol=1e-12)
    residual = lora.base.weight.detach().numpy()
    np.testing.assert_allclose(np.linalg.svd(residual, compute_uv=False)[:3], S[3:6], atol=1e-12)


def test_dropout_only_in_training_mode():
    base = linear(6, 4)
    lora = LoRALinear(base, 2, alpha=2.0, dropout=0.5)
    randomize_B(lora)
    x = torch.randn(5, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    lora.eval()
    with torch.no_grad():
        torch.testing.assert_close(lora(x), lora.merge()(x))


def test_training_changes_only_A_and_B():
    base = linear(4, 3, dtype=torch.float32)
    lora = LoRALinear(base, 2, alpha=2.0)
    frozen = copy.deepcopy(lora.base.state_dict())
    opt = torch.optim.SGD([p for p in lora.parameters() if p.requires_grad], lr=0.1)
    x = torch.randn(10, 4, generator=torch.Generator().manual_seed(0))
    for _ in range(3):
        opt.zero_grad()
        lora(x).pow(2).sum().backward()
        opt.step()
    assert all(torch.equal(frozen[k], v) for k, v in lora.base.state_dict().items())
    assert lora.B.abs().max() > 0


def test_repr():
    text = repr(LoRALinear(nn.Linear(5, 4), 2, alpha=8.0))
    assert "r=2" in text and "alpha=8" in text and "trainable=18" in text


# ----------------------------------------------------------------------------- apply_lora


def test_apply_lora_copies_wraps_and_counts():
    model = mlp()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    adapted, report = apply_lora(model, 2, alpha=4.0, target=["0", "4"])
    assert isinstance(adapted[0], LoRALinear) and isinstance(adapted[4], LoRALinear)
    assert type(adapted[2]) is nn.Linear and not adapted[2].weight.requires_grad
    assert report.wrapped == ("0", "4")
    assert report.trainable == 2 * (6 + 12) + 2 * (12 + 3)
    assert report.trainable == sum(p.numel() for p in adapted.parameters() if p.requires_grad)
    assert report.total == sum(p.numel() for p in adapted.parameters())
    assert report.original_total == sum(p.numel() for p in model.parameters())
    # the caller's model is untouched
    assert type(model[0]) is nn.Linear
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.requires_grad for p in model.parameters())
    x = torch.randn(4, 6, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(adapted(x), model(x))
    assert "trainable" in repr(report)


def test_apply_lora_default_targets_every_linear_and_merge_lora():
    model = mlp()
    adapted, report = apply_lora(model, 3, alpha=3.0, seed=7)
    assert report.wrapped == ("0", "2", "4")
    for module in adapted.modules():
        if isinstance(module, LoRALinear):
            randomize_B(module)
    merged = merge_lora(adapted)
    assert not any(isinstance(m, LoRALinear) for m in merged.modules())
    x = torch.randn(5, 6, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(merged(x), adapted(x), rtol=1e-5, atol=1e-5)
    assert any(isinstance(m, LoRALinear) for m in adapted.modules())  # merge_lora copies


class Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.q_proj, self.k_proj, self.v_proj = nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 8)

    def forward(self, x):
        return self.q_proj(x) + self.k_proj(x) + self.v_proj(x)


def test_apply_lora_suffix_targets_like_peft():
    model = nn.Sequential(Attention(), Attention())
    adapted, report = apply_lora(model, 4, alpha=8.0, target=["q_proj", "v_proj"])
    assert report.wrapped == ("0.q_proj", "1.q_proj", "0.v_proj", "1.v_proj")
    assert report.trainable == 4 * 4 * (8 + 8)
    assert type(adapted[0].k_proj) is nn.Linear


# ----------------------------------------------------------------------------- bad input


def test_bad_arguments_name_the_argument():
    layer = nn.Linear(5, 4)
    for r in (0, -2, 5):
        with pytest.raises(ValueError, match="'r'"):
            LoRALinear(layer, r)
        with pytest.raises(ValueError, match="'r'"):
            lora_parameter_count(4, 5, r)
    for alpha in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="'alpha'"):
            LoRALinear(layer, 2, alpha=alpha)
        with pytest.raises(ValueError, match="'alpha'"):
            apply_lora(mlp(), 2, alpha=alpha)
    with pytest.raises(ValueError, match="'dropout'"):
        LoRALinear(layer, 2, dropout=1.0)
    with pytest.raises(ValueError, match="'init'"):
        LoRALinear(layer, 2, init="gaussian")
    with pytest.raises(TypeError, match="'base'"):
        LoRALinear(nn.Conv1d(2, 2, 1), 1)
    with pytest.raises(ValueError, match="'target'.*fc9"):
        apply_lora(mlp(), 2, target="fc9")
    with pytest.raises(ValueError, match="'target'.*Linear"):
        apply_lora(mlp(), 2, target="1")  # a Tanh
    with pytest.raises(ValueError, match="'target'"):
        apply_lora(mlp(), 2, target=[])
    with pytest.raises(ValueError, match="'r'"):
        apply_lora(mlp(), 4)  # the last layer has min(shape) = 3
    with pytest.raises(ValueError, match="'ranks'"):
        lora_memory_table([(8, 8)], [16])
    with pytest.raises(ValueError, match="'shapes'"):
        lora_memory_table([], [1])
    with pytest.raises(ValueError, match="'d_in'"):
        lora_memory_table([(8, 0)], [1])
    with pytest.raises(TypeError, match="'model'"):
        apply_lora("model", 2)


class _TiedLM(nn.Module):
    """Token embedding (vocab 10, width 4) whose weight is also the output layer's."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(10, 4, dtype=torch.float64)
        self.head = nn.Linear(4, 10, bias=False, dtype=torch.float64)
        self.head.weight = self.emb.weight  # tied: (10, 4) is both E and W_out
        gen = torch.Generator().manual_seed(0)
        with torch.no_grad():
            self.emb.weight.copy_(torch.randn(10, 4, generator=gen, dtype=torch.float64))

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.emb(idx)))


def test_svd_init_refuses_a_weight_tied_to_a_layer_it_does_not_wrap():
    model = _TiedLM()
    idx = torch.arange(10)
    with torch.no_grad():  # the reference: the formula on the original weight E
        E = model.emb.weight.clone()
        expected = torch.tanh(E[idx]) @ E.T
    with pytest.raises(ValueError, match=r"'init' must be .*head\.weight is also emb\.weight"):
        apply_lora(model, 2, init="svd")  # was accepted: the embedding became E - s B A
    adapted, _ = apply_lora(model, 2, init="default")  # B = 0 leaves the tied weight as is
    with torch.no_grad():
        assert torch.equal(adapted.emb.weight, E) and adapted.head.base.weight is adapted.emb.weight
        np.testing.assert_allclose(adapted(idx).numpy(), expected.numpy(), rtol=0, atol=1e-14)
    assert torch.equal(model.emb.weight, E) and model.head.weight is model.emb.weight
