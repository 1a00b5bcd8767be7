"""2D Gaussian mixtures: the toy targets on which mode collapse is seen and counted (as in PacGAN and VEEGAN).

`ring8`: 8 modes evenly spaced on the unit circle, standard deviation 0.01. `grid25`: 25 modes on the grid
{-4, -2, 0, 2, 4}^2, standard deviation 0.05. Each point picks a mode uniformly at random, then adds isotropic
Gaussian noise; the mode index is its label.
"""

from __future__ import annotations

import numpy

from minigan.data.dataset import Dataset

MIXTURES = ("ring8", "grid25")


def mixture_modes(name: str) -> tuple[numpy.ndarray, float]:
    """The mode centres (K, 2) as float64 and the per-mode standard deviation of a named mixture."""
    if name == "ring8":
        angles = 2 * numpy.pi * numpy.arange(8) / 8
        return numpy.stack([numpy.cos(angles), numpy.sin(angles)], axis=1), 0.01
    if name == "grid25":
        ticks = numpy.arange(-4.0, 5.0, 2.0)
        gx, gy = numpy.meshgrid(ticks, ticks, indexing="ij")
        return numpy.stack([gx.ravel(), gy.ravel()], axis=1), 0.05
    raise ValueError(f"unknown mixture {name!r}; the mixtures are {', '.join(MIXTURES)}")


def sample_mixture(name: str, n: int, rng: numpy.random.Generator) -> Dataset:
    """n points of the named mixture drawn with rng: x (n, 2) float32, y the mode of each point."""
    modes, sigma = mixture_modes(name)
    y = rng.integers(0, len(modes), size=n).astype(numpy.int64)
    x = modes[y] + sigma * rng.standard_normal((n, 2))
    return Dataset(name, x.astype(numpy.float32), y, num_classes=len(modes),
                   modes=modes.astype(numpy.float32), sigma=sigma)
