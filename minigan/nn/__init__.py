"""Neural-network layers with PyTorch semantics."""

from minigan.nn import functional

__all__ = ["functional"]
