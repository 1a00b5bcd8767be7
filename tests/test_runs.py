"""Run folders keep people's work: one run per folder, one process at a time, the log complete after kill -9,
a clean stop on Ctrl-C, a fall-back past a corrupt checkpoint, no link followed, a full disk reported in one line,
and every bad number on the command line refused in one line before anything runs."""

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import minigan as mg
from minigan.files import write_text
from minigan.train.checkpoint import checkpoints, read_checkpoint
from tests.command import fails, run

POINTS = ("train", "gan", "--data", "ring8", "--n", 256, "--batch", 16, "--hidden", "8", "--quiet")


def train(out, *extra):
    run(*POINTS, "--out", out, *extra)


def log_steps(out) -> list[int]:
    return [json.loads(line)["step"] for line in (Path(out) / "log.jsonl").read_text().splitlines()]


def newest_step(out) -> int:
    found = checkpoints(out)
    return int(found[-1].name[len("step_"):-len(".safetensors")]) if found else 0


def child(out, *extra) -> subprocess.Popen:
    """`minigan train` on points in a child process (a long run unless told otherwise)."""
    argv = [sys.executable, "-m", "minigan", *map(str, POINTS), "--out", str(out), *map(str, extra)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(condition, proc, timeout=60.0):
    start = time.monotonic()
    while not condition():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - start < timeout, "timed out"
        time.sleep(0.05)


# ---- one run per folder ----
def test_a_new_run_refuses_a_folder_holding_a_run(tmp_path, capsys):
    out = tmp_path / "run"
    train(out, "--steps", 2)
    before = {p.name: p.read_bytes() for p in checkpoints(out)}
    fails(capsys, *POINTS, "--out", out, "--steps", 3, match="--resume")
    assert {p.name: p.read_bytes() for p in checkpoints(out)} == before and log_steps(out) == [1, 2]


def test_overwrite_moves_the_old_run_aside(tmp_path, capsys):
    out = tmp_path / "run"
    train(out, "--steps", 2)
    old_log, old_checkpoints = (out / "log.jsonl").read_text(), [p.read_bytes() for p in checkpoints(out)]
    train(out, "--steps", 3, "--overwrite")
    assert log_steps(out) == [1, 2, 3]
    (aside,) = tmp_path.glob("run.replaced-*")
    assert (aside / "log.jsonl").read_text() == old_log
    assert [p.read_bytes() for p in checkpoints(aside)] == old_checkpoints
    assert "moved the old run" in capsys.readouterr().out


def test_a_second_training_on_the_same_folder_is_refused_and_the_lock_dies_with_its_holder(tmp_path, capsys):
    out = tmp_path / "run"
    first = child(out, "--steps", 100000, "--checkpoint-every", 1000)
    try:
        wait_for(lambda: (out / "log.jsonl").exists(), first)
        fails(capsys, *POINTS, "--out", out, "--steps", 5, "--resume", match="in use by a training run")
    finally:
        first.kill()
        first.wait(30)
    train(out, "--steps", 3, "--overwrite")  # the killed holder's lock is not stale: the system dropped it
    assert log_steps(out) == [1, 2, 3]


# ---- nothing lost after kill -9, Ctrl-C, a corrupt checkpoint, a cut log line ----
def test_kill_9_leaves_every_checkpointed_step_in_the_log(tmp_path):
    out = tmp_path / "run"
    for round_ in range(3):
        proc = child(out, "--steps", 100000, "--checkpoint-every", 3, *(("--resume",) if round_ else ()))
        done = newest_step(out)
        try:
            wait_for(lambda done=done: newest_step(out) > done + 3, proc)
            time.sleep(0.05 * round_)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        newest = newest_step(out)
        steps = log_steps(out)
        assert steps[:newest] == list(range(1, newest + 1)), (round_, newest, steps[-5:])


def test_ctrl_c_writes_a_checkpoint_and_says_one_line(tmp_path):
    out = tmp_path / "run"
    proc = child(out, "--steps", 100000, "--checkpoint-every", 100000)
    try:
        wait_for(lambda: (out / "log.jsonl").exists() and (out / "log.jsonl").stat().st_size > 0, proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert len(err.strip().splitlines()) == 1 and "interrupted at step" in err and "Traceback" not in err, err
    step = read_checkpoint(checkpoints(out)[-1])["step"]
    assert f"step {step}:" in err and log_steps(out) == list(range(1, step + 1))
    train(out, "--steps", step + 2, "--resume")
    assert log_steps(out) == list(range(1, step + 3))


def test_resume_falls_back_past_a_corrupt_checkpoint_and_says_so(tmp_path, capsys):
    out = tmp_path / "run"
    train(out, "--steps", 4, "--checkpoint-every", 2)
    newest = checkpoints(out)[-1]
    newest.write_bytes(newest.read_bytes()[:100])  # cut short, as a full disk would leave a file written in place
    train(out, "--steps", 5, "--resume")
    err = capsys.readouterr().err
    assert "does not read" in err and "step_0000002" in err
    assert log_steps(out) == [1, 2, 3, 4, 5]
    assert newest.with_name(newest.name + ".corrupt").exists()  # moved aside, not deleted


def test_resume_drops_a_partial_last_log_line_once(tmp_path, capsys):
    out = tmp_path / "run"
    train(out, "--steps", 2)
    with open(out / "log.jsonl", "a") as f:
        f.write('{"step": 3, "loss_d": 0.6')
    capsys.readouterr()
    train(out, "--steps", 3, "--resume")
    assert capsys.readouterr().err.count("dropped 1 unreadable line") == 1
    assert log_steps(out) == [1, 2, 3]


def test_stale_temporary_files_are_removed_at_the_next_start(tmp_path, capsys):
    out = tmp_path / "run"
    train(out, "--steps", 2)
    stale = [out / "checkpoints" / ".step_0000004.safetensors.12345.0badc0de.tmp", out / ".log.jsonl.9.01234567.tmp"]
    for path in stale:
        path.write_bytes(b"half")
    keep = out / "checkpoints" / "notes.tmp"  # not a name minigan writes: left alone
    keep.write_text("mine")
    train(out, "--steps", 3, "--resume")
    assert not any(p.exists() for p in stale) and keep.read_text() == "mine"


def test_a_full_disk_is_one_line_and_the_previous_checkpoint_stays(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    train(out, "--steps", 2)
    previous = checkpoints(out)[-1]
    saved = previous.read_bytes()
    real_fsync = os.fsync

    def full(fd):  # the disk fills while a file minigan replaces atomically is being written
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".tmp"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", full)
    fails(capsys, *POINTS, "--out", out, "--steps", 4, "--resume", match="No space left on device")
    monkeypatch.undo()
    assert checkpoints(out)[-1] == previous and previous.read_bytes() == saved
    assert not list(out.rglob("*.tmp"))


def test_links_inside_a_run_folder_are_refused(tmp_path, capsys):
    out = tmp_path / "run"
    train(out, "--steps", 2)
    elsewhere = tmp_path / "precious.txt"
    elsewhere.write_text("keep me")
    (out / "log.jsonl").unlink()
    (out / "log.jsonl").symlink_to(elsewhere)
    fails(capsys, *POINTS, "--out", out, "--steps", 3, "--resume", match="symbolic link")
    assert elsewhere.read_text() == "keep me"


def test_a_long_file_name_is_written_atomically(tmp_path):
    path = tmp_path / ("x" * 250 + ".json")  # legal, but its temporary name would not be without shortening
    write_text(path, "{}")
    assert path.read_text() == "{}" and os.listdir(tmp_path) == [path.name]


# ---- numbers and paths on the command line ----
@pytest.mark.parametrize("flag, value", [
    ("--batch", 0), ("--batch", 1000000000), ("--d-steps", 0), ("--sample-every", 0), ("--checkpoint-every", 0),
    ("--checkpoint-every", -1), ("--ema", 2), ("--ema", "nan"), ("--width", 0), ("--width", -1), ("--width", "nan"),
    ("--width", 100), ("--nz", 0), ("--keep", 0), ("--keep", -1), ("--lr", "nan"), ("--lr", -1), ("--steps", -5),
    ("--steps", 0), ("--out", ""), ("--seed", -1), ("--n", 0),
])
def test_every_bad_number_is_one_line_naming_its_flag(tmp_path, capsys, flag, value):
    argv = ["train", "dcgan" if flag == "--width" else "gan", "--data", "ring8", "--n", 64, "--quiet",
            "--out", tmp_path / "run", flag, value]
    fails(capsys, *argv, match=flag)
    assert not (tmp_path / "run").exists()


def test_bad_sizes_and_folders_are_one_line(tmp_path, capsys):
    fails(capsys, *POINTS, "--batch", 300, "--out", tmp_path / "a", match="larger than the data set")
    afile = tmp_path / "file"
    afile.write_text("")
    fails(capsys, *POINTS, "--out", afile, match="is a file")
    fails(capsys, *POINTS, "--out", "/proc/minigan-run", match="cannot write")


def test_a_batch_that_cannot_fit_in_memory_is_refused_before_training(tmp_path, capsys, monkeypatch):
    from minigan.train import memory

    monkeypatch.setattr(memory, "available_bytes", lambda: 256 * 2**20)
    fails(capsys, "train", "dcgan", "--data", "digits", "--n", 2000, "--batch", 2000, "--out", tmp_path / "run",
          match="GiB of memory available")
    assert not (tmp_path / "run").exists()


def test_resume_with_other_options_is_one_line(tmp_path, capsys):
    out = tmp_path / "run"
    train(out, "--steps", 2)
    fails(capsys, *POINTS, "--out", out, "--steps", 3, "--resume", "--hidden", "16", match="--resume")
    fails(capsys, *POINTS, "--out", out, "--steps", 3, "--resume", "--batch", 32, match="batch")
    fails(capsys, *POINTS, "--out", out, "--steps", 2, "--resume", match="already at step 2")


def test_sample_checks_its_output_path_and_draws_in_batches(tmp_path, capsys, monkeypatch):
    from minigan.models.base import GAN

    out = tmp_path / "run"
    train(out, "--steps", 1)
    fails(capsys, "sample", out, "--out", tmp_path / "missing" / "a.png", match="does not exist")
    fails(capsys, "sample", out, "--out", tmp_path, match="is a folder")
    fails(capsys, "sample", out, "--n", 0, match="--n")
    sizes, draw = [], GAN.draw
    monkeypatch.setattr(GAN, "draw", lambda self, latent, g=None: sizes.append(len(latent["z"])) or draw(self, latent, g))
    run("sample", out, "--n", 1200, "--out", tmp_path / "points.png")
    assert sizes == [500, 500, 200]


# ---- divergence: nothing non-finite is ever saved or drawn ----
def diverging_trainer(tmp_path, poison):
    from minigan.data import load
    from minigan.models import build
    from minigan.train.trainer import TrainConfig, Trainer

    dataset = load("ring8", n=256, seed=0)
    mg.manual_seed(0)
    gan = build("gan", dataset.sample_shape, 0, hidden=(8,), nz=4)
    config = TrainConfig(out=str(tmp_path), steps=6, batch=16, sample_every=1, checkpoint_every=1, keep=10,
                         progress=False)
    t = Trainer(gan, dataset, config, {"model": "gan"})
    poison(t)
    return t


def g_loss_after(step, value):
    def poison(t):
        g_loss = t.gan.g_loss

        def poisoned(*args):
            loss, logs = g_loss(*args)
            return (loss * value if t.step + 1 >= step else loss), logs

        t.gan.g_loss = poisoned

    return poison


def weights_after(step):
    def poison(t):
        update = t._update_ema

        def poisoned():
            update()
            if t.step + 1 >= step:
                next(t.gan.g.parameters()).data[0] = np.inf

        t._update_ema = poisoned

    return poison


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("poison", [g_loss_after(3, float("nan")), g_loss_after(3, float("inf")), weights_after(3)],
                         ids=["g-loss-nan", "g-loss-inf", "g-weights-inf"])
def test_the_guard_stops_before_anything_non_finite_is_saved_or_drawn(tmp_path, poison):
    from minigan.train.trainer import TrainingDiverged

    t = diverging_trainer(tmp_path, poison)
    with pytest.raises(TrainingDiverged, match="last good checkpoint is .*step_0000002"):
        t.run()
    assert [read_checkpoint(p)["step"] for p in checkpoints(tmp_path)] == [1, 2]
    for path in checkpoints(tmp_path):
        for name, weights in read_checkpoint(path)["modules"].items():
            assert all(np.isfinite(w.numpy()).all() for w in weights.values()), (path, name)
    assert not (tmp_path / "samples" / "step_0000003.png").exists()
