"""MNIST and Fashion-MNIST from their IDX files (gzipped or not).

An IDX file is a 4-byte big-endian magic number (two zero bytes, a type code, the number of dimensions), one
big-endian uint32 per dimension, then the values in C order. MNIST's images have magic 2051 (unsigned bytes,
3 dimensions: count, 28, 28) and its labels magic 2049 (unsigned bytes, 1 dimension). Every file is checked
against its header before use, so a truncated download or a swapped file fails with a message naming the file.
"""

from __future__ import annotations

import gzip
import math
import os
import warnings
import zlib

import numpy

from minigan.data.dataset import Dataset, DatasetFormatError, images_from_uint8, pad_to

IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049
MAX_BYTES = 1 << 28  # the most values an IDX file may declare (256 MiB): MNIST's training images take 47 MB
PREFIXES = {"train": "train", "test": "t10k"}


def idx_file_names(split: str) -> tuple[str, str]:
    """The images and labels file names of a split, without the optional .gz."""
    prefix = PREFIXES[split]
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


def find_file(data_dir: str, name: str) -> str | None:
    """data_dir/name or data_dir/name.gz, whichever exists (the uncompressed file first), else None."""
    for candidate in (name, name + ".gz"):
        path = os.path.join(data_dir, candidate)
        if os.path.isfile(path):
            return path
    return None


def read_idx(path: str, magic: int) -> numpy.ndarray:
    """The uint8 array of the IDX file at path (gzipped or not, recognised by its first two bytes), checked
    against its header. The magic number fixes the type (unsigned bytes) and the number of dimensions: 3 for
    images, 1 for labels.

    The header is checked before the values are read: the size it declares (computed with Python integers, so
    no header can overflow it) must be at most MAX_BYTES, and a gzipped file is decompressed in a stream that
    stops one byte past that size, so a small file cannot unpack into gigabytes.
    """
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        try:
            if gzipped:
                with gzip.GzipFile(fileobj=raw) as f:
                    return _read_idx(f, path, magic, None)
            return _read_idx(raw, path, magic, os.fstat(raw.fileno()).st_size)
        except (OSError, EOFError, zlib.error) as e:
            if not gzipped:
                raise
            raise DatasetFormatError(f"{path}: not a valid gzip file, or a truncated one ({type(e).__name__}: "
                                     f"{e})") from e


def _read_idx(f, path: str, magic: int, file_size: int | None) -> numpy.ndarray:
    """Read an IDX file from the binary stream f (file_size: its size in bytes when known, else None)."""
    head = f.read(4)
    found = int.from_bytes(head, "big")
    if len(head) < 4:
        raise DatasetFormatError(f"{path}: {len(head)} bytes, too short for an IDX header")
    if found != magic:
        kind = {IMAGES_MAGIC: "an image", LABELS_MAGIC: "a label"}[magic]
        raise DatasetFormatError(f"{path}: wrong magic number {found} (0x{found:08x}); {kind} file of unsigned "
                                 f"bytes has {magic} (0x{magic:08x}). Is it the right file, and decompressed?")
    ndim = head[3]
    dims = f.read(4 * ndim)
    header = 4 + 4 * ndim
    if len(dims) < 4 * ndim:
        raise DatasetFormatError(f"{path}: truncated: the header names {ndim} dimensions but the file has "
                                 f"{4 + len(dims)} bytes")
    shape = tuple(int.from_bytes(dims[4 * i:4 * i + 4], "big") for i in range(ndim))
    declared = math.prod(shape)
    if declared > MAX_BYTES:
        raise DatasetFormatError(f"{path}: the header says shape {shape}, i.e. {declared} bytes of values, more "
                                 f"than the {MAX_BYTES} an IDX file may hold here")
    expected = header + declared
    if file_size is None:  # a stream: read one byte more than declared, to see whether the file is longer
        values = f.read(declared + 1)
        actual = header + len(values) if len(values) <= declared else None
    else:
        actual = file_size
        values = f.read(declared) if file_size == expected else b""
    if actual != expected:
        problem = "truncated" if actual is not None and actual < expected else "longer than its header says"
        size = "" if actual is None else f", but the file has {actual} bytes"
        raise DatasetFormatError(f"{path}: {problem}: the header says shape {shape}, i.e. {expected} bytes{size}")
    return numpy.frombuffer(values, dtype=numpy.uint8).reshape(shape)


def resolve_split(data_dir: str, split: str, name: str) -> str:
    """'train' or 'test': 'auto' means train when its images file is there, else test (with a warning)."""
    if split not in ("train", "test", "auto"):
        raise ValueError(f"{name}: split must be 'train', 'test' or 'auto', got {split!r}")
    if split != "auto":
        return split
    if find_file(data_dir, idx_file_names("train")[0]) is not None:
        return "train"
    if find_file(data_dir, idx_file_names("test")[0]) is not None:
        warnings.warn(f"{name}: no training split in {data_dir}; using the 10,000-image test split", stacklevel=4)
        return "test"
    return "train"  # neither: reading the training split then names the files that are missing


def load_idx_dataset(name: str, data_dir: str, split: str = "auto", size: int | None = None,
                     color: bool = False, n: int | None = None) -> Dataset:
    """MNIST or Fashion-MNIST from data_dir: images (N, C, size, size) in [-1, 1], labels 0..9.

    size None or 28 keeps 28x28, 32 pads with black to 32x32; color repeats the gray channel three times;
    n keeps the first n samples.
    """
    if size not in (None, 28, 32):
        raise ValueError(f"{name}: size must be 28 or 32, got {size!r}")
    split = resolve_split(data_dir, split, name)
    names = idx_file_names(split)
    paths = [find_file(data_dir, f) for f in names]
    if None in paths:
        missing = [f"{f} or {f}.gz" for f, p in zip(names, paths) if p is None]
        raise FileNotFoundError(f"{name}: the {split} split is incomplete in {data_dir}: looked for "
                                f"{' and '.join(missing)}")
    images = read_idx(paths[0], IMAGES_MAGIC)
    labels = read_idx(paths[1], LABELS_MAGIC)
    if len(images) != len(labels):
        raise DatasetFormatError(f"{name}: {paths[0]} holds {len(images)} images but {paths[1]} holds "
                                 f"{len(labels)} labels")
    if labels.size and labels.max() >= 10:
        raise DatasetFormatError(f"{name}: {paths[1]} holds label {int(labels.max())}; labels must be 0..9")
    if n is not None:
        images, labels = images[:n], labels[:n]
    x = images_from_uint8(images[:, None])
    if size is not None:
        x = pad_to(x, size)
    if color:
        x = numpy.repeat(x, 3, axis=1)
    return Dataset(name, x, labels.astype(numpy.int64), num_classes=10)
