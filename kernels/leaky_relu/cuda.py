"""Leaky ReLU on the GPU: the elementwise CUDA C kernels of leaky_relu.cu, over the arrays seen flat.

y = x where x > 0, else slope x; gx = gy where x > 0, else slope gy. Each element is computed as the reference
computes it, so the results are the reference's to the last bit, but for float32 subnormal numbers, which CuPy's
compiler flag -ftz=true flushes to zero here as in all of CuPy's kernels. Non-contiguous inputs are copied first. The
kernels take float32 and float64; other dtypes, or an x whose dtype or shape differs from gy's, go to the reference.
See the contract in __init__.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import cuda

if TYPE_CHECKING:
    from cupy import ndarray

_SOURCE = cuda.Source("leaky_relu", ("leaky_relu_forward", "leaky_relu_backward"))


def forward(x: ndarray, negative_slope: float) -> ndarray:
    """y = x where x > 0, else negative_slope x."""
    import cupy

    y = cupy.empty(x.shape, dtype=x.dtype)  # x's shape: a 0-d x may come back 1-d from ascontiguousarray
    x = cupy.ascontiguousarray(x)
    _SOURCE.launch("leaky_relu_forward", x.dtype, x.size, x, x.size, x.dtype.type(negative_slope), y)
    return y


def backward(x: ndarray, gy: ndarray, negative_slope: float) -> ndarray:
    """gx = gy where x > 0, else negative_slope gy."""
    import cupy

    if x.dtype != gy.dtype or x.shape != gy.shape:
        raise ValueError(f"leaky_relu: x and gy must have one shape and dtype, got {x.shape} {x.dtype} and "
                         f"{gy.shape} {gy.dtype}")
    gx = cupy.empty(gy.shape, dtype=gy.dtype)
    x, gy = cupy.ascontiguousarray(x), cupy.ascontiguousarray(gy)
    _SOURCE.launch("leaky_relu_backward", gy.dtype, gy.size, x, gy, gy.size, gy.dtype.type(negative_slope), gx)
    return gx
