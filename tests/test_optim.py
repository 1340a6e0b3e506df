"""dlmath.optim optimizers against torch.optim (the independent reference)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlmath.optim import SGD, Adagrad, Adam, AdamW, RMSprop, adam_step, schedules

SHAPES = [(3, 4), (5,), (2, 3, 2), ()]
STEPS = 500

# every optimizer over a grid of non-default hyperparameters
CASES = [
    ("SGD", {"lr": 0.03}),
    ("SGD", {"lr": 0.05, "weight_decay": 0.05}),
    ("SGD", {"lr": 0.02, "momentum": 0.9}),
    ("SGD", {"lr": 0.02, "momentum": 0.7, "dampening": 0.3, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.02, "momentum": 0.95, "nesterov": True, "weight_decay": 0.02}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.02, "betas": (0.8, 0.95), "eps": 1e-5, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.005, "betas": (0.0, 0.5), "amsgrad": True}),
    ("AdamW", {"lr": 0.01}),
    ("AdamW", {"lr": 0.02, "betas": (0.85, 0.99), "weight_decay": 0.3, "amsgrad": True}),
    ("RMSprop", {"lr": 0.005}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "eps": 1e-6, "weight_decay": 0.05, "momentum": 0.5}),
    ("RMSprop", {"lr": 0.003, "alpha": 0.95, "centered": True, "momentum": 0.9}),
    ("Adagrad", {"lr": 0.1}),
    ("Adagrad", {"lr": 0.2, "lr_decay": 0.05, "weight_decay": 0.1,
                 "initial_accumulator_value": 0.3, "eps": 1e-6}),
]  # fmt: skip
CLASSES = {"SGD": SGD, "Adam": Adam, "AdamW": AdamW, "RMSprop": RMSprop, "Adagrad": Adagrad}


def field(p: np.ndarray, t: int, i: int, rng_noise: np.ndarray) -> np.ndarray:
    """A state-dependent gradient: a pull towards 0.5 with per-step noise."""
    return np.asarray((1.0 + 0.5 * i) * (p - 0.5) + rng_noise)


def run_both(name, hyper, shapes, steps, dtype, seed=0):
    """Our optimizer and torch's, same start, same gradient field; returns final params."""
    rng = np.random.default_rng(seed)
    start = [rng.standard_normal(s).astype(dtype) for s in shapes]
    noise = [[rng.standard_normal(s).astype(dtype) * 0.3 for s in shapes] for _ in range(steps)]
    ours = [p.copy() for p in start]
    opt = CLASSES[name](ours, **hyper)
    ref_params = [torch.tensor(p, requires_grad=True) for p in start]
    ref = getattr(torch.optim, name)(ref_params, **hyper)
    for t in range(steps):
        opt.step([field(p, t, i, noise[t][i]) for i, p in enumerate(ours)])
        for i, p in enumerate(ref_params):
            p.grad = torch.from_numpy(field(p.detach().numpy(), t, i, noise[t][i]))
        ref.step()
    return ours, [p.detach().numpy() for p in ref_params], opt


def rel(a, b):
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-300)


@pytest.mark.parametrize(
    ("name", "hyper"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)]
)
def test_trajectories_equal_torch_float64(name, hyper):
    ours, theirs, opt = run_both(name, hyper, SHAPES, STEPS, np.float64)
    for a, b in zip(ours, theirs, strict=True):
        assert rel(a, b) <= 1e-10
    assert opt.t == STEPS and all(s.step == STEPS for s in opt.state)


@pytest.mark.parametrize(("name", "hyper"), CASES[::3])
def test_float32_follows_torch(name, hyper):
    ours, theirs, _ = run_both(name, hyper, SHAPES[:2], 100, np.float32)
    for a, b in zip(ours, theirs, strict=True):
        assert a.dtype == np.float32
        assert rel(a, b) <= 1e-4


def test_big_parameters_cross_block_boundaries():
    # more than one BLOCK (32768 values) and a ragged last block
    shapes = [(33001,), (20, 1700)]
    for name, hyper in (CASES[6], CASES[12]):
        ours, theirs, _ = run_both(name, hyper, shapes, 5, np.float64)
        for a, b in zip(ours, theirs, strict=True):
            assert rel(a, b) <= 1e-12


def test_strided_parameter_view_is_updated_in_place():
    big = np.random.default_rng(1).standard_normal((6, 8))
    view = big[:, ::2]  # not contiguous
    ref = torch.tensor(view.copy(), requires_grad=True)
    opt, topt = (
        Adam([view], lr=0.1, weight_decay=0.1),
        torch.optim.Adam([ref], lr=0.1, weight_decay=0.1),
    )
    for t in range(20):
        g = np.sin(view + t)
        opt.step([g])
        ref.grad = torch.from_numpy(np.sin(ref.detach().numpy() + t))
        topt.step()
    assert rel(big[:, ::2], ref.detach().numpy()) <= 1e-12


def test_trains_a_torch_model_through_numpy_views():
    """Lab 3's pattern: numpy views of the parameters; the torch model itself is updated."""
    torch.manual_seed(0)  # only for the initial weights below; no RNG afterwards
    gen = torch.Generator().manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    twin = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    twin.load_state_dict(model.state_dict())
    X = torch.randn(32, 4, generator=gen)
    y = torch.randint(0, 3, (32,), generator=gen)
    opt = AdamW([p.detach().numpy() for p in model.parameters()], lr=0.01)
    ref = torch.optim.AdamW(twin.parameters(), lr=0.01)
    for _ in range(30):
        for net in (model, twin):
            net.zero_grad()
            torch.nn.functional.cross_entropy(net(X), y).backward()
        opt.step([p.grad.numpy() for p in model.parameters()])
        ref.step()
    for a, b in zip(model.parameters(), twin.parameters(), strict=True):
        assert rel(a.detach().numpy(), b.detach().numpy()) <= 1e-5
    assert not torch.equal(model[0].weight, torch.nn.Linear(4, 8).weight)


def test_schedule_as_lr_equals_torch_scheduler():
    rng = np.random.default_rng(3)
    p0 = rng.standard_normal((4, 3))
    ours = p0.copy()
    opt = SGD([ours], lr=schedules.CosineAnnealingLR(0.1, T_max=40, eta_min=0.01), momentum=0.9)
    ref_p = torch.tensor(p0, requires_grad=True)
    ref = torch.optim.SGD([ref_p], lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(ref, T_max=40, eta_min=0.01)
    for _ in range(60):
        opt.step([ours - 1.0])
        ref_p.grad = ref_p.detach() - 1.0
        ref.step()
        sched.step()
    assert rel(ours, ref_p.detach().numpy()) <= 1e-12


def test_dict_params_like_the_mlp():
    params = {"W1": np.ones((2, 3)), "b1": np.zeros(2)}
    W1 = params["W1"]
    opt = SGD(params, lr=0.5)
    opt.step({"b1": np.ones(2), "W1": np.full((2, 3), 2.0)})
    assert params["W1"] is W1  # updated in place, not replaced
    np.testing.assert_array_equal(W1, 0.0)
    np.testing.assert_array_equal(params["b1"], -0.5)
    with pytest.raises(ValueError, match="grads"):
        opt.step({"W1": np.ones((2, 3))})


def test_state_is_printable_and_sized():
    p = [np.zeros((10, 10)), np.zeros(10)]
    nbytes = sum(x.nbytes for x in p)
    assert Adam(p).state_nbytes == 2 * nbytes
    assert Adam(p, amsgrad=True).state_nbytes == 3 * nbytes
    assert SGD(p, lr=0.1).state_nbytes == 0
    assert SGD(p, lr=0.1, momentum=0.9).state_nbytes == nbytes
    assert RMSprop(p, centered=True, momentum=0.1).state_nbytes == 3 * nbytes
    opt = Adam(p, lr=0.1)
    opt.step([np.ones((10, 10)), np.ones(10)])
    assert "step=1" in repr(opt.state[0]) and "m=" in repr(opt.state[0])
    assert repr(opt).startswith("Adam(2 params, 110 values, lr=0.1")


def test_callers_gradients_are_not_modified():
    p = [np.ones(5)]
    g = np.arange(5.0)
    keep = g.copy()
    for opt in (SGD(p, lr=0.1, momentum=0.9, weight_decay=0.1), Adam(p, weight_decay=0.1),
                RMSprop(p, weight_decay=0.1), Adagrad(p, weight_decay=0.1)):  # fmt: skip
        opt.step([g])
        opt.step([g])
        np.testing.assert_array_equal(g, keep)


def test_adam_step_is_the_textbook_function_and_pure():
    rng = np.random.default_rng(0)
    param, grad, m, v = (rng.standard_normal(6) for _ in range(4))
    v = np.abs(v)
    before = [x.copy() for x in (param, grad, m, v)]
    new_p, new_m, new_v = adam_step(param, grad, m, v, t=3, lr=0.01, beta1=0.8, beta2=0.9)
    # the course module's formula, written out
    m_ref = 0.8 * m + 0.2 * grad
    v_ref = 0.9 * v + 0.1 * grad**2
    m_hat, v_hat = m_ref / (1 - 0.8**3), v_ref / (1 - 0.9**3)
    p_ref = param - 0.01 * m_hat / (np.sqrt(v_hat) + 1e-8)
    np.testing.assert_allclose(new_m, m_ref, rtol=1e-14)
    np.testing.assert_allclose(new_v, v_ref, rtol=1e-14)
    np.testing.assert_allclose(new_p, p_ref, rtol=1e-14)
    for x, b in zip((param, grad, m, v), before, strict=True):
        np.testing.assert_array_equal(x, b)


@settings(max_examples=15)
@given(
    shape=st.lists(st.integers(1, 5), min_size=0, max_size=3).map(tuple),
    seed=st.integers(0, 10_000),
    beta1=st.floats(0.0, 0.99),
    lr=st.floats(1e-4, 0.5),
)
def test_adam_any_shape_and_seed_equals_torch(shape, seed, beta1, lr):
    ours, theirs, _ = run_both(
        "Adam", {"lr": lr, "betas": (beta1, 0.99)}, [shape], 20, np.float64, seed
    )
    assert rel(ours[0], theirs[0]) <= 1e-12


# --- bad input: ValueError/TypeError naming the argument, nothing modified ------------------
@pytest.mark.parametrize(
    ("cls", "kwargs", "name"),
    [
        (SGD, {"lr": -0.1}, "lr"),
        (SGD, {"momentum": -0.5}, "momentum"),
        (SGD, {"weight_decay": -1e-3}, "weight_decay"),
        (SGD, {"nesterov": True}, "nesterov"),
        (SGD, {"nesterov": True, "momentum": 0.9, "dampening": 0.1}, "nesterov"),
        (SGD, {"dampening": 2.0}, "dampening"),
        (Adam, {"lr": float("nan")}, "lr"),
        (Adam, {"eps": -1e-8}, "eps"),
        (Adam, {"betas": (1.0, 0.999)}, "betas"),
        (Adam, {"betas": (0.9, -0.1)}, "betas"),
        (Adam, {"betas": (0.9,)}, "betas"),
        (Adam, {"weight_decay": -0.1}, "weight_decay"),
        (AdamW, {"betas": (0.9, 1.5)}, "betas"),
        (AdamW, {"weight_decay": -0.01}, "weight_decay"),
        (RMSprop, {"alpha": 1.5}, "alpha"),
        (RMSprop, {"eps": -1.0}, "eps"),
        (RMSprop, {"momentum": -0.1}, "momentum"),
        (Adagrad, {"lr_decay": -0.1}, "lr_decay"),
        (Adagrad, {"initial_accumulator_value": -1.0}, "initial_accumulator_value"),
        (Adagrad, {"eps": -1e-10}, "eps"),
    ],
)
def test_bad_hyperparameters_raise_naming_the_argument(cls, kwargs, name):
    with pytest.raises(ValueError, match=f"'{name}"):
        cls([np.zeros(3)], **kwargs)


@pytest.mark.parametrize(
    ("params", "exc"),
    [([np.zeros(3, dtype=np.int64)], ValueError), ([[0.0, 1.0]], TypeError),
     (np.zeros(3), TypeError), ([], ValueError)],
)  # fmt: skip
def test_bad_params_raise(params, exc):
    with pytest.raises(exc, match="params"):
        SGD(params, lr=0.1)


def _optimizers():
    shapes = [(2, 3), (4,)]

    def params():
        return [np.linspace(-1, 1, int(np.prod(s))).reshape(s) for s in shapes]

    return [
        SGD(params(), lr=0.1, momentum=0.9),
        Adam(params(), amsgrad=True),
        AdamW(params()),
        RMSprop(params(), centered=True, momentum=0.5),
        Adagrad(params(), lr_decay=0.1),
    ]


GOOD = [np.ones((2, 3)), np.ones(4)]
BAD_GRADS = [
    ([np.ones((2, 3))], "grads"),  # wrong count
    ([np.ones((2, 3)), np.ones(5)], "grads\\[1\\]"),  # wrong shape
    ([np.ones((2, 3)), np.ones(4, dtype=np.float32)], "grads\\[1\\]"),  # wrong dtype
    ([np.ones((2, 3)), np.array([1.0, np.nan, 1.0, 1.0])], "grads\\[1\\]"),  # non-finite, last
    ([np.full((2, 3), np.inf), np.ones(4)], "grads\\[0\\]"),
]


@pytest.mark.parametrize(("grads", "name"), BAD_GRADS)
def test_bad_grads_raise_and_leave_everything_unchanged(grads, name):
    for opt in _optimizers():
        opt.step(GOOD)  # some state to protect
        params, states, t = opt.snapshot()
        with pytest.raises(ValueError, match=name):
            opt.step(grads)
        assert opt.t == t
        for p, p0 in zip(opt.params, params, strict=True):
            np.testing.assert_array_equal(p, p0)
        for s, s0 in zip(opt.state, states, strict=True):
            assert s.step == s0.step
            for k, buf in s.buffers.items():
                if buf is not None:
                    np.testing.assert_array_equal(buf, s0.buffers[k])


def test_grads_of_wrong_type_raise_type_error():
    opt = SGD([np.zeros(2)], lr=0.1)
    with pytest.raises(TypeError, match="grads"):
        opt.step(np.zeros(2))
    with pytest.raises(TypeError, match="grads\\[0\\]"):
        opt.step(["not numbers"])


def test_schedule_giving_a_bad_lr_raises_and_changes_nothing():
    p = np.ones(3)
    opt = Adam([p], lr=lambda t: 0.1 if t < 2 else -1.0)
    opt.step([np.ones(3)])
    opt.step([np.ones(3)])
    params, states, _ = opt.snapshot()
    with pytest.raises(ValueError, match="'lr'"):
        opt.step([np.ones(3)])
    np.testing.assert_array_equal(p, params[0])
    np.testing.assert_array_equal(opt.state[0]["m"], states[0]["m"])
    assert opt.t == 2 and opt.state[0].step == 2
