"""RMSprop (Tieleman and Hinton, 2012), with momentum, the centered variant and L2 weight decay."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from minigan import backend
from minigan.dispatch import choose, kernel
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
        state["step"] += 1
        kernel("rmsprop", choose("rmsprop", param)).update(
            param, grad, state["square_avg"], state.get("grad_avg"), state.get("momentum_buffer"), group["lr"],
            group["alpha"], group["eps"], group["weight_decay"], group["momentum"])
