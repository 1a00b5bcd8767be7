"""The CUDA kernels (kernels/<op>/cuda.py and the CUDA C of <op>.cu) against their NumPy references, against PyTorch
on the GPU, through minigan's gradient checks, run against run, and in whole DCGAN training steps against the CPU.

Hypothesis draws the cases of tests/test_kernels_cpu.py (shapes, strides, paddings, dilations, output paddings,
1x1 images, kernels larger than the image, one channel, a batch of one, both float dtypes) with their memory
layouts built on the GPU (transposed views, every other element of a bigger array whose gaps hold NaN, negative
strides), and the cases of tests/test_grad_ops.py for the gradient checks. The tolerances are those of
tests/test_kernels_cpu.py: |gpu - reference| <= rtol (|reference| + floor), the floor being the error scale of the
sum behind each element, rtol 1e-12 in float64 and 1e-5 in float32; copies (im2col) and elementwise maps (leaky
ReLU) must agree exactly. Skipped where CuPy or a GPU is missing.
"""

import math
import os
import subprocess
import sys
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from test_grad_ops import (
    away,
    batch_norm_act_leaves,
    batch_norm_shapes,
    conv2d_cases,
    conv_transpose2d_cases,
    distinct,
    normal,
    positive,
)
from test_kernels_cpu import (
    ACTIVATIONS,
    DTYPES,
    LAYOUTS,
    ODD_CONV,
    ODD_TRANSPOSED,
    RTOL,
    SPECIAL,
    ChannelStats,
    Conv,
    amax,
    batch_norms,
    convs,
    crops,
    negative_slope,
    seeds,
    slopes,
    sum_floor,
    vector,
)

import minigan as mg
import minigan.nn.functional as F
from minigan import backend, dispatch
from minigan.bench.models import MODELS, dcgan_init
from minigan.dispatch import use_kernels
from minigan.kernels import cuda as loader
from minigan.kernels.batch_norm import cuda as batch_norm_cuda
from minigan.kernels.batch_norm import reference as batch_norm_ref
from minigan.kernels.conv2d import cuda as conv2d_cuda
from minigan.kernels.conv2d import reference as conv2d_ref
from minigan.kernels.conv_transpose2d import cuda as conv_transpose2d_cuda
from minigan.kernels.conv_transpose2d import reference as conv_transpose2d_ref
from minigan.kernels.leaky_relu import cuda as leaky_relu_cuda
from minigan.kernels.leaky_relu import reference as leaky_relu_ref
from minigan.ops.batch_norm import batch_norm_act
from minigan.tensor import Tensor
from minigan.testing import gradcheck, gradgradcheck

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not backend.cuda_available(), reason="needs CuPy and a CUDA GPU")]

OPS = ("conv2d", "conv_transpose2d", "batch_norm", "leaky_relu")


@pytest.fixture(autouse=True, scope="module")
def _exact_allocations():
    """Every GPU array in an allocation of its own rather than a slice of CuPy's memory pool, so that a kernel that
    reads or writes past an array's end is caught when the tests run under
    `compute-sanitizer --tool memcheck --error-exitcode 1 python -m pytest -m gpu tests/test_kernels_cuda.py -x -q`."""
    import cupy

    cupy.cuda.set_allocator(None)
    yield
    cupy.cuda.set_allocator(cupy.get_default_memory_pool().malloc)


# ---- helpers ----

def gpu(a, layout: str = "contiguous"):
    """The values of a (a NumPy array) on the GPU, held as layout says: contiguous, a transposed view, every other
    element of a bigger array whose gaps hold NaN (so that a read outside the view shows), or negative strides."""
    import cupy

    g = cupy.asarray(np.array(a, order="C"))  # np.ascontiguousarray would make a 0-d array 1-d
    if layout == "contiguous" or g.ndim == 0:
        return g
    if layout == "transposed":
        return cupy.ascontiguousarray(g.T).T
    if layout == "strided":
        big = cupy.full(tuple(2 * s for s in g.shape), np.nan, dtype=g.dtype)
        view = big[tuple(slice(None, None, 2) for _ in g.shape)]
        view[...] = g
        return view
    if layout == "reversed":
        flip = tuple(slice(None, None, -1) for _ in g.shape)
        return cupy.ascontiguousarray(g[flip])[flip]
    raise ValueError(layout)


def host(a) -> np.ndarray:
    """A NumPy copy of a GPU array."""
    return backend.to_device(a, "cpu")


@contextmanager
def untouched(*arrays):
    """Fails if the block changes any of the GPU arrays (None entries are skipped)."""
    copies = [(a, host(a)) for a in arrays if a is not None]
    yield
    for a, before in copies:
        np.testing.assert_array_equal(host(a), before, err_msg="a kernel wrote into its input")


def assert_close(actual, expected, floor, what: str) -> None:
    """actual is a GPU array with expected's shape and dtype, and |actual - expected| <= rtol (|expected| + floor)
    elementwise (see tests/test_kernels_cpu.py)."""
    assert backend.device_of(actual) == "cuda", f"{what}: the result is not on the GPU"
    actual = host(actual)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, expected {expected.shape}"
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype}, expected {expected.dtype}"
    tiny = np.finfo(expected.dtype).tiny  # below the smallest normal number rounding errors are absolute
    tolerance = RTOL[expected.dtype] * (np.abs(expected.astype(np.float64)) + floor) + tiny
    error = np.abs(actual.astype(np.float64) - expected)
    ok = error <= tolerance  # False where either side is NaN
    if not ok.all():
        i = tuple(int(k) for k in np.unravel_index(np.argmin(np.where(ok, np.inf, tolerance - error)), ok.shape))
        raise AssertionError(f"{what}: {np.count_nonzero(~ok)} of {ok.size} elements differ; at {i}: gpu "
                             f"{float(actual[i])!r}, reference {float(expected[i])!r}, tolerance {tolerance[i]:.3g}")


def assert_same_bits(a, b, what: str) -> None:
    a, b = host(a), host(b)
    assert a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes(), f"{what}: results differ"


# ---- convolutions ----

def gpu_arrays(g: Conv, *shapes) -> tuple:
    """The NumPy arrays of the case (for the reference) and the same values on the GPU in the case's layouts."""
    arrays = g.arrays(*shapes)
    return arrays, [gpu(a, layout) for a, layout in zip(arrays, g.layouts)]


def check_conv2d(g: Conv, crop: tuple = (0, 0)):
    """forward with and without bias and with given columns; backward_filter with a gy `crop` rows and columns
    smaller than y, with the columns computed inside and given (the full convolution's, cropped inside)."""
    out = g.conv_out()
    gy_out = tuple(max(1, o - c) for o, c in zip(out, crop))
    (x, W, b, gy), (x_g, W_g, b_g, gy_g) = gpu_arrays(g, (g.n, g.c_in) + g.size, (g.c_out, g.c_in) + g.kernel,
                                                        (g.c_out,), (g.n, g.c_out) + gy_out)
    args = (g.stride, g.padding, g.dilation)
    for bias, bias_g in ((b, b_g), (None, None)):
        with untouched(x_g, W_g, bias_g):
            y = conv2d_cuda.forward(x_g, W_g, bias_g, *args)
        expected = conv2d_ref.forward(x, W, bias, *args)
        floor = sum_floor(g.c_in * math.prod(g.kernel), amax(x) * amax(W)) + amax(bias)
        assert_close(y, expected, floor, f"conv2d forward, bias {bias is not None}")
    col = conv2d_cuda.im2col(x_g, g.kernel, *args)
    assert_same_bits(conv2d_cuda.forward(x_g, W_g, None, *args, col=col), y, "conv2d forward with given columns")

    expected = conv2d_ref.backward_filter(x, gy, g.kernel, *args)
    floor = sum_floor(g.n * math.prod(gy_out), amax(x) * amax(gy))
    with untouched(x_g, gy_g, col):
        gW = conv2d_cuda.backward_filter(x_g, gy_g, g.kernel, *args)
        gW_col = conv2d_cuda.backward_filter(x_g, gy_g, g.kernel, *args, col=col)
    assert_close(gW, expected, floor, "conv2d backward_filter")
    assert_close(gW_col, expected, floor, "conv2d backward_filter with given columns")


def reference_layout(col: np.ndarray, g: Conv) -> np.ndarray:
    """The GPU columns (C kh kw, N, P, Q) in the reference's layout (N, C, kh, kw, P, Q)."""
    return col.reshape((g.c_in,) + g.kernel + col.shape[1:]).transpose(3, 0, 1, 2, 4, 5)


def check_im2col(g: Conv, crop: tuple = (0, 0)):
    """im2col (also cropped to a smaller output) is the reference's copy; col2im (with and without a bias) its
    sum of the taps that reach each pixel."""
    out = g.conv_out()
    cropped = tuple(max(1, o - c) for o, c in zip(out, crop))
    (x, c, b), (x_g, c_g, b_g) = gpu_arrays(g, (g.n, g.c_in) + g.size, (g.c_in * math.prod(g.kernel), g.n) + out,
                                            (g.c_in,))
    args = (g.stride, g.padding, g.dilation)
    with untouched(x_g):
        col = conv2d_cuda.im2col(x_g, g.kernel, *args)
        col_cropped = conv2d_cuda._columns(x_g, g.kernel, *args, out_size=cropped)
    expected = conv2d_ref.im2col(x, g.kernel, *args)
    for actual, want in ((col, expected), (col_cropped, expected[..., :cropped[0], :cropped[1]])):
        assert backend.device_of(actual) == "cuda" and actual.dtype == x.dtype
        assert actual.shape == (g.c_in * math.prod(g.kernel), g.n) + want.shape[4:]
        np.testing.assert_array_equal(reference_layout(host(actual), g), want)

    for bias, bias_g in ((b, b_g), (None, None)):
        with untouched(c_g, bias_g):
            x_back = conv2d_cuda.col2im(c_g, g.size, g.kernel, *args, bias_g)
        expected = conv2d_ref.col2im(reference_layout(c, g), g.size, g.kernel, *args)
        if bias is not None:
            expected = expected + bias.reshape(1, -1, 1, 1)
        assert_close(x_back, expected, sum_floor(math.prod(g.kernel), amax(c)) + amax(bias),
                     f"col2im, bias {bias is not None}")


def check_conv_transpose2d(g: Conv):
    """forward with and without bias; its weight gradient, conv2d's backward_filter with x and gy swapped,
    where output_padding >= stride gives a gy smaller than the full convolution of y."""
    out = g.transposed_out()
    (x, W, b, gy), (x_g, W_g, b_g, gy_g) = gpu_arrays(g, (g.n, g.c_in) + g.size, (g.c_in, g.c_out) + g.kernel,
                                                        (g.c_out,), (g.n, g.c_out) + out)
    args = (g.stride, g.padding, g.output_padding, g.dilation)
    for bias, bias_g in ((b, b_g), (None, None)):
        with untouched(x_g, W_g, bias_g):
            y = conv_transpose2d_cuda.forward(x_g, W_g, bias_g, *args)
        expected = conv_transpose2d_ref.forward(x, W, bias, *args)
        assert expected.shape == (g.n, g.c_out) + out
        floor = sum_floor(g.c_in * math.prod(g.kernel), amax(x) * amax(W)) + amax(bias)
        assert_close(y, expected, floor, f"conv_transpose2d forward, bias {bias is not None}")

    conv_args = (g.stride, g.padding, g.dilation)
    with untouched(x_g, gy_g):
        gW = conv2d_cuda.backward_filter(gy_g, x_g, g.kernel, *conv_args)
    assert_close(gW, conv2d_ref.backward_filter(gy, x, g.kernel, *conv_args),
                 sum_floor(g.n * math.prod(g.size), amax(x) * amax(gy)), "conv_transpose2d weight gradient")


@settings(max_examples=40)
@given(g=convs(), crop=crops)
def test_conv2d(g, crop):
    check_conv2d(g, crop)


@pytest.mark.parametrize("g", ODD_CONV.values(), ids=ODD_CONV.keys())
def test_conv2d_odd_geometries(g):
    check_conv2d(g, (1, 0))


@settings(max_examples=40)
@given(g=convs(), crop=crops)
def test_im2col_col2im(g, crop):
    check_im2col(g, crop)


@pytest.mark.parametrize("g", ODD_CONV.values(), ids=ODD_CONV.keys())
def test_im2col_col2im_odd_geometries(g):
    check_im2col(g, (0, 1))


@settings(max_examples=40)
@given(g=convs(transposed=True))
def test_conv_transpose2d(g):
    check_conv_transpose2d(g)


@pytest.mark.parametrize("g", ODD_TRANSPOSED.values(), ids=ODD_TRANSPOSED.keys())
def test_conv_transpose2d_odd_geometries(g):
    check_conv_transpose2d(g)


# ---- batch norm ----

channel_layouts = st.tuples(st.sampled_from(LAYOUTS), st.sampled_from(LAYOUTS), st.sampled_from(LAYOUTS))


def gpu_case(case, layouts) -> tuple:
    """x, gamma, beta, running_mean, running_var, gy of a batch_norms() case on the GPU: x, gy and the
    per-channel vectors in the three layouts."""
    x_layout, gy_layout, channel_layout = layouts
    return (gpu(case.x, x_layout), *(gpu(a, channel_layout) for a in (case.gamma, case.beta, case.running_mean,
                                                                     case.running_var)), gpu(case.gy, gy_layout))


@pytest.mark.parametrize("activation", ACTIVATIONS)
@given(case=batch_norms(), slope=slopes, layouts=channel_layouts)
def test_batch_norm_forward_train(activation, case, slope, layouts):
    """The statistics and y = act(gamma (x - mean) invstd + beta), each with the floor its error sources give (as
    in tests/test_kernels_cpu.py)."""
    s = negative_slope(activation, slope)
    x, gamma, beta, eps = case.x, case.gamma, case.beta, case.eps
    x_g, gamma_g, beta_g, *_ = gpu_case(case, layouts)
    with untouched(x_g, gamma_g, beta_g):
        y, mean, var, invstd = batch_norm_cuda.forward_train(x_g, gamma_g, beta_g, eps, s)
    e_y, e_mean, e_var, e_invstd = batch_norm_ref.forward_train(x, gamma, beta, eps, s)
    stats = ChannelStats(x, gamma, beta, e_mean, e_invstd)
    rtol = RTOL[x.dtype]
    assert_close(mean, e_mean, vector(sum_floor(stats.count, stats.max_x)), "forward_train mean")
    var_floor = rtol * stats.max_x**2
    assert_close(var, e_var, vector(var_floor), "forward_train var")
    var_to_invstd = var_floor / (stats.per_channel(e_var) + eps)
    assert_close(invstd, e_invstd, vector(stats.invstd * var_to_invstd), "forward_train invstd")
    floor = (np.abs(stats.gamma) * stats.invstd
             * (sum_floor(stats.count, stats.max_x) + stats.max_centred * (1 + var_to_invstd)) + np.abs(stats.beta))
    assert_close(y, e_y, floor * max(1.0, abs(s or 0.0)), f"forward_train y, negative_slope {s}")


@pytest.mark.parametrize("activation", ACTIVATIONS)
@given(case=batch_norms(), slope=slopes, layouts=channel_layouts)
def test_batch_norm_forward_eval(activation, case, slope, layouts):
    """y = act(x * scale + shift), scale = gamma / sqrt(running_var + eps), shift = beta - running_mean * scale:
    three terms, of sizes |x scale|, |running_mean scale| and |beta|."""
    s = negative_slope(activation, slope)
    x, gamma, beta, rm, rv, eps = case.x, case.gamma, case.beta, case.running_mean, case.running_var, case.eps
    x_g, gamma_g, beta_g, rm_g, rv_g, _ = gpu_case(case, layouts)
    with untouched(x_g, rm_g, rv_g, gamma_g, beta_g):
        y = batch_norm_cuda.forward_eval(x_g, rm_g, rv_g, gamma_g, beta_g, eps, s)
    expected = batch_norm_ref.forward_eval(x, rm, rv, gamma, beta, eps, s)
    stats = ChannelStats(x, gamma, beta, rm, 1 / np.sqrt(rv.astype(np.float64) + eps))
    floor = np.abs(stats.gamma) * stats.invstd * (stats.max_x + np.abs(stats.mean)) + np.abs(stats.beta)
    assert_close(y, expected, floor * max(1.0, abs(s or 0.0)), f"forward_eval, negative_slope {s}")


@pytest.mark.parametrize("activation", ACTIVATIONS)
@given(case=batch_norms(), slope=slopes, layouts=channel_layouts)
def test_batch_norm_backward(activation, case, slope, layouts):
    """gbeta and ggamma are sums of gz and gz x_hat; gx = gamma invstd (gz - mean(gz) - x_hat mean(gz x_hat)).
    Draws with an element whose z lies within rounding of the kink are left out (either side is right there),
    unless gamma or x_hat is exactly 0, as in tests/test_kernels_cpu.py."""
    s = negative_slope(activation, slope)
    x, gamma, beta, gy = case.x, case.gamma, case.beta, case.gy
    _, mean, _, invstd = batch_norm_ref.forward_train(x, gamma, beta, case.eps)
    stats = ChannelStats(x, gamma, beta, mean, invstd)
    if s is not None:
        z_floor = np.abs(stats.gamma) * stats.invstd * sum_floor(stats.count, stats.max_x) + np.abs(stats.beta)
        assume(np.all((np.abs(stats.z) > 10 * RTOL[x.dtype] * z_floor) | (stats.gamma == 0) | (stats.x_hat == 0)))
    x_g, gamma_g, beta_g, _, _, gy_g = gpu_case(case, layouts)
    mean_g, invstd_g = gpu(mean, layouts[2]), gpu(invstd, layouts[2])
    with untouched(x_g, gamma_g, beta_g, mean_g, invstd_g, gy_g):
        gx, ggamma, gbeta = batch_norm_cuda.backward(x_g, gamma_g, beta_g, mean_g, invstd_g, gy_g, s)
    e_gx, e_ggamma, e_gbeta = batch_norm_ref.backward(x, gamma, beta, mean, invstd, gy, s)

    gz = gy.astype(np.float64)
    if s is not None:
        gz = np.where(stats.z > 0, gz, s * gz)
    max_gz, max_gzx = stats.channel_max(gz), stats.channel_max(gz * stats.x_hat)
    assert_close(gbeta, e_gbeta, vector(sum_floor(stats.count, max_gz)), f"gbeta, negative_slope {s}")
    assert_close(ggamma, e_ggamma, vector(sum_floor(stats.count, max_gzx)), f"ggamma, negative_slope {s}")
    floor = np.abs(stats.gamma) * stats.invstd * (max_gz + stats.channel_max(stats.x_hat) * max_gzx)
    assert_close(gx, e_gx, floor, f"gx, negative_slope {s}")


LARGE_BATCH_NORMS = {  # several blocks per channel (batch_norm_cuda.PER_BLOCK elements each), and a ragged last one
    "4d-4-blocks": (64, 3, 16, 16),
    "4d-ragged": (3, 2, 50, 41),
    "2d-one-block": (4096, 3),
    "2d-ragged": (5001, 2),
    "3d": (7, 5, 1500),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", LARGE_BATCH_NORMS.values(), ids=LARGE_BATCH_NORMS.keys())
def test_batch_norm_large(shape, dtype):
    """Statistics merged from several blocks per channel, with a mean far from 0 against the spread (1000 against
    1): the variance must stay accurate relative to itself, which Welford's update and Chan's merge give."""
    rng = np.random.default_rng(0)
    c = shape[1]
    x = (1000 + rng.standard_normal(shape)).astype(dtype)
    gamma, beta = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
    gy = rng.standard_normal(shape).astype(dtype)
    x_g, gamma_g, beta_g, gy_g = gpu(x), gpu(gamma), gpu(beta), gpu(gy)
    y, mean, var, invstd = batch_norm_cuda.forward_train(x_g, gamma_g, beta_g, 1e-5, 0.2)
    x64 = x.astype(np.float64)
    axes = (0,) + tuple(range(2, x.ndim))
    exact_mean, exact_var = x64.mean(axes), x64.var(axes)  # float64 two-pass sums: exact enough for either dtype
    rtol = 1e-12 if dtype == "float64" else 1e-6
    np.testing.assert_allclose(host(mean), exact_mean, rtol=rtol)
    np.testing.assert_allclose(host(var), exact_var, rtol=1e3 * rtol)  # M2 loses the digits that the mean had
    gamma64, beta64 = gamma.astype(np.float64), beta.astype(np.float64)
    e_y = batch_norm_ref.forward_train(x64, gamma64, beta64, 1e-5, 0.2)[0]
    np.testing.assert_allclose(host(y), e_y, rtol=1e3 * rtol, atol=1e3 * rtol)
    # without the activation: in float32, z = x scale + shift cancels about 1000 against 1000, and an element within
    # that rounding of the kink could be gated on either side
    gx, ggamma, gbeta = batch_norm_cuda.backward(x_g, gamma_g, beta_g, mean, invstd, gy_g)
    e_gx, e_ggamma, e_gbeta = batch_norm_ref.backward(x64, gamma64, beta64, host(mean).astype(np.float64),
                                                      host(invstd).astype(np.float64), gy.astype(np.float64))
    count = x.size // c
    for what, actual, expected in (("gbeta", gbeta, e_gbeta), ("ggamma", ggamma, e_ggamma), ("gx", gx, e_gx)):
        scale = math.sqrt(count) * np.abs(expected).max() if what != "gx" else np.abs(expected).max()
        np.testing.assert_allclose(host(actual), expected, rtol=1e3 * rtol, atol=1e3 * rtol * scale, err_msg=what)


# ---- leaky ReLU ----

@given(shape=st.lists(st.integers(1, 5), min_size=0, max_size=4).map(tuple),
       slope=st.sampled_from([0.0, 0.01, 0.2, 1.0]) | st.floats(-3.0, 3.0), dtype=st.sampled_from(DTYPES),
       layouts=st.tuples(st.sampled_from(LAYOUTS), st.sampled_from(LAYOUTS)), seed=seeds)
def test_leaky_relu(shape, slope, dtype, layouts, seed):
    """Elementwise, so exact: the same values (NaN where the reference has NaN), at the kink x = 0 too.

    CuPy compiles every kernel with -ftz=true, so in float32 a subnormal number (below 1.2e-38) is read and written
    as 0: results the reference makes subnormal compare as 0, and a slope that is subnormal in float32 (which would
    turn -inf * slope into NaN) is not drawn."""
    tiny = np.finfo(np.float32).tiny
    if dtype == "float32":
        assume(not 0 < abs(np.float32(slope)) < tiny)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    special = rng.random(shape) < 0.25
    x[special] = rng.choice(SPECIAL, np.count_nonzero(special))
    x, gy = x.astype(dtype), rng.standard_normal(shape).astype(dtype)
    x_g, gy_g = gpu(x, layouts[0]), gpu(gy, layouts[1])
    with untouched(x_g, gy_g):
        y = leaky_relu_cuda.forward(x_g, slope)
        gx = leaky_relu_cuda.backward(x_g, gy_g, slope)
    with np.errstate(invalid="ignore"):  # inf * 0 in the reference
        expected_y = leaky_relu_ref.forward(x, slope)
    expected_gx = leaky_relu_ref.backward(x, gy, slope)
    for actual, expected in ((y, expected_y), (gx, expected_gx)):
        assert backend.device_of(actual) == "cuda"
        actual = host(actual)
        assert actual.shape == expected.shape and actual.dtype == expected.dtype == np.dtype(dtype)
        if dtype == "float32":
            actual, expected = (np.where(np.abs(a) < tiny, 0, a) for a in (actual, expected))
        np.testing.assert_array_equal(actual, expected)


# ---- gradients of the ops on the GPU, through the CUDA kernels ----

def cuda_leaf(a, layout: str = "contiguous") -> Tensor:
    """A float64 GPU leaf that requires grad, holding a laid out as layout says."""
    return Tensor(gpu(np.asarray(a, dtype=np.float64), layout), requires_grad=True)


def check(fn, inputs) -> None:
    """fn's first and second derivatives on the GPU, with the CUDA kernels, match finite differences."""
    assert all(dispatch.choose(op, inputs[0].data) == "cuda" for op in OPS)
    assert gradcheck(fn, inputs)
    assert gradgradcheck(fn, inputs)


layouts3 = st.tuples(st.sampled_from(LAYOUTS), st.sampled_from(LAYOUTS), st.sampled_from(LAYOUTS))


@settings(max_examples=10)
@given(case=conv2d_cases(), bias=st.booleans(), seed=seeds, layouts=layouts3)
def test_conv2d_gradients(case, bias, seed, layouts):
    x_shape, w_shape, stride, padding, dilation = case
    rng = np.random.default_rng(seed)
    inputs = [cuda_leaf(normal(rng, x_shape), layouts[0]), cuda_leaf(normal(rng, w_shape, 0.5), layouts[1])]
    if bias:
        inputs.append(cuda_leaf(normal(rng, w_shape[0]), layouts[2]))
    check(lambda x, W, b=None: F.conv2d(x, W, b, stride, padding, dilation), inputs)


@settings(max_examples=10)
@given(case=conv_transpose2d_cases(), bias=st.booleans(), seed=seeds, layouts=layouts3)
def test_conv_transpose2d_gradients(case, bias, seed, layouts):
    x_shape, w_shape, stride, padding, output_padding, dilation = case
    rng = np.random.default_rng(seed)
    inputs = [cuda_leaf(normal(rng, x_shape), layouts[0]), cuda_leaf(normal(rng, w_shape, 0.5), layouts[1])]
    if bias:
        inputs.append(cuda_leaf(normal(rng, w_shape[1]), layouts[2]))
    check(lambda x, W, b=None: F.conv_transpose2d(x, W, b, stride, padding, output_padding, dilation), inputs)


@pytest.mark.parametrize("ndim", [2, 3, 4])
@settings(max_examples=8)
@given(data=st.data(), training=st.booleans(), seed=seeds, layouts=layouts3)
def test_batch_norm_gradients(ndim, data, training, seed, layouts):
    """Batch statistics (updating running ones) or running statistics, with weight and bias."""
    shape = data.draw(batch_norm_shapes(ndim))
    rng = np.random.default_rng(seed)
    c = shape[1]
    inputs = [cuda_leaf(distinct(rng, shape, 0.3), layouts[0]), cuda_leaf(positive(rng, c), layouts[1]),
              cuda_leaf(normal(rng, c), layouts[2])]
    mean, var = mg.tensor(normal(rng, c), device="cuda"), mg.tensor(positive(rng, c), device="cuda")
    check(lambda x, w, b: F.batch_norm(x, mean, var, w, b, training=training, eps=1e-3), inputs)


@pytest.mark.parametrize("ndim", [2, 4])
@settings(max_examples=8)
@given(data=st.data(), training=st.booleans(), slope=st.sampled_from([0.0, 0.2]), seed=seeds, layout=st.sampled_from(
    LAYOUTS))
def test_batch_norm_act_gradients(ndim, data, training, slope, seed, layout):
    """Batch norm fused with a leaky ReLU (slope 0: ReLU), every pre-activation away from the kink."""
    shape = data.draw(batch_norm_shapes(ndim))
    x, w, b, running = batch_norm_act_leaves(np.random.default_rng(seed), shape, training, "contiguous", 1e-3)
    inputs = [cuda_leaf(t.numpy(), layout) for t in (x, w, b)]
    mean, var = (None, None) if running[0] is None else (t.to("cuda") for t in running)
    check(lambda x, w, b: batch_norm_act(x, mean, var, w, b, training, eps=1e-3, negative_slope=slope), inputs)


@settings(max_examples=10)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple), slope=slopes, seed=seeds,
       layout=st.sampled_from(LAYOUTS))
def test_leaky_relu_gradients(shape, slope, seed, layout):
    x = cuda_leaf(away(np.random.default_rng(seed), shape), layout)
    check(lambda x: F.leaky_relu(x, slope), [x])


# ---- bit-reproducibility ----

def every_kernel(dtype) -> list:
    """The outputs of every CUDA kernel on fixed inputs of DCGAN-like shapes (batch norm over several blocks per
    channel)."""
    rng = np.random.default_rng(0)

    def draw(*shape):
        return gpu(rng.standard_normal(shape).astype(dtype))

    x, W, b, gy = draw(8, 16, 16, 16), draw(32, 16, 5, 5), draw(32), draw(8, 32, 8, 8)
    geometry = ((2, 2), (2, 2), (1, 1))
    col = conv2d_cuda.im2col(x, (5, 5), *geometry)
    out = [col, conv2d_cuda.forward(x, W, b, *geometry), conv2d_cuda.backward_filter(x, gy, (5, 5), *geometry),
           conv2d_cuda.col2im(col, (16, 16), (5, 5), *geometry, draw(16)),
           conv_transpose2d_cuda.forward(gy, W, draw(16), (2, 2), (2, 2), (1, 1), (1, 1))]
    xb, gamma, beta, gyb = draw(32, 4, 32, 32), draw(4), draw(4), draw(32, 4, 32, 32)
    y, mean, var, invstd = batch_norm_cuda.forward_train(xb, gamma, beta, 1e-5, 0.2)
    out += [y, mean, var, invstd, *batch_norm_cuda.backward(xb, gamma, beta, mean, invstd, gyb, 0.2)]
    out += [batch_norm_cuda.forward_eval(xb, mean, var, gamma, beta, 1e-5, 0.0)]
    out += [leaky_relu_cuda.forward(xb, 0.2), leaky_relu_cuda.backward(xb, gyb, 0.2)]
    return out


@pytest.mark.parametrize("dtype", DTYPES)
def test_kernels_are_bit_reproducible(dtype):
    """No atomics: two runs give the same bits."""
    for k, (a, b) in enumerate(zip(every_kernel(dtype), every_kernel(dtype), strict=True)):
        assert_same_bits(a, b, f"output {k}")


# ---- the kernel set, and the loader ----

def test_cuda_kernels_are_selected_on_the_gpu():
    import cupy

    x, x_cpu = cupy.zeros((1, 1, 2, 2)), np.zeros((1, 1, 2, 2))
    for op in OPS:
        assert dispatch.choose(op, x) == "cuda"
        assert dispatch.choose(op, x_cpu) == "cpu"
        with use_kernels("reference"):
            assert dispatch.choose(op, x) == "reference"
    assert dispatch.choose("adam", x) == "reference"  # no CUDA kernel yet


def test_minigan_kernels_reference_selects_the_reference_on_the_gpu():
    code = "import cupy, minigan.dispatch as d; print(d.kernel('conv2d', d.choose('conv2d', cupy.zeros(1))).__name__)"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for value, module in (("reference", "minigan.kernels.conv2d.reference"), ("fast", "minigan.kernels.conv2d.cuda")):
        env = dict(os.environ, MINIGAN_KERNELS=value)
        run = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True,
                             timeout=120, check=False)
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip() == module


def test_loader():
    """Python ints become int32; Python floats, non-contiguous arrays and other dtypes are refused with the
    operator's name; a source is compiled once per process."""
    import cupy

    assert type(loader._argument("conv2d", 3)) is np.int32
    with pytest.raises(TypeError, match="conv2d"):
        loader._argument("conv2d", 0.5)
    with pytest.raises(ValueError, match="conv2d.*contiguous"):
        loader._argument("conv2d", cupy.zeros((3, 4)).T)
    with pytest.raises(TypeError, match="conv2d.*float16"):
        conv2d_cuda.im2col(cupy.zeros((1, 1, 2, 2), dtype=cupy.float16), (1, 1), (1, 1), (0, 0), (1, 1))
    x = cupy.ones((2, 3, 4, 4), dtype=cupy.float32)
    conv2d_cuda.im2col(x, (3, 3), (1, 1), (1, 1), (1, 1))
    compiled = loader._module.cache_info().currsize
    conv2d_cuda.im2col(x.astype(cupy.float64), (3, 3), (1, 1), (1, 1), (1, 1))
    assert loader._module.cache_info().currsize == compiled


# ---- against PyTorch on the GPU ----

@pytest.fixture
def torch_cuda():
    """torch, with CUDA and TF32 off (a true float32 comparison), or a skip."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs PyTorch with CUDA")
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield torch
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def value_and_gradients(framework, fn, arrays) -> list:
    """fn(*inputs) and the gradients of <gy, fn> with respect to the inputs (gy drawn from a fixed seed), as NumPy
    arrays, computed on the GPU by minigan (framework None) or by torch from the same float32 values."""
    if framework is None:
        inputs = [mg.tensor(a, device="cuda", requires_grad=True) for a in arrays]
        y = fn(*inputs)
        gy = np.random.default_rng(7).standard_normal(y.shape).astype(np.float32)
        grads = mg.grad(y, inputs, grad_outputs=mg.tensor(gy, device="cuda"))
        return [y.numpy()] + [g.numpy() for g in grads]
    torch = framework
    inputs = [torch.tensor(a, device="cuda", requires_grad=True) for a in arrays]
    y = fn(*inputs)
    gy = np.random.default_rng(7).standard_normal(tuple(y.shape)).astype(np.float32)
    grads = torch.autograd.grad(y, inputs, grad_outputs=torch.tensor(gy, device="cuda"))
    return [y.detach().cpu().numpy()] + [g.cpu().numpy() for g in grads]


def check_against_torch(torch, make_fn, arrays, rtol: float = 1e-4) -> None:
    """minigan's and torch's values and gradients agree in float32: |a - e| <= rtol (|e| + max|e|). make_fn(f)
    gives the function to compare, written with f = minigan.nn.functional or torch.nn.functional."""
    arrays = [a.astype(np.float32) for a in arrays]
    mine = value_and_gradients(None, make_fn(F), arrays)
    theirs = value_and_gradients(torch, make_fn(torch.nn.functional), arrays)
    for k, (a, e) in enumerate(zip(mine, theirs, strict=True)):
        assert a.shape == e.shape and a.dtype == e.dtype == np.float32, f"output {k}: {a.shape} {e.shape} {a.dtype}"
        scale = float(np.abs(e).max()) if e.size else 0.0
        np.testing.assert_allclose(a, e, rtol=rtol, atol=rtol * scale, err_msg=f"output {k} (0: the value)")


TORCH_CONV = {  # x shape, W shape, stride, padding, dilation
    "dcgan-5x5-s2-p2": ((8, 16, 16, 16), (32, 16, 5, 5), 2, 2, 1),
    "dcgan-4x4-s2-p1": ((8, 16, 16, 16), (32, 16, 4, 4), 2, 1, 1),
    "odd": ((3, 3, 7, 5), (4, 3, 3, 2), (2, 1), (1, 0), (1, 2)),
    "1x1-image-3x3-kernel": ((2, 4, 1, 1), (3, 4, 3, 3), 1, 1, 1),
}


@pytest.mark.parametrize("case", TORCH_CONV.values(), ids=TORCH_CONV.keys())
def test_conv2d_against_torch(torch_cuda, case):
    x_shape, w_shape, stride, padding, dilation = case
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal(x_shape), 0.1 * rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])]
    def make(f):
        return lambda x, W, b: f.conv2d(x, W, b, stride=stride, padding=padding, dilation=dilation)

    check_against_torch(torch_cuda, make, arrays)


TORCH_CONV_TRANSPOSE = {  # x shape, W shape, stride, padding, output_padding, dilation
    "dcgan-5x5-s2-p2-op1": ((8, 32, 4, 4), (32, 16, 5, 5), 2, 2, 1, 1),
    "dcgan-4x4-s2-p1": ((8, 32, 4, 4), (32, 16, 4, 4), 2, 1, 0, 1),
    "dcgan-first-4x4-s1-p0": ((8, 20, 1, 1), (20, 16, 4, 4), 1, 0, 0, 1),
    "output-padding-from-dilation": ((2, 3, 3, 3), (3, 2, 3, 3), 1, 1, 1, 2),
}


@pytest.mark.parametrize("case", TORCH_CONV_TRANSPOSE.values(), ids=TORCH_CONV_TRANSPOSE.keys())
def test_conv_transpose2d_against_torch(torch_cuda, case):
    x_shape, w_shape, stride, padding, output_padding, dilation = case
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal(x_shape), 0.1 * rng.standard_normal(w_shape), rng.standard_normal(w_shape[1])]

    def make(f):  # by keyword: torch's seventh argument is groups
        return lambda x, W, b: f.conv_transpose2d(x, W, b, stride=stride, padding=padding,
                                                  output_padding=output_padding, dilation=dilation)

    check_against_torch(torch_cuda, make, arrays)


@pytest.mark.parametrize("slope", [None, 0.0, 0.2])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(16, 8, 6, 6), (32, 24)])
def test_batch_norm_against_torch(torch_cuda, shape, training, slope):
    """batch_norm then leaky_relu (or relu, or nothing), and the running statistics it updates."""
    rng = np.random.default_rng(3)
    c = shape[1]
    arrays = [2 * rng.standard_normal(shape) + 1, 1 + 0.1 * rng.standard_normal(c), 0.1 * rng.standard_normal(c)]
    start_mean, start_var = rng.standard_normal(c).astype(np.float32), np.exp(rng.standard_normal(c)).astype(
        np.float32)
    running = {}

    def make(f):
        if f is F:
            mean, var = mg.tensor(start_mean, device="cuda"), mg.tensor(start_var, device="cuda")
        else:
            torch = torch_cuda
            mean, var = torch.tensor(start_mean, device="cuda"), torch.tensor(start_var, device="cuda")
        running.setdefault(f is F, (mean, var))

        def fn(x, w, b):
            z = f.batch_norm(x, mean, var, w, b, training=training, momentum=0.1, eps=1e-5)
            return z if slope is None else f.leaky_relu(z, slope)
        return fn

    check_against_torch(torch_cuda, make, arrays)
    if training:
        ours, theirs = running[True], running[False]
        for a, e in zip(ours, theirs):
            np.testing.assert_allclose(a.numpy(), e.cpu().numpy(), rtol=1e-5, atol=1e-5)


def test_leaky_relu_against_torch(torch_cuda):
    x = np.random.default_rng(4).standard_normal((4, 3, 5, 5))
    x[0, 0, 0] = 0.0
    check_against_torch(torch_cuda, lambda f: (lambda x: f.leaky_relu(x, 0.2)), [x], rtol=1e-6)


# ---- a whole DCGAN training step, on the GPU and on the CPU ----

def dcgan_weights(model: str) -> dict:
    """DCGAN-initialised weights and buffers (minigan's generator, seed 0) as NumPy arrays, for every run to start
    from."""
    mg.manual_seed(0)
    g, d, _, _ = MODELS[model](mg.nn)
    weights = {}
    for name, net in (("g", g), ("d", d)):
        dcgan_init(mg.nn, net)
        weights[name] = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    return weights


class GANStep:
    """Models, Adam optimizers and fixed data on one device; calling it runs one training step (a discriminator
    update on a real and a generated batch, then a generator update, non-saturating BCE-with-logits losses)."""

    def __init__(self, model: str, device: str, dtype, weights: dict, batch: int):
        self.g, self.d, nz, image = MODELS[model](mg.nn)
        for net, name in ((self.g, "g"), (self.d, "d")):
            net.load_state_dict(weights[name])
            net.to(device, dtype)
        self.opt_g = mg.optim.Adam(self.g.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_d = mg.optim.Adam(self.d.parameters(), lr=2e-4, betas=(0.5, 0.999))
        rng = np.random.default_rng(1)
        noise_shape = (batch, nz, 1, 1) if model == "dcgan64" else (batch, nz)
        self.real = mg.tensor(np.tanh(rng.standard_normal((batch, *image))).astype(dtype), device=device)
        self.noise = mg.tensor(rng.standard_normal(noise_shape).astype(dtype), device=device)

    def __call__(self) -> tuple[float, float]:
        bce = F.binary_cross_entropy_with_logits
        fake = self.g(self.noise)
        self.opt_d.zero_grad()
        out_real, out_fake = self.d(self.real), self.d(fake.detach())
        loss_d = bce(out_real, mg.ones_like(out_real)) + bce(out_fake, mg.zeros_like(out_fake))
        loss_d.backward()
        self.opt_d.step()
        self.opt_g.zero_grad()
        out = self.d(fake)
        loss_g = bce(out, mg.ones_like(out))
        loss_g.backward()
        self.opt_g.step()
        return loss_d.item(), loss_g.item()

    def state(self) -> dict:
        """Every parameter and buffer of both networks, as NumPy arrays."""
        return {f"{name}.{k}": v.numpy() for name, net in (("g", self.g), ("d", self.d))
                for k, v in net.state_dict().items()}


@pytest.mark.parametrize("model", ["seed32", "dcgan64"])
def test_dcgan_step_on_the_gpu_matches_the_cpu(model):
    """Same weights, same data: in float64 three steps give the same losses and weights (to rounding) on both
    devices; in float32 the first step gives the same losses (later steps may differ where Adam's first update,
    about lr sign(gradient), sees a gradient within rounding of 0)."""
    weights = dcgan_weights(model)
    cpu, gpu_step = (GANStep(model, device, np.float64, weights, batch=8) for device in ("cpu", "cuda"))
    for step in range(3):
        np.testing.assert_allclose(gpu_step(), cpu(), rtol=1e-9, err_msg=f"float64 losses, step {step}")
    mine, expected = gpu_step.state(), cpu.state()
    for k in expected:
        np.testing.assert_allclose(mine[k], expected[k], rtol=1e-7, atol=1e-9, err_msg=k)

    cpu, gpu_step = (GANStep(model, device, np.float32, weights, batch=8) for device in ("cpu", "cuda"))
    np.testing.assert_allclose(gpu_step(), cpu(), rtol=1e-4, err_msg="float32 losses, first step")


def test_dcgan_step_on_the_gpu_is_bit_reproducible():
    """Two runs of two float32 steps from the same state give the same losses and the same bits in every weight."""
    weights = dcgan_weights("seed32")
    runs = []
    for _ in range(2):
        step = GANStep("seed32", "cuda", np.float32, weights, batch=16)
        losses = [step() for _ in range(2)]
        runs.append((losses, step.state()))
    assert runs[0][0] == runs[1][0]
    for k, a in runs[0][1].items():
        assert a.tobytes() == runs[1][1][k].tobytes(), k
