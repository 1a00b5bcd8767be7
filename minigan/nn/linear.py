"""Linear (an affine map of the last dimension) and Embedding (a lookup table of vectors)."""

from __future__ import annotations

from minigan.nn import functional as F
from minigan.nn import init
from minigan.nn.init import reset_weight_and_bias
from minigan.nn.module import Module, new_parameter
from minigan.tensor import Tensor


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
