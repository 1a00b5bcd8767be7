"""minigan.optim against torch.optim: the same MLP, data and hyperparameters, parameters compared after
every one of 20 steps, with gradients from minigan's backward on one side and torch's on the other."""

import numpy as np
import pytest

import minigan as mg
import minigan.nn.functional as F

torch = pytest.importorskip("torch")

CASES = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.5}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.1}),  # where 1 - dampening and dampening differ
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.9, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.1, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.5, "nesterov": True, "weight_decay": 0.01}),
    ("Adam", {}),
    ("Adam", {"lr": 2e-4, "betas": (0.5, 0.999)}),
    ("Adam", {"lr": 1e-2, "weight_decay": 0.1}),
    ("Adam", {"lr": 1e-2, "amsgrad": True}),
    ("Adam", {"lr": 1e-2, "eps": 1e-3}),
    ("Adam", {"lr": 1e-2, "betas": (0.0, 0.9), "amsgrad": True, "weight_decay": 0.01}),
    ("RMSprop", {}),
    ("RMSprop", {"momentum": 0.9}),
    ("RMSprop", {"centered": True}),
    ("RMSprop", {"weight_decay": 0.1}),
    ("RMSprop", {"alpha": 0.9}),
    ("RMSprop", {"lr": 1e-3, "alpha": 0.9, "centered": True, "momentum": 0.5, "weight_decay": 0.01}),
]
SHAPES = [(8, 5), (8,), (3, 8), (3,)]
STEPS = 20
# The two sides differ only by rounding: torch fuses multiply-adds, its matmuls sum in another order. Relative
# to the largest parameter, float64 stays far below 1e-12; float32 within one rounding error per step.
RTOL = {np.float64: 1e-12, np.float32: STEPS * float(np.finfo(np.float32).eps)}


def problem(dtype, seed=0):
    rng = np.random.default_rng(seed)
    init = [(0.5 * rng.standard_normal(shape)).astype(dtype) for shape in SHAPES]
    x = rng.standard_normal((16, 5)).astype(dtype)
    y = rng.standard_normal((16, 3)).astype(dtype)
    return init, x, y


def mg_loss(params, x, y):
    w1, b1, w2, b2 = params
    out = F.linear(F.tanh(F.linear(x, w1, b1)), w2, b2)
    return ((out - y) ** 2).mean()


def torch_loss(params, x, y):
    w1, b1, w2, b2 = params
    out = torch.nn.functional.linear(torch.tanh(torch.nn.functional.linear(x, w1, b1)), w2, b2)
    return ((out - y) ** 2).mean()


class Pair:
    """The same model and optimizer in minigan and in torch (torch's single-tensor code path)."""

    def __init__(self, name, kwargs, dtype, groups=None):
        init, x, y = problem(dtype)
        self.init = init
        self.mg_params = [mg.tensor(a, requires_grad=True) for a in init]
        self.torch_params = [torch.tensor(a, requires_grad=True) for a in init]
        self.x, self.y = mg.tensor(x), mg.tensor(y)
        self.tx, self.ty = torch.tensor(x), torch.tensor(y)
        mg_groups, torch_groups = self.mg_params, self.torch_params
        if groups is not None:  # groups: a list of (parameter indices, group options)
            mg_groups = [{"params": [self.mg_params[i] for i in idx], **opts} for idx, opts in groups]
            torch_groups = [{"params": [self.torch_params[i] for i in idx], **opts} for idx, opts in groups]
        self.mg_opt = getattr(mg.optim, name)(mg_groups, **kwargs)
        self.torch_opt = getattr(torch.optim, name)(torch_groups, foreach=False, **kwargs)

    def step(self, same_grads=False):
        self.mg_opt.zero_grad()
        self.torch_opt.zero_grad()
        mg_loss(self.mg_params, self.x, self.y).backward()
        torch_loss(self.torch_params, self.tx, self.ty).backward()
        if same_grads:
            for p, tp in zip(self.mg_params, self.torch_params):
                tp.grad = torch.tensor(np.array(p.grad.numpy()))
        self.mg_opt.step()
        self.torch_opt.step()

    def assert_close(self, rtol, where):
        for k, (p, tp) in enumerate(zip(self.mg_params, self.torch_params)):
            expected = tp.detach().numpy()
            assert p.dtype == expected.dtype, f"{where}: parameter {k} changed dtype to {p.dtype}"
            scale = np.abs(expected).max()
            np.testing.assert_allclose(p.numpy(), expected, rtol=rtol, atol=rtol * scale,
                                       err_msg=f"{where}: parameter {k}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=[f"{n}-{kw}" for n, kw in CASES])
def test_matches_torch_every_step(name, kwargs, dtype):
    pair = Pair(name, kwargs, dtype)
    for step in range(STEPS):
        pair.step()
        pair.assert_close(RTOL[dtype], f"{name}{kwargs} step {step}")
    moved = max(np.abs(p.numpy() - a).max() for p, a in zip(pair.mg_params, pair.init))
    assert moved > 100 * RTOL[dtype] * max(np.abs(a).max() for a in pair.init), "the parameters hardly moved"


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=[f"{n}-{kw}" for n, kw in CASES])
def test_float32_arithmetic_with_the_same_gradients(name, kwargs):
    """Fed the same float32 gradients, both sides round alike: a few units in the last place apart."""
    pair = Pair(name, kwargs, np.float32)
    for step in range(STEPS):
        pair.step(same_grads=True)
        pair.assert_close(8 * float(np.finfo(np.float32).eps), f"{name}{kwargs} step {step}")


@pytest.mark.parametrize(("name", "kwargs", "groups"), [
    ("SGD", {"lr": 0.1, "momentum": 0.9}, [([0, 1], {}), ([2, 3], {"lr": 0.01, "nesterov": True})]),
    ("Adam", {"lr": 1e-2}, [([0, 1], {"lr": 1e-3}), ([2, 3], {"betas": (0.5, 0.999), "amsgrad": True})]),
    ("RMSprop", {}, [([0, 2], {"lr": 1e-3, "centered": True}), ([1, 3], {"momentum": 0.5})]),
])
def test_param_groups_match_torch(name, kwargs, groups):
    pair = Pair(name, kwargs, np.float64, groups)
    for step in range(STEPS):
        pair.step()
        pair.assert_close(RTOL[np.float64], f"{name} groups step {step}")


def _to_torch_state(state_dict):
    """minigan's state dict with arrays as tensors and 'step' as torch keeps it (a float tensor)."""
    state = {index: {key: torch.tensor(float(value)) if key == "step" else torch.tensor(value)
                     for key, value in entries.items()}
             for index, entries in state_dict["state"].items()}
    return {"state": state, "param_groups": state_dict["param_groups"]}


@pytest.mark.parametrize(("name", "kwargs"), [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("Adam", {"lr": 1e-2, "amsgrad": True}),
    ("RMSprop", {"centered": True, "momentum": 0.5}),
])
def test_state_dict_has_torch_names_and_values(name, kwargs):
    """After some steps, the state holds what torch's holds under the same names; torch resumes from it."""
    pair = Pair(name, kwargs, np.float64)
    for _ in range(10):
        pair.step()
    ours, theirs = pair.mg_opt.state_dict(), pair.torch_opt.state_dict()
    assert sorted(ours["state"]) == sorted(theirs["state"])
    for index, entries in ours["state"].items():
        assert set(entries) == set(theirs["state"][index])
        for key, value in entries.items():
            np.testing.assert_allclose(np.asarray(value), np.asarray(theirs["state"][index][key]), rtol=1e-12,
                                       atol=1e-15, err_msg=f"state {key!r} of parameter {index}")
    for group, torch_group in zip(ours["param_groups"], theirs["param_groups"]):
        assert {key: torch_group[key] for key in group} == group
    # a torch optimizer loaded with minigan's state continues as minigan's does
    pair.torch_opt = getattr(torch.optim, name)(pair.torch_params, foreach=False, **kwargs)
    pair.torch_opt.load_state_dict(_to_torch_state(ours))
    for step in range(10):
        pair.step()
        pair.assert_close(RTOL[np.float64], f"resumed step {step}")
