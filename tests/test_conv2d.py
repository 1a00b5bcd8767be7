"""conv2d: every variant of kernels/conv2d on every device present, against the reference; the reference against
PyTorch; and F.conv2d through each variant, against finite differences and against the reference on the CPU.

Hypothesis draws geometries down to 1x1 images, kernels larger than the image and strides larger than the kernel
(minigan.testing.strategies.convolutions), both float dtypes and a memory layout per array; the named edge cases
(minigan.testing.CONVOLUTION_EDGE_CASES) always run. Each check compares values, shapes and dtypes, and that the
kernel left its inputs as they were. Tolerances: minigan.testing.tolerances (a sum of K terms may differ by
rtol sqrt(K) max|term|); copies must agree exactly.

A variant's columns (im2col) are in its own layout, read only by the same variant, so they are checked through
what holds in any layout: they hold the reference's entries, the forward and the weight gradient computed from
them (as every training step does) are the reference's, and col2im is their adjoint:
<im2col(x), c> = <x, col2im(c)> for every x and c.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigan as mg
import minigan.nn.functional as F
from minigan import backend, dispatch
from minigan.testing import (
    CONVOLUTION_EDGE_CASES,
    LAYOUTS,
    Convolution,
    amax,
    assert_close,
    assert_same_bits,
    check_function,
    host,
    place,
    rtol_of,
    sum_floor,
    untouched,
)
from minigan.testing.strategies import convolutions, dtypes, layouts, seeds

OPERATOR = "conv2d"
reference = dispatch.kernel(OPERATOR, "reference")
EDGES = pytest.mark.parametrize("g", CONVOLUTION_EDGE_CASES.values(), ids=CONVOLUTION_EDGE_CASES.keys())
DTYPES = pytest.mark.parametrize("dtype", ["float64", "float32"])
four_layouts = st.tuples(layouts(), layouts(), layouts(), layouts())
crops = st.tuples(st.integers(0, 2), st.integers(0, 2))


def draw_arrays(seed: int, dtype: str, *shapes) -> list[np.ndarray]:
    """Standard normal arrays of these shapes, from one seed."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


# ---- every variant against the reference ----

def check_kernels(variant: str, device: str, g: Convolution, dtype: str, layout: tuple, seed: int,
                  crop: tuple = (0, 0)) -> None:
    """forward with and without bias, and from given columns; backward_filter for a gy `crop` rows and columns
    smaller than y, with the columns computed inside and given (those of the full output, cropped inside)."""
    kernel = dispatch.kernel(OPERATOR, variant)
    out = g.output_size
    gy_out = tuple(max(1, o - c) for o, c in zip(out, crop))
    x, W, b, gy = draw_arrays(seed, dtype, g.input_shape, g.weight_shape, g.bias_shape, (g.n, g.c_out, *gy_out))
    x_d, W_d, b_d, gy_d = (place(a, device, lay) for a, lay in zip((x, W, b, gy), layout))
    floor = sum_floor(g.terms, amax(x) * amax(W))
    for bias, bias_d in ((b, b_d), (None, None)):
        with untouched(x_d, W_d, bias_d):
            y = kernel.forward(x_d, W_d, bias_d, *g.arguments)
        expected = reference.forward(x, W, bias, *g.arguments)
        assert expected.shape == g.output_shape
        assert_close(y, expected, floor + amax(bias), f"forward, bias {bias is not None}", device=device)

    with untouched(x_d):
        col = kernel.im2col(x_d, g.kernel, *g.arguments)
    with untouched(x_d, W_d, col):
        y_col = kernel.forward(x_d, W_d, None, *g.arguments, col=col)
    assert_same_bits(y_col, y, "forward from given columns")

    expected = reference.backward_filter(x, gy, g.kernel, *g.arguments)
    assert expected.shape == W.shape
    floor = sum_floor(g.n * np.prod(gy_out), amax(x) * amax(gy))
    with untouched(x_d, gy_d, col):
        gW = kernel.backward_filter(x_d, gy_d, g.kernel, *g.arguments)
        gW_col = kernel.backward_filter(x_d, gy_d, g.kernel, *g.arguments, col=col)
    assert_close(gW, expected, floor, "backward_filter", device=device)
    assert_close(gW_col, expected, floor, "backward_filter from given columns", device=device)


@settings(max_examples=40)
@given(g=convolutions(), dtype=dtypes(), layout=four_layouts, seed=seeds(), crop=crops)
def test_forward_and_filter_gradient(variant, device, g, dtype, layout, seed, crop):
    check_kernels(variant, device, g, dtype, layout, seed, crop)


@DTYPES
@EDGES
def test_forward_and_filter_gradient_edge_cases(variant, device, g, dtype):
    for k, layout in enumerate(LAYOUTS):
        check_kernels(variant, device, g, dtype, (layout,) * 4, k, (1, 0))


def inner(a, b) -> float:
    """<a, b> summed in float64 (the arrays on either device)."""
    return float(np.vdot(host(a).astype(np.float64), host(b).astype(np.float64)))


def check_columns(variant: str, device: str, g: Convolution, dtype: str, layout: str, seed: int) -> None:
    """im2col gathers: each entry of the columns is a copy of one pixel of x or a padding zero, the pixels behind
    the entries being the reference's, each as often. The pixel behind each entry is found by running im2col on an
    image of pixel numbers (1, 2, ..., exact in either dtype; 0 is padding). col2im adds up, for each pixel, the
    column entries copied from it (and the bias, when given), and it is im2col's adjoint."""
    kernel = dispatch.kernel(OPERATOR, variant)
    x, b = draw_arrays(seed, dtype, g.input_shape, (g.c_in,))
    x_d, b_d = place(x, device, layout), place(b, device, layout)
    with untouched(x_d):
        col = kernel.im2col(x_d, g.kernel, *g.arguments)
    assert backend.device_of(col) == device and col.dtype == x.dtype
    numbers = np.arange(1, x.size + 1).reshape(x.shape).astype(dtype)
    source = host(kernel.im2col(place(numbers, device), g.kernel, *g.arguments)).astype(np.int64)
    assert source.shape == col.shape
    np.testing.assert_array_equal(np.sort(source, axis=None),
                                  np.sort(reference.im2col(numbers, g.kernel, *g.arguments), axis=None),
                                  err_msg="im2col gathers other pixels than the reference")
    np.testing.assert_array_equal(host(col), np.concatenate([[0], x.ravel()])[source],
                                  err_msg="im2col's entries are not the pixels it gathers")

    (c,) = draw_arrays(seed + 1, dtype, col.shape)
    c_d = place(c, device, layout)
    with untouched(c_d, b_d):
        back = kernel.col2im(c_d, g.size, g.kernel, *g.arguments)
        back_bias = kernel.col2im(c_d, g.size, g.kernel, *g.arguments, b_d)
    taps = sum_floor(np.prod(g.kernel), amax(c))
    sums = np.bincount(source.ravel(), weights=c.astype(np.float64).ravel(), minlength=x.size + 1)[1:]
    assert_close(back, sums.reshape(x.shape).astype(dtype), taps, "col2im", device=device)
    assert_close(back_bias, host(back) + b.reshape(1, -1, 1, 1), taps + amax(b), "col2im with a bias",
                 device=device)
    # <im2col(x), c> = <x, col2im(c)>: im2col copies exactly, so the left side only has float64 rounding, and the
    # right side carries col2im's error, rtol (|col2im(c)| + taps) per pixel
    lhs, rhs = inner(col, c), inner(x, back)
    bound = (rtol_of(dtype) * float(np.sum(np.abs(x) * (np.abs(host(back)) + taps)))
             + 1e-12 * float(np.sum(np.abs(host(col).astype(np.float64) * c))))
    assert abs(lhs - rhs) <= bound, f"col2im is not im2col's adjoint: {lhs!r} != {rhs!r} (bound {bound:.3g})"


@settings(max_examples=40)
@given(g=convolutions(), dtype=dtypes(), layout=layouts(), seed=seeds())
def test_im2col_col2im(variant, device, g, dtype, layout, seed):
    check_columns(variant, device, g, dtype, layout, seed)


@DTYPES
@EDGES
def test_im2col_col2im_edge_cases(variant, device, g, dtype):
    for k, layout in enumerate(LAYOUTS):
        check_columns(variant, device, g, dtype, layout, k)


# ---- batches of whole groups of eight rows, and of a partial group ----

GROUP_BATCHES = pytest.mark.parametrize("n", [8, 9, 16, 17])


def grouped(n: int) -> Convolution:
    """A small padded, strided geometry at batch n. The CPU kernels move the batch into and out of their layout
    eight rows at a time, then the rows of a partial group one by one (kernels/chwn.py)."""
    return Convolution(n, 3, 4, (5, 4), (3, 2), (2, 1), (1, 1))


@DTYPES
@GROUP_BATCHES
def test_kernels_at_batches_of_whole_and_partial_groups_of_eight(variant, device, n, dtype):
    """forward, the weight gradient (from a gy one row short, and from given columns) and the columns, whose
    col2im is the input gradient's last step."""
    for k, layout in enumerate(("contiguous", "strided")):
        check_kernels(variant, device, grouped(n), dtype, (layout,) * 4, n + k, (1, 0))
        check_columns(variant, device, grouped(n), dtype, layout, n + k)


@GROUP_BATCHES
def test_derivatives_at_batches_of_whole_and_partial_groups_of_eight(variant, device, derivatives_match, n):
    """F.conv2d's value, input gradient (the variant's transposed convolution), weight gradient and second
    derivatives against the reference kernels on the CPU."""
    g = grouped(n)
    x, W, b, _ = g.operands(n)
    derivatives_match(lambda x, W, b: F.conv2d(x, W, b, **g.options), [x, W, b], "float64")


@DTYPES
def test_runs_are_bit_reproducible(variant, device, dtype):
    """Two runs of every kernel on DCGAN-sized inputs give the same bits (no atomics, fixed summation orders)."""
    kernel = dispatch.kernel(OPERATOR, variant)
    x, W, gy, b = (place(a, device) for a in draw_arrays(0, dtype, (8, 16, 16, 16), (32, 16, 5, 5), (8, 32, 8, 8),
                                                         (16,)))
    geometry = ((2, 2), (2, 2), (1, 1))

    def run() -> list:
        col = kernel.im2col(x, (5, 5), *geometry)
        return [col, kernel.forward(x, W, None, *geometry), kernel.forward(x, W, None, *geometry, col=col),
                kernel.backward_filter(x, gy, (5, 5), *geometry), kernel.backward_filter(x, gy, (5, 5), *geometry,
                                                                                         col=col),
                kernel.col2im(col, (16, 16), (5, 5), *geometry, b)]

    for k, (a, e) in enumerate(zip(run(), run(), strict=True)):
        assert_same_bits(a, e, f"output {k}")


def test_the_selection_picks_the_variant(variant, device, selected):
    """Under its selection an array on the device computes with the variant's module; an unknown selection is
    refused with both choices named."""
    x = place(np.zeros((1, 1, 2, 2)), device)
    module = dispatch.kernel(OPERATOR, dispatch.choose(OPERATOR, x))
    assert module is dispatch.kernel(OPERATOR, variant) and module.__name__ == f"minigan.kernels.conv2d.{variant}"
    with pytest.raises(ValueError) as error:
        dispatch.use_kernels("numba")
    for part in ("'numba'", "'fast'", "'reference'", "MINIGAN_KERNELS"):
        assert part in str(error.value)
    assert dispatch.kernels_in_use() == selected


# ---- the reference against PyTorch ----

def check_against_torch(torch, g: Convolution, dtype: str, layout: str, seed: int) -> None:
    """forward (with and without bias) and backward_filter against torch's conv2d and its autograd; im2col is
    torch's unfold (the reference's layout is unfold's), col2im its fold. |a - e| <= rtol (|e| + max(max|e|, 1))
    with rtol 1e-10 in float64 (torch's own algorithms sum in other orders) and 1e-5 in float32."""
    rtol = {"float64": 1e-10, "float32": 1e-5}[dtype]
    TF = torch.nn.functional

    def close(actual, expected, what):
        expected = expected.detach().numpy()
        assert_close(actual, expected, max(float(np.abs(expected).max()), 1.0) if expected.size else 1.0, what,
                     rtol=rtol)

    def th(a):
        return torch.tensor(np.ascontiguousarray(a))

    x, W, b = (place(a, layout=layout) for a in draw_arrays(seed, dtype, g.input_shape, g.weight_shape, g.bias_shape))
    close(reference.forward(x, W, b, *g.arguments), TF.conv2d(th(x), th(W), th(b), **g.options), "forward")
    y = reference.forward(x, W, None, *g.arguments)
    close(y, TF.conv2d(th(x), th(W), **g.options), "forward without bias")
    (gy,) = draw_arrays(seed + 1, dtype, y.shape)
    W_t = th(W).requires_grad_()
    TF.conv2d(th(x), W_t, **g.options).backward(th(gy))
    close(reference.backward_filter(x, gy, g.kernel, *g.arguments), W_t.grad, "backward_filter")

    col = reference.im2col(x, g.kernel, *g.arguments)
    assert col.shape == (g.n, g.c_in, *g.kernel, *g.output_size)
    unfolded = TF.unfold(th(x), g.kernel, dilation=g.dilation, padding=g.padding, stride=g.stride)
    np.testing.assert_array_equal(col.reshape(unfolded.shape), unfolded.numpy())
    (c,) = draw_arrays(seed + 2, dtype, col.shape)
    folded = TF.fold(th(c.reshape(unfolded.shape)), g.size, g.kernel, dilation=g.dilation, padding=g.padding,
                     stride=g.stride)
    close(reference.col2im(place(c, layout=layout), g.size, g.kernel, *g.arguments), folded, "col2im")


@given(g=convolutions(max_kernel=4, max_stride=3, max_dilation=2), dtype=dtypes(), layout=layouts(), seed=seeds())
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
    return draw(convolutions(**SMALL)).operands(draw(seeds()), draw(st.booleans()))


EXAMPLES = [CONVOLUTION_EDGE_CASES[name].operands(k, bias) for k, (name, bias) in enumerate(
    [("1x1-image-kernel-3-padded", True), ("dilated-kernel-larger-than-image", False),
     ("stride-larger-than-image", True)])]


def conv2d(x, W, b, g):
    return F.conv2d(x, W, b, **g.options)


def conv2d_reference(x, W, b, g):
    return reference.forward(x, W, b, *g.arguments)


def conv2d_floor(x, W, b, g):
    return sum_floor(g.terms, amax(x) * amax(W)) + amax(b)


def test_gradients(variant, device, selected):
    """F.conv2d with and without bias: the forward, first and second derivatives, inputs in every layout."""
    check_function(conv2d, conv2d_reference, cases(), floor=conv2d_floor, device=device, examples=EXAMPLES,
                   max_examples=80)


def test_third_derivatives(variant, device, selected):
    """Second derivatives of conv2d's own create_graph gradient: third derivatives of a quartic in (x, W)."""

    def gradient(x, W, b, g):
        inputs = [t for t in (x, W, b) if t is not None]
        y = F.conv2d(x, W, b, **g.options)
        return tuple(mg.grad((y * y).sum(), inputs, create_graph=True))

    check_function(gradient, None, cases(), device=device, max_examples=30)


CONV_CASES = {  # x shape, W shape, stride, padding, dilation
    "dcgan-5x5-s2-p2": ((2, 3, 8, 8), (4, 3, 5, 5), 2, 2, 1),
    "dcgan-4x4-s2-p1": ((2, 3, 8, 8), (4, 3, 4, 4), 2, 1, 1),
    "odd": ((2, 2, 7, 5), (3, 2, 3, 2), (2, 3), (1, 0), (1, 2)),
}


@DTYPES
@pytest.mark.parametrize("case", CONV_CASES.values(), ids=CONV_CASES.keys())
def test_derivatives_match_the_reference_on_the_cpu(variant, device, derivatives_match, case, dtype):
    x_shape, w_shape, stride, padding, dilation = case
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])]
    derivatives_match(lambda x, w, b: F.conv2d(x, w, b, stride, padding, dilation), arrays, dtype)


TORCH_CASES = {  # x shape, W shape, stride, padding, dilation
    "dcgan-5x5-s2-p2": ((8, 16, 16, 16), (32, 16, 5, 5), 2, 2, 1),
    "dcgan-4x4-s2-p1": ((8, 16, 16, 16), (32, 16, 4, 4), 2, 1, 1),
    "odd": ((3, 3, 7, 5), (4, 3, 3, 2), (2, 1), (1, 0), (1, 2)),
    "1x1-image-3x3-kernel": ((2, 4, 1, 1), (3, 4, 3, 3), 1, 1, 1),
}


@pytest.mark.parametrize("case", TORCH_CASES.values(), ids=TORCH_CASES.keys())
def test_against_torch(variant, device, selected, matches_torch, case):
    """F.conv2d's value and gradients in float32 against torch's on the same device."""
    x_shape, w_shape, stride, padding, dilation = case
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal(x_shape), 0.1 * rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])]

    def make(f):
        return lambda x, W, b: f.conv2d(x, W, b, stride=stride, padding=padding, dilation=dilation)

    matches_torch(make, arrays)


# ---- the CUDA variant's kernels, each of them (cuda.paths lists those that can compute a convolution) ----

def cuda_kernels():
    return dispatch.kernel(OPERATOR, "cuda")


def check_cuda_paths(g: Convolution, dtype: str, seed: int, splits=(1, 3)) -> None:
    """The forward on every kernel that can compute g (the direct kernels for few channels, the implicit GEMM with
    either block tile, reading the filter packed and as it is) and the weight gradient on either GEMM tile with one
    and with several K-splits, against the reference."""
    cuda = cuda_kernels()
    x, W, b, gy = draw_arrays(seed, dtype, g.input_shape, g.weight_shape, g.bias_shape, g.output_shape)
    x_d, W_d, b_d, gy_d = (place(a, "cuda") for a in (x, W, b, gy))
    expected = reference.forward(x, W, b, *g.arguments)
    floor = sum_floor(g.terms, amax(x) * amax(W)) + amax(b)
    usable = cuda.paths(g.input_shape, g.weight_shape, *g.arguments)
    assert {"gemm64", "gemm128"} <= set(usable)
    for path in usable:
        for pack in (False, True) if path.startswith("gemm") else (None,):
            y = cuda.convolve(x_d, W_d, b_d, *g.arguments, path=path, pack=pack)
            assert_close(y, expected, floor, f"forward on {path}, packed filter {pack}", device="cuda")
    expected = reference.backward_filter(x, gy, g.kernel, *g.arguments)
    floor = sum_floor(g.n * np.prod(g.output_size), amax(x) * amax(gy))
    for path in ("gemm64", "gemm128"):
        for s in splits:
            gW = cuda.weight_gradient(x_d, gy_d, g.kernel, *g.arguments, path=path, splits=s)
            assert_close(gW, expected, floor, f"weight gradient on {path}, {s} K-splits", device="cuda")


@pytest.mark.gpu
@settings(max_examples=40)
@given(g=convolutions(max_batch=2, max_channels=20), dtype=dtypes(), seed=seeds())
def test_every_cuda_kernel_path(g, dtype, seed):
    check_cuda_paths(g, dtype, seed)


CUDA_CASES = {  # more output channels than one GEMM tile holds, channels both below and above the K-slice
    "two-m-tiles-of-64": Convolution(2, 9, 70, (6, 5), (3, 3), (1, 2), (1, 1), (1, 1)),
    "two-m-tiles-of-128": Convolution(1, 20, 130, (5, 6), (2, 3), (1, 1), (1, 0), (2, 1)),
    "many-pixels": Convolution(3, 5, 6, (20, 19), (3, 2), (1, 1), (2, 1), (1, 2)),
}


@pytest.mark.gpu
@DTYPES
@pytest.mark.parametrize("g", CUDA_CASES.values(), ids=CUDA_CASES.keys())
def test_every_cuda_kernel_path_on_large_tiles(g, dtype):
    check_cuda_paths(g, dtype, 3, splits=(1, 2))


@pytest.mark.gpu
def test_thin_layers_take_the_direct_cuda_kernels():
    """1 to 3 input channels (DCGAN's first discriminator layer) run on thin_in, 1 to 3 output channels (its last
    layer, and the generator's last) on thin_out, the deep layers on the implicit GEMMs; the direct kernels match the
    reference, thin_out also with its channels split over thread groups and its filter in several chunks."""
    cuda = cuda_kernels()
    one = ((1, 1),)
    assert cuda.paths((128, 3, 64, 64), (64, 3, 4, 4), (2, 2), (1, 1), *one)[0] == "thin_in"
    assert cuda.paths((128, 512, 4, 4), (1, 512, 4, 4), (1, 1), (0, 0), *one)[0] == "thin_out"
    assert cuda.paths((128, 64, 32, 32), (64, 3, 4, 4), (2, 2), (1, 1), *one, (0, 0))[0] == "thin_out"
    assert cuda.paths((128, 64, 32, 32), (128, 64, 4, 4), (2, 2), (1, 1), *one)[0] == "gemm128"
    assert cuda.paths((128, 256, 8, 8), (512, 256, 5, 5), (2, 2), (2, 2), *one)[0] == "gemm64"
    cases = [("thin_in", Convolution(2, 3, 40, (20, 36), (4, 4), (2, 2), (1, 1))),
             ("thin_in", Convolution(1, 1, 5, (9, 40), (5, 3), (1, 2), (2, 0), (1, 2))),
             ("thin_out", Convolution(2, 40, 3, (3, 3), (5, 5), padding=(2, 2))),
             ("thin_out", Convolution(300, 2, 1, (1, 2), (1, 2)))]
    for dtype in ("float64", "float32"):
        for k, (path, g) in enumerate(cases):
            assert cuda.paths(g.input_shape, g.weight_shape, *g.arguments)[0] == path
            x, W, b = draw_arrays(k, dtype, g.input_shape, g.weight_shape, g.bias_shape)
            y = cuda.forward(place(x, "cuda"), place(W, "cuda"), place(b, "cuda"), *g.arguments)
            assert_close(y, reference.forward(x, W, b, *g.arguments), sum_floor(g.terms, amax(x) * amax(W)) + amax(b),
                         f"{path} on {g}", device="cuda")


@pytest.mark.gpu
@DTYPES
def test_cuda_split_k_weight_gradient_is_bit_reproducible(dtype, monkeypatch):
    """A weight gradient split along K over blocks gives the same bits whatever order the blocks run in (the
    emulator's GPUEMU_ORDER; on a GPU, whatever the scheduler does): the partial sums are added by a second kernel
    in a fixed order. The plan splits K where the output has few tiles and K is long (DCGAN's first discriminator
    layer at batch 128), not where the product is small."""
    cuda = cuda_kernels()
    assert cuda.weight_plan((128, 3, 64, 64), (128, 64, 32, 32), (4, 4)) == ("gemm64", cuda.BLOCKS)
    x, gy = draw_arrays(5, dtype, (8, 6, 32, 32), (8, 10, 16, 16))
    assert cuda.weight_plan(x.shape, gy.shape, (5, 5))[1] == 1
    geometry = ((2, 2), (2, 2), (1, 1))
    x_d, gy_d = place(x, "cuda"), place(gy, "cuda")
    expected = reference.backward_filter(x, gy, (5, 5), *geometry)
    runs = []
    for order in ("ascending", "descending", "random"):
        monkeypatch.setenv("GPUEMU_ORDER", order)
        runs.append(cuda.weight_gradient(x_d, gy_d, (5, 5), *geometry, splits=8))
    assert_close(runs[0], expected, sum_floor(8 * 16 * 16, amax(x) * amax(gy)), "split-K weight gradient",
                 device="cuda")
    for k, run in enumerate(runs[1:]):
        assert_same_bits(run, runs[0], f"run {k + 1}")
