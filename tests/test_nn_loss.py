"""minigan.nn's loss modules against torch.nn's: constructor signatures, values and gradients."""

import inspect

import numpy as np
import pytest

import minigan as mg
from minigan import nn

torch = pytest.importorskip("torch")

NAMES = ["BCELoss", "BCEWithLogitsLoss", "MSELoss", "L1Loss", "CrossEntropyLoss", "NLLLoss"]


@pytest.mark.parametrize("name", NAMES)
def test_signature_is_a_prefix_of_pytorchs(name):
    ours = inspect.signature(getattr(nn, name)).parameters
    theirs = inspect.signature(getattr(torch.nn, name)).parameters
    assert list(ours) == list(theirs)[:len(ours)]
    assert "reduction" in ours
    for p in ours:
        assert ours[p].default == theirs[p].default, p


def pair(make_inputs, seed=0):
    """The same arrays as minigan Tensors and torch tensors that require grad (where float)."""
    arrays = make_inputs(np.random.default_rng(seed))
    ours = [mg.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    theirs = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    return ours, theirs


def probs(rng):
    return rng.uniform(0.05, 0.95, (4, 3)), rng.uniform(0, 1, (4, 3))


def logits(rng):
    return rng.normal(size=(4, 3)) * 3, rng.uniform(0, 1, (4, 3))


def regression(rng):
    return rng.normal(size=(4, 3)), rng.normal(size=(4, 3))


def classes(rng):
    return rng.normal(size=(5, 4)), rng.integers(0, 4, 5)


def classes_2d(rng):
    return rng.normal(size=(2, 4, 3, 3)), rng.integers(0, 4, (2, 3, 3))


def log_probs(rng):
    x, t = classes(rng)
    return x - np.log(np.exp(x).sum(1, keepdims=True)), t


WEIGHT3 = np.array([0.5, 2.0, 1.5])
WEIGHT4 = np.array([0.5, 2.0, 1.5, 1.0])
CASES = [
    ("BCELoss", {}, probs),
    ("BCELoss", {"weight": WEIGHT3}, probs),
    ("BCEWithLogitsLoss", {}, logits),
    ("BCEWithLogitsLoss", {"weight": WEIGHT3, "pos_weight": np.array([3.0, 1.0, 0.25])}, logits),
    ("MSELoss", {}, regression),
    ("L1Loss", {}, regression),
    ("CrossEntropyLoss", {}, classes),
    ("CrossEntropyLoss", {"weight": WEIGHT4}, classes),
    ("CrossEntropyLoss", {}, classes_2d),
    ("NLLLoss", {}, log_probs),
    ("NLLLoss", {"weight": WEIGHT4}, log_probs),
]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name, kwargs, inputs", CASES)
def test_value_and_gradient_match_pytorch(name, kwargs, inputs, reduction):
    ours_in, theirs_in = pair(inputs)
    ours_loss = getattr(nn, name)(**{k: mg.tensor(v) for k, v in kwargs.items()}, reduction=reduction)
    theirs_loss = getattr(torch.nn, name)(**{k: torch.tensor(v) for k, v in kwargs.items()}, reduction=reduction)
    y, ty = ours_loss(*ours_in), theirs_loss(*theirs_in)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    gy = np.random.default_rng(1).normal(size=tuple(ty.shape))
    y.backward(mg.tensor(gy))
    ty.backward(torch.tensor(gy))
    for a, b in zip(ours_in, theirs_in):
        if b.requires_grad:
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_weights_are_buffers_in_the_state_dict_as_in_pytorch():
    w, p = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    ours = nn.BCEWithLogitsLoss(mg.tensor(w), pos_weight=mg.tensor(p)).state_dict()
    theirs = torch.nn.BCEWithLogitsLoss(torch.tensor(w), pos_weight=torch.tensor(p)).state_dict()
    assert list(ours) == list(theirs) == ["weight", "pos_weight"]
    assert list(nn.MSELoss().state_dict()) == list(torch.nn.MSELoss().state_dict()) == []


def test_positional_arguments_land_where_pytorchs_do():
    assert nn.MSELoss(None, None, "sum").reduction == torch.nn.MSELoss(None, None, "sum").reduction == "sum"
    assert nn.NLLLoss(None, None, -100, None, "none").reduction == "none"


def test_unsupported_arguments_are_refused_clearly():
    with pytest.raises(ValueError, match="size_average"):
        nn.MSELoss(size_average=True)
    with pytest.raises(ValueError, match="reduction"):
        nn.L1Loss(reduction="avg")
    with pytest.raises(ValueError, match="ignore_index"):
        nn.CrossEntropyLoss(ignore_index=0)
    with pytest.raises(ValueError, match="shape"):
        nn.L1Loss()(mg.zeros(2, 3), mg.zeros(3, 2))


def test_losses_train_inside_a_module():
    model = nn.Sequential(nn.Linear(3, 1))
    loss = nn.BCEWithLogitsLoss()(model(mg.randn(8, 3)), mg.ones(8, 1))
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
