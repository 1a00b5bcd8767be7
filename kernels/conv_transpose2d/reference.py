"""conv_transpose2d in plain array code: the specification and the test oracle of the fast kernels.

The transposed convolution is the adjoint of conv2d with respect to its input: with x (N, C_in, H, W) and
W (C_in, C_out, kh, kw),

    y[n, o, i*s_h + u*d_h - p_h, j*s_w + v*d_w - p_w] += W[c, o, u, v] * x[n, c, i, j]

over every c, i, j, u, v, and y has size (H - 1) s - 2 p + d (k - 1) + output_padding + 1. It is a matrix
product that makes columns, followed by col2im, which adds them up in place.
"""

from kernels import get_array_module
from kernels.conv2d.reference import col2im


def output_size(size: int, k: int, stride: int, padding: int, output_padding: int, dilation: int) -> int:
    """Spatial size of conv_transpose2d's output along one axis."""
    return (size - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1


def forward(x, W, b, stride, padding, output_padding, dilation):
    """y = conv_transpose2d(x, W) + b."""
    xp = get_array_module(x)
    kh, kw = W.shape[2:]
    oh = output_size(x.shape[2], kh, stride[0], padding[0], output_padding[0], dilation[0])
    ow = output_size(x.shape[3], kw, stride[1], padding[1], output_padding[1], dilation[1])
    col = xp.tensordot(W, x, axes=((0,), (1,))).transpose(3, 0, 1, 2, 4, 5)
    y = col2im(col, (oh, ow), stride, padding, dilation)
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y
