"""conv_transpose2d: every variant of kernels/conv_transpose2d on every device present, against the reference (its
weight gradient is conv2d's backward_filter of the same variant, with x and gy swapped); the reference against
PyTorch; conv_transpose2d as conv2d's adjoint; and F.conv_transpose2d through each variant, against finite
differences and against the reference on the CPU.

Hypothesis draws geometries with output paddings up to max(stride, dilation) - 1 (so gy may be smaller than the
full convolution of y), and the named edge cases (minigan.testing.TRANSPOSED_EDGE_CASES) always run. Tolerances:
minigan.testing.tolerances.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigan.nn.functional as F
from minigan import dispatch
from minigan.testing import (
    LAYOUTS,
    TRANSPOSED_EDGE_CASES,
    Convolution,
    amax,
    assert_close,
    assert_same_bits,
    check_function,
    host,
    place,
    sum_floor,
    untouched,
)
from minigan.testing.strategies import convolutions, dtypes, layouts, seeds

OPERATOR = "conv_transpose2d"
reference = dispatch.kernel(OPERATOR, "reference")
conv2d_reference = dispatch.kernel("conv2d", "reference")
EDGES = pytest.mark.parametrize("g", TRANSPOSED_EDGE_CASES.values(), ids=TRANSPOSED_EDGE_CASES.keys())
DTYPES = pytest.mark.parametrize("dtype", ["float64", "float32"])
four_layouts = st.tuples(layouts(), layouts(), layouts(), layouts())


def draw_arrays(seed: int, dtype: str, *shapes) -> list[np.ndarray]:
    """Standard normal arrays of these shapes, from one seed."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


# ---- every variant against the reference ----

def check_kernels(variant: str, device: str, g: Convolution, dtype: str, layout: tuple, seed: int) -> None:
    """forward with and without bias; the weight gradient, conv2d's backward_filter with x and gy swapped, where
    output_padding >= stride gives a gy smaller than the full convolution of y."""
    kernel, conv2d = dispatch.kernel(OPERATOR, variant), dispatch.kernel("conv2d", variant)
    x, W, b, gy = draw_arrays(seed, dtype, g.input_shape, g.weight_shape, g.bias_shape, g.output_shape)
    x_d, W_d, b_d, gy_d = (place(a, device, lay) for a, lay in zip((x, W, b, gy), layout))
    for bias, bias_d in ((b, b_d), (None, None)):
        with untouched(x_d, W_d, bias_d):
            y = kernel.forward(x_d, W_d, bias_d, *g.arguments)
        expected = reference.forward(x, W, bias, *g.arguments)
        assert expected.shape == g.output_shape
        floor = sum_floor(g.terms, amax(x) * amax(W)) + amax(bias)
        assert_close(y, expected, floor, f"forward, bias {bias is not None}", device=device)

    conv_arguments = (g.stride, g.padding, g.dilation)
    with untouched(x_d, gy_d):
        gW = conv2d.backward_filter(gy_d, x_d, g.kernel, *conv_arguments)
    expected = conv2d_reference.backward_filter(gy, x, g.kernel, *conv_arguments)
    assert expected.shape == W.shape
    assert_close(gW, expected, sum_floor(g.n * np.prod(g.size), amax(x) * amax(gy)), "weight gradient", device=device)


@settings(max_examples=40)
@given(g=convolutions(transposed=True), dtype=dtypes(), layout=four_layouts, seed=seeds())
def test_forward_and_weight_gradient(variant, device, g, dtype, layout, seed):
    check_kernels(variant, device, g, dtype, layout, seed)


@DTYPES
@EDGES
def test_forward_and_weight_gradient_edge_cases(variant, device, g, dtype):
    for k, layout in enumerate(LAYOUTS):
        check_kernels(variant, device, g, dtype, (layout,) * 4, k)


# ---- batches of whole groups of eight rows, and of a partial group ----

GROUP_BATCHES = pytest.mark.parametrize("n", [8, 9, 16, 17])


def grouped(n: int) -> Convolution:
    """A small padded, strided geometry with an output padding at batch n. The CPU kernels move the batch into and
    out of their layout eight rows at a time, then the rows of a partial group one by one (kernels/chwn.py)."""
    return Convolution(n, 3, 2, (3, 4), (3, 2), (2, 1), (1, 1), output_padding=(1, 0), transposed=True)


@DTYPES
@GROUP_BATCHES
def test_kernels_at_batches_of_whole_and_partial_groups_of_eight(variant, device, n, dtype):
    for k, layout in enumerate(("contiguous", "strided")):
        check_kernels(variant, device, grouped(n), dtype, (layout,) * 4, n + k)


@GROUP_BATCHES
def test_derivatives_at_batches_of_whole_and_partial_groups_of_eight(variant, device, derivatives_match, n):
    """F.conv_transpose2d's value, input gradient (the variant's conv2d), weight gradient and second derivatives
    against the reference kernels on the CPU."""
    g = grouped(n)
    x, W, b, _ = g.operands(n)
    derivatives_match(lambda x, W, b: F.conv_transpose2d(x, W, b, **g.options), [x, W, b], "float64")


def inner(a, b) -> float:
    return float(np.vdot(host(a).astype(np.float64), host(b).astype(np.float64)))


@given(g=convolutions(max_kernel=4, max_stride=3, max_dilation=2), layout=layouts(), seed=seeds())
def test_is_the_adjoint_of_conv2d(variant, device, g, layout, seed):
    """<conv2d(x, W), y> == <x, conv_transpose2d(y, W)> in float64, with the output_padding that gives back x's
    size, both computed by the variant."""
    conv2d = dispatch.kernel("conv2d", variant)
    (oh, ow) = g.output_size
    output_padding = tuple(i + 2 * p - d * (k - 1) - 1 - (o - 1) * s for i, o, k, s, p, d in
                           zip(g.size, (oh, ow), g.kernel, g.stride, g.padding, g.dilation))
    x, W, y = (place(a, device, layout) for a in draw_arrays(seed, "float64", g.input_shape, g.weight_shape,
                                                             g.output_shape))
    conv = conv2d.forward(x, W, None, g.stride, g.padding, g.dilation)
    back = dispatch.kernel(OPERATOR, variant).forward(y, W, None, g.stride, g.padding, output_padding, g.dilation)
    assert back.shape == x.shape
    lhs, rhs = inner(conv, y), inner(x, back)
    assert abs(lhs - rhs) <= 1e-10 * (float(np.abs(host(conv)).sum()) * amax(y) + 1)


@DTYPES
def test_runs_are_bit_reproducible(variant, device, dtype):
    """Two runs of the forward, and of the weight gradient, on DCGAN-sized inputs give the same bits."""
    kernel, conv2d = dispatch.kernel(OPERATOR, variant), dispatch.kernel("conv2d", variant)
    x, W, b, gy = (place(a, device) for a in draw_arrays(0, dtype, (8, 32, 8, 8), (32, 16, 5, 5), (16,),
                                                         (8, 16, 16, 16)))

    def run() -> list:
        return [kernel.forward(x, W, b, (2, 2), (2, 2), (1, 1), (1, 1)),
                conv2d.backward_filter(gy, x, (5, 5), (2, 2), (2, 2), (1, 1))]

    for k, (a, e) in enumerate(zip(run(), run(), strict=True)):
        assert_same_bits(a, e, f"output {k}")


# ---- the reference against PyTorch ----

def check_against_torch(torch, g: Convolution, dtype: str, layout: str, seed: int) -> None:
    """forward (with and without bias) against torch's conv_transpose2d, and the weight gradient against its
    autograd; where output_padding makes y larger than a conv2d of x's size needs, the extra rows are unused.
    |a - e| <= rtol (|e| + max(max|e|, 1)), rtol 1e-10 in float64 and 1e-5 in float32."""
    rtol = {"float64": 1e-10, "float32": 1e-5}[dtype]
    TF = torch.nn.functional

    def close(actual, expected, what):
        expected = expected.detach().numpy()
        assert_close(actual, expected, max(float(np.abs(expected).max()), 1.0) if expected.size else 1.0, what,
                     rtol=rtol)

    def th(a):
        return torch.tensor(np.ascontiguousarray(a))

    x, W, b = (place(a, layout=layout) for a in draw_arrays(seed, dtype, g.input_shape, g.weight_shape, g.bias_shape))
    y = reference.forward(x, W, b, *g.arguments)
    assert y.shape == g.output_shape
    close(y, TF.conv_transpose2d(th(x), th(W), th(b), **g.options), "forward")
    close(reference.forward(x, W, None, *g.arguments), TF.conv_transpose2d(th(x), th(W), **g.options),
          "forward without bias")
    (gy,) = draw_arrays(seed + 1, dtype, y.shape)
    W_t = th(W).requires_grad_()
    TF.conv_transpose2d(th(x), W_t, **g.options).backward(th(gy))
    gW = conv2d_reference.backward_filter(place(gy, layout=layout), x, g.kernel, g.stride, g.padding, g.dilation)
    close(gW, W_t.grad, "weight gradient")


@given(g=convolutions(transposed=True, max_kernel=4, max_stride=3, max_dilation=2), dtype=dtypes(), layout=layouts(),
       seed=seeds())
def test_reference_against_torch(torch_cpu, g, dtype, layout, seed):
    check_against_torch(torch_cpu, g, dtype, layout, seed)


@DTYPES
@EDGES
def test_reference_against_torch_edge_cases(torch_cpu, g, dtype):
    for k, layout in enumerate(LAYOUTS):
        check_against_torch(torch_cpu, g, dtype, layout, k)


# ---- through minigan.nn.functional ----

SMALL = {"max_batch": 2, "max_kernel": 3, "max_stride": 3, "max_padding": 2, "max_dilation": 2, "max_extra": 3}


@st.composite
def cases(draw):
    return draw(convolutions(transposed=True, **SMALL)).operands(draw(seeds()), draw(st.booleans()))


EXAMPLES = [TRANSPOSED_EDGE_CASES[name].operands(k, bias) for k, (name, bias) in enumerate(
    [("1x1-image-output-padding", True), ("output-padding-from-dilation-2", False)])]


def conv_transpose2d(x, W, b, g):
    return F.conv_transpose2d(x, W, b, **g.options)


def conv_transpose2d_reference(x, W, b, g):
    return reference.forward(x, W, b, *g.arguments)


def conv_transpose2d_floor(x, W, b, g):
    return sum_floor(g.terms, amax(x) * amax(W)) + amax(b)


def test_gradients(variant, device, selected):
    """F.conv_transpose2d with and without bias: the forward, first and second derivatives, inputs in every
    layout."""
    check_function(conv_transpose2d, conv_transpose2d_reference, cases(), floor=conv_transpose2d_floor,
                   device=device, examples=EXAMPLES, max_examples=80)


CASES = {  # x shape, W shape, stride, padding, output_padding, dilation
    "dcgan-5x5-s2-p2-op1": ((2, 4, 4, 4), (4, 3, 5, 5), 2, 2, 1, 1),
    "dcgan-4x4-s2-p1": ((2, 4, 4, 4), (4, 3, 4, 4), 2, 1, 0, 1),
    "output-padding-from-dilation": ((2, 3, 3, 3), (3, 2, 3, 3), 1, 1, 1, 2),
}


@DTYPES
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_derivatives_match_the_reference_on_the_cpu(variant, device, derivatives_match, case, dtype):
    x_shape, w_shape, stride, padding, output_padding, dilation = case
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[1])]
    derivatives_match(lambda x, w, b: F.conv_transpose2d(x, w, b, stride, padding, output_padding, 1, dilation),
                      arrays, dtype)


def test_discriminator_chain_matches_the_reference_on_the_cpu(variant, device, derivatives_match):
    """conv -> batch norm -> leaky ReLU -> conv_transpose -> sigmoid, every op of the chain on the device."""

    def fn(x, w1, gamma, beta, w2):
        h = F.leaky_relu(F.batch_norm(F.conv2d(x, w1, stride=2, padding=1), None, None, gamma, beta,
                                      training=True), 0.2)
        return F.sigmoid(F.conv_transpose2d(h, w2, stride=2, padding=1, output_padding=1))

    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal(s) for s in ((2, 2, 6, 6), (3, 2, 3, 3), (3,), (3,), (3, 2, 3, 3))]
    derivatives_match(fn, arrays, "float64")


TORCH_CASES = {  # x shape, W shape, stride, padding, output_padding, dilation
    "dcgan-5x5-s2-p2-op1": ((8, 32, 4, 4), (32, 16, 5, 5), 2, 2, 1, 1),
    "dcgan-4x4-s2-p1": ((8, 32, 4, 4), (32, 16, 4, 4), 2, 1, 0, 1),
    "dcgan-first-4x4-s1-p0": ((8, 20, 1, 1), (20, 16, 4, 4), 1, 0, 0, 1),
    "output-padding-from-dilation": ((2, 3, 3, 3), (3, 2, 3, 3), 1, 1, 1, 2),
}


@pytest.mark.parametrize("case", TORCH_CASES.values(), ids=TORCH_CASES.keys())
def test_against_torch(variant, device, selected, matches_torch, case):
    """F.conv_transpose2d's value and gradients in float32 against torch's on the same device."""
    x_shape, w_shape, stride, padding, output_padding, dilation = case
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal(x_shape), 0.1 * rng.standard_normal(w_shape), rng.standard_normal(w_shape[1])]

    def make(f):  # by keyword: torch's seventh argument is groups
        return lambda x, W, b: f.conv_transpose2d(x, W, b, stride=stride, padding=padding,
                                                  output_padding=output_padding, dilation=dilation)

    matches_torch(make, arrays)


# ---- the CUDA variant's kernels, each of them (conv2d's cuda.paths lists those that can compute one) ----

def check_cuda_paths(g: Convolution, dtype: str, seed: int) -> None:
    """The forward on every kernel that can compute g (thin_out for few output channels, the implicit GEMM with
    either block tile, reading the filter packed and as it is), each split into the stride phases, against the
    reference."""
    cuda = dispatch.kernel("conv2d", "cuda")
    x, W, b = draw_arrays(seed, dtype, g.input_shape, g.weight_shape, g.bias_shape)
    x_d, W_d, b_d = (place(a, "cuda") for a in (x, W, b))
    floor = sum_floor(g.terms, amax(x) * amax(W)) + amax(b)
    usable = cuda.paths(g.input_shape, g.weight_shape, g.stride, g.padding, g.dilation, g.output_padding)
    assert {"gemm64", "gemm128"} <= set(usable) and "thin_in" not in usable
    for bias, bias_d in ((b, b_d), (None, None)):
        expected = reference.forward(x, W, bias, *g.arguments)
        for path in usable:
            for pack in (False, True) if path.startswith("gemm") else (None,):
                y = cuda.convolve(x_d, W_d, bias_d, g.stride, g.padding, g.dilation, output_padding=g.output_padding,
                                  path=path, pack=pack)
                assert_close(y, expected, floor + amax(bias), f"forward on {path}, packed filter {pack}, bias "
                             f"{bias is not None}", device="cuda")


@pytest.mark.gpu
@settings(max_examples=40)
@given(g=convolutions(transposed=True, max_batch=2, max_channels=20), dtype=dtypes(), seed=seeds())
def test_every_cuda_kernel_path(g, dtype, seed):
    check_cuda_paths(g, dtype, seed)


CUDA_CASES = {  # more output channels than one GEMM tile holds; phases that no tap reaches (stride and dilation 2)
    "two-m-tiles-of-64": Convolution(2, 9, 70, (3, 4), (3, 3), (2, 2), (1, 1), (1, 1), (1, 0), True),
    "two-m-tiles-of-128": Convolution(1, 20, 130, (3, 2), (4, 3), (2, 3), (1, 0), (1, 1), (1, 2), True),
    "phases-without-taps": Convolution(2, 5, 4, (4, 3), (3, 2), (2, 2), (1, 0), (2, 2), (1, 1), True),
    "many-pixels": Convolution(2, 6, 5, (9, 10), (5, 4), (3, 2), (2, 1), (1, 3), (2, 1), True),
}


@pytest.mark.gpu
@DTYPES
@pytest.mark.parametrize("g", CUDA_CASES.values(), ids=CUDA_CASES.keys())
def test_every_cuda_kernel_path_on_large_tiles(g, dtype):
    check_cuda_paths(g, dtype, 4)
