"""Experiments that reproduce what the GAN papers claim, each one command writing a PNG and a JSON.

    python -m minigan.experiments NAME [--out DIR] [--quick] [--seed S]     (or: minigan experiment NAME ...)

Each experiment is a module here with a `run(out: Path, quick: bool, seed: int) -> dict` that computes, draws
<out>/<NAME>.png and returns the numbers; the runner writes them, with the command that produced them, to
<out>/<NAME>.json. `quick` is a small version of the same protocol that the test suite runs.
"""

from __future__ import annotations

EXPERIMENTS = {  # name: (module, what it shows)
    "optimal-d": ("optimal_discriminator", "D trained to convergence matches p_data / (p_data + p_g) (Goodfellow 2014)"),
    "saturation": ("saturation", "the minimax generator loss saturates where the non-saturating one does not"),
    "mode-collapse": ("mode_collapse", "modes covered on the 8-ring and 25-grid: GAN and its remedies (PacGAN)"),
    "smoothing": ("smoothing", "one-sided label smoothing and k discriminator steps: losses and FID-LeNet"),
    "vs-pytorch": ("vs_pytorch", "the same DCGAN trained by minigan and by PyTorch: curves and FID-LeNet"),
}
