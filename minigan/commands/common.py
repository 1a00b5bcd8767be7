"""What every `minigan` subcommand shares: a parser whose errors are one line, and the one way to fail.

A user's mistake (a bad flag, a missing file, a file that is not what it claims) ends the command with one line
on stderr, `minigan COMMAND: error: ...`, and exit status 2: never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def fail(prog: str, message: str) -> NoReturn:
    """End the command: `prog: error: message` on stderr, exit status 2."""
    sys.stderr.write(f"{prog}: error: {message}\n")
    raise SystemExit(2)


def check_at_least(prog: str, flags: dict[str, tuple[int, int]]) -> None:
    """Fail naming the first flag whose value is below its least: flags maps '--name' to (value, least)."""
    for name, (value, least) in flags.items():
        if value is not None and value < least:
            fail(prog, f"{name} must be at least {least}, got {value}")
