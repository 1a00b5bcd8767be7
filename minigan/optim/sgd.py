"""Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight decay."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from minigan.dispatch import choose, kernel
from minigan.optim.optimizer import Optimizer, one_kind
from minigan.tensor import Tensor


class SGD(Optimizer):
    """torch.optim.SGD: p -= lr * d, where d is the gradient (plus weight_decay * p) or its momentum buffer.

    With momentum the buffer starts as the first gradient, then b = momentum * b + (1 - dampening) * g;
    Nesterov uses d = g + momentum * b instead of d = b.
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float = 1e-3, momentum: float = 0,
                 dampening: float = 0, weight_decay: float = 0, nesterov: bool = False):
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weight_decay,
                    "nesterov": nesterov}
        super().__init__(params, defaults)

    def check_hyperparameters(self, group: dict[str, Any]) -> None:
        super().check_hyperparameters(group)
        if not group["momentum"] >= 0:
            raise ValueError(f"SGD: invalid momentum {group['momentum']}: must be >= 0")
        if not group["weight_decay"] >= 0:
            raise ValueError(f"SGD: invalid weight_decay {group['weight_decay']}: must be >= 0")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"SGD: Nesterov momentum needs momentum > 0 and dampening 0, got momentum "
                             f"{group['momentum']} and dampening {group['dampening']}")

    def update_group(self, params: list, grads: list, states: list[dict[str, Any]], group: dict[str, Any]) -> None:
        """The SGD kernel on the group's parameters, one call per list of one device and dtype."""
        for kind in one_kind(params):
            ss = [states[k] for k in kind]
            buffers = kernel("sgd", choose("sgd", params[kind[0]])).update(
                [params[k] for k in kind], [grads[k] for k in kind], [s.get("momentum_buffer") for s in ss],
                group["lr"], group["momentum"], group["dampening"], group["weight_decay"], group["nesterov"])
            for state, buffer in zip(ss, buffers):
                if buffer is not None:
                    state["momentum_buffer"] = buffer
