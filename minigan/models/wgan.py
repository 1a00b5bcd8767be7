"""Wasserstein GANs: a critic f scores samples without a sigmoid, and E f(x) - E f(G(z)) estimates the
Wasserstein-1 distance when f is 1-Lipschitz (Arjovsky et al. 2017).

WGAN keeps f Lipschitz by clipping every critic parameter to [-c, c] after each critic step (c = 0.01), with
RMSprop (lr 5e-5) and 5 critic steps per generator step. WGAN-GP (Gulrajani et al. 2017) instead adds a
gradient penalty lambda E[(||grad f(x_hat)||_2 - 1)^2] on random interpolates x_hat of real and generated
samples (lambda 10), with Adam (lr 1e-4, betas (0, 0.9)), 5 critic steps, and no batch norm in the critic, as
that paper advises (the penalty is per sample, and batch norm couples the samples of a batch).

Points use MLPs; images use the DCGAN generator and a DCGAN-like convolutional critic (with batch norm for
WGAN, as in its paper's DCGAN critic; without for WGAN-GP).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy

from minigan import optim
from minigan.autograd import grad, no_grad
from minigan.models.base import GAN
from minigan.models.common import check_shape, resolve_arch
from minigan.models.dcgan import DCGANDiscriminator, dcgan_generator, image_sizes
from minigan.models.gan import MLPDiscriminator, MLPGenerator
from minigan.models.objectives import discriminator_loss
from minigan.nn import Module
from minigan.tensor import Tensor, rand


def gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, lam: float = 10.0,
                     alpha: Tensor | None = None) -> Tensor:
    """lam * mean over the batch of (||d critic(x_hat) / d x_hat||_2 - 1)^2, x_hat = alpha real + (1 - alpha) fake.

    alpha ~ U[0, 1] per sample unless given (shape (N, 1, ...)). The gradient is taken with create_graph=True,
    so the penalty's own gradient reaches the critic's weights through a double backward (Gulrajani et al.).
    x_hat is a new leaf: the penalty does not reach real or fake.
    """
    n = real.shape[0]
    if alpha is None:
        alpha = rand(n, *([1] * (real.ndim - 1)), dtype=real.dtype, device=real.device)
    x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).detach().requires_grad_()
    (g,) = grad(critic(x_hat).sum(), x_hat, create_graph=True)
    squares = (g * g).reshape(n, -1).sum(1)
    norms = (squares + float(numpy.finfo(squares.dtype).tiny)).sqrt()  # tiny: no 0/0 when a gradient is 0
    return lam * ((norms - 1) ** 2).mean()


class WGAN(GAN):
    """Arjovsky et al.'s WGAN: the Wasserstein objective, a clipped critic, RMSprop (the paper's 5 critic steps
    per generator step are the Trainer's d_steps)."""

    def __init__(self, g: Module, d: Module, nz: int, *, clip: float, lr: float):
        super().__init__(g, d, nz, objective="wasserstein", real_label=1.0, feature_matching=False, lr=lr,
                         betas=None)
        if not clip > 0:
            raise ValueError(f"wgan: clip must be positive, got {clip}")
        self.clip = clip
        self.after_d_step()  # the critic starts inside the clipped set

    def after_d_step(self) -> None:
        """Clip every critic parameter to [-clip, clip]."""
        with no_grad():
            for p in self.d.parameters():
                p.clamp_(-self.clip, self.clip)

    def optimizers(self) -> tuple[optim.Optimizer, optim.Optimizer]:
        """RMSprop for both networks: the paper found momentum-based steps unstable with a clipped critic."""
        return (optim.RMSprop(self.g.parameters(), lr=self.lr),
                optim.RMSprop(self.d.parameters(), lr=self.lr))


class WGANGP(GAN):
    """Gulrajani et al.'s WGAN-GP: the Wasserstein objective plus the gradient penalty, with Adam (the paper's
    1e-4, (0, 0.9) and 5 critic steps per generator step are the model table's defaults)."""

    def __init__(self, g: Module, d: Module, nz: int, *, gp_lambda: float, lr: float, betas: tuple):
        super().__init__(g, d, nz, objective="wasserstein", real_label=1.0, feature_matching=False, lr=lr,
                         betas=betas)
        self.gp_lambda = gp_lambda

    def d_loss(self, x: Tensor, labels: Tensor | None, fake: Tensor, latent: dict) -> tuple[Tensor, dict]:
        real_out, fake_out = self.discriminate(x, labels), self.discriminate(fake)
        penalty = gradient_penalty(self.d, x, fake, self.gp_lambda)
        loss = discriminator_loss(real_out, fake_out, "wasserstein") + penalty
        return loss, {"d_real": float(real_out.detach().mean().item()),
                      "d_fake": float(fake_out.detach().mean().item()), "gp": float(penalty.detach().item())}


def _networks(shape: tuple, nz: int, arch: str, hidden, width: float, batch_norm: bool, model: str):
    if resolve_arch(arch, shape, model) == "conv":
        image_sizes(shape, f"{model} (conv)")
        return dcgan_generator(nz, shape, width), DCGANDiscriminator(shape, width, batch_norm=batch_norm)
    return MLPGenerator(nz, shape, hidden), MLPDiscriminator(shape, hidden)


def build_wgan(sample_shape: tuple, num_classes: int, *, arch: str, nz: int, hidden: str | Sequence[int],
               width: float, clip: float, lr: float) -> WGAN:
    """WGAN with weight clipping on points (MLPs) or 28x28/32x32 images (DCGAN nets; labels are not used)."""
    shape = check_shape(sample_shape, "wgan")
    g, d = _networks(shape, nz, arch, hidden, width, True, "wgan")
    return WGAN(g, d, nz, clip=clip, lr=lr)


def build_wgan_gp(sample_shape: tuple, num_classes: int, *, arch: str, nz: int, hidden: str | Sequence[int],
                  width: float, gp_lambda: float, lr: float, betas: tuple) -> WGANGP:
    """WGAN-GP on points (MLPs) or 28x28/32x32 images (DCGAN generator, critic without batch norm)."""
    shape = check_shape(sample_shape, "wgan-gp")
    g, d = _networks(shape, nz, arch, hidden, width, False, "wgan-gp")
    return WGANGP(g, d, nz, gp_lambda=gp_lambda, lr=lr, betas=betas)
