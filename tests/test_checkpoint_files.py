"""Crafted checkpoint files: every file minigan reads is distrusted. Each one below is refused with one
CheckpointError (or, from the command line, one line and exit status 2) that names the file and the problem,
before it can make minigan hang, recurse, or spend memory: FIFOs and links to devices, absurd header lengths,
deep or huge manifests, tensors named twice, .npz archives of the earlier format (a zip bomb, a pickle), and
metadata that asks for a model far larger than the weights the file holds."""

import os
import pathlib
import re
import subprocess
import sys
import tracemalloc
import zipfile

import numpy as np
import pytest
import safetensors.numpy

import minigan as mg
from minigan import serialization
from minigan.models import build
from minigan.serialization import CheckpointError
from minigan.train.checkpoint import (
    checkpoint_path,
    checkpoints,
    find_checkpoint,
    load_gan,
    read_newest_intact,
    write_checkpoint,
)

EARLIER_FORMAT = re.escape("an .npz (zip) archive, the checkpoint format of earlier minigan versions")


def manifest_file(path, root_json: str, tensors=None) -> pathlib.Path:
    """A safetensors file whose minigan manifest has the given root (JSON text), with the given tensors."""
    text = f'{{"format":"{serialization.FORMAT}","version":{serialization.VERSION},"root":{root_json}}}'
    safetensors.numpy.save_file(tensors or {}, path, metadata={serialization.METADATA_KEY: text})
    return pathlib.Path(path)


def peak_allocated(load, path) -> int:
    """Bytes at the peak of Python and NumPy allocations while load(path) fails with CheckpointError."""
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError):
            load(path)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# ---- what is not a regular file ----
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_named_like_a_checkpoint_is_skipped_and_refused_without_hanging(tmp_path):
    path = checkpoint_path(tmp_path, 100)
    path.parent.mkdir()
    os.mkfifo(path)
    assert checkpoints(tmp_path) == []
    code = ("import sys\nfrom minigan.train.checkpoint import find_checkpoint\nfrom minigan import load\n"
            "for f in (find_checkpoint, load):\n    try:\n        f(sys.argv[1])\n"
            "    except ValueError as e:\n        print(e)\n")
    # in a child, so that a reader that opens the FIFO blocks the child, not the test run
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60,
                         check=False)
    assert out.stdout.count("not a regular file") == 2, out


def test_a_link_to_a_device_is_not_a_regular_file(tmp_path):
    if not os.path.exists("/dev/zero"):
        pytest.skip("needs /dev/zero")
    path = checkpoint_path(tmp_path, 100)
    path.parent.mkdir()
    path.symlink_to("/dev/zero")
    assert checkpoints(tmp_path) == []
    with pytest.raises(CheckpointError, match="not a regular file"):
        mg.load(path)
    with pytest.raises(CheckpointError, match="not a regular file"):
        find_checkpoint(path)


def test_links_and_other_names_are_not_listed_as_checkpoints(tmp_path):
    write_checkpoint(tmp_path, 2, {"x": 1}, keep=0)
    folder = checkpoint_path(tmp_path, 2).parent
    (folder / "step_0000009.safetensors").symlink_to(checkpoint_path(tmp_path, 2))
    (folder / "step_0000008.npz").write_bytes(b"PK")
    (folder / "step_0000007.safetensors.corrupt").write_bytes(b"")
    assert checkpoints(tmp_path) == [checkpoint_path(tmp_path, 2)]


# ---- the header ----
@pytest.mark.parametrize("length, problem", [(2**63, "not a minigan checkpoint"), (100, "truncated"),
                                             (serialization.MAX_HEADER + 1, "more than the")])
def test_an_absurd_header_length_is_refused_before_parsing(tmp_path, length, problem):
    path = tmp_path / "c.safetensors"
    with open(path, "wb") as f:
        f.write(length.to_bytes(8, "little") + b"{")
        if length == serialization.MAX_HEADER + 1:
            f.truncate(length + 8)  # a file that is that large (sparse: no disk spent)
    assert peak_allocated(mg.load, path) < 1 << 20
    with pytest.raises(CheckpointError, match=rf"c\.safetensors.*{problem}"):
        mg.load(path)


def test_too_many_tensors_are_refused(tmp_path):
    many = {f"t{k}": np.zeros(0, np.uint8) for k in range(serialization.MAX_TENSORS + 1)}
    safetensors.numpy.save_file(many, tmp_path / "c.safetensors")
    with pytest.raises(CheckpointError, match=f"holds {len(many)} tensors, more than the"):
        mg.load(tmp_path / "c.safetensors")
    with pytest.raises(ValueError, match=f"holds {len(many)} arrays, more than the"):
        mg.save(list(many.values()), tmp_path / "d.safetensors")


def test_a_header_the_library_rejects_is_one_error(tmp_path):
    body = b'{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}}'
    (tmp_path / "c.safetensors").write_bytes(len(body).to_bytes(8, "little") + body + bytes(8))
    with pytest.raises(CheckpointError, match="not a valid safetensors file.*overflow"):
        mg.load(tmp_path / "c.safetensors")


# ---- the manifest ----
@pytest.mark.parametrize("depth", [serialization.MAX_DEPTH + 1, 500, 50_000])
def test_deep_nesting_is_refused(tmp_path, depth):
    root = '{"type":"list","items":[' * depth + "]}" * depth
    path = manifest_file(tmp_path / "c.safetensors", root)
    with pytest.raises(CheckpointError, match=r"c\.safetensors.*nested more than"):
        mg.load(path)


def test_a_huge_manifest_is_refused_before_it_is_parsed(tmp_path):
    root = '{"type":"list","items":[' + ",".join(['{"type":"none"}'] * (serialization.MAX_MANIFEST // 15)) + "]}"
    path = manifest_file(tmp_path / "c.safetensors", root)
    with pytest.raises(CheckpointError, match="manifest takes .* characters, more than"):
        mg.load(path)


@pytest.mark.parametrize("root, problem", [
    ('{"type":"int","value":' + "9" * 5000 + "}", "not valid JSON"),
    ('{"type":"dict","items":[[{"type":"list","items":[]},{"type":"none"}]]}', "a dict key is"),
    ('{"type":"tuple","items":{}}', "no item list"),
    ('{"type":"float","value":"1e999x"}', "a float node holds"),
    ('{"type":"pickle"}', "unknown node type 'pickle'"),
    ('{"type":"tensor","tensor":"missing","dtype":"<f4","shape":[2],"crc32":0}', "which the file does not hold"),
    ('{"type":"tensor","tensor":"x","dtype":"|O","shape":[2],"crc32":0}', "the manifest says '|O'"),
    ('{"type":"scalar","tensor":"x","dtype":"<f4","shape":[2],"crc32":0}', "marked as a scalar"),
    ('{"type":"list","items":[]}', "does not describe: x"),
    ('{"type":"list","items":[' + ",".join(['{"type":"ndarray","tensor":"x","dtype":"<f4","shape":[2],"crc32":0}'] * 2)
     + "]}", "named twice"),
])
def test_a_manifest_that_does_not_fit_the_file_is_refused(tmp_path, root, problem):
    path = manifest_file(tmp_path / "c.safetensors", root, {"x": np.zeros(2, np.float32)})
    with pytest.raises(CheckpointError, match=rf"c\.safetensors.*{problem}"):
        mg.load(path)


def test_tensors_of_dtypes_numpy_lacks_are_refused(tmp_path):
    body = b'{"w":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}'
    (tmp_path / "c.safetensors").write_bytes(len(body).to_bytes(8, "little") + body + bytes(4))
    with pytest.raises(CheckpointError, match="'w' has dtype BF16"):
        mg.load(tmp_path / "c.safetensors")


# ---- .npz checkpoints of the earlier format ----
class _Trap:
    """Unpickling this creates the marker file: a test can see whether anything unpickled it."""

    def __init__(self, marker):
        self.marker = pathlib.Path(marker)

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


def test_npz_checkpoints_are_refused_with_what_to_do(tmp_path):
    np.savez(tmp_path / "old.npz", array_0=np.zeros(3), minigan_manifest=np.frombuffer(b"{}", np.uint8))
    with pytest.raises(CheckpointError, match=rf"old\.npz.*{EARLIER_FORMAT}.*minigan version that wrote it"):
        mg.load(tmp_path / "old.npz")


def test_an_npz_bomb_is_refused_unread(tmp_path):
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive, archive.open("array_0.npy", "w") as entry:
        block = bytes(1 << 20)
        for _ in range(256):  # 256 MiB of zeros, a few hundred kB on disk
            entry.write(block)
    assert path.stat().st_size < 1 << 20
    assert peak_allocated(mg.load, path) < 1 << 20
    with pytest.raises(CheckpointError, match=EARLIER_FORMAT):
        mg.load(path)


def test_an_npz_carrying_a_pickle_is_refused_and_never_unpickled(tmp_path):
    marker = tmp_path / "unpickled"
    np.savez(tmp_path / "evil.npz", array_0=np.array([_Trap(marker)], dtype=object))
    with pytest.raises(CheckpointError, match=rf"evil\.npz.*{EARLIER_FORMAT}"):
        mg.load(tmp_path / "evil.npz")
    assert not marker.exists(), "load unpickled the file"
    with np.load(tmp_path / "evil.npz", allow_pickle=True) as npz:
        npz["array_0"]
    assert marker.exists(), "the trap does not fire when unpickled, so the test proves nothing"


# ---- falling back to the newest intact checkpoint ----
def test_read_newest_intact_skips_the_broken_newer_ones(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint under"):
        read_newest_intact(tmp_path)
    for step in (1, 2, 3, 4):
        write_checkpoint(tmp_path, step, {"x": np.full(100, step)}, keep=0)
    data = checkpoint_path(tmp_path, 4).read_bytes()
    checkpoint_path(tmp_path, 4).write_bytes(data[:len(data) // 2])
    mg.save({"not": "training"}, checkpoint_path(tmp_path, 3))
    path, state, broken = read_newest_intact(tmp_path)
    assert path == checkpoint_path(tmp_path, 2) and state["step"] == 2 and state["x"][0] == 2
    assert [p for p, _ in broken] == [checkpoint_path(tmp_path, 4), checkpoint_path(tmp_path, 3)]
    assert "truncated or corrupt" in broken[0][1] and "not a minigan training checkpoint" in broken[1][1]
    assert all("\n" not in reason and str(p) not in reason for p, reason in broken)
    for step in (1, 2):
        checkpoint_path(tmp_path, step).write_bytes(b"garbage!")
    with pytest.raises(CheckpointError, match="none of its 4 checkpoints reads: step_0000004.*step_0000001"):
        read_newest_intact(tmp_path)


# ---- a model larger than the file: checked and built within the weights it holds ----
def tiny_checkpoint(path, **meta) -> pathlib.Path:
    """A training checkpoint of a small DCGAN (about 60k weights) whose metadata is updated with meta."""
    gan = build("dcgan", (1, 28, 28), width=0.125)
    meta = {"model": "dcgan", "options": {"width": 0.125}, "sample_shape": [1, 28, 28], "num_classes": 0,
            "data": {"name": "digits", "split": "auto", "color": False, "seed": 0}} | meta
    mg.save({"format": "minigan-training", "meta": meta, "step": 1, "ema": None,
             "modules": {name: m.state_dict() for name, m in gan.networks().items()}}, path)
    return pathlib.Path(path)


@pytest.mark.parametrize("meta, problem", [
    ({"model": "dcgan128"}, "model 'dcgan128' is not one of"),
    ({"model": ["dcgan"]}, "model \\['dcgan'\\] is not one of"),
    ({"options": {"width": 0.125, "nz": 200000}}, "dcgan: nz must be an integer from 1 to 4096, got 200000"),
    ({"options": {"width": float("nan")}}, "width must be a number above 0 and at most 8, got nan"),
    ({"options": {"width": 0.125, "nz": True}}, "nz must be an integer"),
    ({"options": {"width": "0.125"}}, "width must be a number"),
    ({"options": [1]}, "options \\[1\\] is not a dict"),
    ({"sample_shape": [2, 28, 28]}, "sample_shape must be"),
    ({"sample_shape": [1, 28, 100000]}, "sample_shape must be"),
    ({"sample_shape": [True]}, "sample_shape must be"),
    ({"num_classes": 10**6}, "num_classes must be an integer from 0 to 1000"),
    ({"options": {"width": 8.0}}, "the model needs more than"),
    ({"options": {"width": 0.0625}}, "size mismatch for 0.weight"),
])
def test_load_gan_checks_the_metadata_before_building(tmp_path, meta, problem):
    path = tiny_checkpoint(tmp_path / "c.safetensors", **meta)
    with pytest.raises(CheckpointError, match=rf"c\.safetensors': .*{problem}") as info:
        load_gan(path)
    assert "\n" not in str(info.value)


_PEAK = """
import resource, subprocess, sys
child = subprocess.run(sys.argv[1:], capture_output=True, text=True)
sys.stderr.write(child.stderr)
print(child.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def sample(path, out) -> tuple[int, float, str]:
    """`minigan sample path` in a child: its exit status, its peak resident memory in MB, and its stderr."""
    command = [sys.executable, "-c", "from minigan.commands import main; main()", "sample", str(path), "--out",
               str(out)]
    done = subprocess.run([sys.executable, "-c", _PEAK, *command], capture_output=True, text=True, timeout=600,
                          check=False)
    status, kilobytes = map(int, done.stdout.split())
    return status, kilobytes / 1024, done.stderr


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in kilobytes on Linux")
def test_sample_refuses_a_model_larger_than_its_file_in_one_line_and_little_memory(tmp_path):
    status, baseline, err = sample(tiny_checkpoint(tmp_path / "good.safetensors"), tmp_path / "good.png")
    assert status == 0 and (tmp_path / "good.png").exists(), err
    # nz = 200000 is out of range; width 8 and nz 4096 are in range, but G's first layer alone would take 1 GiB
    for options in ({"width": 0.125, "nz": 200000}, {"width": 8.0, "nz": 4096}):
        path = tiny_checkpoint(tmp_path / "big.safetensors", options=options)
        assert path.stat().st_size < 1 << 20
        status, peak, err = sample(path, tmp_path / "big.png")
        assert status == 2 and len(err.strip().splitlines()) == 1 and "big.safetensors" in err, err
        assert peak < max(600, baseline + 100), (options, peak, baseline)
        assert not (tmp_path / "big.png").exists()
