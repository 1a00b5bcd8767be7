"""conv_transpose2d in plain array code (see the contract in __init__.py): the specification and the test oracle
of the fast kernels. The columns W^T x are made by a tensordot, in the layout of conv2d's reference columns."""

from .. import get_array_module
from ..conv2d.reference import col2im
from . import output_size


def forward(x, W, b, stride, padding, output_padding, dilation):
    """y = conv_transpose2d(x, W) + b."""
    xp = get_array_module(x)
    kh, kw = W.shape[2:]
    oh = output_size(x.shape[2], kh, stride[0], padding[0], output_padding[0], dilation[0])
    ow = output_size(x.shape[3], kw, stride[1], padding[1], output_padding[1], dilation[1])
    col = xp.tensordot(W, x, axes=((0,), (1,))).transpose(3, 0, 1, 2, 4, 5)
    return col2im(col, (oh, ow), (kh, kw), stride, padding, dilation, b)
