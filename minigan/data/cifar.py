"""CIFAR-10 from its "python version" batch files (data_batch_1..5, test_batch).

Each batch is a pickled dict: b'data' a (10000, 3072) uint8 array (per row: 1024 red, then 1024 green, then 1024
blue values, each a 32x32 image in row order), b'labels' a list of ints 0..9, plus a batch label and file names.

Unpickling can run any code a file names, so the batches are read with an unpickler that resolves only the
globals these files need (NumPy's array reconstruction, ndarray, dtype, and the codec call that Python 3 uses
for bytes in protocol-2 pickles) and refuses every other one before anything is called.
"""

from __future__ import annotations

import codecs
import os
import pickle
import warnings

import numpy

from minigan.data.dataset import Dataset, DatasetFormatError, images_from_uint8

try:
    from numpy._core.multiarray import _reconstruct
except ImportError:  # NumPy 1.x
    from numpy.core.multiarray import _reconstruct

SUBDIR = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILES = ("test_batch",)

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,  # the name NumPy 1.x (and the original files) use
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,  # the name NumPy 2.x uses
    ("numpy", "ndarray"): numpy.ndarray,
    ("numpy", "dtype"): numpy.dtype,
    ("_codecs", "encode"): codecs.encode,  # how Python 3 writes bytes in protocol-2 pickles
}


class UnsafePickleError(DatasetFormatError):
    """A pickle that asks for something a CIFAR-10 batch never needs; it is refused, not run."""


class _BatchUnpickler(pickle.Unpickler):
    """An unpickler that resolves only _ALLOWED_GLOBALS (plain containers and scalars need no global)."""

    def __init__(self, file, path: str):
        super().__init__(file, encoding="bytes")
        self.path = path

    def find_class(self, module: str, name: str):
        allowed = _ALLOWED_GLOBALS.get((module, name))
        if allowed is None:
            raise UnsafePickleError(
                f"{self.path}: refusing to unpickle: the file asks for {module}.{name}, which a CIFAR-10 batch "
                "never contains (only NumPy arrays, lists, dicts, bytes and numbers are allowed); it may not be "
                "a CIFAR-10 batch, or it may be malicious")
        return allowed

    def persistent_load(self, pid):
        raise UnsafePickleError(f"{self.path}: refusing to unpickle: the file uses persistent ids")


def read_batch(path: str) -> tuple[numpy.ndarray, numpy.ndarray]:
    """One batch file: images (N, 3, 32, 32) uint8 and labels (N,) int64, after checking their structure."""
    try:
        with open(path, "rb") as f:
            content = _BatchUnpickler(f, path).load()
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            MemoryError, OverflowError) as e:
        raise DatasetFormatError(f"{path}: not a readable CIFAR-10 batch ({type(e).__name__}: {e})") from e
    if not isinstance(content, dict):
        raise DatasetFormatError(f"{path}: a CIFAR-10 batch is a dict, this file holds a {type(content).__name__}")
    content = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in content.items()}
    if "data" not in content or "labels" not in content:
        raise DatasetFormatError(f"{path}: a CIFAR-10 batch has 'data' and 'labels' entries; this one has "
                                 f"{sorted(map(str, content))}")
    data = content["data"]
    if not isinstance(data, numpy.ndarray) or data.dtype != numpy.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        described = f"{data.dtype} array of shape {data.shape}" if isinstance(data, numpy.ndarray) else \
            type(data).__name__
        raise DatasetFormatError(f"{path}: 'data' must be a uint8 array of shape (N, 3072), got a {described}")
    labels = content["labels"]
    if not isinstance(labels, (list, numpy.ndarray)) or not all(isinstance(v, (int, numpy.integer)) for v in labels):
        raise DatasetFormatError(f"{path}: 'labels' must be a list of ints")
    labels = numpy.asarray(labels, dtype=numpy.int64).reshape(-1)
    if len(labels) != len(data):
        raise DatasetFormatError(f"{path}: {len(data)} images but {len(labels)} labels")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DatasetFormatError(f"{path}: labels must be 0..9, found {int(labels.min())}..{int(labels.max())}")
    return data.reshape(-1, 3, 32, 32), labels


def find_batches_dir(data_dir: str) -> str:
    """data_dir itself when it holds batch files, else data_dir/cifar-10-batches-py when that does."""
    for directory in (data_dir, os.path.join(data_dir, SUBDIR)):
        if any(os.path.isfile(os.path.join(directory, f)) for f in TRAIN_FILES + TEST_FILES):
            return directory
    return data_dir


def load_cifar10(data_dir: str, split: str = "auto", size: int | None = None, n: int | None = None) -> Dataset:
    """CIFAR-10 from data_dir (or data_dir/cifar-10-batches-py): images (N, 3, 32, 32) in [-1, 1], labels 0..9.

    split 'auto' reads the training batches when data_batch_1 is there, else the test batch with a warning;
    n keeps the first n samples.
    """
    if split not in ("train", "test", "auto"):
        raise ValueError(f"cifar10: split must be 'train', 'test' or 'auto', got {split!r}")
    if size not in (None, 32):
        raise ValueError(f"cifar10: images are 32x32; size must be 32 or None, got {size!r}")
    directory = find_batches_dir(data_dir)
    if split == "auto":
        split = "train"
        if not os.path.isfile(os.path.join(directory, TRAIN_FILES[0])) and \
                os.path.isfile(os.path.join(directory, TEST_FILES[0])):
            warnings.warn(f"cifar10: no training batches in {directory}; using the 10,000-image test batch",
                          stacklevel=3)
            split = "test"
    names = TRAIN_FILES if split == "train" else TEST_FILES
    missing = [f for f in names if not os.path.isfile(os.path.join(directory, f))]
    if missing:
        raise FileNotFoundError(f"cifar10: the {split} split is incomplete: looked for {', '.join(missing)} in "
                                f"{data_dir} and {os.path.join(data_dir, SUBDIR)}")
    images, labels = [], []
    for name in names:
        if n is not None and sum(len(b) for b in labels) >= n:
            break
        batch_images, batch_labels = read_batch(os.path.join(directory, name))
        images.append(batch_images)
        labels.append(batch_labels)
    x, y = numpy.concatenate(images), numpy.concatenate(labels)
    if n is not None:
        x, y = x[:n], y[:n]
    return Dataset("cifar10", images_from_uint8(x), y, num_classes=10)
