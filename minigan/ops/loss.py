"""Losses, each from logits or log-probabilities where that is the stable form."""

from __future__ import annotations

from minigan.autograd import Function
from minigan.dispatch import choose, kernel
from minigan.ops.reduce import log_softmax, mean, sum
from minigan.ops.shape import broadcast_to, flatten, getitem
from minigan.ops.unary import Softplus, abs, clamp, log, sigmoid
from minigan.tensor import Tensor, arange

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(loss: Tensor, reduction: str, op: str) -> Tensor:
    if reduction == "mean":
        return mean(loss)
    if reduction == "sum":
        return sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _same_shape(op: str, input: Tensor, target: Tensor) -> None:
    if input.shape != target.shape:
        raise ValueError(f"{op}: target of shape {target.shape} does not match input of shape {input.shape}")


def _softplus(x: Tensor) -> Tensor:
    """log(1 + exp(x)) without a linear cut-off: exact for logits of any size."""
    return Softplus(1.0, float("inf")).apply(x)


class BCEWithLogitsFunction(Function):
    """The binary cross-entropy of logits x against targets t, reduced as `reduction` says, in one kernel call
    (kernels/bce_with_logits); its gradient in one more. d/dt = -x (times gy, over n for the mean)."""

    saved_inputs = ((0, 1), (0,))

    def __init__(self, reduction: str):
        self.reduction = reduction

    def forward(self, x, t):
        self.variant = choose("bce_with_logits", x)
        return kernel("bce_with_logits", self.variant).forward(x, t, self.reduction)

    def backward(self, gy):
        x, t = self.inputs
        gx = BCEWithLogitsGrad(self.reduction, self.variant).apply(x, t, gy) if self.needs_input_grad[0] else None
        gt = -x * _spread(gy, x, self.reduction) if self.needs_input_grad[1] else None
        return gx, gt


class BCEWithLogitsGrad(Function):
    """gx = g ((1 - t) sigmoid(x) - t sigmoid(-x)) (= g (sigmoid(x) - t)) as a function of (x, t, gy), g = gy spread
    over x's shape (over n for the mean). Its own derivatives: d/dx = ggx g sigmoid'(x), d/dt = -ggx g, d/dgy = the
    reduction of ggx ((1 - t) sigmoid(x) - t sigmoid(-x))."""

    def __init__(self, reduction: str, variant: str):
        self.reduction, self.variant = reduction, variant

    def forward(self, x, t, gy):
        return kernel("bce_with_logits", self.variant).backward(x, t, gy, self.reduction)

    def backward(self, ggx):
        x, t, gy = self.inputs
        g = _spread(gy, x, self.reduction)
        s = sigmoid(x)
        g_x = ggx * g * s * (1 - s) if self.needs_input_grad[0] else None
        g_t = -ggx * g if self.needs_input_grad[1] else None
        g_gy = None
        if self.needs_input_grad[2]:
            g_gy = ggx * ((1 - t) * s - t * sigmoid(-x))
            if self.reduction != "none":
                g_gy = sum(g_gy) / (x.numel() if self.reduction == "mean" else 1)
        return g_x, g_t, g_gy


def _spread(gy: Tensor, x: Tensor, reduction: str) -> Tensor:
    """The gradient of the loss's elements: gy itself ('none'), or the 0-d gy broadcast to x's shape, over the
    number of elements for the mean."""
    if reduction == "none":
        return gy
    g = broadcast_to(gy, x.shape)
    return g / x.numel() if reduction == "mean" else g


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                     reduction: str = "mean", pos_weight: Tensor | None = None) -> Tensor:
    """-w [p t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))] with p = pos_weight, from logits x.

    Written as (1 - t) softplus(x) + p t softplus(-x), a sum of two non-negative terms: it neither overflows
    nor cancels, so a tiny loss (t = 0 and x << 0) keeps its relative precision, and so does its gradient. Without
    weights, on a float input and a target of its dtype, one kernel computes it (and one its gradient).
    """
    _same_shape("binary_cross_entropy_with_logits", input, target)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"binary_cross_entropy_with_logits: reduction must be one of {_REDUCTIONS}, got "
                         f"{reduction!r}")
    if weight is None and pos_weight is None and input.dtype.kind == "f" and target.dtype == input.dtype:
        return BCEWithLogitsFunction(reduction).apply(input, target)
    positive = target if pos_weight is None else pos_weight * target
    loss = (1 - target) * _softplus(input) + positive * _softplus(-input)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                         reduction: str = "mean") -> Tensor:
    """-w [t log p + (1 - t) log(1 - p)] for probabilities p; each log is clamped at -100 as in PyTorch."""
    _same_shape("binary_cross_entropy", input, target)
    lo, hi = float(input.data.min()), float(input.data.max())
    if lo < 0 or hi > 1:
        raise ValueError(f"binary_cross_entropy: input must hold probabilities in [0, 1], got [{lo}, {hi}]")
    loss = -(target * clamp(log(input), min=-100) + (1 - target) * clamp(log(1 - input), min=-100))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy")


def l1_loss(input: Tensor, target: Tensor, *, reduction: str = "mean") -> Tensor:
    """|input - target|, reduced."""
    _same_shape("l1_loss", input, target)
    return _reduce(abs(input - target), reduction, "l1_loss")


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    _same_shape("mse_loss", input, target)
    d = input - target
    return _reduce(d * d, reduction, "mse_loss")


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, reduction: str = "mean") -> Tensor:
    """-w[t] input[n, t] for log-probabilities input (N, C) or (N, C, d...) and class indices target."""
    if input.ndim < 2 or target.shape != input.shape[:1] + input.shape[2:]:
        raise ValueError(f"nll_loss: expected input (N, C, ...) and target (N, ...), got {input.shape} and "
                         f"{target.shape}")
    if target.dtype.kind not in "iu":
        raise TypeError(f"nll_loss: target must hold integer class indices, got dtype {target.dtype}")
    c = input.shape[1]
    if target.numel() and (int(target.data.min()) < 0 or int(target.data.max()) >= c):
        raise IndexError(f"nll_loss: target holds classes outside [0, {c})")
    if input.ndim > 2:
        input = flatten(input.permute(0, *range(2, input.ndim), 1), 0, -2)
    t = flatten(target)
    picked = getitem(input, (arange(t.shape[0], device=t.device), t))
    w = None if weight is None else getitem(weight, t)
    loss = -picked if w is None else -picked * w
    if reduction == "mean" and w is not None:
        return sum(loss) / sum(w)
    if reduction == "none":
        return loss.reshape(target.shape)
    return _reduce(loss, reduction, "nll_loss")


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, reduction: str = "mean") -> Tensor:
    """nll_loss of log_softmax over the class axis 1."""
    return nll_loss(log_softmax(input, 1), target, weight, reduction)
