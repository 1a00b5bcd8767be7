"""Download MNIST, Fashion-MNIST and CIFAR-10 into a folder that minigan.data.load reads, checking SHA-256 sums.

Each file is streamed into a temporary file beside its target while its SHA-256 is computed; only a file whose
digest matches the one written below is renamed into place (os.replace, atomic), so an interrupted or corrupted
download never leaves a file that looks complete. A mismatch deletes the temporary file and raises. The
CIFAR-10 archive is then unpacked: only its batch files are taken out, each written atomically under
data_dir/cifar-10-batches-py, so no path inside the archive can point outside that folder.

The digests agree with those published for these files by several independent projects (torchvision's data
set definitions, Keras's CIFAR-10 loader, Chainer's Fashion-MNIST loader, among others).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import sys
import tarfile
import urllib.request
from dataclasses import dataclass

from minigan.data.cifar import SUBDIR, TEST_FILES, TRAIN_FILES


@dataclass(frozen=True)
class Source:
    """Where a data set's files come from: base URLs tried in order, and each file's name and SHA-256."""

    mirrors: tuple[str, ...]
    files: dict[str, str]


SOURCES: dict[str, Source] = {
    "mnist": Source(
        ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/"),
        {
            "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        },
    ),
    "fashion-mnist": Source(
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        {
            "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        },
    ),
    "cifar10": Source(
        ("https://www.cs.toronto.edu/~kriz/",),
        {"cifar-10-python.tar.gz": "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"},
    ),
}
_CHUNK = 1 << 20
_TIMEOUT = 60.0


class DownloadError(OSError):
    """No mirror delivered a file (network or file-system errors)."""


class ChecksumError(ValueError):
    """A downloaded file's SHA-256 is not the published one; the file has been deleted."""


def sha256_of(path: str) -> str:
    """The hex SHA-256 digest of a file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _temporary_path(path: str) -> str:
    directory, base = os.path.split(os.path.abspath(path))
    return os.path.join(directory, f".{base}.{os.getpid()}.{secrets.token_hex(4)}.part")


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _fetch(url: str, path: str, sha256: str) -> None:
    """Stream url to path through a temporary file; rename it into place only when its SHA-256 matches."""
    tmp = _temporary_path(path)
    try:
        digest = hashlib.sha256()
        with urllib.request.urlopen(url, timeout=_TIMEOUT) as response, open(tmp, "xb") as out:
            for block in iter(lambda: response.read(_CHUNK), b""):
                digest.update(block)
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != sha256:
            raise ChecksumError(f"{url}: SHA-256 {digest.hexdigest()} is not the expected {sha256}; the "
                                "download is corrupt or not the published file, and it has been deleted")
        os.replace(tmp, path)
    finally:
        _remove(tmp)


def _write_atomically(path: str, source) -> None:
    """Copy a readable binary stream into path through a temporary file and os.replace."""
    tmp = _temporary_path(path)
    try:
        with open(tmp, "xb") as out:
            shutil.copyfileobj(source, out, _CHUNK)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    finally:
        _remove(tmp)


def _extract_cifar(archive: str, data_dir: str) -> None:
    """Take the batch files (and batches.meta) out of the CIFAR-10 archive into data_dir/cifar-10-batches-py."""
    wanted = {f"{SUBDIR}/{name}" for name in TRAIN_FILES + TEST_FILES + ("batches.meta",)}
    target = os.path.join(data_dir, SUBDIR)
    os.makedirs(target, exist_ok=True)
    found = set()
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            if member.name in wanted and member.isfile():
                source = tar.extractfile(member)
                _write_atomically(os.path.join(target, os.path.basename(member.name)), source)
                found.add(member.name)
    missing = sorted(wanted - found)
    if missing:
        raise DownloadError(f"{archive}: the archive lacks {', '.join(missing)}")


def download(name: str, data_dir: str | os.PathLike, *, verbose: bool = True) -> list[str]:
    """Download a data set's files into data_dir (created if needed) and return their paths.

    Files already there with the right SHA-256 are kept. Each file is tried from each mirror in turn; a wrong
    digest deletes the download and raises ChecksumError (a ValueError) after the last mirror, network errors
    raise DownloadError (an OSError). For CIFAR-10 the batch files are unpacked into
    data_dir/cifar-10-batches-py. Afterwards minigan.data.load(name, data_dir) reads them.
    """
    if name not in SOURCES:
        raise ValueError(f"download: unknown data set {name!r}; downloadable: {', '.join(SOURCES)} "
                         "(ring8, grid25 and digits are generated and need no download)")
    data_dir = os.fspath(data_dir)
    os.makedirs(data_dir, exist_ok=True)
    source = SOURCES[name]
    paths = []
    for file_name, sha256 in source.files.items():
        path = os.path.join(data_dir, file_name)
        paths.append(path)
        if os.path.isfile(path) and sha256_of(path) == sha256:
            continue
        failures: list[Exception] = []
        for mirror in source.mirrors:
            url = mirror + file_name
            if verbose:
                print(f"downloading {url} -> {path}", file=sys.stderr)
            try:
                _fetch(url, path, sha256)
                break
            except (OSError, ValueError) as e:  # network, file system, checksum, or a malformed URL
                failures.append(e)
        else:
            summary = "; ".join(f"{type(e).__name__}: {e}" for e in failures)
            error = ChecksumError if any(isinstance(e, ChecksumError) for e in failures) else DownloadError
            raise error(f"download {name}: could not get {file_name} ({summary})")
    if name == "cifar10":
        _extract_cifar(paths[0], data_dir)
    return paths
