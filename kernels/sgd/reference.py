"""The SGD step in plain array code, in torch.optim.SGD's order of floating-point operations."""

from ..steps import with_weight_decay


def update(params, grads, momentum_buffers, lr: float, momentum: float, dampening: float, weight_decay: float,
           nesterov: bool) -> list:
    """One step on every parameter of the list (in place); returns their momentum buffers."""
    return [_update(param, grad, buffer, lr, momentum, dampening, weight_decay, nesterov)
            for param, grad, buffer in zip(params, grads, momentum_buffers)]


def _update(param, grad, momentum_buffer, lr: float, momentum: float, dampening: float, weight_decay: float,
            nesterov: bool):
    """One step on param (in place); returns the momentum buffer (made at the first step), None without momentum."""
    d = with_weight_decay(grad, param, weight_decay)
    owned = d is not grad  # whether d is a temporary array of ours, free to overwrite
    if momentum != 0:
        if momentum_buffer is None:
            momentum_buffer = d.copy()
        else:
            momentum_buffer *= momentum
            momentum_buffer += d if dampening == 0 else d * (1 - dampening)
        if nesterov:
            ahead = momentum_buffer * momentum
            ahead += d
            d, owned = ahead, True
        else:
            d, owned = momentum_buffer, False
    if owned:
        d *= lr
        param -= d
    else:
        param -= d * lr
    return momentum_buffer
