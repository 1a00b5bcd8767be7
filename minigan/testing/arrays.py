"""Arrays for tests: the same values held in different memory layouts, on either device, and checks that a
computation left its inputs alone.

A kernel that assumes C-contiguous input, or reads past the end of a view, is still right on the arrays most
code makes; these layouts are the ones that catch it. Every layout but "contiguous" gives a non-contiguous view
(for arrays of two or more elements), and "strided" surrounds the values with NaN, so a read outside the view
shows in the result.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy

from minigan import backend

LAYOUTS = ("contiguous", "transposed", "strided", "reversed")


def lay_out(a, layout: str):
    """A new array equal to a (a NumPy or CuPy array, which stays on its device), held as `layout` says.

    "contiguous": a C-contiguous copy; "transposed": a transposed view of a copy in the reverse axis order;
    "strided": every other element, along every axis, of an array twice as large whose other elements are NaN
    (the largest value for integers, False for booleans); "reversed": a view with negative strides on every axis.
    Where a transposed view would still be contiguous (one axis longer than 1), the strided layout stands in.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}: expected one of {', '.join(LAYOUTS)}")
    xp = backend.get_array_module(a)
    a = xp.asarray(a)
    if layout == "contiguous" or a.size <= 1:
        return xp.array(a, order="C", copy=True)
    out = None
    if layout == "transposed":
        out = xp.ascontiguousarray(a.T).T
    elif layout == "reversed":
        flip = (slice(None, None, -1),) * a.ndim
        out = xp.ascontiguousarray(a[flip])[flip]
    if out is None or out.flags.c_contiguous:
        big = xp.full(tuple(2 * s for s in a.shape), _poison(a.dtype), dtype=a.dtype)
        out = big[(slice(None, None, 2),) * a.ndim]
        out[...] = a
    return out


def _poison(dtype: numpy.dtype):
    """The value that fills the gaps of a strided layout: NaN, or the most unlikely value of other dtypes."""
    if dtype.kind in "fc":
        return numpy.nan
    if dtype.kind in "iu":
        return numpy.iinfo(dtype).max
    return False if dtype.kind == "b" else 0


def place(a, device: str = "cpu", layout: str = "contiguous", dtype=None):
    """The values of a (any array-like) on `device` ("cpu" or "cuda"), in dtype if given, held as layout says."""
    a = numpy.asarray(a) if dtype is None else numpy.asarray(a, dtype=dtype)
    return lay_out(backend.to_device(numpy.array(a, order="C"), device), layout)


def host(a) -> numpy.ndarray:
    """A NumPy array with a's values (a itself if it is one already; a copy of a CuPy array)."""
    return backend.to_device(a, "cpu")


@contextlib.contextmanager
def untouched(*arrays) -> Iterator[None]:
    """Fails (AssertionError) if the block changes any of the arrays, on either device; None entries are skipped.

    Kernels take their inputs read-only: an in-place update of an input would corrupt a value that the graph
    keeps for the backward pass.
    """
    copies = [(a, host(a).copy()) for a in arrays if a is not None]
    yield
    for k, (a, before) in enumerate(copies):
        numpy.testing.assert_array_equal(host(a), before, err_msg=f"the computation wrote into its input {k}")


def assert_same_bits(actual, expected, what: str = "") -> None:
    """actual and expected (on either device) have the same shape, dtype and bytes: run-to-run reproducibility,
    or two routes to one result that do the same operations in the same order."""
    a, e = numpy.ascontiguousarray(host(actual)), numpy.ascontiguousarray(host(expected))
    assert a.shape == e.shape and a.dtype == e.dtype, f"{what}: {a.shape} {a.dtype}, expected {e.shape} {e.dtype}"
    if a.tobytes() != e.tobytes():
        raise AssertionError(f"{what}: {numpy.count_nonzero(a.view(numpy.uint8) != e.view(numpy.uint8))} bytes "
                             f"differ")
