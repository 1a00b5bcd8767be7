"""conv2d, conv_transpose2d and conv2d's weight gradient: a set closed under differentiation.

conv2d's input gradient is a transposed convolution, its weight gradient is Conv2dGradW; the transposed
convolution's gradients are a convolution and Conv2dGradW; Conv2dGradW's are a transposed convolution and a
convolution. So gradients of every order run on the same three kernels.

Each Function chooses its kernel variant when it runs forward (minigan.dispatch) and hands it to the gradient
Functions it makes, which run on the same variant: the im2col columns that conv2d keeps for its weight gradient
are in that variant's own layout (and made only for a variant that reads them, COLUMNS).
"""

from __future__ import annotations

import numbers

from minigan.autograd import Function, is_grad_enabled
from minigan.dispatch import choose, kernel
from minigan.kernels.conv_transpose2d import output_size as transposed_output_size
from minigan.tensor import Tensor


def _columns(k, x, kernel_size: tuple, stride: tuple, padding: tuple, dilation: tuple):
    """im2col(x) by the conv2d variant k, for a variant that reads columns (k.COLUMNS); None for one that does not."""
    return k.im2col(x, kernel_size, stride, padding, dilation) if k.COLUMNS else None


def _crop(y: Tensor, size: tuple) -> Tensor:
    """y cut to spatial size (rows and columns at the end dropped)."""
    return y if y.shape[2:] == tuple(size) else y[:, :, :size[0], :size[1]]


def _output_padding(in_size, out_size, kernel_size, stride, padding, dilation) -> tuple:
    """The output_padding that makes the transposed convolution of a conv2d output come back to in_size."""
    return tuple(i + 2 * p - d * (k - 1) - 1 - (o - 1) * s
                 for i, o, k, s, p, d in zip(in_size, out_size, kernel_size, stride, padding, dilation))


class Conv2dFunction(Function):
    """y = conv2d(x, W) + b. With keep_col, the im2col columns of x stay for the weight gradient; col gives
    columns already computed (by `variant`, which then computes this node too)."""

    saved_inputs = ((1,), (0,), ())

    def __init__(self, stride: tuple, padding: tuple, dilation: tuple, keep_col: bool = False, col=None,
                 variant: str | None = None):
        self.stride, self.padding, self.dilation, self.keep_col, self.col = stride, padding, dilation, keep_col, col
        self.variant = variant

    def forward(self, x, W, b):
        self.variant = self.variant or choose("conv2d", x)
        k = kernel("conv2d", self.variant)
        col = self.col if self.col is not None else _columns(k, x, W.shape[2:], self.stride, self.padding,
                                                             self.dilation)
        self.col = col if self.keep_col else None
        return k.forward(x, W, b, self.stride, self.padding, self.dilation, col=col)

    def backward(self, gy):
        x, W, b = self.inputs
        s, p, d = self.stride, self.padding, self.dilation
        gx = gW = gb = None
        if self.needs_input_grad[0]:
            op = _output_padding(x.shape[2:], gy.shape[2:], W.shape[2:], s, p, d)
            gx = ConvTranspose2dFunction(s, p, op, d, self.variant).apply(gy, W, None)
        if self.needs_input_grad[1]:
            gW = Conv2dGradW(W.shape[2:], s, p, d, self.col, self.variant).apply(x, gy)
        if b is not None and self.needs_input_grad[2]:
            gb = gy.sum((0, 2, 3))
        return gx, gW, gb


class ConvTranspose2dFunction(Function):
    """y = conv_transpose2d(x, W) + b."""

    saved_inputs = ((1,), (0,), ())

    def __init__(self, stride: tuple, padding: tuple, output_padding: tuple, dilation: tuple,
                 variant: str | None = None):
        self.stride, self.padding, self.output_padding, self.dilation = stride, padding, output_padding, dilation
        self.variant = variant

    def forward(self, x, W, b):
        self.variant = self.variant or choose("conv_transpose2d", x)
        return kernel("conv_transpose2d", self.variant).forward(x, W, b, self.stride, self.padding,
                                                                self.output_padding, self.dilation)

    def backward(self, gy):
        """A convolution of gy for gx and a weight gradient for gW, sharing one im2col of gy."""
        x, W, b = self.inputs
        s, p, d, v = self.stride, self.padding, self.dilation, self.variant
        gx = gW = gb = None
        col = None
        if self.needs_input_grad[0] or self.needs_input_grad[1]:
            col = _columns(kernel("conv2d", v), gy.data, W.shape[2:], s, p, d)
        if self.needs_input_grad[0]:
            gx = _crop(Conv2dFunction(s, p, d, keep_col=True, col=col, variant=v).apply(gy, W, None), x.shape[2:])
        if self.needs_input_grad[1]:
            gW = Conv2dGradW(W.shape[2:], s, p, d, col, v).apply(gy, x)
        if b is not None and self.needs_input_grad[2]:
            gb = gy.sum((0, 2, 3))
        return gx, gW, gb


class Conv2dGradW(Function):
    """gW = the weight gradient of y = conv2d(x, W) given gy; bilinear in (x, gy). col: im2col(x) by `variant`,
    if known."""

    saved_inputs = ((1,), (0,))

    def __init__(self, kernel_size: tuple, stride: tuple, padding: tuple, dilation: tuple, col=None,
                 variant: str | None = None):
        self.kernel_size, self.stride, self.padding, self.dilation, self.col = kernel_size, stride, padding, dilation, col
        self.variant = variant

    def forward(self, x, gy):
        self.variant = self.variant or choose("conv2d", x)
        col, self.col = self.col, None
        return kernel("conv2d", self.variant).backward_filter(x, gy, self.kernel_size, self.stride, self.padding,
                                                              self.dilation, col=col)

    def backward(self, ggW):
        x, gy = self.inputs
        s, p, d, v = self.stride, self.padding, self.dilation, self.variant
        gx = ggy = None
        if self.needs_input_grad[0]:
            op = _output_padding(x.shape[2:], gy.shape[2:], self.kernel_size, s, p, d)
            gx = ConvTranspose2dFunction(s, p, op, d, v).apply(gy, ggW, None)
        if self.needs_input_grad[1]:
            ggy = _crop(Conv2dFunction(s, p, d, variant=v).apply(x, ggW, None), gy.shape[2:])
        return gx, ggy


def _pair(value, name: str, op: str, minimum: int) -> tuple:
    pair = (value, value) if isinstance(value, numbers.Integral) else value
    if (not isinstance(pair, (tuple, list)) or len(pair) != 2
            or not all(isinstance(v, numbers.Integral) and v >= minimum for v in pair)):
        raise ValueError(f"{op}: {name} must be an int >= {minimum} or a pair of them, got {value!r}")
    return tuple(int(v) for v in pair)


def _check_operands(op: str, x: Tensor, weight: Tensor, bias: Tensor | None, channels_axis: int) -> None:
    if x.ndim != 4:
        raise RuntimeError(f"{op}: expected a 4-D input (N, C, H, W), got shape {x.shape}")
    if weight.ndim != 4:
        raise RuntimeError(f"{op}: expected a 4-D weight, got shape {weight.shape}")
    if x.shape[1] != weight.shape[channels_axis]:
        raise RuntimeError(f"{op}: weight of shape {weight.shape} expects {weight.shape[channels_axis]} input "
                           f"channels, got input of shape {x.shape}")
    out_channels = weight.shape[1 - channels_axis]
    if bias is not None and bias.shape != (out_channels,):
        raise RuntimeError(f"{op}: expected bias of shape ({out_channels},), got {bias.shape}")
    for t, name in ((weight, "weight"), (bias, "bias")):
        if t is not None and t.dtype != x.dtype:
            raise TypeError(f"{op}: input has dtype {x.dtype} but {name} has dtype {t.dtype}")


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1) -> Tensor:
    """2-D cross-correlation: y[n, k] = b[k] + sum_c W[k, c] * x[n, c], weight (out, in, kh, kw)."""
    _check_operands("conv2d", input, weight, bias, 1)
    s, p = _pair(stride, "stride", "conv2d", 1), _pair(padding, "padding", "conv2d", 0)
    d = _pair(dilation, "dilation", "conv2d", 1)
    for size, k, pi, di in zip(input.shape[2:], weight.shape[2:], p, d):
        if size + 2 * pi < di * (k - 1) + 1:
            raise RuntimeError(f"conv2d: kernel {tuple(weight.shape[2:])} with dilation {d} is larger than the "
                               f"padded input ({input.shape[2] + 2 * p[0]}, {input.shape[3] + 2 * p[1]})")
    keep_col = weight.requires_grad and is_grad_enabled()  # the weight gradient will reuse the columns
    return Conv2dFunction(s, p, d, keep_col).apply(input, weight, bias)


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
                     output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """The adjoint of conv2d with respect to its input (a "deconvolution"), weight (in, out, kh, kw).

    Only groups=1 is supported.
    """
    op = "conv_transpose2d"
    if groups != 1:
        raise NotImplementedError(f"{op}: groups={groups} is not supported, only groups=1")
    _check_operands(op, input, weight, bias, 0)
    s, p = _pair(stride, "stride", op, 1), _pair(padding, "padding", op, 0)
    o, d = _pair(output_padding, "output_padding", op, 0), _pair(dilation, "dilation", op, 1)
    if any(oi >= max(si, di) for oi, si, di in zip(o, s, d)):
        raise ValueError(f"{op}: output_padding {o} must be smaller than stride {s} or dilation {d}")
    out = [transposed_output_size(n, k, si, pi, oi, di)
           for n, k, si, pi, oi, di in zip(input.shape[2:], weight.shape[2:], s, p, o, d)]
    if min(out) < 1:
        raise RuntimeError(f"{op}: padding {p} leaves an empty output ({out[0]}, {out[1]}) for input {input.shape}")
    return ConvTranspose2dFunction(s, p, o, d).apply(input, weight, bias)
