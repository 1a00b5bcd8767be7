"""minigan against PyTorch, same work: do the two frameworks train a GAN alike?

The seed DCGAN (`minigan train dcgan` at 32x32x1, minigan.bench.models.seed32, at a reduced width) and its PyTorch
twin (minigan.bench.twin) start from the same weights (minigan's DCGAN initialisation, copied across), and are
trained for the same steps on the same real batches and the same noise (Adam 2e-4, (0.5, 0.999), the
non-saturating loss), in float32, with the same number of threads. Float32 rounding differs between the two
(summation orders, BLAS), and GAN training amplifies small differences, so the two runs part ways after a while:
the question is whether they train alike, not identically. Per seed: the loss curves overlaid, the difference
between them, and FID-LeNet of 2,000 samples of each final generator (same noise) against 2,000 real images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

import minigan as mg
from minigan.bench.common import require_torch, set_threads
from minigan.bench.models import weights
from minigan.bench.step import Framework, GANStep
from minigan.experiments.common import digit_data
from minigan.metrics.evaluate import evaluate_images
from minigan.viz.common import new_figure, write_figure
from minigan.viz.curves import moving_average

FULL = {"steps": 1000, "width": 0.25, "seeds": 3, "batch": 64, "samples": 2000}
QUICK = {"steps": 8, "width": 0.125, "seeds": 1, "batch": 16, "samples": 200}
FRAMEWORKS = ("minigan", "torch")


def train_both(data: np.ndarray, p: dict, seed: int) -> dict:
    """Both frameworks from the same weights on the same batches; per framework its losses and G in eval mode."""
    start = weights("seed32", seed, width=p["width"])
    steps = {name: GANStep(Framework(name), "seed32", p["batch"], start, seed, width=p["width"])
             for name in FRAMEWORKS}
    rng = np.random.default_rng(seed)
    losses = {name: [] for name in FRAMEWORKS}
    for _ in range(p["steps"]):
        real = data[rng.integers(0, len(data), p["batch"])]
        noise = rng.standard_normal((p["batch"], 100)).astype(np.float32)
        for name, step in steps.items():
            losses[name].append(step.step(real, noise))
    return {name: {"losses": np.array(losses[name]), "g": steps[name].g} for name in FRAMEWORKS}


def samples(name: str, g, noise: np.ndarray) -> np.ndarray:
    """G's output for the noise, in eval mode (running batch-norm statistics), as a NumPy array."""
    g.eval()
    if name == "torch":
        torch = require_torch()
        with torch.no_grad():
            return g(torch.from_numpy(noise)).numpy()
    with mg.no_grad():
        return g(mg.tensor(noise)).numpy()


def run(out: Path, quick: bool = False, seed: int = 0, data_dir: str | None = None) -> dict:
    import numba

    torch = require_torch()
    set_threads(numba.get_num_threads())
    p = QUICK if quick else FULL
    data, clf, description = digit_data(data_dir, quick, size=32)
    per_seed = []
    for s in tqdm(range(seed, seed + p["seeds"]), desc="vs-pytorch", unit="seed", disable=quick):
        trained = train_both(data.x, p, s)
        noise = np.random.default_rng(10_000 + s).standard_normal((p["samples"], 100)).astype(np.float32)
        row = {"seed": s}
        for name in FRAMEWORKS:
            metrics = evaluate_images(samples(name, trained[name]["g"], noise), data.x[:p["samples"]], clf)
            row[name] = {"losses": trained[name]["losses"], **metrics}
        per_seed.append(row)
    _draw(out / "vs-pytorch.png", per_seed, p)
    summary = {"data": description, "model": f"seed32 DCGAN, width {p['width']}", "steps": p["steps"],
               "batch": p["batch"], "threads": torch.get_num_threads(), "torch": torch.__version__, "seeds": []}
    for row in per_seed:
        a, b = row["minigan"]["losses"], row["torch"]["losses"]
        agree = np.abs(a - b) <= 1e-3 * np.maximum(1, np.abs(b))
        summary["seeds"].append({
            "seed": row["seed"],
            "first_loss_difference": float(np.abs(a[0] - b[0]).max()),
            "steps_agreeing_to_1e-3": int(np.argmin(agree.all(1))) if not agree.all() else len(a),
            **{f"{k}_{name}": row[name][k] for name in FRAMEWORKS
               for k in ("fid_lenet", "classifier_score", "precision", "recall")},
            **{f"mean_loss_last_fifth_{name}": row[name]["losses"][-max(1, len(a) // 5):].mean(0).tolist()
               for name in FRAMEWORKS},
        })
    for name in FRAMEWORKS:
        summary[f"fid_lenet_mean_{name}"] = float(np.mean([r[name]["fid_lenet"] for r in per_seed]))
    return summary


def _draw(path: Path, per_seed: list, p: dict) -> None:
    figure = new_figure(15, 4.4)
    ax_curves, ax_diff, ax_fid = figure.subplots(1, 3)
    window = max(1, p["steps"] // 40)
    steps = np.arange(1, p["steps"] + 1)
    first = per_seed[0]
    for name, style in zip(FRAMEWORKS, ("-", "--")):
        for j, (what, color) in enumerate((("D", "tab:blue"), ("G", "tab:orange"))):
            ax_curves.plot(steps, moving_average(first[name]["losses"][:, j], window), style, color=color,
                           label=f"{what}, {name}")
    ax_curves.set(title=f"Losses, seed {first['seed']} (mean of {window} steps)", xlabel="step", ylabel="loss")
    for row in per_seed:
        diff = np.abs(row["minigan"]["losses"] - row["torch"]["losses"]).max(1)
        ax_diff.semilogy(steps, np.maximum(diff, 1e-9), lw=0.8, label=f"seed {row['seed']}")
    ax_diff.set(title="|minigan - PyTorch| of the losses (max of D, G)", xlabel="step", ylabel="difference")
    for i, name in enumerate(FRAMEWORKS):
        fids = [row[name]["fid_lenet"] for row in per_seed]
        ax_fid.bar(i, np.mean(fids), color=("tab:green", "tab:gray")[i], alpha=0.6)
        ax_fid.plot([i] * len(fids), fids, "o", color="black", ms=4)
    for row in per_seed:
        ax_fid.plot([0, 1], [row[name]["fid_lenet"] for name in FRAMEWORKS], color="black", lw=0.6, alpha=0.5)
    ax_fid.set_xticks(range(len(FRAMEWORKS)), list(FRAMEWORKS))
    ax_fid.set(title=f"FID-LeNet after {p['steps']} steps (dots: seeds)", ylabel="FID-LeNet (lower is better)")
    for ax in (ax_curves, ax_diff):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    write_figure(figure, path)
