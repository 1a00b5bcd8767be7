"""`minigan experiment NAME`: reproduce a published claim about GANs, writing a PNG and a JSON record."""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

from minigan.commands.common import Parser, bounded, fail, nonempty
from minigan.experiments import EXPERIMENTS

PROG = "minigan experiment"


def parser() -> Parser:
    p = Parser(prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter,
               description="Run one experiment and record its numbers with the command line that produced them.\n\n"
                           + "\n".join(f"  {name:14s} {e.claim}" for name, e in EXPERIMENTS.items()))
    p.add_argument("name", metavar="NAME", choices=list(EXPERIMENTS), help="which experiment: " + ", ".join(EXPERIMENTS))
    p.add_argument("--out", type=nonempty, default="docs/experiments", help="folder for the PNG and JSON (default: %(default)s)")
    p.add_argument("--quick", action="store_true", help="a small version of the protocol (seconds, not minutes)")
    p.add_argument("--seed", type=bounded(int, 0, 2**32 - 1), default=0, help="random seed (default: 0)")
    p.add_argument("--data-dir", help="folder with MNIST's IDX files, for "
                   + " and ".join(n for n, e in EXPERIMENTS.items() if e.digits)
                   + " (default: the built-in rendered digits)")
    return p


def main(argv: list[str]) -> None:
    args = parser().parse_args(argv)
    from minigan.experiments.runner import run

    try:
        record = run(args.name, args.out, args.quick, args.seed, args.data_dir,
                     command=shlex.join(["minigan", "experiment", *argv]))
    except (ValueError, OSError) as error:
        fail(PROG, str(error))
    print(json.dumps(record["results"], indent=2))
    print(f"wrote {Path(args.out) / (args.name + '.png')} and {Path(args.out) / (args.name + '.json')}")
