"""How far a computed result may be from its reference: the error of a floating-point sum, bounded per element.

An output of a convolution, a matrix product or a batch-norm reduction is a sum of K terms, and two
implementations add them in different orders (BLAS blocks, pairwise sums, loops with wide accumulators), so they
differ by rounding. With unit roundoff u (6e-8 in float32, 1.1e-16 in float64) each addition errs by at most u
times its partial sum. For terms of random sign the partial sums stay near sqrt(K) max|term|, and blocked or
pairwise summation keeps the chain of additions behind any element short, so the difference is a small multiple
of u sqrt(K) max|term|; where the terms share a sign the error is relative, a small multiple of u |sum|. Hence

    |actual - expected| <= rtol (|expected| + floor),   floor = sqrt(K) max|term| for a sum of K terms,

with rtol 1e-5 in float32 (about 80 u) and 1e-12 in float64 (about 9000 u). A wrong index, a missing term or a
misplaced bias moves an element by a whole term: for the K of a test (at most a few hundred) that is a hundred
times the float32 tolerance and millions of times the float64 one. Copies and elementwise maps must agree exactly.
"""

from __future__ import annotations

import math

import numpy

from minigan import backend
from minigan.testing.arrays import host

RTOL = {numpy.dtype("float32"): 1e-5, numpy.dtype("float64"): 1e-12}


def rtol_of(dtype) -> float:
    """The relative tolerance of a comparison in dtype (float32 or float64), as above."""
    return RTOL[numpy.dtype(dtype)]


def sum_floor(count: int, max_term: float):
    """The error scale of a sum of `count` terms of magnitude at most max_term: sqrt(count) max_term (max_term
    may be an array, for one floor per element or per channel)."""
    return math.sqrt(count) * max_term


def amax(a) -> float:
    """The largest magnitude in a (on either device), 0 for None or an empty array: the size of a sum's terms."""
    if a is None or a.size == 0:
        return 0.0
    return float(numpy.abs(host(a)).max())


def assert_close(actual, expected, floor=0.0, what: str = "", rtol: float | None = None,
                 device: str | None = None) -> None:
    """Check |actual - expected| <= rtol (|expected| + floor) elementwise, and that both have one shape and dtype.

    actual may be on either device (with `device` given, it must be on that one); expected is a NumPy array,
    floor a number or an array that broadcasts against it. rtol defaults to RTOL of expected's dtype. Below the
    smallest normal number rounding errors are absolute, so the tolerance has that much added. NaN on either side
    fails. The message names the worst element and both values.
    """
    if device is not None:
        assert backend.device_of(actual) == device, f"{what}: the result is not on the {device}"
    actual, expected = host(actual), numpy.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, expected {expected.shape}"
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype}, expected {expected.dtype}"
    rtol = rtol_of(expected.dtype) if rtol is None else rtol
    tiny = numpy.finfo(expected.dtype).tiny
    tolerance = rtol * (numpy.abs(expected.astype(numpy.float64)) + floor) + tiny
    error = numpy.abs(actual.astype(numpy.float64) - expected)
    ok = error <= tolerance  # False where either side is NaN
    if not ok.all():
        tolerance = numpy.broadcast_to(tolerance, ok.shape)
        i = tuple(int(k) for k in numpy.unravel_index(numpy.argmin(numpy.where(ok, numpy.inf, tolerance - error)),
                                                      ok.shape))
        raise AssertionError(f"{what}: {numpy.count_nonzero(~ok)} of {ok.size} elements differ; at {i}: "
                             f"{actual[i]!r}, expected {expected[i]!r}, tolerance {tolerance[i]:.3g}")
