"""Linear (an affine map of the last dimension) and Embedding (a lookup table of vectors)."""

from __future__ import annotations

import math

from minigan.nn import functional as F
from minigan.nn import init
from minigan.nn.module import Module, Parameter
from minigan.tensor import Tensor, empty


def new_parameter(shape: tuple, device: str | None, dtype) -> Parameter:
    """An uninitialised Parameter of the given shape, on device (default cpu) in dtype (default dtype)."""
    return Parameter(empty(shape, dtype=dtype, device=device or "cpu"))


def reset_weight_and_bias(weight: Parameter, bias: Parameter | None) -> None:
    """PyTorch's default for Linear and convolutions: weight from kaiming_uniform_(a=sqrt(5)), i.e.
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), with fan_in
    computed from the weight's shape as in init."""
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = init._calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        init.uniform_(bias, -bound, bound)


class Linear(Module):
    """y = x W^T + b on the last dimension; weight (out_features, in_features)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, device: str | None = None,
                 dtype=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = new_parameter((out_features, in_features), device, dtype)
        if bias:
            self.bias = new_parameter((out_features,), device, dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        reset_weight_and_bias(self.weight, self.bias)

    def forward(self, input: Tensor) -> Tensor:
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    """Row i of weight (num_embeddings, embedding_dim) for each integer index i; weight drawn from N(0, 1)."""

    def __init__(self, num_embeddings: int, embedding_dim: int, *, device: str | None = None, dtype=None):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = new_parameter((num_embeddings, embedding_dim), device, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.normal_(self.weight)

    def forward(self, input: Tensor) -> Tensor:
        return F.embedding(input, self.weight)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"
