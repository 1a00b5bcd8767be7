"""Leaky ReLU on the CPU in Numba: elementwise, in parallel over the flattened array.

Same signatures as reference.py.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _forward(x, slope, y):
    for i in range(x.size):
        v = x[i]
        y[i] = v if v > 0 else v * slope


@njit(cache=True)
def _backward(x, gy, slope, gx):
    for i in range(x.size):
        gx[i] = gy[i] if x[i] > 0 else gy[i] * slope


def forward(x, negative_slope: float):
    y = np.empty(x.shape, x.dtype)
    _forward(np.ascontiguousarray(x).ravel(), x.dtype.type(negative_slope), y.ravel())
    return y


def backward(x, gy, negative_slope: float):
    gx = np.empty(gy.shape, gy.dtype)
    _backward(np.ascontiguousarray(x).ravel(), np.ascontiguousarray(gy).ravel(), gy.dtype.type(negative_slope),
              gx.ravel())
    return gx
