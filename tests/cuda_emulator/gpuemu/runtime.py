"""Launch kernels of a gpuemu library from Python, with CuPy's argument conventions.

Arguments are packed as CuPy's RawKernel packs them (cupy/cuda/function.pyx, _pointer): a device array by its
data pointer, whatever its strides; a NumPy scalar as its own C type; a Python int as int64, a Python float as
double, a Python bool as a 1-byte bool. Like cuLaunchKernel, the kernel then reads each parameter with its own
declared size from the bytes given, so a mismatch is silent on a GPU. strict=True (default) checks every argument
against the kernel's C++ parameter types, which the registry knows: scalar dtype == parameter type, and for a
pointer parameter an array of the pointee's dtype that is C-contiguous; a mismatch raises ArgumentError.
"""

from __future__ import annotations

import ctypes
import os

import numpy

_CODES = {"int32": numpy.int32, "uint32": numpy.uint32, "int64": numpy.int64, "uint64": numpy.uint64,
          "float32": numpy.float32, "float64": numpy.float64, "bool": numpy.bool_}

ORDERS = {"ascending": 0, "descending": 1, "random": 2}
LAUNCH_LOG: list = []  # (name, grid, block) of every launch, for counting


def _write_count():
    path = os.environ.get("GPUEMU_COUNT_FILE")
    if path:
        with open(path, "a") as f:
            f.write(f"{len(LAUNCH_LOG)}\n")


import atexit

atexit.register(_write_count)


class ArgumentError(TypeError):
    pass


class KernelError(RuntimeError):
    pass


def _packed(a, is_device_array):
    """(bytes as CuPy would pass them, numpy dtype name or 'ptr', the array or None)."""
    if is_device_array(a):
        return ctypes.c_void_p(a.ctypes.data).value or 0, "ptr", a
    if isinstance(a, numpy.ndarray):
        if a.size != 1:
            raise TypeError("a numpy.ndarray of size > 1 cannot be a kernel argument (CuPy raises TypeError)")
        return a.tobytes(), a.dtype.name, None
    if isinstance(a, numpy.generic):
        return a.tobytes(), a.dtype.name, None
    if isinstance(a, bool):
        return numpy.bool_(a).tobytes(), "bool(python)", None
    if isinstance(a, int):
        return numpy.int64(a).tobytes(), "int64(python int)", None
    if isinstance(a, float):
        return numpy.float64(a).tobytes(), "float64(python float)", None
    raise TypeError(f"unsupported kernel argument {type(a)}")


class Library:
    def __init__(self, so_path: str):
        self.lib = ctypes.CDLL(os.path.abspath(so_path))
        self.lib.gpuemu_launch.restype = ctypes.c_int
        self.lib.gpuemu_launch.argtypes = [ctypes.c_char_p] + [ctypes.c_uint] * 6 + [
            ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_uint]
        self.lib.gpuemu_error.restype = ctypes.c_char_p
        self.lib.gpuemu_signature.restype = ctypes.c_char_p
        self.lib.gpuemu_signature.argtypes = [ctypes.c_char_p]

    def signature(self, name: str) -> list[str]:
        s = self.lib.gpuemu_signature(name.encode())
        if s is None:
            raise KeyError(f"gpuemu: no kernel {name}")
        return s.decode().split(",") if s else []

    def launch(self, name, grid, block, args, *, order="ascending", seed=0, strict=True,
               is_device_array=lambda a: isinstance(a, numpy.ndarray) and a.size != 1 or hasattr(a, "_gpuemu")):
        grid = tuple(grid) + (1,) * (3 - len(grid))
        block = tuple(block) + (1,) * (3 - len(block))
        sig = self.signature(name)
        if len(args) != len(sig):
            raise ArgumentError(f"{name}: {len(args)} arguments for {len(sig)} parameters ({','.join(sig)})")
        holders, problems = [], []
        ptrs = (ctypes.c_void_p * max(1, len(args)))()
        for i, (a, want) in enumerate(zip(args, sig)):
            value, got, arr = _packed(a, is_device_array)
            if got == "ptr":
                buf = ctypes.create_string_buffer(numpy.uint64(value).tobytes(), 16)
                if strict:
                    pointee = want.split(":", 1)[1] if want.startswith("ptr:") else None
                    if pointee is None:
                        problems.append(f"argument {i}: an array for the {want} parameter")
                    elif arr.dtype.name != pointee:
                        problems.append(f"argument {i}: a {arr.dtype.name} array for a {pointee}* parameter")
                    elif not arr.flags.c_contiguous:
                        problems.append(f"argument {i}: a non-C-contiguous array of shape {arr.shape}")
            else:
                buf = ctypes.create_string_buffer(value, 16)
                if strict and got != want:
                    problems.append(f"argument {i}: {got} for a {want} parameter")
            holders.append(buf)
            ptrs[i] = ctypes.addressof(buf)
        if problems:
            raise ArgumentError(f"{name}: " + "; ".join(problems))
        LAUNCH_LOG.append((name, grid, block))
        if 0 in grid:
            raise KernelError(f"{name}: a grid dimension is 0 (cuLaunchKernel fails with an invalid value)")
        n = self.lib.gpuemu_launch(name.encode(), *grid, *block, ptrs, ORDERS[order], seed)
        if n:
            raise KernelError(f"{name}: " + "\n  ".join(self.lib.gpuemu_error(i).decode() for i in range(n)))
