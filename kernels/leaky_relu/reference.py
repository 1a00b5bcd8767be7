"""Leaky ReLU in plain array code (see the contract in __init__.py): the specification and the test oracle of the
fast kernels."""

from .. import get_array_module


def forward(x, negative_slope: float):
    return get_array_module(x).where(x > 0, x, x * negative_slope)


def backward(x, gy, negative_slope: float):
    return get_array_module(x).where(x > 0, gy, gy * negative_slope)
