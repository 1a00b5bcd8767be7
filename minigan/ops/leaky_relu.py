"""Leaky ReLU, y = x where x > 0 else slope x, and ReLU (slope 0).

Its gradient map gy -> mask(x) gy is linear in gy, so LeakyReLUGrad is its own derivative, and the derivative
with respect to x is zero away from the kink.
"""

from __future__ import annotations

from minigan.autograd import Function
from minigan.backend import kernel
from minigan.tensor import Tensor


class LeakyReLU(Function):
    def __init__(self, negative_slope: float):
        self.negative_slope = negative_slope

    def forward(self, x):
        return kernel("leaky_relu", x).forward(x, self.negative_slope)

    def backward(self, gy):
        return LeakyReLUGrad(self.inputs[0].data, self.negative_slope).apply(gy)


class LeakyReLUGrad(Function):
    """gx = gy where x > 0, else slope gy, for the x of the forward (a constant here)."""

    def __init__(self, x, negative_slope: float):
        self.x, self.negative_slope = x, negative_slope

    def forward(self, gy):
        return kernel("leaky_relu", gy).backward(self.x, gy, self.negative_slope)

    def backward(self, ggx):
        return LeakyReLUGrad(self.x, self.negative_slope).apply(ggx)


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    return LeakyReLU(float(negative_slope)).apply(x)


def relu(x: Tensor) -> Tensor:
    return LeakyReLU(0.0).apply(x)
