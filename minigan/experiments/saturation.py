"""The generator's diminished gradient: the minimax loss saturates where the non-saturating one does not.

Write D(G(z)) = sigmoid(l), with l the discriminator's logit on a generated sample. For one sample the two
generator losses of Goodfellow et al. (2014) and their derivatives with respect to l are

    minimax          log(1 - D) = -softplus(l)      d/dl = -sigmoid(l)  = -D
    non-saturating   -log D     =  softplus(-l)     d/dl = -sigmoid(-l) = -(1 - D)

since d softplus(l)/dl = sigmoid(l). Early in training, or whenever D wins, D(G(z)) -> 0: the minimax gradient
vanishes with D while the non-saturating one tends to -1. The gradient with respect to G's parameters is this
factor times dl/dtheta, so the same collapse reaches the generator.

Convention: minigan's generator_loss is the mean over the N generated samples alone, and its
discriminator_loss is the sum of two means (one over the real batch, one over the generated batch), so the
gradient with respect to one logit is -D/N (minimax) and -(1 - D)/N (non-saturating): per sample, exactly the
derivatives above. A loss that averaged real and generated samples together (2N terms) would halve them, to
-D/2 and -(1 - D)/2 per sample pair; minigan does not.

Part 1 measures these derivatives through minigan's engine (generator_loss and mg.grad on a sweep of logits,
D from 1e-6 to 1 - 1e-6) against the formulas. Part 2 repeats the protocol of Arjovsky and Bottou (2017,
their Figure 2): train a DCGAN on the rendered digits for a while, freeze the generator, train a discriminator
from scratch against it, and every few discriminator steps record the norm of the gradient of each generator
loss with respect to G's parameters, averaged over a few batches. As D approaches optimality the minimax
gradient collapses by orders of magnitude while the non-saturating one does not.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from tqdm import tqdm

import minigan as mg
from minigan.data import Loader, load
from minigan.models import build
from minigan.models.objectives import generator_loss
from minigan.viz.common import new_figure, write_figure

LOSSES = {"minimax": "minimax  log(1 - D)", "nonsat": "non-saturating  -log D"}
COLORS = {"minimax": "tab:red", "nonsat": "tab:blue"}

# the two sizes of the protocol: a DCGAN at `width` of its channels, trained for gan_steps, then a fresh D
# trained for d_steps against the frozen G, measuring every log_every steps over grad_batches batches
FULL = {"n": 20000, "width": 0.25, "batch": 64, "gan_steps": 400, "d_steps": 1000, "log_every": 20,
        "grad_batches": 4}
QUICK = {"n": 1000, "width": 0.125, "batch": 32, "gan_steps": 40, "d_steps": 60, "log_every": 10,
         "grad_batches": 2}


def logit_derivatives(logits: np.ndarray, dtype=mg.float64) -> dict[str, np.ndarray]:
    """d loss / d l for each logit l, per sample, measured through minigan's engine.

    generator_loss averages over the batch of N logits, so mg.grad gives (1/N) d loss_i / d l_i; multiplying
    by N gives the per-sample derivative that the module docstring derives (-D and -(1 - D)).
    """
    out = {}
    for objective in LOSSES:
        l = mg.tensor(logits, dtype=dtype, requires_grad=True)
        (g,) = mg.grad(generator_loss(l, objective), l)
        out[objective] = g.numpy().astype(np.float64) * len(logits)
    return out


def analytic_derivatives(logits: np.ndarray) -> dict[str, np.ndarray]:
    """-D = -sigmoid(l) and -(1 - D) = -sigmoid(-l), each computed without the cancellation of 1 - D."""
    return {"minimax": -1 / (1 + np.exp(-logits)), "nonsat": -1 / (1 + np.exp(logits))}


def max_relative_error(measured: dict[str, np.ndarray], exact: dict[str, np.ndarray]) -> float:
    """max over the losses and the sweep of |measured - exact| / |exact|."""
    return max(float(np.max(np.abs(measured[k] - exact[k]) / np.abs(exact[k]))) for k in exact)


def part1(points: int = 241) -> dict:
    """The derivative sweep over D in [1e-6, 1 - 1e-6], in float64 and in float32 (minigan's default)."""
    edge = math.log(1e-6 / (1 - 1e-6))
    logits = np.linspace(edge, -edge, points)
    exact = analytic_derivatives(logits)
    measured = logit_derivatives(logits, mg.float64)
    logits32 = logits.astype(np.float32)  # the analytic values at the logits that float32 can hold
    error32 = max_relative_error(logit_derivatives(logits32, mg.float32), analytic_derivatives(logits32.astype(float)))
    return {"logits": logits, "exact": exact, "measured": measured,
            "max_rel_error_float64": max_relative_error(measured, exact), "max_rel_error_float32": error32}


def grad_norm(grads) -> float:
    """The Euclidean norm of a list of gradients taken together (all of G's parameters as one vector)."""
    return math.sqrt(sum(float((g.numpy().astype(np.float64) ** 2).sum()) for g in grads))


def generator_grad_norms(gan, batch: int, batches: int) -> dict[str, list[float]]:
    """||d loss / d theta_G|| of each generator loss, on `batches` fresh generated batches.

    D's weights are frozen while measuring (their gradients would be discarded); the same generated batch and
    logits serve both losses.
    """
    params = list(gan.g.parameters())
    norms = {k: [] for k in LOSSES}
    gan.d.requires_grad_(False)
    try:
        for _ in range(batches):
            logits = gan.discriminate(gan.generate(gan.sample_latent(batch)))
            for objective in LOSSES:
                grads = mg.grad(generator_loss(logits, objective), params, retain_graph=True)
                norms[objective].append(grad_norm(grads))
    finally:
        gan.d.requires_grad_(True)
    return norms


def accuracy(gan, real: mg.Tensor, batch: int) -> float:
    """D's accuracy on a real batch and a generated one of the same size: the mean of [D(x) > 1/2] and
    [D(G(z)) < 1/2], logits compared with 0."""
    with mg.no_grad():
        real_logits = gan.discriminate(real).numpy()
        fake_logits = gan.discriminate(gan.generate(gan.sample_latent(batch))).numpy()
    return float(((real_logits > 0).mean() + (fake_logits < 0).mean()) / 2)


def train_gan(gan, batches, steps: int, progress: bool) -> None:
    """Algorithm 1 of Goodfellow et al. with k = 1 and the non-saturating generator loss: per step one D update
    on a real and a generated batch, then one G update on that generated batch."""
    opt_g, opt_d = gan.optimizers()
    for _ in tqdm(range(steps), desc="saturation: GAN", disable=not progress, leave=False):
        x, _ = next(batches)
        latent = gan.sample_latent(x.shape[0])
        fake = gan.generate(latent)
        loss_d, _ = gan.d_loss(x, None, fake.detach(), latent)
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        gan.d.requires_grad_(False)
        loss_g, _ = gan.g_loss(x, None, fake, latent)
        opt_g.zero_grad()
        loss_g.backward()
        gan.d.requires_grad_(True)
        opt_g.step()


def part2(config: dict, seed: int, progress: bool) -> dict:
    """Arjovsky and Bottou's protocol: the generator gradient norms while a fresh D trains against a frozen G.

    Returns the discriminator steps at which they were measured, the mean norm of each loss there and D's
    accuracy.
    """
    mg.manual_seed(seed)
    data = load("digits", n=config["n"], seed=seed)
    batches = Loader(data, config["batch"], seed=seed).batches()
    gan = build("dcgan", data.sample_shape, width=config["width"])
    train_gan(gan, batches, config["gan_steps"], progress)

    gan.g.eval()  # frozen: batch norm on its running statistics, no optimizer
    gan.d = build("dcgan", data.sample_shape, width=config["width"]).d  # a discriminator from scratch
    opt_d = mg.optim.Adam(gan.d.parameters(), lr=gan.lr, betas=gan.betas)
    steps, norms, accuracies = [], {k: [] for k in LOSSES}, []

    def measure(step: int) -> None:
        steps.append(step)
        for k, values in generator_grad_norms(gan, config["batch"], config["grad_batches"]).items():
            norms[k].append(float(np.mean(values)))
        accuracies.append(accuracy(gan, next(batches)[0], config["batch"]))

    measure(0)
    for step in tqdm(range(1, config["d_steps"] + 1), desc="saturation: D alone", disable=not progress,
                     leave=False):
        x, _ = next(batches)
        latent = gan.sample_latent(x.shape[0])
        with mg.no_grad():
            fake = gan.generate(latent)
        loss_d, _ = gan.d_loss(x, None, fake, latent)
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        if step % config["log_every"] == 0:
            measure(step)
    return {"steps": steps, "norms": norms, "accuracy": accuracies}


def draw(path: Path, sweep: dict, protocol: dict, config: dict) -> None:
    """Left: |d loss / d l| against D (logit scale) for both losses, formula and measurement. Right: the
    generator gradient norms against discriminator steps, log scale, with D's accuracy."""
    figure = new_figure(13, 5)
    left, right = figure.subplots(1, 2)
    d = 1 / (1 + np.exp(-sweep["logits"]))
    every = slice(None, None, 12)
    for k, label in LOSSES.items():
        left.plot(d, np.abs(sweep["exact"][k]), color=COLORS[k], label=f"{label}: exact "
                  + ("D" if k == "minimax" else "1 - D"))
        left.plot(d[every], np.abs(sweep["measured"][k][every]), "o", color=COLORS[k], mfc="none",
                  label=f"{label}: minigan (mg.grad)")
    left.set_xscale("logit")
    ticks = [1e-6, 1e-4, 1e-2, 0.5, 1 - 1e-2, 1 - 1e-4, 1 - 1e-6]
    left.set_xticks(ticks, ["1e-6", "1e-4", "0.01", "0.5", "1-0.01", "1-1e-4", "1-1e-6"])
    left.minorticks_off()
    left.set_yscale("log")
    left.set_xlabel("D(G(z)) = sigmoid(l)")
    left.set_ylabel("|d loss / d l|  per generated sample")
    left.set_title(f"Generator loss gradient w.r.t. D's logit (max rel. error "
                   f"{sweep['max_rel_error_float64']:.1e} in float64)")
    left.annotate("G losing, D(G(z)) -> 0:\nthe minimax gradient vanishes", xy=(1e-5, 1e-5), xytext=(2e-6, 1e-2),
                  fontsize=9, arrowprops={"arrowstyle": "->", "color": COLORS["minimax"]})
    left.grid(True, which="major", alpha=0.3)
    left.legend(fontsize=8, loc="lower center")

    for k, label in LOSSES.items():
        right.plot(protocol["steps"], protocol["norms"][k], "-o", ms=3, color=COLORS[k], label=label)
    right.set_yscale("log")
    right.set_xlabel("discriminator steps (generator frozen)")
    right.set_ylabel(f"||d loss / d theta_G||  (mean of {config['grad_batches']} batches)")
    right.set_title(f"DCGAN on digits after {config['gan_steps']} steps: D trained alone from scratch")
    right.grid(True, which="both", alpha=0.3)
    twin = right.twinx()
    twin.plot(protocol["steps"], protocol["accuracy"], ":", color="gray", label="D accuracy")
    twin.set_ylim(0.4, 1.02)
    twin.set_ylabel("D accuracy (real and generated batch)", color="gray")
    lines = right.get_legend_handles_labels()
    extra = twin.get_legend_handles_labels()
    right.legend(lines[0] + extra[0], lines[1] + extra[1], fontsize=8, loc="lower left")
    write_figure(figure, path)


def run(out: Path, quick: bool, seed: int) -> dict:
    """Both parts; draws <out>/saturation.png and returns the sweep's errors and the protocol's norms."""
    config = QUICK if quick else FULL
    sweep = part1()
    protocol = part2(config, seed, progress=not quick)
    draw(Path(out) / "saturation.png", sweep, protocol, config)
    results = {"derivative_sweep": {"d_range": [1e-6, 1 - 1e-6], "points": len(sweep["logits"]),
                                    "convention": "generator_loss is the mean over the generated batch; per sample "
                                                  "d/dl = -D (minimax) and -(1 - D) (non-saturating)",
                                    "max_rel_error_float64": sweep["max_rel_error_float64"],
                                    "max_rel_error_float32": sweep["max_rel_error_float32"]},
               "protocol": {**config, "steps": protocol["steps"], "accuracy": protocol["accuracy"]}}
    for k in LOSSES:
        norms = protocol["norms"][k]
        results["protocol"][k] = {"start": norms[0], "end": norms[-1], "end_over_start": norms[-1] / norms[0],
                                  "norms": norms}
    results["protocol"]["final_accuracy"] = protocol["accuracy"][-1]
    results["protocol"]["end_minimax_over_nonsat"] = protocol["norms"]["minimax"][-1] / protocol["norms"]["nonsat"][-1]
    return results
