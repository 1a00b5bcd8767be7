"""The binary cross-entropy of logits on the GPU: one launch of bce_with_logits.cu for the forward (its mean or
sum taken by one block, in a fixed order) and one for the backward. Non-contiguous inputs are copied first. See
the contract in __init__.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import cuda

if TYPE_CHECKING:
    from cupy import ndarray

_SOURCE = cuda.Source("bce_with_logits", ("bce_forward", "bce_forward_reduce", "bce_backward"))


def forward(x: ndarray, t: ndarray, reduction: str) -> ndarray:
    """The elementwise loss, or its mean or sum (a 0-d array of x's dtype)."""
    import cupy

    shape = x.shape  # ascontiguousarray makes a 0-d array 1-d
    x, t = cupy.ascontiguousarray(x), cupy.ascontiguousarray(t, dtype=x.dtype)
    if reduction == "none":
        loss = cupy.empty(shape, dtype=x.dtype)
        _SOURCE.launch("bce_forward", x.dtype, x.size, x, t, x.size, loss)
        return loss
    out = cupy.empty((), dtype=x.dtype)
    _SOURCE.launch("bce_forward_reduce", x.dtype, 0, x, t, x.size, reduction == "mean", out, grid=(1,))
    return out


def backward(x: ndarray, t: ndarray, gy: ndarray, reduction: str) -> ndarray:
    """gx = gy ((1 - t) sigmoid(x) - t sigmoid(-x)), gy over the number of elements for 'mean'."""
    import cupy

    shape = x.shape  # ascontiguousarray makes a 0-d array 1-d
    x, t = cupy.ascontiguousarray(x), cupy.ascontiguousarray(t, dtype=x.dtype)
    gy = cupy.ascontiguousarray(gy, dtype=x.dtype)
    gx = cupy.empty(shape, dtype=x.dtype)
    _SOURCE.launch("bce_backward", x.dtype, x.size, x, t, gy, x.size, reduction != "none", reduction == "mean", gx)
    return gx
