"""Values for gradient checks, kept where finite differences are valid.

A central difference with step eps is only accurate where the function is smooth within eps of the point: not
across the kink of a ReLU or an absolute value, not across a tie between the largest two elements of a max, not
at the edge of a domain (log at 0). Each maker takes a NumPy Generator and a shape and returns float64 values
that keep such places at a distance far larger than the step.
"""

from __future__ import annotations

import math

import numpy


def normal(rng: numpy.random.Generator, shape, scale: float = 1.0) -> numpy.ndarray:
    """Normal values of standard deviation `scale`: for functions smooth everywhere."""
    return scale * rng.standard_normal(shape)


def away(rng: numpy.random.Generator, shape, kink: float = 0.0, gap: float = 0.05,
         reach: float = 2.0) -> numpy.ndarray:
    """Values on both sides of `kink`, each at a distance between gap and reach from it (never on it)."""
    sign = numpy.where(rng.random(shape) < 0.5, -1.0, 1.0)
    return kink + sign * rng.uniform(gap, reach, shape)


def positive(rng: numpy.random.Generator, shape, low: float = 0.5, high: float = 2.0) -> numpy.ndarray:
    """Values between low and high (both positive): scales, variances, the inputs of log and sqrt."""
    return rng.uniform(low, high, shape)


def distinct(rng: numpy.random.Generator, shape, spacing: float = 0.1) -> numpy.ndarray:
    """Values in random order, any two at least 0.8 spacing apart: no ties for a max, a sort or a median, and a
    spread for a variance to divide by."""
    n = math.prod(shape)
    grid = (rng.permutation(n) - n / 2) * spacing + rng.uniform(0, 0.2 * spacing, n)
    return grid.reshape(shape)
