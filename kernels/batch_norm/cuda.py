"""Batch normalisation on the GPU: the CUDA C kernels of batch_norm.cu, one launch per pass where a block takes a
whole channel (whole()), else three.

The input is viewed as (N, C, S), S the product of the spatial sizes (1 for (N, C) inputs), so channel c holds
M = N S elements. Training forward: per-channel partial (count, mean, M2) triples from Welford's update, one per
block of a (C, B) grid (B blocks per channel, more when M is large), merged in order by Chan's formula into the
mean and the biased variance, then y = act(x scale + shift) with scale = gamma / sqrt(var + eps) and
shift = beta - mean scale. Backward: partial sums of gz and gz x_hat the same way, then
gx = scale (gz - mean(gz) - x_hat mean(gz x_hat)). The optional leaky ReLU (negative_slope; 0 for ReLU, None for
none) is applied in the same pass as the normalisation, and the backward pass gates gy with z recomputed from x
exactly as the forward pass computed it.

Sums are taken in double in a fixed order, without atomics: every run gives the same bits, and the number of
blocks depends on M alone, not on the GPU. Every kernel takes a channel (or a chunk of one) per block and walks its
elements without a division per element. Non-contiguous inputs are copied first. See the contract in __init__.py.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy

from .. import cuda

if TYPE_CHECKING:
    from cupy import ndarray

_SOURCE = cuda.Source("batch_norm", ("bn_moments", "bn_stats", "bn_apply", "bn_eval", "bn_grad_sums",
                                     "bn_grad_params", "bn_grad_input", "bn_train", "bn_backward"))
PER_BLOCK = 4096  # elements of a channel that one block of the reductions takes (16 per thread), at least
MAX_BLOCKS = 65535  # blocks per channel: the limit of a grid's second dimension
WHOLE = 32768  # the most elements of a channel that one block takes whole, when the channels alone fill the GPU
FILL = 64  # channels enough to keep the GPU busy with one block each


def _view(x: ndarray) -> tuple:
    """x as a contiguous array, and its (C, S, M)."""
    import cupy

    x = cupy.ascontiguousarray(x)
    c, s = x.shape[1], math.prod(x.shape[2:])
    return x, c, s, x.shape[0] * s


def whole(c: int, m: int) -> bool:
    """Whether one block per channel takes each pass whole (one launch): for a channel of one block's elements,
    or of up to WHOLE elements when there are FILL channels or more."""
    return m <= PER_BLOCK or (m <= WHOLE and c >= FILL)


def _blocks(m: int) -> tuple[int, int]:
    """(B, chunk): B blocks per channel, each reducing `chunk` consecutive elements of the channel's m."""
    blocks = min(max(1, -(-m // PER_BLOCK)), MAX_BLOCKS)
    return blocks, -(-m // blocks)


def _channels(dtype, *arrays) -> list:
    """Per-channel vectors as contiguous arrays of the data's dtype."""
    import cupy

    return [cupy.ascontiguousarray(a, dtype=dtype) for a in arrays]


def _activation(negative_slope, dtype) -> tuple:
    """(whether there is an activation, its slope in the data's dtype) as the kernels take them."""
    return (0, dtype.type(0)) if negative_slope is None else (1, dtype.type(negative_slope))


def forward_train(x: ndarray, gamma: ndarray, beta: ndarray, eps: float, negative_slope: float | None = None,
                  running_mean: ndarray | None = None, running_var: ndarray | None = None,
                  momentum: float = 0.1) -> tuple:
    """y = act(gamma (x - mean) r + beta) with the batch's per-channel mean and biased variance var,
    r = 1 / sqrt(var + eps); returns y, mean, var, r. The running statistics given move in bn_stats, the launch
    that computes the batch's."""
    import cupy

    x, c, s, m = _view(x)
    gamma, beta = _channels(x.dtype, gamma, beta)
    blocks, chunk = _blocks(m)
    mean, var, invstd = (cupy.empty(c, dtype=x.dtype) for _ in range(3))
    y = cupy.empty_like(x)
    running = [a if a is None or a.flags.c_contiguous else cupy.ascontiguousarray(a)
               for a in (running_mean, running_var)]
    t = x.dtype.type
    moving = (*(mean if a is None else a for a in running), running_mean is not None, running_var is not None,
              t(1 - momentum), t(momentum), t(m / max(m - 1, 1)))
    act = _activation(negative_slope, x.dtype)
    if whole(c, m):
        _SOURCE.launch("bn_train", x.dtype, 0, x, gamma, beta, c, s, m, numpy.float64(eps), *moving, *act, y, mean,
                       var, invstd, grid=(c,))
    else:
        partial = cupy.empty((c, blocks, 3), dtype=numpy.float64)
        _SOURCE.launch("bn_moments", x.dtype, 0, x, c, s, m, chunk, partial, grid=(c, blocks))
        scale, shift = cupy.empty(c, dtype=x.dtype), cupy.empty(c, dtype=x.dtype)
        _SOURCE.launch("bn_stats", x.dtype, c, partial, gamma, beta, c, blocks, numpy.float64(eps), mean, var,
                       invstd, scale, shift, *moving)
        _SOURCE.launch("bn_apply", x.dtype, 0, x, scale, shift, c, s, m, chunk, *act, y, grid=(c, blocks))
    for given, work in zip((running_mean, running_var), running):
        if given is not None and work is not given:
            given[...] = work
    return y, mean, var, invstd


def forward_eval(x: ndarray, running_mean: ndarray, running_var: ndarray, gamma: ndarray, beta: ndarray, eps: float,
                 negative_slope: float | None = None) -> ndarray:
    """y = act(gamma (x - running_mean) / sqrt(running_var + eps) + beta), in one launch."""
    import cupy

    x, c, s, m = _view(x)
    running_mean, running_var, gamma, beta = _channels(x.dtype, running_mean, running_var, gamma, beta)
    y = cupy.empty_like(x)
    blocks, chunk = _blocks(m)
    _SOURCE.launch("bn_eval", x.dtype, 0, x, running_mean, running_var, gamma, beta, x.dtype.type(eps), c, s, m,
                   chunk, *_activation(negative_slope, x.dtype), y, grid=(c, blocks))
    return y


def backward(x: ndarray, gamma: ndarray, beta: ndarray, mean: ndarray, invstd: ndarray, gy: ndarray,
             negative_slope: float | None = None) -> tuple:
    """(gx, ggamma, gbeta) of the training forward, through the activation when there is one: with gz = gy gated,
    gbeta = sum gz, ggamma = sum gz x_hat and gx = gamma r (gz - mean(gz) - x_hat mean(gz x_hat))."""
    import cupy

    x, c, s, m = _view(x)
    gy = cupy.ascontiguousarray(gy, dtype=x.dtype)
    gamma, beta, mean, invstd = _channels(x.dtype, gamma, beta, mean, invstd)
    act = _activation(negative_slope, x.dtype)
    blocks, chunk = _blocks(m)
    ggamma, gbeta = cupy.empty(c, dtype=x.dtype), cupy.empty(c, dtype=x.dtype)
    gx = cupy.empty_like(x)
    if whole(c, m):
        _SOURCE.launch("bn_backward", x.dtype, 0, x, gy, gamma, beta, mean, invstd, c, s, m, *act, ggamma, gbeta, gx,
                       grid=(c,))
        return gx, ggamma, gbeta
    partial = cupy.empty((c, blocks, 2), dtype=numpy.float64)
    _SOURCE.launch("bn_grad_sums", x.dtype, 0, x, gy, gamma, beta, mean, invstd, c, s, m, chunk, *act, partial,
                   grid=(c, blocks))
    mean_gz, mean_gzx = cupy.empty(c, dtype=x.dtype), cupy.empty(c, dtype=x.dtype)
    _SOURCE.launch("bn_grad_params", x.dtype, c, partial, c, blocks, m, ggamma, gbeta, mean_gz, mean_gzx)
    _SOURCE.launch("bn_grad_input", x.dtype, 0, x, gy, gamma, beta, mean, invstd, mean_gz, mean_gzx, c, s, m, chunk,
                   *act, gx, grid=(c, blocks))
    return gx, ggamma, gbeta
