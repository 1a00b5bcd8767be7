"""conv_transpose2d on the CPU: one BLAS matrix product that makes the columns, then Numba's col2im.

With x viewed as x[c, (i, j, n)] (the batch-innermost layout of kernels/conv2d/cpu.py) and W as W[c, (o, u, v)],
col = W^T @ x holds every product W[c, o, u, v] x[n, c, i, j] summed over c, and col2im adds each to its
output pixel. No multiply-add is spent on the zeros that a strided transposed convolution would insert.
Same signature as reference.py.
"""

from __future__ import annotations

import numpy as np

from kernels import threads
from kernels.conv2d.cpu import col2im, to_chwn


def output_size(size: int, k: int, stride: int, padding: int, output_padding: int, dilation: int) -> int:
    return (size - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1


def forward(x, W, b, stride, padding, output_padding, dilation):
    """y = conv_transpose2d(x, W) + b."""
    cin, cout, kh, kw = W.shape
    n, _, h, w = x.shape
    oh = output_size(h, kh, stride[0], padding[0], output_padding[0], dilation[0])
    ow = output_size(w, kw, stride[1], padding[1], output_padding[1], dilation[1])
    col = threads.matmul(np.ascontiguousarray(W).reshape(cin, -1).T, to_chwn(x).reshape(cin, -1))
    return col2im(col.reshape(cout * kh * kw, h, w, n), (oh, ow), stride, padding, dilation, (kh, kw), b)
