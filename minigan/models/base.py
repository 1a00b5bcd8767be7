"""GAN: a generator, a discriminator and the losses that set them against each other.

The Trainer drives any GAN through sample_latent, generate, d_loss, g_loss and after_d_step; it also asks for
optimizers and the networks to checkpoint. A family (conditional, Wasserstein, InfoGAN) overrides only what it
changes, and says what it is: `conditional` is true for the families whose samples follow a class label.
"""

from __future__ import annotations

import numpy
from tqdm import tqdm

from minigan import optim
from minigan.autograd import no_grad
from minigan.models.objectives import OBJECTIVES, discriminator_loss, feature_matching_loss, generator_loss, probability
from minigan.nn import Module
from minigan.tensor import Tensor, randn


class GAN:
    """The GAN game of Goodfellow et al.: G maps noise z ~ N(0, I) to samples, D scores samples as real or not.

    objective: one of models.objectives.OBJECTIVES. real_label < 1: one-sided label smoothing. feature_matching:
    G matches the mean of D's intermediate features on real and generated batches (D must have `features`).
    lr, betas: Adam's, for both networks (betas None for a family whose optimizer has none). build() fills every
    option from the model table (minigan.models).
    """

    conditional = False  # whether samples follow a class label (sample_latent takes labels)

    def __init__(self, g: Module, d: Module, nz: int, *, objective: str, real_label: float, feature_matching: bool,
                 lr: float, betas: tuple | None):
        if objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {objective!r}: expected one of {', '.join(OBJECTIVES)}")
        if not 0 < real_label <= 1:
            raise ValueError(f"real_label must be in (0, 1], got {real_label}")
        if feature_matching and not hasattr(d, "features"):
            raise ValueError(f"feature matching needs a discriminator with a features() method, got {type(d).__name__}")
        self.g, self.d, self.nz = g, d, nz
        self.objective, self.real_label, self.feature_matching = objective, real_label, feature_matching
        self.lr, self.betas = lr, None if betas is None else tuple(betas)

    # ---- what the Trainer calls ----
    def sample_latent(self, n: int, device: str = "cpu", labels=None) -> dict[str, Tensor]:
        """The generator's inputs for n samples (labels: only for a conditional GAN)."""
        if labels is not None:
            raise ValueError(f"{type(self).__name__} is not conditional: it takes no labels")
        return {"z": randn(n, self.nz, device=device)}

    def generate(self, latent: dict[str, Tensor], g: Module | None = None) -> Tensor:
        """G's samples for a latent batch; g: another generator of the same form to use instead of self.g (a
        moving average of it)."""
        return (g or self.g)(latent["z"])

    def discriminate(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """D's raw outputs (logits or scores), one per sample."""
        return self.d(x).reshape(-1)

    def d_loss(self, x: Tensor, labels: Tensor | None, fake: Tensor, latent: dict) -> tuple[Tensor, dict]:
        """The discriminator's loss on a real batch (x, labels) and a generated one, and what to log."""
        real_out = self.discriminate(x, labels)
        fake_out = self.discriminate(fake, latent.get("labels"))
        loss = discriminator_loss(real_out, fake_out, self.objective, self.real_label)
        return loss, {"d_real": probability(real_out, self.objective), "d_fake": probability(fake_out, self.objective)}

    def g_loss(self, x: Tensor, labels: Tensor | None, fake: Tensor, latent: dict) -> tuple[Tensor, dict]:
        """The generator's loss on a generated batch (the real batch serves feature matching)."""
        if self.feature_matching:
            return feature_matching_loss(self.d.features(x).detach(), self.d.features(fake)), {}
        return generator_loss(self.discriminate(fake, latent.get("labels")), self.objective), {}

    def after_d_step(self) -> None:
        """Called after each discriminator update (WGAN clips its weights here)."""

    def optimizers(self) -> tuple[optim.Optimizer, optim.Optimizer]:
        """(generator's, discriminator's) optimizer."""
        return (optim.Adam(self.g.parameters(), lr=self.lr, betas=self.betas),
                optim.Adam(self.d.parameters(), lr=self.lr, betas=self.betas))

    def networks(self) -> dict[str, Module]:
        """The networks to checkpoint, by name."""
        return {"g": self.g, "d": self.d}

    # ---- samples to look at and to score ----
    def draw(self, latent: dict[str, Tensor], g: Module | None = None) -> Tensor:
        """generate() as pictures and scores want it: the generator in evaluation mode (running batch-norm
        statistics), without a graph; the generator's mode is restored afterwards."""
        g = g or self.g
        training = g.training
        g.eval()
        try:
            with no_grad():
                return self.generate(latent, g)
        finally:
            g.train(training)

    def samples(self, n: int, batch: int = 500, g: Module | None = None, progress: bool = False) -> numpy.ndarray:
        """n samples as a float32 NumPy array, drawn batch by batch (latents from minigan's random generator;
        conditional models draw their labels uniformly)."""
        parts = []
        for start in tqdm(range(0, n, batch), desc="generate", unit="batch", disable=not progress or n <= batch,
                          leave=False):
            parts.append(self.draw(self.sample_latent(min(batch, n - start)), g).numpy())
        return numpy.concatenate(parts).astype(numpy.float32, copy=False)
