"""minigan's files: written atomically (after a crash or an error the path holds the old file or the new one,
never a mix), JSON records any reader takes, and the cache folder."""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import secrets
from collections.abc import Callable
from typing import BinaryIO

import numpy


def cache_dir() -> str:
    """Where minigan caches what it makes once (rendered data sets, trained scoring classifiers): $MINIGAN_CACHE,
    else ~/.cache/minigan."""
    return os.environ.get("MINIGAN_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "minigan")


def write_atomically(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> None:
    """Run write(f) on a temporary file beside path, flush and fsync it, rename it over path, then sync the folder.

    On any error the previous file is left intact and the temporary file removed (a process killed mid-write can
    leave only its `.<name>.<pid>.<random>.tmp` beside the target).
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot write {path!r}: the folder {directory!r} does not exist")
    tmp = os.path.join(directory, _temporary_name(os.path.basename(path)))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


_NAME_MAX = 255  # bytes in one file name on the common file systems
_TEMPORARY = re.compile(r"^\..*\.\d+\.[0-9a-f]{8}\.tmp$", re.DOTALL)


def _temporary_name(name: str) -> str:
    """`.<name>.<pid>.<random>.tmp`, with name shortened (on a character boundary) so that the whole stays within
    the file-name limit when the target's own name is near it."""
    suffix = f".{os.getpid()}.{secrets.token_hex(4)}.tmp"
    room = _NAME_MAX - 1 - len(suffix.encode())
    while len(os.fsencode(name)) > room:
        name = name[:-1]
    return f".{name}{suffix}"


def remove_stale_temporaries(folder: str | os.PathLike) -> int:
    """Delete the temporary files that write_atomically leaves behind when its process is killed mid-write, in
    folder (not below it); the number removed. Only call it while no other process writes there (a run folder's
    lock guarantees that)."""
    removed = 0
    with os.scandir(folder) as entries:
        for entry in entries:
            if _TEMPORARY.match(entry.name) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed += 1
    return removed


def _fsync_directory(directory: str) -> None:
    """Make the rename durable where the system allows syncing a folder (POSIX; not Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write text (UTF-8) to path atomically."""
    write_atomically(path, lambda f: f.write(text.encode("utf-8")))


def write_json(path: str | os.PathLike, value) -> None:
    """Write value as indented JSON, atomically. NaN and infinities become null (JSON has no such numbers) and
    NumPy scalars plain numbers, so that any JSON reader takes the file."""
    write_text(path, json.dumps(_jsonable(value), indent=2, allow_nan=False) + "\n")


def _jsonable(value):
    if isinstance(value, dict):
        return {key: _jsonable(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, numpy.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
