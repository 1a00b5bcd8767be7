"""conv2d on the CPU: Numba layout transforms around one BLAS matrix product per call.

The columns live in the layout col[(c, u, v), (n, i, j)] = x_pad[n, c, i*s_h + u*d_h, j*s_w + v*d_w], a
(C kh kw) x (N P Q) matrix, so that every convolution product is a single large GEMM:
    forward        y[k, (n, i, j)]  = W[k, (c, u, v)] @ col              (then swapped to N, K, P, Q)
    weight grad    gW[k, (c, u, v)] = gy[k, (n, i, j)] @ col^T
    input grad     col = W^T @ gy, then col2im (the transposed convolution's forward, kernels/conv_transpose2d)
Same signatures as reference.py. Inputs are made contiguous first, so each kernel compiles once per dtype.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


def output_size(size: int, k: int, stride: int, padding: int, dilation: int) -> int:
    return (size + 2 * padding - dilation * (k - 1) - 1) // stride + 1


@njit(cache=True)
def _valid(n_out: int, size: int, offset: int, stride: int) -> tuple:
    """The range [lo, hi) of output positions j whose input position j*stride + offset lies in [0, size)."""
    lo = 0 if offset >= 0 else (-offset + stride - 1) // stride
    hi = 0 if size - offset <= 0 else (size - offset + stride - 1) // stride
    hi = min(hi, n_out)
    return lo, max(lo, hi)


@njit(parallel=True, cache=True)
def _im2col(x, kh, kw, sh, sw, ph, pw, dh, dw, col):
    n, c, h, w = x.shape
    oh, ow = col.shape[2], col.shape[3]
    for r in prange(c * kh * kw):
        ci, u, v = r // (kh * kw), (r // kw) % kh, r % kw
        ilo, ihi = _valid(oh, h, u * dh - ph, sh)
        jlo, jhi = _valid(ow, w, v * dw - pw, sw)
        for ni in range(n):
            out = col[r, ni]
            out[:ilo, :] = 0
            out[ihi:, :] = 0
            for i in range(ilo, ihi):
                row = x[ni, ci, i * sh + u * dh - ph]
                out[i, :jlo] = 0
                out[i, jhi:] = 0
                for j in range(jlo, jhi):
                    out[i, j] = row[j * sw + v * dw - pw]


def im2col(x, kernel_size, stride, padding, dilation, out_size=None):
    """col[(c, u, v), n, i, j] as a (C kh kw, N, P, Q) array; out_size crops P, Q (default: the full conv)."""
    x = np.ascontiguousarray(x)
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh, ow = out_size or (output_size(h, kh, sh, ph, dh), output_size(w, kw, sw, pw, dw))
    col = np.empty((c * kh * kw, n, oh, ow), dtype=x.dtype)
    _im2col(x, kh, kw, sh, sw, ph, pw, dh, dw, col)
    return col


@njit(parallel=True, cache=True)
def _col2im(col, kh, kw, sh, sw, ph, pw, dh, dw, b, x):
    n, c, h, w = x.shape
    oh, ow = col.shape[2], col.shape[3]
    for t in prange(n * c):
        ni, ci = t // c, t % c
        plane = x[ni, ci]
        plane[:, :] = b[ci]
        for u in range(kh):
            ilo, ihi = _valid(oh, h, u * dh - ph, sh)
            for v in range(kw):
                jlo, jhi = _valid(ow, w, v * dw - pw, sw)
                src = col[(ci * kh + u) * kw + v, ni]
                for i in range(ilo, ihi):
                    row = plane[i * sh + u * dh - ph]
                    for j in range(jlo, jhi):
                        row[j * sw + v * dw - pw] += src[i, j]


def col2im(col, size, stride, padding, dilation, kernel_size, bias=None):
    """The adjoint of im2col, plus an optional per-channel bias: x (N, C, H, W) from col (C kh kw, N, P, Q)."""
    (kh, kw), (h, w) = kernel_size, size
    c, n = col.shape[0] // (kh * kw), col.shape[1]
    b = np.zeros(c, col.dtype) if bias is None else np.ascontiguousarray(bias, dtype=col.dtype)
    x = np.empty((n, c, h, w), dtype=col.dtype)
    _col2im(np.ascontiguousarray(col), kh, kw, *stride, *padding, *dilation, b, x)
    return x


@njit(parallel=True, cache=True)
def _swap01(a, b, out):
    """out[j, i, :] = a[i, j, :] + b[i]: (A, B, S) -> (B, A, S) with a bias per old leading index."""
    na, nb = a.shape[0], a.shape[1]
    for j in prange(nb):
        for i in range(na):
            out[j, i, :] = a[i, j, :] + b[i]


def swap01(a, bias=None):
    """(A, B, ...) -> (B, A, ...) as a new contiguous array, adding bias[i] to out[:, i] when given."""
    a = np.ascontiguousarray(a)
    na, nb = a.shape[:2]
    b = np.zeros(na, a.dtype) if bias is None else np.ascontiguousarray(bias, dtype=a.dtype)
    out = np.empty((nb, na) + a.shape[2:], dtype=a.dtype)
    _swap01(a.reshape(na, nb, -1), b, out.reshape(nb, na, -1))
    return out


def forward(x, W, b, stride, padding, dilation):
    """y = conv2d(x, W) + b: im2col, one GEMM (K x CkhKw) @ (CkhKw x NPQ), then back to N, K, P, Q."""
    k = W.shape[0]
    col = im2col(x, W.shape[2:], stride, padding, dilation)
    n, oh, ow = col.shape[1:]
    y = np.ascontiguousarray(W).reshape(k, -1) @ col.reshape(col.shape[0], -1)
    return swap01(y.reshape(k, n, oh, ow), b)


def backward_filter(x, gy, kernel_size, stride, padding, dilation):
    """gW = gy[k, (n, i, j)] @ col^T, with the columns cropped to gy's spatial size."""
    k, c = gy.shape[1], x.shape[1]
    col = im2col(x, kernel_size, stride, padding, dilation, out_size=gy.shape[2:])
    gy_t = swap01(gy).reshape(k, -1)
    gW = gy_t @ col.reshape(col.shape[0], -1).T
    return gW.reshape((k, c) + tuple(kernel_size))
