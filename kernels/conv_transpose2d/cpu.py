"""conv_transpose2d on the CPU: one BLAS matrix product that makes the columns, then conv2d's Numba col2im.

With x viewed as x[c, (i, j, n)] (the batch-innermost layout of kernels/chwn.py) and W as W[c, (o, u, v)],
col = W^T @ x holds every product W[c, o, u, v] x[n, c, i, j] summed over c, and col2im adds each to its
output pixel. See the contract in __init__.py.
"""

from __future__ import annotations

import numpy as np

from .. import threads
from ..chwn import to_chwn
from ..conv2d.cpu import col2im
from . import output_size


def forward(x, W, b, stride, padding, output_padding, dilation):
    """y = conv_transpose2d(x, W) + b."""
    cin, cout, kh, kw = W.shape
    n, _, h, w = x.shape
    oh = output_size(h, kh, stride[0], padding[0], output_padding[0], dilation[0])
    ow = output_size(w, kw, stride[1], padding[1], output_padding[1], dilation[1])
    col = threads.matmul(np.ascontiguousarray(W).reshape(cin, -1).T, to_chwn(x).reshape(cin, -1))
    return col2im(col.reshape(cout * kh * kw, h, w, n), (oh, ow), (kh, kw), stride, padding, dilation, b)
