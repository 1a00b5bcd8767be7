"""conv_transpose2d: the adjoint of conv2d with respect to its input (a "deconvolution").

With x (N, C_in, H, W) and W (C_in, C_out, kh, kw),

    y[n, o, i*s_h + u*d_h - p_h, j*s_w + v*d_w - p_w] += W[c, o, u, v] * x[n, c, i, j]

over every c, i, j, u, v, plus b[o]; y has the size output_size gives. It is a matrix product that makes
columns, then conv2d's col2im, which adds them up in place: no multiply-add is spent on the zeros that a strided
transposed convolution would insert.

Every variant provides exactly the functions of CONTRACT, with these parameters (pairs for the geometry; b may
be None).
"""

CONTRACT = {
    "forward": "(x, W, b, stride, padding, output_padding, dilation)",
}


def output_size(size: int, k: int, stride: int, padding: int, output_padding: int, dilation: int) -> int:
    """Spatial size of conv_transpose2d's output along one axis."""
    return (size - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1
