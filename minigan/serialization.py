"""Checkpoints: save and load nested structures of tensors, arrays and Python scalars, without pickle.

A checkpoint is a NumPy .npz archive (a zip of .npy files). Every array, and the array of every Tensor, is
one entry ("array_0", "array_1", ...). One more entry, "minigan_manifest", holds UTF-8 JSON (stored as a
uint8 array) with a format tag, a version and a description of the structure: each node's type (dict,
list, tuple, tensor, ndarray, numpy scalar, int, float, bool, str, None), the entry that holds an array with
its dtype and shape, whether a tensor requires grad, and dict keys (str, int, float, bool or None) with their
types, so int-keyed dicts such as optimizer state dicts come back as they were.

Why not pickle: unpickling runs whatever code the file names, so opening a checkpoint from elsewhere would
mean trusting it like a program. Here loading only parses JSON and reads .npy entries with
allow_pickle=False: a file can at worst fail to load. The format is plain enough to read without minigan
(numpy.load and json.loads).

Writes are atomic: the archive goes to a temporary file in the target's directory, is flushed and fsynced,
then renamed over the target with os.replace, so a crash or an error leaves either the old file or the new
one, never a partial one.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
import zlib
from typing import Any

import numpy
from numpy.lib import format as npy_format

from minigan import backend
from minigan.files import write_atomically
from minigan.tensor import Tensor

FORMAT = "minigan-checkpoint"
VERSION = 1
MANIFEST = "minigan_manifest"
_ARRAY_KINDS = "biufcSUmM"  # dtypes that .npy stores without pickle; object ('O') and void ('V') are refused


class CheckpointError(ValueError):
    """A file that cannot be loaded as a minigan checkpoint (missing, not an npz, corrupt, unknown version)."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """The checkpoint file does not exist."""


# ---- save ----
def save(obj: Any, path: str | os.PathLike) -> None:
    """Write obj (dicts, lists, tuples, Tensors, NumPy/CuPy arrays, Python scalars) to path as an .npz checkpoint.

    The file is replaced atomically: on any error the previous file at path is left as it was and the
    temporary file is removed (a process killed mid-write can only leave its `.<name>.<pid>.<random>.tmp`
    file beside an intact target). Tensors and CuPy arrays are copied to the CPU.
    """
    arrays: dict[str, numpy.ndarray] = {}
    root = _encode(obj, arrays, "obj", set())
    manifest = {"format": FORMAT, "version": VERSION, "root": root}
    text = json.dumps(manifest, allow_nan=False, separators=(",", ":"))
    arrays[MANIFEST] = numpy.frombuffer(text.encode("utf-8"), dtype=numpy.uint8)
    write_atomically(path, lambda f: _write_archive(f, arrays))


def _encode(obj: Any, arrays: dict, where: str, active: set) -> dict:
    """The manifest node of obj; arrays found on the way are added to `arrays` under fresh entry names."""
    if obj is None:
        return {"type": "none"}
    if isinstance(obj, numpy.generic):  # before float: numpy.float64 is a float subclass
        return _encode_array(numpy.asarray(obj), arrays, where, "scalar")
    if isinstance(obj, bool):
        return {"type": "bool", "value": obj}
    if isinstance(obj, int):
        return {"type": "int", "value": int(obj)}
    if isinstance(obj, float):
        return {"type": "float", "value": _float_to_json(float(obj))}
    if isinstance(obj, str):
        return {"type": "str", "value": str(obj)}
    if isinstance(obj, Tensor):
        node = _encode_array(obj.data, arrays, where, "tensor")
        node["requires_grad"] = bool(obj.requires_grad)
        return node
    if isinstance(obj, numpy.ndarray) or backend.device_of(obj) == "cuda":
        return _encode_array(obj, arrays, where, "ndarray")
    if isinstance(obj, (dict, list, tuple)):
        if id(obj) in active:
            raise ValueError(f"save: {where} contains itself (a reference cycle), which a checkpoint cannot hold")
        active.add(id(obj))
        try:
            if isinstance(obj, dict):
                return {"type": "dict", "items": [
                    [_encode_key(key, where), _encode(value, arrays, f"{where}[{key!r}]", active)]
                    for key, value in obj.items()
                ]}
            items = [_encode(value, arrays, f"{where}[{k}]", active) for k, value in enumerate(obj)]
            return {"type": "tuple" if isinstance(obj, tuple) else "list", "items": items}
        finally:
            active.discard(id(obj))
    raise TypeError(f"save: {where} is a {type(obj).__module__}.{type(obj).__qualname__}, which a checkpoint "
                    "cannot hold (supported: dict, list, tuple, Tensor, NumPy/CuPy array, int, float, bool, "
                    "str, None)")


def _encode_key(key: Any, where: str) -> dict:
    if key is not None and type(key) not in (bool, int, float, str):
        raise TypeError(f"save: {where} has a key of type {type(key).__name__} ({key!r}); "
                        "dict keys must be str, int, float, bool or None")
    return _encode(key, {}, where, set())


def _encode_array(array, arrays: dict, where: str, kind: str) -> dict:
    array = backend.to_device(array, "cpu")
    if array.dtype.kind not in _ARRAY_KINDS:
        raise TypeError(f"save: {where} is an array of dtype {array.dtype}, which .npy stores only with pickle; "
                        "checkpoints hold numeric, boolean, string and datetime arrays")
    name = f"array_{len(arrays)}"
    arrays[name] = array
    return {"type": kind, "entry": name, "dtype": array.dtype.str, "shape": list(array.shape)}


def _float_to_json(x: float):
    """Finite floats as JSON numbers (repr round-trips exactly); inf and nan as strings."""
    return x if math.isfinite(x) else repr(x)


def _write_archive(file, arrays: dict[str, numpy.ndarray]) -> None:
    """Write the arrays into an open binary file as an .npz archive."""
    numpy.savez(file, **arrays)


# ---- load ----
def load(path: str | os.PathLike, device: str = "cpu") -> Any:
    """Read a checkpoint written by save: the same structure, with the same types.

    Tensors come back as Tensors and arrays as arrays on `device` ('cpu': NumPy, 'cuda': CuPy). Raises
    CheckpointError (a ValueError) naming the path and the problem when the file is missing, is not an .npz
    archive, is truncated or corrupt, was not written by minigan, has an unknown format version or holds
    pickled objects; nothing in the file is ever unpickled.
    """
    path = os.fspath(path)
    device = backend.check_device(device)
    if not os.path.exists(path):
        raise CheckpointNotFoundError(f"cannot load checkpoint {path!r}: no such file")
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise CheckpointError(f"cannot load checkpoint {path!r}: {e}") from e
    if magic != b"PK\x03\x04":
        raise CheckpointError(f"cannot load checkpoint {path!r}: not a minigan checkpoint (not an .npz archive)")
    try:
        with numpy.load(path, allow_pickle=False) as npz:
            if MANIFEST not in npz.files:
                raise CheckpointError(f"cannot load checkpoint {path!r}: not a minigan checkpoint (an .npz "
                                      f"archive without the {MANIFEST!r} entry)")
            manifest = _read_manifest(npz, path)
            return _Decoder(npz, path, device).decode(manifest["root"])
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, ValueError, OSError, EOFError,
            NotImplementedError) as e:
        raise CheckpointError(f"cannot load checkpoint {path!r}: the file is truncated or corrupt "
                              f"({type(e).__name__}: {e})") from e


def _read_manifest(npz, path: str) -> dict:
    raw = _read_entry(npz, MANIFEST, path)
    if raw.dtype != numpy.uint8 or raw.ndim != 1:
        raise CheckpointError(f"cannot load checkpoint {path!r}: the manifest is not a byte array")
    try:
        manifest = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"cannot load checkpoint {path!r}: the manifest is not valid JSON ({e})") from e
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CheckpointError(f"cannot load checkpoint {path!r}: not a minigan checkpoint (the manifest has no "
                              f"{FORMAT!r} format tag)")
    version = manifest.get("version")
    if version != VERSION:
        raise CheckpointError(f"cannot load checkpoint {path!r}: unknown checkpoint format version {version!r} "
                              f"(this minigan reads version {VERSION})")
    if "root" not in manifest:
        raise CheckpointError(f"cannot load checkpoint {path!r}: the manifest describes no content")
    return manifest


def _read_entry(npz, name: str, path: str) -> numpy.ndarray:
    """One array of the archive, refusing pickled (object) arrays before numpy reads them."""
    if name not in npz.files:
        raise CheckpointError(f"cannot load checkpoint {path!r}: the manifest names entry {name!r}, which the "
                              "archive lacks")
    dtype = _entry_dtype(npz, name, path)
    if dtype is not None and dtype.hasobject:
        raise CheckpointError(f"cannot load checkpoint {path!r}: entry {name!r} holds pickled Python objects "
                              f"(dtype {dtype}); minigan checkpoints never contain pickle and it is not loaded")
    array = npz[name]
    if not isinstance(array, numpy.ndarray):
        raise CheckpointError(f"cannot load checkpoint {path!r}: entry {name!r} is not an .npy array")
    return array


def _entry_dtype(npz, name: str, path: str) -> numpy.dtype | None:
    """The dtype in an entry's .npy header, read without reading the data (None for a header version that
    only numpy.load knows; it still refuses object arrays there)."""
    members = npz.zip.namelist()
    member = name + ".npy" if name + ".npy" in members else name
    readers = {(1, 0): npy_format.read_array_header_1_0, (2, 0): npy_format.read_array_header_2_0}
    with npz.zip.open(member) as f:
        if f.read(len(npy_format.MAGIC_PREFIX)) != npy_format.MAGIC_PREFIX:
            raise CheckpointError(f"cannot load checkpoint {path!r}: entry {name!r} is not an .npy array")
        version = tuple(f.read(2))
        if version not in readers:
            return None
        return readers[version](f)[2]


class _Decoder:
    """Rebuilds the saved structure from manifest nodes and archive entries."""

    def __init__(self, npz, path: str, device: str):
        self.npz, self.path, self.device = npz, path, device

    def fail(self, message: str) -> CheckpointError:
        return CheckpointError(f"cannot load checkpoint {self.path!r}: corrupt manifest: {message}")

    def decode(self, node: Any) -> Any:
        if not isinstance(node, dict) or "type" not in node:
            raise self.fail(f"expected a node, got {node!r:.80}")
        kind = node["type"]
        if kind == "none":
            return None
        if kind in ("bool", "int", "str"):
            value = node.get("value")
            if type(value) is not {"bool": bool, "int": int, "str": str}[kind]:
                raise self.fail(f"a {kind} node holds {value!r:.80}")
            return value
        if kind == "float":
            value = node.get("value")
            if isinstance(value, str) and value in ("inf", "-inf", "nan"):
                return float(value)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise self.fail(f"a float node holds {value!r:.80}")
            return float(value)
        if kind in ("list", "tuple"):
            items = [self.decode(item) for item in self._items(node)]
            return tuple(items) if kind == "tuple" else items
        if kind == "dict":
            out = {}
            for pair in self._items(node):
                if not isinstance(pair, list) or len(pair) != 2:
                    raise self.fail(f"a dict item is {pair!r:.80}, expected [key, value]")
                key = self.decode(pair[0])
                if key is not None and type(key) not in (bool, int, float, str):
                    raise self.fail(f"a dict key is a {type(key).__name__}")
                out[key] = self.decode(pair[1])
            return out
        if kind in ("tensor", "ndarray", "scalar"):
            array = self._array(node)
            if kind == "scalar":
                return array[()]
            array = backend.to_device(array, self.device)
            if kind == "ndarray":
                return array
            t = Tensor(array)
            if node.get("requires_grad"):
                if array.dtype.kind not in "fc":
                    raise self.fail(f"a tensor of dtype {array.dtype} is marked as requiring grad")
                t.requires_grad_()
            return t
        raise self.fail(f"unknown node type {kind!r}")

    def _items(self, node: dict) -> list:
        items = node.get("items")
        if not isinstance(items, list):
            raise self.fail(f"a {node['type']} node has no item list")
        return items

    def _array(self, node: dict) -> numpy.ndarray:
        name = node.get("entry")
        if not isinstance(name, str) or name == MANIFEST:
            raise self.fail(f"an array node names entry {name!r}")
        array = _read_entry(self.npz, name, self.path)
        if array.dtype.str != node.get("dtype") or list(array.shape) != node.get("shape"):
            raise self.fail(f"entry {name!r} holds an array of dtype {array.dtype.str} and shape "
                            f"{list(array.shape)}, the manifest says {node.get('dtype')} and {node.get('shape')}")
        return array
