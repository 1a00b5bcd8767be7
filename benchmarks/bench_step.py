"""A full GAN training step, minigan against PyTorch: `python benchmarks/bench_step.py --help`."""

from minigan.bench.step import main

if __name__ == "__main__":
    main()
