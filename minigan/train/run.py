"""A run folder: the one place where one training run keeps its log, pictures and checkpoints.

The rules it keeps: a folder belongs to one run (a new run refuses a folder that holds another one, unless told
to move the old run aside); one process at a time (an exclusive lock on `<out>/.lock`, which the system releases
when the holder exits or dies, so a lock is never stale); no symbolic link inside is ever followed (a link where
minigan writes is refused); the log is appended line by line, synced to disk before each checkpoint is published,
and rewritten only atomically; temporary files left by a killed writer are removed when the next run starts.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from pathlib import Path

from minigan.files import remove_stale_temporaries, write_text

LOG = "log.jsonl"
_LOCK = ".lock"
_ENTRIES = (LOG, "losses.png", "checkpoints", "samples")  # what a run writes at the top of its folder


class RunFolderError(ValueError):
    """The folder cannot be used for this run (another run holds it, it is a file, it holds a link, ...)."""


class RunExistsError(RunFolderError):
    """The folder already holds a run, and this one neither resumes it nor replaces it."""


def say(message: str) -> None:
    """One line for the person watching, on stderr (stdout stays for results)."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


class RunFolder:
    """The folder `path` of one run; claim() before writing anything there."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._lock: int | None = None

    # ---- claiming ----
    def claim(self) -> None:
        """Create the folder if needed, take its lock, refuse links inside it, remove stale temporary files.

        Raises RunFolderError naming the folder when it is a file, cannot be written, is held by another running
        process, or holds a symbolic link where a run writes."""
        if self._lock is not None:
            return
        path = self.path
        if path.exists() and not path.is_dir():
            raise RunFolderError(f"{path} is a file, not a folder")
        try:
            path.mkdir(parents=True, exist_ok=True)
            fd = os.open(path / _LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as error:
            raise RunFolderError(f"cannot write to {path}: {error.strerror or error}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise RunFolderError(f"{path} is in use by a training run now (process {holder}); wait for it to end "
                                 "or train into another folder") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock = fd
        try:
            self._refuse_links()
            for folder in (path, path / "checkpoints", path / "samples"):
                if folder.is_dir() and (removed := remove_stale_temporaries(folder)):
                    say(f"{folder}: removed {removed} temporary file(s) left by an interrupted write")
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """Give the lock back (the system also does it when the process ends)."""
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def _refuse_links(self) -> None:
        for name in _ENTRIES:
            entry = self.path / name
            inside = list(entry.iterdir()) if entry.is_dir() and not entry.is_symlink() else []
            for item in (entry, *inside):
                if item.is_symlink():
                    raise RunFolderError(f"{item} is a symbolic link: minigan follows no link inside a run folder "
                                         "(a link would send what the run writes elsewhere); remove it")

    # ---- the old run ----
    def holds_a_run(self) -> bool:
        """Whether a run has written here (its log, a picture or a checkpoint)."""
        return any((self.path / name).exists() for name in _ENTRIES)

    def move_aside(self) -> Path:
        """Move the old run's files into a new sibling folder `<out>.replaced-<date>-<time>`; its path."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.replaced-{stamp}")
        suffix = 1
        while aside.exists():
            suffix += 1
            aside = self.path.with_name(f"{self.path.name}.replaced-{stamp}-{suffix}")
        aside.mkdir()
        for name in _ENTRIES:
            if (self.path / name).exists():
                os.rename(self.path / name, aside / name)
        return aside

    # ---- the log ----
    def open_log(self):
        """The log, opened to append (never through a link)."""
        fd = os.open(self.path / LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        return os.fdopen(fd, "a", encoding="utf-8")

    def trim_log(self, step: int) -> None:
        """Keep the log's records up to `step` (a resumed run continues after it), rewriting it atomically;
        lines that do not read as records (a partial last line left by a kill or a full disk) are dropped, and
        said so once."""
        path = self.path / LOG
        if not path.exists():
            return
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
        kept, unreadable = [], 0
        for line in lines:
            try:
                record = json.loads(line)
                if record["step"] <= step:
                    kept.append(line)
            except (ValueError, TypeError, KeyError):
                unreadable += 1
        if unreadable:
            say(f"{path}: dropped {unreadable} unreadable line(s) (a write cut short)")
        write_text(path, "".join(line + "\n" for line in kept))
