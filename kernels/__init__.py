"""minigan's hand-written kernels, installed as minigan.kernels: one folder per operator.

Each folder states its operator's contract once, in its __init__.py: the shape geometry, and CONTRACT, the
functions every variant provides with their exact parameters. The variants sit beside it: `reference.py`, plain
array code (NumPy, or CuPy through the same calls), the specification that every faster variant is tested
against; `cpu.py` (Numba); `cuda.py`, which launches the CUDA C of `<op>.cu` through CuPy (cuda.py here is the
loader). minigan.dispatch finds the variants from the folders and picks one per call.

The kernels import nothing from the rest of minigan: they take and return arrays.
"""

import sys

import numpy


def get_array_module(*arrays):
    """cupy when any of the arrays is a CuPy array, else numpy (CuPy is never imported here)."""
    cupy = sys.modules.get("cupy")
    if cupy is not None and any(isinstance(a, cupy.ndarray) for a in arrays):
        return cupy
    return numpy
