"""The RMSprop step in plain array code, in torch.optim.RMSprop's order of floating-point operations."""

from .. import get_array_module
from ..steps import lerp_, with_weight_decay


def update(params, grads, square_avgs, grad_avgs, momentum_buffers, lr: float, alpha: float, eps: float,
           weight_decay: float, momentum: float) -> None:
    """One step on every parameter of the list and its running averages, in place."""
    for k, (param, grad, square_avg) in enumerate(zip(params, grads, square_avgs)):
        _update(param, grad, square_avg, None if grad_avgs is None else grad_avgs[k],
                None if momentum_buffers is None else momentum_buffers[k], lr, alpha, eps, weight_decay, momentum)


def _update(param, grad, square_avg, grad_avg, momentum_buffer, lr: float, alpha: float, eps: float,
            weight_decay: float, momentum: float) -> None:
    """One step on param, square_avg and (when given) grad_avg and momentum_buffer, in place."""
    xp = get_array_module(param)
    grad = with_weight_decay(grad, param, weight_decay)
    avg = grad * (1 - alpha)
    avg *= grad
    square_avg *= alpha
    square_avg += avg
    if grad_avg is not None:
        lerp_(grad_avg, grad, 1 - alpha)
        xp.multiply(grad_avg, grad_avg, out=avg)
        xp.subtract(square_avg, avg, out=avg)
        xp.sqrt(avg, out=avg)
    else:
        xp.sqrt(square_avg, out=avg)
    avg += eps
    if momentum_buffer is not None:
        momentum_buffer *= momentum
        xp.divide(grad, avg, out=avg)
        momentum_buffer += avg
        xp.multiply(momentum_buffer, lr, out=avg)
        param -= avg
    else:
        delta = grad * -lr
        delta /= avg
        param += delta
