"""Batch normalisation on the CPU in Numba: passes in memory order, in chunks of the batch on kernels.threads.

The input is viewed as (N, C, S), S the product of the spatial sizes (1 for (N, C) inputs). Per-channel sums
are taken in float64, one row of partial sums per chunk. The optional leaky ReLU (negative_slope; 0 for ReLU)
is applied in the same pass as the normalisation, and its gate is recomputed from x in the backward pass, as
the forward computed it, so the fused block reads and writes each activation once. See the contract in __init__.py.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .. import threads

_FAST = {"reassoc"}  # vectorised sums; NaN and Inf still propagate, and z = x scale + shift rounds the same everywhere


def _view(x):
    x = np.ascontiguousarray(x)
    return x.reshape(x.shape[0], x.shape[1], -1)


def _slope(negative_slope, dtype) -> tuple:
    """(whether there is an activation, its slope in the data's dtype, so that gating stays in that dtype)."""
    return (False, dtype.type(0)) if negative_slope is None else (True, dtype.type(negative_slope))


@njit(cache=True, nogil=True, fastmath=_FAST)
def _sums(lo, hi, k, x, shift, out):
    """out[k, c] = sum over the chunk of (x - shift[c])^p, p = 1 when shift is empty, else 2."""
    c, s = x.shape[1], x.shape[2]
    squares = shift.size > 0
    for ni in range(lo, hi):
        for ci in range(c):
            t = 0.0
            if squares:
                m = shift[ci]
                for si in range(s):
                    d = x[ni, ci, si] - m
                    t += d * d
            else:
                for si in range(s):
                    t += x[ni, ci, si]
            out[k, ci] += t


@njit(cache=True, nogil=True, fastmath=_FAST)
def _affine(lo, hi, k, x, scale, shift, act, slope, y):
    """y = act(x * scale[c] + shift[c])."""
    c, s = x.shape[1], x.shape[2]
    for ni in range(lo, hi):
        for ci in range(c):
            a, b = scale[ci], shift[ci]
            for si in range(s):
                z = x[ni, ci, si] * a + b
                y[ni, ci, si] = z if (z > 0 or not act) else z * slope


def _scale_shift(gamma, beta, mean, invstd, dtype) -> tuple:
    """The per-channel affine map of the normalisation, z = x scale + shift (contiguous arrays of dtype)."""
    scale = (gamma * invstd).astype(dtype)
    return scale, (beta - mean * scale).astype(dtype)


def _channel_sums(x, shift) -> np.ndarray:
    partial = np.zeros((threads.count(), x.shape[1]))
    threads.run(_sums, x.shape[0], x.size, x, shift, partial)
    return partial.sum(axis=0)


def forward_train(x, gamma, beta, eps: float, negative_slope=None, running_mean=None, running_var=None,
                  momentum: float = 0.1):
    """y = act(gamma (x - mean) r + beta) with the batch statistics; returns y, mean, var, r; moves the running
    statistics given (a few values per channel: plain NumPy, in the contract's order)."""
    xv = _view(x)
    count = xv.shape[0] * xv.shape[2]
    mean64 = _channel_sums(xv, np.empty(0)) / count
    var64 = _channel_sums(xv, mean64) / count
    mean, var = mean64.astype(x.dtype), var64.astype(x.dtype)
    if running_mean is not None:
        running_mean[...] = (1 - momentum) * running_mean + momentum * mean
    if running_var is not None:
        running_var[...] = (1 - momentum) * running_var + momentum * var * (count / (count - 1))
    invstd = (1 / np.sqrt(var64 + eps)).astype(x.dtype)
    scale, shift = _scale_shift(gamma, beta, mean, invstd, x.dtype)
    y = np.empty_like(xv)
    threads.run(_affine, xv.shape[0], 2 * xv.size, xv, scale, shift, *_slope(negative_slope, x.dtype), y)
    return y.reshape(x.shape), mean, var, invstd


def forward_eval(x, running_mean, running_var, gamma, beta, eps: float, negative_slope=None):
    """y = act(gamma (x - running_mean) / sqrt(running_var + eps) + beta)."""
    xv = _view(x)
    scale, shift = _scale_shift(gamma, beta, running_mean, 1 / np.sqrt(running_var + eps), x.dtype)
    y = np.empty_like(xv)
    threads.run(_affine, xv.shape[0], 2 * xv.size, xv, scale, shift, *_slope(negative_slope, x.dtype), y)
    return y.reshape(x.shape)


@njit(cache=True, nogil=True, fastmath=_FAST)
def _grad_sums(lo, hi, k, x, mean, invstd, scale, shift, gy, act, slope, total, total_x):
    """Partial sums of gz and gz x_hat over the chunk, gz being gy gated as the forward gated."""
    c, s = x.shape[1], x.shape[2]
    for ni in range(lo, hi):
        for ci in range(c):
            m, r, a, b = mean[ci], invstd[ci], scale[ci], shift[ci]
            t, tx = 0.0, 0.0
            for si in range(s):
                v = x[ni, ci, si]
                gz = gy[ni, ci, si]
                if act and v * a + b <= 0:
                    gz *= slope
                t += gz
                tx += gz * ((v - m) * r)
            total[k, ci] += t
            total_x[k, ci] += tx


@njit(cache=True, nogil=True, fastmath=_FAST)
def _grad_input(lo, hi, k, x, mean, invstd, scale, shift, gy, act, slope, mean_gz, mean_gzx, gx):
    """gx = scale (gz - mean(gz) - x_hat mean(gz x_hat))."""
    c, s = x.shape[1], x.shape[2]
    for ni in range(lo, hi):
        for ci in range(c):
            m, r, a, b, g1, g2 = mean[ci], invstd[ci], scale[ci], shift[ci], mean_gz[ci], mean_gzx[ci]
            for si in range(s):
                v = x[ni, ci, si]
                gz = gy[ni, ci, si]
                if act and v * a + b <= 0:
                    gz *= slope
                gx[ni, ci, si] = a * (gz - g1 - (v - m) * r * g2)


def backward(x, gamma, beta, mean, invstd, gy, negative_slope=None):
    """(gx, ggamma, gbeta) of the training forward, through the activation when there is one."""
    xv, gyv = _view(x), _view(gy)
    n, c, s = xv.shape
    mean, invstd = np.ascontiguousarray(mean), np.ascontiguousarray(invstd)
    scale, shift = _scale_shift(gamma, beta, mean, invstd, x.dtype)
    act = _slope(negative_slope, x.dtype)
    total, total_x = np.zeros((threads.count(), c)), np.zeros((threads.count(), c))
    threads.run(_grad_sums, n, 2 * xv.size, xv, mean, invstd, scale, shift, gyv, *act, total, total_x)
    gbeta, ggamma = total.sum(axis=0).astype(x.dtype), total_x.sum(axis=0).astype(x.dtype)
    gx = np.empty_like(xv)
    threads.run(_grad_input, n, 3 * xv.size, xv, mean, invstd, scale, shift, gyv, *act, gbeta / (n * s),
                ggamma / (n * s), gx)
    return gx.reshape(x.shape), ggamma, gbeta
