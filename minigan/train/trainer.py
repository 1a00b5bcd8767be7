"""The Trainer: the loop of Goodfellow et al.'s Algorithm 1 around any GAN, with what a person watching needs.

Each iteration updates the discriminator d_steps times, each time on a fresh real batch and a fresh generated
batch, then the generator once, on the last generated batch (with D's weights frozen: their gradients would be
discarded). Every step appends a line to <out>/log.jsonl
(losses, D's mean output on real and generated samples, the gradient norm of each network); every
sample_every steps it draws the generator's samples for a fixed latent batch to <out>/samples/ and the loss
curves to <out>/losses.png; every checkpoint_every steps it writes a checkpoint, keeping the last `keep`. A
step whose losses are not finite stops the run with a message naming the step and the loss; the checkpoints
written before it are left as they were.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm import tqdm

from minigan import random, viz
from minigan.autograd import no_grad, set_grad_enabled
from minigan.data import Dataset, Loader
from minigan.models.base import GAN
from minigan.nn import Module
from minigan.train.checkpoint import latest_checkpoint, read_checkpoint, write_checkpoint


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite."""


@dataclass
class TrainConfig:
    """How long and how to train, and what to write where."""

    out: str
    steps: int = 1000
    batch: int = 64
    d_steps: int = 1
    sample_every: int = 100
    checkpoint_every: int = 500
    keep: int = 3
    ema: float | None = None  # decay of an exponential moving average of G's weights (e.g. 0.999), or None
    seed: int = 0
    device: str = "cpu"
    samples: int = 64  # size of the fixed latent batch drawn every sample_every steps
    progress: bool = True


def _grad_norm(module: Module) -> float:
    total = 0.0
    for p in module.parameters():
        if p.grad is not None:
            total += float((p.grad.data.astype("float64") ** 2).sum())
    return math.sqrt(total)


class Trainer:
    """Runs a GAN on a dataset. `meta` (model name, options, data description) goes into every checkpoint, so
    that `minigan sample` can rebuild the model from the file alone."""

    def __init__(self, gan: GAN, dataset: Dataset, config: TrainConfig, meta: dict | None = None):
        if config.d_steps < 1 or config.steps < 0 or config.batch < 1:
            raise ValueError(f"d_steps and batch must be at least 1 and steps non-negative, got {config}")
        self.gan, self.dataset, self.config, self.meta = gan, dataset, config, dict(meta or {})
        self.out = Path(config.out)
        random.manual_seed(config.seed)
        self.loader = Loader(dataset, config.batch, shuffle=True, seed=config.seed, device=config.device)
        for module in gan.networks().values():
            module.to(config.device)
        self.opt_g, self.opt_d = gan.optimizers()
        self.ema = copy.deepcopy(gan.g) if config.ema else None
        self.fixed_latent = gan.sample_latent(config.samples, config.device)
        self.step = 0
        self.last_checkpoint: Path | None = None

    # ---- checkpoints ----
    def state(self) -> dict:
        """Everything that a resumed run needs, as plain values and arrays."""
        return {
            "meta": self.meta, "config": asdict(self.config),
            "modules": {name: m.state_dict() for name, m in self.gan.networks().items()},
            "optimizers": {"g": self.opt_g.state_dict(), "d": self.opt_d.state_dict()},
            "ema": None if self.ema is None else self.ema.state_dict(),
            "fixed_latent": self.fixed_latent, "rng": random.get_rng_state(), "loader": self.loader.state_dict(),
        }

    def save(self) -> Path:
        self.last_checkpoint = write_checkpoint(self.out, self.step, self.state(), self.config.keep)
        return self.last_checkpoint

    def resume(self, path: str | Path | None = None) -> bool:
        """Continue from a checkpoint (the latest under out by default); False when there is none."""
        path = path or latest_checkpoint(self.out)
        if path is None:
            return False
        state = read_checkpoint(path)
        if state["meta"].get("model") != self.meta.get("model") or state["meta"].get("data") != self.meta.get("data"):
            raise ValueError(f"{path} was written for {state['meta'].get('model')} on {state['meta'].get('data')}, "
                             f"not {self.meta.get('model')} on {self.meta.get('data')}")
        for name, module in self.gan.networks().items():
            module.load_state_dict(state["modules"][name])
        self.opt_g.load_state_dict(state["optimizers"]["g"])
        self.opt_d.load_state_dict(state["optimizers"]["d"])
        if self.ema is not None and state["ema"] is not None:
            self.ema.load_state_dict(state["ema"])
        self.fixed_latent = {k: v.to(self.config.device) for k, v in state["fixed_latent"].items()}
        random.set_rng_state(state["rng"])
        self.loader.load_state_dict(state["loader"])
        self.step = int(state["step"])
        self.last_checkpoint = Path(path)
        self._truncate_log()
        return True

    # ---- the loop ----
    def train_step(self, batches: Iterator) -> dict:
        """One generator update after d_steps discriminator updates; returns the log record."""
        gan, opt_d, opt_g = self.gan, self.opt_d, self.opt_g
        for k in range(self.config.d_steps):
            x, y = next(batches)
            latent = gan.sample_latent(x.shape[0], self.config.device)
            with set_grad_enabled(k == self.config.d_steps - 1):  # G's graph is needed for the last batch only
                fake = gan.generate(latent)
            loss_d, logs_d = gan.d_loss(x, y, fake.detach(), latent)
            opt_d.zero_grad()
            loss_d.backward()
            grad_norm_d = _grad_norm(gan.d)
            opt_d.step()
            gan.after_d_step()
        gan.d.requires_grad_(False)  # G's step needs gradients through D, not D's own weight gradients
        try:
            loss_g, logs_g = gan.g_loss(x, y, fake, latent)
            opt_g.zero_grad()
            loss_g.backward()
        finally:
            gan.d.requires_grad_(True)
        grad_norm_g = _grad_norm(gan.g)
        opt_g.step()
        self._update_ema()
        record = {"step": self.step + 1, "loss_d": float(loss_d.item()), "loss_g": float(loss_g.item()),
                  **{k: float(v) for k, v in {**logs_d, **logs_g}.items()},
                  "grad_norm_d": grad_norm_d, "grad_norm_g": grad_norm_g}
        for key in ("loss_d", "loss_g"):
            if not math.isfinite(record[key]):
                where = f"the last good checkpoint is {self.last_checkpoint}" if self.last_checkpoint else \
                    "no checkpoint was written before it"
                raise TrainingDiverged(f"training diverged at step {record['step']}: {key} is {record[key]}; {where}")
        return record

    def run(self) -> None:
        """Train until config.steps, logging, drawing and checkpointing on the way."""
        cfg = self.config
        self.out.mkdir(parents=True, exist_ok=True)
        batches = self.loader.batches()
        bar = tqdm(total=cfg.steps, initial=self.step, disable=not cfg.progress, desc="train", unit="step")
        start = time.perf_counter()
        with open(self.out / "log.jsonl", "a") as log:
            while self.step < cfg.steps:
                record = self.train_step(batches)
                self.step += 1
                record["seconds"] = round(time.perf_counter() - start, 3)
                log.write(json.dumps(record) + "\n")
                bar.update(1)
                bar.set_postfix(loss_d=f"{record['loss_d']:.3f}", loss_g=f"{record['loss_g']:.3f}")
                if self.step % cfg.sample_every == 0 or self.step == cfg.steps:
                    log.flush()
                    self.draw()
                if self.step % cfg.checkpoint_every == 0 or self.step == cfg.steps:
                    self.save()
        bar.close()

    # ---- pictures ----
    def generator(self) -> Module:
        """The generator that samples are drawn from: the moving average when there is one."""
        return self.ema if self.ema is not None else self.gan.g

    def draw(self) -> None:
        """The fixed-latent samples of this step to samples/step_N.png (and samples/latest.png), and the loss curves."""
        folder = self.out / "samples"
        folder.mkdir(parents=True, exist_ok=True)
        fake = self.gan.draw(self.fixed_latent, self.generator())
        paths = (folder / f"step_{self.step:07d}.png", folder / "latest.png")
        for path in paths:
            if fake.ndim == 4:
                viz.save_grid(fake, path, scale=2)
            else:  # a conditional D needs labels: its decision surface is not one picture
                surface = None if self.gan.conditional else self._discriminator_surface
                viz.plot_points(fake.numpy(), path, real=self.dataset.x[:2000], modes=self.dataset.modes,
                                discriminator=surface, title=f"step {self.step}",
                                critic=self.gan.objective not in ("nonsat", "minimax"))
        viz.plot_losses(self.out / "log.jsonl", self.out / "losses.png")

    def _discriminator_surface(self, points):
        from minigan.tensor import tensor

        with no_grad():
            return self.gan.discriminate(tensor(points, device=self.config.device)).numpy()

    # ---- helpers ----
    def _update_ema(self) -> None:
        if self.ema is None:
            return
        decay = self.config.ema
        with no_grad():
            for p_ema, p in zip(self.ema.parameters(), self.gan.g.parameters()):
                p_ema.data *= decay
                p_ema.data += (1 - decay) * p.data
            for b_ema, b in zip(self.ema.buffers(), self.gan.g.buffers()):
                b_ema.data[...] = b.data

    def _truncate_log(self) -> None:
        """Drop log lines beyond the resumed step, so that the log reads as one uninterrupted run."""
        path = self.out / "log.jsonl"
        if not path.exists():
            return
        kept = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= self.step]
        path.write_text("".join(line + "\n" for line in kept))
