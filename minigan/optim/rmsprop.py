"""RMSprop (Tieleman and Hinton, 2012), with momentum, the centered variant and L2 weight decay."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kernels.adam.reference import lerp_
from minigan import backend
from minigan.optim.optimizer import Optimizer
from minigan.tensor import Tensor


class RMSprop(Optimizer):
    """torch.optim.RMSprop: a running average v of g^2, and p -= lr * g / (sqrt(v) + eps).

    centered subtracts the square of a running average of g from v (an estimate of the variance);
    momentum accumulates b = momentum * b + g / (sqrt(v) + eps) and steps by lr * b.
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0, momentum: float = 0, centered: bool = False):
        defaults = {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": weight_decay, "momentum": momentum,
                    "centered": centered}
        super().__init__(params, defaults)

    def check_hyperparameters(self, group: dict[str, Any]) -> None:
        super().check_hyperparameters(group)
        for name in ("alpha", "eps", "weight_decay", "momentum"):
            if not group[name] >= 0:
                raise ValueError(f"RMSprop: invalid {name} {group[name]}: must be >= 0")

    def init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        xp = backend.get_array_module(p.data)
        state = {"step": 0, "square_avg": xp.zeros(p.shape, p.dtype)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = xp.zeros(p.shape, p.dtype)
        if group["centered"]:
            state["grad_avg"] = xp.zeros(p.shape, p.dtype)
        return state

    def update(self, param, grad, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = backend.get_array_module(param)
        alpha, weight_decay, square_avg = group["alpha"], group["weight_decay"], state["square_avg"]
        state["step"] += 1
        if weight_decay != 0:
            decayed = param * weight_decay
            decayed += grad
            grad = decayed
        avg = grad * (1 - alpha)
        avg *= grad
        square_avg *= alpha
        square_avg += avg
        if group["centered"]:
            grad_avg = state["grad_avg"]
            lerp_(grad_avg, grad, 1 - alpha)
            xp.multiply(grad_avg, grad_avg, out=avg)
            xp.subtract(square_avg, avg, out=avg)
            xp.sqrt(avg, out=avg)
        else:
            xp.sqrt(square_avg, out=avg)
        avg += group["eps"]
        if group["momentum"] > 0:
            buf = state["momentum_buffer"]
            buf *= group["momentum"]
            xp.divide(grad, avg, out=avg)
            buf += avg
            xp.multiply(buf, group["lr"], out=avg)
            param -= avg
        else:
            delta = grad * -group["lr"]
            delta /= avg
            param += delta
