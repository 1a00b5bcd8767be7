"""Adam (Kingma and Ba, 2015), with L2 weight decay and the AMSGrad variant, as torch.optim.Adam."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from minigan import backend
from minigan.dispatch import choose, kernel
from minigan.optim.optimizer import Optimizer, one_kind
from minigan.tensor import Tensor


class Adam(Optimizer):
    """torch.optim.Adam: running averages m of g and v of g^2, and p -= lr * m_hat / (sqrt(v_hat) + eps).

    m_hat = m / (1 - beta1^t) and v_hat = v / (1 - beta2^t) undo the bias of averages started at zero.
    weight_decay adds weight_decay * p to the gradient (L2, not AdamW's decoupled decay); amsgrad divides by
    the largest v seen so far instead of v.
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0,
                 amsgrad: bool = False):
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                    "amsgrad": amsgrad}
        super().__init__(params, defaults)

    def check_hyperparameters(self, group: dict[str, Any]) -> None:
        super().check_hyperparameters(group)
        betas = group["betas"]
        if len(betas) != 2:
            raise ValueError(f"Adam: betas must be a pair (beta1, beta2), got {betas!r}")
        for k, beta in enumerate(betas):
            if not 0 <= beta < 1:
                raise ValueError(f"Adam: invalid beta{k + 1} {beta}: must be in [0, 1)")
        if not group["eps"] >= 0:
            raise ValueError(f"Adam: invalid eps {group['eps']}: must be >= 0")
        if not group["weight_decay"] >= 0:
            raise ValueError(f"Adam: invalid weight_decay {group['weight_decay']}: must be >= 0")

    def init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        xp = backend.get_array_module(p.data)
        state = {"step": 0, "exp_avg": xp.zeros(p.shape, p.dtype), "exp_avg_sq": xp.zeros(p.shape, p.dtype)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = xp.zeros(p.shape, p.dtype)
        return state

    def update_group(self, params: list, grads: list, states: list[dict[str, Any]], group: dict[str, Any]) -> None:
        """The Adam kernel on the group's parameters, one call per list of one device and dtype: one launch for all
        of them on the GPU, a Numba pass per parameter on the CPU."""
        beta1, beta2 = group["betas"]
        for state in states:
            state["step"] += 1
        for kind in one_kind(params):
            ps, gs, ss = [params[k] for k in kind], [grads[k] for k in kind], [states[k] for k in kind]
            kernel("adam", choose("adam", ps[0])).update(
                ps, gs, [s["exp_avg"] for s in ss], [s["exp_avg_sq"] for s in ss],
                [s["max_exp_avg_sq"] for s in ss] if group["amsgrad"] else None, [s["step"] for s in ss],
                group["lr"], beta1, beta2, group["eps"], group["weight_decay"])
