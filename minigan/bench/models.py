"""The benchmark models: minigan.models' own networks, as `minigan train` builds them.

`seed32` is `dcgan` at 32x32x1, the DCGAN of the seed article (dense to 4x4x512, 5x5 stride-2 transposed
convolutions 256-128-1 with batch norm and ReLU, tanh; discriminator of 5x5 stride-2 convolutions 64-128-256 with
batch norm on the last two and leaky ReLU 0.2, dense to one logit); `dcgan64` is `dcgan64` at 64x64x3, the DCGAN
of Radford et al. as in PyTorch's examples (nz 100, 64 feature maps, 4x4 kernels), with a logit output. PyTorch
runs their twins (minigan.bench.twin).
"""

from __future__ import annotations

import numpy

import minigan as mg
from minigan.models import build

MODELS = {"seed32": ("dcgan", (1, 32, 32)), "dcgan64": ("dcgan64", (3, 64, 64))}


def networks(model: str, seed: int = 0, **options) -> tuple:
    """(generator, discriminator, nz, image shape) of a benchmark model, initialised as minigan.models initialises
    it from minigan's random generator seeded with seed; options go to the model (width for seed32)."""
    name, shape = MODELS[model]
    mg.manual_seed(seed)
    gan = build(name, shape, **options)
    return gan.g, gan.d, gan.nz, shape


def weights(model: str, seed: int = 0, **options) -> dict:
    """The initial weights of a benchmark model as NumPy arrays, {"g": state, "d": state}, for both frameworks to
    start from."""
    g, d, _, _ = networks(model, seed, **options)
    return {name: {k: numpy.array(v.numpy()) for k, v in net.state_dict().items()} for name, net in
            (("g", g), ("d", d))}
