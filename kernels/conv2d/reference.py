"""conv2d in plain array code (see the contract in __init__.py): the specification and the test oracle of the
fast kernels. Its columns are laid out as col[n, c, u, v, i, j], an (N, C, kh, kw, P, Q) array.
"""

from .. import get_array_module
from . import output_size

COLUMNS = True  # forward and backward_filter read the columns given


def _taps(u: int, v: int, out_hw, stride, dilation) -> tuple:
    """The strided window of x_pad that kernel tap (u, v) reads for all output pixels."""
    (oh, ow), (sh, sw), (dh, dw) = out_hw, stride, dilation
    return (slice(None), slice(None), slice(u * dh, u * dh + sh * (oh - 1) + 1, sh),
            slice(v * dw, v * dw + sw * (ow - 1) + 1, sw))


def im2col(x, kernel_size, stride, padding, dilation):
    """col[n, c, u, v, i, j] = x_pad[n, c, i*s_h + u*d_h, j*s_w + v*d_w]."""
    xp = get_array_module(x)
    n, c, h, w = x.shape
    (kh, kw), (ph, pw) = kernel_size, padding
    oh = output_size(h, kh, stride[0], ph, dilation[0])
    ow = output_size(w, kw, stride[1], pw, dilation[1])
    x_pad = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    col = xp.empty((n, c, kh, kw, oh, ow), dtype=x.dtype)
    for u in range(kh):
        for v in range(kw):
            col[:, :, u, v] = x_pad[_taps(u, v, (oh, ow), stride, dilation)]
    return col


def col2im(col, size, kernel_size, stride, padding, dilation, bias=None):
    """The adjoint of im2col: x[n, c, h, w] = the sum of the col entries that im2col copied from (h, w), plus
    bias[c] when given."""
    xp = get_array_module(col)
    n, c, kh, kw, oh, ow = col.shape
    (h, w), (ph, pw) = size, padding
    x_pad = xp.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=col.dtype)
    for u in range(kh):
        for v in range(kw):
            x_pad[_taps(u, v, (oh, ow), stride, dilation)] += col[:, :, u, v]
    x = xp.ascontiguousarray(x_pad[:, :, ph:ph + h, pw:pw + w])
    if bias is not None:
        x += bias.reshape(1, -1, 1, 1)
    return x


def forward(x, W, b, stride, padding, dilation, col=None):
    """y = conv2d(x, W) + b, as a matrix product of W with the im2col columns of x (col, when given)."""
    xp = get_array_module(x)
    if col is None:
        col = im2col(x, W.shape[2:], stride, padding, dilation)
    y = xp.tensordot(col, W, axes=((1, 2, 3), (1, 2, 3))).transpose(0, 3, 1, 2)
    if b is not None:
        y = y + b.reshape(1, -1, 1, 1)
    return xp.ascontiguousarray(y)


def backward_filter(x, gy, kernel_size, stride, padding, dilation, col=None):
    """gW[k, c, u, v] = sum_{n, i, j} gy[n, k, i, j] * x_pad[n, c, i*s_h + u*d_h, j*s_w + v*d_w].

    The output size is gy's; where the full convolution of x would be larger, its extra rows are not used.
    col, when given, is im2col(x) already computed.
    """
    xp = get_array_module(x)
    oh, ow = gy.shape[2:]
    if col is None:
        col = im2col(x, kernel_size, stride, padding, dilation)
    col = col[..., :oh, :ow]
    return xp.ascontiguousarray(xp.tensordot(gy, col, axes=((0, 2, 3), (0, 4, 5))))
