"""The benchmark harness runs end to end on tiny batches (its figures are measured elsewhere)."""

import json

import pytest

torch = pytest.importorskip("torch")

import numpy as np

from minigan.bench import ops, step
from minigan.bench.models import weights
from minigan.bench.step import Framework, GANStep
from minigan.commands import main as cli


def test_layer_cases_are_read_off_the_models():
    cases = ops.layer_cases("seed32", 4)
    convs = [c for c in cases if c.op == "conv_transpose2d"]
    assert [c.weight for c in convs] == [(512, 256, 5, 5), (256, 128, 5, 5), (128, 1, 5, 5)]
    assert all(c.x[0] == 4 for c in cases)
    assert {c.slope for c in cases if c.op == "batch_norm_act"} == {0.0, 0.2}  # ReLU in G, LeakyReLU in D


def test_the_twins_train_alike_in_float64():
    """minigan's network and its PyTorch twin, from the same weights on the same batches, give the same losses for
    several Adam steps in float64 (in float32 their roundings differ, and GAN training amplifies that)."""
    start = weights("seed32", 0, width=0.125)
    ours, theirs = (GANStep(Framework(name), "seed32", 8, start, float64=True, width=0.125)
                    for name in ("minigan", "torch"))
    rng = np.random.default_rng(0)
    for _ in range(6):
        real = np.clip(np.round(rng.standard_normal((8, 1, 32, 32))), -1, 1)  # many exact -1, 0, 1 (ties, kinks)
        noise = rng.standard_normal((8, 100))
        np.testing.assert_allclose(ours.step(real, noise), theirs.step(real, noise), rtol=1e-12)


def test_both_frameworks_give_the_same_losses():
    report = step.check_losses("seed32", 4, steps=2)
    assert len(report["float64"]) == 2 and len(report["float32"]) == 1
    first = report["float64"][0]
    assert first["minigan"] == pytest.approx(first["torch"], rel=1e-9)


def test_bench_ops_and_step_write_their_tables(tmp_path):
    cli(["bench", "ops", "--model", "seed32", "--batch", "2", "--op", "leaky_relu", "--repeat", "1", "--out",
         str(tmp_path)])
    result = json.loads((tmp_path / "bench_ops.json").read_text())
    assert result["results"] and all(r["op"] == "leaky_relu" for r in result["results"])
    assert "| model |" in (tmp_path / "bench_ops.md").read_text()
    cli(["bench", "step", "--model", "seed32", "--batch", "2", "--repeat", "1", "--no-memory", "--no-first-step",
         "--profile", "--out", str(tmp_path)])
    result = json.loads((tmp_path / "bench_step.json").read_text())["results"][0]
    assert result["minigan"]["median"] > 0 and result["torch"]["median"] > 0
    profile = dict(result["profile_ms"])
    assert profile["total"] >= profile["matrix products (BLAS)"] > 0


def test_cli_bench_rejects_an_unknown_benchmark(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli(["bench", "nothing"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
