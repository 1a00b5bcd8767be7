"""DCGAN (Radford et al. 2016): convolutional generator and discriminator with batch norm.

`dcgan` is the network of the seed article, for 28x28 and 32x32 images, gray or RGB:
    G: z -> dense to 4x4x512 -> BN, ReLU -> 5x5 stride-2 transposed convs to 256, 128 (BN, ReLU) and C -> tanh
    D: 5x5 stride-2 convs to 64, 128, 256 (BN on all but the first, leaky ReLU 0.2) -> dense to one logit
Both sizes use the same layers: the first transposed convolution maps 4x4 to 8x8 for 32x32 images and to 7x7
for 28x28 ones (output_padding 0 instead of 1), so G gives 7 -> 14 -> 28 exactly, with no crop or pad; D's
stride-2 convolutions (padding 2) give 28 -> 14 -> 7 -> 4 and 32 -> 16 -> 8 -> 4. Any side from 25 to 32 works
the same way. `width` scales every channel count (0.125: 64-32-16 in G), for small versions that train fast.

`dcgan64` is Radford et al.'s network at 64x64 as in PyTorch's example (nz 100, 64 feature maps, 4x4 kernels).

Each batch norm and the activation after it are one layer (nn.BatchNormAct2d), computed in one pass. All weights
start from N(0, 0.02), batch-norm scales from N(1, 0.02), shifts and biases from 0, as in the paper. Both networks
are compositions of standard layers (nn.Sequential), so that the benchmarks' PyTorch twin is the same network
(minigan.bench.twin).
"""

from __future__ import annotations

import math

from minigan import nn
from minigan.models.base import GAN
from minigan.models.common import check_shape, reference_noise
from minigan.models.layers import FeatureDiscriminator, ReferenceBatch, VirtualBatchNorm


def dcgan_init(module: nn.Module) -> nn.Module:
    """Radford et al.'s initialisation, in place: conv and dense weights N(0, 0.02), biases 0, batch-norm
    (and virtual batch-norm) scales N(1, 0.02) and shifts 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, VirtualBatchNorm)):  # BatchNormAct* included
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return module


def scaled(channels: int, width: float) -> int:
    return max(1, round(channels * width))


def image_sizes(sample_shape: tuple, model: str) -> list[tuple[int, int]]:
    """The feature-map sizes of D from the image down, four of them, the last 4x4: [(H, W), ..., (4, 4)]."""
    shape = check_shape(sample_shape, model)
    if len(shape) != 3 or not all(25 <= s <= 32 for s in shape[1:]):
        hint = "; use dcgan64 for 64x64" if model == "dcgan" and shape[1:] == (64, 64) else ""
        raise ValueError(f"{model}: expects images (C, H, W) with sides from 25 to 32 pixels (28x28, 32x32), got "
                         f"{tuple(sample_shape)}{hint}")
    out = [shape[1:]]
    for _ in range(3):
        out.append(tuple((s + 1) // 2 for s in out[-1]))  # a 5x5 stride-2 convolution with padding 2
    return out


def dcgan_generator(nz: int, sample_shape: tuple, width: float, virtual_batch_norm: bool = False,
                    reference_size: int = 32) -> nn.Module:
    """The seed DCGAN's generator, (N, nz) -> (N, C, H, W) in [-1, 1]; virtual batch norm replaces batch norm."""
    sizes = image_sizes(sample_shape, "dcgan")[::-1]
    c0, c1, c2 = scaled(512, width), scaled(256, width), scaled(128, width)

    def norm(c):  # batch norm and ReLU
        return [VirtualBatchNorm(c, reference_size), nn.ReLU()] if virtual_batch_norm else [nn.BatchNormAct2d(c)]

    def up(cin, cout, k, bias=False):  # sizes[k] -> sizes[k + 1]: 2 s - 1 pixels, plus output_padding
        extra = tuple(b - (2 * a - 1) for a, b in zip(sizes[k], sizes[k + 1]))
        return nn.ConvTranspose2d(cin, cout, 5, stride=2, padding=2, output_padding=extra, bias=bias)

    layers = [nn.Linear(nz, c0 * 16, bias=False), nn.Unflatten(1, (c0, 4, 4)), *norm(c0),
              up(c0, c1, 0), *norm(c1), up(c1, c2, 1), *norm(c2), up(c2, sample_shape[0], 2, bias=True), nn.Tanh()]
    net = nn.Sequential(*layers)
    if virtual_batch_norm:
        net = ReferenceBatch(net, reference_noise(reference_size, nz))
    return dcgan_init(net)


class DCGANDiscriminator(FeatureDiscriminator):
    """The seed DCGAN's discriminator: (N, C, H, W) -> (N, 1) logits (critic scores without a sigmoid); its
    features are the flattened activations of the last convolution (N, 4*4*256*width).

    batch_norm=False drops the batch norms (and gives the convolutions biases), for WGAN-GP's critic;
    minibatch_discrimination appends Salimans et al.'s closeness features before the dense layer.
    """

    def __init__(self, sample_shape: tuple, width: float, batch_norm: bool = True,
                 minibatch_discrimination: bool = False, mbd_kernels: int = 50, mbd_dims: int = 5):
        sizes = image_sizes(sample_shape, "dcgan")
        channels = [sample_shape[0], scaled(64, width), scaled(128, width), scaled(256, width)]
        layers = []
        for k in range(3):
            norm = batch_norm and k > 0
            layers.append(nn.Conv2d(channels[k], channels[k + 1], 5, stride=2, padding=2, bias=not norm))
            layers.append(nn.BatchNormAct2d(channels[k + 1], 0.2) if norm else nn.LeakyReLU(0.2))
        layers.append(nn.Flatten())
        super().__init__(nn.Sequential(*layers), channels[3] * math.prod(sizes[3]),
                         minibatch_discrimination=minibatch_discrimination, mbd_kernels=mbd_kernels,
                         mbd_dims=mbd_dims)
        dcgan_init(self)


def build_dcgan(sample_shape: tuple, num_classes: int, *, nz: int, width: float, virtual_batch_norm: bool,
                minibatch_discrimination: bool, objective: str, real_label: float, feature_matching: bool, lr: float,
                betas: tuple) -> GAN:
    """The seed DCGAN for 28x28 or 32x32 images (labels, if any, are not used)."""
    image_sizes(sample_shape, "dcgan")
    g = dcgan_generator(nz, sample_shape, width, virtual_batch_norm=virtual_batch_norm)
    d = DCGANDiscriminator(sample_shape, width, minibatch_discrimination=minibatch_discrimination)
    return GAN(g, d, nz, objective=objective, real_label=real_label, feature_matching=feature_matching, lr=lr,
               betas=betas)


# ---- Radford et al.'s 64x64 network, as PyTorch's example ----
def dcgan64_generator(nz: int, ngf: int, channels: int) -> nn.Sequential:
    """(N, nz) -> (N, C, 64, 64): the noise as a 1x1 image of nz channels, then 4x4 transposed convolutions
    1 -> 4 -> 8 -> 16 -> 32 -> 64 with 8, 4, 2, 1 times ngf feature maps (batch norm and ReLU), then C channels
    and tanh."""
    layers = [nn.Unflatten(1, (nz, 1, 1)), nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False),
              nn.BatchNormAct2d(ngf * 8)]
    for mult in (8, 4, 2):
        layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 4, 2, 1, bias=False),
                   nn.BatchNormAct2d(ngf * mult // 2)]
    layers += [nn.ConvTranspose2d(ngf, channels, 4, 2, 1, bias=False), nn.Tanh()]
    return dcgan_init(nn.Sequential(*layers))


class DCGAN64Discriminator(FeatureDiscriminator):
    """(N, C, 64, 64) -> (N, 1) logits: 4x4 stride-2 convolutions to 1, 2, 4, 8 times ndf feature maps (batch
    norm on all but the first, leaky ReLU 0.2), whose 4x4 map flattened is the features; then a 4x4 convolution
    over that map to one logit."""

    def __init__(self, ndf: int, channels: int):
        layers = [nn.Conv2d(channels, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2)]
        for mult in (1, 2, 4):
            layers += [nn.Conv2d(ndf * mult, ndf * mult * 2, 4, 2, 1, bias=False), nn.BatchNormAct2d(ndf * mult * 2, 0.2)]
        layers.append(nn.Flatten())
        out = nn.Sequential(nn.Unflatten(1, (ndf * 8, 4, 4)), nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False), nn.Flatten())
        super().__init__(nn.Sequential(*layers), ndf * 8 * 16, out=out)
        dcgan_init(self)


def build_dcgan64(sample_shape: tuple, num_classes: int, *, nz: int, ngf: int, ndf: int, objective: str,
                  real_label: float, feature_matching: bool, lr: float, betas: tuple) -> GAN:
    """Radford et al.'s DCGAN for 64x64 images, gray or RGB (labels, if any, are not used)."""
    shape = check_shape(sample_shape, "dcgan64")
    if len(shape) != 3 or shape[1:] != (64, 64):
        raise ValueError(f"dcgan64: expects 64x64 images (C, 64, 64), got {tuple(sample_shape)}"
                         + ("; use dcgan for 28x28 and 32x32" if len(shape) == 3 else ""))
    g = dcgan64_generator(nz, ngf, shape[0])
    d = DCGAN64Discriminator(ndf, shape[0])
    return GAN(g, d, nz, objective=objective, real_label=real_label, feature_matching=feature_matching, lr=lr,
               betas=betas)
