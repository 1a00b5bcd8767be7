"""GAN: a generator, a discriminator and the losses that set them against each other.

The Trainer drives any GAN through five methods: sample_latent, generate, d_loss, g_loss and after_d_step; it
also asks for optimizers and the modules to checkpoint. A family (conditional, Wasserstein, InfoGAN) overrides
only what it changes.
"""

from __future__ import annotations

from minigan import optim
from minigan.nn import Module
from minigan.tensor import Tensor, randn
from minigan.train.objectives import OBJECTIVES, discriminator_loss, feature_matching_loss, generator_loss, probability


class GAN:
    """The GAN game of Goodfellow et al.: G maps noise z ~ N(0, I) to samples, D scores samples as real or not.

    objective: one of train.objectives.OBJECTIVES. real_label < 1: one-sided label smoothing. feature_matching:
    G matches the mean of D's intermediate features on real and generated batches (D must have `features`).
    lr, betas: Adam's, for both networks (DCGAN's 2e-4, (0.5, 0.999) by default).
    """

    d_steps = 1  # discriminator steps per generator step that suit this family (the Trainer's default)

    def __init__(self, g: Module, d: Module, nz: int, objective: str = "nonsat", real_label: float = 1.0,
                 feature_matching: bool = False, lr: float = 2e-4, betas: tuple = (0.5, 0.999)):
        if objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {objective!r}: expected one of {', '.join(OBJECTIVES)}")
        if not 0 < real_label <= 1:
            raise ValueError(f"real_label must be in (0, 1], got {real_label}")
        if feature_matching and not hasattr(d, "features"):
            raise ValueError(f"feature matching needs a discriminator with a features() method, got {type(d).__name__}")
        self.g, self.d, self.nz = g, d, nz
        self.objective, self.real_label, self.feature_matching = objective, real_label, feature_matching
        self.lr, self.betas = lr, tuple(betas)

    # ---- what the Trainer calls ----
    def sample_latent(self, n: int, device: str = "cpu") -> dict[str, Tensor]:
        """The generator's inputs for n samples."""
        return {"z": randn(n, self.nz, device=device)}

    def generate(self, latent: dict[str, Tensor]) -> Tensor:
        return self.g(latent["z"])

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

    def modules(self) -> dict[str, Module]:
        """The networks to checkpoint, by name."""
        return {"g": self.g, "d": self.d}
