"""conv2d: y = W * x + b (cross-correlation), its weight gradient, and the columns that both are made of.

With x (N, C, H, W), W (K, C, kh, kw), stride s, padding p and dilation d, and x_pad the input with p zeros on
each side,

    y[n, k, i, j] = b[k] + sum_{c, u, v} W[k, c, u, v] * x_pad[n, c, i*s_h + u*d_h, j*s_w + v*d_w]

im2col lays the window of every output pixel out as a column, so that the sum is one matrix product; col2im is its
adjoint (each pixel the sum of the column entries copied from it), which is also the transposed convolution's last
step. The columns are each variant's own layout: only the variant that made them reads them.

Every variant provides exactly the functions of CONTRACT, with these parameters. Sizes, strides, paddings and
dilations are pairs (rows, columns); b and bias may be None. Every variant also states COLUMNS: whether its forward
and backward_filter read the columns they are given (the reference and the CPU kernels do: the columns made once
serve the forward and the weight gradient); a variant that computes from x in place (COLUMNS = False) ignores them,
and minigan.ops then never makes them.
"""

CONTRACT = {
    "im2col": "(x, kernel_size, stride, padding, dilation)",
    "col2im": "(col, size, kernel_size, stride, padding, dilation, bias=None)",
    "forward": "(x, W, b, stride, padding, dilation, col=None)",
    "backward_filter": "(x, gy, kernel_size, stride, padding, dilation, col=None)",
}


def output_size(size: int, k: int, stride: int, padding: int, dilation: int) -> int:
    """Spatial size of conv2d's output along one axis."""
    return (size + 2 * padding - dilation * (k - 1) - 1) // stride + 1
