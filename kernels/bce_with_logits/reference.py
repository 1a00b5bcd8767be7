"""The binary cross-entropy of logits in plain array code (see the contract in __init__.py): the specification and
the test oracle of the CUDA kernels."""

from .. import get_array_module


def _sigmoid(x):
    """1 / (1 + exp(-x)), as e / (1 + e) with e = exp(x) for x < 0: no overflow in either tail."""
    xp = get_array_module(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


def forward(x, t, reduction: str):
    """The elementwise loss, or its mean or sum (a 0-d array of x's dtype)."""
    xp = get_array_module(x)
    loss = (1 - t) * xp.logaddexp(0, x) + t * xp.logaddexp(0, -x)
    if reduction == "none":
        return loss.astype(x.dtype, copy=False)
    total = loss.sum(dtype="float64")
    return xp.asarray(total / loss.size if reduction == "mean" else total, dtype=x.dtype)


def backward(x, t, gy, reduction: str):
    """gx = gy (sigmoid(x) - t), gy over the number of elements for 'mean'."""
    g = gy if reduction == "none" else (gy / x.size if reduction == "mean" else gy)
    return (g * (_sigmoid(x) - t)).astype(x.dtype, copy=False)
