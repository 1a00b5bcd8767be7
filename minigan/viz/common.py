"""What the picture modules share: inputs brought to the CPU, figures drawn without pyplot, and PNG files
written atomically.

Figures are matplotlib Figure objects with their own Agg canvas, never pyplot figures: drawing one neither
selects nor changes the user's backend, and nothing keeps it alive once the function that drew it returns,
so thousands of calls in a training run do not accumulate open figures.

A picture goes to a temporary file beside its target, is fsynced and renamed over the target with
os.replace (minigan.files): a viewer that reloads samples/latest.png while training
runs sees the old picture or the new one, never half of one, and an error leaves the old file as it was.
"""

from __future__ import annotations

import io
import os
import struct
import zlib

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from minigan import backend
from minigan.files import write_atomically
from minigan.tensor import Tensor

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def as_numpy(x) -> np.ndarray:
    """x (a Tensor on any device, a NumPy or CuPy array, or nested lists) as a NumPy array on the CPU."""
    if isinstance(x, Tensor):
        return x.numpy()
    return backend.to_device(x, "cpu")


def check_numeric(array: np.ndarray, where: str, name: str) -> None:
    """Raise a TypeError naming `where` and `name` unless the array holds numbers (bool, int or float)."""
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{where}: {name} must hold numbers, got an array of dtype {array.dtype}")


def new_figure(width: float, height: float) -> Figure:
    """A figure of the given size in inches, with its own Agg canvas and constrained layout."""
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def write_figure(figure: Figure, path: str | os.PathLike, dpi: int = 100) -> None:
    """Render the figure as a PNG and write it atomically to path; the figure is emptied afterwards."""
    try:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=dpi)
        write_atomically(path, lambda f: f.write(buffer.getvalue()))
    finally:
        figure.clear()  # drops the artists and their arrays now rather than at the next garbage collection


def write_png(rgb: np.ndarray, path: str | os.PathLike) -> None:
    """Write an (H, W, 3) uint8 RGB array to path as a PNG, atomically."""
    write_atomically(path, lambda f: f.write(encode_png(rgb)))


def encode_png(rgb: np.ndarray) -> bytes:
    """The bytes of an 8-bit RGB PNG holding an (H, W, 3) uint8 array.

    Each row is stored unfiltered (filter byte 0) and all rows are deflated into one IDAT chunk: the
    smallest valid encoder, and sample grids are small.
    """
    height, width, _ = rgb.shape
    rows = np.zeros((height, 1 + 3 * width), dtype=np.uint8)
    rows[:, 1:] = rgb.reshape(height, 3 * width)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8 bits, colour type 2 (RGB), no interlace
    return (PNG_SIGNATURE + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
            + _png_chunk(b"IEND", b""))


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    """A PNG chunk: length, type, data, and the CRC-32 of type and data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


