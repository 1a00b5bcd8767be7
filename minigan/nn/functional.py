"""minigan.nn.functional: the differentiable functions, with torch.nn.functional's names and signatures."""

from __future__ import annotations

from minigan import random
from minigan.ops import (
    batch_norm,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    conv2d,
    conv_transpose2d,
    cross_entropy,
    getitem,
    l1_loss,
    leaky_relu,
    log_softmax,
    matmul,
    mse_loss,
    nll_loss,
    relu,
    sigmoid,
    softmax,
    softplus,
    tanh,
)
from minigan.tensor import Tensor

__all__ = [
    "batch_norm",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "conv2d",
    "conv_transpose2d",
    "cross_entropy",
    "dropout",
    "embedding",
    "l1_loss",
    "leaky_relu",
    "linear",
    "log_softmax",
    "mse_loss",
    "nll_loss",
    "relu",
    "sigmoid",
    "softmax",
    "softplus",
    "tanh",
]


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x W^T + b, weight (out_features, in_features)."""
    if weight.ndim != 2 or input.ndim == 0 or input.shape[-1] != weight.shape[1]:
        raise RuntimeError(f"linear: weight of shape {weight.shape} expects inputs with last dimension "
                           f"{weight.shape[-1]}, got input of shape {input.shape}")
    if bias is not None and bias.shape != weight.shape[:1]:
        raise RuntimeError(f"linear: expected bias of shape ({weight.shape[0]},), got {bias.shape}")
    for t, name in ((weight, "weight"), (bias, "bias")):
        if t is not None and t.dtype != input.dtype:
            raise RuntimeError(f"linear: input has dtype {input.dtype} but {name} has dtype {t.dtype}")
    y = matmul(input, weight.T)
    return y if bias is None else y + bias


def dropout(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p), in training only."""
    if not 0 <= p <= 1:
        raise ValueError(f"dropout: probability must be in [0, 1], got {p}")
    if not training or p == 0:
        return input
    if p == 1:
        return input * 0
    keep = random.uniform(input.shape, input.dtype, input.device) >= p
    return input * Tensor((keep / (1 - p)).astype(input.dtype))


def embedding(input: Tensor, weight: Tensor) -> Tensor:
    """Rows of weight (num_embeddings, dim) picked by the integer indices in input."""
    if weight.ndim != 2:
        raise RuntimeError(f"embedding: 'weight' must be 2-D, got shape {weight.shape}")
    if input.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got dtype {input.dtype}")
    if input.numel() and (int(input.data.min()) < 0 or int(input.data.max()) >= weight.shape[0]):
        raise IndexError(f"embedding: indices must lie in [0, {weight.shape[0]}), got "
                         f"[{int(input.data.min())}, {int(input.data.max())}]")
    return getitem(weight, input)
