"""Hand-written kernels of minigan's four heavy operators, one folder per operator.

Each folder holds `reference.py`: plain array code (NumPy, or CuPy through the same calls), the specification
that every faster kernel beside it is tested against: `cpu.py` (Numba) and, for the GPU, `cuda.py` with the CUDA C
of `<op>.cu`, compiled and launched through CuPy by kernels/cuda.py.
"""

import numpy


def get_array_module(a):
    """cupy for a CuPy array, numpy for anything else; the kernels need nothing from minigan."""
    if type(a).__module__.startswith("cupy"):
        import cupy

        return cupy
    return numpy
