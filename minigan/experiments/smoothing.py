"""One-sided label smoothing and k discriminator steps: what they do to the training curves and to FID-LeNet.

One-sided label smoothing (Salimans et al. 2016) trains D towards 0.9 instead of 1 on real samples (fake targets
stay 0), so that D's optimum D*(x) = 0.9 p_data / (p_data + p_g) can no longer be pushed to certainty and its
gradients towards G stay informative; Goodfellow et al.'s Algorithm 1 takes k discriminator steps per generator
step to keep D near its optimum. Here a DCGAN is trained on digits under the 2 x 2 combinations (label 1 or 0.9,
k = 1 or 2), for the same number of generator steps and from the same initial weights, over several seeds; the
log of each run gives the loss curves and D's mean output on real batches, and 2,000 samples of the final
generator give FID-LeNet (lower is better) against 2,000 real images.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from tqdm import tqdm

import minigan as mg
from minigan.experiments.common import digit_data, score
from minigan.models import build
from minigan.train.trainer import TrainConfig, Trainer
from minigan.viz.common import new_figure, write_figure
from minigan.viz.curves import moving_average, read_records

VARIANTS = {  # name: (the real samples' target, discriminator steps per generator step)
    "baseline": (1.0, 1),
    "label 0.9": (0.9, 1),
    "k = 2": (1.0, 2),
    "label 0.9, k = 2": (0.9, 2),
}
FULL = {"steps": 1000, "width": 0.25, "seeds": 2, "samples": 2000}
QUICK = {"steps": 10, "width": 0.125, "seeds": 1, "samples": 200}


def train_variant(data, real_label: float, d_steps: int, steps: int, width: float, seed: int) -> tuple:
    """Train one DCGAN; returns the GAN and its log records. The seed fixes the initial weights too."""
    with tempfile.TemporaryDirectory() as folder:
        mg.manual_seed(seed)
        gan = build("dcgan", data.sample_shape, width=width, real_label=real_label)
        config = TrainConfig(out=folder, steps=steps, d_steps=d_steps, sample_every=steps, checkpoint_every=steps,
                             keep=1, seed=seed, progress=False)
        Trainer(gan, data, config).run()
        return gan, read_records(Path(folder) / "log.jsonl")


def run(out: Path, quick: bool = False, seed: int = 0, data_dir: str | None = None) -> dict:
    p = QUICK if quick else FULL
    data, clf, description = digit_data(data_dir, quick)
    runs = {name: [] for name in VARIANTS}
    jobs = [(name, s) for s in range(seed, seed + p["seeds"]) for name in VARIANTS]
    for name, s in tqdm(jobs, desc="smoothing", unit="run", disable=quick):
        real_label, d_steps = VARIANTS[name]
        gan, records = train_variant(data, real_label, d_steps, p["steps"], p["width"], s)
        runs[name].append({"seed": s, "records": records, **score(gan, data.x, clf, p["samples"], seed=s)})
    _draw(out / "smoothing.png", runs, p)
    summary = {}
    for name, rs in runs.items():
        fids = [r["fid_lenet"] for r in rs]
        tail = [np.mean([rec["d_real"] for rec in r["records"][-len(r["records"]) // 5:]]) for r in rs]
        summary[name] = {"real_label": VARIANTS[name][0], "d_steps": VARIANTS[name][1],
                         "fid_lenet": fids, "fid_lenet_mean": float(np.mean(fids)),
                         "classifier_score": [r["classifier_score"] for r in rs],
                         "precision": [r["precision"] for r in rs], "recall": [r["recall"] for r in rs],
                         "d_real_last_fifth": [float(t) for t in tail]}
    return {"data": description, "model": f"dcgan, width {p['width']}", "generator_steps": p["steps"],
            "seeds": p["seeds"], "samples_for_fid": p["samples"], "variants": summary}


def _draw(path: Path, runs: dict, p: dict) -> None:
    figure = new_figure(15, 4.4)
    ax_loss, ax_real, ax_fid = figure.subplots(1, 3)
    window = max(1, p["steps"] // 30)
    colors = dict(zip(VARIANTS, ("tab:blue", "tab:orange", "tab:green", "tab:red")))
    for name, rs in runs.items():
        records = rs[0]["records"]
        steps = np.array([r["step"] for r in records])
        for ax, key, style in ((ax_loss, "loss_d", "-"), (ax_loss, "loss_g", ":"), (ax_real, "d_real", "-")):
            values = moving_average(np.array([r[key] for r in records]), window)
            ax.plot(steps, values, style, color=colors[name], label=name if style == "-" else None)
    ax_loss.set(title="Losses (solid: D, dotted: G), first seed", xlabel="generator step", ylabel="loss")
    ax_real.set(title="D's mean output on real batches", xlabel="generator step", ylabel="D(x)", ylim=(0, 1))
    ax_real.axhline(0.9, color="gray", lw=0.8, ls="--")
    for i, (name, rs) in enumerate(runs.items()):
        fids = [r["fid_lenet"] for r in rs]
        ax_fid.bar(i, np.mean(fids), color=colors[name], alpha=0.6)
        ax_fid.plot([i] * len(fids), fids, "o", color="black", ms=4)
    ax_fid.set_xticks(range(len(runs)), list(runs), rotation=15)
    ax_fid.set(title=f"FID-LeNet after {p['steps']} generator steps (dots: seeds)", ylabel="FID-LeNet (lower is better)")
    for ax in (ax_loss, ax_real):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    write_figure(figure, path)
