"""The conditional GAN of Mirza and Osindero 2014: G and D both see the class label y, so that G(z, y) learns
p(x | y) and D(x, y) judges the pair.

Each network has its own learned label embedding (nn.Embedding, num_classes x embed_dim). G's input is the
noise joined with the embedding. D's input depends on the architecture:
    mlp   the flattened sample concatenated with the embedding, into the MLP discriminator;
    conv  the embedding repeated over the image as embed_dim extra constant channels, into the DCGAN
          discriminator (whose first convolution then sees C + embed_dim channels).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from minigan import nn, ops
from minigan.models.base import GAN
from minigan.models.common import check_shape, given_labels, resolve_arch
from minigan.models.dcgan import DCGANDiscriminator, dcgan_generator, image_sizes
from minigan.models.gan import MLPDiscriminator, MLPGenerator
from minigan.models.objectives import feature_matching_loss, generator_loss
from minigan.tensor import Tensor, randint, randn


class ConditionalGenerator(nn.Module):
    """G(z, y) = net([z, embed(y)])."""

    def __init__(self, net: nn.Module, num_classes: int, embed_dim: int):
        super().__init__()
        self.embed = nn.Embedding(num_classes, embed_dim)
        self.net = net

    def forward(self, z: Tensor, labels: Tensor) -> Tensor:
        return self.net(ops.cat([z, self.embed(labels).to(z.dtype)], 1))


class ConditionalDiscriminator(nn.Module):
    """D(x, y) = net(join(x, embed(y))): joined after flattening (mlp) or as constant channels (conv)."""

    def __init__(self, net: nn.Module, num_classes: int, embed_dim: int, as_channels: bool):
        super().__init__()
        self.embed = nn.Embedding(num_classes, embed_dim)
        self.net, self.as_channels = net, as_channels

    def join(self, x: Tensor, labels: Tensor) -> Tensor:
        e = self.embed(labels).to(x.dtype)
        if self.as_channels:
            n, _, h, w = x.shape
            return ops.cat([x, e.reshape(n, -1, 1, 1).expand(n, e.shape[1], h, w)], 1)
        return ops.cat([x.flatten(1), e], 1)

    def features(self, x: Tensor, labels: Tensor) -> Tensor:
        return self.net.features(self.join(x, labels))

    def forward(self, x: Tensor, labels: Tensor) -> Tensor:
        return self.net(self.join(x, labels))


class ConditionalGAN(GAN):
    """A GAN whose latent carries labels: uniform over the classes, or the ones asked for."""

    conditional = True

    def __init__(self, g: ConditionalGenerator, d: ConditionalDiscriminator, nz: int, num_classes: int, **game):
        super().__init__(g, d, nz, **game)
        self.num_classes = num_classes

    def sample_latent(self, n: int, device: str = "cpu", labels=None) -> dict[str, Tensor]:
        """z ~ N(0, I) and labels: drawn uniformly unless given (n ints in [0, num_classes))."""
        if labels is None:
            labels = randint(0, self.num_classes, n, device=device)
        else:
            labels = given_labels(labels, n, self.num_classes, device, "cgan: labels")
        return {"z": randn(n, self.nz, device=device), "labels": labels}

    def generate(self, latent: dict[str, Tensor], g: nn.Module | None = None) -> Tensor:
        return (g or self.g)(latent["z"], latent["labels"])

    def discriminate(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        if labels is None:
            raise ValueError("cgan: the discriminator needs the labels of its samples")
        return self.d(x, labels).reshape(-1)

    def g_loss(self, x: Tensor, labels: Tensor | None, fake: Tensor, latent: dict) -> tuple[Tensor, dict]:
        """The generator's loss; feature matching compares D's features of (x, labels) and (fake, its labels)."""
        if self.feature_matching:
            return feature_matching_loss(self.d.features(x, labels).detach(),
                                         self.d.features(fake, latent["labels"])), {}
        return generator_loss(self.discriminate(fake, latent["labels"]), self.objective), {}


def build_cgan(sample_shape: tuple, num_classes: int, *, arch: str, nz: int, embed_dim: int,
               hidden: str | Sequence[int], width: float, objective: str, real_label: float, feature_matching: bool,
               lr: float, betas: tuple) -> ConditionalGAN:
    """A conditional GAN on points or images with num_classes labels; arch 'auto' is mlp for points, conv for
    images."""
    shape = check_shape(sample_shape, "cgan")
    if num_classes < 1:
        raise ValueError(f"cgan: needs the number of classes of a labelled dataset, got num_classes={num_classes}")
    arch = resolve_arch(arch, shape, "cgan")
    if arch == "conv":
        image_sizes(shape, "cgan (conv)")
        g_net = dcgan_generator(nz + embed_dim, shape, width)
        d_net = DCGANDiscriminator((shape[0] + embed_dim,) + shape[1:], width)
    else:
        g_net = MLPGenerator(nz + embed_dim, shape, hidden)
        d_net = MLPDiscriminator((math.prod(shape) + embed_dim,), hidden)
    g = ConditionalGenerator(g_net, num_classes, embed_dim)
    d = ConditionalDiscriminator(d_net, num_classes, embed_dim, as_channels=arch == "conv")
    return ConditionalGAN(g, d, nz, num_classes, objective=objective, real_label=real_label,
                          feature_matching=feature_matching, lr=lr, betas=betas)

