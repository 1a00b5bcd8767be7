"""conv2d on the CPU: Numba layout transforms around one BLAS matrix product per call.

The transforms work in the batch-innermost layout (C, H, W, N) of kernels/chwn.py. With the columns
col[(c, u, v), (i, j, n)] = x_pad[n, c, i*s_h + u*d_h, j*s_w + v*d_w], a (C kh kw) x (P Q N) matrix held as a
(C kh kw, P, Q, N) array, each convolution product is a single large GEMM:
    forward        y[k, (i, j, n)]  = W[k, (c, u, v)] @ col                 (then back to N, K, P, Q)
    weight grad    gW[k, (c, u, v)] = gy[k, (i, j, n)] @ col^T
    input grad     col = W^T @ gy, then col2im (the transposed convolution's forward, kernels/conv_transpose2d)
Only the inputs and outputs, which are smaller than the columns by the kernel's area, change layout.

The transforms and the products run in chunks on kernels.threads. See the contract in __init__.py.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .. import threads
from ..chwn import from_chwn, to_chwn
from . import output_size

COLUMNS = True  # forward and backward_filter read the columns given


@njit(cache=True, nogil=True)
def _im2col(lo, hi, chunk, x_t, kh, kw, sh, sw, dh, dw, col):
    n = x_t.shape[3]
    oh, ow = col.shape[1], col.shape[2]
    for ci in range(lo, hi):
        for u in range(kh):
            for v in range(kw):
                r = (ci * kh + u) * kw + v
                for i in range(oh):
                    for j in range(ow):
                        src, dst = x_t[ci, i * sh + u * dh, j * sw + v * dw], col[r, i, j]
                        for k in range(n):
                            dst[k] = src[k]


def im2col(x, kernel_size, stride, padding, dilation):
    """col[(c, u, v), i, j, n] as a (C kh kw, P, Q, N) array."""
    return _columns(x, kernel_size, stride, padding, dilation)


def _columns(x, kernel_size, stride, padding, dilation, out_size=None):
    """im2col's columns, of the output pixels within out_size (default: all of them)."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    oh, ow = out_size or (output_size(h, kh, sh, padding[0], dh), output_size(w, kw, sw, padding[1], dw))
    col = np.empty((c * kh * kw, oh, ow, n), dtype=x.dtype)
    threads.run(_im2col, c, 2 * col.size, to_chwn(x, padding), kh, kw, sh, sw, dh, dw, col)
    return col


@njit(cache=True, nogil=True)
def _col2im(lo, hi, chunk, col, kh, kw, sh, sw, ph, pw, dh, dw, hp, wp, b, out):
    n, h, w = out.shape[0], out.shape[2], out.shape[3]
    oh, ow = col.shape[1], col.shape[2]
    plane = np.empty((hp, wp, n), dtype=out.dtype)  # one padded output channel, (H_pad, W_pad, N)
    for ci in range(lo, hi):
        plane[:] = 0
        for u in range(kh):
            for v in range(kw):
                r = (ci * kh + u) * kw + v
                for i in range(oh):
                    for j in range(ow):
                        src, dst = col[r, i, j], plane[i * sh + u * dh, j * sw + v * dw]
                        for k in range(n):
                            dst[k] += src[k]
        bias = b[ci]
        for row in range(h):
            for ni in range(n):
                dst = out[ni, ci, row]
                for wi in range(w):
                    dst[wi] = plane[row + ph, wi + pw, ni] + bias


def col2im(col, size, kernel_size, stride, padding, dilation, bias=None):
    """The adjoint of im2col, plus an optional per-channel bias: x (N, C, H, W) from col (C kh kw, P, Q, N)."""
    (kh, kw), (h, w), (sh, sw), (dh, dw) = kernel_size, size, stride, dilation
    c, oh, ow, n = col.shape[0] // (kh * kw), col.shape[1], col.shape[2], col.shape[3]
    hp = max(h + 2 * padding[0], (oh - 1) * sh + (kh - 1) * dh + 1)
    wp = max(w + 2 * padding[1], (ow - 1) * sw + (kw - 1) * dw + 1)
    b = np.zeros(c, col.dtype) if bias is None else np.ascontiguousarray(bias, dtype=col.dtype)
    out = np.empty((n, c, h, w), dtype=col.dtype)
    threads.run(_col2im, c, 2 * col.size, np.ascontiguousarray(col), kh, kw, sh, sw, *padding, dh, dw, hp, wp, b,
                out)
    return out


def forward(x, W, b, stride, padding, dilation, col=None):
    """y = conv2d(x, W) + b: im2col (or the given col = im2col(x)), one GEMM (K x C kh kw) @ (C kh kw x PQN),
    then back to N, K, P, Q."""
    k = W.shape[0]
    if col is None:
        col = im2col(x, W.shape[2:], stride, padding, dilation)
    y = threads.matmul(np.ascontiguousarray(W).reshape(k, -1), col.reshape(col.shape[0], -1))
    return from_chwn(y.reshape((k,) + col.shape[1:]), b)


def backward_filter(x, gy, kernel_size, stride, padding, dilation, col=None):
    """gW = gy[k, (i, j, n)] @ col^T, with the columns (im2col(x), or the given col) cropped to gy's size."""
    k, c = gy.shape[1], x.shape[1]
    if col is None:
        col = _columns(x, kernel_size, stride, padding, dilation, out_size=gy.shape[2:])
    col = np.ascontiguousarray(col[:, :gy.shape[2], :gy.shape[3]])
    gW = threads.matmul(to_chwn(gy).reshape(k, -1), col.reshape(col.shape[0], -1).T)
    return gW.reshape((k, c) + tuple(kernel_size))
