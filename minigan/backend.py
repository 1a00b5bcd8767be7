"""Devices: 'cpu' computes with NumPy, 'cuda' with CuPy. Importing minigan never needs CuPy."""

from __future__ import annotations

import functools
import importlib
import os

import numpy

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


def get_array_module(*arrays):
    """numpy or cupy, whichever the arrays belong to (numpy when CuPy is absent)."""
    if cupy is not None:
        for a in arrays:
            if isinstance(a, cupy.ndarray):
                return cupy
    return numpy


def device_of(array) -> str:
    """'cuda' for a CuPy array, 'cpu' for anything else."""
    return "cuda" if cupy is not None and isinstance(array, cupy.ndarray) else "cpu"


def to_device(array, device: str):
    """The array moved to a device (the same object if it is already there)."""
    if check_device(device) == "cuda":
        return cupy.asarray(array)
    if cupy is not None and isinstance(array, cupy.ndarray):
        return cupy.asnumpy(array)
    return numpy.asarray(array)



KERNELS = ("fast", "reference")


def _check_kernels(choice: str) -> str:
    if choice not in KERNELS:
        raise ValueError(f"kernels must be one of {KERNELS}, got {choice!r} (MINIGAN_KERNELS or use_kernels)")
    return choice


_kernels = _check_kernels(os.environ.get("MINIGAN_KERNELS", "fast"))


class use_kernels:
    """Select the kernels: 'fast' (Numba on the CPU, CUDA C on the GPU) or 'reference' (plain NumPy/CuPy, the
    specification).

    Takes effect at once; used in a `with` block, the previous choice comes back at its end. The environment
    variable MINIGAN_KERNELS sets the choice at start-up.
    """

    def __init__(self, choice: str):
        global _kernels
        self.previous, _kernels = _kernels, _check_kernels(choice)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc) -> None:
        global _kernels
        _kernels = self.previous


def kernels_in_use() -> str:
    return _kernels


CUDA_KERNELS = ("conv2d", "conv_transpose2d", "batch_norm", "leaky_relu")  # operators with a kernels/<op>/cuda.py


def kernel(op: str, array):
    """The kernel module of operator `op` for the device of `array`. With the fast kernels selected:
    kernels/<op>/cpu.py (Numba) on the CPU, and kernels/<op>/cuda.py (CUDA C through CuPy) on the GPU for the
    operators of CUDA_KERNELS; kernels/<op>/reference.py for the others (adam on the GPU), and for every operator
    when the reference kernels are selected."""
    variant = "reference"
    if _kernels == "fast":
        variant = "cpu" if device_of(array) == "cpu" else "cuda" if op in CUDA_KERNELS else "reference"
    return importlib.import_module(f"kernels.{op}.{variant}")
