"""conv2d on the CPU: Numba layout transforms around one BLAS matrix product per call.

The transforms work in the batch-innermost layout (C, H, W, N): there, every column entry of im2col is a
contiguous vector of N values, so the copies and the additions of col2im run at vector speed, whatever the
stride and however small the image. With col[(c, u, v), (i, j, n)] = x_pad[n, c, i*s_h + u*d_h, j*s_w + v*d_w],
a (C kh kw) x (P Q N) matrix, each convolution product is a single large GEMM:
    forward        y[k, (i, j, n)]  = W[k, (c, u, v)] @ col                 (then back to N, K, P, Q)
    weight grad    gW[k, (c, u, v)] = gy[k, (i, j, n)] @ col^T
    input grad     col = W^T @ gy, then col2im (the transposed convolution's forward, kernels/conv_transpose2d)
Only the inputs and outputs, which are smaller than the columns by the kernel's area, change layout.

The transforms and the products run in chunks on kernels.threads. Same signatures as reference.py.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from kernels import threads


def output_size(size: int, k: int, stride: int, padding: int, dilation: int) -> int:
    return (size + 2 * padding - dilation * (k - 1) - 1) // stride + 1


@njit(cache=True, nogil=True)
def _to_chwn(lo, hi, k, x, ph, pw, out):
    """out[c, h + ph, w + pw, n] = x[n, c, h, w] for the groups [lo, hi) of eight batch rows.

    Eight batch rows at a time: eight sequential read streams, and writes of eight adjacent values, so the
    transposition runs at a fair fraction of a copy's speed.
    """
    n, c, h, w = x.shape
    for n0 in range(8 * lo, min(8 * hi, n), 8):
        k = min(8, n - n0)
        for ci in range(c):
            for row in range(h):
                dst = out[ci, row + ph]
                if k == 8:
                    r0, r1, r2, r3 = x[n0, ci, row], x[n0 + 1, ci, row], x[n0 + 2, ci, row], x[n0 + 3, ci, row]
                    r4, r5, r6, r7 = x[n0 + 4, ci, row], x[n0 + 5, ci, row], x[n0 + 6, ci, row], x[n0 + 7, ci, row]
                    for wi in range(w):
                        d = dst[wi + pw]
                        d[n0], d[n0 + 1], d[n0 + 2], d[n0 + 3] = r0[wi], r1[wi], r2[wi], r3[wi]
                        d[n0 + 4], d[n0 + 5], d[n0 + 6], d[n0 + 7] = r4[wi], r5[wi], r6[wi], r7[wi]
                else:
                    for a in range(k):
                        src = x[n0 + a, ci, row]
                        for wi in range(w):
                            dst[wi + pw, n0 + a] = src[wi]


def to_chwn(x, padding=(0, 0)):
    """x (N, C, H, W) as a new (C, H + 2 p_h, W + 2 p_w, N) array, padded with zeros."""
    n, c, h, w = x.shape
    ph, pw = padding
    out = (np.zeros if ph or pw else np.empty)((c, h + 2 * ph, w + 2 * pw, n), dtype=x.dtype)
    threads.run(_to_chwn, (n + 7) // 8, 2 * x.size, np.ascontiguousarray(x), ph, pw, out)
    return out


@njit(cache=True, nogil=True)
def _from_chwn(lo, hi, chunk, y, b, out):
    """out[n, k, i, j] = y[k, i, j, n] + b[k], for the groups [lo, hi) of eight batch rows."""
    n, kk, oh, ow = out.shape
    for n0 in range(8 * lo, min(8 * hi, n), 8):
        m = min(8, n - n0)
        for k in range(kk):
            bias = b[k]
            for i in range(oh):
                src = y[k, i]
                if m == 8:
                    o0, o1, o2, o3 = out[n0, k, i], out[n0 + 1, k, i], out[n0 + 2, k, i], out[n0 + 3, k, i]
                    o4, o5, o6, o7 = out[n0 + 4, k, i], out[n0 + 5, k, i], out[n0 + 6, k, i], out[n0 + 7, k, i]
                    for j in range(ow):
                        v = src[j]
                        o0[j], o1[j], o2[j], o3[j] = v[n0] + bias, v[n0 + 1] + bias, v[n0 + 2] + bias, v[n0 + 3] + bias
                        o4[j], o5[j], o6[j], o7[j] = v[n0 + 4] + bias, v[n0 + 5] + bias, v[n0 + 6] + bias, v[n0 + 7] + bias
                else:
                    for a in range(m):
                        dst = out[n0 + a, k, i]
                        for j in range(ow):
                            dst[j] = src[j, n0 + a] + bias


def from_chwn(y, bias=None):
    """y (C, H, W, N) as a new (N, C, H, W) array, plus a per-channel bias when given."""
    c, h, w, n = y.shape
    b = np.zeros(c, y.dtype) if bias is None else np.ascontiguousarray(bias, dtype=y.dtype)
    out = np.empty((n, c, h, w), dtype=y.dtype)
    threads.run(_from_chwn, (n + 7) // 8, 2 * y.size, np.ascontiguousarray(y), b, out)
    return out


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


def im2col(x, kernel_size, stride, padding, dilation, out_size=None):
    """col[(c, u, v), i, j, n] as a (C kh kw, P, Q, N) array; out_size crops P, Q (default: the full conv)."""
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


def col2im(col, size, stride, padding, dilation, kernel_size, bias=None):
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
        col = im2col(x, kernel_size, stride, padding, dilation, out_size=gy.shape[2:])
    col = np.ascontiguousarray(col[:, :gy.shape[2], :gy.shape[3]])
    gW = threads.matmul(to_chwn(gy).reshape(k, -1), col.reshape(col.shape[0], -1).T)
    return gW.reshape((k, c) + tuple(kernel_size))
