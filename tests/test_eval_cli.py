"""`minigan eval`: the metrics of tiny checkpoints, the same numbers as the library functions, and its errors."""

import json
import math

import numpy as np
import pytest
from command import fails, run

import minigan as mg
from minigan.data import load
from minigan.metrics.classifier import load_classifier
from minigan.metrics.fid import classifier_score, fid_lenet
from minigan.metrics.modes import mode_coverage
from minigan.train.checkpoint import checkpoints, load_gan, read_checkpoint

STEPS = "200"  # the feature classifier's steps: the digits classifier the other metric tests train and cache


def generate(gan, n: int, seed: int = 0):
    """What `minigan eval` scores: n samples drawn from the generator after seeding minigan's generator."""
    mg.manual_seed(seed)
    return gan.samples(n)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("dcgan")
    run("train", "dcgan", "--data", "digits", "--steps", 2, "--n", 256, "--batch", 32, "--width", 0.25,
        "--ema", 0.5, "--out", out, "--quiet", "--sample-every", 2)
    return out


def test_eval_prints_the_image_metrics_and_writes_them_as_json(digits_run, tmp_path, capsys):
    capsys.readouterr()
    checkpoint = checkpoints(digits_run)[-1]
    run("eval", checkpoint, "--n", 300, "--classifier-steps", STEPS, "--json", tmp_path / "eval.json")
    out = capsys.readouterr().out
    for name in ("FID-LeNet", "classifier score", "precision", "recall", "held-out accuracy"):
        assert name in out
    report = json.loads((tmp_path / "eval.json").read_text())
    assert report["n"] == 300 and report["n_real"] == 256 and report["step"] == 2 and report["ema"] is True
    metrics = report["metrics"]
    assert set(metrics) == {"fid_lenet", "classifier_score", "classifier_score_real", "precision", "recall"}
    assert f"{metrics['fid_lenet']:.4f}" in out

    # the same numbers from the library: the EMA generator's samples against the run's 256 digits
    clf = load_classifier("digits", steps=int(STEPS))
    assert report["classifier"]["accuracy"] == clf.accuracy
    gan, state, _ = load_gan(checkpoint)
    fake = generate(gan, 300, seed=0)
    real = load("digits", **{k: v for k, v in state["meta"]["data"].items() if k != "name"}).x
    assert metrics["fid_lenet"] == pytest.approx(fid_lenet(fake, real, clf), rel=1e-9)
    assert metrics["classifier_score"] == pytest.approx(classifier_score(fake, clf), rel=1e-9)
    assert metrics["classifier_score_real"] > metrics["classifier_score"]  # an untrained G draws no digits
    assert 0 <= metrics["precision"] <= 1 and 0 <= metrics["recall"] <= 1


def test_the_moving_average_is_used_unless_no_ema(digits_run, tmp_path, capsys):
    run("eval", digits_run, "--n", 50, "--classifier-steps", STEPS, "--json", tmp_path / "ema.json")
    run("eval", digits_run, "--n", 50, "--classifier-steps", STEPS, "--json", tmp_path / "raw.json", "--no-ema")
    capsys.readouterr()
    ema, raw = (json.loads((tmp_path / f"{name}.json").read_text()) for name in ("ema", "raw"))
    assert ema["ema"] is True and raw["ema"] is False
    assert ema["metrics"]["fid_lenet"] != raw["metrics"]["fid_lenet"]
    gan, _, _ = load_gan(digits_run, ema=False)
    clf = load_classifier("digits", steps=int(STEPS))
    real = load("digits", n=256).x[np.sort(np.random.default_rng(0).permutation(256)[:50])]  # n of them, by --seed
    assert raw["metrics"]["fid_lenet"] == pytest.approx(fid_lenet(generate(gan, 50), real, clf), rel=1e-9)


def test_eval_of_a_gaussian_mixture_reports_mode_coverage(tmp_path, capsys):
    out = tmp_path / "run"
    run("train", "gan", "--data", "ring8", "--n", 400, "--steps", 4, "--batch", 16, "--hidden", "16,16",
        "--out", out, "--quiet", "--sample-every", 4)
    capsys.readouterr()
    run("eval", out, "--n", 500, "--json", tmp_path / "modes.json")
    text = capsys.readouterr().out
    assert "modes covered" in text and "reverse KL" in text
    metrics = json.loads((tmp_path / "modes.json").read_text())["metrics"]
    assert metrics["num_modes"] == 8 and 0 <= metrics["modes_covered"] <= 8
    assert sum(metrics["counts"]) == round(metrics["high_quality"] * 500)
    assert metrics["reverse_kl"] is None or math.isfinite(metrics["reverse_kl"])  # NaN is written as null
    gan, _, _ = load_gan(out)
    ring = load("ring8", n=400)
    expected = mode_coverage(generate(gan, 500), ring.modes, ring.sigma).as_dict()
    if math.isnan(expected["reverse_kl"]):
        expected["reverse_kl"] = None
    assert metrics == expected


def altered(digits_run, tmp_path, change) -> str:
    """A copy of the run's last checkpoint with change(state) applied."""
    state = read_checkpoint(checkpoints(digits_run)[-1])
    change(state)
    path = tmp_path / "altered.safetensors"
    mg.save(state, path)
    return str(path)


def test_errors_are_one_line_with_status_2(digits_run, tmp_path, capsys):
    fails(capsys, "eval", tmp_path / "missing.safetensors", match="no such checkpoint")
    (tmp_path / "text.safetensors").write_text("not a checkpoint")
    fails(capsys, "eval", tmp_path / "text.safetensors", match="not a minigan checkpoint")
    mg.save({"weights": np.zeros(3)}, tmp_path / "other.safetensors")
    fails(capsys, "eval", tmp_path / "other.safetensors", match="not a minigan training checkpoint")
    (tmp_path / "empty").mkdir()
    fails(capsys, "eval", tmp_path / "empty", match="no checkpoint under")
    fails(capsys, "eval", digits_run, "--n", 1, match="argument --n: must be an integer from 2 to")
    fails(capsys, "eval", digits_run, "--n", "many", match="argument --n: must be an integer")
    fails(capsys, "eval", match="CHECKPOINT")

    def as_data(name):
        return lambda state: state["meta"]["data"].update(name=name)

    fails(capsys, "eval", altered(digits_run, tmp_path, as_data("mnist")), match="--data-dir")
    fails(capsys, "eval", altered(digits_run, tmp_path, as_data("cifar10")), match="no metrics for data set")
    fails(capsys, "eval", altered(digits_run, tmp_path, lambda state: state["meta"].pop("model")),
          match="does not describe its model")

    def poison(state):
        for tensor in state["ema"].values():
            if tensor.dtype.kind == "f":
                tensor.data[...] = np.nan

    fails(capsys, "eval", altered(digits_run, tmp_path, poison), "--n", 10, match="NaN")
    fails(capsys, "eval", digits_run, "--n", 10, "--classifier-steps", STEPS, "--json", tmp_path / "no" / "x.json",
          match="--json")


@pytest.mark.parametrize("data, problem", [
    ({"name": "ring8", "n": 30_000_000}, "data option n must be an integer from 1 to 1000000, got 30000000"),
    ({"name": "digits", "n": True}, "data option n must be an integer"),
    ({"name": "digits", "n": 256, "resolution": 4096}, "unknown data option 'resolution'"),
    ({"name": "digits", "size": "28"}, "data option size must be 28, 32 or 64, got '28'"),
    ({"name": "digits", "color": 1}, "data option color must be true or false"),
    ({"name": "digits", "seed": -1}, "data option seed must be an integer from 0 to 2**32 - 1"),
    ({"name": "digits", "split": ["train"]}, "data option split must be 'auto', 'train' or 'test'"),
    ({"name": ["digits"]}, "no metrics for data set ['digits']"),
    ([1, 2], "data description is [1, 2], not a dict"),
])
def test_stored_data_options_are_checked_before_any_data_is_made(digits_run, tmp_path, capsys, monkeypatch, data,
                                                                  problem):
    path = altered(digits_run, tmp_path, lambda state: state["meta"].update(data=data))

    def no_loading(*args, **kwargs):
        raise AssertionError("the data set was made before its options were checked")

    monkeypatch.setattr("minigan.data.load", no_loading)
    fails(capsys, "eval", path, "--n", 10, match=problem)
