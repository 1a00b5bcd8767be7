"""The Numba kernels (kernels/<op>/cpu.py) against their NumPy references, one public function at a time.

Hypothesis draws shapes, strides, paddings, dilations and output paddings, odd sizes (1x1 images, kernels larger
than the image, strides larger than the kernel, one channel, a batch of one), memory layouts (transposed views,
every other element of a bigger array, negative strides) and both float dtypes. Each check compares values,
shapes and dtypes, and that the kernel left its inputs as they were. The last tests cover how the kernel set is
chosen: MINIGAN_KERNELS at start-up and use_kernels at run time.

Tolerances. An output of a convolution or of a batch-norm reduction is a sum of K terms, and the two sides add
them in different orders (BLAS GEMM blocks, NumPy's tensordot and pairwise sums, Numba loops with float64
accumulators), so they differ by rounding. With unit roundoff u (6e-8 in float32, 1.1e-16 in float64) each
addition errs by at most u times its partial sum. For terms of random sign the partial sums stay near
sqrt(K) max|term|, and blocked or pairwise summation keeps the chain of additions behind any element short, so
the difference is a small multiple of u sqrt(K) max|term|; where the terms share a sign the error is relative,
a small multiple of u |sum|. Hence the check
    |cpu - reference| <= rtol (|reference| + floor),   floor = sqrt(K) max|term| for a sum of K terms,
with rtol 1e-5 in float32 (about 80 u) and 1e-12 in float64 (about 9000 u). A wrong index, a missing tap or a
misplaced bias moves an element by a whole term: for the K drawn here (at most a few hundred) that is a hundred
times the float32 tolerance and millions of times the float64 one. Copies (im2col) and elementwise maps (leaky
ReLU) must agree exactly.
"""

import math
import os
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from minigan import dispatch
from minigan.kernels.adam import cpu as adam_cpu
from minigan.kernels.adam import reference as adam_ref
from minigan.kernels.batch_norm import cpu as batch_norm_cpu
from minigan.kernels.batch_norm import reference as batch_norm_ref
from minigan.kernels.conv2d import cpu as conv2d_cpu
from minigan.kernels.conv2d import reference as conv2d_ref
from minigan.kernels.conv_transpose2d import cpu as conv_transpose2d_cpu
from minigan.kernels.conv_transpose2d import reference as conv_transpose2d_ref
from minigan.kernels.leaky_relu import cpu as leaky_relu_cpu
from minigan.kernels.leaky_relu import reference as leaky_relu_ref

RTOL = {np.dtype("float64"): 1e-12, np.dtype("float32"): 1e-5}
DTYPES = ["float64", "float32"]
LAYOUTS = ["contiguous", "transposed", "strided", "reversed"]
seeds = st.integers(0, 2**32 - 1)


# ---- helpers ----

def relayout(a: np.ndarray, layout: str) -> np.ndarray:
    """The values of a held in another memory order: a transposed view, every other element of a bigger array
    (whose gaps hold NaN, so that a read outside the view shows), or a view with negative strides on every axis."""
    if layout == "contiguous" or a.ndim == 0:
        return a.copy()
    if layout == "transposed":
        return np.ascontiguousarray(a.T).T
    if layout == "strided":
        big = np.full(tuple(2 * s for s in a.shape), np.nan, dtype=a.dtype)
        view = big[tuple(slice(None, None, 2) for _ in a.shape)]
        view[...] = a
        return view
    if layout == "reversed":
        flip = tuple(slice(None, None, -1) for _ in a.shape)
        return np.ascontiguousarray(a[flip])[flip]
    raise ValueError(layout)


@contextmanager
def untouched(*arrays):
    """Fails if the block changes any of the arrays (None entries are skipped)."""
    copies = [(a, a.copy()) for a in arrays if a is not None]
    yield
    for a, before in copies:
        np.testing.assert_array_equal(a, before, err_msg="a kernel wrote into its input")


def assert_close(actual, expected, floor, what: str) -> None:
    """Same shape and dtype, and |actual - expected| <= rtol (|expected| + floor) elementwise (see the top)."""
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, expected {expected.shape}"
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype}, expected {expected.dtype}"
    # below the smallest normal number (finfo.tiny) rounding errors are absolute, not relative
    tiny = np.finfo(expected.dtype).tiny
    tolerance = RTOL[expected.dtype] * (np.abs(expected.astype(np.float64)) + floor) + tiny
    error = np.abs(actual.astype(np.float64) - expected)
    ok = error <= tolerance  # False where either side is NaN
    if not ok.all():
        i = tuple(int(k) for k in np.unravel_index(np.argmin(np.where(ok, np.inf, tolerance - error)), ok.shape))
        raise AssertionError(f"{what}: {np.count_nonzero(~ok)} of {ok.size} elements differ; at {i}: cpu "
                             f"{float(actual[i])!r}, reference {float(expected[i])!r}, tolerance {tolerance[i]:.3g}")


def sum_floor(k: int, max_term: float) -> float:
    """The error scale of a sum of k terms: sqrt(k) max|term|."""
    return math.sqrt(k) * max_term


def amax(a) -> float:
    return float(np.abs(a).max()) if a is not None and a.size else 0.0


# ---- convolutions ----

@dataclass
class Conv:
    """A convolution's geometry, dtype, the memory layouts of x, W, b and gy, and the seed of their values."""

    n: int
    c_in: int
    c_out: int
    size: tuple
    kernel: tuple
    stride: tuple = (1, 1)
    padding: tuple = (0, 0)
    dilation: tuple = (1, 1)
    output_padding: tuple = (0, 0)
    dtype: str = "float64"
    layouts: tuple = ("contiguous",) * 4
    seed: int = 0

    def arrays(self, *shapes):
        """Standard normal arrays of these shapes, laid out as self.layouts says, in order."""
        rng = np.random.default_rng(self.seed)
        return [relayout(rng.standard_normal(s).astype(self.dtype), layout)
                for s, layout in zip(shapes, self.layouts)]

    def conv_out(self) -> tuple:
        return tuple(conv2d_ref.output_size(i, k, s, p, d)
                     for i, k, s, p, d in zip(self.size, self.kernel, self.stride, self.padding, self.dilation))

    def transposed_out(self) -> tuple:
        return tuple(conv_transpose2d_ref.output_size(i, k, s, p, o, d) for i, k, s, p, o, d in
                     zip(self.size, self.kernel, self.stride, self.padding, self.output_padding, self.dilation))


@st.composite
def convs(draw, transposed: bool = False):
    """Valid geometries down to images smaller than the kernel (when the padding allows), with output_padding
    below max(stride, dilation) for the transposed convolution."""
    size, kernel, stride, padding, dilation, output_padding = [], [], [], [], [], []
    for _ in range(2):
        k, s, p, d = draw(st.integers(1, 5)), draw(st.integers(1, 4)), draw(st.integers(0, 3)), draw(st.integers(1, 3))
        o = draw(st.integers(0, max(s, d) - 1)) if transposed else 0
        if transposed:  # (h - 1) s - 2 p + d (k - 1) + o + 1 >= 1
            smallest = max(1, 1 + -(-(2 * p - d * (k - 1) - o) // s))
        else:  # h + 2 p >= d (k - 1) + 1
            smallest = max(1, d * (k - 1) + 1 - 2 * p)
        h = draw(st.integers(smallest, smallest + 5))
        for values, v in zip((size, kernel, stride, padding, dilation, output_padding), (h, k, s, p, d, o)):
            values.append(v)
    n, c_in, c_out = (draw(st.integers(1, 3)) for _ in range(3))
    layouts = tuple(draw(st.sampled_from(LAYOUTS)) for _ in range(4))
    return Conv(n, c_in, c_out, tuple(size), tuple(kernel), tuple(stride), tuple(padding), tuple(dilation),
                tuple(output_padding), draw(st.sampled_from(DTYPES)), layouts, draw(seeds))


# Conv(n, c_in, c_out, size, kernel, stride, padding, dilation, output_padding, ...); output_padding only
# matters to the transposed convolution
ODD_CONV = {
    "1x1-image": Conv(1, 1, 1, (1, 1), (1, 1)),
    "1x1-image-kernel-3-padded": Conv(2, 2, 3, (1, 1), (3, 3), padding=(1, 1), layouts=("strided",) * 4),
    "kernel-larger-than-image": Conv(2, 1, 2, (2, 3), (5, 4), padding=(2, 1), layouts=("transposed",) * 4),
    "stride-larger-than-kernel": Conv(1, 2, 1, (7, 6), (2, 1), (4, 3), (1, 0), dtype="float32",
                                      layouts=("reversed",) * 4),
    "one-channel-batch-one": Conv(1, 1, 1, (5, 4), (2, 3), (2, 1), dtype="float32", layouts=("strided",) * 4),
    "dilated-strided-unused-rows": Conv(2, 2, 2, (7, 6), (2, 3), (3, 2), (0, 1), (2, 2), (1, 1)),
    "dcgan-5x5-s2-p2-op1": Conv(4, 8, 6, (8, 8), (5, 5), (2, 2), (2, 2), output_padding=(1, 1), dtype="float32"),
    "dcgan-4x4-s2-p1-deep": Conv(4, 32, 16, (8, 8), (4, 4), (2, 2), (1, 1), dtype="float32",
                                 layouts=("transposed", "reversed", "strided", "transposed")),
}
ODD_TRANSPOSED = {
    **ODD_CONV,
    # output_padding >= stride (allowed by the dilation): the weight gradient's gy is smaller than the full
    # convolution of the output
    "output-padding-from-dilation": Conv(2, 2, 1, (3, 2), (3, 2), (1, 1), (1, 0), (2, 3), (1, 2),
                                         layouts=("strided", "transposed", "reversed", "strided")),
}


def check_conv2d(g: Conv, crop: tuple = (0, 0)):
    """forward with and without bias, and backward_filter with a gy `crop` rows and columns smaller than y."""
    out = g.conv_out()
    assert min(out) >= 1
    gy_out = tuple(max(1, o - c) for o, c in zip(out, crop))
    x, W, b, gy = g.arrays((g.n, g.c_in) + g.size, (g.c_out, g.c_in) + g.kernel, (g.c_out,),
                           (g.n, g.c_out) + gy_out)
    args = (g.stride, g.padding, g.dilation)
    for bias in (b, None):
        with untouched(x, W, bias):
            y = conv2d_cpu.forward(x, W, bias, *args)
        expected = conv2d_ref.forward(x, W, bias, *args)
        assert expected.shape == (g.n, g.c_out) + out
        floor = sum_floor(g.c_in * math.prod(g.kernel), amax(x) * amax(W)) + amax(bias)
        assert_close(y, expected, floor, f"conv2d forward, bias {bias is not None}")

    with untouched(x, gy):
        gW = conv2d_cpu.backward_filter(x, gy, g.kernel, *args)
    expected = conv2d_ref.backward_filter(x, gy, g.kernel, *args)
    assert expected.shape == W.shape
    assert_close(gW, expected, sum_floor(g.n * math.prod(gy_out), amax(x) * amax(gy)), "conv2d backward_filter")


def reference_layout(col, g: Conv):
    """The CPU columns (C kh kw, P, Q, N) in the reference's layout (N, C, kh, kw, P, Q)."""
    return col.reshape((g.c_in,) + g.kernel + col.shape[1:]).transpose(5, 0, 1, 2, 3, 4)


def check_im2col(g: Conv, crop: tuple = (0, 0)):
    """im2col (also cropped to a smaller output) is the reference's copy; col2im (with and without a bias) its
    sum of the taps that reach each pixel."""
    out = g.conv_out()
    cropped = tuple(max(1, o - c) for o, c in zip(out, crop))
    x, c, b = g.arrays((g.n, g.c_in) + g.size, (g.c_in * math.prod(g.kernel),) + out + (g.n,), (g.c_in,))
    args = (g.stride, g.padding, g.dilation)
    with untouched(x):
        col = conv2d_cpu.im2col(x, g.kernel, *args)
        col_cropped = conv2d_cpu._columns(x, g.kernel, *args, out_size=cropped)
    expected = conv2d_ref.im2col(x, g.kernel, *args)
    for actual, want in ((col, expected), (col_cropped, expected[..., :cropped[0], :cropped[1]])):
        assert actual.shape == (g.c_in * math.prod(g.kernel),) + want.shape[4:] + (g.n,)
        assert actual.dtype == x.dtype
        np.testing.assert_array_equal(reference_layout(actual, g), want)

    for bias in (b, None):
        with untouched(c, bias):
            x_back = conv2d_cpu.col2im(c, g.size, g.kernel, *args, bias)
        expected = conv2d_ref.col2im(reference_layout(c, g), g.size, g.kernel, *args)
        if bias is not None:
            expected = expected + bias.reshape(1, -1, 1, 1)
        assert_close(x_back, expected, sum_floor(math.prod(g.kernel), amax(c)) + amax(bias),
                     f"col2im, bias {bias is not None}")


def check_conv_transpose2d(g: Conv):
    """forward with and without bias; its weight gradient, conv2d's backward_filter with x and gy swapped,
    where output_padding >= stride gives a gy smaller than the full convolution of y."""
    out = g.transposed_out()
    assert min(out) >= 1
    x, W, b, gy = g.arrays((g.n, g.c_in) + g.size, (g.c_in, g.c_out) + g.kernel, (g.c_out,),
                           (g.n, g.c_out) + out)
    args = (g.stride, g.padding, g.output_padding, g.dilation)
    for bias in (b, None):
        with untouched(x, W, bias):
            y = conv_transpose2d_cpu.forward(x, W, bias, *args)
        expected = conv_transpose2d_ref.forward(x, W, bias, *args)
        assert expected.shape == (g.n, g.c_out) + out
        floor = sum_floor(g.c_in * math.prod(g.kernel), amax(x) * amax(W)) + amax(bias)
        assert_close(y, expected, floor, f"conv_transpose2d forward, bias {bias is not None}")

    conv_args = (g.stride, g.padding, g.dilation)
    with untouched(x, gy):
        gW = conv2d_cpu.backward_filter(gy, x, g.kernel, *conv_args)
    expected = conv2d_ref.backward_filter(gy, x, g.kernel, *conv_args)
    assert expected.shape == W.shape
    assert_close(gW, expected, sum_floor(g.n * math.prod(g.size), amax(x) * amax(gy)),
                 "conv_transpose2d weight gradient")


crops = st.tuples(st.integers(0, 2), st.integers(0, 2))


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

@dataclass
class BatchNormCase:
    x: np.ndarray
    gamma: np.ndarray
    beta: np.ndarray
    running_mean: np.ndarray
    running_var: np.ndarray
    gy: np.ndarray
    eps: float


@st.composite
def batch_norms(draw):
    """(N, C), (N, C, L) or (N, C, H, W) inputs of either dtype and any layout: normal values of any offset and
    spread, or halves of small integers (ties, and elements equal to their channel's mean). The last channel
    may be constant (zero variance). Some draws put elements right on the kink of a fused activation, z = 0:
    gamma = beta = 0 in channel 0, or beta = 0 everywhere (z = 0 where x equals the mean)."""
    dtype = draw(st.sampled_from(DTYPES))
    ndim = draw(st.integers(2, 4))
    shape = (draw(st.integers(1, 4)), draw(st.integers(1, 4))) + tuple(draw(st.integers(1, 4))
                                                                         for _ in range(ndim - 2))
    c = shape[1]
    rng = np.random.default_rng(draw(seeds))
    if draw(st.booleans()):
        x = draw(st.floats(-3, 3)) + draw(st.floats(0.1, 5)) * rng.standard_normal(shape)
    else:
        x = 0.5 * rng.integers(-3, 4, shape)
    if draw(st.booleans()):
        x[:, -1] = x[0, -1].flat[0]
    gamma, beta, running_mean = (rng.standard_normal(c) for _ in range(3))
    running_var = np.exp(rng.standard_normal(c))
    if draw(st.booleans()):
        gamma[0] = beta[0] = 0.0
    if draw(st.booleans()):
        beta[:] = 0.0
    x_layout, gy_layout, channel_layout = (draw(st.sampled_from(LAYOUTS)) for _ in range(3))

    def lay(a, layout=channel_layout):
        return relayout(a.astype(dtype), layout)

    return BatchNormCase(lay(x, x_layout), lay(gamma), lay(beta), lay(running_mean), lay(running_var),
                         lay(rng.standard_normal(shape), gy_layout), draw(st.sampled_from([1e-5, 1e-3])))


ACTIVATIONS = ["none", "relu", "leaky"]
slopes = st.floats(-1.0, 2.0)


def negative_slope(activation: str, slope: float):
    return {"none": None, "relu": 0.0, "leaky": slope}[activation]


class ChannelStats:
    """Per-channel quantities in float64, shaped (1, C, 1, ...) to broadcast against x: what the tolerances of
    the batch-norm checks are made of."""

    def __init__(self, x, gamma, beta, mean, invstd):
        x = x.astype(np.float64)
        self.axes, self.count = (0,) + tuple(range(2, x.ndim)), x.size // x.shape[1]
        self.gamma, self.beta, self.mean, self.invstd = (self.per_channel(a) for a in (gamma, beta, mean, invstd))
        self.x_hat = (x - self.mean) * self.invstd
        self.z = self.gamma * self.x_hat + self.beta
        self.max_x = self.channel_max(x)
        self.max_centred = self.channel_max(x - self.mean)

    def per_channel(self, a):
        return np.asarray(a, dtype=np.float64).reshape((1, -1) + (1,) * (len(self.axes) - 1))

    def channel_max(self, a):
        return np.abs(a).max(self.axes, keepdims=True)


def vector(a):
    """A per-channel quantity (1, C, 1, ...) as the (C,) vector that the kernels return."""
    return a.reshape(-1)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@given(case=batch_norms(), slope=slopes)
def test_batch_norm_forward_train(activation, case, slope):
    """The statistics and y = act(gamma (x - mean) invstd + beta), each with the floor its error sources give."""
    s = negative_slope(activation, slope)
    x, gamma, beta, eps = case.x, case.gamma, case.beta, case.eps
    with untouched(x, gamma, beta):
        y, mean, var, invstd = batch_norm_cpu.forward_train(x, gamma, beta, eps, s)
    e_y, e_mean, e_var, e_invstd = batch_norm_ref.forward_train(x, gamma, beta, eps, s)
    stats = ChannelStats(x, gamma, beta, e_mean, e_invstd)
    rtol = RTOL[x.dtype]

    # mean: a sum of count values
    assert_close(mean, e_mean, vector(sum_floor(stats.count, stats.max_x)), "forward_train mean")
    # var: a sum of count squares, all positive, so its rounding is relative; the mean's error (at most
    # rtol max|x|) enters it squared
    var_floor = rtol * stats.max_x**2
    assert_close(var, e_var, vector(var_floor), "forward_train var")
    # invstd = (var + eps)^-1/2 carries half var's relative error
    var_to_invstd = var_floor / (stats.per_channel(e_var) + eps)
    assert_close(invstd, e_invstd, vector(stats.invstd * var_to_invstd), "forward_train invstd")
    # y: the mean's error (as above) and invstd's (relative, plus var_to_invstd) scaled by |gamma| invstd and
    # |x - mean|, the kernel's own form x * scale + shift (terms |x| |gamma| invstd), and beta; a leaky ReLU
    # with slope s scales it all by at most max(1, |s|)
    floor = (np.abs(stats.gamma) * stats.invstd
             * (sum_floor(stats.count, stats.max_x) + stats.max_centred * (1 + var_to_invstd)) + np.abs(stats.beta))
    assert_close(y, e_y, floor * max(1.0, abs(s or 0.0)), f"forward_train y, negative_slope {s}")


@pytest.mark.parametrize("activation", ACTIVATIONS)
@given(case=batch_norms(), slope=slopes)
def test_batch_norm_forward_eval(activation, case, slope):
    """y = act(x * scale + shift), scale = gamma / sqrt(running_var + eps), shift = beta - running_mean * scale:
    three terms, of sizes |x scale|, |running_mean scale| and |beta|."""
    s = negative_slope(activation, slope)
    x, gamma, beta, rm, rv, eps = case.x, case.gamma, case.beta, case.running_mean, case.running_var, case.eps
    with untouched(x, rm, rv, gamma, beta):
        y = batch_norm_cpu.forward_eval(x, rm, rv, gamma, beta, eps, s)
    expected = batch_norm_ref.forward_eval(x, rm, rv, gamma, beta, eps, s)
    stats = ChannelStats(x, gamma, beta, rm, 1 / np.sqrt(rv.astype(np.float64) + eps))
    floor = np.abs(stats.gamma) * stats.invstd * (stats.max_x + np.abs(stats.mean)) + np.abs(stats.beta)
    assert_close(y, expected, floor * max(1.0, abs(s or 0.0)), f"forward_eval, negative_slope {s}")


@pytest.mark.parametrize("activation", ACTIVATIONS)
@given(case=batch_norms(), slope=slopes)
def test_batch_norm_backward(activation, case, slope):
    """Given the reference's mean and invstd, x_hat is the same on both sides; gbeta and ggamma are sums of count
    terms gz and gz x_hat; gx = gamma invstd (gz - mean(gz) - x_hat mean(gz x_hat)), three terms.

    With an activation, gz = gy or slope gy as z = gamma x_hat + beta is positive or not. An element whose z
    lies within rounding of 0 may fall on either side, so such draws are left out, unless gamma or x_hat is
    exactly 0: then z is exactly beta on both sides (and with beta = 0, both take the slope side)."""
    s = negative_slope(activation, slope)
    x, gamma, beta, gy = case.x, case.gamma, case.beta, case.gy
    _, mean, _, invstd = batch_norm_ref.forward_train(x, gamma, beta, case.eps)
    stats = ChannelStats(x, gamma, beta, mean, invstd)
    if s is not None:
        z_floor = np.abs(stats.gamma) * stats.invstd * sum_floor(stats.count, stats.max_x) + np.abs(stats.beta)
        assume(np.all((np.abs(stats.z) > 10 * RTOL[x.dtype] * z_floor) | (stats.gamma == 0) | (stats.x_hat == 0)))
    with untouched(x, gamma, beta, mean, invstd, gy):
        gx, ggamma, gbeta = batch_norm_cpu.backward(x, gamma, beta, mean, invstd, gy, s)
    e_gx, e_ggamma, e_gbeta = batch_norm_ref.backward(x, gamma, beta, mean, invstd, gy, s)

    gz = gy.astype(np.float64)
    if s is not None:
        gz = np.where(stats.z > 0, gz, s * gz)
    max_gz, max_gzx = stats.channel_max(gz), stats.channel_max(gz * stats.x_hat)
    assert_close(gbeta, e_gbeta, vector(sum_floor(stats.count, max_gz)), f"gbeta, negative_slope {s}")
    assert_close(ggamma, e_ggamma, vector(sum_floor(stats.count, max_gzx)), f"ggamma, negative_slope {s}")
    floor = np.abs(stats.gamma) * stats.invstd * (max_gz + stats.channel_max(stats.x_hat) * max_gzx)
    assert_close(gx, e_gx, floor, f"gx, negative_slope {s}")


# ---- leaky ReLU ----

SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan])


@given(shape=st.lists(st.integers(1, 5), min_size=0, max_size=4).map(tuple),
       slope=st.sampled_from([0.0, 0.01, 0.2, 1.0]) | st.floats(-3.0, 3.0), dtype=st.sampled_from(DTYPES),
       layouts=st.tuples(st.sampled_from(LAYOUTS), st.sampled_from(LAYOUTS)), seed=seeds)
def test_leaky_relu(shape, slope, dtype, layouts, seed):
    """Elementwise, so exact: the same values (NaN where the reference has NaN), at the kink x = 0 too."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    special = rng.random(shape) < 0.25
    x[special] = rng.choice(SPECIAL, np.count_nonzero(special))
    x, gy = relayout(x.astype(dtype), layouts[0]), relayout(rng.standard_normal(shape).astype(dtype), layouts[1])
    with untouched(x, gy):
        y = leaky_relu_cpu.forward(x, slope)
        gx = leaky_relu_cpu.backward(x, gy, slope)
    with np.errstate(invalid="ignore"):  # inf * 0 in the reference
        expected_y = leaky_relu_ref.forward(x, slope)
    expected_gx = leaky_relu_ref.backward(x, gy, slope)
    for actual, expected in ((y, expected_y), (gx, expected_gx)):
        assert actual.shape == expected.shape and actual.dtype == expected.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(actual, expected)


# ---- choosing the kernels ----

def kernel_module_in_subprocess(environment_value):
    """Runs a fresh interpreter with MINIGAN_KERNELS set (or unset, for None) and asks backend.kernel for
    conv2d's module on a NumPy array."""
    env = {k: v for k, v in os.environ.items() if k != "MINIGAN_KERNELS"}
    if environment_value is not None:
        env["MINIGAN_KERNELS"] = environment_value
    code = "import numpy, minigan.dispatch as d; print(d.kernel('conv2d', d.choose('conv2d', numpy.zeros(1))).__name__)"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return subprocess.run([sys.executable, "-c", code], check=False, env=env, cwd=root, capture_output=True, text=True,
                          timeout=120)


def test_minigan_kernels_environment_variable():
    for value, module in ((None, "minigan.kernels.conv2d.cpu"), ("fast", "minigan.kernels.conv2d.cpu"),
                          ("reference", "minigan.kernels.conv2d.reference")):
        run = kernel_module_in_subprocess(value)
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip() == module, f"MINIGAN_KERNELS={value}: {run.stdout}"

    run = kernel_module_in_subprocess("numba")
    assert run.returncode != 0
    assert "ValueError" in run.stderr and "'numba'" in run.stderr and "MINIGAN_KERNELS" in run.stderr
    assert "'fast'" in run.stderr and "'reference'" in run.stderr


def test_use_kernels_selects_and_restores():
    x = np.zeros((1, 1, 2, 2))
    previous = dispatch.kernels_in_use()
    with dispatch.use_kernels("reference"):
        assert dispatch.kernel("conv2d", dispatch.choose("conv2d", x)) is conv2d_ref
        assert dispatch.kernel("batch_norm", dispatch.choose("batch_norm", x)) is batch_norm_ref
        with dispatch.use_kernels("fast"):
            assert dispatch.kernel("conv2d", dispatch.choose("conv2d", x)) is conv2d_cpu
            assert dispatch.kernel("leaky_relu", dispatch.choose("leaky_relu", x)) is leaky_relu_cpu
        assert dispatch.kernel("conv2d", dispatch.choose("conv2d", x)) is conv2d_ref
    assert dispatch.kernels_in_use() == previous

    with pytest.raises(RuntimeError), dispatch.use_kernels("reference"):
        raise RuntimeError("inside the block")
    assert dispatch.kernels_in_use() == previous

    with pytest.raises(ValueError, match="'slow'"):
        dispatch.use_kernels("slow")
    assert dispatch.kernels_in_use() == previous


@settings(max_examples=20)
@given(st.integers(1, 300), st.sampled_from([np.float32, np.float64]), st.booleans(),
       st.sampled_from([0.0, 0.01]), st.sampled_from([0.0, 0.5, 0.9]), st.integers(0, 2**32 - 1))
def test_adam_update_is_the_reference_bit_for_bit(size, dtype, amsgrad, weight_decay, beta1, seed):
    """The fused Adam pass does the reference's operations in its order and dtype: equal to the last bit."""
    rng = np.random.default_rng(seed)
    param = rng.standard_normal(size).astype(dtype)
    state = [np.zeros(size, dtype) for _ in range(3 if amsgrad else 2)]
    ours = [param.copy()] + [s.copy() for s in state]
    for step in range(1, 5):
        grad = relayout(rng.standard_normal(size).astype(dtype), "reversed")
        for module, (p, m, v, *vmax) in ((adam_ref, [param, *state]), (adam_cpu, ours)):
            with untouched(grad):
                module.update(p, grad, m, v, vmax[0] if vmax else None, step, 2e-4, beta1, 0.999, 1e-8,
                              weight_decay)
    for a, b in zip([param, *state], ours):
        np.testing.assert_array_equal(a, b)
