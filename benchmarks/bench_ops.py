"""Each heavy operator, forward and backward, minigan against PyTorch: `python benchmarks/bench_ops.py --help`."""

from minigan.bench.ops import main

if __name__ == "__main__":
    main()
