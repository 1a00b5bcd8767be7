"""A full GAN training step, minigan against PyTorch: `python benchmarks/bench_step.py --help` (the same as
`minigan bench step`)."""

import sys

from minigan.commands.bench import main

if __name__ == "__main__":
    main(["step", *sys.argv[1:]])
