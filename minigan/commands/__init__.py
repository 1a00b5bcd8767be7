"""The `minigan` command: one subcommand per module here (train, sample, eval, experiment, bench).

The commands use the library; the library never imports them. Each subcommand module has `main(argv)` and
parses with commands.common.Parser, so that every user error is one line on stderr and exit status 2.
"""

from __future__ import annotations

import importlib
import sys
import warnings

from minigan.commands.common import Parser

DESCRIPTION = "minigan: generative adversarial networks on a from-scratch array framework"
SUBCOMMANDS = {  # name: (module, one line of help)
    "train": ("train", "train a GAN (minigan train --help)"),
    "sample": ("sample", "draw samples from a checkpoint (minigan sample --help)"),
    "eval": ("evaluate", "score a checkpoint's samples (minigan eval --help)"),
    "experiment": ("experiment", "reproduce a published claim, writing a PNG and a JSON (minigan experiment --help)"),
    "bench": ("bench", "time minigan against PyTorch: 'bench ops' (each operator) or 'bench step' (a training step)"),
}


def _warning_line(message, category, filename, lineno, line=None) -> str:
    """Warnings on the command line as one plain line, without the source location."""
    return f"minigan: warning: {message}\n"


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    warnings.formatwarning = _warning_line
    parser = Parser(prog="minigan", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (_, text) in SUBCOMMANDS.items():
        commands.add_parser(name, add_help=False, help=text)
    args = parser.parse_args(argv[:1])
    try:
        importlib.import_module(f"minigan.commands.{SUBCOMMANDS[args.command][0]}").main(argv[1:])
    except KeyboardInterrupt:
        sys.stderr.write(f"minigan {args.command}: interrupted\n")
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
