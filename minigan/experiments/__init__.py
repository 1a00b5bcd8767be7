"""Experiments that reproduce what the GAN papers claim, each writing a PNG and a JSON record.

Each experiment is a module here with `run(out: Path, quick: bool, seed: int) -> dict` (and a `data_dir` keyword
for those that train on digits: MNIST from that folder, else the built-in rendered digits) that computes, draws
<out>/<NAME>.png and returns the numbers; minigan.experiments.runner.run writes them, with the command that
produced them, to <out>/<NAME>.json. `quick` is a small version of the same protocol that the test suite runs.
`minigan experiment NAME` is the command line.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Experiment:
    module: str  # the module of minigan.experiments that runs it
    claim: str  # what it shows, in one line
    digits: bool = False  # whether it trains on digits (and takes a data_dir)


EXPERIMENTS = {
    "optimal-d": Experiment("optimal_discriminator",
                            "D trained to convergence matches p_data / (p_data + p_g) (Goodfellow 2014)"),
    "saturation": Experiment("saturation", "the minimax generator loss saturates where the non-saturating one does not"),
    "mode-collapse": Experiment("mode_collapse",
                                "modes covered on the 8-ring and 25-grid: GAN and its remedies (PacGAN)"),
    "smoothing": Experiment("smoothing", "one-sided label smoothing and k discriminator steps: losses and FID-LeNet",
                            digits=True),
    "vs-pytorch": Experiment("vs_pytorch", "the same DCGAN trained by minigan and by PyTorch: curves and FID-LeNet",
                             digits=True),
}
