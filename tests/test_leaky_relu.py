"""leaky_relu: every variant of kernels/leaky_relu on every device present, against the reference; the reference
against PyTorch; and F.leaky_relu and F.relu through each variant, against finite differences.

Elementwise, so the variants must agree exactly: the same values (NaN where the reference has NaN), at the kink
x = 0 (the slope side) and at signed zeros and infinities too.
"""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minigan.nn.functional as F
from minigan import backend, dispatch
from minigan.testing import assert_same_bits, check_function, host, place, untouched
from minigan.testing.strategies import away_from_kinks, dtypes, layouts, seeds, shapes

OPERATOR = "leaky_relu"
SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan])
slopes = st.sampled_from([0.0, 0.01, 0.2, 1.0]) | st.floats(-3.0, 3.0)
reference = dispatch.kernel(OPERATOR, "reference")


def flush_subnormals(a: np.ndarray) -> np.ndarray:
    """a with float32 subnormal numbers read as 0: CuPy compiles every GPU kernel with -ftz=true."""
    return np.where(np.abs(a) < np.finfo(np.float32).tiny, 0, a)


@given(shape=st.lists(st.integers(1, 5), min_size=0, max_size=4).map(tuple), slope=slopes, dtype=dtypes(),
       layout=st.tuples(layouts(), layouts()), seed=seeds())
def test_matches_the_reference(variant, device, shape, slope, dtype, layout, seed):
    """Forward and backward equal the reference's to the bit, with a quarter of the inputs special values.

    On the GPU float32 subnormal numbers (below 1.2e-38) are read and written as 0: results the reference makes
    subnormal compare as 0, and a slope that is subnormal in float32 (which would turn -inf * slope into NaN) is
    not drawn."""
    if device == "cuda" and dtype == "float32":
        assume(not 0 < abs(np.float32(slope)) < np.finfo(np.float32).tiny)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    special = rng.random(shape) < 0.25
    x[special] = rng.choice(SPECIAL, np.count_nonzero(special))
    x, gy = x.astype(dtype), rng.standard_normal(shape).astype(dtype)
    kernel = dispatch.kernel(OPERATOR, variant)
    x_d, gy_d = place(x, device, layout[0]), place(gy, device, layout[1])
    with untouched(x_d, gy_d), np.errstate(invalid="ignore"):  # inf * 0 in the reference on either device
        y = kernel.forward(x_d, slope)
        gx = kernel.backward(x_d, gy_d, slope)
    with np.errstate(invalid="ignore"):
        expected_y = reference.forward(x, slope)
    expected_gx = reference.backward(x, gy, slope)
    for what, actual, expected in (("forward", y, expected_y), ("backward", gx, expected_gx)):
        assert backend.device_of(actual) == device, f"{what}: computed off the {device}"
        actual = host(actual)
        assert actual.shape == expected.shape and actual.dtype == expected.dtype == np.dtype(dtype), what
        if device == "cuda" and dtype == "float32":
            actual, expected = flush_subnormals(actual), flush_subnormals(expected)
        np.testing.assert_array_equal(actual, expected, err_msg=what)


def test_runs_are_bit_reproducible(variant, device):
    """Two runs on the same inputs give the same bits."""
    kernel = dispatch.kernel(OPERATOR, variant)
    for dtype in ("float64", "float32"):
        rng = np.random.default_rng(0)
        x, gy = (place(rng.standard_normal((32, 4, 32, 32)), device, dtype=dtype) for _ in range(2))
        runs = [[kernel.forward(x, 0.2), kernel.backward(x, gy, 0.2)] for _ in range(2)]
        for k, (a, b) in enumerate(zip(*runs, strict=True)):
            assert_same_bits(a, b, f"{dtype} output {k}")


@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=4), slope=st.sampled_from([0.0, 0.01, 0.2, 1.0, 3.0]),
       dtype=dtypes(), layout=layouts(), seed=seeds())
def test_reference_against_torch(torch_cpu, shape, slope, dtype, layout, seed):
    """The reference is torch's leaky_relu to the bit, forward and backward; at the kink the gradient is taken from
    the slope side, as PyTorch does."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    x[rng.random(shape) < 0.2] = 0.0
    x, gy = place(x, layout=layout), place(rng.standard_normal(shape).astype(dtype), layout=layout)
    x_t = torch_cpu.tensor(np.ascontiguousarray(x)).requires_grad_()
    y_t = torch_cpu.nn.functional.leaky_relu(x_t, slope)
    y_t.backward(torch_cpu.tensor(np.ascontiguousarray(gy)))
    y, gx = reference.forward(x, slope), reference.backward(x, gy, slope)
    assert y.dtype == x.dtype and gx.dtype == x.dtype
    np.testing.assert_array_equal(y, y_t.detach().numpy())
    np.testing.assert_array_equal(gx, x_t.grad.numpy())


# ---- through minigan.nn.functional ----

def leaky(x, slope):
    return np.where(x > 0, x, slope * x)


def test_leaky_relu_gradients(variant, device, selected):
    """F.leaky_relu with a drawn slope: the forward, first and second derivatives, inputs away from the kink in
    every layout."""
    check_function(F.leaky_relu, leaky, st.tuples(away_from_kinks(shapes()), st.floats(-1.0, 2.0)), device=device,
                   max_examples=40)


@pytest.mark.parametrize("form", ["function", "method"])
def test_relu_gradients(variant, device, selected, form):
    """F.relu and Tensor.relu (leaky_relu with slope 0)."""
    relu = F.relu if form == "function" else (lambda x: x.relu())
    check_function(relu, lambda x: leaky(x, 0.0), [away_from_kinks(shapes())], device=device, max_examples=30)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_derivatives_match_the_reference_on_the_cpu(variant, device, derivatives_match, dtype):
    """Value, gradient and second derivative, with an element at the kink."""
    x = np.random.default_rng(1).standard_normal((4, 3, 5, 5))
    x[0, 0, 0] = 0.0
    derivatives_match(lambda x: F.leaky_relu(x, 0.2), [x], dtype)


def test_against_torch(variant, device, selected, matches_torch):
    """F.leaky_relu's value and gradient in float32 against torch's on the same device."""
    x = np.random.default_rng(4).standard_normal((4, 3, 5, 5))
    x[0, 0, 0] = 0.0
    matches_torch(lambda f: (lambda x: f.leaky_relu(x, 0.2)), [x], rtol=1e-6)
