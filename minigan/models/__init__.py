"""The GAN families, one file each, and the one table that states every model's options and defaults.

    gan       Goodfellow et al. 2014, MLPs, for points or flattened images            (gan.py)
    dcgan     the seed DCGAN for 28x28 / 32x32 images                                 (dcgan.py)
    dcgan64   Radford et al.'s DCGAN for 64x64 images, as PyTorch's example           (dcgan.py)
    cgan      Mirza and Osindero's conditional GAN, MLP or convolutional              (cgan.py)
    wgan      Arjovsky et al.'s WGAN with weight clipping                             (wgan.py)
    wgan-gp   Gulrajani et al.'s WGAN-GP with gradient penalty                        (wgan.py)
    infogan   Chen et al.'s InfoGAN, categorical and continuous codes                 (infogan.py)

MODELS[name].options is the only place where a model's options and their defaults are written: build() fills in
every option not given, the builders take them all as keywords without defaults, and `minigan train` makes a flag
of each (its --help shows the defaults). MODELS[name].training holds the Trainer's defaults for the model: batch,
steps and d_steps (discriminator steps per generator step), and the image size it needs where it needs one.
The losses the families share are in objectives.py, the helpers in common.py and layers.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from minigan.models.base import GAN
from minigan.models.cgan import build_cgan
from minigan.models.common import sizes
from minigan.models.dcgan import build_dcgan, build_dcgan64
from minigan.models.gan import build_gan
from minigan.models.infogan import build_infogan
from minigan.models.objectives import OBJECTIVES
from minigan.models.wgan import build_wgan, build_wgan_gp


def floats(value: str | tuple) -> tuple[float, ...]:
    """A tuple of floats from '0.5,0.999' (as a command line gives it) or from a sequence."""
    items = value.replace(" ", "").split(",") if isinstance(value, str) else list(value)
    try:
        return tuple(float(v) for v in items)
    except ValueError:
        raise ValueError(f"expected numbers separated by commas such as '0.5,0.999', got {value!r}") from None


@dataclass(frozen=True)
class Option:
    """One option of a model: how to read it from text, its default, one line of help, and its command-line
    flag (default --name, with - for _); choices, when given, are its only values."""

    type: Callable
    default: object
    help: str
    flag: str | None = None
    choices: tuple | None = None


@dataclass(frozen=True)
class ModelSpec:
    """How to build one GAN family, and how to train it by default."""

    build: Callable[..., GAN]  # build(sample_shape, num_classes, **options): every option as a keyword
    options: dict[str, Option]  # the model's options and their defaults
    training: dict = field(default_factory=dict)  # the Trainer's defaults: batch, steps, d_steps (, image size)
    needs_labels: bool = False  # the dataset must have labels
    help: str = ""  # one line for the command line


NZ = Option(int, 100, "size of the noise vector z")
HIDDEN = Option(sizes, (256, 256), "hidden layer sizes of the MLPs, comma separated")
WIDTH = Option(float, 1.0, "scale of the DCGAN channel counts (0.125 for a small fast model)")
ARCH = Option(str, "auto", "network type: mlp for points or images, conv (DCGAN) for 28x28/32x32 images, or auto "
                           "(mlp for points, conv for images)", choices=("auto", "mlp", "conv"))
MBD = Option(bool, False, "minibatch discrimination in D (Salimans et al. 2016)")
VBN = Option(bool, False, "virtual batch norm in G, from a fixed reference batch of noise (Salimans et al. 2016)")


def game(lr: float = 2e-4, betas: tuple = (0.5, 0.999)) -> dict[str, Option]:
    """The options of the GAN game that the non-Wasserstein families share: the loss, one-sided label smoothing,
    feature matching, and Adam's settings (DCGAN's by default)."""
    return {
        "objective": Option(str, "nonsat", "the GAN loss", choices=OBJECTIVES),
        "real_label": Option(float, 1.0, "one-sided label smoothing: the real samples' target, e.g. 0.9",
                             flag="--label-smoothing"),
        "feature_matching": Option(bool, False, "train G to match the mean of D's features on real and fake batches"),
        "lr": Option(float, lr, "learning rate of both networks"),
        "betas": Option(floats, betas, "Adam's betas, comma separated"),
    }


MODELS: dict[str, ModelSpec] = {
    "gan": ModelSpec(
        build_gan,
        {"nz": NZ, "hidden": HIDDEN, "batch_norm": Option(bool, False, "batch norm in G's hidden layers"),
         "virtual_batch_norm": VBN, "minibatch_discrimination": MBD, **game()},
        {"batch": 100, "steps": 5000, "d_steps": 1},
        help="vanilla GAN (Goodfellow et al. 2014): MLPs, for 2-D points or flattened images"),
    "dcgan": ModelSpec(
        build_dcgan,
        {"nz": NZ, "width": WIDTH, "virtual_batch_norm": VBN, "minibatch_discrimination": MBD, **game()},
        {"batch": 64, "steps": 2000, "d_steps": 1},
        help="DCGAN (Radford et al. 2016) for 28x28 or 32x32 images, gray or RGB"),
    "dcgan64": ModelSpec(
        build_dcgan64,
        {"nz": NZ, "ngf": Option(int, 64, "G's feature maps (last layer)"),
         "ndf": Option(int, 64, "D's feature maps (first layer)"), **game()},
        {"batch": 64, "steps": 2000, "d_steps": 1, "size": 64},
        help="DCGAN of Radford et al. at 64x64, as PyTorch's example (4x4 kernels, 64 feature maps)"),
    "cgan": ModelSpec(
        build_cgan,
        {"arch": ARCH, "nz": NZ, "embed_dim": Option(int, 16, "size of the learned label embedding"),
         "hidden": HIDDEN, "width": WIDTH, **game()},
        {"batch": 64, "steps": 3000, "d_steps": 1},
        needs_labels=True,
        help="conditional GAN (Mirza and Osindero 2014): G and D see the class label"),
    "wgan": ModelSpec(
        build_wgan,
        {"arch": ARCH, "nz": NZ, "hidden": HIDDEN, "width": WIDTH,
         "clip": Option(float, 0.01, "the critic's parameters are clipped to [-clip, clip] after each step"),
         "lr": Option(float, 5e-5, "learning rate of both networks (RMSprop)")},
        {"batch": 64, "steps": 2000, "d_steps": 5},
        help="Wasserstein GAN (Arjovsky et al. 2017): clipped critic, RMSprop, 5 critic steps"),
    "wgan-gp": ModelSpec(
        build_wgan_gp,
        {"arch": ARCH, "nz": NZ, "hidden": HIDDEN, "width": WIDTH,
         "gp_lambda": Option(float, 10.0, "weight of the gradient penalty"),
         "lr": Option(float, 1e-4, "learning rate of both networks"),
         "betas": Option(floats, (0.0, 0.9), "Adam's betas, comma separated")},
        {"batch": 64, "steps": 2000, "d_steps": 5},
        help="WGAN-GP (Gulrajani et al. 2017): gradient penalty, Adam(1e-4, (0, 0.9)), 5 critic steps"),
    "infogan": ModelSpec(
        build_infogan,
        {"arch": ARCH, "nz": Option(int, 62, "size of the noise vector z (besides the codes)"),
         "n_cat": Option(int, 10, "categories of the categorical code (0: none)"),
         "n_cont": Option(int, 2, "number of continuous codes, uniform in [-1, 1]"),
         "info_lambda": Option(float, 1.0, "weight of the mutual-information loss"), "hidden": HIDDEN,
         "width": WIDTH, **game()},
        {"batch": 64, "steps": 2000, "d_steps": 1},
        help="InfoGAN (Chen et al. 2016): latent codes made interpretable by a mutual-information loss"),
}


def build(name: str, sample_shape: tuple, num_classes: int = 0, **options) -> GAN:
    """The GAN `name` for samples of sample_shape ((2,) for points, (C, H, W) for images), with the options given
    and the table's defaults for the rest.

    Raises ValueError for an unknown name or option, a sample shape the model does not support, or a
    conditional model without classes.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}: expected one of {', '.join(MODELS)}")
    spec = MODELS[name]
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        raise ValueError(f"{name}: unknown option(s) {', '.join(unknown)}: expected some of {', '.join(spec.options)}")
    for key, value in options.items():
        choices = spec.options[key].choices
        if choices is not None and value not in choices:
            raise ValueError(f"{name}: unknown {key} {value!r}: expected one of {', '.join(choices)}")
    if spec.needs_labels and num_classes < 1:
        raise ValueError(f"{name}: needs a labelled dataset: give num_classes (the number of labels), got "
                         f"{num_classes}")
    values = {key: option.default for key, option in spec.options.items()} | options
    gan = spec.build(tuple(sample_shape), num_classes, **values)
    gan.name, gan.sample_shape, gan.num_classes = name, tuple(sample_shape), num_classes
    return gan


__all__ = ["GAN", "MODELS", "ModelSpec", "Option", "build"]
