"""gpuemu: minigan's CUDA C kernels run on the CPU, for the GPU tests of a machine without a GPU.

    MINIGAN_EMULATE_CUDA=1 python -m pytest -m gpu

puts the stand-in `cupy` of ../fakecupy first on the path (tests/conftest.py does it), whose RawModule compiles the
unmodified .cu sources with g++ and shim.h (build.py) and launches their kernels with CuPy's argument conventions,
checked against the kernels' C++ parameter types (runtime.py). Each CUDA thread is a fiber, __syncthreads a checked
barrier, warp shuffles exchanges. GPUEMU_ORDER (ascending, descending, random) and GPUEMU_SEED set the order of
blocks and threads; GPUEMU_RACECHECK=1 builds checked shared arrays that report races; GPUEMU_SANITIZE builds with
sanitizers; GPUEMU_CACHE is where built libraries are kept (default: the system's temporary folder). The emulator
says whether kernels are right, never how fast they are: nothing here times anything.
"""
