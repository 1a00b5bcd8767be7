"""Devices: 'cpu' computes with NumPy, 'cuda' with CuPy. Importing minigan never needs CuPy.

get_array_module (numpy or cupy, whichever the arrays belong to) is the kernels' own rule, re-exported here.
"""

from __future__ import annotations

import functools

import numpy

from minigan.kernels import get_array_module

try:
    import cupy
except ImportError:  # CuPy is optional; the CPU device works without it
    cupy = None

DEVICES = ("cpu", "cuda")


@functools.cache
def cuda_available() -> bool:
    """True when CuPy is installed and sees at least one GPU."""
    if cupy is None:
        return False
    try:
        return cupy.cuda.runtime.getDeviceCount() > 0
    except cupy.cuda.runtime.CUDARuntimeError:  # CuPy installed, but no driver or no GPU
        return False


def check_device(device: str) -> str:
    """Return a canonical device name ('cuda:0' -> 'cuda'), or raise naming what is wrong."""
    if not isinstance(device, str):
        raise TypeError(f"device must be 'cpu' or 'cuda', got {device!r}")
    name = device.split(":")[0]
    if name not in DEVICES:
        raise ValueError(f"unknown device {device!r}: expected 'cpu' or 'cuda'")
    if name == "cuda" and cupy is None:
        raise RuntimeError("device 'cuda' needs CuPy: pip install 'minigan[cuda]'")
    if name == "cuda" and not cuda_available():
        raise RuntimeError("device 'cuda' needs a CUDA GPU, and CuPy finds none (or no usable driver)")
    return name


def xp_of(device: str):
    """The array module of a device: numpy for 'cpu', cupy for 'cuda'."""
    return cupy if check_device(device) == "cuda" else numpy


def device_of(array) -> str:
    """'cuda' for a CuPy array, 'cpu' for anything else."""
    return "cuda" if get_array_module(array) is not numpy else "cpu"


def to_device(array, device: str):
    """The array moved to a device (the same object if it is already there)."""
    if check_device(device) == "cuda":
        return cupy.asarray(array)
    if cupy is not None and isinstance(array, cupy.ndarray):
        return cupy.asnumpy(array)
    return numpy.asarray(array)


__all__ = ["DEVICES", "check_device", "cuda_available", "device_of", "get_array_module", "to_device", "xp_of"]
