"""MNIST and Fashion-MNIST from their IDX files (gzipped or not).

An IDX file is a 4-byte big-endian magic number (two zero bytes, a type code, the number of dimensions), one
big-endian uint32 per dimension, then the values in C order. MNIST's images have magic 2051 (unsigned bytes,
3 dimensions: count, 28, 28) and its labels magic 2049 (unsigned bytes, 1 dimension). Every file is checked
against its header before use, so a truncated download or a swapped file fails with a message naming the file.
"""

from __future__ import annotations

import gzip
import os
import warnings
import zlib

import numpy

from minigan.data.dataset import Dataset, DatasetFormatError, images_from_uint8, pad_to

IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049
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


def read_bytes(path: str) -> bytes:
    """The content of a file, decompressed when it is gzipped (recognised by its first two bytes)."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise DatasetFormatError(f"{path}: not a valid gzip file, or a truncated one ({type(e).__name__}: {e})") \
            from e


def parse_idx(data: bytes, path: str, magic: int) -> numpy.ndarray:
    """The uint8 array an IDX file holds, after checking its magic number and that its size matches its header."""
    if len(data) < 4:
        raise DatasetFormatError(f"{path}: {len(data)} bytes, too short for an IDX header")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        kind = {IMAGES_MAGIC: "an image", LABELS_MAGIC: "a label"}[magic]
        raise DatasetFormatError(f"{path}: wrong magic number {found} (0x{found:08x}); {kind} file of unsigned "
                                 f"bytes has {magic} (0x{magic:08x}). Is it the right file, and decompressed?")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetFormatError(f"{path}: truncated: the header names {ndim} dimensions but the file has "
                                 f"{len(data)} bytes")
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(numpy.prod(shape, dtype=numpy.int64))
    if len(data) != expected:
        problem = "truncated" if len(data) < expected else "longer than its header says"
        raise DatasetFormatError(f"{path}: {problem}: the header says shape {shape}, i.e. {expected} bytes, but "
                                 f"the file has {len(data)} bytes")
    return numpy.frombuffer(data, dtype=numpy.uint8, offset=header).reshape(shape)


def read_idx(path: str, magic: int) -> numpy.ndarray:
    """The uint8 array of the IDX file at path (gzipped or not), checked against its header. The magic number
    fixes the type (unsigned bytes) and the number of dimensions: 3 for images, 1 for labels."""
    return parse_idx(read_bytes(path), path, magic)


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
