"""The reference kernels, called directly on arrays, against PyTorch on drawn geometries and layouts.

The references are the specification of the fast kernels, so each function is checked on its own: shapes,
strides, paddings, dilations and output paddings drawn by Hypothesis, odd sizes, non-contiguous inputs, and
both float dtypes. im2col/col2im and conv2d/conv_transpose2d are also checked to be adjoint pairs.
"""

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from minigan.kernels.batch_norm import reference as batch_norm_ref
from minigan.kernels.conv2d import reference as conv2d_ref
from minigan.kernels.conv_transpose2d import reference as conv_transpose2d_ref
from minigan.kernels.leaky_relu import reference as leaky_relu_ref

torch = pytest.importorskip("torch")
TF = torch.nn.functional
torch.set_num_threads(1)

RTOL = {np.dtype("float64"): 1e-10, np.dtype("float32"): 1e-5}
LAYOUTS = ["contiguous", "transposed", "strided", "reversed"]


def relayout(a: np.ndarray, layout: str) -> np.ndarray:
    """The same values as a, held in memory in another order (a non-contiguous view unless 'contiguous')."""
    if layout == "contiguous" or a.ndim < 2:
        return np.ascontiguousarray(a)
    if layout == "transposed":
        return np.ascontiguousarray(a.swapaxes(0, -1)).swapaxes(0, -1)
    if layout == "strided":
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), dtype=a.dtype)
        big[..., ::2] = a
        return big[..., ::2]
    if layout == "reversed":
        return np.ascontiguousarray(a[::-1])[::-1]
    raise ValueError(layout)


def th(a):
    return torch.tensor(np.ascontiguousarray(a))


def assert_close(actual, expected, dtype, what=""):
    """|a - e| <= rtol (|e| + max(max|e|, 1)): float rounding of sums of order-one terms."""
    expected = expected.detach().numpy() if isinstance(expected, torch.Tensor) else np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert actual.dtype == np.dtype(dtype), f"{what}: dtype {actual.dtype}, expected {dtype}"
    rtol = RTOL[np.dtype(dtype)]
    scale = max(float(np.abs(expected).max()), 1.0) if expected.size else 1.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale, err_msg=what)


@dataclass
class Geometry:
    n: int
    c_in: int
    c_out: int
    size: tuple
    kernel: tuple
    stride: tuple
    padding: tuple
    dilation: tuple
    output_padding: tuple
    dtype: np.dtype
    layout: str
    seed: int

    def arrays(self, *shapes):
        rng = np.random.default_rng(self.seed)
        return [relayout(rng.standard_normal(s).astype(self.dtype), self.layout) for s in shapes]

    def conv_out(self):
        return tuple(conv2d_ref.output_size(i, k, s, p, d)
                     for i, k, s, p, d in zip(self.size, self.kernel, self.stride, self.padding, self.dilation))

    def transposed_out(self):
        return tuple(conv_transpose2d_ref.output_size(i, k, s, p, o, d) for i, k, s, p, o, d in
                     zip(self.size, self.kernel, self.stride, self.padding, self.output_padding, self.dilation))


def pairs(lo, hi):
    return st.tuples(st.integers(lo, hi), st.integers(lo, hi))


@st.composite
def geometries(draw, transposed=False):
    g = Geometry(
        n=draw(st.integers(1, 3)), c_in=draw(st.integers(1, 3)), c_out=draw(st.integers(1, 3)),
        size=draw(pairs(1, 7)), kernel=draw(pairs(1, 4)), stride=draw(pairs(1, 3)), padding=draw(pairs(0, 3)),
        dilation=draw(pairs(1, 2)), output_padding=(0, 0),
        dtype=np.dtype(draw(st.sampled_from(["float64", "float32"]))), layout=draw(st.sampled_from(LAYOUTS)),
        seed=draw(st.integers(0, 2**32 - 1)),
    )
    if transposed:
        g.output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(g.stride, g.dilation))
        assume(min(g.transposed_out()) >= 1)
    else:
        assume(min(g.conv_out()) >= 1)
    return g


def odd(size, kernel, stride=(1, 1), padding=(0, 0), dilation=(1, 1), output_padding=(0, 0), n=1, c_in=1,
        c_out=1, dtype="float64", layout="contiguous"):
    return Geometry(n, c_in, c_out, size, kernel, stride, padding, dilation, output_padding, np.dtype(dtype),
                    layout, 0)


ODD_CONV = {
    "1x1-image": odd((1, 1), (1, 1)),
    "1x1-image-padded-kernel-3": odd((1, 1), (3, 3), padding=(1, 1), c_in=2, c_out=3),
    "kernel-larger-than-input": odd((2, 3), (5, 4), padding=(2, 1), n=2, layout="transposed"),
    "one-channel-batch-one": odd((5, 4), (2, 3), stride=(2, 1), dtype="float32", layout="strided"),
    "dcgan-5x5-s2-p2": odd((8, 8), (5, 5), (2, 2), (2, 2), n=2, c_in=3, c_out=4, output_padding=(1, 1)),
    "dcgan-4x4-s2-p1": odd((8, 8), (4, 4), (2, 2), (1, 1), n=2, c_in=3, c_out=2, dtype="float32"),
    "dilated-strided-unused-rows": odd((7, 6), (2, 3), (3, 2), (0, 1), (2, 2), (2, 1), n=2, c_in=2, c_out=2),
}


def check_conv2d(g: Geometry):
    x, W, b = g.arrays((g.n, g.c_in) + g.size, (g.c_out, g.c_in) + g.kernel, (g.c_out,))
    args = {"stride": g.stride, "padding": g.padding, "dilation": g.dilation}
    y = conv2d_ref.forward(x, W, b, g.stride, g.padding, g.dilation)
    assert_close(y, TF.conv2d(th(x), th(W), th(b), **args), g.dtype, "conv2d forward")
    y = conv2d_ref.forward(x, W, None, g.stride, g.padding, g.dilation)
    assert_close(y, TF.conv2d(th(x), th(W), **args), g.dtype, "conv2d forward without bias")

    (gy,) = g.arrays(y.shape)
    W_t = th(W).requires_grad_()
    TF.conv2d(th(x), W_t, **args).backward(th(gy))
    gW = conv2d_ref.backward_filter(x, gy, g.kernel, g.stride, g.padding, g.dilation)
    assert_close(gW, W_t.grad, g.dtype, "conv2d backward_filter")


def check_im2col(g: Geometry):
    (x,) = g.arrays((g.n, g.c_in) + g.size)
    col = conv2d_ref.im2col(x, g.kernel, g.stride, g.padding, g.dilation)
    oh, ow = g.conv_out()
    assert col.shape == (g.n, g.c_in) + g.kernel + (oh, ow)
    unfolded = TF.unfold(th(x), g.kernel, dilation=g.dilation, padding=g.padding, stride=g.stride)
    np.testing.assert_array_equal(col.reshape(unfolded.shape), unfolded.numpy())

    (c,) = g.arrays(col.shape)
    folded = TF.fold(th(c.reshape(unfolded.shape)), g.size, g.kernel, dilation=g.dilation, padding=g.padding,
                     stride=g.stride)
    assert_close(conv2d_ref.col2im(c, g.size, g.kernel, g.stride, g.padding, g.dilation), folded, g.dtype, "col2im")


def check_conv_transpose2d(g: Geometry):
    x, W, b = g.arrays((g.n, g.c_in) + g.size, (g.c_in, g.c_out) + g.kernel, (g.c_out,))
    args = {"stride": g.stride, "padding": g.padding, "output_padding": g.output_padding, "dilation": g.dilation}
    y = conv_transpose2d_ref.forward(x, W, b, g.stride, g.padding, g.output_padding, g.dilation)
    assert y.shape == (g.n, g.c_out) + g.transposed_out()
    assert_close(y, TF.conv_transpose2d(th(x), th(W), th(b), **args), g.dtype, "conv_transpose2d forward")
    y = conv_transpose2d_ref.forward(x, W, None, g.stride, g.padding, g.output_padding, g.dilation)
    assert_close(y, TF.conv_transpose2d(th(x), th(W), **args), g.dtype, "conv_transpose2d forward without bias")

    # the transposed convolution's weight gradient is conv2d's filter gradient with the roles of x and gy
    # swapped; where output_padding makes y larger than a conv2d of x's size needs, the extra rows are unused
    (gy,) = g.arrays(y.shape)
    W_t = th(W).requires_grad_()
    TF.conv_transpose2d(th(x), W_t, **args).backward(th(gy))
    gW = conv2d_ref.backward_filter(gy, x, g.kernel, g.stride, g.padding, g.dilation)
    assert_close(gW, W_t.grad, g.dtype, "conv_transpose2d weight gradient")


@given(geometries())
def test_conv2d_forward_and_filter_gradient(g):
    check_conv2d(g)


@pytest.mark.parametrize("g", ODD_CONV.values(), ids=ODD_CONV.keys())
def test_conv2d_odd_geometries(g):
    check_conv2d(g)


@given(geometries())
def test_im2col_is_unfold_and_col2im_is_fold(g):
    check_im2col(g)


@pytest.mark.parametrize("g", ODD_CONV.values(), ids=ODD_CONV.keys())
def test_im2col_col2im_odd_geometries(g):
    check_im2col(g)


@given(geometries(transposed=True))
def test_conv_transpose2d_forward_and_weight_gradient(g):
    check_conv_transpose2d(g)


ODD_TRANSPOSED = {
    "1x1-image": odd((1, 1), (1, 1)),
    "1x1-image-kernel-3": odd((1, 1), (3, 3), padding=(1, 0), c_in=2, c_out=3),
    "dcgan-5x5-s2-p2-op1": odd((4, 4), (5, 5), (2, 2), (2, 2), output_padding=(1, 1), n=2, c_in=3, c_out=2),
    "dcgan-4x4-s2-p1": odd((4, 4), (4, 4), (2, 2), (1, 1), n=2, c_in=3, c_out=2, dtype="float32"),
    "output-padding-from-dilation": odd((3, 2), (3, 2), (1, 1), (1, 0), (2, 2), (1, 1), c_in=2, layout="strided"),
    "stride-larger-than-kernel": odd((3, 3), (2, 1), (3, 4), (0, 0), (1, 1), (2, 3), n=2, layout="transposed"),
}


@pytest.mark.parametrize("g", ODD_TRANSPOSED.values(), ids=ODD_TRANSPOSED.keys())
def test_conv_transpose2d_odd_geometries(g):
    check_conv_transpose2d(g)


def inner(a, b) -> float:
    return float(np.vdot(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)))


@given(geometries())
def test_im2col_and_col2im_are_adjoint(g):
    g.dtype = np.dtype("float64")
    (x,) = g.arrays((g.n, g.c_in) + g.size)
    col = conv2d_ref.im2col(x, g.kernel, g.stride, g.padding, g.dilation)
    (c,) = g.arrays(col.shape)
    lhs, rhs = inner(col, c), inner(x, conv2d_ref.col2im(c, g.size, g.kernel, g.stride, g.padding, g.dilation))
    assert abs(lhs - rhs) <= 1e-10 * (np.abs(col).sum() + 1) * (np.abs(c).max() + 1)


@given(geometries())
def test_conv_transpose2d_is_the_adjoint_of_conv2d(g):
    """<conv2d(x, W), y> == <x, conv_transpose2d(y, W)>, with the output_padding that gives back x's size."""
    g.dtype = np.dtype("float64")
    oh, ow = g.conv_out()
    output_padding = tuple(i + 2 * p - d * (k - 1) - 1 - (o - 1) * s for i, o, k, s, p, d in
                           zip(g.size, (oh, ow), g.kernel, g.stride, g.padding, g.dilation))
    x, W, y = g.arrays((g.n, g.c_in) + g.size, (g.c_out, g.c_in) + g.kernel, (g.n, g.c_out, oh, ow))
    conv = conv2d_ref.forward(x, W, None, g.stride, g.padding, g.dilation)
    back = conv_transpose2d_ref.forward(y, W, None, g.stride, g.padding, output_padding, g.dilation)
    assert back.shape == x.shape
    lhs, rhs = inner(conv, y), inner(x, back)
    assert abs(lhs - rhs) <= 1e-10 * (np.abs(conv).sum() * np.abs(y).max() + 1)


# ---- batch norm ----

@st.composite
def batch_norm_inputs(draw):
    dtype = np.dtype(draw(st.sampled_from(["float64", "float32"])))
    spatial = draw(st.sampled_from([(), (1,), (3,), (1, 1), (2, 3), (4, 1)]))
    shape = (draw(st.integers(1, 4)), draw(st.integers(1, 4))) + spatial
    assume(int(np.prod(shape)) // shape[1] > 1)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    layout = draw(st.sampled_from(LAYOUTS))
    loc, scale = draw(st.floats(-3, 3)), draw(st.floats(0.1, 5))
    x = relayout((loc + scale * rng.standard_normal(shape)).astype(dtype), layout)
    gamma, beta, running_mean, gy = (rng.standard_normal(s).astype(dtype)
                                     for s in (shape[1], shape[1], shape[1], shape))
    running_var = np.exp(rng.standard_normal(shape[1])).astype(dtype)
    return x, gamma, beta, running_mean, running_var, relayout(gy, layout), draw(st.sampled_from([1e-5, 1e-3]))


@given(batch_norm_inputs())
def test_batch_norm_forward_train_and_backward(inputs):
    x, gamma, beta, _, _, gy, eps = inputs
    dtype = x.dtype
    axes = (0,) + tuple(range(2, x.ndim))
    y, mean, var, invstd = batch_norm_ref.forward_train(x, gamma, beta, eps)

    x_t, gamma_t, beta_t = (th(a).requires_grad_() for a in (x, gamma, beta))
    y_t = TF.batch_norm(x_t, None, None, gamma_t, beta_t, training=True, eps=eps)
    var_t, mean_t = torch.var_mean(th(x), dim=axes, correction=0)
    assert_close(y, y_t, dtype, "forward_train y")
    assert_close(mean, mean_t, dtype, "forward_train mean")
    assert_close(var, var_t, dtype, "forward_train biased variance")
    assert_close(invstd, 1 / torch.sqrt(var_t + eps), dtype, "forward_train invstd")

    y_t.backward(th(gy))
    gx, ggamma, gbeta = batch_norm_ref.backward(x, gamma, beta, mean, invstd, gy)
    assert_close(gx, x_t.grad, dtype, "backward gx")
    assert_close(ggamma, gamma_t.grad, dtype, "backward ggamma")
    assert_close(gbeta, beta_t.grad, dtype, "backward gbeta")


@given(batch_norm_inputs())
def test_batch_norm_forward_eval(inputs):
    x, gamma, beta, running_mean, running_var, _, eps = inputs
    y = batch_norm_ref.forward_eval(x, running_mean, running_var, gamma, beta, eps)
    y_t = TF.batch_norm(th(x), th(running_mean), th(running_var), th(gamma), th(beta), training=False, eps=eps)
    assert_close(y, y_t, x.dtype, "forward_eval")


# ---- leaky ReLU ----

@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=4), slope=st.sampled_from([0.0, 0.01, 0.2, 1.0, 3.0]),
       dtype=st.sampled_from(["float64", "float32"]), layout=st.sampled_from(LAYOUTS), seed=st.integers(0, 2**32 - 1))
def test_leaky_relu_forward_and_backward(shape, slope, dtype, layout, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    x[rng.random(shape) < 0.2] = 0.0  # the kink: the gradient there is taken from the slope side, as PyTorch
    x, gy = relayout(x, layout), relayout(rng.standard_normal(shape).astype(dtype), layout)
    x_t = th(x).requires_grad_()
    y_t = TF.leaky_relu(x_t, slope)
    y_t.backward(th(gy))
    y = leaky_relu_ref.forward(x, slope)
    gx = leaky_relu_ref.backward(x, gy, slope)
    assert y.dtype == x.dtype and gx.dtype == x.dtype
    np.testing.assert_array_equal(y, y_t.detach().numpy())
    np.testing.assert_array_equal(gx, x_t.grad.numpy())
