"""matmul in plain array code: the array library's own product (BLAS on the CPU, cuBLAS through CuPy)."""

from .. import get_array_module


def matmul(a, b):
    """a @ b."""
    return get_array_module(a, b).matmul(a, b)
