"""The GAN of Goodfellow et al. 2014: a multilayer perceptron generator and discriminator.

For 2-D points (sample shape (2,)) G's output is linear; for images (C, H, W) it is tanh, as the data are scaled
to [-1, 1], and reshaped to the image. D flattens whatever sample it is given. The MLPs here also serve the
point and flattened-image variants of the other families.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from minigan import nn
from minigan.models.base import GAN
from minigan.models.common import check_shape, is_image, reference_noise, sizes
from minigan.models.layers import FeatureDiscriminator, ReferenceBatch, VirtualBatchNorm
from minigan.tensor import Tensor


class MLPGenerator(nn.Module):
    """z -> [Linear -> (BatchNorm, ReLU in one layer | VirtualBatchNorm, ReLU | ReLU)] per hidden size -> Linear
    -> (tanh) -> sample.

    The output is tanh for images and linear for points, reshaped to sample_shape.
    """

    def __init__(self, nz: int, sample_shape: tuple, hidden: str | Sequence[int], batch_norm: bool = False,
                 virtual_batch_norm: bool = False, reference_size: int = 32):
        super().__init__()
        if batch_norm and virtual_batch_norm:
            raise ValueError("MLPGenerator: choose batch_norm or virtual_batch_norm, not both")
        self.nz, self.sample_shape = nz, tuple(sample_shape)
        layers, width = [], nz
        for h in sizes(hidden):
            norm = batch_norm or virtual_batch_norm
            layers.append(nn.Linear(width, h, bias=not norm))
            if batch_norm:
                layers.append(nn.BatchNormAct1d(h))
            elif virtual_batch_norm:
                layers += [VirtualBatchNorm(h, reference_size), nn.ReLU()]
            else:
                layers.append(nn.ReLU())
            width = h
        layers.append(nn.Linear(width, math.prod(self.sample_shape)))
        if is_image(self.sample_shape):
            layers.append(nn.Tanh())
        net = nn.Sequential(*layers)
        self.net = ReferenceBatch(net, reference_noise(reference_size, nz)) if virtual_batch_norm else net

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).reshape((z.shape[0],) + self.sample_shape)


class MLPDiscriminator(FeatureDiscriminator):
    """sample -> flatten -> [Linear -> LeakyReLU(0.2)] per hidden size = features -> (minibatch discrimination)
    -> Linear -> one logit (or critic score) per sample, shape (N, 1)."""

    def __init__(self, sample_shape: tuple, hidden: str | Sequence[int], minibatch_discrimination: bool = False,
                 mbd_kernels: int = 50, mbd_dims: int = 5):
        layers, width = [nn.Flatten()], math.prod(sample_shape)
        for h in sizes(hidden):
            layers += [nn.Linear(width, h), nn.LeakyReLU(0.2)]
            width = h
        super().__init__(nn.Sequential(*layers), width, minibatch_discrimination=minibatch_discrimination,
                         mbd_kernels=mbd_kernels, mbd_dims=mbd_dims)


def build_gan(sample_shape: tuple, num_classes: int, *, nz: int, hidden: str | Sequence[int], batch_norm: bool,
              virtual_batch_norm: bool, minibatch_discrimination: bool, objective: str, real_label: float,
              feature_matching: bool, lr: float, betas: tuple) -> GAN:
    """The vanilla GAN on points or flattened images (labels, if any, are not used)."""
    shape = check_shape(sample_shape, "gan")
    g = MLPGenerator(nz, shape, hidden, batch_norm=batch_norm, virtual_batch_norm=virtual_batch_norm)
    d = MLPDiscriminator(shape, hidden, minibatch_discrimination=minibatch_discrimination)
    return GAN(g, d, nz, objective=objective, real_label=real_label, feature_matching=feature_matching, lr=lr,
               betas=betas)
