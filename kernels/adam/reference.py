"""The Adam update in plain array code (see the contract in __init__.py): the specification and the test oracle
of the fast kernel. Python numbers enter each operation in the arrays' dtype."""

from .. import get_array_module
from ..steps import lerp_, with_weight_decay


def update(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, lr: float, beta1: float, beta2: float,
           eps: float, weight_decay: float) -> None:
    """One Adam step on every parameter of the list and its moments, in place."""
    for k, (param, grad, exp_avg, exp_avg_sq, step) in enumerate(zip(params, grads, exp_avgs, exp_avg_sqs, steps)):
        max_exp_avg_sq = None if max_exp_avg_sqs is None else max_exp_avg_sqs[k]
        _update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay)


def _update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step: int, lr: float, beta1: float, beta2: float,
            eps: float, weight_decay: float) -> None:
    """One Adam step on param and its moments, in place."""
    xp = get_array_module(param)
    grad = with_weight_decay(grad, param, weight_decay)
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
