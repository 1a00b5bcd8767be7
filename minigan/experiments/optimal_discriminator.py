"""The optimal discriminator: D trained to convergence against a fixed G matches p_data / (p_data + p_g).

Goodfellow et al. (2014), Proposition 1: for a fixed generator the discriminator's loss

    L(D) = -E_{x ~ p_data} log D(x) - E_{x ~ p_g} log(1 - D(x))
         = -integral [p_data(x) log D(x) + p_g(x) log(1 - D(x))] dx

is minimised pointwise: y -> a log y + b log(1 - y) has its maximum on [0, 1] at y = a / (a + b), so

    D*(x) = p_data(x) / (p_data(x) + p_g(x)),     L(D*) = 2 log 2 - 2 JSD(p_data || p_g),

the last because -L(D*) = V(D*, G) = -log 4 + KL(p_data || m) + KL(p_g || m) with m = (p_data + p_g) / 2. L is
minigan's discriminator_loss (the sum of two batch means) in expectation; its minimum is minus the paper's
maximum of V.

Here p_data = N(0, 1) and p_g = N(2, 1.5^2), both known in closed form, as in the paper's Figure 1. A small MLP
discriminator (minigan.models.gan.MLPDiscriminator, Adam) is trained on fresh samples from both at every step,
with a learning rate annealed to zero so that the minibatch noise dies out and D settles. It is then compared
with D* on a grid over the region where the densities are not negligible (the mixture m at least 1% of its
peak): the largest |D - D*| there, and its mean weighted by m. The loss of the trained D and the JSD are
integrals on a fine grid (the trapezoid rule), with the densities computed exactly.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from tqdm import tqdm

import minigan as mg
from minigan.models.gan import MLPDiscriminator
from minigan.models.objectives import discriminator_loss
from minigan.viz.common import new_figure, write_figure

DATA = (0.0, 1.0)  # p_data = N(mean, std^2)
GENERATOR = (2.0, 1.5)  # p_g
FULL = {"steps": 8000, "batch": 512, "lr": 1e-3}
QUICK = {"steps": 800, "batch": 256, "lr": 1e-3}
NEGLIGIBLE = 0.01  # the comparison region: m(x) >= NEGLIGIBLE * max m


def normal_pdf(x: np.ndarray, mean: float, std: float) -> np.ndarray:
    """The density of N(mean, std^2) at x."""
    return np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))


def optimal_d(x: np.ndarray) -> np.ndarray:
    """D*(x) = p_data(x) / (p_data(x) + p_g(x))."""
    p_data, p_g = normal_pdf(x, *DATA), normal_pdf(x, *GENERATOR)
    return p_data / (p_data + p_g)


def jsd(x: np.ndarray) -> float:
    """JSD(p_data || p_g) = (KL(p_data || m) + KL(p_g || m)) / 2 in nats, by the trapezoid rule on the grid x
    (which must cover both densities)."""
    p, q = normal_pdf(x, *DATA), normal_pdf(x, *GENERATOR)
    m = (p + q) / 2
    kl_p = np.where(p > 0, p * np.log(np.where(p > 0, p, 1) / m), 0.0)
    kl_q = np.where(q > 0, q * np.log(np.where(q > 0, q, 1) / m), 0.0)
    return float(np.trapezoid(kl_p + kl_q, x) / 2)


def expected_loss(x: np.ndarray, logits: np.ndarray) -> float:
    """L(D) = integral [p_data softplus(-l) + p_g softplus(l)] dx for D = sigmoid(l): the expected value of
    minigan's discriminator_loss, by the trapezoid rule (softplus(-l) = -log D, softplus(l) = -log(1 - D))."""
    p, q = normal_pdf(x, *DATA), normal_pdf(x, *GENERATOR)
    return float(np.trapezoid(p * np.logaddexp(0, -logits) + q * np.logaddexp(0, logits), x))


def d_logits(d: mg.nn.Module, x: np.ndarray) -> np.ndarray:
    """The discriminator's logits at the points x, as float64."""
    with mg.no_grad():
        return d(mg.tensor(x.reshape(-1, 1).astype(np.float32))).numpy().reshape(-1).astype(np.float64)


def train(d: mg.nn.Module, config: dict, rng: np.random.Generator, progress: bool) -> list[float]:
    """Minimise discriminator_loss on fresh batches from p_data (label 1) and p_g (label 0) with Adam, the
    learning rate following a cosine from lr down to 0; returns the loss of each step."""
    opt = mg.optim.Adam(d.parameters(), lr=config["lr"])
    losses = []
    n, steps = config["batch"], config["steps"]
    for step in tqdm(range(steps), desc="optimal-d", disable=not progress, leave=False):
        for group in opt.param_groups:
            group["lr"] = config["lr"] * 0.5 * (1 + math.cos(math.pi * step / steps))
        real = mg.tensor(rng.normal(*DATA, size=(n, 1)).astype(np.float32))
        fake = mg.tensor(rng.normal(*GENERATOR, size=(n, 1)).astype(np.float32))
        loss = discriminator_loss(d(real).reshape(-1), d(fake).reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))
    return losses


def compare(d: mg.nn.Module) -> dict:
    """The trained D against D*: errors on the region where m = (p_data + p_g) / 2 is not negligible, and the
    expected loss against its minimum 2 log 2 - 2 JSD."""
    wide = np.linspace(-12.0, 14.0, 26001)  # covers both densities to beyond 1e-15 of their peaks
    m = (normal_pdf(wide, *DATA) + normal_pdf(wide, *GENERATOR)) / 2
    region = wide[m >= NEGLIGIBLE * m.max()]
    x = np.linspace(region[0], region[-1], 2001)
    error = np.abs(1 / (1 + np.exp(-d_logits(d, x))) - optimal_d(x))
    weight = (normal_pdf(x, *DATA) + normal_pdf(x, *GENERATOR)) / 2
    divergence = jsd(wide)
    loss, loss_min = expected_loss(wide, d_logits(d, wide)), 2 * math.log(2) - 2 * divergence
    return {"region": [float(x[0]), float(x[-1])], "max_abs_error": float(error.max()),
            "argmax_error": float(x[np.argmax(error)]),
            "weighted_mean_abs_error": float(np.trapezoid(error * weight, x) / np.trapezoid(weight, x)),
            "jsd": divergence, "d_loss": loss, "d_loss_min": loss_min, "d_loss_gap": loss - loss_min,
            "value": -loss, "value_max": -math.log(4) + 2 * divergence}


def draw(path: Path, d: mg.nn.Module, result: dict, rng: np.random.Generator) -> None:
    """The paper's Figure 1 on one axis: p_data (black dots) with a histogram of its samples, p_g (green), D*
    (dashed) and the trained D (blue); the region outside the comparison is shaded."""
    x = np.linspace(-5.0, 8.0, 1301)
    figure = new_figure(9, 5)
    ax = figure.subplots()
    ax.hist(rng.normal(*DATA, size=20000), bins=80, range=(-5, 8), density=True, color="0.85",
            label="samples of p_data (histogram)")
    ax.plot(x[::20], normal_pdf(x[::20], *DATA), ".", color="black", ms=5, label="p_data = N(0, 1)")
    ax.plot(x, normal_pdf(x, *GENERATOR), color="green", lw=2, label="p_g = N(2, 1.5^2)")
    ax.plot(x, optimal_d(x), "--", color="black", lw=1.5, label="D* = p_data / (p_data + p_g)")
    ax.plot(x, 1 / (1 + np.exp(-d_logits(d, x))), color="tab:blue", lw=2, alpha=0.8, label="trained D")
    lo, hi = result["region"]
    ax.axvspan(x[0], lo, color="0.5", alpha=0.12, lw=0)
    ax.axvspan(hi, x[-1], color="0.5", alpha=0.12, lw=0, label="outside the compared region")
    ax.set_xlim(x[0], x[-1])
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("x")
    ax.set_ylabel("density / D(x)")
    ax.set_title(f"Trained D vs the optimal D*: max |D - D*| = {result['max_abs_error']:.3f}, "
                 f"weighted mean {result['weighted_mean_abs_error']:.4f}")
    ax.text(0.99, 0.6, f"D's expected loss {result['d_loss']:.4f}\nminimum 2 log 2 - 2 JSD = "
            f"{result['d_loss_min']:.4f}\n(JSD = {result['jsd']:.4f} nats)", transform=ax.transAxes,
            ha="right", va="top", fontsize=9)
    ax.legend(fontsize=8, loc="upper right")
    write_figure(figure, path)


def run(out: Path, quick: bool, seed: int) -> dict:
    """Train D against the fixed p_g, compare it with D*, draw <out>/optimal-d.png and return the numbers."""
    config = QUICK if quick else FULL
    mg.manual_seed(seed)
    rng = np.random.default_rng(seed)
    d = MLPDiscriminator((1,), hidden=(64, 64))
    losses = train(d, config, rng, progress=not quick)
    result = compare(d)
    draw(Path(out) / "optimal-d.png", d, result, rng)
    return {"p_data": f"N({DATA[0]}, {DATA[1]}^2)", "p_g": f"N({GENERATOR[0]}, {GENERATOR[1]}^2)", **config,
            "final_batch_loss": losses[-1], **result}
