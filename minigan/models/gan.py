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
from minigan.models.layers import FeatureDiscriminator, ReferenceBatch, VirtualBatchNorm
from minigan.tensor import Tensor, randn


def sizes(value: str | Sequence[int]) -> tuple[int, ...]:
    """Layer widths from '256,256' (as a command line gives them) or from a sequence of ints."""
    items = value.replace(" ", "").split(",") if isinstance(value, str) else list(value)
    try:
        out = tuple(int(v) for v in items if v != "")
    except ValueError:
        raise ValueError(f"layer sizes must be positive integers such as '256,256', got {value!r}") from None
    if not all(v > 0 for v in out):
        raise ValueError(f"layer sizes must be positive integers such as '256,256', got {value!r}")
    return out


def is_image(sample_shape: tuple) -> bool:
    return len(sample_shape) == 3


def check_shape(sample_shape: tuple, model: str) -> tuple:
    """sample_shape as a tuple of positive ints: (D,) for vectors such as 2-D points, (C, H, W) for images."""
    shape = tuple(int(s) for s in sample_shape)
    if len(shape) not in (1, 3) or not all(s > 0 for s in shape):
        raise ValueError(f"{model}: a sample shape must be (D,) for points or (C, H, W) for images, got {sample_shape}")
    return shape


def resolve_arch(arch: str, shape: tuple, model: str) -> str:
    """'mlp' or 'conv'; 'auto' picks mlp for points and conv for images."""
    if arch not in ("auto", "mlp", "conv"):
        raise ValueError(f"{model}: arch must be 'auto', 'mlp' or 'conv', got {arch!r}")
    if arch == "auto":
        return "conv" if is_image(shape) else "mlp"
    if arch == "conv" and not is_image(shape):
        raise ValueError(f"{model}: the conv architecture needs images (C, H, W), got sample shape {shape}")
    return arch


def reference_noise(n: int, nz: int) -> Tensor:
    """The fixed batch of noise whose activations give a generator's virtual batch norm its statistics."""
    return randn(n, nz)


class MLPGenerator(nn.Module):
    """z -> [Linear -> (BatchNorm | VirtualBatchNorm) -> ReLU] per hidden size -> Linear -> (tanh) -> sample.

    The output is tanh for images and linear for points, reshaped to sample_shape.
    """

    def __init__(self, nz: int, sample_shape: tuple, hidden: str | Sequence[int] = (256, 256),
                 batch_norm: bool = False, virtual_batch_norm: bool = False, reference_size: int = 32):
        super().__init__()
        if batch_norm and virtual_batch_norm:
            raise ValueError("MLPGenerator: choose batch_norm or virtual_batch_norm, not both")
        self.nz, self.sample_shape = nz, tuple(sample_shape)
        layers, width = [], nz
        for h in sizes(hidden):
            norm = batch_norm or virtual_batch_norm
            layers.append(nn.Linear(width, h, bias=not norm))
            if batch_norm:
                layers.append(nn.BatchNorm1d(h))
            elif virtual_batch_norm:
                layers.append(VirtualBatchNorm(h, reference_size))
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

    def __init__(self, sample_shape: tuple, hidden: str | Sequence[int] = (256, 256),
                 minibatch_discrimination: bool = False, mbd_kernels: int = 50, mbd_dims: int = 5):
        super().__init__()
        layers, width = [nn.Flatten()], math.prod(sample_shape)
        for h in sizes(hidden):
            layers += [nn.Linear(width, h), nn.LeakyReLU(0.2)]
            width = h
        self.body = nn.Sequential(*layers)
        self.head(width, minibatch_discrimination, mbd_kernels, mbd_dims)


def build_gan(sample_shape: tuple, num_classes: int = 0, *, nz: int = 100, hidden: str | Sequence[int] = "256,256",
              batch_norm: bool = False, virtual_batch_norm: bool = False, minibatch_discrimination: bool = False,
              objective: str = "nonsat", real_label: float = 1.0, feature_matching: bool = False, lr: float = 2e-4,
              betas: tuple = (0.5, 0.999)) -> GAN:
    """The vanilla GAN on points or flattened images (labels, if any, are not used)."""
    shape = check_shape(sample_shape, "gan")
    g = MLPGenerator(nz, shape, hidden, batch_norm=batch_norm, virtual_batch_norm=virtual_batch_norm)
    d = MLPDiscriminator(shape, hidden, minibatch_discrimination=minibatch_discrimination)
    return GAN(g, d, nz, objective=objective, real_label=real_label, feature_matching=feature_matching, lr=lr,
               betas=betas)
