"""minigan.save / minigan.load: safetensors files that PyTorch reads and writes, round trips of every supported
type, atomic writes, and clear refusals of files that are missing, truncated, corrupt or foreign (the crafted
files that try to make the reader spend memory or time are in test_checkpoint_files.py)."""

import json
import math
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import safetensors
import safetensors.numpy

import minigan as mg
from minigan import nn, serialization
from minigan.data import Loader, load
from minigan.random import get_rng_state, set_rng_state
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
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), where
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
                   rng.standard_normal((4, 6))[::2, 1::2], np.arange(4, dtype=">i4"), np.array([2**64 - 1], np.uint64),
                   np.array([-1.5, 65504], np.float16), np.array(True)],
        "numpy_scalars": (np.float32(1.5), np.int64(-7), np.bool_(True), np.float64(0.1), np.uint64(2**63)),
        "scalars": [0, -3, 2**70, 0.1, -0.0, float("inf"), float("-inf"), float("nan"), 1e-310, True, False,
                    None, "", "text with ünïcode and \"quotes\""],
        "nested": {"empty": {}, "empty_list": [], "empty_tuple": (), "tuples": ((1, 2), [3, (4.0, "5")])},
    }


def test_round_trip_every_type(tmp_path):
    obj = every_type()
    mg.save(obj, tmp_path / "ckpt.safetensors")
    loaded = mg.load(tmp_path / "ckpt.safetensors")
    assert_same(obj, loaded)
    assert sorted(os.listdir(tmp_path)) == ["ckpt.safetensors"]


def test_what_training_state_holds_round_trips(tmp_path):
    """The random generator's and the loader's states (dicts holding 128-bit ints) come back as they were."""
    mg.manual_seed(3)
    loader = Loader(load("ring8", n=40), 8, seed=1)
    next(iter(loader))
    state = {"rng": get_rng_state(), "loader": loader.state_dict()}
    expected = mg.randn(3).numpy()
    mg.save(state, tmp_path / "c.safetensors")
    loaded = mg.load(tmp_path / "c.safetensors")
    assert_same(state, loaded)
    set_rng_state(loaded["rng"])
    np.testing.assert_array_equal(mg.randn(3).numpy(), expected)


def test_loaded_arrays_are_independent_and_writable(tmp_path):
    x = np.arange(4.0)
    t = mg.tensor(np.ones(3))
    mg.save({"x": x, "t": t}, tmp_path / "c.safetensors")
    loaded = mg.load(tmp_path / "c.safetensors")
    loaded["x"][0] = 100
    loaded["t"].data[0] = 100
    assert x[0] == 0 and t.data[0] == 1
    assert loaded["t"].is_leaf and not loaded["t"].requires_grad
    assert mg.load(tmp_path / "c.safetensors")["x"][0] == 0  # the file is untouched


def test_int_and_other_keys_round_trip(tmp_path):
    state = {"state": {0: {"step": 3, "exp_avg": np.ones(2)}, 2: {"step": 1, "exp_avg": np.zeros(2)}},
             "param_groups": [{"lr": 1e-3, "betas": (0.5, 0.999), "amsgrad": False, "params": [0, 1, 2]}]}
    mixed = {1: "int", "1": "str", 2.5: "float", None: "none", False: "bool"}
    mg.save({"optim": state, "mixed": mixed}, tmp_path / "c.safetensors")
    loaded = mg.load(tmp_path / "c.safetensors")
    assert_same({"optim": state, "mixed": mixed}, loaded)
    assert list(loaded["optim"]["state"]) == [0, 2]


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8",
                                   "uint16", "uint32", "uint64", "bool"])
def test_array_dtypes(tmp_path, dtype):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((5, 7)) * 50).astype(dtype)
    mg.save({"x": x, "t": mg.tensor(x)}, tmp_path / "c.safetensors")
    loaded = mg.load(tmp_path / "c.safetensors")
    assert loaded["x"].dtype == x.dtype and loaded["t"].dtype == x.dtype
    assert np.array_equal(loaded["x"], x) and np.array_equal(loaded["t"].numpy(), x)


def test_large_array(tmp_path):
    x = np.random.default_rng(2).standard_normal(2**23)  # 64 MiB
    mg.save({"x": x}, tmp_path / "big.safetensors")
    assert os.path.getsize(tmp_path / "big.safetensors") > x.nbytes
    assert np.array_equal(mg.load(tmp_path / "big.safetensors")["x"], x)


# ---- the file as other programs see it ----
def test_tensors_are_named_by_their_path_and_the_manifest_is_plain_json(tmp_path):
    obj = {"modules": {"g": {"net.0.weight": np.ones((2, 3), np.float32)}}, "history": [np.arange(2), 5],
           "a.b": np.zeros(1), "a": {"b": np.ones(1)}, 0: np.zeros(2), "0": np.ones(2)}
    mg.save(obj, tmp_path / "c.safetensors")
    tensors = safetensors.numpy.load_file(tmp_path / "c.safetensors")
    assert set(tensors) == {"modules.g.net.0.weight", "history.0", "a.b", "a.b~2", "0", "0~2"}
    np.testing.assert_array_equal(tensors["modules.g.net.0.weight"], np.ones((2, 3)))
    assert tensors["a.b"].sum() == 0 and tensors["a.b~2"].sum() == 1  # saved in order: the first keeps the name
    with safetensors.safe_open(tmp_path / "c.safetensors", framework="numpy") as f:
        manifest = json.loads(f.metadata()[serialization.METADATA_KEY])
    assert manifest["format"] == serialization.FORMAT and manifest["version"] == serialization.VERSION
    key, node = manifest["root"]["items"][0]
    assert key == {"type": "str", "value": "modules"} and node["type"] == "dict"
    mg.save(np.arange(3.0), tmp_path / "alone.safetensors")
    assert list(safetensors.numpy.load_file(tmp_path / "alone.safetensors")) == ["root"]


def test_a_safetensors_file_without_manifest_loads_as_a_state_dict(tmp_path):
    weights = {"weight": np.ones((2, 3), np.float32), "bias": np.arange(2, dtype=np.float32),
               "num_batches_tracked": np.array(7, np.int64)}
    safetensors.numpy.save_file(weights, tmp_path / "plain.safetensors", metadata={"format": "pt"})
    loaded = mg.load(tmp_path / "plain.safetensors")
    assert set(loaded) == set(weights) and all(isinstance(v, mg.Tensor) for v in loaded.values())
    for name, value in weights.items():
        assert_same(value, loaded[name].numpy())


def test_state_dicts_go_to_pytorch_and_back(tmp_path):
    torch = pytest.importorskip("torch")
    import safetensors.torch

    def pair():
        ours = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
        theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.ReLU(),
                                     torch.nn.Linear(4, 2))
        return ours.eval(), theirs.eval()

    x = np.random.default_rng(4).standard_normal((5, 3)).astype(np.float32)
    ours, theirs = pair()
    ours[1].running_mean.data[...] = np.arange(4)
    mg.save(ours.state_dict(), tmp_path / "ours.safetensors")
    theirs.load_state_dict(safetensors.torch.load_file(tmp_path / "ours.safetensors"))
    np.testing.assert_allclose(theirs(torch.from_numpy(x)).detach().numpy(), ours(mg.tensor(x)).numpy(), rtol=1e-6)

    ours, theirs = pair()
    with torch.no_grad():
        theirs[1].running_var.fill_(2.0)
    safetensors.torch.save_file(theirs.state_dict(), tmp_path / "theirs.safetensors")
    ours.load_state_dict(mg.load(tmp_path / "theirs.safetensors"))
    np.testing.assert_allclose(ours(mg.tensor(x)).numpy(), theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-6)


def test_save_refuses_what_it_cannot_hold(tmp_path):
    path = tmp_path / "c.safetensors"
    with pytest.raises(TypeError, match=r"obj\['a'\]\[1\] is a builtins.set"):
        mg.save({"a": [1, {2}]}, path)
    for array in (np.array([object()], dtype=object), np.array([1 + 2j]), np.array(["ab", "cde"]),
                  np.array(["2026-01-01"], "datetime64[D]")):
        with pytest.raises(TypeError, match=rf"obj\['x'\] is an array of dtype {re.escape(str(array.dtype))}.*safet"):
            mg.save({"x": array}, path)
    with pytest.raises(TypeError, match="key of type tuple"):
        mg.save({(1, 2): 3}, path)
    cycle = []
    cycle.append(cycle)
    with pytest.raises(ValueError, match="contains itself"):
        mg.save(cycle, path)
    deep = []
    for _ in range(serialization.MAX_DEPTH + 1):
        deep = [deep]
    with pytest.raises(ValueError, match="nested more than"):
        mg.save(deep, path)
    with pytest.raises(ValueError, match="description of this structure"):
        mg.save(list(range(serialization.MAX_MANIFEST // 20)), path)
    assert os.listdir(tmp_path) == []


# ---- atomic writes ----
def _old_file(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    mg.save({"version": "old", "x": np.arange(1000.0)}, path)
    return path, path.read_bytes()


def _assert_old_intact(tmp_path, path, old_bytes):
    assert path.read_bytes() == old_bytes
    assert mg.load(path)["version"] == "old"
    assert os.listdir(tmp_path) == ["ckpt.safetensors"], "a temporary file was left behind"


@pytest.mark.parametrize("error", [OSError("No space left on device"), KeyboardInterrupt()])
def test_failed_write_keeps_old_file(tmp_path, monkeypatch, error):
    path, old = _old_file(tmp_path)
    seen = []

    def fail_to_sync(fd):
        seen.append(os.listdir(tmp_path))
        raise error

    monkeypatch.setattr(os, "fsync", fail_to_sync)
    with pytest.raises(type(error)):
        mg.save({"version": "new", "x": np.zeros(1000)}, path)
    monkeypatch.undo()
    assert len(seen[0]) == 2, "the file was not written to a temporary file beside the target"
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
    path = tmp_path / "ckpt.safetensors"
    mg.save({"i": -1, "x": np.full(4, -1.0)}, path)
    killed_mid_write = 0
    rng = np.random.default_rng(3)
    for _ in range(4):
        proc = subprocess.Popen([sys.executable, "-c", _SAVER, str(path), str(2**22)], stdout=subprocess.PIPE,
                                text=True)
        try:
            proc.stdout.readline()  # one save done: the next one is under way
            deadline = time.monotonic() + 10
            while not any(name.endswith(".tmp") for name in os.listdir(tmp_path)) and time.monotonic() < deadline:
                time.sleep(0.001)  # until the next save writes its temporary file
            time.sleep(rng.uniform(0, 0.02))
            os.kill(proc.pid, getattr(signal, "SIGKILL", signal.SIGTERM))
        finally:
            proc.kill()
            proc.wait()
            proc.stdout.close()
        leftovers = [name for name in os.listdir(tmp_path) if name != "ckpt.safetensors"]
        killed_mid_write += bool(leftovers)
        for name in leftovers:
            assert name.startswith(".ckpt.safetensors.") and name.endswith(".tmp")
            os.unlink(tmp_path / name)
        loaded = mg.load(path)
        assert loaded["i"] >= 0 and loaded["x"].shape == (2**22,)
        assert np.all(loaded["x"] == loaded["i"]), "the checkpoint mixes two saves"
        if killed_mid_write >= 2:
            break
    assert killed_mid_write, "no kill landed during a write: the test did not exercise what it should"


# ---- files that are not loadable ----
def test_truncated_file_is_refused(tmp_path):
    path = tmp_path / "c.safetensors"
    mg.save({"x": np.arange(10000.0), "y": [1, 2]}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"c\.safetensors.*truncated or corrupt"):
        mg.load(path)
    path.write_bytes(data[:100])  # inside the header
    with pytest.raises(CheckpointError, match=r"c\.safetensors.*truncated"):
        mg.load(path)


def test_corrupt_array_bytes_are_refused(tmp_path):
    path = tmp_path / "c.safetensors"
    mg.save({"x": np.zeros(10000)}, path)
    data = bytearray(path.read_bytes())
    data[-len(data) // 4] ^= 0xFF  # inside the array's data: its CRC-32 no longer matches
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"c\.safetensors.*corrupt.*'x'.*CRC-32"):
        mg.load(path)


@pytest.mark.parametrize("content", [b"", b"hello, not a checkpoint", b"\x93NUMPY\x01\x00"])
def test_file_that_is_not_safetensors_is_refused(tmp_path, content):
    (tmp_path / "c.safetensors").write_bytes(content)
    with pytest.raises(CheckpointError, match=r"c\.safetensors.*not a minigan checkpoint"):
        mg.load(tmp_path / "c.safetensors")


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(CheckpointNotFoundError, match=r"nothing\.safetensors.*no such file") as info:
        mg.load(tmp_path / "nothing.safetensors")
    assert isinstance(info.value, ValueError) and isinstance(info.value, FileNotFoundError)
    assert info.value.problem == "no such file"


def rewrite_manifest(path, edit):
    """Apply edit(manifest) to the manifest of the minigan checkpoint at path, keeping its tensors."""
    tensors = safetensors.numpy.load_file(path)
    with safetensors.safe_open(path, framework="numpy") as f:
        manifest = json.loads(f.metadata()[serialization.METADATA_KEY])
    edit(manifest)
    safetensors.numpy.save_file(tensors, path, metadata={serialization.METADATA_KEY: json.dumps(manifest)})


def test_unknown_version_is_refused(tmp_path):
    path = tmp_path / "c.safetensors"
    mg.save({"x": np.ones(2)}, path)
    rewrite_manifest(path, lambda m: m.update(version=99))
    with pytest.raises(CheckpointError, match=r"c\.safetensors.*unknown checkpoint format version 99"):
        mg.load(path)


def test_manifest_that_disagrees_with_the_tensors_is_refused(tmp_path):
    path = tmp_path / "c.safetensors"
    mg.save({"x": np.ones(2)}, path)
    rewrite_manifest(path, lambda m: m["root"]["items"][0][1].update(shape=[3]))
    with pytest.raises(CheckpointError, match=r"c\.safetensors.*corrupt manifest.*'x' holds F64 of shape \[2\]"):
        mg.load(path)


@pytest.mark.gpu
def test_cuda_round_trip(tmp_path):
    x = mg.tensor(np.arange(6.0).reshape(2, 3), device="cuda")
    mg.save({"t": x, "a": x.data}, tmp_path / "c.safetensors")
    on_cpu = mg.load(tmp_path / "c.safetensors")
    assert on_cpu["t"].device == "cpu" and isinstance(on_cpu["a"], np.ndarray)
    on_gpu = mg.load(tmp_path / "c.safetensors", device="cuda")
    assert on_gpu["t"].device == "cuda" and mg.backend.device_of(on_gpu["a"]) == "cuda"
    assert np.array_equal(on_gpu["t"].numpy(), x.numpy())
