"""Sample grids: a batch of images tiled into one picture, the way GAN samples are looked at."""

from __future__ import annotations

import math
import numbers
import os

import numpy as np

from minigan.tensor import Tensor
from minigan.viz.common import as_numpy, check_numeric, write_png


def image_grid(images: np.ndarray | Tensor, nrow: int | None = None, padding: int = 2,
               value_range: tuple[float, float] = (-1.0, 1.0), *, pad_value: int = 255) -> np.ndarray:
    """Tile a batch of images into one (height, width, 3) uint8 RGB picture.

    images: (N, C, H, W) with C = 1 (gray, repeated into the three channels) or 3 (RGB); a NumPy array or a
    Tensor on any device. Values are clipped to value_range = (low, high), which maps linearly onto 0..255
    (NaN shows as low, so a generator that diverges draws black rather than failing). Images are laid out row
    by row, nrow per row (default ceil(sqrt(N)), a near-square grid), with `padding` pixels of pad_value
    around and between them. The result has shape (rows * (H + padding) + padding,
    cols * (W + padding) + padding, 3) with cols = min(nrow, N) and rows = ceil(N / cols).
    """
    x = as_numpy(images)
    check_numeric(x, "image_grid", "images")
    if x.ndim != 4:
        raise ValueError(f"image_grid: expected images of shape (N, C, H, W), got a {x.ndim}-D array of shape "
                         f"{x.shape}")
    n, channels, height, width = x.shape
    if channels not in (1, 3):
        raise ValueError(f"image_grid: expected C = 1 (gray) or 3 (RGB) channels, got C = {channels} in shape "
                         f"{x.shape}")
    if n == 0 or height == 0 or width == 0:
        raise ValueError(f"image_grid: nothing to draw: images of shape {x.shape} are empty")
    nrow = math.ceil(math.sqrt(n)) if nrow is None else _check_int(nrow, "nrow", 1)
    padding = _check_int(padding, "padding", 0)
    pad_value = _check_int(pad_value, "pad_value", 0)
    if pad_value > 255:
        raise ValueError(f"image_grid: pad_value must be in 0..255, got {pad_value}")
    low, high = _check_range(value_range)

    pixels = to_uint8(x, low, high).transpose(0, 2, 3, 1)  # (N, H, W, C)
    pixels = np.broadcast_to(pixels, (n, height, width, 3))  # gray: one channel repeated three times
    cols = min(nrow, n)
    rows = math.ceil(n / cols)
    grid = np.full((rows * (height + padding) + padding, cols * (width + padding) + padding, 3), pad_value,
                   dtype=np.uint8)
    for k in range(n):
        row, col = divmod(k, cols)
        top, left = padding + row * (height + padding), padding + col * (width + padding)
        grid[top:top + height, left:left + width] = pixels[k]
    return grid


def save_grid(images: np.ndarray | Tensor, path: str | os.PathLike, nrow: int | None = None, padding: int = 2,
              value_range: tuple[float, float] = (-1.0, 1.0), scale: int = 1, *, pad_value: int = 255) -> None:
    """Write image_grid(images, ...) to path as a PNG, each pixel enlarged to a scale x scale block (small
    images such as 28x28 digits are easier to see at scale 2 or 3), replacing the file atomically."""
    scale = _check_int(scale, "scale", 1, where="save_grid")
    grid = image_grid(images, nrow=nrow, padding=padding, value_range=value_range, pad_value=pad_value)
    if scale > 1:
        grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    write_png(grid, path)


def to_uint8(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """x clipped to [low, high] and mapped linearly onto 0..255 (rounded to nearest); NaN maps to 0."""
    unit = (np.nan_to_num(x.astype(np.float64), nan=low, posinf=high, neginf=low) - low) / (high - low)
    return np.floor(np.clip(unit, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _check_int(value, name: str, minimum: int, where: str = "image_grid") -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{where}: {name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{where}: {name} must be at least {minimum}, got {value}")
    return int(value)


def _check_range(value_range) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise ValueError(f"image_grid: value_range must be a pair of numbers (low, high), got {value_range!r}") \
            from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"image_grid: value_range must be finite with low < high, got {value_range!r}")
    return low, high
