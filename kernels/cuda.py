"""The loader of the CUDA C kernels: compiles kernels/<op>/<op>.cu through CuPy once, and launches its kernels.

Each .cu file holds `template <typename T> __global__` kernels. A Source compiles its file with cupy.RawModule the
first time one of its kernels runs in a process, instantiating every kernel for T = float and T = double in one
NVRTC call (CuPy keeps the binary in its disk cache, CUPY_CACHE_DIR, so later processes skip the compiler). A
launch picks the instance for the data's dtype and runs on CuPy's current stream. The kernels take `int` sizes:
Python ints are passed as numpy.int32, because CuPy would pass them as 64-bit integers, and arrays too large for
32-bit indices (2^31 - 2^16 elements and more) are refused. Floating-point scalars must be given as numpy.float32 or
numpy.float64, whichever the kernel's parameter is. CuPy adds -ftz=true to every compilation: float32 subnormal
numbers are flushed to zero, as in CuPy's own kernels. Importing this module needs no CuPy.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import numpy

BLOCK = 256  # threads per block: the kernels are compiled with __launch_bounds__(256)
MAX_ELEMENTS = 2**31 - 1 - 2**16  # the largest count whose element, thread and block-range indices fit an int
_CTYPES = {numpy.dtype(numpy.float32): "float", numpy.dtype(numpy.float64): "double"}


def ctype(op: str, dtype) -> str:
    """The C type of the template instance for a NumPy dtype, or a TypeError naming the operator."""
    try:
        return _CTYPES[numpy.dtype(dtype)]
    except KeyError:
        raise TypeError(f"{op}: the CUDA kernels take float32 or float64 arrays, got {numpy.dtype(dtype)}") from None


_INCLUDE = re.compile(r'^#include "([^"]+)".*$', re.MULTILINE)


def source_text(path: str | Path) -> str:
    """The text of a .cu file with each `#include "relative/path"` replaced by that file's text (recursively, each
    file once): CuPy compiles a source from one string, which has no folder to look for includes in."""
    seen: set = set()

    def expand(file: Path) -> str:
        if file in seen:
            return ""
        seen.add(file)
        return _INCLUDE.sub(lambda m: expand((file.parent / m.group(1)).resolve()), file.read_text())

    return expand(Path(path).resolve())


@functools.cache
def _module(path: str, kernels: tuple, device: int):
    import cupy

    names = [f"{k}<{t}>" for k in kernels for t in ("float", "double")]
    return cupy.RawModule(code=source_text(path), options=("-std=c++17",), name_expressions=names)


@functools.cache
def _function(path: str, kernels: tuple, device: int, name: str):
    return _module(path, kernels, device).get_function(name)


def _argument(op: str, a):
    """a as CuPy passes it to a kernel: arrays (C-contiguous, by pointer) and numpy scalars as they are, Python ints
    as numpy.int32."""
    if isinstance(a, (bool, int, numpy.integer)) and not isinstance(a, numpy.int32):
        if not -(2**31) <= int(a) <= MAX_ELEMENTS:
            raise ValueError(f"{op}: size {int(a)} does not fit the CUDA kernels' 32-bit indices")
        return numpy.int32(a)
    if type(a) is float:  # numpy.float64 is a float too, and passes
        raise TypeError(f"{op}: pass floating-point kernel arguments as numpy.float32 or numpy.float64")
    if hasattr(a, "flags"):
        if not a.flags.c_contiguous:
            raise ValueError(f"{op}: a kernel argument of shape {a.shape} is not C-contiguous")
        if a.size > MAX_ELEMENTS:
            raise ValueError(f"{op}: array of shape {a.shape} too large for the CUDA kernels' 32-bit indices")
    return a


class Source:
    """The kernels of kernels/<op>/<op>.cu, each a template over T = float or double."""

    def __init__(self, op: str, kernels: tuple[str, ...]):
        self.op, self.kernels = op, tuple(kernels)
        self.path = str(Path(__file__).resolve().parent / op / f"{op}.cu")

    def function(self, name: str, dtype):
        """The compiled instance name<T> for dtype (compiling the file on first use on this device)."""
        import cupy

        if name not in self.kernels:
            raise KeyError(f"{self.op}: no kernel {name!r} in {self.path}")
        return _function(self.path, self.kernels, cupy.cuda.runtime.getDevice(), f"{name}<{ctype(self.op, dtype)}>")

    def launch(self, name: str, dtype, count: int, *args, grid: tuple | None = None) -> None:
        """Run kernel `name` for dtype on the current stream: BLOCK threads per block, on `grid` when given, else
        on enough blocks for one thread per element of `count`; nothing runs on an empty grid."""
        if grid is None:
            if count > MAX_ELEMENTS:
                raise ValueError(f"{self.op}: {count} elements are more than the CUDA kernels' 32-bit indices allow")
            grid = ((count + BLOCK - 1) // BLOCK,)
        if 0 in grid:
            return
        self.function(name, dtype)(grid, (BLOCK,), tuple(_argument(self.op, a) for a in args))


class ParameterLists:
    """The arrays of a list of parameters (each parameter's arrays: the parameter, its gradient, its state) laid
    out for one launch of an optimizer kernel: a table of their addresses on the device, one row per parameter,
    and the work cut in chunks of CHUNK elements of one parameter, one block per chunk.

    Arrays that are not C-contiguous are worked on in contiguous copies (one per array, however often it appears),
    which write_back() copies back into the arrays of the columns `written` (the kernel's outputs)."""

    CHUNK = 16 * BLOCK

    def __init__(self, op: str, rows: list[list], written: tuple[int, ...]):
        import cupy

        copies = {}
        self.rows, self.written = rows, written
        self.work = [[a if a.flags.c_contiguous else copies.setdefault(id(a), cupy.ascontiguousarray(a)) for a in row]
                     for row in rows]
        dtype = self.work[0][0].dtype
        for k, row in enumerate(self.work):
            if any(a.dtype != dtype or a.shape != row[0].shape for a in row) or row[0].size > MAX_ELEMENTS:
                raise ValueError(f"{op}: the arrays of parameter {k} are not all of shape {row[0].shape} and "
                                 f"dtype {dtype} (or are too large for 32-bit indices)")
        self.dtype = dtype
        sizes = [row[0].size for row in self.work]
        chunks = [(k, start) for k, n in enumerate(sizes) for start in range(0, n, self.CHUNK)]
        self.blocks = len(chunks)
        self.table = cupy.asarray(numpy.array([[a.data.ptr for a in row] for row in self.work], dtype=numpy.uint64))
        self.sizes = cupy.asarray(numpy.array(sizes, dtype=numpy.int32))
        self.chunk_param = cupy.asarray(numpy.array([k for k, _ in chunks], dtype=numpy.int32))
        self.chunk_start = cupy.asarray(numpy.array([s for _, s in chunks], dtype=numpy.int32))

    def arguments(self) -> tuple:
        """What the optimizer kernels take first: the table, the sizes, the chunks and the chunk size."""
        return self.table, self.sizes, self.chunk_param, self.chunk_start, self.CHUNK

    def write_back(self) -> None:
        for row, work in zip(self.rows, self.work):
            for column in self.written:
                if work[column] is not row[column]:
                    row[column][...] = work[column]
