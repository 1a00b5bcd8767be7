"""Conv2d and ConvTranspose2d with PyTorch's arguments, weight layouts and default initialisation."""

from __future__ import annotations

from minigan.nn import functional as F
from minigan.nn.init import reset_weight_and_bias
from minigan.nn.module import Module, new_parameter
from minigan.tensor import Tensor


def _pair(value, name: str, layer: str, minimum: int) -> tuple:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v >= minimum for v in pair):
        raise ValueError(f"{layer}: {name} must be an int >= {minimum} or a pair of them, got {value!r}")
    return pair


class _Conv(Module):
    """What Conv2d and ConvTranspose2d share: arguments, bias, initialisation and repr."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride, padding, dilation, output_padding,
                 groups: int, bias: bool, weight_shape: tuple, device, dtype):
        super().__init__()
        layer = type(self).__name__
        if groups != 1:
            raise ValueError(f"{layer}: only groups=1 is supported, got groups={groups}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = _pair(kernel_size, "kernel_size", layer, 1)
        self.stride = _pair(stride, "stride", layer, 1)
        self.padding = _pair(padding, "padding", layer, 0)
        self.dilation = _pair(dilation, "dilation", layer, 1)
        self.output_padding = _pair(output_padding, "output_padding", layer, 0)
        self.weight = new_parameter(weight_shape + self.kernel_size, device, dtype)
        if bias:
            self.bias = new_parameter((out_channels,), device, dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        reset_weight_and_bias(self.weight, self.bias)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.output_padding != (0, 0):
            s += f", output_padding={self.output_padding}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Conv2d(_Conv):
    """2-D cross-correlation over an (N, C, H, W) input; weight (out_channels, in_channels, kh, kw)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, *, device: str | None = None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, 0, groups, bias,
                         (out_channels, in_channels), device, dtype)

    def forward(self, input: Tensor) -> Tensor:
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation)


class ConvTranspose2d(_Conv):
    """The adjoint of Conv2d with respect to its input (upsampling when stride > 1);
    weight (in_channels, out_channels, kh, kw)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0,
                 groups: int = 1, bias: bool = True, dilation=1, *, device: str | None = None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, output_padding, groups,
                         bias, (in_channels, out_channels), device, dtype)

    def forward(self, input: Tensor) -> Tensor:
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                                  dilation=self.dilation)
