"""The Trainer: logs, pictures, checkpoints kept, exact resume, the NaN guard, k discriminator steps, the EMA."""

import json
import math

import numpy as np
import pytest

import minigan as mg
from minigan.data import load
from minigan.models import build
from minigan.train.checkpoint import checkpoints, read_checkpoint
from minigan.train.trainer import TrainConfig, Trainer, TrainingDiverged

META = {"model": "gan", "options": {"hidden": "16,16"}, "data": {"name": "ring8"}}


def ring(n=512):
    return load("ring8", n=n, seed=0)


def trainer(tmp_path, steps, **config):
    dataset = ring()
    mg.manual_seed(0)  # the same initial weights in every run
    gan = build("gan", dataset.sample_shape, dataset.num_classes, hidden="16,16", nz=4)
    options = {"out": str(tmp_path), "steps": steps, "batch": 32, "sample_every": 3, "checkpoint_every": 2,
               "keep": 2, "progress": False, **config}
    return Trainer(gan, dataset, TrainConfig(**options), META)


def records(out):
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def test_a_run_writes_its_log_pictures_and_last_checkpoints(tmp_path):
    t = trainer(tmp_path, 6)
    t.run()
    log = records(tmp_path)
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5, 6]
    for r in log:
        assert {"loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d", "grad_norm_g"} <= r.keys()
        assert all(math.isfinite(r[k]) for k in ("loss_d", "loss_g", "grad_norm_d", "grad_norm_g"))
        assert 0 < r["d_real"] < 1 and 0 < r["d_fake"] < 1
    for name in ("step_0000003.png", "step_0000006.png", "latest.png"):
        assert (tmp_path / "samples" / name).stat().st_size > 0
    assert (tmp_path / "losses.png").stat().st_size > 0
    assert [p.name for p in checkpoints(tmp_path)] == ["step_0000004.safetensors",
                                                       "step_0000006.safetensors"]  # keep=2
    state = read_checkpoint(checkpoints(tmp_path)[-1])
    assert state["step"] == 6 and state["meta"] == META


def test_resume_reproduces_the_uninterrupted_run(tmp_path):
    whole = trainer(tmp_path / "whole", 6)
    whole.run()
    first = trainer(tmp_path / "split", 4)
    first.run()
    second = trainer(tmp_path / "split", 6)
    assert second.resume()
    assert second.step == 4
    second.run()
    for name, module in whole.gan.networks().items():
        resumed = second.gan.networks()[name].state_dict()
        for key, value in module.state_dict().items():
            np.testing.assert_array_equal(resumed[key].numpy(), value.numpy(), err_msg=f"{name}.{key}")
    drop = ("seconds",)
    a = [{k: v for k, v in r.items() if k not in drop} for r in records(tmp_path / "whole")]
    b = [{k: v for k, v in r.items() if k not in drop} for r in records(tmp_path / "split")]
    assert a == b  # the same losses at every step, and the log reads as one run


def test_resume_refuses_another_model_and_reports_no_checkpoint(tmp_path):
    assert not trainer(tmp_path, 2).resume()
    trainer(tmp_path, 2).run()
    other = trainer(tmp_path, 4)
    other.meta = {**META, "model": "wgan"}
    with pytest.raises(ValueError, match="written for model 'gan'"):
        other.resume()


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # the poisoned step's NaN
def test_a_non_finite_loss_stops_the_run_and_keeps_the_good_checkpoints(tmp_path):
    t = trainer(tmp_path, 8)
    d_loss = t.gan.d_loss

    def poisoned(x, labels, fake, latent):
        loss, logs = d_loss(x, labels, fake, latent)
        return (loss * float("nan") if t.step == 4 else loss), logs

    t.gan.d_loss = poisoned
    with pytest.raises(TrainingDiverged, match=r"step 5: loss_d is nan.*step_0000004\.safetensors"):
        t.run()
    assert [p.name for p in checkpoints(tmp_path)] == ["step_0000002.safetensors", "step_0000004.safetensors"]
    state = read_checkpoint(checkpoints(tmp_path)[-1])
    assert all(np.isfinite(v.numpy()).all() for v in state["modules"]["d"].values())


def test_k_discriminator_steps_per_generator_step(tmp_path):
    t = trainer(tmp_path, 3, d_steps=4)
    t.run()
    d_state = next(iter(t.opt_d.state.values()))
    g_state = next(iter(t.opt_g.state.values()))
    assert (d_state["step"], g_state["step"]) == (12, 3)


def test_ema_is_the_moving_average_of_the_generator(tmp_path):
    t = trainer(tmp_path, 1, ema=0.75)
    before = [p.numpy().copy() for p in t.gan.g.parameters()]
    t.run()
    for p_ema, p_before, p in zip(t.ema.parameters(), before, t.gan.g.parameters()):
        np.testing.assert_allclose(p_ema.numpy(), 0.75 * p_before + 0.25 * p.numpy(), rtol=1e-6, atol=1e-7)
    assert read_checkpoint(checkpoints(tmp_path)[-1])["ema"] is not None
    assert t.generator() is t.ema


def test_samples_leave_training_mode_and_batch_statistics_alone(tmp_path):
    dataset = load("digits", n=64, seed=0)
    gan = build("dcgan", dataset.sample_shape, dataset.num_classes, width=0.125, nz=8)
    t = Trainer(gan, dataset, TrainConfig(out=str(tmp_path), steps=1, batch=16, progress=False), META)
    running = [b.numpy().copy() for b in gan.g.buffers()]
    fake = gan.draw(t.fixed_latent, t.generator())
    assert fake.shape == (64, 1, 28, 28) and gan.g.training
    for b, before in zip(gan.g.buffers(), running):
        np.testing.assert_array_equal(b.numpy(), before)


def test_bad_configuration_is_refused(tmp_path):
    with pytest.raises(ValueError, match="d_steps"):
        trainer(tmp_path, 2, d_steps=0)
    mg.manual_seed(0)


def test_ema_of_a_generator_with_batch_norm_copies_its_running_statistics(tmp_path):
    """The EMA generator averages G's weights but takes G's running statistics as they are: it normalises with
    the statistics of the live generator's batches."""
    dataset = ring()

    def run(steps: int) -> Trainer:
        mg.manual_seed(0)
        gan = build("gan", dataset.sample_shape, dataset.num_classes, hidden="16,16", nz=4, batch_norm=True)
        options = {"out": str(tmp_path / str(steps)), "steps": steps, "batch": 32, "sample_every": 100,
                   "checkpoint_every": 100, "progress": False, "ema": 0.75}
        return Trainer(gan, dataset, TrainConfig(**options), META)

    one = run(1)
    before = [p.numpy().copy() for p in one.gan.g.parameters()]
    initial = [b.numpy().copy() for b in one.gan.g.buffers()]
    assert len(initial) == 6  # running mean, variance and batch count of two batch norms
    one.run()
    for p_ema, p_before, p in zip(one.ema.parameters(), before, one.gan.g.parameters(), strict=True):
        np.testing.assert_allclose(p_ema.numpy(), 0.75 * p_before + 0.25 * p.numpy(), rtol=1e-6, atol=1e-7)
    three = run(3)
    three.run()
    for t in (one, three):
        buffers = list(t.gan.g.buffers())
        for b_ema, b, b_initial in zip(t.ema.buffers(), buffers, initial, strict=True):
            assert not np.array_equal(b.numpy(), b_initial)  # the statistics moved
            np.testing.assert_array_equal(b_ema.numpy(), b.numpy())
    assert int(list(three.ema.buffers())[2].item()) == 3  # three batches (one per generator step) tracked
    assert not all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(three.ema.parameters(),
                                                                         three.gan.g.parameters()))
