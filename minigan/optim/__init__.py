"""Optimizers with PyTorch semantics."""
