"""What every `minigan` subcommand shares: a parser whose errors are one line, and the one way to fail.

A user's mistake (a bad flag, a missing file, a file that is not what it claims) ends the command with one line
on stderr, `minigan COMMAND: error: ...`, and exit status 2: never a traceback.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from typing import NoReturn


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def fail(prog: str, message: str) -> NoReturn:
    """End the command: `prog: error: message` on stderr, exit status 2."""
    sys.stderr.write(f"{prog}: error: {message}\n")
    raise SystemExit(2)


def bounded(kind: type, least: float | None = None, most: float | None = None, *, above: float | None = None,
            below: float | None = None) -> Callable[[str], int | float]:
    """An argparse type: the flag's text read as kind (int or float) and checked against its range (least and
    most inclusive, above and below exclusive); anything else, NaN included, fails the parser with one line
    naming the flag and the range."""
    if least is not None and most is not None:
        limits = [f"from {least} to {most}"]
    else:
        limits = [f"at least {least}" if least is not None else "", f"at most {most}" if most is not None else ""]
    limits += [f"above {above}" if above is not None else "", f"below {below}" if below is not None else ""]
    wanted = f"{'an integer' if kind is int else 'a number'} {' and '.join(limit for limit in limits if limit)}"

    def read(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and (least is None or value >= least) and (most is None or value <= most)
                and (above is None or value > above) and (below is None or value < below)):
            raise argparse.ArgumentTypeError(f"must be {wanted.strip()}, got {text!r}")
        return value

    read.__name__ = kind.__name__
    return read


def nonempty(value: str) -> str:
    """An argparse type for a path that must not be empty (an empty --out would silently mean the default)."""
    if not value.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return value
