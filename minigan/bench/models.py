"""The benchmark GANs, written once against the shared torch.nn / minigan.nn interface.

`seed32`: the DCGAN of the seed article at 32x32x1 (dense to 4x4x512, 5x5 stride-2 transposed convolutions
256-128-1 with batch norm and ReLU, tanh; discriminator of 5x5 stride-2 convolutions 64-128-256 with batch norm
on the last two and leaky ReLU 0.2, dense to one logit). `dcgan64`: the DCGAN of Radford et al. as in PyTorch's
examples (nz 100, 64 feature maps, 4x4 kernels, 64x64x3), with a logit output.
"""

from __future__ import annotations


def seed32(nn, nz: int = 100, width: float = 1.0):
    """(generator, discriminator, nz, image shape) of the seed DCGAN, built from the layer namespace nn; width
    scales every channel count (the experiments train a narrower one)."""
    g1, g2, g3, d1, d2, d3 = (max(1, round(c * width)) for c in (512, 256, 128, 64, 128, 256))

    def up(cin, cout):
        return [nn.ConvTranspose2d(cin, cout, 5, stride=2, padding=2, output_padding=1, bias=False),
                nn.BatchNorm2d(cout), nn.ReLU()]

    def down(cin, cout, norm=True):
        layers = [nn.Conv2d(cin, cout, 5, stride=2, padding=2, bias=not norm)]
        return layers + ([nn.BatchNorm2d(cout)] if norm else []) + [nn.LeakyReLU(0.2)]

    g = nn.Sequential(nn.Linear(nz, 4 * 4 * g1, bias=False), nn.Unflatten(1, (g1, 4, 4)), nn.BatchNorm2d(g1),
                      nn.ReLU(), *up(g1, g2), *up(g2, g3),
                      nn.ConvTranspose2d(g3, 1, 5, stride=2, padding=2, output_padding=1), nn.Tanh())
    d = nn.Sequential(*down(1, d1, norm=False), *down(d1, d2), *down(d2, d3), nn.Flatten(),
                      nn.Linear(4 * 4 * d3, 1))
    return g, d, nz, (1, 32, 32)


def dcgan64(nn, nz: int = 100, ngf: int = 64, ndf: int = 64):
    """(generator, discriminator, nz, image shape) of Radford et al.'s DCGAN at 64x64x3."""
    g = nn.Sequential(
        nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(),
        nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(),
        nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(),
        nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(),
        nn.ConvTranspose2d(ngf, 3, 4, 2, 1, bias=False), nn.Tanh())
    d = nn.Sequential(
        nn.Conv2d(3, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2),
        nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2),
        nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 8), nn.LeakyReLU(0.2),
        nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False), nn.Flatten())
    return g, d, nz, (3, 64, 64)


MODELS = {"seed32": seed32, "dcgan64": dcgan64}


def noise_shape(model: str, batch: int, nz: int) -> tuple:
    """dcgan64's generator starts from a 1x1 'image' of nz channels; seed32's from a vector."""
    return (batch, nz, 1, 1) if model == "dcgan64" else (batch, nz)


def dcgan_init(nn, module) -> None:
    """Radford et al.'s initialisation: conv weights N(0, 0.02), batch-norm scale N(1, 0.02) and shift 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


