"""conv_transpose2d on the GPU: one matrix product (cupy.matmul, cuBLAS) that makes the columns, then the CUDA C
col2im of kernels/conv2d/conv2d.cu, which adds the bias in the same pass.

With x brought to x[c, (n, i, j)] and W viewed as W[c, (o, u, v)], col = W^T @ x holds every product
W[c, o, u, v] x[n, c, i, j] summed over c, a (C_out kh kw, N, H, W) array in the layout of conv2d's columns; col2im
then gathers into each output pixel the entries of the taps that reach it. No multiply-add is spent on the zeros a
strided transposed convolution would insert. output_padding only lengthens the output: its last rows and columns
get the taps that reach them, if any, and the bias. No atomics, so results are bit-reproducible. Non-contiguous
inputs are copied first. See the contract in __init__.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..conv2d.cuda import col2im, transpose01
from . import output_size

if TYPE_CHECKING:
    from cupy import ndarray


def forward(x: ndarray, W: ndarray, b: ndarray | None, stride: tuple, padding: tuple, output_padding: tuple,
            dilation: tuple) -> ndarray:
    """y = conv_transpose2d(x, W) + b."""
    import cupy

    cin, cout, kh, kw = W.shape
    n, _, h, w = x.shape
    oh = output_size(h, kh, stride[0], padding[0], output_padding[0], dilation[0])
    ow = output_size(w, kw, stride[1], padding[1], output_padding[1], dilation[1])
    col = cupy.matmul(cupy.ascontiguousarray(W).reshape(cin, cout * kh * kw).T, transpose01(x).reshape(cin, -1))
    return col2im(col.reshape(cout * kh * kw, n, h, w), (oh, ow), (kh, kw), stride, padding, dilation, b)
