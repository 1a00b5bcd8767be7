"""Leaky ReLU, y = x where x > 0 else slope x, and ReLU (slope 0).

Its gradient map gy -> mask(x) gy is linear in gy, so LeakyReLUGrad is its own derivative, and the derivative
with respect to x is zero away from the kink. Both run on the kernel variant that the forward chose.
"""

from __future__ import annotations

from minigan.autograd import Function
from minigan.dispatch import choose, kernel
from minigan.ops.unary import clamp
from minigan.tensor import Tensor


class LeakyReLUFunction(Function):
    saved_inputs = ((0,),)

    def __init__(self, negative_slope: float):
        self.negative_slope = negative_slope

    def forward(self, x):
        self.variant = choose("leaky_relu", x)
        return kernel("leaky_relu", self.variant).forward(x, self.negative_slope)

    def backward(self, gy):
        return LeakyReLUGrad(self.inputs[0].data, self.negative_slope, self.variant).apply(gy)


class LeakyReLUGrad(Function):
    """gx = gy where x > 0, else slope gy, for the x of the forward (a constant here)."""

    saved_inputs = ()

    def __init__(self, x, negative_slope: float, variant: str):
        self.x, self.negative_slope, self.variant = x, negative_slope, variant

    def forward(self, gy):
        return kernel("leaky_relu", self.variant).backward(self.x, gy, self.negative_slope)

    def backward(self, ggx):
        return LeakyReLUGrad(self.x, self.negative_slope, self.variant).apply(ggx)


def leaky_relu(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    """The kernels take floating-point tensors (as PyTorch's leaky_relu)."""
    if input.dtype.kind != "f":
        raise TypeError(f"leaky_relu: expected a floating-point tensor, got dtype {input.dtype}")
    return LeakyReLUFunction(float(negative_slope)).apply(input)


def relu(input: Tensor) -> Tensor:
    """max(input, 0); integer tensors too, as in PyTorch (by clamping: the kernels take floats)."""
    if input.dtype.kind != "f":
        return clamp(input, 0)
    return LeakyReLUFunction(0.0).apply(input)

