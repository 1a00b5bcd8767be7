"""batch_norm: every variant of kernels/batch_norm on every device present, against the reference (with no
activation, a ReLU or a leaky ReLU fused in); the reference against PyTorch; and F.batch_norm and the fused
batch_norm_act through each variant, against finite differences and against the reference on the CPU.

Hypothesis draws (N, C), (N, C, L) and (N, C, H, W) inputs of both dtypes and any layout: normal values of any
offset and spread, or halves of small integers (ties, elements equal to their channel's mean), constant channels
(zero variance), and elements right on the kink of a fused activation. Each statistic and output is compared with
the floor its error sources give (minigan.testing.tolerances): a sum over a channel of `count` values errs by
rtol sqrt(count) max|term|.
"""

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import minigan as mg
import minigan.nn.functional as F
from minigan import dispatch
from minigan.ops.batch_norm import batch_norm_act
from minigan.tensor import Tensor
from minigan.testing import (
    assert_close,
    assert_same_bits,
    check_function,
    host,
    jacobian_check,
    place,
    rtol_of,
    sum_floor,
    untouched,
)
from minigan.testing import values as v
from minigan.testing.strategies import dtypes, layouts, seeds

OPERATOR = "batch_norm"
reference = dispatch.kernel(OPERATOR, "reference")
ACTIVATIONS = ["none", "relu", "leaky"]
slopes = st.floats(-1.0, 2.0)
DTYPES = pytest.mark.parametrize("dtype", ["float64", "float32"])


def negative_slope(activation: str, slope: float):
    return {"none": None, "relu": 0.0, "leaky": slope}[activation]


# ---- every variant against the reference ----

@dataclass
class Case:
    """A batch-norm case: the arrays (of one dtype, contiguous NumPy) and the layouts of x, gy and the per-channel
    vectors on the device."""

    x: np.ndarray
    gamma: np.ndarray
    beta: np.ndarray
    running_mean: np.ndarray
    running_var: np.ndarray
    gy: np.ndarray
    eps: float
    layouts: tuple

    def on(self, device: str, *arrays) -> list:
        """The arrays named, on the device in the case's layouts."""
        which = {"x": 0, "gy": 1}
        return [place(getattr(self, name), device, self.layouts[which.get(name, 2)]) for name in arrays]


@st.composite
def cases(draw):
    """Normal values of any offset and spread, or halves of small integers; maybe a constant last channel; maybe
    gamma = beta = 0 in channel 0, or beta = 0 everywhere (z = 0 where x equals the mean: on the kink)."""
    dtype = draw(dtypes())
    ndim = draw(st.integers(2, 4))
    shape = (draw(st.integers(1, 4)), draw(st.integers(1, 4))) + tuple(draw(st.integers(1, 4))
                                                                         for _ in range(ndim - 2))
    c = shape[1]
    rng = np.random.default_rng(draw(seeds()))
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
    arrays = [a.astype(dtype) for a in (x, gamma, beta, running_mean, running_var, rng.standard_normal(shape))]
    return Case(*arrays, draw(st.sampled_from([1e-5, 1e-3])), (draw(layouts()), draw(layouts()), draw(layouts())))


class ChannelStats:
    """Per-channel quantities in float64, shaped (1, C, 1, ...) to broadcast against x: what the tolerances are
    made of."""

    def __init__(self, x, gamma, beta, mean, invstd):
        x = x.astype(np.float64)
        self.axes, self.count = (0,) + tuple(range(2, x.ndim)), x.size // x.shape[1]
        self.gamma, self.beta, self.mean, self.invstd = (self.per_channel(a) for a in (gamma, beta, mean, invstd))
        self.x_hat = (x - self.mean) * self.invstd
        self.z = self.gamma * self.x_hat + self.beta
        self.max_x = self.channel_max(x)
        self.max_centred = self.channel_max(x - self.mean)

    def per_channel(self, a):
        return np.asarray(host(a), dtype=np.float64).reshape((1, -1) + (1,) * (len(self.axes) - 1))

    def channel_max(self, a):
        return np.abs(a).max(self.axes, keepdims=True)


def vector(a):
    """A per-channel quantity (1, C, 1, ...) as the (C,) vector that the kernels return."""
    return a.reshape(-1)


def train_floors(x, gamma, beta, eps, s, mean, var, invstd) -> tuple:
    """The floors of forward_train's mean, var, invstd and y (see test_forward_train)."""
    stats = ChannelStats(x, gamma, beta, mean, invstd)
    var_floor = rtol_of(x.dtype) * stats.max_x**2
    var_to_invstd = var_floor / (stats.per_channel(var) + eps)
    y = (np.abs(stats.gamma) * stats.invstd
         * (sum_floor(stats.count, stats.max_x) + stats.max_centred * (1 + var_to_invstd)) + np.abs(stats.beta))
    return (vector(sum_floor(stats.count, stats.max_x)), vector(var_floor), vector(stats.invstd * var_to_invstd),
            y * max(1.0, abs(s or 0.0)))


@pytest.mark.parametrize("activation", ACTIVATIONS)
@given(case=cases(), slope=slopes)
def test_forward_train(variant, device, activation, case, slope):
    """The statistics and y = act(gamma (x - mean) invstd + beta), each with the floor its error sources give:
    mean, a sum of count values; var, a sum of count squares, all positive, so its rounding is relative, plus the
    mean's error (at most rtol max|x|) squared; invstd = (var + eps)^-1/2, half var's relative error; y, the
    mean's and invstd's errors scaled by |gamma| invstd and |x - mean|, the kernel's own form x * scale + shift
    (terms |x| |gamma| invstd), and beta; a leaky ReLU with slope s scales it all by at most max(1, |s|)."""
    s = negative_slope(activation, slope)
    kernel = dispatch.kernel(OPERATOR, variant)
    x, gamma, beta = case.on(device, "x", "gamma", "beta")
    with untouched(x, gamma, beta):
        y, mean, var, invstd = kernel.forward_train(x, gamma, beta, case.eps, s)
    e_y, e_mean, e_var, e_invstd = reference.forward_train(case.x, case.gamma, case.beta, case.eps, s)
    floors = train_floors(case.x, case.gamma, case.beta, case.eps, s, e_mean, e_var, e_invstd)
    for what, actual, expected, floor in zip(("mean", "var", "invstd", f"y, negative_slope {s}"),
                                             (mean, var, invstd, y), (e_mean, e_var, e_invstd, e_y), floors):
        assert_close(actual, expected, floor, f"forward_train {what}", device=device)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@given(case=cases(), slope=slopes)
def test_forward_eval(variant, device, activation, case, slope):
    """y = act(x * scale + shift), scale = gamma / sqrt(running_var + eps), shift = beta - running_mean * scale:
    three terms, of sizes |x scale|, |running_mean scale| and |beta|."""
    s = negative_slope(activation, slope)
    kernel = dispatch.kernel(OPERATOR, variant)
    x, rm, rv, gamma, beta = case.on(device, "x", "running_mean", "running_var", "gamma", "beta")
    with untouched(x, rm, rv, gamma, beta):
        y = kernel.forward_eval(x, rm, rv, gamma, beta, case.eps, s)
    expected = reference.forward_eval(case.x, case.running_mean, case.running_var, case.gamma, case.beta, case.eps, s)
    stats = ChannelStats(case.x, case.gamma, case.beta, case.running_mean,
                         1 / np.sqrt(case.running_var.astype(np.float64) + case.eps))
    floor = np.abs(stats.gamma) * stats.invstd * (stats.max_x + np.abs(stats.mean)) + np.abs(stats.beta)
    assert_close(y, expected, floor * max(1.0, abs(s or 0.0)), f"forward_eval, negative_slope {s}", device=device)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@given(case=cases(), slope=slopes)
def test_backward(variant, device, activation, case, slope):
    """Given the reference's mean and invstd, x_hat is the same on both sides; gbeta and ggamma are sums of count
    terms gz and gz x_hat; gx = gamma invstd (gz - mean(gz) - x_hat mean(gz x_hat)), three terms.

    With an activation, gz = gy or slope gy as z = gamma x_hat + beta is positive or not. An element whose z
    lies within rounding of 0 may fall on either side, so such draws are left out, unless gamma or x_hat is
    exactly 0: then z is exactly beta on both sides (and with beta = 0, both take the slope side)."""
    s = negative_slope(activation, slope)
    _, mean, _, invstd = reference.forward_train(case.x, case.gamma, case.beta, case.eps)
    stats = ChannelStats(case.x, case.gamma, case.beta, mean, invstd)
    if s is not None:
        z_floor = np.abs(stats.gamma) * stats.invstd * sum_floor(stats.count, stats.max_x) + np.abs(stats.beta)
        assume(np.all((np.abs(stats.z) > 10 * rtol_of(case.x.dtype) * z_floor) | (stats.gamma == 0)
                      | (stats.x_hat == 0)))
    kernel = dispatch.kernel(OPERATOR, variant)
    x, gamma, beta, gy = case.on(device, "x", "gamma", "beta", "gy")
    mean_d, invstd_d = (place(a, device, case.layouts[2]) for a in (mean, invstd))
    with untouched(x, gamma, beta, mean_d, invstd_d, gy):
        gx, ggamma, gbeta = kernel.backward(x, gamma, beta, mean_d, invstd_d, gy, s)
    e_gx, e_ggamma, e_gbeta = reference.backward(case.x, case.gamma, case.beta, mean, invstd, case.gy, s)

    gz = case.gy.astype(np.float64)
    if s is not None:
        gz = np.where(stats.z > 0, gz, s * gz)
    max_gz, max_gzx = stats.channel_max(gz), stats.channel_max(gz * stats.x_hat)
    assert_close(gbeta, e_gbeta, vector(sum_floor(stats.count, max_gz)), f"gbeta, negative_slope {s}", device=device)
    assert_close(ggamma, e_ggamma, vector(sum_floor(stats.count, max_gzx)), f"ggamma, negative_slope {s}",
                 device=device)
    floor = np.abs(stats.gamma) * stats.invstd * (max_gz + stats.channel_max(stats.x_hat) * max_gzx)
    assert_close(gx, e_gx, floor, f"gx, negative_slope {s}", device=device)


LARGE = {  # several of the GPU kernels' blocks per channel (4096 elements each), and a ragged last one; or, with
    # many channels, one block taking a channel of more than 4096 elements whole
    "4d-4-blocks": (64, 3, 16, 16),
    "4d-whole-channels": (10, 64, 20, 25),
    "4d-ragged": (3, 2, 50, 41),
    "2d-one-block": (4096, 3),
    "2d-ragged": (5001, 2),
    "3d": (7, 5, 1500),
}


@DTYPES
@pytest.mark.parametrize("shape", LARGE.values(), ids=LARGE.keys())
def test_large_channels_far_from_zero(variant, device, shape, dtype):
    """Statistics of thousands of elements per channel (merged from several blocks or chunks), with a mean far from
    0 against the spread (1000 against 1): the variance must stay accurate relative to itself."""
    rng = np.random.default_rng(0)
    c = shape[1]
    x = (1000 + rng.standard_normal(shape)).astype(dtype)
    gamma, beta = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
    gy = rng.standard_normal(shape).astype(dtype)
    kernel = dispatch.kernel(OPERATOR, variant)
    x_d, gamma_d, beta_d, gy_d = (place(a, device) for a in (x, gamma, beta, gy))
    y, mean, var, invstd = kernel.forward_train(x_d, gamma_d, beta_d, 1e-5, 0.2)
    x64 = x.astype(np.float64)
    axes = (0,) + tuple(range(2, x.ndim))
    exact_mean, exact_var = x64.mean(axes), x64.var(axes)  # float64 two-pass sums: exact enough for either dtype
    rtol = 1e-12 if dtype == "float64" else 1e-6
    np.testing.assert_allclose(host(mean), exact_mean, rtol=rtol)
    np.testing.assert_allclose(host(var), exact_var, rtol=1e3 * rtol)  # the variance loses the digits of the mean
    gamma64, beta64 = gamma.astype(np.float64), beta.astype(np.float64)
    e_y = reference.forward_train(x64, gamma64, beta64, 1e-5, 0.2)[0]
    np.testing.assert_allclose(host(y), e_y, rtol=1e3 * rtol, atol=1e3 * rtol)
    # without the activation: in float32, z = x scale + shift cancels about 1000 against 1000, and an element within
    # that rounding of the kink could be gated on either side
    gx, ggamma, gbeta = kernel.backward(x_d, gamma_d, beta_d, mean, invstd, gy_d)
    e_gx, e_ggamma, e_gbeta = reference.backward(x64, gamma64, beta64, host(mean).astype(np.float64),
                                                 host(invstd).astype(np.float64), gy.astype(np.float64))
    count = x.size // c
    for what, actual, expected in (("gbeta", gbeta, e_gbeta), ("ggamma", ggamma, e_ggamma), ("gx", gx, e_gx)):
        scale = np.sqrt(count) * np.abs(expected).max() if what != "gx" else np.abs(expected).max()
        np.testing.assert_allclose(host(actual), expected, rtol=1e3 * rtol, atol=1e3 * rtol * scale, err_msg=what)


@DTYPES
def test_runs_are_bit_reproducible(variant, device, dtype):
    """Two runs of every kernel on DCGAN-sized inputs (several blocks per channel) give the same bits."""
    kernel = dispatch.kernel(OPERATOR, variant)
    rng = np.random.default_rng(0)
    x, gamma, beta, gy = (place(rng.standard_normal(s), device, dtype=dtype) for s in ((32, 4, 32, 32), (4,), (4,),
                                                                                      (32, 4, 32, 32)))

    def run() -> list:
        y, mean, var, invstd = kernel.forward_train(x, gamma, beta, 1e-5, 0.2)
        return [y, mean, var, invstd, *kernel.backward(x, gamma, beta, mean, invstd, gy, 0.2),
                kernel.forward_eval(x, mean, var, gamma, beta, 1e-5, 0.0)]

    for k, (a, e) in enumerate(zip(run(), run(), strict=True)):
        assert_same_bits(a, e, f"output {k}")


# ---- the reference against PyTorch ----

@st.composite
def torch_cases(draw):
    """Normal inputs of any offset and spread, at least two values per channel, in one layout."""
    dtype = draw(dtypes())
    spatial = draw(st.sampled_from([(), (1,), (3,), (1, 1), (2, 3), (4, 1)]))
    shape = (draw(st.integers(1, 4)), draw(st.integers(1, 4))) + spatial
    assume(int(np.prod(shape)) // shape[1] > 1)
    rng = np.random.default_rng(draw(seeds()))
    layout = draw(layouts())
    loc, scale = draw(st.floats(-3, 3)), draw(st.floats(0.1, 5))
    x = place((loc + scale * rng.standard_normal(shape)).astype(dtype), layout=layout)
    gamma, beta, running_mean, gy = (rng.standard_normal(s).astype(dtype)
                                     for s in (shape[1], shape[1], shape[1], shape))
    running_var = np.exp(rng.standard_normal(shape[1])).astype(dtype)
    return x, gamma, beta, running_mean, running_var, place(gy, layout=layout), draw(st.sampled_from([1e-5, 1e-3]))


def torch_close(actual, expected, what: str) -> None:
    """|a - e| <= rtol (|e| + max(max|e|, 1)), rtol 1e-10 in float64 (torch sums in other orders) and 1e-5 in
    float32."""
    expected = expected.detach().numpy()
    rtol = {np.dtype("float64"): 1e-10, np.dtype("float32"): 1e-5}[expected.dtype]
    assert_close(actual, expected, max(float(np.abs(expected).max()), 1.0), what, rtol=rtol)


@given(torch_cases())
def test_reference_forward_train_and_backward_against_torch(torch_cpu, inputs):
    torch = torch_cpu
    x, gamma, beta, _, _, gy, eps = inputs
    axes = (0,) + tuple(range(2, x.ndim))
    y, mean, var, invstd = reference.forward_train(x, gamma, beta, eps)

    def th(a):
        return torch.tensor(np.ascontiguousarray(a))

    x_t, gamma_t, beta_t = (th(a).requires_grad_() for a in (x, gamma, beta))
    y_t = torch.nn.functional.batch_norm(x_t, None, None, gamma_t, beta_t, training=True, eps=eps)
    var_t, mean_t = torch.var_mean(th(x), dim=axes, correction=0)
    torch_close(y, y_t, "forward_train y")
    torch_close(mean, mean_t, "forward_train mean")
    torch_close(var, var_t, "forward_train biased variance")
    torch_close(invstd, 1 / torch.sqrt(var_t + eps), "forward_train invstd")

    y_t.backward(th(gy))
    gx, ggamma, gbeta = reference.backward(x, gamma, beta, mean, invstd, gy)
    torch_close(gx, x_t.grad, "backward gx")
    torch_close(ggamma, gamma_t.grad, "backward ggamma")
    torch_close(gbeta, beta_t.grad, "backward gbeta")


@given(torch_cases())
def test_reference_forward_eval_against_torch(torch_cpu, inputs):
    torch = torch_cpu
    x, gamma, beta, running_mean, running_var, _, eps = inputs

    def th(a):
        return torch.tensor(np.ascontiguousarray(a))

    y = reference.forward_eval(x, running_mean, running_var, gamma, beta, eps)
    y_t = torch.nn.functional.batch_norm(th(x), th(running_mean), th(running_var), th(gamma), th(beta),
                                         training=False, eps=eps)
    torch_close(y, y_t, "forward_eval")


# ---- through minigan.nn.functional ----

@st.composite
def shapes(draw, ndim: int):
    """(N, C), (N, C, L) or (N, C, H, W) with at least two values per channel."""
    spatial = tuple(draw(st.integers(1, 3)) for _ in range(ndim - 2))
    n = draw(st.integers(1 if np.prod(spatial) > 1 else 2, 3))
    return (n, draw(st.integers(1, 3)), *spatial)


def y_floor(x, gamma, beta, eps, s=None):
    """The floor of y for a forward in x's dtype (see test_forward_train)."""
    _, mean, var, invstd = reference.forward_train(x, gamma, beta, eps)
    return train_floors(x, gamma, beta, eps, s, mean, var, invstd)[3]


def on_device_of(x: Tensor, a):
    """A constant (a NumPy array) as a Tensor on x's device, in x's dtype."""
    return None if a is None else mg.tensor(np.asarray(a, dtype=x.dtype), device=x.device)


@st.composite
def training_cases(draw, ndim: int, affine: bool):
    """x (distinct values), weight (positive) and bias or None, and whether running statistics are updated."""
    shape = draw(shapes(ndim))
    rng = np.random.default_rng(draw(seeds()))
    c = shape[1]
    return (v.distinct(rng, shape, 0.3), v.positive(rng, c) if affine else None,
            v.normal(rng, c) if affine else None, draw(st.booleans()))


def batch_norm_training(x, w, b, running):
    c = x.shape[1]
    mean = mg.zeros(c, dtype=x.dtype, device=x.device) if running else None
    var = mg.ones(c, dtype=x.dtype, device=x.device) if running else None
    return F.batch_norm(x, mean, var, w, b, training=True)


def batch_norm_training_reference(x, w, b, running):
    c = x.shape[1]
    w = np.ones(c, x.dtype) if w is None else w
    b = np.zeros(c, x.dtype) if b is None else b
    return reference.forward_train(x, w, b, 1e-5)[0]


def batch_norm_training_floor(x, w, b, running):
    c = x.shape[1]
    return y_floor(x, np.ones(c, x.dtype) if w is None else w, np.zeros(c, x.dtype) if b is None else b, 1e-5)


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("ndim", [2, 3, 4])
def test_training_gradients(variant, device, selected, ndim, affine):
    """Batch statistics; with and without weight and bias, with and without running statistics to update."""
    check_function(batch_norm_training, batch_norm_training_reference, training_cases(ndim, affine),
                   floor=batch_norm_training_floor, device=device, max_examples=25)


@st.composite
def eval_cases(draw, ndim: int, affine: bool):
    """x (distinct values), weight and bias or None, and the running statistics (a constant pair)."""
    x, w, b, _ = draw(training_cases(ndim, affine))
    rng = np.random.default_rng(draw(seeds()))
    c = x.shape[1]
    return x, w, b, (v.normal(rng, c), v.positive(rng, c))


def batch_norm_eval(x, w, b, running):
    mean, var = (on_device_of(x, a) for a in running)
    return F.batch_norm(x, mean, var, w, b, training=False, eps=1e-3)


def batch_norm_eval_reference(x, w, b, running):
    c = x.shape[1]
    w = np.ones(c, x.dtype) if w is None else w
    b = np.zeros(c, x.dtype) if b is None else b
    mean, var = (np.asarray(a, x.dtype) for a in running)
    return reference.forward_eval(x, mean, var, w, b, 1e-3)


def batch_norm_eval_floor(x, w, b, running):
    """Three terms, |x scale|, |running_mean scale| and |beta| (see test_forward_eval)."""
    c = x.shape[1]
    w = np.ones(c) if w is None else w
    b = np.zeros(c) if b is None else b
    shape = (1, -1) + (1,) * (x.ndim - 2)
    axes = (0,) + tuple(range(2, x.ndim))
    scale = np.abs(w).reshape(shape) / np.sqrt(running[1].reshape(shape) + 1e-3)
    return scale * (np.abs(x).max(axes, keepdims=True) + np.abs(running[0]).reshape(shape)) + np.abs(b).reshape(shape)


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("ndim", [2, 3, 4])
def test_eval_gradients(variant, device, selected, ndim, affine):
    """Running statistics: an affine map of x, weight and bias."""
    check_function(batch_norm_eval, batch_norm_eval_reference, eval_cases(ndim, affine), floor=batch_norm_eval_floor,
                   device=device, max_examples=25)


@st.composite
def third_order_cases(draw, ndim: int):
    x, w, b, _ = draw(training_cases(ndim, True))
    return x, w, b, v.normal(np.random.default_rng(draw(seeds())), x.shape)


@pytest.mark.parametrize("ndim", [2, 4])
def test_third_derivatives(variant, device, selected, ndim):
    """Second derivatives of batch norm's own create_graph gradient (with respect to x, weight and gy)."""

    def gradient(x, w, b, gy):
        y = F.batch_norm(x, None, None, w, b, training=True)
        return tuple(mg.grad(y, [x, w], grad_outputs=gy, create_graph=True))

    check_function(gradient, None, third_order_cases(ndim), device=device, max_examples=15)


def kink_free_bias(rng, x_hat: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """A bias per channel that keeps z = gamma x_hat + bias away from 0 (gamma > 0): -bias / gamma falls midway
    between two neighbouring values of x_hat in the channel, or beyond all of them."""
    bias = np.empty(x_hat.shape[1])
    for c in range(x_hat.shape[1]):
        values = np.sort(x_hat[:, c].ravel())
        thresholds = np.concatenate([[values[0] - 0.5], (values[1:] + values[:-1]) / 2, [values[-1] + 0.5]])
        bias[c] = -gamma[c] * rng.choice(thresholds)
    return bias


def per_channel(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """A (C,) array shaped to broadcast against an (N, C, ...) array x."""
    return a.reshape((1, -1) + (1,) * (x.ndim - 2))


def act_inputs(rng, shape, training: bool, eps: float) -> tuple:
    """x, weight, bias and the running statistics (None in training) for batch_norm_act, every pre-activation
    gamma x_hat + beta more than 1e-3 from the kink (far beyond the finite differences' steps); in training the
    batch statistics normalise x, in evaluation the running ones."""
    c = shape[1]
    gamma = v.positive(rng, c)
    if training:
        x = v.distinct(rng, shape, 0.3)
        axes = (0,) + tuple(range(2, x.ndim))
        x_hat = (x - x.mean(axes, keepdims=True)) / np.sqrt(x.var(axes, keepdims=True) + eps)
        beta = kink_free_bias(rng, x_hat, gamma)
        running = None
    else:
        running_mean, running_var, beta = v.normal(rng, c), v.positive(rng, c), v.normal(rng, c)
        z = v.away(rng, shape, 0.0, 0.05)  # the pre-activation, and x solved from it
        x_hat = (z - per_channel(beta, z)) / per_channel(gamma, z)
        x = per_channel(running_mean, z) + x_hat * per_channel(np.sqrt(running_var + eps), z)
        running = (running_mean, running_var)
    assert np.abs(per_channel(gamma, x) * x_hat + per_channel(beta, x)).min() > 1e-3
    return x, gamma, beta, running


slopes_near_relu = st.sampled_from([0.0, 0.2]) | st.floats(-1.0, 2.0)


@st.composite
def act_cases(draw, ndim: int, training: bool):
    rng = np.random.default_rng(draw(seeds()))
    return (*act_inputs(rng, draw(shapes(ndim)), training, 1e-3), draw(slopes_near_relu))


def fused(training: bool):
    def fn(x, w, b, running, slope):
        mean, var = (None, None) if running is None else (on_device_of(x, a) for a in running)
        return batch_norm_act(x, mean, var, w, b, training, eps=1e-3, negative_slope=slope)

    return fn


def fused_reference(training: bool):
    def fn(x, w, b, running, slope):
        if training:
            return reference.forward_train(x, w, b, 1e-3, slope)[0]
        mean, var = (np.asarray(a, x.dtype) for a in running)
        return reference.forward_eval(x, mean, var, w, b, 1e-3, slope)

    return fn


def fused_floor(training: bool):
    def fn(x, w, b, running, slope):
        if training:
            return y_floor(x, w, b, 1e-3, slope)
        return batch_norm_eval_floor(x, w, b, running) * max(1.0, abs(slope))

    return fn


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("ndim", [2, 3, 4])
def test_act_gradients(variant, device, selected, ndim, training):
    """Batch norm fused with a leaky ReLU (slope 0: ReLU), with batch or running statistics, off the kink."""
    check_function(fused(training), fused_reference(training), act_cases(ndim, training), floor=fused_floor(training),
                   device=device, max_examples=20)


def first_and_second_derivatives(fn, inputs, seed: int):
    """fn's value, the gradient of <gy, fn> with respect to inputs, and the gradient of <v, that gradient> with
    respect to inputs and gy, for gy and v drawn from seed (None where a derivative is zero)."""
    rng = np.random.default_rng(seed)
    y = fn(*inputs)
    gy = mg.tensor(rng.standard_normal(y.shape), device=y.device, requires_grad=True)
    first = mg.grad(y, inputs, gy, create_graph=True)
    second = mg.grad(sum((g * mg.tensor(rng.standard_normal(g.shape), device=y.device)).sum() for g in first),
                     inputs + [gy], allow_unused=True)
    return [y.numpy()] + [g.numpy() for g in first] + [None if g is None else g.numpy() for g in second]


JACOBIAN_SHAPES = [(2, 3), (5, 2), (3, 2, 3), (2, 2, 2, 3)]


@pytest.mark.parametrize("slope", [None, 0.0, 0.2])
@pytest.mark.parametrize("shape", JACOBIAN_SHAPES, ids=[str(s) for s in JACOBIAN_SHAPES])
def test_second_derivatives_entry_by_entry(variant, device, selected, shape, slope):
    """Every entry of the Jacobian of batch norm's gradient, (x, weight, bias, gy) -> (gx, gweight, gbias), against
    central differences to float64 precision. A term missing from BatchNormGrad's backward moves whole entries,
    thousands of times the tolerance, where the random directions of test_training_gradients may sum it away
    (with two values per channel most of the terms are zero)."""
    rng = np.random.default_rng(5)
    x, w, b, _ = act_inputs(rng, shape, True, 1e-5)
    if slope is None:
        b = v.normal(rng, shape[1])
    inputs = [mg.tensor(a, device=device, requires_grad=True) for a in (x, w, b)]
    assert jacobian_check(lambda x, w, b: batch_norm_act(x, None, None, w, b, True, negative_slope=slope), inputs,
                          second_order=True)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("ndim", [2, 4])
@settings(max_examples=10, suppress_health_check=[HealthCheck.function_scoped_fixture])  # one selection throughout
@given(data=st.data(), slope=slopes_near_relu, layout=layouts(), seed=seeds())
def test_act_is_leaky_relu_of_batch_norm(variant, device, selected, ndim, training, data, slope, layout, seed):
    """The fused form equals leaky_relu(batch_norm(x)) in value, first and second derivatives, and (in training)
    in the running statistics it updates."""
    x, w, b, statistics = act_inputs(np.random.default_rng(seed), data.draw(shapes(ndim)), training, 1e-5)
    x, w, b = (Tensor(place(a, device, layout), requires_grad=True) for a in (x, w, b))
    c = x.shape[1]
    if training:  # one pair of running statistics for each form to update
        running = [(mg.zeros(c, dtype=mg.float64, device=device), mg.ones(c, dtype=mg.float64, device=device))
                   for _ in range(2)]
    else:
        running = [tuple(mg.tensor(a, device=device) for a in statistics)] * 2
    fused_outputs = first_and_second_derivatives(
        lambda x, w, b: batch_norm_act(x, *running[0], w, b, training, negative_slope=slope), [x, w, b], seed)
    apart = first_and_second_derivatives(
        lambda x, w, b: F.leaky_relu(F.batch_norm(x, *running[1], w, b, training), slope), [x, w, b], seed)
    names = ["y", "gx", "gweight", "gbias", "ggx", "ggweight", "ggbias", "ggy"]
    for name, a, e in zip(names, fused_outputs, apart, strict=True):
        assert (a is None) == (e is None), name
        if e is not None:
            np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-12 * max(np.abs(e).max(), 1.0), err_msg=name)
    for a, e in zip(*running, strict=True):
        np.testing.assert_allclose(a.numpy(), e.numpy(), rtol=1e-12, atol=1e-12, err_msg="running statistics")


@DTYPES
@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5, 6)])
def test_training_derivatives_match_the_reference_on_the_cpu(variant, device, derivatives_match, shape, dtype):
    """In float32 to 1e-4: the double backward divides by the variance."""
    rng = np.random.default_rng(1)
    arrays = [3 * rng.standard_normal(shape) + 1, rng.standard_normal(shape[1]), rng.standard_normal(shape[1])]
    derivatives_match(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), arrays, dtype,
                      rtol=None if dtype == "float64" else 1e-4)


@DTYPES
def test_running_statistics_and_eval_match_the_reference_on_the_cpu(variant, device, selected, derivatives_match,
                                                                     dtype):
    """Three training steps update the running statistics as on the CPU; evaluation with them then agrees."""
    rtol = {"float64": 1e-10, "float32": 1e-5}[dtype]
    stats = []
    for where, kernels in ((device, selected), ("cpu", "reference")):
        with dispatch.use_kernels(kernels):
            rng = np.random.default_rng(4)
            mean = mg.tensor(rng.standard_normal(3).astype(dtype), device=where)
            var = mg.tensor(np.exp(rng.standard_normal(3)).astype(dtype), device=where)
            for _ in range(3):
                F.batch_norm(mg.tensor(rng.standard_normal((4, 3, 5, 5)).astype(dtype), device=where), mean, var,
                             training=True, momentum=0.2)
        assert mean.device == where and var.device == where
        stats.append((mean, var))
    for name, a, e in zip(("running mean", "running var"), *stats):
        e = e.numpy()
        assert_close(a.data, e, max(float(np.abs(e).max()), 1.0), name, rtol=rtol, device=device)

    running = [a.numpy() for a in stats[1]]

    def fn(x, w, b):
        m, v_ = (mg.tensor(a, device=x.device) for a in running)
        return F.batch_norm(x, m, v_, w, b, training=False)

    rng = np.random.default_rng(1)
    derivatives_match(fn, [rng.standard_normal((4, 3, 5, 5)), rng.standard_normal(3), rng.standard_normal(3)], dtype)


@pytest.mark.parametrize("slope", [None, 0.0, 0.2])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(16, 8, 6, 6), (32, 24)])
def test_against_torch(variant, device, selected, torch, matches_torch, shape, training, slope):
    """batch_norm then leaky_relu (or relu, or nothing) in float32 against torch on the same device, and the
    running statistics it updates."""
    rng = np.random.default_rng(3)
    c = shape[1]
    arrays = [2 * rng.standard_normal(shape) + 1, 1 + 0.1 * rng.standard_normal(c), 0.1 * rng.standard_normal(c)]
    start_mean, start_var = (rng.standard_normal(c).astype(np.float32),
                             np.exp(rng.standard_normal(c)).astype(np.float32))
    running = {}

    def make(f):
        if f is F:
            mean, var = mg.tensor(start_mean, device=device), mg.tensor(start_var, device=device)
        else:
            mean, var = torch.tensor(start_mean, device=device), torch.tensor(start_var, device=device)
        running.setdefault(f is F, (mean, var))

        def fn(x, w, b):
            z = f.batch_norm(x, mean, var, w, b, training=training, momentum=0.1, eps=1e-5)
            return z if slope is None else f.leaky_relu(z, slope)

        return fn

    matches_torch(make, arrays)
    if training:
        for a, e in zip(running[True], running[False]):
            np.testing.assert_allclose(a.numpy(), e.cpu().numpy(), rtol=1e-5, atol=1e-5)

