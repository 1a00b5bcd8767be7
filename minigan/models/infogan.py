"""InfoGAN (Chen et al. 2016): a GAN whose latent has interpretable codes, made so by maximising a lower bound
on the mutual information between the codes and the generated sample.

The latent is noise z ~ N(0, I) (nz), a categorical code (n_cat categories, uniform) and continuous codes
(n_cont, uniform in [-1, 1]); G sees [z, one_hot(code), cont]. The discriminator's shared body feeds both D's
logit and a Q head, which predicts the categorical code (logits) and the continuous codes (the means of a
factored Gaussian of fixed unit standard deviation). The mutual-information loss
    L_I = cross_entropy(Q's logits, code) + mean over the batch of sum_k [(cont_k - mu_k)^2 / 2 + log(2 pi) / 2]
is the negative of the variational bound up to the codes' constant entropy; lambda L_I is added to G's loss
and to D's (Q's parameters train with D's optimizer).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from minigan import backend, nn, ops
from minigan.models.base import GAN
from minigan.models.common import check_shape, given_labels, resolve_arch
from minigan.models.dcgan import DCGANDiscriminator, dcgan_generator, dcgan_init, image_sizes
from minigan.models.gan import MLPDiscriminator, MLPGenerator
from minigan.models.objectives import discriminator_loss, feature_matching_loss, generator_loss, probability
from minigan.nn import functional as F
from minigan.tensor import Tensor, rand, randint, randn

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def one_hot(indices: Tensor, num_classes: int, dtype) -> Tensor:
    """(N,) integer indices -> (N, num_classes) rows of the identity, in dtype, on the indices' device."""
    xp = backend.get_array_module(indices.data)
    return Tensor(xp.eye(num_classes, dtype=dtype)[indices.data])


def mutual_information_loss(cat_logits: Tensor | None, cont_mean: Tensor | None, code: Tensor | None,
                            cont: Tensor | None) -> Tensor:
    """InfoGAN's L_I: cross-entropy of the categorical code plus the Gaussian negative log-likelihood (unit
    standard deviation) of the continuous codes, each averaged over the batch; None for an absent code."""
    terms = []
    if cat_logits is not None:
        terms.append(F.cross_entropy(cat_logits, code))
    if cont_mean is not None:
        d = cont - cont_mean
        terms.append((0.5 * d * d).sum(1).mean() + _HALF_LOG_2PI * cont.shape[1])
    if not terms:
        raise ValueError("infogan: the latent has no code (n_cat = n_cont = 0)")
    return terms[0] if len(terms) == 1 else terms[0] + terms[1]


class InfoDiscriminator(nn.Module):
    """A discriminator (with features and from_features) plus the Q head on its features:
    features -> Linear -> [BatchNorm] -> LeakyReLU(0.2) -> Linear -> n_cat logits and n_cont means."""

    def __init__(self, d: nn.Module, n_cat: int, n_cont: int, q_hidden: int = 128, batch_norm: bool = True):
        super().__init__()
        self.d, self.n_cat, self.n_cont = d, n_cat, n_cont
        layers = [nn.Linear(d.num_features, q_hidden, bias=not batch_norm)]
        layers += [nn.BatchNormAct1d(q_hidden, 0.2) if batch_norm else nn.LeakyReLU(0.2)]
        layers += [nn.Linear(q_hidden, n_cat + n_cont)]
        self.q = nn.Sequential(*layers)

    def features(self, x: Tensor) -> Tensor:
        return self.d.features(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.d(x)

    def with_q(self, x: Tensor) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """(D's output (N,), Q's categorical logits (N, n_cat) or None, Q's means (N, n_cont) or None), from
        one pass through the shared body."""
        f = self.d.features(x)
        q = self.q(f)
        cat_logits = q[:, :self.n_cat] if self.n_cat else None
        cont_mean = q[:, self.n_cat:] if self.n_cont else None
        return self.d.from_features(f).reshape(-1), cat_logits, cont_mean


class InfoGAN(GAN):
    """The GAN game plus info_lambda times the mutual-information loss, for G and for D/Q."""

    def __init__(self, g: nn.Module, d: InfoDiscriminator, nz: int, *, n_cat: int, n_cont: int, info_lambda: float,
                 **game):
        super().__init__(g, d, nz, **game)
        self.n_cat, self.n_cont, self.info_lambda = n_cat, n_cont, info_lambda

    def sample_latent(self, n: int, device: str = "cpu", labels=None, codes=None) -> dict[str, Tensor]:
        """z ~ N(0, I), the categorical code (uniform, or `codes` when given) and continuous codes U[-1, 1]."""
        if labels is not None:
            raise ValueError("InfoGAN is not conditional: it takes no labels (its categorical code is `codes`)")
        latent = {"z": randn(n, self.nz, device=device)}
        if self.n_cat:
            if codes is None:
                latent["code"] = randint(0, self.n_cat, n, device=device)
            else:
                latent["code"] = given_labels(codes, n, self.n_cat, device, "infogan: categorical codes")
        if self.n_cont:
            latent["cont"] = 2 * rand(n, self.n_cont, device=device) - 1
        return latent

    def generate(self, latent: dict[str, Tensor], g: nn.Module | None = None) -> Tensor:
        z = latent["z"]
        parts = [z]
        if self.n_cat:
            parts.append(one_hot(latent["code"], self.n_cat, z.dtype))
        if self.n_cont:
            parts.append(latent["cont"].to(z.dtype))
        return (g or self.g)(ops.cat(parts, 1))

    def info_loss(self, cat_logits: Tensor | None, cont_mean: Tensor | None, latent: dict) -> Tensor:
        return mutual_information_loss(cat_logits, cont_mean, latent.get("code"), latent.get("cont"))

    def d_loss(self, x: Tensor, labels: Tensor | None, fake: Tensor, latent: dict) -> tuple[Tensor, dict]:
        real_out = self.discriminate(x)
        fake_out, cat_logits, cont_mean = self.d.with_q(fake)
        mi = self.info_loss(cat_logits, cont_mean, latent)
        loss = discriminator_loss(real_out, fake_out, self.objective, self.real_label) + self.info_lambda * mi
        return loss, {"d_real": probability(real_out, self.objective), "d_fake": probability(fake_out, self.objective),
                      "info": float(mi.detach().item())}

    def g_loss(self, x: Tensor, labels: Tensor | None, fake: Tensor, latent: dict) -> tuple[Tensor, dict]:
        fake_out, cat_logits, cont_mean = self.d.with_q(fake)
        if self.feature_matching:
            adversarial = feature_matching_loss(self.d.features(x).detach(), self.d.features(fake))
        else:
            adversarial = generator_loss(fake_out, self.objective)
        mi = self.info_loss(cat_logits, cont_mean, latent)
        return adversarial + self.info_lambda * mi, {"info": float(mi.detach().item())}


def build_infogan(sample_shape: tuple, num_classes: int, *, arch: str, nz: int, n_cat: int, n_cont: int,
                  info_lambda: float, hidden: str | Sequence[int], width: float, objective: str, real_label: float,
                  feature_matching: bool, lr: float, betas: tuple) -> InfoGAN:
    """InfoGAN on points (MLPs) or 28x28/32x32 images (DCGAN nets); labels, if any, are not used."""
    shape = check_shape(sample_shape, "infogan")
    if n_cat < 0 or n_cont < 0 or n_cat + n_cont == 0:
        raise ValueError(f"infogan: needs at least one code, got n_cat={n_cat}, n_cont={n_cont}")
    if n_cat == 1:
        raise ValueError("infogan: a categorical code needs at least 2 categories (or n_cat=0 for none)")
    inputs = nz + n_cat + n_cont
    if resolve_arch(arch, shape, "infogan") == "conv":
        image_sizes(shape, "infogan (conv)")
        g, body = dcgan_generator(inputs, shape, width), DCGANDiscriminator(shape, width)
        d = InfoDiscriminator(body, n_cat, n_cont, batch_norm=True)
        dcgan_init(d.q)
    else:
        g, body = MLPGenerator(inputs, shape, hidden), MLPDiscriminator(shape, hidden)
        d = InfoDiscriminator(body, n_cat, n_cont, batch_norm=False)
    return InfoGAN(g, d, nz, n_cat=n_cat, n_cont=n_cont, info_lambda=info_lambda, objective=objective,
                   real_label=real_label, feature_matching=feature_matching, lr=lr, betas=betas)
