"""Edge cases of the PyTorch API: empty reductions, 0-d tensors, bool and tuple dims, two-tensor max/min,
refused inputs and the positional order of conv_transpose2d; each compared with PyTorch when it is installed."""

import warnings

import numpy as np
import pytest

import minigan as mg
import minigan.nn.functional as F

try:
    import torch
except ImportError:
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="needs torch")


def same(y, expected) -> None:
    """y (a minigan tensor) has expected's shape and values, NaN and signed infinities included."""
    expected = np.asarray(expected.detach().numpy() if torch is not None and isinstance(expected, torch.Tensor)
                          else expected)
    assert y.shape == expected.shape
    np.testing.assert_array_equal(y.numpy(), expected)


def framework(name: str):
    return mg if name == "minigan" else torch


FRAMEWORKS = ["minigan", pytest.param("torch", marks=needs_torch)]


@pytest.mark.parametrize("name", FRAMEWORKS)
@pytest.mark.parametrize("shape, dim", [((5, 0, 0), -1), ((2, 0), 1), ((3, 0), 0), ((0, 3), 1)])
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax_over_an_empty_tensor_is_empty(name, op, shape, dim):
    x = framework(name).zeros(*shape, requires_grad=True)
    y = getattr(x, op)(dim)
    y.sum().backward()
    assert tuple(y.shape) == shape and tuple(x.grad.shape) == shape


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_logsumexp_of_an_empty_reduction_is_minus_infinity(name):
    fw = framework(name)
    x = fw.zeros(2, 0, requires_grad=True)
    y = fw.logsumexp(x, 1)
    y.sum().backward()
    np.testing.assert_array_equal(y.detach().numpy(), [-np.inf, -np.inf])
    assert tuple(x.grad.shape) == (2, 0)
    assert tuple(fw.logsumexp(fw.zeros(2, 0), 1, keepdim=True).shape) == (2, 1)


SCALAR_CALLS = [
    ("transpose", (0, 0)), ("transpose", (-1, 0)), ("sum", (0,)), ("sum", (-1,)), ("mean", (0,)),
    ("squeeze", (0,)), ("squeeze", (-1,)), ("unsqueeze", (0,)), ("unsqueeze", (-1,)), ("softmax", (0,)),
    ("log_softmax", (-1,)), ("flatten", (0, 0)), ("argmax", (0,)), ("argmin", (-1,)), ("var", (0, False)),
    ("std", (0, False)),
]


@pytest.mark.parametrize("method, args", SCALAR_CALLS, ids=[f"{m}{a}" for m, a in SCALAR_CALLS])
def test_dim_taking_methods_accept_0_and_minus_1_on_a_0d_tensor(method, args):
    y = getattr(mg.tensor(2.0), method)(*args)
    if torch is not None:
        same(y, getattr(torch.tensor(2.0, dtype=torch.float32), method)(*args))
    with pytest.raises(IndexError):
        getattr(mg.tensor(2.0), method)(*((1,) + args[1:]))


def test_transpose_of_a_0d_tensor_passes_the_gradient():
    x = mg.tensor(3.0, requires_grad=True)
    (x.transpose(0, -1) * 2).backward()
    assert x.grad.item() == 2.0


@pytest.mark.parametrize("name", FRAMEWORKS)
@pytest.mark.parametrize("op", ["var", "std"])
@pytest.mark.parametrize("shape, dim, unbiased, expected", [
    ((2, 0), 1, True, [np.nan, np.nan]), ((2, 0), 1, False, [np.nan, np.nan]), ((1,), None, True, np.nan),
    ((3, 1), 1, True, [np.nan] * 3), ((1,), None, False, 0.0),
])
def test_var_without_enough_elements_is_nan(name, op, shape, dim, unbiased, expected):
    x = framework(name).ones(*shape)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "var|std", UserWarning)  # PyTorch warns of the missing degrees of freedom
        y = getattr(x, op)(dim, unbiased)
    np.testing.assert_array_equal(y.numpy(), expected)


@pytest.mark.parametrize("call", ["x.var(True)", "x.var(False)", "x.std(True)", "x.std(False)",
                                  "fw.var(x, False)", "fw.std(x, False)", "x.var(1, False, True)"])
def test_a_bool_first_argument_of_var_and_std_is_unbiased(call):
    values = np.arange(6.0).reshape(2, 3) ** 2
    y = eval(call, {"fw": mg, "x": mg.tensor(values)})
    expected = {"x.var(True)": values.var(ddof=1), "x.var(False)": values.var(), "x.std(True)": values.std(ddof=1),
                "x.std(False)": values.std(), "fw.var(x, False)": values.var(), "fw.std(x, False)": values.std(),
                "x.var(1, False, True)": values.var(1, keepdims=True)}[call]
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12)
    if torch is not None:
        np.testing.assert_allclose(y.numpy(), eval(call, {"fw": torch, "x": torch.tensor(values)}).numpy(),
                                   rtol=1e-12)


@pytest.mark.parametrize("name", FRAMEWORKS)
@pytest.mark.parametrize("call", ["x.sum(True)", "x.mean(True)", "x.max(True)", "x.softmax(True)",
                                  "x.transpose(True, 0)", "x.argmax(True)", "x.unsqueeze(True)", "fw.sum(x, False)",
                                  "fw.logsumexp(x, True)"])
def test_a_bool_is_not_a_dim(name, call):
    fw = framework(name)
    with pytest.raises(TypeError):
        eval(call, {"fw": fw, "x": fw.ones(2, 3)})


@pytest.mark.parametrize("op", ["sum", "mean", "var", "std"])
@pytest.mark.parametrize("dim", [(), []])
@pytest.mark.parametrize("keepdim", [False, True])
def test_an_empty_dim_tuple_reduces_every_dim(op, dim, keepdim):
    values = np.arange(6.0).reshape(2, 3)
    y = getattr(mg.tensor(values), op)(dim=dim, keepdim=keepdim)
    assert y.shape == ((1, 1) if keepdim else ())
    np.testing.assert_allclose(y.numpy(), getattr(mg.tensor(values), op)(keepdim=keepdim).numpy(), rtol=1e-15)
    if torch is not None:
        np.testing.assert_allclose(y.numpy(), getattr(torch.tensor(values), op)(dim=dim, keepdim=keepdim).numpy(),
                                   rtol=1e-12)


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_logsumexp_refuses_an_empty_dim_tuple(name):
    fw = framework(name)
    with pytest.raises(RuntimeError):
        fw.logsumexp(fw.ones(2, 3), ())


@pytest.mark.parametrize("name", FRAMEWORKS)
@pytest.mark.parametrize("dtype", ["int64", "bool"])
def test_mean_of_a_non_floating_tensor_is_refused(name, dtype):
    fw = framework(name)
    x = fw.zeros(2, 3, dtype=getattr(fw, dtype if name == "torch" or dtype != "bool" else "bool_"))
    with pytest.raises(RuntimeError, match="floating"):
        x.mean()


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_embedding_refuses_a_weight_that_is_not_2d(name):
    fw = framework(name)
    functional = F if name == "minigan" else torch.nn.functional
    with pytest.raises(RuntimeError, match="'weight' must be 2-D"):
        functional.embedding(fw.tensor([0, 1]), fw.zeros(2, 2, 2))


@pytest.mark.parametrize("name", FRAMEWORKS)
@pytest.mark.parametrize("op", ["max", "min"])
def test_max_and_min_of_two_tensors_are_elementwise(name, op):
    fw = framework(name)
    a = fw.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = fw.tensor([1.0, 0.0, 5.0], requires_grad=True)
    y = getattr(fw, op)(a, b)
    (y * fw.tensor([1.0, 2.0, 3.0])).sum().backward()
    pick = np.maximum if op == "max" else np.minimum
    np.testing.assert_array_equal(y.detach().numpy(), pick([1.0, 2.0, 3.0], [1.0, 0.0, 5.0]))
    wins = np.array([0.5, 1.0, 0.0]) if op == "max" else np.array([0.5, 0.0, 1.0])
    np.testing.assert_array_equal(a.grad.numpy(), wins * [1, 2, 3])
    np.testing.assert_array_equal(b.grad.numpy(), (1 - wins) * [1, 2, 3])
    np.testing.assert_array_equal(getattr(a.detach(), op)(b.detach()).numpy(), y.detach().numpy())


@pytest.mark.parametrize("name", FRAMEWORKS)
@pytest.mark.parametrize("call", ["x.max((0, 1))", "x.min(dim=(0,))", "x.argmax((0,))", "x.softmax((0,))",
                                  "x.transpose((0,), 1)", "x.unsqueeze((0,))", "fw.cat([x, x], (0,))"])
def test_a_tuple_dim_where_pytorch_takes_an_int_is_a_type_error(name, call):
    fw = framework(name)
    with pytest.raises(TypeError, match="dim" if name == "minigan" else None):
        eval(call, {"fw": fw, "x": fw.ones(2, 3)})


def test_tuple_dims_where_pytorch_takes_them():
    values = np.arange(24.0).reshape(2, 3, 4)
    x = mg.tensor(values)
    np.testing.assert_allclose(x.sum((0, 2)).numpy(), values.sum((0, 2)))
    np.testing.assert_allclose(x.mean([2, 0], keepdim=True).numpy(), values.mean((0, 2), keepdims=True))
    assert mg.ones(1, 3, 1).squeeze((0, 2)).shape == (3,)
    if torch is not None:
        assert tuple(torch.ones(1, 3, 1).squeeze((0, 2)).shape) == (3,)


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_cat_refuses_0d_tensors(name):
    fw = framework(name)
    with pytest.raises(RuntimeError, match=r"zero-dimensional tensor \(at position 1\) cannot be concatenated"):
        fw.cat([fw.ones(1), fw.tensor(1.0)])


def test_the_seventh_argument_of_conv_transpose2d_is_groups():
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((1, 2, 4, 4)), rng.standard_normal((2, 3, 3, 3)), rng.standard_normal(3)
    y = F.conv_transpose2d(mg.tensor(x), mg.tensor(w), mg.tensor(b), 1, 0, 0, 1, 2)
    assert y.shape == (1, 3, 8, 8)
    if torch is not None:
        expected = torch.nn.functional.conv_transpose2d(torch.tensor(x), torch.tensor(w), torch.tensor(b), 1, 0, 0, 1, 2)
        np.testing.assert_allclose(y.numpy(), expected.numpy(), rtol=1e-10, atol=1e-12)
    with pytest.raises(NotImplementedError, match="groups"):
        F.conv_transpose2d(mg.tensor(x), mg.tensor(w), None, 1, 0, 0, 2)


KEYWORD_CALLS = [
    "fw.exp(input=x)", "fw.clamp(input=x, min=0.5)", "fw.maximum(input=x, other=x)", "fw.matmul(input=x, other=x.T)",
    "fw.where(x > 1, input=x, other=x)", "fw.unsqueeze(input=x, dim=0)", "fw.zeros_like(input=x, dtype=fw.float64)",
    "fw.full_like(input=x, fill_value=2.0)",
    "fw.zeros(2, device=None)", "fw.arange(3, dtype=fw.float64)", "fw.randperm(3, device='cpu')",
    "fw.set_default_dtype(fw.get_default_dtype())",
]


@pytest.mark.parametrize("name", FRAMEWORKS)
@pytest.mark.parametrize("call", KEYWORD_CALLS)
def test_arguments_go_by_pytorch_names(name, call):
    fw = framework(name)
    eval(call, {"fw": fw, "x": fw.ones(2, 3)})


@pytest.mark.parametrize("name", FRAMEWORKS)
@pytest.mark.parametrize("call", ["fw.full((2,), 1.0, fw.float64)", "fw.tensor([1.0], fw.float64)",
                                  "fw.zeros_like(x, fw.float64)", "fw.arange(0, 3, 1, fw.float64)",
                                  "fw.randint(0, 3, (2,), 'cpu')", "x.add_(x, 2)", "fw.set_default_dtype(d=fw.float32)"])
def test_keyword_only_arguments_are_refused_positionally(name, call):
    fw = framework(name)
    with pytest.raises(TypeError):
        eval(call, {"fw": fw, "x": fw.ones(2, 3)})
