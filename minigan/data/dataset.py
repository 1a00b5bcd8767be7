"""Dataset: the arrays of one data set in memory, in the layout the models expect."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy


class DatasetFormatError(ValueError):
    """A data file that exists but cannot be read: wrong format, truncated, corrupt, or inconsistent."""


@dataclass(eq=False)  # arrays make == ambiguous: datasets compare by identity
class Dataset:
    """A whole data set as arrays.

    `x` is float32: images as (N, C, H, W) scaled to [-1, 1] (the range of a tanh generator), points as (N, 2)
    exactly as drawn. `y` holds int64 class labels (N,), or is None for unlabelled data; `num_classes` is 0 then.
    Gaussian mixtures also carry their mode centres `modes` (K, 2) and per-mode standard deviation `sigma`, which
    mode-coverage metrics need.
    """

    name: str
    x: numpy.ndarray = field(repr=False)
    y: numpy.ndarray | None = field(repr=False)
    num_classes: int
    modes: numpy.ndarray | None = field(default=None, repr=False)
    sigma: float | None = None

    @property
    def sample_shape(self) -> tuple:
        """The shape of one sample: (C, H, W) for images, (2,) for points."""
        return tuple(self.x.shape[1:])

    def __len__(self) -> int:
        return int(self.x.shape[0])


def images_from_uint8(pixels: numpy.ndarray) -> numpy.ndarray:
    """uint8 images (0..255) as float32 in [-1, 1]: 0 -> -1 and 255 -> 1."""
    out = pixels.astype(numpy.float32)
    out /= numpy.float32(127.5)  # exact at both ends: 255 / 127.5 is 2 in float32
    out -= numpy.float32(1)
    return out


def pad_to(images: numpy.ndarray, size: int) -> numpy.ndarray:
    """(N, C, h, w) images centred on a size x size canvas of -1 (black), as when MNIST is padded to 32x32."""
    n, c, h, w = images.shape
    if size == h and size == w:
        return images
    if size < h or size < w:
        raise ValueError(f"cannot pad {h}x{w} images to {size}x{size}: the target is smaller")
    top, left = (size - h) // 2, (size - w) // 2
    out = numpy.full((n, c, size, size), -1.0, dtype=images.dtype)
    out[:, :, top:top + h, left:left + w] = images
    return out


def synthetic_rng(seed: int, split: str) -> numpy.random.Generator:
    """The generator a synthetic data set is drawn from: seeded by seed for the 'train' split, and by (seed, 1)
    for 'test', so that a test set is independent of the training set drawn with the same seed."""
    if split == "test":
        return numpy.random.default_rng([seed, 1])
    return numpy.random.default_rng(seed)


def resized(dataset: Dataset, size: int) -> Dataset:
    """The dataset with its images resampled (bilinear) to size x size."""
    from scipy.ndimage import zoom

    h, w = dataset.x.shape[2:]
    x = zoom(dataset.x, (1, 1, size / h, size / w), order=1, grid_mode=True, mode="nearest").astype(numpy.float32)
    return dataclasses.replace(dataset, x=numpy.clip(x, -1, 1))
