"""Download MNIST, Fashion-MNIST and CIFAR-10 into a folder that minigan.data.load reads, checking SHA-256 sums.

Each file is streamed into a temporary file beside its target while its SHA-256 is computed; only a file whose
digest matches one written below is renamed into place (os.replace, atomic), so an interrupted or corrupted
download never leaves a file that looks complete. A mismatch deletes the temporary file and raises. The
CIFAR-10 archive is then unpacked: only its batch files are taken out, each written atomically under
data_dir/cifar-10-batches-py, so no path inside the archive can point outside that folder.

A file passes when its SHA-256 is the published one, or when the SHA-256 of its decompressed content is the
one written below: mirrors compress the same content with different gzip headers (a name, a time), so the
content is what identifies a correct file from any mirror. The files' digests agree with those published by
several independent projects (torchvision's data set definitions, Keras's CIFAR-10 loader, Chainer's
Fashion-MNIST loader, among others); the content digests were computed from the decompressed files, and are
given for the files at hand when they were written (MNIST's test split).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import secrets
import shutil
import sys
import tarfile
import urllib.request
import zlib
from dataclasses import dataclass, field

from minigan.data.cifar import SUBDIR, TEST_FILES, TRAIN_FILES


@dataclass(frozen=True)
class Source:
    """Where a data set's files come from: base URLs tried in order, each file's name and published SHA-256, and
    where known the SHA-256 of its decompressed content."""

    mirrors: tuple[str, ...]
    files: dict[str, str]
    contents: dict[str, str] = field(default_factory=dict)


SOURCES: dict[str, Source] = {
    "mnist": Source(
        ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/"),
        {
            "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        },
        {
            "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
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
MAX_CONTENT = 1 << 30  # bytes of decompressed content hashed at most: more cannot be any of these files


class DownloadError(OSError):
    """No mirror delivered a file (network or file-system errors)."""


class ChecksumError(ValueError):
    """A downloaded file's SHA-256 (and its content's) is not the published one; the file has been deleted."""


def sha256_of(path: str) -> str:
    """The hex SHA-256 digest of a file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def content_sha256_of(path: str) -> str | None:
    """The hex SHA-256 digest of a gzipped file's decompressed content, computed in a stream; None when the file is
    not valid gzip or its content exceeds MAX_CONTENT bytes."""
    digest, size = hashlib.sha256(), 0
    try:
        with gzip.open(path, "rb") as f:
            for block in iter(lambda: f.read(_CHUNK), b""):
                size += len(block)
                if size > MAX_CONTENT:
                    return None
                digest.update(block)
    except (OSError, EOFError, zlib.error):
        return None
    return digest.hexdigest()


def _mismatch(path: str, name: str, source: Source, sha256: str | None = None) -> str | None:
    """Why the file at path is not the published `name` of source (None when it is): neither its SHA-256 (sha256,
    when already computed) nor, where known, that of its decompressed content matches."""
    sha256 = sha256 or sha256_of(path)
    if sha256 == source.files[name]:
        return None
    problem = f"SHA-256 {sha256} is not the expected {source.files[name]}"
    if name not in source.contents:
        return problem
    content = content_sha256_of(path)
    if content == source.contents[name]:
        return None
    return f"{problem}, and that of its decompressed content is {content}, not {source.contents[name]}"


def _temporary_path(path: str) -> str:
    directory, base = os.path.split(os.path.abspath(path))
    return os.path.join(directory, f".{base}.{os.getpid()}.{secrets.token_hex(4)}.part")


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _fetch(url: str, path: str, name: str, source: Source) -> None:
    """Stream url to path through a temporary file; rename it into place only when it is the published file."""
    tmp = _temporary_path(path)
    try:
        digest = hashlib.sha256()
        with urllib.request.urlopen(url, timeout=_TIMEOUT) as response, open(tmp, "xb") as out:
            for block in iter(lambda: response.read(_CHUNK), b""):
                digest.update(block)
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
        problem = _mismatch(tmp, name, source, digest.hexdigest())
        if problem is not None:
            raise ChecksumError(f"{url}: {problem}; the download is corrupt or not the published file, and it has "
                                "been deleted")
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

    Files already there with the right SHA-256 (of the file, or of its decompressed content) are kept. Each file
    is tried from each mirror in turn; a wrong digest deletes the download and raises ChecksumError (a ValueError) after the last mirror, network errors
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
    for file_name in source.files:
        path = os.path.join(data_dir, file_name)
        paths.append(path)
        if os.path.isfile(path) and _mismatch(path, file_name, source) is None:
            continue
        failures: list[Exception] = []
        for mirror in source.mirrors:
            url = mirror + file_name
            if verbose:
                print(f"downloading {url} -> {path}", file=sys.stderr)
            try:
                _fetch(url, path, file_name, source)
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
