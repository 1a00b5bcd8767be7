"""Mode collapse on the 2-D ring and grid, and what packing and the other remedies do about it (PacGAN, Lin et al.
2018, Table 1).

The protocol is PacGAN's: 8 Gaussians on the unit circle (sigma 0.01) and 25 on the grid {-4, ..., 4}^2 (sigma
0.05), 100,000 training points. The generator maps 2-D standard normal noise through 4 hidden layers of 400 ReLU
units with batch norm to a linear 2-D output; the discriminator has 3 hidden layers of 200 maxout units of 5
pieces each, then one logit. Every weight starts from N(0, 0.02^2) and every bias at 0. Adam (lr 1e-4, betas
(0.8, 0.999)), batches of 100, the non-saturating loss. PacGAN-m packs: D sees m samples side by side as one
input of width 2m (m real points, or m generated ones, drawn independently), so a batch holds 100 packs; the
generator draws each of the m slots of a batch in its own forward pass, so its batch-norm statistics come from
100 samples as in the vanilla GAN.

The remedies compared with packing use the same networks: minibatch discrimination (Salimans et al. 2016: 50
kernels of 5 dimensions on D's last hidden layer), feature matching (G matches the mean of D's last hidden
layer on real and generated batches), and WGAN-GP (Gulrajani et al. 2017: the maxout critic, which has no batch
norm, its gradient penalty with lambda 10, 5 critic steps per generator step, Adam lr 1e-4, betas (0, 0.9), as
that paper trains).

Each trained generator (in evaluation mode: batch norm uses its running statistics) draws 2,500 samples, which
minigan.metrics.modes scores: modes covered, the fraction of high-quality samples (within 3 sigma of their
nearest mode) and the reverse KL of their histogram over the modes. PacGAN trains 400 epochs (400,000 steps)
and averages 10 trials; a 2-core CPU cannot, so this experiment trains far fewer steps and trials (FULL below,
chosen from the measured time per step so that the whole experiment takes under an hour) and says so in its
record and its picture.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy
from matplotlib.patches import Circle
from tqdm import tqdm

import minigan.data
from minigan import nn, ops, random
from minigan.data.mixtures import mixture_modes
from minigan.metrics.modes import mean_and_stderr, mode_coverage
from minigan.models.base import GAN
from minigan.models.gan import MLPGenerator
from minigan.models.layers import FeatureDiscriminator, Maxout
from minigan.models.wgan import WGANGP
from minigan.tensor import Tensor, randn
from minigan.train.trainer import TrainConfig, Trainer
from minigan.viz.common import new_figure, write_figure

NZ = 2  # PacGAN's noise: a 2-D standard normal
G_HIDDEN = (400, 400, 400, 400)
D_HIDDEN, D_PIECES, D_LAYERS = 200, 5, 3
BATCH = 100
LR, BETAS = 1e-4, (0.8, 0.999)
WGAN_GP = {"gp_lambda": 10.0, "lr": 1e-4, "betas": (0.0, 0.9)}  # Gulrajani et al.'s settings
CRITIC_STEPS = 5  # WGAN-GP's critic steps per generator step
INIT_STD = 0.02
TRAIN_POINTS = 100_000
EVAL_SAMPLES = 2500
DATASETS = ("ring8", "grid25")
VARIANTS = ("GAN", "PacGAN2", "PacGAN4", "minibatch discrimination", "feature matching", "WGAN-GP")

# How much we train. On the 2-core CPU (shared with other work) one step took 40-100 ms for the GAN, 50-130 ms
# for PacGAN4, 140-300 ms with minibatch discrimination and 180-410 ms for WGAN-GP (5 critic steps): 1 to 2.3 s
# for a step of all twelve runs. 2,000 steps and one trial take `minigan experiment mode-collapse` about 50
# minutes; that is 1/200 of PacGAN's training and 1/10 of its trials, so the generators are caught early in
# training, far from where PacGAN's numbers were taken.
FULL = {"trials": 1, "steps": 2000}
QUICK = {"trials": 1, "steps": 4}
PACGAN = {"trials": 10, "epochs": 400, "steps": 400 * TRAIN_POINTS // BATCH, "batch": BATCH,
          "train_points": TRAIN_POINTS, "eval_samples": EVAL_SAMPLES}

VARIANT_NOTES = {
    "GAN": "non-saturating loss, Adam lr 1e-4, betas (0.8, 0.999)",
    "PacGAN2": "as GAN; D sees packs of 2 samples (input width 4)",
    "PacGAN4": "as GAN; D sees packs of 4 samples (input width 8)",
    "minibatch discrimination": "as GAN; 50 kernels of 5 dimensions on D's last hidden layer",
    "feature matching": "as GAN; G matches the mean of D's last hidden layer on real and generated batches",
    "WGAN-GP": "Wasserstein loss, gradient penalty lambda 10, 5 critic steps per G step, Adam lr 1e-4, betas (0, 0.9)",
}

PUBLISHED = {  # PacGAN (Lin et al. 2018), Table 1: means over 10 trials
    "source": "Lin et al. 2018, PacGAN, Table 1 (mean of 10 trials); only these entries are given here",
    "GAN": {"ring8": {"modes_covered": 6.3, "high_quality": 0.982}, "grid25": {"modes_covered": 17.3,
                                                                                "high_quality": 0.948}},
    "PacGAN4": {"ring8": {"modes_covered": 7.8}, "grid25": {"modes_covered": 24.8}},
}


class MaxoutDiscriminator(FeatureDiscriminator):
    """x (N, in_features) -> 3 x Maxout(200 units, 5 pieces) = features (N, 200) -> (minibatch discrimination)
    -> Linear -> one logit (or critic score) per row, shape (N, 1). For PacGAN-m, in_features = 2m."""

    def __init__(self, in_features: int, minibatch_discrimination: bool = False):
        layers, width = [], in_features
        for _ in range(D_LAYERS):
            layers.append(Maxout(width, D_HIDDEN, D_PIECES))
            width = D_HIDDEN
        super().__init__(nn.Sequential(*layers), width, minibatch_discrimination=minibatch_discrimination)


class PackedGAN(GAN):
    """The GAN game with a discriminator that judges packs of `pack` samples (PacGAN; pack=1 is the plain GAN).

    A batch of pack * n samples (N, 2), real or generated, is read as n packs: rows i*pack ... i*pack + pack - 1
    form pack i, laid side by side as one row of width 2 * pack, and D gives one logit per pack.
    """

    def __init__(self, g: nn.Module, d: nn.Module, nz: int, pack: int, feature_matching: bool):
        super().__init__(g, d, nz, objective="nonsat", real_label=1.0, feature_matching=feature_matching, lr=LR,
                         betas=BETAS)
        self.pack = pack

    def generate(self, latent: dict[str, Tensor], g: nn.Module | None = None) -> Tensor:
        """G's samples for the noise, slot by slot: slot k of every pack comes from its own forward pass over n
        noise vectors, so that batch norm sees batches of n samples whatever the packing (as in PacGAN)."""
        z = latent["z"]
        n = z.shape[0] // self.pack
        slots = [(g or self.g)(z[k * n:(k + 1) * n]) for k in range(self.pack)]  # each (n, 2)
        return ops.cat(slots, 1).reshape(z.shape[0], -1)  # row i * pack + k = slot k of pack i

    def discriminate(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.d(x.reshape(x.shape[0] // self.pack, -1)).reshape(-1)


def _init_weights(module: nn.Module) -> None:
    """PacGAN's initialisation: every Linear weight from N(0, 0.02^2), every Linear bias 0 (batch norm and the
    minibatch-discrimination tensor keep their own)."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, INIT_STD)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def build(variant: str) -> GAN:
    """The generator, the discriminator and the game of one variant, initialised as in PacGAN (from minigan's
    random generator, so that manual_seed fixes the weights)."""
    pack = {"PacGAN2": 2, "PacGAN4": 4}.get(variant, 1)
    g = MLPGenerator(NZ, (2,), G_HIDDEN, batch_norm=True)
    d = MaxoutDiscriminator(2 * pack, minibatch_discrimination=variant == "minibatch discrimination")
    _init_weights(g)
    _init_weights(d)
    if variant == "WGAN-GP":
        return WGANGP(g, d, NZ, **WGAN_GP)
    return PackedGAN(g, d, NZ, pack=pack, feature_matching=variant == "feature matching")


def run_seed(seed: int, variant: str, data: str, trial: int) -> int:
    """A seed of its own for each (variant, data set, trial), derived from the experiment's seed."""
    key = [seed, VARIANTS.index(variant), DATASETS.index(data), trial]
    return int(numpy.random.SeedSequence(key).generate_state(1)[0] >> 1)


def train_one(variant: str, data: str, steps: int, seed: int, out: Path, bar: tqdm | None = None) -> tuple:
    """Train one variant on one data set for `steps` generator steps from `seed`; return its 2,500 evaluation
    samples (numpy (2500, 2)), their mode coverage and the seconds per step."""
    dataset = minigan.data.load(data, n=TRAIN_POINTS, seed=seed)
    random.manual_seed(seed)
    gan = build(variant)
    pack = getattr(gan, "pack", 1)
    d_steps = CRITIC_STEPS if variant == "WGAN-GP" else 1
    config = TrainConfig(out=str(out), steps=steps, batch=BATCH * pack, d_steps=d_steps, seed=seed + 1,
                         progress=False)
    trainer = Trainer(gan, dataset, config)  # only its train_step is used: nothing is written to out
    batches = trainer.loader.batches()
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step(batches)
        trainer.step += 1
        if bar is not None:
            bar.update(1)
    seconds = (time.perf_counter() - start) / max(steps, 1)
    samples = gan.draw({"z": randn(EVAL_SAMPLES, NZ)}).numpy()
    return samples, mode_coverage(samples, dataset.modes, dataset.sigma), seconds


def run(out: Path, quick: bool, seed: int) -> dict:
    """Train every variant on both mixtures (for QUICK["steps"] or FULL["steps"] steps, as many trials), score
    each generator, draw <out>/mode-collapse.png and return our numbers next to PacGAN's."""
    protocol = QUICK if quick else FULL
    trials, steps = protocol["trials"], protocol["steps"]
    total = len(VARIANTS) * len(DATASETS) * trials * steps
    bar = tqdm(total=total, desc="mode-collapse", unit="step", disable=quick)
    ours, samples, seconds = {}, {}, {}
    for variant in VARIANTS:
        ours[variant], seconds[variant] = {}, {}
        for data in DATASETS:
            scores, times = [], []
            for trial in range(trials):
                bar.set_postfix_str(f"{variant} on {data}, trial {trial + 1}/{trials}")
                points, score, per_step = train_one(variant, data, steps, run_seed(seed, variant, data, trial),
                                                    out, bar)
                if trial == 0:
                    samples[variant, data] = points
                scores.append(score)
                times.append(per_step)
            ours[variant][data] = {
                "modes_covered": mean_and_stderr([s.modes_covered for s in scores]),
                "high_quality": mean_and_stderr([s.high_quality for s in scores]),
                "reverse_kl": mean_and_stderr([s.reverse_kl for s in scores]),
                "num_modes": scores[0].num_modes,
                "trials": [s.as_dict() for s in scores],
            }
            seconds[variant][data] = round(float(numpy.mean(times)), 4)
    bar.close()
    record = {
        "protocol": {
            "ours": {"trials": trials, "steps": steps, "epochs": steps * BATCH / TRAIN_POINTS, "batch": BATCH,
                     "train_points": TRAIN_POINTS, "eval_samples": EVAL_SAMPLES},
            "pacgan": PACGAN,
            "note": "steps are generator steps (WGAN-GP: 5 critic steps each); epochs = steps * 100 / 100,000, "
                    "as PacGAN counts them",
            "variants": VARIANT_NOTES,
            "seconds_per_step": seconds,
        },
        "ours": ours,
        "published": PUBLISHED,
        "ours_vs_published": {variant: {data: {metric: {"ours": ours[variant][data][metric]["mean"], "paper": paper}
                                               for metric, paper in PUBLISHED[variant][data].items()}
                                        for data in DATASETS}
                              for variant in VARIANTS if variant in PUBLISHED},
    }
    draw(out / "mode-collapse.png", samples, ours, record["protocol"]["ours"])
    return record


def _panel_title(variant: str, data: str, score: dict, trials: int) -> str:
    first, k = score["trials"][0], score["num_modes"]
    lines = [f"{data}: {first['modes_covered']}/{k} modes, {100 * first['high_quality']:.1f}% high quality"]
    if trials > 1:
        lines.append(f"mean of {trials} trials: {score['modes_covered']['mean']:.1f} modes, "
                     f"{100 * score['high_quality']['mean']:.1f}%")
    paper = PUBLISHED.get(variant, {}).get(data)
    if paper:
        hq = f", {100 * paper['high_quality']:.1f}%" if "high_quality" in paper else ""
        lines.append(f"PacGAN paper: {paper['modes_covered']} modes{hq}")
    return "\n".join(lines)


def draw(path: Path, samples: dict, ours: dict, protocol: dict) -> None:
    """A grid of scatter plots: one row per variant, one column per mixture, each panel the first trial's
    2,500 samples over the mode centres and their 3-sigma discs, titled with its modes covered and share of
    high-quality samples (and PacGAN's numbers where the paper gives them)."""
    shortfall = ("\nso these panels show early training, not the converged state that PacGAN's "
                 "numbers describe") if protocol["steps"] < PACGAN["steps"] // 10 else ""
    figure = new_figure(8.0, 2.4 + 3.6 * len(VARIANTS))
    axes = figure.subplots(len(VARIANTS), len(DATASETS), squeeze=False)
    for col, data in enumerate(DATASETS):
        modes, sigma = mixture_modes(data)
        reach = numpy.abs(modes).max() * 1.35
        for row, variant in enumerate(VARIANTS):
            ax, points, score = axes[row, col], samples[variant, data], ours[variant][data]
            ax.scatter(points[:, 0], points[:, 1], s=4, color="tab:orange", alpha=0.4, linewidths=0)
            ax.scatter(modes[:, 0], modes[:, 1], s=14, marker="x", color="black", linewidths=0.8)
            for centre in modes:
                ax.add_patch(Circle(centre, 3 * sigma, fill=False, color="0.3", linewidth=0.6))
            outside = int((numpy.abs(points) > reach).any(axis=1).sum())
            if outside:
                ax.text(0.02, 0.02, f"{outside} samples outside the frame", transform=ax.transAxes, fontsize=8)
            ax.set_xlim(-reach, reach)
            ax.set_ylim(-reach, reach)
            ax.set_aspect("equal")
            ax.tick_params(labelsize=8)
            ax.set_title(_panel_title(variant, data, score, protocol["trials"]), fontsize=9)
            if col == 0:
                ax.set_ylabel(variant, fontsize=12, fontweight="bold")
    figure.suptitle("Mode collapse on 2-D Gaussian mixtures, PacGAN's protocol: 2,500 samples of each generator "
                    "(orange),\nthe mode centres (x) and their 3-sigma discs (where a sample is high quality)\n"
                    f"ours: {protocol['steps']:,} steps ({protocol['epochs']:g} epochs), {protocol['trials']} "
                    f"trial(s); PacGAN: {PACGAN['steps']:,} steps ({PACGAN['epochs']} epochs), {PACGAN['trials']} "
                    f"trials{shortfall}", fontsize=10)
    write_figure(figure, path)
