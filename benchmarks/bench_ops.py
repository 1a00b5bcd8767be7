"""Each heavy operator, forward and backward, minigan against PyTorch: `python benchmarks/bench_ops.py --help` (the
same as `minigan bench ops`)."""

import sys

from minigan.commands.bench import main

if __name__ == "__main__":
    main(["ops", *sys.argv[1:]])
