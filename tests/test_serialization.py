"""minigan.save / minigan.load: round trips of every supported type, atomic writes, and clear refusals of
files that are missing, truncated, foreign or pickle-bearing (which are never unpickled)."""

import json
import math
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import minigan as mg
from minigan import serialization
from minigan.serialization import CheckpointError, CheckpointNotFoundError


def assert_same(a, b, where="obj"):
    """a and b are equal in structure, types, dtypes and values (NaN equal to NaN, -0.0 distinct from 0.0)."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys {list(a)} != {list(b)}"
        assert [type(k) for k in a] == [type(k) for k in b], f"{where}: key types differ"
        for key in a:
            assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{where}: length {len(a)} != {len(b)}"
        for k, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{k}]")
    elif isinstance(a, mg.Tensor):
        assert b.device == "cpu" and a.requires_grad == b.requires_grad and b.grad_fn is None, where
        assert_same(a.numpy(), b.data, where + ".data")
    elif isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype and a.shape == b.shape, f"{where}: {a.dtype}{a.shape} != {b.dtype}{b.shape}"
        assert np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"), where
    elif isinstance(a, float):
        assert (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b)), where
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def every_type():
    rng = np.random.default_rng(0)
    return {
        "tensor": mg.tensor(rng.standard_normal((3, 4)).astype(np.float32), requires_grad=True),
        "tensor64": mg.tensor(rng.standard_normal(5)),
        "int_tensor": mg.tensor(np.arange(6).reshape(2, 3)),
        "arrays": [rng.standard_normal((2, 3)), np.arange(10, dtype=np.int64), np.array([True, False]),
                   np.zeros((0, 3), np.float32), np.array(3.5), np.asfortranarray(rng.standard_normal((3, 2))),
                   rng.standard_normal((4, 6))[::2, 1::2], np.array([1 + 2j], np.complex64),
                   np.array(["ab", "cde"]), np.arange(4, dtype=">i4")],
        "numpy_scalars": (np.float32(1.5), np.int64(-7), np.bool_(True), np.float64(0.1)),
        "scalars": [0, -3, 2**70, 0.1, -0.0, float("inf"), float("-inf"), float("nan"), 1e-310, True, False,
                    None, "", "text with ünïcode and \"quotes\""],
        "nested": {"empty": {}, "empty_list": [], "empty_tuple": (), "tuples": ((1, 2), [3, (4.0, "5")])},
    }


def test_round_trip_every_type(tmp_path):
    obj = every_type()
    mg.save(obj, tmp_path / "ckpt.npz")
    loaded = mg.load(tmp_path / "ckpt.npz")
    assert_same(obj, loaded)
    assert sorted(os.listdir(tmp_path)) == ["ckpt.npz"]


def test_loaded_arrays_are_independent_and_writable(tmp_path):
    x = np.arange(4.0)
    t = mg.tensor(np.ones(3))
    mg.save({"x": x, "t": t}, tmp_path / "c.npz")
    loaded = mg.load(tmp_path / "c.npz")
    loaded["x"][0] = 100
    loaded["t"].data[0] = 100
    assert x[0] == 0 and t.data[0] == 1
    assert loaded["t"].is_leaf and not loaded["t"].requires_grad


def test_int_and_other_keys_round_trip(tmp_path):
    state = {"state": {0: {"step": 3, "exp_avg": np.ones(2)}, 2: {"step": 1, "exp_avg": np.zeros(2)}},
             "param_groups": [{"lr": 1e-3, "betas": (0.5, 0.999), "amsgrad": False, "params": [0, 1, 2]}]}
    mixed = {1: "int", "1": "str", 2.5: "float", None: "none", False: "bool"}
    mg.save({"optim": state, "mixed": mixed}, tmp_path / "c.npz")
    loaded = mg.load(tmp_path / "c.npz")
    assert_same({"optim": state, "mixed": mixed}, loaded)
    assert list(loaded["optim"]["state"]) == [0, 2]


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool", "int32", "uint8", "float16", "complex128"])
def test_array_dtypes(tmp_path, dtype):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((5, 7)) * 50).astype(dtype)
    mg.save({"x": x, "t": mg.tensor(x)}, tmp_path / "c.npz")
    loaded = mg.load(tmp_path / "c.npz")
    assert loaded["x"].dtype == x.dtype and loaded["t"].dtype == x.dtype
    assert np.array_equal(loaded["x"], x) and np.array_equal(loaded["t"].numpy(), x)


def test_large_array(tmp_path):
    x = np.random.default_rng(2).standard_normal(2**23)  # 64 MiB
    mg.save({"x": x}, tmp_path / "big.npz")
    assert os.path.getsize(tmp_path / "big.npz") > x.nbytes
    assert np.array_equal(mg.load(tmp_path / "big.npz")["x"], x)


def test_manifest_is_readable_without_minigan(tmp_path):
    mg.save({"w": np.arange(3.0)}, tmp_path / "c.npz")
    with np.load(tmp_path / "c.npz", allow_pickle=False) as npz:
        manifest = json.loads(npz[serialization.MANIFEST].tobytes().decode())
        assert manifest["format"] == serialization.FORMAT and manifest["version"] == serialization.VERSION
        (key, node), = manifest["root"]["items"]
        assert key == {"type": "str", "value": "w"} and node["type"] == "ndarray"
        assert np.array_equal(npz[node["entry"]], np.arange(3.0))


def test_save_refuses_what_it_cannot_hold(tmp_path):
    path = tmp_path / "c.npz"
    with pytest.raises(TypeError, match=r"obj\['a'\]\[1\] is a builtins.set"):
        mg.save({"a": [1, {2}]}, path)
    with pytest.raises(TypeError, match="pickle"):
        mg.save({"x": np.array([object()], dtype=object)}, path)
    with pytest.raises(TypeError, match="key of type tuple"):
        mg.save({(1, 2): 3}, path)
    cycle = []
    cycle.append(cycle)
    with pytest.raises(ValueError, match="contains itself"):
        mg.save(cycle, path)
    assert os.listdir(tmp_path) == []


# ---- atomic writes ----
def _old_file(tmp_path):
    path = tmp_path / "ckpt.npz"
    mg.save({"version": "old", "x": np.arange(1000.0)}, path)
    return path, path.read_bytes()


def _assert_old_intact(tmp_path, path, old_bytes):
    assert path.read_bytes() == old_bytes
    assert mg.load(path)["version"] == "old"
    assert os.listdir(tmp_path) == ["ckpt.npz"], "a temporary file was left behind"


@pytest.mark.parametrize("error", [OSError("No space left on device"), KeyboardInterrupt()])
def test_failed_archive_write_keeps_old_file(tmp_path, monkeypatch, error):
    path, old = _old_file(tmp_path)
    seen = []

    def write_half_then_fail(f, arrays):
        f.write(b"PK\x03\x04 partial archive")
        seen.append(os.listdir(tmp_path))
        raise error

    monkeypatch.setattr(serialization, "_write_archive", write_half_then_fail)
    with pytest.raises(type(error)):
        mg.save({"version": "new", "x": np.zeros(1000)}, path)
    assert len(seen[0]) == 2, "the archive was not written to a temporary file beside the target"
    _assert_old_intact(tmp_path, path, old)


def test_failed_replace_keeps_old_file(tmp_path, monkeypatch):
    path, old = _old_file(tmp_path)

    def failing_replace(src, dst):
        raise PermissionError(f"cannot replace {dst}")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(PermissionError):
        mg.save({"version": "new"}, path)
    monkeypatch.undo()
    _assert_old_intact(tmp_path, path, old)


def test_unsupported_object_leaves_old_file_untouched(tmp_path):
    path, old = _old_file(tmp_path)
    with pytest.raises(TypeError):
        mg.save({"version": "new", "bad": object()}, path)
    _assert_old_intact(tmp_path, path, old)


_SAVER = """
import sys
import numpy as np
import minigan as mg
path, n = sys.argv[1], int(sys.argv[2])
for i in range(10**6):
    mg.save({"i": i, "x": np.full(n, float(i))}, path)
    print(i, flush=True)
"""


def test_killed_writer_leaves_a_loadable_file(tmp_path):
    """A writer killed at random moments while replacing a big checkpoint never leaves a torn file."""
    path = tmp_path / "ckpt.npz"
    mg.save({"i": -1, "x": np.full(4, -1.0)}, path)
    killed_mid_write = 0
    rng = np.random.default_rng(3)
    for _ in range(4):
        proc = subprocess.Popen([sys.executable, "-c", _SAVER, str(path), str(2**22)], stdout=subprocess.PIPE,
                                text=True)
        try:
            proc.stdout.readline()  # one save done: the next one is under way
            time.sleep(rng.uniform(0, 0.05))
            os.kill(proc.pid, getattr(signal, "SIGKILL", signal.SIGTERM))
        finally:
            proc.kill()
            proc.wait()
            proc.stdout.close()
        leftovers = [name for name in os.listdir(tmp_path) if name != "ckpt.npz"]
        killed_mid_write += bool(leftovers)
        for name in leftovers:
            assert name.startswith(".ckpt.npz.") and name.endswith(".tmp")
            os.unlink(tmp_path / name)
        loaded = mg.load(path)
        assert loaded["i"] >= 0 and loaded["x"].shape == (2**22,)
        assert np.all(loaded["x"] == loaded["i"]), "the checkpoint mixes two saves"
        if killed_mid_write >= 2:
            break
    assert killed_mid_write, "no kill landed during a write: the test did not exercise what it should"


# ---- files that are not loadable ----
class _Trap:
    """Unpickling this creates the marker file: a test can see whether anything unpickled it."""

    def __init__(self, marker):
        self.marker = pathlib.Path(marker)

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


def test_pickle_bearing_npz_is_refused_and_never_unpickled(tmp_path):
    marker = tmp_path / "unpickled"
    trap = np.array([_Trap(marker)], dtype=object)
    # a minigan checkpoint whose array entry was replaced by a pickled object array
    mg.save({"w": np.zeros(1)}, tmp_path / "good.npz")
    with np.load(tmp_path / "good.npz") as npz:
        manifest = npz[serialization.MANIFEST]
    np.savez(tmp_path / "evil.npz", **{serialization.MANIFEST: manifest, "array_0": trap})
    with pytest.raises(CheckpointError, match=r"evil\.npz.*pickle"):
        mg.load(tmp_path / "evil.npz")
    # a plain npz that holds only pickled objects
    np.savez(tmp_path / "plain.npz", x=trap)
    with pytest.raises(CheckpointError, match=r"plain\.npz.*not a minigan checkpoint"):
        mg.load(tmp_path / "plain.npz")
    assert not marker.exists(), "load unpickled the file"
    with np.load(tmp_path / "evil.npz", allow_pickle=True) as npz:
        npz["array_0"]
    assert marker.exists(), "the trap does not fire when unpickled, so the test proves nothing"


def test_truncated_file_is_refused(tmp_path):
    path = tmp_path / "c.npz"
    mg.save({"x": np.arange(10000.0), "y": [1, 2]}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"c\.npz.*truncated or corrupt"):
        mg.load(path)


def test_corrupt_array_bytes_are_refused(tmp_path):
    path = tmp_path / "c.npz"
    mg.save({"x": np.zeros(10000)}, path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the array's data: the zip CRC no longer matches
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"c\.npz.*corrupt"):
        mg.load(path)


def test_npz_without_manifest_is_refused(tmp_path):
    np.savez(tmp_path / "plain.npz", weight=np.ones(3))
    with pytest.raises(CheckpointError, match=r"plain\.npz.*not a minigan checkpoint"):
        mg.load(tmp_path / "plain.npz")


@pytest.mark.parametrize("content", [b"", b"hello, not a checkpoint", b"\x93NUMPY\x01\x00"])
def test_file_that_is_not_an_npz_is_refused(tmp_path, content):
    (tmp_path / "c.npz").write_bytes(content)
    with pytest.raises(CheckpointError, match=r"c\.npz.*not a minigan checkpoint"):
        mg.load(tmp_path / "c.npz")


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(CheckpointNotFoundError, match=r"nothing\.npz.*no such file") as info:
        mg.load(tmp_path / "nothing.npz")
    assert isinstance(info.value, ValueError) and isinstance(info.value, FileNotFoundError)


def _rewrite_manifest(path, edit):
    with np.load(path) as npz:
        arrays = {name: npz[name] for name in npz.files}
    manifest = json.loads(arrays[serialization.MANIFEST].tobytes().decode())
    edit(manifest)
    arrays[serialization.MANIFEST] = np.frombuffer(json.dumps(manifest).encode(), np.uint8)
    np.savez(path, **arrays)


def test_unknown_version_is_refused(tmp_path):
    path = tmp_path / "c.npz"
    mg.save({"x": np.ones(2)}, path)
    _rewrite_manifest(path, lambda m: m.update(version=99))
    with pytest.raises(CheckpointError, match=r"c\.npz.*unknown checkpoint format version 99"):
        mg.load(path)


def test_manifest_that_disagrees_with_the_arrays_is_refused(tmp_path):
    path = tmp_path / "c.npz"
    mg.save({"x": np.ones(2)}, path)
    _rewrite_manifest(path, lambda m: m["root"]["items"][0][1].update(shape=[3]))
    with pytest.raises(CheckpointError, match=r"c\.npz.*corrupt manifest.*shape"):
        mg.load(path)


@pytest.mark.gpu
def test_cuda_round_trip(tmp_path):
    x = mg.tensor(np.arange(6.0).reshape(2, 3), device="cuda")
    mg.save({"t": x, "a": x.data}, tmp_path / "c.npz")
    on_cpu = mg.load(tmp_path / "c.npz")
    assert on_cpu["t"].device == "cpu" and isinstance(on_cpu["a"], np.ndarray)
    on_gpu = mg.load(tmp_path / "c.npz", device="cuda")
    assert on_gpu["t"].device == "cuda" and mg.backend.device_of(on_gpu["a"]) == "cuda"
    assert np.array_equal(on_gpu["t"].numpy(), x.numpy())
