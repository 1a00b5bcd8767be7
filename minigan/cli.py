"""The `minigan` command."""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="minigan", description="minigan: GANs on a from-scratch array framework")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    bench = commands.add_parser("bench", add_help=False,
                                help="time minigan against PyTorch: 'bench ops' (each heavy operator) or 'bench step' "
                                     "(a training step); add --help after either for its options")
    bench.add_argument("what", choices=["ops", "step"])
    args, rest = parser.parse_known_args(argv)
    if args.command == "bench":
        from minigan.bench import ops, step

        {"ops": ops, "step": step}[args.what].main(rest)


if __name__ == "__main__":
    main()
