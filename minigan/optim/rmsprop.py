"""RMSprop (Tieleman and Hinton, 2012), with momentum, the centered variant and L2 weight decay."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from minigan import backend
from minigan.dispatch import choose, kernel
from minigan.optim.optimizer import Optimizer, one_kind
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

    def update_group(self, params: list, grads: list, states: list[dict[str, Any]], group: dict[str, Any]) -> None:
        """The RMSprop kernel on the group's parameters, one call per list of one device and dtype."""
        for state in states:
            state["step"] += 1
        for kind in one_kind(params):
            ps, gs, ss = [params[k] for k in kind], [grads[k] for k in kind], [states[k] for k in kind]
            kernel("rmsprop", choose("rmsprop", ps[0])).update(
                ps, gs, [s["square_avg"] for s in ss], [s["grad_avg"] for s in ss] if group["centered"] else None,
                [s["momentum_buffer"] for s in ss] if group["momentum"] > 0 else None, group["lr"], group["alpha"],
                group["eps"], group["weight_decay"], group["momentum"])
