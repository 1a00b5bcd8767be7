"""Dropout: zero activations at random in training, as a regulariser; the identity in evaluation."""

from __future__ import annotations

from minigan.nn import functional as F
from minigan.nn.module import Module
from minigan.tensor import Tensor


class Dropout(Module):
    """In training, zero each element with probability p and scale the others by 1 / (1 - p), so that the
    expected output equals the input; in evaluation, return the input."""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
