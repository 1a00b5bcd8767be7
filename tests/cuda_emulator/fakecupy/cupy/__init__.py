"""A stand-in for CuPy on a machine without a GPU: "device" arrays are NumPy arrays of a subclass, cupy.ndarray,
and cupy.RawModule compiles its CUDA C with g++ and gpuemu's shim, then launches the kernels on the CPU with
CuPy's argument conventions (see gpuemu/runtime.py).

Enough of CuPy for minigan's kernels/*/cuda.py, minigan.backend and the GPU tests: every NumPy function is reachable as cupy.<name> with its array results turned into cupy.ndarray; cupy.empty fills float
arrays with NaN (a kernel that leaves an output element unwritten shows). Environment:
  GPUEMU_ORDER=ascending|descending|random   order of blocks and threads (default ascending)
  GPUEMU_SEED=<int>                          seed of the random order
  GPUEMU_RACECHECK=1                         build with checked shared arrays (race / out-of-bounds reports)
  GPUEMU_SANITIZE=address,undefined          build with these sanitizers (ASan needs LD_PRELOAD of libasan)
  GPUEMU_STRICT=0                            do not check argument types against the kernels' parameters
"""

from __future__ import annotations

import os
import sys
import types

import numpy as _np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from gpuemu import build as _build
from gpuemu import runtime as _runtime

__version__ = "14.2.0+gpuemu"


class ndarray(_np.ndarray):
    """A 'device' array: a NumPy array that the fake CuPy passes to kernels by pointer."""

    _gpuemu = True

    def get(self, stream=None, order="C", out=None):
        return _np.array(self, copy=True)

    @property
    def device(self):
        return cuda.Device(0)

    @property
    def data(self):
        """CuPy's memory pointer: `.ptr` is the address of the first element (what a kernel's table holds)."""
        return types.SimpleNamespace(ptr=self.ctypes.data)

    def __array_wrap__(self, obj, context=None, return_scalar=False):
        # a ufunc or a reduction on device arrays: one kernel launch on a GPU
        _launched(context[0].__name__ if context else "reduction")
        # keep 0-d results as 0-d arrays, as CuPy does (NumPy would make scalars)
        return _np.ndarray.__array_wrap__(self, obj, context, False)

    def astype(self, dtype, *args, **kwargs):
        _launched("astype")
        return _np.ndarray.astype(self, dtype, *args, **kwargs)

    def copy(self, order="C"):
        _launched("copy")
        return _np.ndarray.copy(self, order)


def _launched(name: str) -> None:
    """Count one kernel launch that CuPy would make (gpuemu.runtime.LAUNCH_LOG also holds every RawKernel's)."""
    _runtime.LAUNCH_LOG.append((name, None, None))


def _c(r):
    if isinstance(r, _np.ndarray) and not isinstance(r, ndarray):
        return r.view(ndarray)
    if isinstance(r, tuple):
        return tuple(_c(x) for x in r)
    if isinstance(r, list):
        return [_c(x) for x in r]
    return r


def _wrap(f):
    def g(*args, **kwargs):
        if any(isinstance(a, ndarray) for a in (*args, *kwargs.values())):
            _launched(getattr(f, "__name__", "function"))
        return _c(f(*args, **kwargs))
    g.__name__ = getattr(f, "__name__", "f")
    g.__wrapped__ = f
    return g


_cache = {}


def __getattr__(name):
    if name in _cache:
        return _cache[name]
    obj = getattr(_np, name)
    if callable(obj) and not isinstance(obj, type) and not isinstance(obj, _np.ufunc):
        obj = _wrap(obj)
    _cache[name] = obj
    return obj


def asarray(a, dtype=None, order=None):
    if isinstance(a, ndarray) and (dtype is None or _np.dtype(dtype) == a.dtype):
        return a
    return _np.array(a, dtype=dtype, order=order or "K", copy=True).view(ndarray)


def array(a, dtype=None, copy=True, order="K", ndmin=0):
    return _np.array(a, dtype=dtype, copy=True, order=order, ndmin=ndmin).view(ndarray)


def asnumpy(a, stream=None, order="C", out=None):
    return _np.array(a, copy=True)


def ascontiguousarray(a, dtype=None):
    r = _np.ascontiguousarray(a, dtype=dtype)
    if not _np.shares_memory(r, a):
        _launched("ascontiguousarray")
    return r if isinstance(r, ndarray) else r.view(ndarray)


def empty(shape, dtype=float, order="C"):
    a = _np.empty(shape, dtype=dtype, order=order).view(ndarray)
    if a.dtype.kind == "f":
        a.fill(_np.nan)  # uninitialised device memory: NaN, so that an unwritten output element shows
    return a


def empty_like(a, dtype=None, order="K", subok=None, shape=None):
    r = _np.empty_like(a, dtype=dtype, order=order, shape=shape).view(ndarray)
    if r.dtype.kind == "f":
        r.fill(_np.nan)
    return r


def get_array_module(*args):
    return sys.modules[__name__] if any(isinstance(a, ndarray) for a in args) else _np


# ---- cupy.cuda ----
class _CUDARuntimeError(RuntimeError):
    pass


class _Device:
    def __init__(self, id=0):
        self.id = id

    def __enter__(self):
        return self

    def __exit__(self, *a):
        pass

    def synchronize(self):
        pass


class _Pool:
    def malloc(self, size):
        raise NotImplementedError

    def used_bytes(self):
        return 0

    def free_all_blocks(self):
        pass


_pool = _Pool()


def get_default_memory_pool():
    return _pool


def get_default_pinned_memory_pool():
    return _pool


cuda = types.ModuleType("cupy.cuda")
cuda.runtime = types.SimpleNamespace(getDevice=lambda: 0, getDeviceCount=lambda: 1,
                                     CUDARuntimeError=_CUDARuntimeError, deviceSynchronize=lambda: None,
                                     is_hip=False)
cuda.Device = _Device
cuda.set_allocator = lambda f=None: None
cuda.set_pinned_memory_allocator = lambda f=None: None
cuda.get_current_stream = lambda: types.SimpleNamespace(synchronize=lambda: None, ptr=0)
sys.modules["cupy.cuda"] = cuda
sys.modules["cupy.cuda.runtime"] = cuda.runtime


# ---- RawModule / RawKernel on gpuemu ----
_libraries = {}


class RawKernel:
    def __init__(self, lib, name):
        self.lib, self.name = lib, name

    def __call__(self, grid, block, args, *, shared_mem=0, stream=None, enable_cooperative_groups=False):
        if shared_mem:
            raise NotImplementedError("dynamic shared memory is not emulated")
        self.lib.launch(self.name, grid, block, tuple(args),
                        order=os.environ.get("GPUEMU_ORDER", "ascending"),
                        seed=int(os.environ.get("GPUEMU_SEED", "0")),
                        strict=os.environ.get("GPUEMU_STRICT", "1") != "0",
                        is_device_array=lambda a: isinstance(a, ndarray))


class RawModule:
    def __init__(self, code=None, *, path=None, options=(), backend="nvrtc", translate_cucomplex=False,
                 enable_cooperative_groups=False, name_expressions=None, jitify=False):
        if code is None:
            raise NotImplementedError("RawModule(path=...) is not emulated")
        if name_expressions is None:
            raise NotImplementedError("gpuemu registers the kernels of the name expressions only")
        self.code, self.options, self.name_expressions = code, tuple(options), tuple(name_expressions)

    @property
    def _lib(self):
        key = (self.code, self.name_expressions)
        if key not in _libraries:
            so = _build.build(self.code, self.name_expressions,
                              sanitize=os.environ.get("GPUEMU_SANITIZE", ""),
                              racecheck=os.environ.get("GPUEMU_RACECHECK", "0") == "1")
            _libraries[key] = _runtime.Library(so)
        return _libraries[key]

    def get_function(self, name):
        if name not in self.name_expressions:
            raise KeyError(f"{name} is not one of the name expressions (CuPy would look up the unmangled name "
                           f"and fail with CUDA_ERROR_NOT_FOUND)")
        lib = self._lib
        lib.signature(name)
        return RawKernel(lib, name)


class CUDARuntimeError(_CUDARuntimeError):
    pass


# ---- cupy.random: NumPy's generators, results as device arrays ----
class _Generator:
    def __init__(self, gen):
        self._gen = gen

    def __getattr__(self, name):
        attr = getattr(self._gen, name)
        return _wrap(attr) if callable(attr) else attr


random = types.ModuleType("cupy.random")
random.default_rng = lambda seed=None: _Generator(_np.random.default_rng(seed))
for _name in ("rand", "randn", "random", "standard_normal", "uniform", "normal", "randint", "seed"):
    setattr(random, _name, _wrap(getattr(_np.random, _name)))
sys.modules["cupy.random"] = random
