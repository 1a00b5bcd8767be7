"""Elementwise activations: LeakyReLU, ReLU, Tanh, Sigmoid.

`inplace` is accepted for PyTorch compatibility and shown in the repr; the result is always a new tensor,
since the graph keeps the input for the backward.
"""

from __future__ import annotations

from minigan.nn import functional as F
from minigan.nn.module import Module
from minigan.tensor import Tensor


class LeakyReLU(Module):
    """y = x where x > 0, else negative_slope x."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.leaky_relu(input, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class ReLU(Module):
    """y = max(x, 0)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.relu(input)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Tanh(Module):
    def forward(self, input: Tensor) -> Tensor:
        return F.tanh(input)


class Sigmoid(Module):
    """y = 1 / (1 + exp(-x))."""

    def forward(self, input: Tensor) -> Tensor:
        return F.sigmoid(input)
