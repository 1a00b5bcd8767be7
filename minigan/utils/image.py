"""make_grid and save_image with torchvision.utils's signatures and results."""

from __future__ import annotations

import math
import os
from typing import BinaryIO

import numpy

from minigan import backend
from minigan.tensor import Tensor


def make_grid(tensor: Tensor | list[Tensor], nrow: int = 8, padding: int = 2, normalize: bool = False,
              value_range: tuple[float, float] | None = None, scale_each: bool = False,
              pad_value: float = 0.0) -> Tensor:
    """Tile a batch of images (B, C, H, W), or a list of (C, H, W) images, into one (C, H', W') image.

    As torchvision's make_grid: one-channel images become three-channel ones (a single (H, W) or (1, H, W)
    image too); images go row by row, nrow per row, with `padding` pixels of pad_value around and between them;
    a batch of one image is returned as it is, without padding. With normalize, values are clamped to
    value_range = (low, high) and mapped onto [0, 1], or, without a range, the minimum and maximum are mapped
    onto 0 and 1: of the whole batch, or of each image with scale_each. The result is a new Tensor, on the
    input's device, outside the autograd graph.
    """
    if isinstance(tensor, (list, tuple)):
        x = backend.get_array_module(tensor[0].data).stack([t.data for t in tensor])
    elif isinstance(tensor, Tensor):
        x = tensor.data
    else:
        raise TypeError(f"make_grid: expected a Tensor or a list of Tensors, got {type(tensor).__name__}")
    xp = backend.get_array_module(x)
    if x.ndim == 2:
        x = x[None]
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4:
        raise ValueError(f"make_grid: expected images (B, C, H, W), (C, H, W) or (H, W), got shape {x.shape}")
    if x.shape[1] == 1:
        x = xp.concatenate([x, x, x], axis=1)
    if normalize:
        x = x.astype(xp.result_type(x.dtype, xp.float32))
        if scale_each:
            x = xp.stack([_normalized(image, value_range, xp) for image in x])
        else:
            x = _normalized(x, value_range, xp)
    if x.shape[0] == 1:
        return Tensor(x[0].copy())

    n, channels, height, width = x.shape
    cols = min(nrow, n)
    rows = math.ceil(n / cols)
    grid = xp.full((channels, rows * (height + padding) + padding, cols * (width + padding) + padding), pad_value,
                   dtype=x.dtype)
    for k in range(n):
        row, col = divmod(k, cols)
        top, left = padding + row * (height + padding), padding + col * (width + padding)
        grid[:, top:top + height, left:left + width] = x[k]
    return Tensor(grid)


def _normalized(x, value_range: tuple[float, float] | None, xp):
    """x clamped to value_range (or its own min..max) and mapped onto [0, 1]."""
    low, high = (float(x.min()), float(x.max())) if value_range is None else value_range
    return (xp.clip(x, low, high) - low) / max(high - low, 1e-5)


def save_image(tensor: Tensor | list[Tensor], fp: str | os.PathLike | BinaryIO, nrow: int = 8, padding: int = 2,
               normalize: bool = False, value_range: tuple[float, float] | None = None, scale_each: bool = False,
               pad_value: float = 0.0, format: str | None = None) -> None:
    """Write make_grid(tensor, ...) as an 8-bit RGB PNG, each value v stored as 255 v + 0.5 clamped to 0..255 and
    truncated, in the grid's dtype, as torchvision does (NaN as 0).

    fp is a path, whose file is replaced atomically, or a binary file object. Only PNG is written: format
    must be None or "png". The grid must have three channels (as one- and three-channel images give).
    """
    from minigan.viz.common import encode_png, write_png  # minigan.viz loads matplotlib: only when saving

    if format is not None and format.lower() != "png":
        raise ValueError(f"save_image: only PNG is written, got format={format!r}")
    grid = make_grid(tensor, nrow=nrow, padding=padding, normalize=normalize, value_range=value_range,
                     scale_each=scale_each, pad_value=pad_value).numpy()
    if grid.shape[0] != 3:
        raise ValueError(f"save_image: expected images with 1 or 3 channels, got a grid of shape {grid.shape}")
    rgb = numpy.clip(numpy.nan_to_num(grid) * 255 + 0.5, 0, 255).astype(numpy.uint8).transpose(1, 2, 0)
    if isinstance(fp, (str, os.PathLike)):
        write_png(rgb, fp)
    else:
        fp.write(encode_png(rgb))


__all__ = ["make_grid", "save_image"]
