"""Flatten and Unflatten: reshape one range of dimensions into one, and one dimension into several."""

from __future__ import annotations

from minigan.nn.module import Module
from minigan.tensor import Tensor


class Flatten(Module):
    """Merge dimensions start_dim..end_dim into one: (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input: Tensor) -> Tensor:
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dimension dim into unflattened_size: Unflatten(1, (C, H, W)) maps (N, C*H*W) to (N, C, H, W)."""

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        if not isinstance(unflattened_size, (tuple, list)) or not all(isinstance(s, int)
                                                                       for s in unflattened_size):
            raise TypeError(f"unflattened_size must be a tuple or list of ints, got {unflattened_size!r}")
        self.dim, self.unflattened_size = dim, unflattened_size

    def forward(self, input: Tensor) -> Tensor:
        if not -input.ndim <= self.dim < input.ndim:
            raise IndexError(f"dimension {self.dim} is out of range for an input of shape {input.shape}")
        dim = self.dim % input.ndim
        return input.reshape(input.shape[:dim] + tuple(self.unflattened_size) + input.shape[dim + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
