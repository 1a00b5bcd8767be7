"""The batch-innermost layout (C, H, W, N) of the CPU convolution kernels, and the moves into and out of it.

In this layout every column entry of im2col is a contiguous vector of N values, so that the copies of im2col and
the additions of col2im run at vector speed, whatever the stride and however small the image (kernels/conv2d/cpu.py,
kernels/conv_transpose2d/cpu.py). The moves run in chunks of eight batch rows on kernels.threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from . import threads


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
