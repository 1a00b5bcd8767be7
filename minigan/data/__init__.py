"""Data sets and batching: 2D Gaussian mixtures, rendered digits, MNIST, Fashion-MNIST and CIFAR-10.

    ds = minigan.data.load("digits")                       # generated, no download: (20000, 1, 28, 28)
    ds = minigan.data.load("mnist", "data/mnist", size=32)  # IDX files from a folder, padded to 32x32
    for x, y in minigan.data.Loader(ds, 64, seed=0): ...    # one epoch of minigan Tensors

ring8, grid25 and digits are generated from `seed` (and need no files); mnist, fashion-mnist and cifar10 are
read from `data_dir`, which minigan.data.download(name, data_dir) fills where there is a network.
"""

from __future__ import annotations

import os

from minigan.data.cifar import UnsafePickleError, load_cifar10
from minigan.data.dataset import Dataset, DatasetFormatError, resized, synthetic_rng
from minigan.data.digits import load_digits
from minigan.data.downloads import ChecksumError, DownloadError, download
from minigan.data.idx import load_idx_dataset
from minigan.data.loader import Loader
from minigan.data.mixtures import MIXTURES, sample_mixture

DATASETS = ("ring8", "grid25", "digits", "mnist", "fashion-mnist", "cifar10")
_DEFAULT_N = {"ring8": 100000, "grid25": 100000, "digits": 20000}


def load(name: str, data_dir: str | os.PathLike | None = None, *, split: str = "auto", size: int | None = None,
         color: bool = False, n: int | None = None, seed: int = 0) -> Dataset:
    """Load a data set by name (one of DATASETS).

    split: 'train', 'test' or 'auto'. For files, 'auto' reads the training split when it is there and else the
    test split, with a warning. For generated data, 'test' draws from a stream independent of 'train'.
    size: image side, 28 (default) or 32 for digits and (Fashion-)MNIST, where 32 pads like DCGAN's 32x32 MNIST;
    CIFAR-10 is 32x32; 64 enlarges the 32x32 images (bilinear) for the 64x64 DCGAN. color: three channels (digits: coloured strokes on a dark background; MNIST: the gray
    channel repeated; CIFAR-10 is always colour). n: how many samples to generate (defaults: 100000 points,
    20000 digits), or the first n of a file data set (all when None). seed: fixes generated data; files ignore it.
    Raises ValueError for an unknown name or option, FileNotFoundError when files are missing, and
    DatasetFormatError (a ValueError) when a file is corrupt.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; the data sets are {', '.join(DATASETS)}")
    if split not in ("auto", "train", "test"):
        raise ValueError(f"{name}: split must be 'train', 'test' or 'auto', got {split!r}")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"{name}: n must be a positive int or None, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"{name}: seed must be a non-negative int, got {seed!r}")

    if name in MIXTURES:
        if size is not None or color:
            raise ValueError(f"{name} is a set of 2D points: size and color do not apply")
        return sample_mixture(name, n or _DEFAULT_N[name], synthetic_rng(seed, split))
    if size == 64:  # the 64x64 DCGAN's size: the 32x32 images, enlarged
        return resized(load(name, data_dir, split=split, size=32, color=color, n=n, seed=seed), 64)
    if name == "digits":
        return load_digits(n or _DEFAULT_N[name], 28 if size is None else size, color, seed,
                           "test" if split == "test" else "train")

    if data_dir is None:
        raise FileNotFoundError(f"{name}: no data_dir given; pass the folder that holds its files "
                                f"(minigan.data.download({name!r}, folder) fetches them where there is a network)")
    data_dir = os.fspath(data_dir)
    if not os.path.isdir(data_dir):
        raise FileNotFoundError(f"{name}: data_dir {data_dir!r} does not exist or is not a folder")
    if name == "cifar10":
        return load_cifar10(data_dir, split, size, n)
    return load_idx_dataset(name, data_dir, split, size, color, n)


__all__ = [
    "DATASETS", "ChecksumError", "Dataset", "DatasetFormatError", "DownloadError", "Loader", "UnsafePickleError",
    "download", "load",
]
