"""The engine's semantics: how gradients accumulate, when graphs are freed, grad modes, hooks, dtypes, devices,
creation functions and user-defined Functions. Expected values are worked out by hand or in plain NumPy."""

import math

import numpy as np
import pytest

import minigan as mg
from minigan import backend
from minigan.testing import gradcheck, gradgradcheck


def f64(values, requires_grad: bool = True) -> mg.Tensor:
    return mg.tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad)


def close(t, expected) -> None:
    np.testing.assert_allclose(t.numpy(), expected, rtol=1e-12, atol=1e-12)


# ---- backward ----

def test_gradients_accumulate_over_backward_calls():
    x = f64([1.0, -2.0, 3.0])
    (x * x).sum().backward()
    close(x.grad, 2 * x.numpy())
    (x ** 3).sum().backward()
    close(x.grad, 2 * x.numpy() + 3 * x.numpy() ** 2)


def test_backward_twice_without_retain_graph_raises():
    x = f64([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_retain_graph_allows_a_second_backward_that_accumulates():
    x = f64([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    close(x.grad, 2 * (np.exp(x.numpy()) * (1 + x.numpy())))


def test_backward_of_a_non_scalar_needs_a_gradient():
    x = f64([1.0, 2.0])
    with pytest.raises(RuntimeError, match="scalar"):
        (x * 2).backward()


def test_backward_with_a_gradient_gives_the_vector_jacobian_product():
    x, w = f64([[1.0, 2.0], [3.0, 4.0]]), f64([0.5, -1.0])
    g = np.array([[1.0, -1.0], [2.0, 0.5]])
    (x * x * w).backward(gradient=mg.tensor(g))
    close(x.grad, 2 * x.numpy() * w.numpy() * g)
    close(w.grad, (x.numpy() ** 2 * g).sum(0))


def test_backward_gradient_of_the_wrong_shape_raises():
    x = f64([1.0, 2.0])
    with pytest.raises(RuntimeError, match="shape"):
        (x * 2).backward(mg.tensor(np.ones(3)))


def test_backward_of_a_tensor_outside_the_graph_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        f64([1.0], requires_grad=False).sum().backward()


def test_detach_cuts_the_graph():
    x = f64([3.0, -1.0])
    d = x.detach()
    assert not d.requires_grad and d.grad_fn is None
    assert np.shares_memory(d.data, x.data)
    (x * x.detach()).sum().backward()
    close(x.grad, x.numpy())  # d(x c)/dx with c = x held constant, not 2 x
    y = x * 2
    y.detach_()
    assert y.grad_fn is None and not y.requires_grad


def test_requires_grad_rules():
    with pytest.raises(RuntimeError, match="floating"):
        mg.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="floating"):
        mg.tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError, match="floating"):
        mg.tensor([True, False]).requires_grad_()
    x = mg.tensor([1.0]).requires_grad_()
    assert x.requires_grad and x.is_leaf
    y = x * 2
    assert y.requires_grad and not y.is_leaf
    with pytest.raises(RuntimeError, match="detach"):
        y.requires_grad_(False)
    x.requires_grad_(False)
    assert not (x * 2).requires_grad and (x * 2).grad_fn is None


# ---- grad modes ----

def test_no_grad_records_no_graph():
    x = f64([1.0, 2.0])
    with mg.no_grad():
        assert not mg.is_grad_enabled()
        y = x * x + 1
    assert mg.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    with pytest.raises(RuntimeError):
        y.sum().backward()


def test_grad_modes_nest_and_restore():
    x = f64([1.0])
    with mg.no_grad():
        with mg.enable_grad():
            assert mg.is_grad_enabled()
            inner = x * 2
            with mg.set_grad_enabled(False):
                innermost = x * 2
            assert mg.is_grad_enabled()
        assert not mg.is_grad_enabled()
        outer = x * 2
    assert inner.requires_grad and not innermost.requires_grad and not outer.requires_grad
    with mg.set_grad_enabled(True):
        assert (x * 2).requires_grad
    with pytest.raises(ValueError), mg.no_grad():
        raise ValueError
    assert mg.is_grad_enabled()  # restored after an exception too


def test_grad_modes_as_decorators():
    x = f64([1.0])

    @mg.no_grad()
    def without(t):
        return t * 2, mg.is_grad_enabled()

    @mg.enable_grad()
    def with_grad(t):
        return t * 2

    @mg.set_grad_enabled(False)
    def off(t):
        return t * 2

    for _ in range(2):  # a decorated function can be called again
        y, enabled = without(x)
        assert not y.requires_grad and not enabled
        assert mg.is_grad_enabled()
        assert not off(x).requires_grad
    with mg.no_grad():
        assert with_grad(x).requires_grad
        assert not mg.is_grad_enabled()


def test_set_grad_enabled_called_as_a_function_switches_the_mode():
    mg.set_grad_enabled(False)
    try:
        assert not mg.is_grad_enabled()
        assert not (f64([1.0]) * 2).requires_grad
    finally:
        mg.set_grad_enabled(True)
    assert (f64([1.0]) * 2).requires_grad


def test_bare_decorators_and_recursion_restore_the_mode():
    @mg.no_grad
    def bare():
        return mg.is_grad_enabled()

    @mg.no_grad()
    def nested(n):
        with mg.enable_grad():
            inner = nested(n - 1) if n else None
        return mg.is_grad_enabled(), inner

    assert bare() is False and mg.is_grad_enabled()
    state, inner = nested(2)
    while inner is not None:  # every level ran with grad off, whatever its callee did
        assert state is False
        state, inner = inner
    assert mg.is_grad_enabled()


# ---- mg.grad ----

def test_grad_allow_unused():
    x, unused = f64([1.0, 2.0]), f64([5.0])
    y = (x * x).sum()
    with pytest.raises(RuntimeError, match="allow_unused"):
        mg.grad(y, [x, unused], retain_graph=True)
    gx, gu = mg.grad(y, [x, unused], allow_unused=True)
    close(gx, 2 * x.numpy())
    assert gu is None


def test_grad_leaves_dot_grad_alone():
    x = f64([1.0, 2.0])
    (gx,) = mg.grad((x * x).sum(), x)
    close(gx, 2 * x.numpy())
    assert x.grad is None


def test_grad_with_respect_to_non_leaf_tensors():
    x = f64([1.0, -2.0])
    y = x * 3
    z = (y * y).sum()
    gy, gx = mg.grad(z, [y, x])
    close(gy, 2 * y.numpy())
    close(gx, 18 * x.numpy())


def test_grad_outputs_weight_the_outputs():
    x = f64([1.0, 2.0, 3.0])
    a, b = x * x, x.exp()
    ga, gb = np.array([1.0, -2.0, 0.5]), np.array([3.0, 1.0, -1.0])
    (gx,) = mg.grad([a, b], x, grad_outputs=[mg.tensor(ga), mg.tensor(gb)])
    close(gx, 2 * x.numpy() * ga + np.exp(x.numpy()) * gb)


def test_grad_create_graph_gives_higher_derivatives():
    x = f64([0.5, -1.5, 2.0])
    (g1,) = mg.grad((x ** 3).sum(), x, create_graph=True)
    (g2,) = mg.grad(g1.sum(), x, create_graph=True)
    (g3,) = mg.grad(g2.sum(), x)
    close(g1, 3 * x.numpy() ** 2)
    close(g2, 6 * x.numpy())
    close(g3, np.full(3, 6.0))
    (h1,) = mg.grad((2 * x).exp().sum(), x, create_graph=True)
    (h2,) = mg.grad(h1.sum(), x)
    np.testing.assert_allclose(h2.numpy(), 4 * np.exp(2 * x.numpy()), rtol=1e-12)


def test_grad_without_create_graph_gives_constants():
    x = f64([2.0])
    (g,) = mg.grad((x ** 3).sum(), x)
    assert not g.requires_grad and g.grad_fn is None


def test_grad_retain_graph_defaults_to_create_graph():
    x = f64([2.0])
    y = (x ** 3).sum()
    mg.grad(y, x)
    with pytest.raises(RuntimeError, match="retain_graph"):
        mg.grad(y, x)
    y = (x ** 3).sum()
    mg.grad(y, x, create_graph=True)
    (g,) = mg.grad(y, x)  # still there
    close(g, [12.0])


def test_grad_through_a_freed_graph_raises_a_clear_error():
    x = f64([2.0])
    y = (x ** 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph"):
        mg.grad(y, x)


def test_grad_of_an_input_that_does_not_require_grad_raises():
    x = f64([2.0])
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.grad((x * 2).sum(), f64([1.0], requires_grad=False))


def test_backward_create_graph_makes_dot_grad_differentiable():
    x = f64([2.0, -1.0])
    (x ** 3).sum().backward(create_graph=True)
    g = x.grad
    assert g.requires_grad
    close(g, 3 * x.numpy() ** 2)
    x.grad = None
    g.sum().backward()
    close(x.grad, 6 * x.numpy())


def test_gradient_penalty_reaches_the_parameters():
    """WGAN-GP: the penalty mean((|dD/dx| - 1)^2) of the critic D(x) = sum_j w_j x_j^3 has known gradients."""
    rng = np.random.default_rng(0)
    xs, ws = rng.uniform(0.5, 1.5, (4, 3)), rng.uniform(-1.0, 1.0, 3)
    x, w = f64(xs), f64(ws)
    scores = (x ** 3 * w).sum(1)
    (gx,) = mg.grad(scores.sum(), x, create_graph=True)
    penalty = ((gx * gx).sum(1).sqrt() - 1) ** 2
    penalty.mean().backward()

    g = 3 * ws * xs ** 2  # dD/dx, row by row
    norm = np.sqrt((g * g).sum(1, keepdims=True))
    outer = 2 * (norm - 1) / norm * g / len(xs)  # d penalty / d g
    close(gx, g)
    np.testing.assert_allclose(w.grad.numpy(), (outer * 3 * xs ** 2).sum(0), rtol=1e-10)
    np.testing.assert_allclose(x.grad.numpy(), outer * 6 * ws * xs, rtol=1e-10)


# ---- hooks and retained gradients ----

def test_hook_on_a_leaf_changes_its_gradient():
    x = f64([1.0, 2.0])
    seen = []
    x.register_hook(lambda g: seen.append(g.numpy().copy()))
    handle = x.register_hook(lambda g: g * 10)
    (x * x).sum().backward()
    np.testing.assert_array_equal(seen[0], 2 * x.numpy())
    close(x.grad, 20 * x.numpy())
    handle.remove()
    x.grad = None
    (x * x).sum().backward()
    close(x.grad, 2 * x.numpy())


def test_hook_on_a_non_leaf_changes_what_flows_back():
    x = f64([1.0, -3.0])
    y = x * 2
    handle = y.register_hook(lambda g: g * 10)
    (y * y).sum().backward()
    close(x.grad, 10 * 2 * y.numpy() * 2)
    handle.remove()
    x.grad = None
    y = x * 2
    (y * y).sum().backward()
    close(x.grad, 2 * y.numpy() * 2)


def test_removed_hook_on_the_same_tensor_stops():
    x = f64([1.0])
    y = x * 3
    handle = y.register_hook(lambda g: g * 0)
    handle.remove()
    handle.remove()  # a second remove does nothing
    (y * y).sum().backward()
    close(x.grad, [18.0])


def test_hook_needs_a_tensor_that_requires_grad():
    with pytest.raises(RuntimeError, match="require"):
        f64([1.0], requires_grad=False).register_hook(lambda g: g)


def test_retain_grad_on_non_leaves():
    x = f64([1.0, 2.0])
    y, z = x * 2, x * 3
    y.retain_grad()
    ((y * y).sum() + (z * z).sum()).backward()
    close(y.grad, 2 * y.numpy())
    assert z.grad is None
    close(x.grad, 2 * y.numpy() * 2 + 2 * z.numpy() * 3)
    with pytest.raises(RuntimeError, match="require"):
        f64([1.0], requires_grad=False).retain_grad()


# ---- graph shapes ----

def test_a_chain_of_20000_operations_backpropagates():
    x = f64(1.0)
    y = x
    for _ in range(20_000):
        y = y * 1.0001
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 1.0001 ** 20_000, rtol=1e-10)
    y = x
    for _ in range(20_000):
        y = y + x * 0.5
    (g,) = mg.grad(y, x)
    close(g, 1 + 0.5 * 20_000)


def test_diamond_graphs_sum_the_gradients():
    x = f64([0.5, -1.0])
    y = x * x
    z = (y * 3 + y.exp() + y).sum()
    z.backward()
    close(x.grad, (3 + np.exp(x.numpy() ** 2) + 1) * 2 * x.numpy())
    a = f64([2.0])
    (a * a * a).sum().backward()
    close(a.grad, [12.0])


def test_a_value_used_by_two_outputs():
    x = f64([1.0, 2.0])
    h = x.exp()
    u, v = (h * 2).sum(), (h * h).sum()
    gu, = mg.grad(u, x, retain_graph=True)
    gv, = mg.grad(v, x)
    close(gu, 2 * np.exp(x.numpy()))
    close(gv, 2 * np.exp(2 * x.numpy()))


# ---- in-place methods ----

IN_PLACE = {
    "zero_": (lambda t: t.zero_(), lambda a: np.zeros_like(a)),
    "fill_": (lambda t: t.fill_(7.0), lambda a: np.full_like(a, 7.0)),
    "add_": (lambda t: t.add_(mg.tensor(np.ones(3)), alpha=2), lambda a: a + 2),
    "mul_": (lambda t: t.mul_(3.0), lambda a: a * 3),
    "clamp_": (lambda t: t.clamp_(-0.5, 0.5), lambda a: np.clip(a, -0.5, 0.5)),
    "copy_": (lambda t: t.copy_(mg.tensor(np.array([4.0, 5.0, 6.0]))), lambda a: np.array([4.0, 5.0, 6.0])),
    "__setitem__": (lambda t: t.__setitem__(slice(0, 2), 9.0), lambda a: np.array([9.0, 9.0, a[2]])),
}


@pytest.mark.parametrize("name", sorted(IN_PLACE))
def test_in_place_methods_refuse_tensors_that_require_grad(name):
    update, expected = IN_PLACE[name]
    start = np.array([-1.0, 0.25, 2.0])
    x = f64(start)
    with pytest.raises(RuntimeError, match="no_grad"):
        update(x)
    np.testing.assert_array_equal(x.numpy(), start)
    with mg.no_grad():
        update(x)
    np.testing.assert_array_equal(x.numpy(), expected(start))
    assert x.requires_grad and x.is_leaf
    c = f64(start, requires_grad=False)
    update(c)  # a constant changes in place with grad enabled
    np.testing.assert_array_equal(c.numpy(), expected(start))


def test_in_place_update_is_not_recorded():
    x = f64([1.0, 2.0])
    with mg.no_grad():
        x.mul_(2.0)
    (x * x).sum().backward()
    close(x.grad, [4.0, 8.0])


# ---- comparisons and dtypes ----

@pytest.mark.parametrize("op", ["eq", "ne", "lt", "le", "gt", "ge"])
def test_comparisons_give_boolean_tensors_outside_the_graph(op):
    a, b = np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 2.0])
    x = f64(a)
    out = getattr(x, f"__{op}__")(f64(b))
    assert out.dtype == mg.bool_ and not out.requires_grad and out.grad_fn is None
    np.testing.assert_array_equal(out.numpy(), getattr(np, {"eq": "equal", "ne": "not_equal", "lt": "less",
                                                            "le": "less_equal", "gt": "greater",
                                                            "ge": "greater_equal"}[op])(a, b))
    scalar = getattr(x, f"__{op}__")(2.0)
    np.testing.assert_array_equal(scalar.numpy(), out.numpy())


def test_python_floats_make_float32_and_numpy_arrays_keep_their_dtype():
    assert mg.tensor(1.5).dtype == mg.float32
    assert mg.tensor([1.0, 2.0]).dtype == mg.float32
    assert mg.tensor([1, 2]).dtype == mg.int64
    assert mg.tensor([True]).dtype == mg.bool_
    assert mg.tensor(np.array([1.0])).dtype == mg.float64
    assert mg.tensor(np.array([1.0], dtype=np.float32)).dtype == mg.float32
    assert mg.tensor(np.array([1], dtype=np.int32)).dtype == mg.int32
    assert mg.tensor([1.0], dtype=mg.float64).dtype == mg.float64


def test_mixed_float_dtypes_promote_and_each_gradient_keeps_its_input_dtype():
    a = mg.tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    b = mg.tensor(np.array([3.0, 4.0]), requires_grad=True)
    y = a * b
    assert y.dtype == mg.float64
    y.sum().backward()
    assert a.grad.dtype == mg.float32 and b.grad.dtype == mg.float64
    np.testing.assert_allclose(a.grad.numpy(), [3.0, 4.0])
    np.testing.assert_allclose(b.grad.numpy(), [1.0, 2.0])


def test_python_scalars_do_not_widen_float32():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    for y in (x + 1.5, 1.5 - x, x * 2, 3 / x, x ** 2.5, 2.0 ** x, x ** np.float64(0.5), x * np.float64(2.0),
              mg.where(x > 1.5, x, 0.25), mg.maximum(x, 1.5)):
        assert y.dtype == mg.float32
    (x ** 2.5).sum().backward()
    assert x.grad.dtype == mg.float32


def test_integer_tensors_with_python_numbers():
    i = mg.tensor([1, 2, 3])
    assert (i + 1).dtype == mg.int64
    assert (i * 2).dtype == mg.int64
    for y in (i + 1.5, 1.5 * i, i - 0.5, i ** 0.5, 2.5 ** i):
        assert y.dtype == mg.get_default_dtype() == mg.float32
    np.testing.assert_allclose((i + 1.5).numpy(), [2.5, 3.5, 4.5])
    np.testing.assert_allclose((i ** 0.5).numpy(), np.sqrt([1.0, 2.0, 3.0]), rtol=1e-6)
    np.testing.assert_array_equal((mg.tensor([True, False]) + 1).numpy(), [2, 1])
    f = mg.tensor([0.5, 0.5, 0.5])
    for y in (i + f, f * i, mg.where(i > 1, i, 0.5), i / i, mg.maximum(i, f)):
        assert y.dtype == mg.float32  # a floating operand wins over an integer one, whatever its width
    np.testing.assert_array_equal((i / mg.tensor([2, 2, 2])).numpy(), [0.5, 1.0, 1.5])
    mg.set_default_dtype(mg.float64)
    try:
        assert (i + 1.5).dtype == mg.float64
        assert mg.tensor(1.5).dtype == mg.float64
    finally:
        mg.set_default_dtype(mg.float32)


@pytest.mark.parametrize("dim", [0, -1])
def test_zero_dimensional_tensors_accept_dim_0_and_minus_1(dim):
    x = f64(3.0)
    for y in (x.sum(dim), x.mean(dim), mg.logsumexp(x, dim), x.max(dim).values, x.min(dim).values,
              x.squeeze(dim)):
        assert y.shape == () and y.item() == 3.0
    assert x.max(dim).indices.item() == 0 and x.argmax(dim).item() == 0
    (x.max(dim).values * 2 + x.sum(dim)).backward()
    assert x.grad.item() == 3.0
    with pytest.raises(IndexError, match="out of range"):
        x.sum(1)


# ---- creation ----

def test_creation_functions():
    for make, value in ((mg.zeros, 0.0), (mg.ones, 1.0)):
        for t in (make(2, 3), make((2, 3)), make([2, 3])):
            assert t.shape == (2, 3) and t.dtype == mg.float32
            np.testing.assert_array_equal(t.numpy(), np.full((2, 3), value))
    assert mg.zeros(4).shape == (4,) and mg.zeros(()).shape == ()
    assert mg.zeros(2, dtype=mg.float64).dtype == mg.float64
    assert mg.ones(2, requires_grad=True).requires_grad
    full = mg.full((2, 2), 3.5)
    assert full.dtype == mg.float32 and np.all(full.numpy() == 3.5)
    assert mg.full(3, 7).dtype == mg.int64 and mg.full(3, 7).shape == (3,)
    assert mg.empty(2, 3).shape == (2, 3) and mg.empty((4,)).dtype == mg.float32
    np.testing.assert_array_equal(mg.arange(4).numpy(), [0, 1, 2, 3])
    assert mg.arange(4).dtype == mg.int64
    np.testing.assert_allclose(mg.arange(1, 2, 0.25).numpy(), [1.0, 1.25, 1.5, 1.75])
    assert mg.arange(1, 2, 0.25).dtype == mg.float32
    np.testing.assert_array_equal(mg.arange(5, 0, -2).numpy(), [5, 3, 1])
    for t in (mg.randn(3, 4), mg.randn((3, 4)), mg.rand(3, 4), mg.rand((3, 4))):
        assert t.shape == (3, 4) and t.dtype == mg.float32
    assert mg.randn(2, dtype=mg.float64).dtype == mg.float64
    u = mg.rand(1000).numpy()
    assert u.min() >= 0 and u.max() < 1


def test_like_functions_copy_shape_and_dtype():
    ref = mg.tensor(np.ones((2, 3)))
    for make in (mg.zeros_like, mg.ones_like, mg.randn_like, mg.rand_like):
        t = make(ref)
        assert t.shape == (2, 3) and t.dtype == mg.float64 and not t.requires_grad
    np.testing.assert_array_equal(mg.zeros_like(ref).numpy(), np.zeros((2, 3)))
    np.testing.assert_array_equal(mg.ones_like(ref).numpy(), np.ones((2, 3)))
    np.testing.assert_array_equal(mg.full_like(ref, 2.5).numpy(), np.full((2, 3), 2.5))
    assert mg.zeros_like(ref, dtype=mg.float32).dtype == mg.float32
    assert mg.ones_like(ref, requires_grad=True).requires_grad


def test_manual_seed_repeats_draws():
    mg.manual_seed(123)
    a, b = mg.randn(5), mg.rand(5)
    mg.manual_seed(123)
    np.testing.assert_array_equal(mg.randn(5).numpy(), a.numpy())
    np.testing.assert_array_equal(mg.rand(5).numpy(), b.numpy())
    mg.manual_seed(124)
    assert not np.array_equal(mg.randn(5).numpy(), a.numpy())


def test_rng_state_round_trip_repeats_draws():
    mg.manual_seed(7)
    mg.randn(3)
    state = mg.get_rng_state()
    first = mg.randn(4).numpy(), mg.rand(2).numpy()
    mg.randn(10)
    mg.set_rng_state(state)
    np.testing.assert_array_equal(mg.randn(4).numpy(), first[0])
    np.testing.assert_array_equal(mg.rand(2).numpy(), first[1])


# ---- devices ----

@pytest.mark.skipif(backend.cupy is not None, reason="CuPy is installed")
def test_cuda_without_cupy_raises_a_clear_error():
    with pytest.raises(RuntimeError, match="CuPy"):
        mg.tensor([1.0]).to("cuda")
    with pytest.raises(RuntimeError, match="CuPy"):
        mg.zeros(2, device="cuda")


@pytest.mark.parametrize("device", ["tpu", "mps", "cuda0", "CPU", ""])
def test_unknown_device_names_raise(device):
    with pytest.raises(ValueError, match="unknown device"):
        mg.tensor([1.0]).to(device)
    with pytest.raises(ValueError, match="unknown device"):
        mg.zeros(2, device=device)
    with pytest.raises(ValueError, match="unknown device"):
        mg.tensor([1.0], device=device)


def test_to_the_same_device_and_dtype_changes_nothing():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    assert x.to("cpu") is x and x.to(mg.float32) is x and x.cpu() is x
    y = x.to(mg.float64)
    assert y.dtype == mg.float64
    (y * y).sum().backward()
    assert x.grad.dtype == mg.float32
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])


# ---- conversion and display ----

def test_repr():
    assert repr(mg.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(mg.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(mg.tensor(np.array([0.5]))) == "tensor([0.5], dtype=float64)"
    assert repr(mg.tensor([1.0], requires_grad=True)) == "tensor([1.], requires_grad=True)"
    assert repr(mg.tensor([1.0], requires_grad=True) * 2) == "tensor([2.], grad_fn=<Mul>)"
    assert repr(mg.tensor([True])) == "tensor([ True], dtype=bool)"


def test_item_float_int_bool():
    assert mg.tensor(2.5).item() == 2.5 and isinstance(mg.tensor(2.5).item(), float)
    assert mg.tensor([[3]]).item() == 3 and isinstance(mg.tensor([[3]]).item(), int)
    assert float(mg.tensor([1.25])) == 1.25
    assert int(mg.tensor(3.7)) == 3
    assert bool(mg.tensor([1.0])) is True and bool(mg.tensor(0.0)) is False
    with pytest.raises(ValueError, match="one-element"):
        mg.tensor([1.0, 2.0]).item()
    with pytest.raises(ValueError):
        bool(mg.tensor([1.0, 2.0]))


# ---- user-defined Functions ----

class Cube(mg.Function):
    """y = x ** 3, with its backward written in differentiable operations."""

    def forward(self, x):
        return x ** 3

    def backward(self, gy):
        (x,) = self.inputs
        return gy * 3 * x * x


class PowerOfTwo(mg.Function):
    """y = 2 ** x, whose backward reuses the output: gy * y * log 2."""

    saves_outputs = True

    def forward(self, x):
        return np.exp2(x)

    def backward(self, gy):
        return gy * self.output() * math.log(2)


class SumAndProduct(mg.Function):
    """(a + b, a * b): two inputs, two outputs."""

    def forward(self, a, b):
        return a + b, a * b

    def backward(self, g_sum, g_product):
        a, b = self.inputs
        return g_sum + g_product * b, g_sum + g_product * a


def test_user_defined_function_backward_and_double_backward():
    x = f64([2.0, -1.0])
    y = Cube().apply(x)
    assert y.grad_fn is not None and y.grad_fn.name == "Cube"
    (g1,) = mg.grad(y.sum(), x, create_graph=True)
    (g2,) = mg.grad(g1.sum(), x)
    close(g1, 3 * x.numpy() ** 2)
    close(g2, 6 * x.numpy())
    Cube().apply(x).sum().backward()
    close(x.grad, 3 * x.numpy() ** 2)


def test_user_defined_function_that_saves_its_output():
    x = f64([0.5, 1.5])
    y = PowerOfTwo().apply(x)
    (g1,) = mg.grad(y.sum(), x, create_graph=True)
    (g2,) = mg.grad(g1.sum(), x)
    np.testing.assert_allclose(g1.numpy(), np.exp2(x.numpy()) * math.log(2), rtol=1e-12)
    np.testing.assert_allclose(g2.numpy(), np.exp2(x.numpy()) * math.log(2) ** 2, rtol=1e-12)
    assert gradcheck(lambda x: PowerOfTwo().apply(x), [x])
    assert gradgradcheck(lambda x: PowerOfTwo().apply(x), [x])


def test_user_defined_function_with_two_outputs():
    a, b = f64([1.0, 2.0]), f64([3.0, -1.0])
    s, p = SumAndProduct().apply(a, b)
    close(s, [4.0, 1.0])
    close(p, [3.0, -2.0])
    (s * 2 + p * p).sum().backward()
    close(a.grad, 2 + 2 * p.numpy() * b.numpy())
    close(b.grad, 2 + 2 * p.numpy() * a.numpy())
    a.grad = b.grad = None
    s, p = SumAndProduct().apply(a, b)
    p.sum().backward()  # only one output used: the other's gradient counts as zero
    close(a.grad, b.numpy())
    assert gradgradcheck(lambda a, b: SumAndProduct().apply(a, b), [a, b])


class Scale(mg.Function):
    """y = a * c for a constant c: a's gradient reads c, and c (which takes no gradient) reads nothing."""

    saved_inputs = ((1,), ())

    def forward(self, a, c):
        return a * c

    def backward(self, gy):
        return gy * self.inputs[1], None


def test_user_defined_functions_save_every_input_unless_they_say_which():
    a = f64([1.0, 2.0])
    y = Cube().apply(a).sum()
    with mg.no_grad():
        a.mul_(2.0)
    with pytest.raises(RuntimeError, match=r"Cube.backward: input 0 \(shape \(2,\), float64\).*version 0 when "
                                           r"saved, 1 now"):
        y.backward()
    y = PowerOfTwo().apply(a)
    total = y.sum()
    with mg.no_grad():
        y.add_(1.0)
    with pytest.raises(RuntimeError, match=r"PowerOfTwo.backward: output 0 .*version 0 when saved, 1 now"):
        total.backward()
    c = f64([3.0, 4.0], requires_grad=False)
    y = Scale().apply(a, c).sum()
    with mg.no_grad():
        a.mul_(2.0)  # not saved: no gradient reads it
    y.backward()
    close(a.grad, [3.0, 4.0])
    y = Scale().apply(a, c).sum()
    c.mul_(2.0)
    with pytest.raises(RuntimeError, match=r"Scale.backward: input 1 .*version 0 when saved, 1 now"):
        y.backward()


def test_function_inputs_on_different_devices_or_not_tensors_raise():
    with pytest.raises(TypeError, match="Tensor"):
        Cube().apply(np.ones(2))
