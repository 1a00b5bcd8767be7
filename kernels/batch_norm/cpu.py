"""Batch normalisation on the CPU in Numba: one thread per channel, statistics accumulated in float64.

The input is viewed as (N, C, S), S the product of the spatial sizes (1 for (N, C) inputs). The optional
leaky ReLU (negative_slope; 0 for ReLU) is applied in the same pass as the normalisation, and its mask is
recomputed from x in the backward pass, so the fused block reads and writes each activation once.
Same signatures as reference.py.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_FAST = {"reassoc"}  # vectorised sums; NaN and Inf still propagate, and z = x scale + shift rounds the same everywhere


def _view(x):
    x = np.ascontiguousarray(x)
    return x.reshape(x.shape[0], x.shape[1], -1)


def _slope(negative_slope) -> tuple:
    return (False, 0.0) if negative_slope is None else (True, float(negative_slope))


@njit(cache=True, fastmath=_FAST)
def _statistics(x, eps, mean, var, invstd):
    n, c, s = x.shape
    count = n * s
    for ci in range(c):
        total = 0.0
        for ni in range(n):
            for si in range(s):
                total += x[ni, ci, si]
        m = total / count
        squares = 0.0
        for ni in range(n):
            for si in range(s):
                d = x[ni, ci, si] - m
                squares += d * d
        mean[ci], var[ci] = m, squares / count
        invstd[ci] = 1.0 / np.sqrt(squares / count + eps)


def _scale_shift(gamma, beta, mean, invstd, dtype) -> tuple:
    """The per-channel affine map of the normalisation, z = x scale + shift (contiguous arrays of dtype)."""
    scale = (gamma * invstd).astype(dtype)
    return scale, (beta - mean * scale).astype(dtype)


@njit(cache=True, fastmath=_FAST)
def _affine(x, scale, shift, act, slope, y):
    """y = act(x * scale[c] + shift[c])."""
    n, c, s = x.shape
    for t in range(n * c):
        ni, ci = t // c, t % c
        a, b = scale[ci], shift[ci]
        for si in range(s):
            z = x[ni, ci, si] * a + b
            y[ni, ci, si] = z if (z > 0 or not act) else z * slope


def forward_train(x, gamma, beta, eps: float, negative_slope=None):
    """y = act(gamma (x - mean) r + beta) with the batch statistics; returns y, mean, var, r."""
    xv = _view(x)
    c = xv.shape[1]
    mean, var, invstd = (np.empty(c, x.dtype) for _ in range(3))
    _statistics(xv, eps, mean, var, invstd)
    scale, shift = _scale_shift(gamma, beta, mean, invstd, x.dtype)
    y = np.empty_like(xv)
    _affine(xv, scale, shift, *_slope(negative_slope), y)
    return y.reshape(x.shape), mean, var, invstd


def forward_eval(x, running_mean, running_var, gamma, beta, eps: float, negative_slope=None):
    """y = act(gamma (x - running_mean) / sqrt(running_var + eps) + beta)."""
    xv = _view(x)
    scale, shift = _scale_shift(gamma, beta, running_mean, 1 / np.sqrt(running_var + eps), x.dtype)
    y = np.empty_like(xv)
    _affine(xv, scale, shift, *_slope(negative_slope), y)
    return y.reshape(x.shape)


@njit(cache=True, fastmath=_FAST)
def _backward(x, mean, invstd, scale, shift, gy, act, slope, gx, ggamma, gbeta):
    n, c, s = x.shape
    count = n * s
    for ci in range(c):
        m, r, a, b = mean[ci], invstd[ci], scale[ci], shift[ci]
        total, total_x = 0.0, 0.0
        for ni in range(n):
            for si in range(s):
                v = x[ni, ci, si]
                gz = gy[ni, ci, si]
                if act and v * a + b <= 0:  # the forward's gate, computed as the forward computes it
                    gz *= slope
                total += gz
                total_x += gz * ((v - m) * r)
        gbeta[ci], ggamma[ci] = total, total_x
        mean_gz, mean_gzx = total / count, total_x / count
        for ni in range(n):
            for si in range(s):
                v = x[ni, ci, si]
                gz = gy[ni, ci, si]
                if act and v * a + b <= 0:
                    gz *= slope
                gx[ni, ci, si] = a * (gz - mean_gz - (v - m) * r * mean_gzx)


def backward(x, gamma, beta, mean, invstd, gy, negative_slope=None):
    """(gx, ggamma, gbeta) of the training forward, through the activation when there is one."""
    xv, gyv = _view(x), _view(gy)
    c = xv.shape[1]
    scale, shift = _scale_shift(gamma, beta, mean, invstd, x.dtype)
    gx = np.empty_like(xv)
    ggamma, gbeta = np.empty(c, x.dtype), np.empty(c, x.dtype)
    _backward(xv, np.ascontiguousarray(mean), np.ascontiguousarray(invstd), scale, shift, gyv,
              *_slope(negative_slope), gx, ggamma, gbeta)
    return gx.reshape(x.shape), ggamma, gbeta
