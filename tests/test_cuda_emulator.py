"""The CUDA emulator that runs the GPU tests on a machine without a GPU (tests/cuda_emulator): warp collectives,
barriers in every thread order, and the race check catching a missing __syncthreads, warp-synchronous code and a
barrier that only some threads reach; kernel arguments checked against the kernels' parameter types."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent / "cuda_emulator"
sys.path.insert(0, str(HERE))
from gpuemu.build import build
from gpuemu.runtime import ArgumentError, KernelError, Library

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="the emulator compiles with g++")
KERNELS = ["warp_sum<float>", "warp_sum<double>", "warp_sync_legacy<float>", "block_sum<double>",
           "block_sum_racy<double>", "divergent_barrier<float>"]


@pytest.fixture(scope="module", params=[False, True], ids=["plain", "racecheck"])
def library(request):
    code = (HERE / "selftest" / "kernels.cu").read_text()
    return Library(build(code, KERNELS, racecheck=request.param)), request.param


def device(a) -> bool:
    return isinstance(a, np.ndarray) and a.ndim > 0


@pytest.mark.parametrize("order", ["ascending", "descending", "random"])
def test_warp_shuffles_and_barriers_reduce_correctly_in_every_order(library, order):
    lib, _ = library
    x = np.arange(1, 257, dtype=np.float64)
    out = np.zeros(1)
    lib.launch("warp_sum<double>", (1,), (256,), (x, np.int32(200), out), order=order, seed=3,
               is_device_array=device)
    assert out[0] == x[:200].sum()
    out[0] = 0
    lib.launch("block_sum<double>", (1,), (256,), (x, np.int32(256), out), order=order, seed=3,
               is_device_array=device)
    assert out[0] == x.sum()


def test_the_race_check_reports_a_missing_syncthreads(library):
    lib, racecheck = library
    x = np.arange(1, 257, dtype=np.float64)
    out = np.zeros(1)
    if racecheck:
        with pytest.raises(KernelError, match="race"):
            lib.launch("block_sum_racy<double>", (1,), (256,), (x, np.int32(256), out), is_device_array=device)
    else:  # without the check, the race shows as a wrong sum in some thread order
        sums = set()
        for order in ("ascending", "descending"):
            lib.launch("block_sum_racy<double>", (1,), (256,), (x, np.int32(256), out), order=order,
                       is_device_array=device)
            sums.add(out[0])
        assert sums != {x.sum()}


def test_the_race_check_reports_warp_synchronous_code(library):
    lib, racecheck = library
    if not racecheck:
        pytest.skip("a race check")
    with pytest.raises(KernelError, match="race"):
        lib.launch("warp_sync_legacy<float>", (1,), (32,), (np.arange(64, dtype=np.float32), np.zeros(1, np.float32)),
                   is_device_array=device)


def test_a_barrier_that_some_threads_skip_is_reported(library):
    lib, _ = library
    with pytest.raises(KernelError):
        lib.launch("divergent_barrier<float>", (1,), (32,), (np.zeros(32, np.float32),), is_device_array=device)


def test_arguments_are_checked_against_the_parameter_types(library):
    lib, _ = library
    x, out = np.arange(256, dtype=np.float64), np.zeros(1)
    with pytest.raises(ArgumentError, match="int64.*int"):
        lib.launch("block_sum<double>", (1,), (256,), (x, 256, out), is_device_array=device)  # a Python int
    with pytest.raises(ArgumentError, match="float32 array for a float64"):
        lib.launch("block_sum<double>", (1,), (256,), (x.astype(np.float32), np.int32(256), out),
                   is_device_array=device)
    with pytest.raises(ArgumentError, match="non-C-contiguous"):
        lib.launch("block_sum<double>", (1,), (256,), (np.zeros(512)[::2], np.int32(256), out),
                   is_device_array=device)


def test_the_stand_in_cupy_counts_the_launches_cupy_would_make():
    """Each ufunc, reduction, copy and array function on device arrays is one launch, as each RawKernel call."""
    code = """
import numpy, cupy
from gpuemu import runtime
a = cupy.arange(6.0)
start = len(runtime.LAUNCH_LOG)
b = a + a                         # 1
b *= 2                            # 2
s = b.sum()                       # 3
w = cupy.where(a > 1, a, b)       # 5: greater, where
c = cupy.ascontiguousarray(b)     # contiguous already: no copy
d = cupy.ascontiguousarray(b[::2])  # 6
numpy.add(a, 1)                   # 7
print(len(runtime.LAUNCH_LOG) - start)
"""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE / "fakecupy"), str(HERE)]))
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["7"]


CALLS = r"""
#define SYNC_ALL() sync_all()
__device__ inline void sync_all() { __syncthreads(); }
template <typename T>
__device__ inline void reverse_into(T* out, const T* x)
{
    // two levels down from the kernel, and through a macro: the barrier of sync_all
    __shared__ __align__(16) T s[64];
    s[threadIdx.x] = x[threadIdx.x];
    SYNC_ALL();
    out[threadIdx.x] = s[63 - threadIdx.x];
}
template <typename T>
__device__ inline T twice(T v) { return v + v; }
template <typename T>
__global__ void reverse(const T* x, T* out) { reverse_into<T>(out, x); }
template <typename T>
__global__ void doubled(const T* x, T* out) { out[threadIdx.x] = twice(x[threadIdx.x]); }
"""


@pytest.mark.parametrize("racecheck", [False, True], ids=["plain", "racecheck"])
def test_a_kernel_runs_as_fibers_when_it_can_reach_a_barrier(racecheck):
    """A kernel that reaches a barrier through __device__ functions or macros runs as fibers (it would report a
    barrier reached in direct mode otherwise), while a kernel of the same file that reaches none runs in direct
    mode; a 16-byte aligned shared array is rewritten for the race check like any other."""
    from gpuemu.build import racecheck_rewrite, uses_barrier

    if not racecheck:
        assert uses_barrier(CALLS, "reverse") and not uses_barrier(CALLS, "doubled")
    else:
        assert 'static gpuemu::Shared<T, 64> s{"s"};' in racecheck_rewrite(CALLS)
    lib = Library(build("#define __align__(n) __attribute__((aligned(n)))\n" + CALLS,
                        ["reverse<float>", "doubled<float>"], racecheck=racecheck))
    x, out = np.arange(64, dtype=np.float32), np.zeros(64, np.float32)
    for order in ("ascending", "random"):
        lib.launch("reverse<float>", (1,), (64,), (x, out), order=order, seed=2, is_device_array=device)
        np.testing.assert_array_equal(out, x[::-1])
    lib.launch("doubled<float>", (1,), (64,), (x, out), is_device_array=device)
    np.testing.assert_array_equal(out, 2 * x)
