"""The binary cross-entropy of logits in plain array code (see the contract in __init__.py): the specification and
the test oracle of the CUDA kernels."""

from .. import get_array_module


def _sigmoids(x):
    """(sigmoid(x), sigmoid(-x)) from one e = exp(-|x|): 1 / (1 + e) and e / (1 + e), each accurate in its tail."""
    xp = get_array_module(x)
    e = xp.exp(-xp.abs(x))
    big, small = 1 / (1 + e), e / (1 + e)
    return xp.where(x >= 0, big, small), xp.where(x >= 0, small, big)


def forward(x, t, reduction: str):
    """The elementwise loss, or its mean or sum (a 0-d array of x's dtype)."""
    xp = get_array_module(x)
    loss = (1 - t) * xp.logaddexp(0, x) + t * xp.logaddexp(0, -x)
    if reduction == "none":
        return loss.astype(x.dtype, copy=False)
    total = loss.sum(dtype="float64")
    return xp.asarray(total / loss.size if reduction == "mean" else total, dtype=x.dtype)


def backward(x, t, gy, reduction: str):
    """gx = gy ((1 - t) sigmoid(x) - t sigmoid(-x)) (= gy (sigmoid(x) - t), without its cancellation where
    sigmoid(x) is near t = 1), gy over the number of elements for 'mean'."""
    g = gy if reduction == "none" else (gy / x.size if reduction == "mean" else gy)
    s, s_minus = _sigmoids(x)
    return (g * ((1 - t) * s - t * s_minus)).astype(x.dtype, copy=False)
