"""The GAN families, one file each, and the registry that the trainer and the command line build them from.

    gan       Goodfellow et al. 2014, MLPs, for points or flattened images            (gan.py)
    dcgan     the seed DCGAN for 28x28 / 32x32 images                                 (dcgan.py)
    dcgan64   Radford et al.'s DCGAN for 64x64 images, as PyTorch's example           (dcgan.py)
    cgan      Mirza and Osindero's conditional GAN, MLP or convolutional              (cgan.py)
    wgan      Arjovsky et al.'s WGAN with weight clipping                             (wgan.py)
    wgan-gp   Gulrajani et al.'s WGAN with gradient penalty                           (wgan.py)
    infogan   Chen et al.'s InfoGAN, categorical and continuous codes                 (infogan.py)

build(name, sample_shape, num_classes, **options) makes one. Each entry of MODELS[name].options is a keyword of
its builder and a command-line flag --name; its type converts the flag's text (bool options are switches).
Builders also take the options shared by the families, which the command line has as flags of its own: lr (and
betas where the optimizer is Adam) for all, and objective, real_label (one-sided label smoothing) and
feature_matching for all but wgan and wgan-gp, whose objective is fixed. MODELS[name].defaults holds the
trainer's batch, steps and d_steps for the model (and the image side it needs, for dcgan64), and the lr (and
betas) its builder uses when not given; its d_steps equals the built model's d_steps attribute.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

from minigan.models.base import GAN
from minigan.models.cgan import build_cgan
from minigan.models.dcgan import build_dcgan, build_dcgan64
from minigan.models.gan import build_gan, sizes
from minigan.models.infogan import build_infogan
from minigan.models.wgan import build_wgan, build_wgan_gp


@dataclass(frozen=True)
class ModelSpec:
    """How to build one GAN family and train it by default."""

    build: Callable[..., GAN]  # build(sample_shape: tuple, num_classes: int, **options) -> GAN
    options: dict  # option name -> (type, default, help text); each becomes a command-line flag --name
    defaults: dict  # the trainer's defaults for this model: batch, steps, d_steps, lr (, betas, image size)
    needs_labels: bool = False  # the dataset must have labels
    help: str = ""  # one line for the command line


NZ = (int, 100, "size of the noise vector z")
HIDDEN = (sizes, "256,256", "hidden layer sizes of the MLPs, comma separated")
WIDTH = (float, 1.0, "scale of the DCGAN channel counts (0.125 for a small fast model)")
ARCH = (str, "auto", "network type: mlp, conv (DCGAN, 28x28/32x32 images) or auto (mlp for points, conv for images)")
MBD = (bool, False, "minibatch discrimination in D (Salimans et al. 2016)")
VBN = (bool, False, "virtual batch norm in G, from a fixed reference batch of noise (Salimans et al. 2016)")
ADAM = {"lr": 2e-4, "betas": (0.5, 0.999)}

MODELS: dict[str, ModelSpec] = {
    "gan": ModelSpec(
        build_gan,
        {"nz": NZ, "hidden": HIDDEN, "batch_norm": (bool, False, "batch norm in G's hidden layers"),
         "virtual_batch_norm": VBN, "minibatch_discrimination": MBD},
        {"batch": 100, "steps": 5000, "d_steps": 1, **ADAM},
        help="vanilla GAN (Goodfellow et al. 2014): MLPs, for 2-D points or flattened images"),
    "dcgan": ModelSpec(
        build_dcgan,
        {"nz": NZ, "width": WIDTH, "virtual_batch_norm": VBN, "minibatch_discrimination": MBD},
        {"batch": 64, "steps": 2000, "d_steps": 1, **ADAM},
        help="DCGAN (Radford et al. 2016) for 28x28 or 32x32 images, gray or RGB"),
    "dcgan64": ModelSpec(
        build_dcgan64,
        {"nz": NZ, "ngf": (int, 64, "G's feature maps (last layer)"),
         "ndf": (int, 64, "D's feature maps (first layer)")},
        {"batch": 64, "steps": 2000, "d_steps": 1, "size": 64, **ADAM},
        help="DCGAN of Radford et al. at 64x64, as PyTorch's example (4x4 kernels, 64 feature maps)"),
    "cgan": ModelSpec(
        build_cgan,
        {"arch": ARCH, "nz": NZ, "embed_dim": (int, 16, "size of the learned label embedding"), "hidden": HIDDEN,
         "width": WIDTH},
        {"batch": 64, "steps": 3000, "d_steps": 1, **ADAM},
        needs_labels=True,
        help="conditional GAN (Mirza and Osindero 2014): G and D see the class label"),
    "wgan": ModelSpec(
        build_wgan,
        {"arch": ARCH, "nz": NZ, "hidden": HIDDEN, "width": WIDTH,
         "clip": (float, 0.01, "the critic's parameters are clipped to [-clip, clip] after each step")},
        {"batch": 64, "steps": 2000, "d_steps": 5, "lr": 5e-5},
        help="Wasserstein GAN (Arjovsky et al. 2017): clipped critic, RMSprop, 5 critic steps"),
    "wgan-gp": ModelSpec(
        build_wgan_gp,
        {"arch": ARCH, "nz": NZ, "hidden": HIDDEN, "width": WIDTH,
         "gp_lambda": (float, 10.0, "weight of the gradient penalty")},
        {"batch": 64, "steps": 2000, "d_steps": 5, "lr": 1e-4, "betas": (0.0, 0.9)},
        help="WGAN-GP (Gulrajani et al. 2017): gradient penalty, Adam(1e-4, (0, 0.9)), 5 critic steps"),
    "infogan": ModelSpec(
        build_infogan,
        {"arch": ARCH, "nz": (int, 62, "size of the noise vector z (besides the codes)"),
         "n_cat": (int, 10, "categories of the categorical code (0: none)"),
         "n_cont": (int, 2, "number of continuous codes, uniform in [-1, 1]"),
         "info_lambda": (float, 1.0, "weight of the mutual-information loss"), "hidden": HIDDEN, "width": WIDTH},
        {"batch": 64, "steps": 2000, "d_steps": 1, **ADAM},
        help="InfoGAN (Chen et al. 2016): latent codes made interpretable by a mutual-information loss"),
}


def build(name: str, sample_shape: tuple, num_classes: int = 0, **options) -> GAN:
    """The GAN `name` for samples of sample_shape ((2,) for points, (C, H, W) for images), with options.

    Raises ValueError for an unknown name or option, a sample shape the model does not support, or a
    conditional model without classes.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}: expected one of {', '.join(MODELS)}")
    spec = MODELS[name]
    keywords = [p.name for p in inspect.signature(spec.build).parameters.values() if p.kind is p.KEYWORD_ONLY]
    unknown = sorted(set(options) - set(keywords))
    if unknown:
        raise ValueError(f"{name}: unknown option(s) {', '.join(unknown)}: expected some of {', '.join(keywords)}")
    if spec.needs_labels and num_classes < 1:
        raise ValueError(f"{name}: needs a labelled dataset: give num_classes (the number of labels), got "
                         f"{num_classes}")
    gan = spec.build(tuple(sample_shape), num_classes, **options)
    gan.name, gan.sample_shape, gan.num_classes = name, tuple(sample_shape), num_classes
    return gan


__all__ = ["GAN", "MODELS", "ModelSpec", "build"]
