"""The Trainer: the loop of Goodfellow et al.'s Algorithm 1 around any GAN, with what a person watching needs.

Each iteration updates the discriminator d_steps times, each time on a fresh real batch and a fresh generated
batch, then the generator once, on the last generated batch (with D's weights frozen: their gradients would be
discarded). Every step appends a line to <out>/log.jsonl
(losses, D's mean output on real and generated samples, the gradient norm of each network); every
sample_every steps it draws the generator's samples for a fixed latent batch to <out>/samples/ and the loss
curves to <out>/losses.png; every checkpoint_every steps it writes a checkpoint, keeping the last `keep`.

The out folder is a RunFolder (minigan.train.run): one run, one process, no links followed. A loss or a gradient
that is not finite stops the run before the optimizer applies it, so the weights and the checkpoints written
before it stay good; a SIGINT (Ctrl-C) finishes the current step, writes a checkpoint and stops.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm import tqdm

from minigan import backend, random, viz
from minigan.autograd import no_grad, set_grad_enabled
from minigan.data import Dataset, Loader
from minigan.models.base import GAN
from minigan.nn import Module
from minigan.train.checkpoint import read_checkpoint, read_newest_intact, write_checkpoint
from minigan.train.run import RunExistsError, RunFolder, say


class TrainingDiverged(RuntimeError):
    """A loss, a gradient or a weight became NaN or infinite."""


class TrainingInterrupted(RuntimeError):
    """The run was stopped by SIGINT (Ctrl-C) after writing a checkpoint of the step it reached."""


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


def _finite(module: Module) -> bool:
    """Whether every weight and buffer of module is finite."""
    arrays = [t.data for t in (*module.parameters(), *module.buffers()) if t.dtype.kind == "f"]
    return all(bool(backend.get_array_module(a).isfinite(a).all()) for a in arrays)


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
        self.folder = RunFolder(config.out)
        self.resumed = False
        self._interrupted = False

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
        """Write the checkpoint of this step (after the log up to it is on disk), keeping the newest `keep`."""
        self._check_finite()
        self.last_checkpoint = write_checkpoint(self.out, self.step, self.state(), self.config.keep)
        return self.last_checkpoint

    def resume(self, path: str | Path | None = None) -> bool:
        """Continue from a checkpoint (by default the newest intact one under out: a newer one that does not
        read is moved aside as `<name>.corrupt`, and said so); False when there is none.

        Raises ValueError when the checkpoint was written for another model, data set or training setup."""
        self.folder.claim()
        try:
            path, state = self._read_resumed(path)
            if path is None:
                self.folder.release()
                return False
            self._check_same_run(path, state)
            self._load(path, state)
            self.folder.trim_log(self.step)
        except BaseException:
            self.folder.release()
            raise
        self.resumed = True
        return True

    def _load(self, path: Path, state: dict) -> None:
        try:
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
        except (KeyError, TypeError, AttributeError, RuntimeError) as error:
            raise ValueError(f"{path} does not hold a training state this run can continue "
                             f"({type(error).__name__}: {error})") from None
        self.last_checkpoint = path

    def _read_resumed(self, path) -> tuple[Path | None, dict | None]:
        if path is not None:
            return Path(path), read_checkpoint(path)
        try:
            path, state, broken = read_newest_intact(self.out)
        except FileNotFoundError:
            return None, None
        for bad, reason in broken:
            os.replace(bad, bad.with_name(bad.name + ".corrupt"))
            say(f"{bad} does not read ({reason}): moved aside as {bad.name}.corrupt; resuming from {path}")
        return path, state

    def _check_same_run(self, path, state: dict) -> None:
        """Refuse a checkpoint of another model, data set, set of options or training setup (whose state would
        not fit, or would silently change the run)."""
        stored, ours = state.get("meta") if isinstance(state.get("meta"), dict) else {}, self.meta
        for key in ("model", "data", "options", "sample_shape", "num_classes"):
            if stored.get(key) != ours.get(key):
                raise ValueError(f"{path} was written for {key} {stored.get(key)!r}, not {ours.get(key)!r}")
        config = state.get("config") if isinstance(state.get("config"), dict) else {}
        for key in ("batch", "d_steps", "ema", "samples"):
            if config.get(key) != getattr(self.config, key):
                raise ValueError(f"{path} was written with {key} {config.get(key)!r}, not "
                                 f"{getattr(self.config, key)!r}")

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
            self._check_step("loss_d", float(loss_d.item()), grad_norm_d)
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
        self._check_step("loss_g", float(loss_g.item()), grad_norm_g)
        opt_g.step()
        self._update_ema()
        return {"step": self.step + 1, "loss_d": float(loss_d.item()), "loss_g": float(loss_g.item()),
                **{k: float(v) for k, v in {**logs_d, **logs_g}.items()},
                "grad_norm_d": grad_norm_d, "grad_norm_g": grad_norm_g}

    def run(self) -> None:
        """Train until config.steps, logging, drawing and checkpointing on the way.

        Raises RunExistsError when out holds another run and this one did not resume it, TrainingDiverged when a
        loss, gradient or weight stops being finite, TrainingInterrupted after a SIGINT (with the checkpoint of
        the step reached written)."""
        self.folder.claim()
        try:
            if not self.resumed and self.folder.holds_a_run():
                raise RunExistsError(f"{self.out} already holds a run")
            with self.folder.open_log() as log, self._sigint_stops():
                self._loop(log)
        finally:
            self.folder.release()

    def _loop(self, log) -> None:
        cfg = self.config
        batches = self.loader.batches()
        bar = tqdm(total=cfg.steps, initial=self.step, disable=not cfg.progress, desc="train", unit="step")
        start = time.perf_counter()
        while self.step < cfg.steps:
            record = self.train_step(batches)
            self.step += 1
            record["seconds"] = round(time.perf_counter() - start, 3)
            log.write(json.dumps(record) + "\n")
            bar.update(1)
            bar.set_postfix(loss_d=f"{record['loss_d']:.3f}", loss_g=f"{record['loss_g']:.3f}")
            last = self.step == cfg.steps
            if self.step % cfg.sample_every == 0 or last:
                log.flush()
                self.draw()
            if self.step % cfg.checkpoint_every == 0 or last or self._interrupted:
                log.flush()
                os.fsync(log.fileno())  # the log holds every step that the checkpoint holds
                self.save()
            if self._interrupted:
                bar.close()
                raise TrainingInterrupted(f"interrupted at step {self.step}: checkpoint {self.last_checkpoint}")
        bar.close()

    @contextlib.contextmanager
    def _sigint_stops(self):
        """While training, the first SIGINT asks the loop to stop after the current step (a second one stops at
        once); outside the main thread signals are not ours to take, and nothing changes."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.getsignal(signal.SIGINT) or signal.default_int_handler

        def handle(signum, frame):
            self._interrupted = True
            signal.signal(signal.SIGINT, previous)

        signal.signal(signal.SIGINT, handle)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def _check_step(self, key: str, loss: float, grad_norm: float) -> None:
        """Stop before an optimizer applies a loss or gradient that is not finite."""
        for what, value in ((key, loss), (f"the gradient norm of {key}", grad_norm)):
            if not math.isfinite(value):
                raise TrainingDiverged(f"training diverged at step {self.step + 1}: {what} is {value}; "
                                       f"{self._last_good()}")

    def _check_finite(self) -> None:
        """Refuse to draw or save weights that are not finite."""
        for name, module in {**self.gan.networks(), "ema": self.ema}.items():
            if module is not None and not _finite(module):
                raise TrainingDiverged(f"training diverged by step {self.step}: the weights of {name} are not "
                                       f"finite; {self._last_good()}")

    def _last_good(self) -> str:
        if self.last_checkpoint:
            return f"the last good checkpoint is {self.last_checkpoint}"
        return "no checkpoint was written before it"

    # ---- pictures ----
    def generator(self) -> Module:
        """The generator that samples are drawn from: the moving average when there is one."""
        return self.ema if self.ema is not None else self.gan.g

    def draw(self) -> None:
        """The fixed-latent samples of this step to samples/step_N.png (and samples/latest.png), and the loss curves."""
        self._check_finite()
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
