"""Checkpoints: save and load nested structures of tensors, arrays and Python scalars as safetensors files.

A checkpoint is a safetensors file: an 8-byte little-endian header length, a JSON header giving each tensor's
dtype, shape and byte range, then the raw little-endian data. Every array, and the array of every Tensor, is one
tensor named by its path in the saved structure, dict keys and list positions joined by dots
("modules.g.net.0.weight"; a name already taken gets "~2", "~3", ...). So the file of a state dict holds one
tensor per key under exactly that key, and PyTorch loads it with safetensors.torch.load_file.

The header's metadata holds, under "minigan", a JSON manifest with a format tag, a version and a description of
the structure: each node's type (dict, list, tuple, tensor, ndarray, numpy scalar, int, float, bool, str, None),
for an array the tensor that holds it with its dtype, shape and CRC-32, whether a tensor requires grad, and dict
keys (str, int, float, bool or None) with their types, so int-keyed dicts such as optimizer state dicts come back
as they were. A safetensors file without that manifest (one written by PyTorch, say) loads as a dict of
name -> Tensor that load_state_dict takes.

Why not pickle: unpickling runs whatever code the file names, so opening a checkpoint from elsewhere would mean
trusting it like a program. Here loading parses JSON and copies bytes: a file can at worst fail to load, and
it is checked before memory is spent on it: only a regular file is opened, its header and manifest must be of
bounded size and nesting, every tensor must have the dtype and shape the manifest gives before its data is read,
and tensors are read one at a time.

Writes are atomic: the file goes to a temporary file in the target's directory, is flushed and fsynced, then
renamed over the target with os.replace, so a crash or an error leaves either the old file or the new one.
"""

from __future__ import annotations

import json
import math
import os
import stat
import zlib
from typing import Any

import numpy
import safetensors
import safetensors.numpy

from minigan import backend
from minigan.files import write_atomically
from minigan.tensor import Tensor

FORMAT = "minigan-checkpoint"
VERSION = 2
METADATA_KEY = "minigan"  # the header metadata entry that holds the manifest
MAX_HEADER = 4 << 20  # bytes of safetensors header (tensor table and manifest) a file may have
MAX_MANIFEST = 2 << 20  # bytes of manifest JSON
MAX_DEPTH = 64  # levels of nesting of the saved structure
MAX_TENSORS = 16384  # tensors in one file (a training checkpoint holds about a hundred)
# NumPy dtypes (by name) that a safetensors file holds, and the file's dtype codes
_CODES = {"bool": "BOOL", "uint8": "U8", "int8": "I8", "uint16": "U16", "int16": "I16", "uint32": "U32",
          "int32": "I32", "uint64": "U64", "int64": "I64", "float16": "F16", "float32": "F32", "float64": "F64"}
# the dtype strings a manifest may give (either byte order), and their codes
_MANIFEST_DTYPES = {numpy.dtype(name).newbyteorder(order).str: code for name, code in _CODES.items() for order in "<>"}
_KEY_TYPES = ("none", "bool", "int", "float", "str")


class CheckpointError(ValueError):
    """A file that cannot be loaded as a minigan checkpoint (missing, not a regular file, not safetensors,
    corrupt, an unknown version). str() names the file and the problem; `problem` alone says what is wrong."""

    def __init__(self, path: str | os.PathLike, problem: str):
        super().__init__(os.fspath(path), problem)
        self.path, self.problem = os.fspath(path), problem

    def __str__(self) -> str:
        return f"cannot load checkpoint {self.path!r}: {self.problem}"


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """The checkpoint file does not exist."""


# ---- save ----
def save(obj: Any, path: str | os.PathLike) -> None:
    """Write obj (dicts, lists, tuples, Tensors, NumPy/CuPy arrays, Python scalars) to path as a safetensors file.

    Arrays must be boolean, integer or floating point (float16/32/64): a safetensors file holds no strings,
    complex numbers, dates or objects (TypeError). The file is replaced atomically: on any error the previous
    file at path is left as it was. Tensors and CuPy arrays are copied to the CPU.
    """
    encoder = _Encoder()
    root = encoder.encode(obj, "obj", (), 0)
    if len(encoder.arrays) > MAX_TENSORS:
        raise ValueError(f"save: the structure holds {len(encoder.arrays)} arrays, more than the {MAX_TENSORS} a "
                         "checkpoint may hold; stack them into fewer, larger arrays")
    text = json.dumps({"format": FORMAT, "version": VERSION, "root": root}, allow_nan=False, separators=(",", ":"))
    if len(text) > MAX_MANIFEST:  # ASCII: json.dumps escapes everything else
        raise ValueError(f"save: the description of this structure takes {len(text)} bytes, more than the "
                         f"{MAX_MANIFEST} a checkpoint may hold; save fewer separate values (arrays rather than "
                         "long lists of numbers)")
    data = safetensors.numpy.save(encoder.arrays, metadata={METADATA_KEY: text})
    header = int.from_bytes(data[:8], "little")
    if header > MAX_HEADER:
        raise ValueError(f"save: the file's header would take {header} bytes, more than the {MAX_HEADER} a "
                         f"checkpoint may have; save fewer, larger arrays")
    write_atomically(path, lambda f: f.write(data))


class _Encoder:
    """Builds the manifest node of each value, collecting arrays under their tensor names."""

    def __init__(self):
        self.arrays: dict[str, numpy.ndarray] = {}
        self.active: set[int] = set()  # the containers being encoded, to refuse cycles

    def encode(self, obj: Any, where: str, path: tuple, depth: int) -> dict:
        if depth >= MAX_DEPTH:
            raise ValueError(f"save: {where} is nested more than {MAX_DEPTH} levels deep, more than a checkpoint "
                             "holds")
        if obj is None:
            return {"type": "none"}
        if isinstance(obj, numpy.generic):  # before float: numpy.float64 is a float subclass
            return self.array(numpy.asarray(obj), where, path, "scalar")
        if isinstance(obj, bool):
            return {"type": "bool", "value": obj}
        if isinstance(obj, int):
            return {"type": "int", "value": int(obj)}
        if isinstance(obj, float):
            return {"type": "float", "value": _float_to_json(float(obj))}
        if isinstance(obj, str):
            return {"type": "str", "value": str(obj)}
        if isinstance(obj, Tensor):
            return {**self.array(obj.data, where, path, "tensor"), "requires_grad": bool(obj.requires_grad)}
        if isinstance(obj, numpy.ndarray) or backend.device_of(obj) == "cuda":
            return self.array(obj, where, path, "ndarray")
        if isinstance(obj, (dict, list, tuple)):
            if id(obj) in self.active:
                raise ValueError(f"save: {where} contains itself (a reference cycle), which a checkpoint cannot hold")
            self.active.add(id(obj))
            try:
                if isinstance(obj, dict):
                    return {"type": "dict", "items": [
                        [_encode_key(key, where), self.encode(value, f"{where}[{key!r}]", path + (str(key),), depth + 1)]
                        for key, value in obj.items()
                    ]}
                items = [self.encode(value, f"{where}[{k}]", path + (str(k),), depth + 1) for k, value in enumerate(obj)]
                return {"type": "tuple" if isinstance(obj, tuple) else "list", "items": items}
            finally:
                self.active.discard(id(obj))
        raise TypeError(f"save: {where} is a {type(obj).__module__}.{type(obj).__qualname__}, which a checkpoint "
                        "cannot hold (supported: dict, list, tuple, Tensor, NumPy/CuPy array, int, float, bool, "
                        "str, None)")

    def array(self, array, where: str, path: tuple, kind: str) -> dict:
        array = backend.to_device(array, "cpu")
        if array.dtype.name not in _CODES:
            raise TypeError(f"save: {where} is an array of dtype {array.dtype}, which a safetensors file cannot hold; "
                            "checkpoints hold boolean, integer and floating-point (float16/32/64) arrays")
        stored = array.astype(array.dtype.newbyteorder("<"), order="C", copy=False)
        name = ".".join(path) if path else "root"
        unique, k = name, 1
        while unique in self.arrays or unique == "__metadata__":
            k += 1
            unique = f"{name}~{k}"
        self.arrays[unique] = stored
        return {"type": kind, "tensor": unique, "dtype": array.dtype.str, "shape": list(array.shape),
                "crc32": zlib.crc32(stored)}


def _encode_key(key: Any, where: str) -> dict:
    if key is not None and type(key) not in (bool, int, float, str):
        raise TypeError(f"save: {where} has a key of type {type(key).__name__} ({key!r}); "
                        "dict keys must be str, int, float, bool or None")
    return _Encoder().encode(key, where, (), 0)


def _float_to_json(x: float):
    """Finite floats as JSON numbers (repr round-trips exactly); inf and nan as strings."""
    return x if math.isfinite(x) else repr(x)


# ---- load ----
def load(path: str | os.PathLike, device: str = "cpu") -> Any:
    """Read a checkpoint written by save: the same structure, with the same types.

    Tensors come back as Tensors and arrays as arrays on `device` ('cpu': NumPy, 'cuda': CuPy). A safetensors
    file written elsewhere (without minigan's manifest) comes back as a dict of name -> Tensor. Raises
    CheckpointError (a ValueError) naming the path and the problem when the file is missing, not a regular file,
    not a safetensors file, truncated or corrupt, or written by an earlier minigan (an .npz archive).
    """
    path = os.fspath(path)
    device = backend.check_device(device)
    _check_file(path)
    try:
        with safetensors.safe_open(path, framework="numpy") as f:
            return _read(f, path, device)
    except CheckpointError:
        raise
    except (safetensors.SafetensorError, OSError) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(path, f"not a valid safetensors file, or a truncated or corrupt one ({reason})") from e


def _check_file(path: str) -> None:
    """Refuse, before the safetensors library reads it, anything but a regular file whose header length is sane."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise CheckpointNotFoundError(path, "no such file") from None
    except OSError as e:
        raise CheckpointError(path, e.strerror or str(e)) from e
    if not stat.S_ISREG(info.st_mode):
        raise CheckpointError(path, "not a regular file")
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as e:
        raise CheckpointError(path, e.strerror or str(e)) from e
    if head[:4] == b"PK\x03\x04":
        raise CheckpointError(path, "not a minigan checkpoint that this version reads: an .npz (zip) archive, the "
                                    "checkpoint format of earlier minigan versions; open it with the minigan version "
                                    "that wrote it and write the arrays you need with safetensors.numpy.save_file")
    if len(head) < 8:
        raise CheckpointError(path, f"not a minigan checkpoint (a file of {len(head)} bytes, too short for a "
                                    "safetensors header)")
    size = int.from_bytes(head, "little")
    if size > MAX_HEADER:
        raise CheckpointError(path, f"not a minigan checkpoint (not a safetensors file: its first 8 bytes announce "
                                    f"a header of {size} bytes, more than the {MAX_HEADER} allowed)")
    if size > info.st_size - 8:
        raise CheckpointError(path, f"truncated: its header should take {size} bytes, but the file has "
                                    f"{info.st_size} bytes in all")


def _read(f, path: str, device: str) -> Any:
    names = f.keys()
    if len(names) > MAX_TENSORS:
        raise CheckpointError(path, f"the file holds {len(names)} tensors, more than the {MAX_TENSORS} allowed")
    header = {}
    for name in names:  # each tensor's dtype and shape, from the header alone
        part = f.get_slice(name)
        header[name] = (part.get_dtype(), part.get_shape())
    text = (f.metadata() or {}).get(METADATA_KEY)
    if text is None:
        return _read_plain(f, header, path, device)
    decoder = _Decoder(f, header, path, device)
    root = _read_manifest(text, path)
    decoder.decode(root, 0)  # checks the whole manifest against the header, reading no data
    unused = sorted(set(header) - decoder.used)
    if unused:
        raise decoder.fail(f"the file holds tensor(s) the manifest does not describe: {', '.join(unused[:5])}")
    decoder.reading = True
    return decoder.decode(root, 0)


def _read_plain(f, header: dict, path: str, device: str) -> dict:
    """A safetensors file without minigan's manifest: name -> Tensor, in the file's (sorted) order."""
    numpy_codes = set(_CODES.values())
    for name, (code, _) in header.items():
        if code not in numpy_codes:
            raise CheckpointError(path, f"tensor {name!r} has dtype {code}, which minigan cannot hold (it reads "
                                        f"{', '.join(_CODES.values())})")
    return {name: Tensor(backend.to_device(f.get_tensor(name), device)) for name in header}


def _read_manifest(text: str, path: str) -> Any:
    """The manifest's root node, after checking its size, its JSON, its format tag and its version."""
    if len(text) > MAX_MANIFEST:
        raise CheckpointError(path, f"the manifest takes {len(text)} characters, more than the {MAX_MANIFEST} allowed")
    try:
        manifest = json.loads(text)
    except RecursionError:
        raise CheckpointError(path, f"corrupt manifest: nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as e:  # invalid JSON, or an integer of too many digits
        raise CheckpointError(path, f"the manifest is not valid JSON ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CheckpointError(path, f"not a minigan checkpoint (the manifest has no {FORMAT!r} format tag)")
    version = manifest.get("version")
    if version != VERSION:
        raise CheckpointError(path, f"unknown checkpoint format version {version!r:.40} (this minigan reads version "
                                    f"{VERSION})")
    if "root" not in manifest:
        raise CheckpointError(path, "the manifest describes no content")
    return manifest["root"]


class _Decoder:
    """Rebuilds the saved structure from manifest nodes and the file's tensors.

    Run once with reading False, it checks every node (types, nesting, each tensor's dtype and shape against the
    header, each tensor named once) and reads no data; then with reading True it reads the tensors one by one.
    """

    def __init__(self, f, header: dict, path: str, device: str):
        self.f, self.header, self.path, self.device = f, header, path, device
        self.reading = False
        self.used: set[str] = set()

    def fail(self, message: str) -> CheckpointError:
        return CheckpointError(self.path, f"corrupt manifest: {message}")

    def decode(self, node: Any, depth: int) -> Any:
        if depth >= MAX_DEPTH:
            raise self.fail(f"nested more than {MAX_DEPTH} levels deep")
        if not isinstance(node, dict) or not isinstance(node.get("type"), str):
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
            items = [self.decode(item, depth + 1) for item in self._items(node)]
            return tuple(items) if kind == "tuple" else items
        if kind == "dict":
            out = {}
            for pair in self._items(node):
                if not isinstance(pair, list) or len(pair) != 2:
                    raise self.fail(f"a dict item is {pair!r:.80}, expected [key, value]")
                if not isinstance(pair[0], dict) or pair[0].get("type") not in _KEY_TYPES:
                    raise self.fail(f"a dict key is {pair[0]!r:.80}, expected a str, int, float, bool or None node")
                out[self.decode(pair[0], depth + 1)] = self.decode(pair[1], depth + 1)
            return out
        if kind in ("tensor", "ndarray", "scalar"):
            return self._array(node, kind)
        raise self.fail(f"unknown node type {kind!r:.40}")

    def _items(self, node: dict) -> list:
        items = node.get("items")
        if not isinstance(items, list):
            raise self.fail(f"a {node['type']} node has no item list")
        return items

    def _array(self, node: dict, kind: str):
        name, dtype, shape, crc = node.get("tensor"), node.get("dtype"), node.get("shape"), node.get("crc32")
        if not isinstance(name, str) or name not in self.header:
            raise self.fail(f"a {kind} node names tensor {name!r:.80}, which the file does not hold")
        code, stored_shape = self.header[name]
        if not isinstance(dtype, str) or _MANIFEST_DTYPES.get(dtype) != code or shape != stored_shape:
            raise self.fail(f"tensor {name!r} holds {code} of shape {stored_shape}, the manifest says "
                            f"{dtype!r:.40} and {shape!r:.80}")
        if kind == "scalar" and stored_shape != []:
            raise self.fail(f"tensor {name!r} of shape {stored_shape} is marked as a scalar")
        requires_grad = node.get("requires_grad", False)
        if not isinstance(requires_grad, bool) or (requires_grad and code not in ("F16", "F32", "F64")):
            raise self.fail(f"tensor {name!r} ({code}) has requires_grad {requires_grad!r:.40}")
        if type(crc) is not int:
            raise self.fail(f"tensor {name!r} has no CRC-32")
        if not self.reading:
            if name in self.used:
                raise self.fail(f"tensor {name!r} is named twice")
            self.used.add(name)
            return None
        array = self.f.get_tensor(name)
        if zlib.crc32(array) != crc:
            raise CheckpointError(self.path, f"corrupt: the data of tensor {name!r} does not match its CRC-32")
        array = array.astype(dtype, copy=False)  # the byte order it was saved in
        if kind == "scalar":
            return array[()]
        array = backend.to_device(array, self.device)
        if kind == "ndarray":
            return array
        t = Tensor(array)
        if requires_grad:
            t.requires_grad_()
        return t
