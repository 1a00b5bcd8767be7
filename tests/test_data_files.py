"""minigan.data on files: MNIST IDX (the real test split where present, and crafted broken files), CIFAR-10
batches (small synthetic ones, and a malicious pickle), and the download helper (from local files only)."""

import gzip
import hashlib
import io
import os
import pickle
import tarfile
import tracemalloc
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from minigan import data
from minigan.data import downloads as download_module
from minigan.data import idx
from minigan.data.cifar import UnsafePickleError
from minigan.data.dataset import DatasetFormatError

MNIST_DIR = Path(os.environ.get("MINIGAN_MNIST", Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"))
MNIST_LABEL_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
needs_mnist = pytest.mark.skipif(not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists(),
                                 reason=f"the MNIST test split is not in {MNIST_DIR} (set MINIGAN_MNIST)")


# ---- IDX files written by the tests ----
def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx_set(folder: Path, images: np.ndarray, labels: np.ndarray, prefix: str = "t10k",
                  gz: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for kind, array, magic in (("images-idx3", images, 2051), ("labels-idx1", labels, 2049)):
        raw = idx_bytes(array, magic)
        name = f"{prefix}-{kind}-ubyte"
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)


@pytest.fixture
def small_idx():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (6, 28, 28)).astype(np.uint8), np.array([0, 1, 2, 3, 9, 5], np.uint8)


@pytest.mark.parametrize("gz", [True, False])
def test_idx_round_trip(tmp_path, small_idx, gz):
    images, labels = small_idx
    images[0, 0, 0], images[0, 0, 1] = 0, 255
    write_idx_set(tmp_path, images, labels, prefix="train", gz=gz)
    ds = data.load("mnist", tmp_path)  # 'auto' finds the training split: no warning
    assert ds.x.shape == (6, 1, 28, 28) and ds.x.dtype == np.float32 and ds.num_classes == 10
    np.testing.assert_allclose(ds.x[:, 0], images / 127.5 - 1, atol=1e-6)
    assert ds.x[0, 0, 0, 0] == -1 and ds.x[0, 0, 0, 1] == 1
    np.testing.assert_array_equal(ds.y, labels)
    assert ds.y.dtype == np.int64
    fashion = data.load("fashion-mnist", tmp_path, split="train", n=4)
    assert fashion.name == "fashion-mnist" and len(fashion) == 4
    np.testing.assert_array_equal(fashion.y, labels[:4])


def test_idx_size_32_and_color(tmp_path, small_idx):
    write_idx_set(tmp_path, *small_idx)
    plain = data.load("mnist", tmp_path, split="test")
    padded = data.load("mnist", tmp_path, split="test", size=32)
    assert padded.x.shape == (6, 1, 32, 32)
    np.testing.assert_array_equal(padded.x[:, :, 2:30, 2:30], plain.x)
    assert np.all(padded.x[:, :, :2] == -1) and np.all(padded.x[:, :, :, 30:] == -1)
    rgb = data.load("mnist", tmp_path, split="test", size=32, color=True)
    assert rgb.x.shape == (6, 3, 32, 32)
    for c in range(3):
        np.testing.assert_array_equal(rgb.x[:, c], padded.x[:, 0])
    with pytest.raises(ValueError, match="size"):
        data.load("mnist", tmp_path, split="test", size=30)


def test_idx_missing_folder_and_files(tmp_path, small_idx):
    with pytest.raises(FileNotFoundError, match="data_dir"):
        data.load("mnist")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.load("mnist", tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError) as info:
        data.load("mnist", tmp_path)
    assert "train-images-idx3-ubyte or train-images-idx3-ubyte.gz" in str(info.value)
    assert "train-labels-idx1-ubyte" in str(info.value)
    write_idx_set(tmp_path, *small_idx)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte") as info:
        data.load("mnist", tmp_path, split="test")
    assert "t10k-images" not in str(info.value)  # only what is missing is listed


def test_idx_truncated(tmp_path, small_idx):
    images, labels = small_idx
    write_idx_set(tmp_path, images, labels)
    raw = idx_bytes(images, 2051)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(raw[:-100]))
    with pytest.raises(DatasetFormatError, match=r"t10k-images-idx3-ubyte.gz: truncated.*\(6, 28, 28\)"):
        data.load("mnist", tmp_path, split="test")
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(raw[:10]))
    with pytest.raises(DatasetFormatError, match="truncated"):
        data.load("mnist", tmp_path, split="test")
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(raw + b"extra"))
    with pytest.raises(DatasetFormatError, match="longer than its header"):
        data.load("mnist", tmp_path, split="test")


def test_idx_wrong_magic(tmp_path, small_idx):
    images, labels = small_idx
    write_idx_set(tmp_path, images, labels)
    # the labels file where the images file belongs
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels, 2049)))
    with pytest.raises(DatasetFormatError, match=r"t10k-images-idx3-ubyte.gz: wrong magic number 2049.*2051"):
        data.load("mnist", tmp_path, split="test")


def test_idx_count_mismatch(tmp_path, small_idx):
    images, labels = small_idx
    write_idx_set(tmp_path, images, labels[:5])
    with pytest.raises(DatasetFormatError, match="6 images but .* 5 labels"):
        data.load("mnist", tmp_path, split="test")


def test_idx_bad_labels(tmp_path, small_idx):
    images, labels = small_idx
    labels[2] = 10
    write_idx_set(tmp_path, images, labels)
    with pytest.raises(DatasetFormatError, match="label 10"):
        data.load("mnist", tmp_path, split="test")


def test_idx_bad_gzip(tmp_path, small_idx):
    write_idx_set(tmp_path, *small_idx)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    good = path.read_bytes()
    path.write_bytes(good[:len(good) // 2])  # a cut-off download
    with pytest.raises(DatasetFormatError, match="t10k-images-idx3-ubyte.gz: not a valid gzip file"):
        data.load("mnist", tmp_path, split="test")
    path.write_bytes(b"\x1f\x8b" + bytes(range(200)))  # gzip's magic, then garbage
    with pytest.raises(DatasetFormatError, match="gzip"):
        data.load("mnist", tmp_path, split="test")


# ---- the real MNIST test split ----
@needs_mnist
def test_mnist_test_split():
    with pytest.warns(UserWarning, match="test split") as record:
        ds = data.load("mnist", MNIST_DIR)
    assert record[0].filename == __file__  # the warning points at the caller
    assert ds.x.shape == (10000, 1, 28, 28) and ds.x.dtype == np.float32
    assert ds.x.min() == -1 and ds.x.max() == 1
    np.testing.assert_array_equal(np.bincount(ds.y, minlength=10), MNIST_LABEL_COUNTS)
    assert abs(float(((ds.x.astype(np.float64) + 1) * 127.5).mean()) - 33.79) < 0.01
    padded = data.load("mnist", MNIST_DIR, split="test", size=32)
    assert padded.x.shape == (10000, 1, 32, 32) and padded.x.min() >= -1 and padded.x.max() <= 1
    np.testing.assert_array_equal(padded.x[:, :, 2:30, 2:30], ds.x)
    assert np.all(padded.x[:, :, :2] == -1) and np.all(padded.x[:, :, 30:] == -1)
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        data.load("mnist", MNIST_DIR, split="train")


# ---- CIFAR-10 batches written by the tests ----
def cifar_batch(images: np.ndarray, labels: list) -> dict:
    """A batch laid out as CIFAR-10's: bytes keys, (N, 3072) uint8 rows, labels as a list of ints."""
    return {b"batch_label": b"synthetic batch", b"labels": list(labels),
            b"data": images.reshape(len(images), 3072), b"filenames": [b"x.png"] * len(images)}


def write_cifar(folder: Path, per_batch: int = 3, test: bool = True, train: bool = True) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    written = {}
    names = ([f"data_batch_{i}" for i in range(1, 6)] if train else []) + (["test_batch"] if test else [])
    for name in names:
        images = rng.integers(0, 256, (per_batch, 3, 32, 32)).astype(np.uint8)
        labels = rng.integers(0, 10, per_batch).tolist()
        with open(folder / name, "wb") as f:
            pickle.dump(cifar_batch(images, labels), f, protocol=2)
        written[name] = (images, labels)
    return written


def test_cifar_batches(tmp_path):
    written = write_cifar(tmp_path / "cifar-10-batches-py")
    ds = data.load("cifar10", tmp_path)
    assert ds.name == "cifar10" and ds.x.shape == (15, 3, 32, 32) and ds.x.dtype == np.float32
    assert ds.num_classes == 10 and ds.y.dtype == np.int64
    images = np.concatenate([written[f"data_batch_{i}"][0] for i in range(1, 6)])
    labels = [v for i in range(1, 6) for v in written[f"data_batch_{i}"][1]]
    np.testing.assert_allclose(ds.x, images / 127.5 - 1, atol=1e-6)
    np.testing.assert_array_equal(ds.y, labels)
    test = data.load("cifar10", tmp_path / "cifar-10-batches-py", split="test")
    np.testing.assert_array_equal(test.y, written["test_batch"][1])
    assert len(data.load("cifar10", tmp_path, n=4)) == 4


def test_cifar_channel_layout(tmp_path):
    """Each row of 'data' is the red plane, then green, then blue: they become channels 0, 1, 2."""
    row = np.concatenate([np.zeros(1024), np.full(1024, 255), np.arange(1024) % 256]).astype(np.uint8)
    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump(cifar_batch(row[None], [7]), f, protocol=2)
    with pytest.warns(UserWarning, match="test batch"):
        ds = data.load("cifar10", tmp_path)
    assert np.all(ds.x[0, 0] == -1) and np.all(ds.x[0, 1] == 1)
    np.testing.assert_allclose(ds.x[0, 2, 0, :5], np.arange(5) / 127.5 - 1, atol=1e-6)  # row-major planes
    assert ds.y.tolist() == [7]


class _WritesAFile:
    """Unpickling this calls open(path, 'w'): it creates a file, as a malicious pickle would run code."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_cifar_refuses_malicious_pickle(tmp_path):
    payload = pickle.dumps({b"data": _WritesAFile(tmp_path / "marker"), b"labels": []}, protocol=2)
    pickle.loads(pickle.dumps(_WritesAFile(tmp_path / "proof"), protocol=2)).close()
    assert (tmp_path / "proof").exists()  # the payload does what it says with a plain unpickler
    (tmp_path / "test_batch").write_bytes(payload)
    with pytest.raises(UnsafePickleError, match=r"test_batch: refusing to unpickle.*asks for io\.open"):
        data.load("cifar10", tmp_path, split="test")
    assert not (tmp_path / "marker").exists()


def test_cifar_format_errors(tmp_path):
    write_cifar(tmp_path, train=False)
    good = (tmp_path / "test_batch").read_bytes()
    (tmp_path / "test_batch").write_bytes(good[:len(good) // 2])
    with pytest.raises(DatasetFormatError, match="test_batch: not a readable CIFAR-10 batch"):
        data.load("cifar10", tmp_path, split="test")
    (tmp_path / "test_batch").write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.float32),
                                                        b"labels": [0, 1]}, protocol=2))
    with pytest.raises(DatasetFormatError, match="uint8 array of shape"):
        data.load("cifar10", tmp_path, split="test")
    (tmp_path / "test_batch").write_bytes(pickle.dumps(cifar_batch(np.zeros((2, 3072), np.uint8), [0]), protocol=2))
    with pytest.raises(DatasetFormatError, match="2 images but 1 labels"):
        data.load("cifar10", tmp_path, split="test")
    with pytest.raises(FileNotFoundError, match="data_batch_1"):
        data.load("cifar10", tmp_path, split="train")
    with pytest.raises(ValueError, match="32"):
        data.load("cifar10", tmp_path, size=28)


# ---- download, from local files only ----
@pytest.fixture
def served(tmp_path, monkeypatch):
    """Serve files from a local folder through file:// URLs in place of a data set's mirrors."""
    served_dir = tmp_path / "served"
    served_dir.mkdir()

    def serve(name: str, files: dict, mirrors=None, digests=None):
        for file_name, content in files.items():
            (served_dir / file_name).write_bytes(content)
        digests = digests or {f: hashlib.sha256(c).hexdigest() for f, c in files.items()}
        mirrors = mirrors or (served_dir.as_uri() + "/",)
        monkeypatch.setitem(download_module.SOURCES, name, download_module.Source(tuple(mirrors), digests))
        return served_dir

    return serve


def test_download_verifies_and_writes(tmp_path, served, small_idx):
    files = {"t10k-images-idx3-ubyte.gz": gzip.compress(idx_bytes(small_idx[0], 2051)),
             "t10k-labels-idx1-ubyte.gz": gzip.compress(idx_bytes(small_idx[1], 2049))}
    served("mnist", files)
    target = tmp_path / "mnist"
    paths = data.download("mnist", target, verbose=False)
    assert sorted(Path(p).name for p in paths) == sorted(files)
    for name, content in files.items():
        assert (target / name).read_bytes() == content
    with pytest.warns(UserWarning, match="test split"):
        assert len(data.load("mnist", target)) == 6


def test_download_keeps_verified_files(tmp_path, served, monkeypatch):
    served("mnist", {"a.gz": b"content"})
    data.download("mnist", tmp_path / "d", verbose=False)

    def no_network(*args, **kwargs):
        raise AssertionError("downloaded a file that was already there and verified")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    data.download("mnist", tmp_path / "d", verbose=False)


def test_download_bad_checksum_deletes_and_raises(tmp_path, served):
    served("fashion-mnist", {"a.gz": b"tampered"}, digests={"a.gz": hashlib.sha256(b"original").hexdigest()})
    target = tmp_path / "d"
    with pytest.raises(data.ChecksumError, match="SHA-256"):
        data.download("fashion-mnist", target, verbose=False)
    assert os.listdir(target) == []  # neither the file nor a temporary file is left


def test_download_tries_the_next_mirror(tmp_path, served):
    served_dir = served("mnist", {"a.gz": b"payload"})
    missing = (tmp_path / "no-such-mirror").as_uri() + "/"
    served("mnist", {"a.gz": b"payload"}, mirrors=(missing, served_dir.as_uri() + "/"))
    data.download("mnist", tmp_path / "d", verbose=False)
    assert (tmp_path / "d" / "a.gz").read_bytes() == b"payload"
    served("mnist", {"a.gz": b"payload"}, mirrors=(missing,))
    with pytest.raises(data.DownloadError, match="a.gz"):
        data.download("mnist", tmp_path / "e", verbose=False)


def test_download_unknown_name():
    with pytest.raises(ValueError, match="mnist, fashion-mnist, cifar10"):
        data.download("digits", "unused")


def test_download_cifar_unpacks_only_batches(tmp_path, served):
    batches = write_cifar(tmp_path / "src" / "cifar-10-batches-py", per_batch=2)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in list(batches) + ["batches.meta"]:
            path = tmp_path / "src" / "cifar-10-batches-py" / name
            if name == "batches.meta":
                path.write_bytes(pickle.dumps({b"label_names": [b"airplane"]}, protocol=2))
            tar.add(path, arcname=f"cifar-10-batches-py/{name}")
        evil = tarfile.TarInfo("../escaped")
        evil.size = 4
        tar.addfile(evil, io.BytesIO(b"evil"))
    served("cifar10", {"cifar-10-python.tar.gz": buffer.getvalue()})
    target = tmp_path / "target"
    data.download("cifar10", target, verbose=False)
    assert sorted(os.listdir(target / "cifar-10-batches-py")) == sorted(list(batches) + ["batches.meta"])
    assert not (tmp_path / "escaped").exists()
    ds = data.load("cifar10", target)
    assert ds.x.shape == (10, 3, 32, 32)


# ---- crafted IDX headers and gzip bombs ----
def test_idx_header_whose_size_overflows_int64_is_refused(tmp_path, small_idx):
    write_idx_set(tmp_path, *small_idx, gz=False)
    # 2**22 * 2**21 * 2**21 = 2**64 bytes of values: 0 in int64 arithmetic, which a 16-byte file would match
    header = (2051).to_bytes(4, "big") + b"".join((2**k).to_bytes(4, "big") for k in (22, 21, 21))
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(header)
    with pytest.raises(DatasetFormatError, match=r"t10k-images-idx3-ubyte: the header says shape \(4194304, "
                                                 r"2097152, 2097152\), i\.e\. 18446744073709551616 bytes"):
        data.load("mnist", tmp_path, split="test")
    header = (2051).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in (1000, 28, 28))
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(header + bytes(100))
    with pytest.raises(DatasetFormatError, match="truncated: the header says shape \\(1000, 28, 28\\)"):
        data.load("mnist", tmp_path, split="test")


def gzip_bomb(path: Path, header: bytes, zeros: int) -> None:
    """A gzip file of header then `zeros` zero bytes, written a block at a time (a few hundred kB on disk)."""
    with gzip.open(path, "wb") as f:
        f.write(header)
        block = bytes(1 << 20)
        for start in range(0, zeros, len(block)):
            f.write(block[:zeros - start])


def test_a_gzip_bomb_is_decompressed_no_further_than_its_header_says(tmp_path, small_idx):
    write_idx_set(tmp_path, *small_idx)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    header = (2051).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in (6, 28, 28))
    gzip_bomb(path, header, 256 << 20)  # 256 MiB of values where the header declares 4704 bytes
    assert path.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(DatasetFormatError, match="longer than its header says"):
            data.load("mnist", tmp_path, split="test")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, peak
    too_big = (2051).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in (400_000, 28, 28))
    gzip_bomb(path, too_big, 1 << 20)
    with pytest.raises(DatasetFormatError, match=f"more than the {idx.MAX_BYTES}"):
        data.load("mnist", tmp_path, split="test")


# ---- the published checksums, against the real files ----
def mnist_test_source(mirror: str) -> download_module.Source:
    """SOURCES['mnist'] restricted to the test split (the only one here), served from mirror."""
    real = download_module.SOURCES["mnist"]
    names = [name for name in real.files if name.startswith("t10k")]
    return download_module.Source((mirror,), {n: real.files[n] for n in names}, {n: real.contents[n] for n in names})


@needs_mnist
def test_the_real_test_split_matches_the_content_checksums(tmp_path, monkeypatch):
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        content = gzip.decompress((MNIST_DIR / name).read_bytes())
        assert hashlib.sha256(content).hexdigest() == download_module.SOURCES["mnist"].contents[name]
        assert download_module.content_sha256_of(str(MNIST_DIR / name)) == hashlib.sha256(content).hexdigest()
        (tmp_path / name).write_bytes((MNIST_DIR / name).read_bytes())

    def no_network(*args, **kwargs):
        raise AssertionError("downloaded a file that was already there and correct")

    monkeypatch.setitem(download_module.SOURCES, "mnist", mnist_test_source("https://unused.invalid/"))
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    data.download("mnist", tmp_path, verbose=False)  # this mirror's gzip headers differ, the content does not


@needs_mnist
def test_a_mirror_that_gzips_differently_is_accepted_and_altered_content_is_not(tmp_path, monkeypatch):
    served_dir = tmp_path / "served"
    served_dir.mkdir()
    regzipped = {}
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        content = gzip.decompress((MNIST_DIR / name).read_bytes())
        regzipped[name] = gzip.compress(content, compresslevel=6, mtime=0)
        assert regzipped[name] != (MNIST_DIR / name).read_bytes()
        (served_dir / name).write_bytes(regzipped[name])
    monkeypatch.setitem(download_module.SOURCES, "mnist", mnist_test_source(served_dir.as_uri() + "/"))
    data.download("mnist", tmp_path / "copy", verbose=False)
    for name, content in regzipped.items():
        assert (tmp_path / "copy" / name).read_bytes() == content
    assert len(data.load("mnist", tmp_path / "copy", split="test")) == 10000

    labels = bytearray(gzip.decompress(regzipped["t10k-labels-idx1-ubyte.gz"]))
    labels[100] = (labels[100] + 1) % 10
    (served_dir / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes(labels), mtime=0))
    with pytest.raises(data.ChecksumError, match="decompressed content"):
        data.download("mnist", tmp_path / "other", verbose=False)
    assert not (tmp_path / "other" / "t10k-labels-idx1-ubyte.gz").exists()
