"""conv2d on the GPU: CUDA C layout kernels (conv2d.cu) around one matrix product (cupy.matmul, cuBLAS) per call.

The columns of x are col[(c, u, v), (n, i, j)] = x_pad[n, c, i*s_h + u*d_h, j*s_w + v*d_w], a (C kh kw) x (N P Q)
matrix held as a (C kh kw, N, P, Q) array, so that each product of the convolution is a single large GEMM:
    forward        y[k, (n, i, j)]  = W[k, (c, u, v)] @ col, then (K, N, P, Q) -> (N, K, P, Q) with the bias added
    weight grad    gW[k, (c, u, v)] = gy[k, (n, i, j)] @ col^T, gy first brought to (K, N, P, Q)
    input grad     col = W^T @ gy, then col2im (the transposed convolution's forward, kernels/conv_transpose2d)
col2im is a gather: each pixel adds the column entries of the taps that reach it, in a fixed order. No kernel uses
atomics, and cuBLAS gives the same bits on every run on one GPU model and stream, so results are bit-reproducible.
Inputs may be non-contiguous: they are copied to contiguous arrays first. See the contract in __init__.py;
transpose01 also serves kernels/conv_transpose2d/cuda.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import cuda
from . import output_size

if TYPE_CHECKING:
    from cupy import ndarray

_SOURCE = cuda.Source("conv2d", ("im2col", "col2im", "transpose01"))


def transpose01(x: ndarray, bias: ndarray | None = None) -> ndarray:
    """y[j, i, ...] = x[i, j, ...] (+ bias[i]): the two leading axes exchanged, as a new contiguous array."""
    import cupy

    x = cupy.ascontiguousarray(x)
    n0, n1 = x.shape[:2]
    y = cupy.empty((n1, n0) + x.shape[2:], dtype=x.dtype)
    b = y if bias is None else cupy.ascontiguousarray(bias, dtype=x.dtype)  # y stands in for an absent bias, unread
    _SOURCE.launch("transpose01", x.dtype, y.size, x, b, bias is not None, n0, n1, y.size // max(n0 * n1, 1), y)
    return y


def im2col(x: ndarray, kernel_size: tuple, stride: tuple, padding: tuple, dilation: tuple) -> ndarray:
    """col[(c, u, v), n, i, j] = x_pad[n, c, i*s_h + u*d_h, j*s_w + v*d_w] as a (C kh kw, N, P, Q) array."""
    return _columns(x, kernel_size, stride, padding, dilation)


def _columns(x: ndarray, kernel_size: tuple, stride: tuple, padding: tuple, dilation: tuple,
             out_size: tuple | None = None) -> ndarray:
    """im2col's columns, of the output pixels within out_size (default: all of them)."""
    import cupy

    x = cupy.ascontiguousarray(x)
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh, ow = out_size or (output_size(h, kh, sh, ph, dh), output_size(w, kw, sw, pw, dw))
    col = cupy.empty((c * kh * kw, n, oh, ow), dtype=x.dtype)
    _SOURCE.launch("im2col", x.dtype, col.size, x, n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, col)
    return col


def col2im(col: ndarray, size: tuple, kernel_size: tuple, stride: tuple, padding: tuple, dilation: tuple,
           bias: ndarray | None = None) -> ndarray:
    """The adjoint of im2col, plus an optional per-channel bias: x (N, C, H, W) from col (C kh kw, N, P, Q), each
    pixel the sum of the column entries that im2col would have copied from it."""
    import cupy

    col = cupy.ascontiguousarray(col)
    (kh, kw), (h, w), (sh, sw), (ph, pw), (dh, dw) = kernel_size, size, stride, padding, dilation
    c, n, oh, ow = col.shape[0] // (kh * kw), col.shape[1], col.shape[2], col.shape[3]
    x = cupy.empty((n, c, h, w), dtype=col.dtype)
    b = x if bias is None else cupy.ascontiguousarray(bias, dtype=col.dtype)  # x stands in for an absent bias, unread
    _SOURCE.launch("col2im", col.dtype, x.size, col, b, bias is not None, n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw,
                   oh, ow, x)
    return x


def forward(x: ndarray, W: ndarray, b: ndarray | None, stride: tuple, padding: tuple, dilation: tuple,
            col: ndarray | None = None) -> ndarray:
    """y = conv2d(x, W) + b: im2col (or the given col = im2col(x)), one GEMM (K x C kh kw) @ (C kh kw x N P Q), then
    (K, N, P, Q) -> (N, K, P, Q) with the bias in the same pass."""
    import cupy

    k = W.shape[0]
    if col is None:
        col = im2col(x, W.shape[2:], stride, padding, dilation)
    rows, n, oh, ow = col.shape
    y = cupy.matmul(cupy.ascontiguousarray(W).reshape(k, rows), col.reshape(rows, n * oh * ow))
    return transpose01(y.reshape(k, n, oh, ow), b)


def backward_filter(x: ndarray, gy: ndarray, kernel_size: tuple, stride: tuple, padding: tuple, dilation: tuple,
                    col: ndarray | None = None) -> ndarray:
    """gW[k, (c, u, v)] = gy[k, (n, i, j)] @ col^T, with the columns (im2col(x), or the given col) cropped to gy's
    size: where the full convolution of x is larger than gy, its extra rows and columns are not used."""
    import cupy

    k, c = gy.shape[1], x.shape[1]
    oh, ow = gy.shape[2:]
    if col is None:
        col = _columns(x, kernel_size, stride, padding, dilation, out_size=(oh, ow))
    elif col.shape[2:] != (oh, ow):
        col = cupy.ascontiguousarray(col[:, :, :oh, :ow])
    rows = col.shape[0]
    gW = cupy.matmul(transpose01(gy).reshape(k, -1), col.reshape(rows, -1).T)
    return gW.reshape((k, c) + tuple(kernel_size))
