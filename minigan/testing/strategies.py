"""Hypothesis strategies for testing array code: shapes, values kept where finite differences hold, arrays and
Tensors in every memory layout on either device, and convolution geometries down to their edge cases.

Values come from a NumPy generator seeded by the draw rather than from Hypothesis element by element: drawing
stays fast for arrays of hundreds of elements, and a failure still replays from its seed. This module needs
Hypothesis; the rest of minigan.testing does not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import numpy
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from minigan.tensor import Tensor
from minigan.testing import values as _values
from minigan.testing.arrays import LAYOUTS, place
from minigan.testing.convolutions import Convolution

Values = Callable[[numpy.random.Generator, tuple], numpy.ndarray]
DTYPES = ("float64", "float32")


def seeds() -> SearchStrategy[int]:
    """Seeds of numpy.random.default_rng."""
    return st.integers(0, 2**32 - 1)


def dtypes() -> SearchStrategy[str]:
    """float64 or float32."""
    return st.sampled_from(DTYPES)


def layouts(choices: Sequence[str] = LAYOUTS) -> SearchStrategy[str]:
    """A memory layout (minigan.testing.arrays.lay_out): contiguous, transposed, strided or reversed."""
    return st.sampled_from(tuple(choices))


def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 3) -> SearchStrategy[tuple]:
    """Shapes of min_dims to max_dims dimensions; about half of them have two or more dimensions of size >= 2,
    which a transposed view really transposes."""
    any_shape = st.lists(st.integers(min_side, max_side), min_size=min_dims, max_size=max_dims).map(tuple)
    low_dims, low_side = max(min_dims, 2), max(min_side, 2)
    if low_dims > max_dims or low_side > max_side:
        return any_shape
    full = st.integers(low_dims, max_dims).flatmap(
        lambda n: st.lists(st.integers(low_side, max_side), min_size=n, max_size=n).map(tuple))
    return any_shape | full


def _strategy(value) -> SearchStrategy:
    return value if isinstance(value, SearchStrategy) else st.just(value)


@st.composite
def arrays(draw, shape: tuple | SearchStrategy[tuple], values: Values = _values.normal,
           dtype: str | SearchStrategy[str] = "float64", layouts: Sequence[str] = LAYOUTS,
           device: str = "cpu"):
    """Arrays of `shape` (a tuple, or a strategy of them) filled by `values` (a function of a NumPy Generator
    and a shape, such as those of minigan.testing.values), cast to dtype, on `device`, in one of `layouts`."""
    shape = tuple(draw(_strategy(shape)))
    data = values(numpy.random.default_rng(draw(seeds())), shape)
    return place(data, device, draw(st.sampled_from(tuple(layouts))), draw(_strategy(dtype)))


def tensors(shape: tuple | SearchStrategy[tuple], values: Values = _values.normal,
            dtype: str | SearchStrategy[str] = "float64", layouts: Sequence[str] = LAYOUTS, device: str = "cpu",
            requires_grad: bool = True) -> SearchStrategy[Tensor]:
    """Tensors (leaves) holding what arrays() draws with the same arguments."""
    return arrays(shape, values, dtype, layouts, device).map(lambda a: Tensor(a, requires_grad=requires_grad))


def away_from_kinks(shape, kink: float = 0.0, gap: float = 0.05, reach: float = 2.0, **options) -> SearchStrategy:
    """Arrays of values on both sides of kink, between gap and reach from it (values.away); options as arrays()."""
    return arrays(shape, partial(_values.away, kink=kink, gap=gap, reach=reach), **options)


def positive_arrays(shape, low: float = 0.5, high: float = 2.0, **options) -> SearchStrategy:
    """Arrays of values between low and high > 0 (values.positive); options as arrays()."""
    return arrays(shape, partial(_values.positive, low=low, high=high), **options)


def distinct_arrays(shape, spacing: float = 0.1, **options) -> SearchStrategy:
    """Arrays of values without ties, any two at least 0.8 spacing apart (values.distinct); options as arrays()."""
    return arrays(shape, partial(_values.distinct, spacing=spacing), **options)


@st.composite
def convolutions(draw, transposed: bool = False, max_batch: int = 3, max_channels: int = 3, max_kernel: int = 5,
                 max_stride: int = 4, max_padding: int = 3, max_dilation: int = 3, max_extra: int = 5):
    """Valid conv2d geometries (conv_transpose2d ones with transposed=True), down to images smaller than the kernel
    where the padding allows, 1x1 images and outputs, strides larger than the kernel, and output paddings up to
    max(stride, dilation) - 1. Each image side is the smallest that gives a non-empty output plus up to max_extra."""
    size, kernel, stride, padding, dilation, output_padding = [], [], [], [], [], []
    for _ in range(2):
        k, s = draw(st.integers(1, max_kernel)), draw(st.integers(1, max_stride))
        p, d = draw(st.integers(0, max_padding)), draw(st.integers(1, max_dilation))
        o = draw(st.integers(0, max(s, d) - 1)) if transposed else 0
        if transposed:  # (h - 1) s - 2 p + d (k - 1) + o + 1 >= 1
            smallest = max(1, 1 + -(-(2 * p - d * (k - 1) - o) // s))
        else:  # h + 2 p >= d (k - 1) + 1
            smallest = max(1, d * (k - 1) + 1 - 2 * p)
        h = draw(st.integers(smallest, smallest + max_extra))
        for chosen, v in zip((size, kernel, stride, padding, dilation, output_padding), (h, k, s, p, d, o)):
            chosen.append(v)
    n, c_in, c_out = draw(st.integers(1, max_batch)), draw(st.integers(1, max_channels)), draw(
        st.integers(1, max_channels))
    return Convolution(n, c_in, c_out, tuple(size), tuple(kernel), tuple(stride), tuple(padding), tuple(dilation),
                       tuple(output_padding), transposed)
