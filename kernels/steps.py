"""What the reference optimizer updates share, each computed in torch.optim's order of floating-point operations
(Python numbers enter each operation in the arrays' dtype), so that the updates agree with PyTorch's bit for bit."""

from . import get_array_module


def with_weight_decay(grad, param, weight_decay: float):
    """grad + weight_decay * param (L2 weight decay) as a new array, or grad itself when weight_decay is 0."""
    if weight_decay == 0:
        return grad
    decayed = param * weight_decay
    decayed += grad
    return decayed


def lerp_(start, end, weight: float) -> None:
    """start += weight * (end - start), in place, computed as torch.lerp does it.

    For |weight| < 1/2 the step goes from start, otherwise back from end (end - (end - start) * (1 - weight)),
    which keeps the result exact at weight 1. `end` is only read.
    """
    xp = get_array_module(start)
    weight = start.dtype.type(weight)
    diff = end - start
    if abs(weight) < 0.5:
        diff *= weight
        start += diff
    else:
        diff *= 1 - weight
        xp.subtract(end, diff, out=start)
