"""Leaky ReLU on the CPU in Numba: elementwise over the flattened array, in chunks on kernels.threads.

See the contract in __init__.py.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .. import threads


@njit(cache=True, nogil=True)
def _forward(lo, hi, k, x, slope, y):
    xs, ys = x[lo:hi], y[lo:hi]
    for i in range(xs.size):
        v = xs[i]
        ys[i] = v if v > 0 else v * slope


@njit(cache=True, nogil=True)
def _backward(lo, hi, k, x, gy, slope, gx):
    xs, gys, gxs = x[lo:hi], gy[lo:hi], gx[lo:hi]
    for i in range(xs.size):
        gxs[i] = gys[i] if xs[i] > 0 else gys[i] * slope


def forward(x, negative_slope: float):
    y = np.empty(x.shape, x.dtype)
    threads.run(_forward, x.size, 2 * x.size, np.ascontiguousarray(x).ravel(), x.dtype.type(negative_slope),
                y.ravel())
    return y


def backward(x, gy, negative_slope: float):
    gx = np.empty(gy.shape, gy.dtype)
    threads.run(_backward, gy.size, 3 * gy.size, np.ascontiguousarray(x).ravel(), np.ascontiguousarray(gy).ravel(),
                gy.dtype.type(negative_slope), gx.ravel())
    return gx
