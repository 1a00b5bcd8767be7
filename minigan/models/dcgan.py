"""DCGAN (Radford et al. 2016): convolutional generator and discriminator with batch norm.

`dcgan` is the network of the seed article, for 28x28 and 32x32 images, gray or RGB:
    G: z -> dense to 4x4x512 -> BN, ReLU -> 5x5 stride-2 transposed convs to 256, 128 (BN, ReLU) and C -> tanh
    D: 5x5 stride-2 convs to 64, 128, 256 (BN on all but the first, leaky ReLU 0.2) -> dense to one logit
Both sizes use the same layers: the first transposed convolution maps 4x4 to 8x8 for 32x32 images and to 7x7
for 28x28 ones (output_padding 0 instead of 1), so G gives 7 -> 14 -> 28 exactly, with no crop or pad; D's
stride-2 convolutions (padding 2) give 28 -> 14 -> 7 -> 4 and 32 -> 16 -> 8 -> 4. Any side from 25 to 32 works
the same way. `width` scales every channel count (0.125: 64-32-16 in G), for small versions that train fast.

`dcgan64` is Radford et al.'s network at 64x64 as in PyTorch's example (nz 100, 64 feature maps, 4x4 kernels),
with the same parameter names (main.0.weight, ...) so that weights copy across.

All weights start from N(0, 0.02), batch-norm scales from N(1, 0.02), shifts and biases from 0, as in the paper.
"""

from __future__ import annotations

import math

from minigan import nn
from minigan.models.base import GAN
from minigan.models.gan import check_shape, reference_noise
from minigan.models.layers import FeatureDiscriminator, ReferenceBatch, VirtualBatchNorm
from minigan.tensor import Tensor


def dcgan_init(module: nn.Module) -> nn.Module:
    """Radford et al.'s initialisation, in place: conv and dense weights N(0, 0.02), biases 0, batch-norm
    (and virtual batch-norm) scales N(1, 0.02) and shifts 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, VirtualBatchNorm)):
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


def dcgan_generator(nz: int, sample_shape: tuple, width: float = 1.0, virtual_batch_norm: bool = False,
                    reference_size: int = 32) -> nn.Module:
    """The seed DCGAN's generator, (N, nz) -> (N, C, H, W) in [-1, 1]; virtual batch norm replaces batch norm."""
    sizes = image_sizes(sample_shape, "dcgan")[::-1]
    c0, c1, c2 = scaled(512, width), scaled(256, width), scaled(128, width)

    def norm(c):
        return VirtualBatchNorm(c, reference_size) if virtual_batch_norm else nn.BatchNorm2d(c)

    def up(cin, cout, k, bias=False):  # sizes[k] -> sizes[k + 1]: 2 s - 1 pixels, plus output_padding
        extra = tuple(b - (2 * a - 1) for a, b in zip(sizes[k], sizes[k + 1]))
        return nn.ConvTranspose2d(cin, cout, 5, stride=2, padding=2, output_padding=extra, bias=bias)

    layers = [nn.Linear(nz, c0 * 16, bias=False), nn.Unflatten(1, (c0, 4, 4)), norm(c0), nn.ReLU(),
              up(c0, c1, 0), norm(c1), nn.ReLU(), up(c1, c2, 1), norm(c2), nn.ReLU()]
    last = up(c2, sample_shape[0], 2, bias=True)
    net = nn.Sequential(*layers, last, nn.Tanh())
    if virtual_batch_norm:
        net = ReferenceBatch(net, reference_noise(reference_size, nz))
    return dcgan_init(net)


class DCGANDiscriminator(FeatureDiscriminator):
    """The seed DCGAN's discriminator: (N, C, H, W) -> (N, 1) logits (critic scores without a sigmoid); its
    features are the flattened activations of the last convolution (N, 4*4*256*width).

    batch_norm=False drops the batch norms (and gives the convolutions biases), for WGAN-GP's critic;
    minibatch_discrimination appends Salimans et al.'s closeness features before the dense layer.
    """

    def __init__(self, sample_shape: tuple, width: float = 1.0, batch_norm: bool = True,
                 minibatch_discrimination: bool = False, mbd_kernels: int = 50, mbd_dims: int = 5):
        super().__init__()
        sizes = image_sizes(sample_shape, "dcgan")
        channels = [sample_shape[0], scaled(64, width), scaled(128, width), scaled(256, width)]
        layers = []
        for k in range(3):
            norm = batch_norm and k > 0
            layers.append(nn.Conv2d(channels[k], channels[k + 1], 5, stride=2, padding=2, bias=not norm))
            if norm:
                layers.append(nn.BatchNorm2d(channels[k + 1]))
            layers.append(nn.LeakyReLU(0.2))
        layers.append(nn.Flatten())
        self.body = nn.Sequential(*layers)
        self.head(channels[3] * math.prod(sizes[3]), minibatch_discrimination, mbd_kernels, mbd_dims)
        dcgan_init(self)


def build_dcgan(sample_shape: tuple, num_classes: int = 0, *, nz: int = 100, width: float = 1.0,
                virtual_batch_norm: bool = False, minibatch_discrimination: bool = False, objective: str = "nonsat",
                real_label: float = 1.0, feature_matching: bool = False, lr: float = 2e-4,
                betas: tuple = (0.5, 0.999)) -> GAN:
    """The seed DCGAN for 28x28 or 32x32 images (labels, if any, are not used)."""
    image_sizes(sample_shape, "dcgan")
    g = dcgan_generator(nz, sample_shape, width, virtual_batch_norm=virtual_batch_norm)
    d = DCGANDiscriminator(sample_shape, width, minibatch_discrimination=minibatch_discrimination)
    return GAN(g, d, nz, objective=objective, real_label=real_label, feature_matching=feature_matching, lr=lr,
               betas=betas)


# ---- Radford et al.'s 64x64 network, as PyTorch's example ----
class DCGAN64Generator(nn.Module):
    """(N, nz) or (N, nz, 1, 1) -> (N, C, 64, 64): 4x4 transposed convs 1 -> 4 -> 8 -> 16 -> 32 -> 64 with
    8, 4, 2, 1 times ngf feature maps (batch norm, ReLU), then C channels and tanh."""

    def __init__(self, nz: int = 100, ngf: int = 64, channels: int = 3):
        super().__init__()
        self.nz = nz
        layers = [nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU()]
        for mult in (8, 4, 2):
            layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(ngf * mult // 2), nn.ReLU()]
        layers += [nn.ConvTranspose2d(ngf, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, z: Tensor) -> Tensor:
        return self.main(z.reshape(z.shape[0], self.nz, 1, 1))


class DCGAN64Discriminator(nn.Module):
    """(N, C, 64, 64) -> (N, 1) logits: 4x4 stride-2 convs to 1, 2, 4, 8 times ndf feature maps (batch norm on
    all but the first, leaky ReLU 0.2), then a 4x4 convolution over the 4x4 map, a dense layer to one logit."""

    def __init__(self, ndf: int = 64, channels: int = 3):
        super().__init__()
        layers = [nn.Conv2d(channels, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2)]
        for mult in (1, 2, 4):
            layers += [nn.Conv2d(ndf * mult, ndf * mult * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * mult * 2),
                       nn.LeakyReLU(0.2)]
        layers.append(nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False))
        self.main = nn.Sequential(*layers)
        self.num_features = ndf * 8 * 16
        dcgan_init(self)

    def features(self, x: Tensor) -> Tensor:
        """The flattened 4x4x(8 ndf) activations before the last (dense) layer."""
        return self.main[:-1](x).flatten(1)

    def from_features(self, f: Tensor) -> Tensor:
        last = self.main[-1]
        return last(f.reshape(f.shape[0], last.in_channels, 4, 4)).reshape(-1, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.main(x).reshape(-1, 1)


def build_dcgan64(sample_shape: tuple, num_classes: int = 0, *, nz: int = 100, ngf: int = 64, ndf: int = 64,
                  objective: str = "nonsat", real_label: float = 1.0, feature_matching: bool = False,
                  lr: float = 2e-4, betas: tuple = (0.5, 0.999)) -> GAN:
    """Radford et al.'s DCGAN for 64x64 images, gray or RGB (labels, if any, are not used)."""
    shape = check_shape(sample_shape, "dcgan64")
    if len(shape) != 3 or shape[1:] != (64, 64):
        raise ValueError(f"dcgan64: expects 64x64 images (C, 64, 64), got {tuple(sample_shape)}"
                         + ("; use dcgan for 28x28 and 32x32" if len(shape) == 3 else ""))
    g = DCGAN64Generator(nz, ngf, shape[0])
    d = DCGAN64Discriminator(ndf, shape[0])
    return GAN(g, d, nz, objective=objective, real_label=real_label, feature_matching=feature_matching, lr=lr,
               betas=betas)
