"""The Adam update in plain array code (see the contract in __init__.py): the specification and the test oracle
of the fast kernel. Python numbers enter each operation in the arrays' dtype."""

from .. import get_array_module


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


def update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step: int, lr: float, beta1: float, beta2: float,
           eps: float, weight_decay: float) -> None:
    """One Adam step on param and its moments, in place."""
    xp = get_array_module(param)
    if weight_decay != 0:
        decayed = param * weight_decay
        decayed += grad
        grad = decayed
    lerp_(exp_avg, grad, 1 - beta1)
    square = grad * (1 - beta2)
    square *= grad
    exp_avg_sq *= beta2
    exp_avg_sq += square
    step_size = lr / (1 - beta1**step)
    bias_correction2_sqrt = (1 - beta2**step) ** 0.5
    if max_exp_avg_sq is not None:
        xp.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        denom = xp.sqrt(max_exp_avg_sq)
    else:
        denom = xp.sqrt(exp_avg_sq)
    denom /= bias_correction2_sqrt
    denom += eps
    delta = xp.multiply(exp_avg, -step_size, out=square)
    delta /= denom
    param += delta
