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

import math
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
    flag (default --name, with - for _); choices, when given, are its only values. A number's range: least and
    most inclusive, above and below exclusive (None: no bound), applied to each element of a tuple-valued option
    (hidden sizes, betas), whose length is (fewest, most) elements. The default's type is the value's type (of
    each element, for a tuple)."""

    type: Callable
    default: object
    help: str
    flag: str | None = None
    choices: tuple | None = None
    least: float | None = None
    most: float | None = None
    above: float | None = None
    below: float | None = None
    length: tuple[int, int] | None = None

    def check(self, value):
        """value converted to the option's type (an int given for a float, a list for a tuple; a tuple-valued
        option also takes its text form, '256,256') and checked against its type, choices and range; ValueError
        otherwise, saying what is expected, e.g. 'must be an integer from 1 to 4096, got 200000'."""
        if not isinstance(self.default, tuple):
            if not self._valid(value, type(self.default)):
                raise ValueError(f"must be {self._wanted()}, got {value!r:.80}")
            return float(value) if isinstance(self.default, float) else value
        if isinstance(value, str):
            value = self.type(value)
        kind = type(self.default[0])
        fewest, most = self.length or (0, math.inf)
        if not (isinstance(value, (list, tuple)) and fewest <= len(value) <= most
                and all(self._valid(v, kind) for v in value)):
            raise ValueError(f"must be {self._wanted()}, got {value!r:.80}")
        return tuple(float(v) if kind is float else v for v in value)

    def _valid(self, value, kind: type) -> bool:
        if kind is bool:
            return isinstance(value, bool)
        if kind is str:
            return isinstance(value, str) and (self.choices is None or value in self.choices)
        # the range first: NaN fails it, and it keeps huge ints away from math.isfinite
        number = isinstance(value, int) or (kind is float and isinstance(value, float))
        return number and not isinstance(value, bool) and self._in_range(value) and math.isfinite(value)

    def _in_range(self, x) -> bool:
        return ((self.least is None or x >= self.least) and (self.most is None or x <= self.most)
                and (self.above is None or x > self.above) and (self.below is None or x < self.below))

    def _wanted(self) -> str:
        """What a valid value is, in words: 'an integer from 1 to 4096', 'a sequence of 2 numbers at least 0 and
        below 1'."""
        kind = type(self.default[0] if isinstance(self.default, tuple) else self.default)
        if kind is bool:
            return "True or False"
        if kind is str:
            return "one of " + ", ".join(self.choices) if self.choices else "text"
        if isinstance(self.default, tuple):
            fewest, most = self.length or (0, None)
            count = f"{fewest} " if fewest == most else f"at most {most} " if most is not None else ""
            noun = f"a sequence of {count}{'integers' if kind is int else 'numbers'}"
        else:
            noun = "an integer" if kind is int else "a number"
        if self.least is not None and self.most is not None:
            return f"{noun} from {self.least} to {self.most}"
        low = f"at least {self.least}" if self.least is not None else f"above {self.above}" if self.above is not None \
            else ""
        high = f"at most {self.most}" if self.most is not None else f"below {self.below}" if self.below is not None \
            else ""
        return " ".join([noun, " and ".join(limit for limit in (low, high) if limit)]).strip()


@dataclass(frozen=True)
class ModelSpec:
    """How to build one GAN family, and how to train it by default."""

    build: Callable[..., GAN]  # build(sample_shape, num_classes, **options): every option as a keyword
    options: dict[str, Option]  # the model's options and their defaults
    training: dict = field(default_factory=dict)  # the Trainer's defaults: batch, steps, d_steps (, image size)
    needs_labels: bool = False  # the dataset must have labels
    help: str = ""  # one line for the command line


NZ = Option(int, 100, "size of the noise vector z", least=1, most=4096)
HIDDEN = Option(sizes, (256, 256), "hidden layer sizes of the MLPs, comma separated", least=1, most=8192,
                length=(0, 32))
WIDTH = Option(float, 1.0, "scale of the DCGAN channel counts (0.125 for a small fast model)", above=0, most=8)
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
                             flag="--label-smoothing", above=0, most=1),
        "feature_matching": Option(bool, False, "train G to match the mean of D's features on real and fake batches"),
        "lr": Option(float, lr, "learning rate of both networks", above=0, most=10),
        "betas": Option(floats, betas, "Adam's betas, comma separated", least=0, below=1, length=(2, 2)),
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
        {"nz": NZ, "ngf": Option(int, 64, "G's feature maps (last layer)", least=1, most=512),
         "ndf": Option(int, 64, "D's feature maps (first layer)", least=1, most=512), **game()},
        {"batch": 64, "steps": 2000, "d_steps": 1, "size": 64},
        help="DCGAN of Radford et al. at 64x64, as PyTorch's example (4x4 kernels, 64 feature maps)"),
    "cgan": ModelSpec(
        build_cgan,
        {"arch": ARCH, "nz": NZ, "embed_dim": Option(int, 16, "size of the learned label embedding", least=1, most=4096),
         "hidden": HIDDEN, "width": WIDTH, **game()},
        {"batch": 64, "steps": 3000, "d_steps": 1},
        needs_labels=True,
        help="conditional GAN (Mirza and Osindero 2014): G and D see the class label"),
    "wgan": ModelSpec(
        build_wgan,
        {"arch": ARCH, "nz": NZ, "hidden": HIDDEN, "width": WIDTH,
         "clip": Option(float, 0.01, "the critic's parameters are clipped to [-clip, clip] after each step",
                        above=0, most=100),
         "lr": Option(float, 5e-5, "learning rate of both networks (RMSprop)", above=0, most=10)},
        {"batch": 64, "steps": 2000, "d_steps": 5},
        help="Wasserstein GAN (Arjovsky et al. 2017): clipped critic, RMSprop, 5 critic steps"),
    "wgan-gp": ModelSpec(
        build_wgan_gp,
        {"arch": ARCH, "nz": NZ, "hidden": HIDDEN, "width": WIDTH,
         "gp_lambda": Option(float, 10.0, "weight of the gradient penalty", least=0, most=1000),
         "lr": Option(float, 1e-4, "learning rate of both networks", above=0, most=10),
         "betas": Option(floats, (0.0, 0.9), "Adam's betas, comma separated", least=0, below=1,
                          length=(2, 2))},
        {"batch": 64, "steps": 2000, "d_steps": 5},
        help="WGAN-GP (Gulrajani et al. 2017): gradient penalty, Adam(1e-4, (0, 0.9)), 5 critic steps"),
    "infogan": ModelSpec(
        build_infogan,
        {"arch": ARCH, "nz": Option(int, 62, "size of the noise vector z (besides the codes)", least=1, most=4096),
         "n_cat": Option(int, 10, "categories of the categorical code (0: none)", least=0, most=1000),
         "n_cont": Option(int, 2, "number of continuous codes, uniform in [-1, 1]", least=0, most=100),
         "info_lambda": Option(float, 1.0, "weight of the mutual-information loss", least=0, most=1000),
         "hidden": HIDDEN,
         "width": WIDTH, **game()},
        {"batch": 64, "steps": 2000, "d_steps": 1},
        help="InfoGAN (Chen et al. 2016): latent codes made interpretable by a mutual-information loss"),
}


def build(name: str, sample_shape: tuple, num_classes: int = 0, **options) -> GAN:
    """The GAN `name` for samples of sample_shape ((2,) for points, (C, H, W) for images), with the options given
    and the table's defaults for the rest.

    Raises ValueError for an unknown name or option, an option's value of the wrong type or out of its range, a
    sample shape the model does not support, or a conditional model without classes.
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
    checked = {}
    for key, value in options.items():
        try:
            checked[key] = spec.options[key].check(value)
        except ValueError as error:
            raise ValueError(f"{name}: {key} {error}") from None
    if spec.needs_labels and num_classes < 1:
        raise ValueError(f"{name}: needs a labelled dataset: give num_classes (the number of labels), got "
                         f"{num_classes}")
    values = {key: option.default for key, option in spec.options.items()} | checked
    gan = spec.build(tuple(sample_shape), num_classes, **values)
    gan.name, gan.sample_shape, gan.num_classes = name, tuple(sample_shape), num_classes
    return gan


__all__ = ["GAN", "MODELS", "ModelSpec", "Option", "build"]
