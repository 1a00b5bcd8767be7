"""The `minigan` command: help, a tiny train and sample end to end, and one-line errors with exit status 2."""

from pathlib import Path

import numpy as np
import pytest
from command import fails, run
from matplotlib.image import imread

from minigan import backend
from minigan.models import MODELS
from minigan.train.checkpoint import checkpoints, read_checkpoint

MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def test_help_lists_the_commands_models_and_model_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        run("--help")
    assert exit_info.value.code == 0
    assert {"train", "sample", "bench"} <= set(capsys.readouterr().out.split())
    with pytest.raises(SystemExit):
        run("train", "--help")
    out = capsys.readouterr().out
    assert all(name in out for name in MODELS) and "--data-dir" in out and "--resume" in out
    with pytest.raises(SystemExit):
        run("train", "dcgan", "--help")
    assert "--width" in capsys.readouterr().out  # the model's own options


def test_train_and_sample_points_end_to_end(tmp_path, capsys):
    out = tmp_path / "run"
    run("train", "gan", "--data", "ring8", "--n", 400, "--steps", 4, "--batch", 16, "--hidden", "16,16",
        "--out", out, "--quiet", "--sample-every", 2)
    assert "trained gan on ring8 for 4 steps" in capsys.readouterr().out
    assert (out / "samples" / "latest.png").exists() and (out / "losses.png").exists()
    assert len((out / "log.jsonl").read_text().splitlines()) == 4
    state = read_checkpoint(checkpoints(out)[-1])
    assert state["meta"]["model"] == "gan" and tuple(state["meta"]["options"]["hidden"]) == (16, 16)
    run("sample", out, "--n", 50, "--out", tmp_path / "points.png")  # a run folder means its latest checkpoint
    assert imread(tmp_path / "points.png").size > 0


def test_train_resume_continues_to_more_steps(tmp_path, capsys):
    common = ("train", "gan", "--data", "ring8", "--n", 400, "--batch", 16, "--hidden", "8", "--out", tmp_path,
              "--quiet", "--checkpoint-every", 3)
    run(*common, "--steps", 3)
    run(*common, "--steps", 5, "--resume")
    assert [int(line.split('"step": ')[1].split(",")[0]) for line in
            (tmp_path / "log.jsonl").read_text().splitlines()] == [1, 2, 3, 4, 5]
    capsys.readouterr()


def test_images_conditional_sampling_and_interpolation(tmp_path):
    out = tmp_path / "run"
    run("train", "cgan", "--data", "digits", "--n", 100, "--steps", 2, "--batch", 10, "--width", 0.125, "--out", out,
        "--quiet")
    run("sample", checkpoints(out)[-1], "--n", 20, "--labels", 3, 7, "--out", tmp_path / "labels.png")
    grid = imread(tmp_path / "labels.png")
    assert grid.ndim == 3 and grid.shape[0] > 28
    run("sample", out, "--n", 16, "--interpolate", "--out", tmp_path / "walk.png")
    walk = imread(tmp_path / "walk.png")[::2, ::2]  # drawn at scale 2
    assert walk.shape[:2] == (4 * 30 + 2, 4 * 30 + 2)  # 4 rows of 4 steps, 28 px images, 2 px padding
    first, last = walk[2:30, 2:30], walk[2:30, 92:120]
    assert not np.array_equal(first, last)  # the row walks somewhere


def test_sample_labels_need_a_conditional_model(tmp_path, capsys):
    run("train", "gan", "--data", "ring8", "--n", 200, "--steps", 1, "--batch", 8, "--hidden", "8", "--out", tmp_path,
        "--quiet")
    capsys.readouterr()
    fails(capsys, "sample", tmp_path, "--labels", 1, match="not conditional")


@pytest.mark.skipif(not (MNIST / "t10k-images-idx3-ubyte.gz").exists(), reason="needs ../shared/data/mnist")
@pytest.mark.filterwarnings("ignore:mnist. no training split:UserWarning")  # only the test split is here
def test_train_dcgan_on_the_real_mnist_files(tmp_path, capsys):
    run("train", "dcgan", "--data", "mnist", "--data-dir", MNIST, "--n", 64, "--steps", 1, "--batch", 16,
        "--width", 0.125, "--out", tmp_path, "--quiet")
    assert read_checkpoint(checkpoints(tmp_path)[-1])["meta"]["sample_shape"] == [1, 28, 28]
    capsys.readouterr()


@pytest.mark.parametrize(("argv", "match"), [
    (("train", "nonsense", "--data", "digits"), "invalid choice: 'nonsense'"),
    (("train", "gan", "--data", "nowhere"), "invalid choice: 'nowhere'"),
    (("train", "gan"), "the following arguments are required: --data"),
    (("train", "dcgan", "--data", "mnist"), "mnist"),
    (("train", "dcgan", "--data", "mnist", "--data-dir", "/no/such/folder"), "/no/such/folder"),
    (("train", "dcgan", "--data", "ring8", "--steps", "1"), "dcgan"),
    (("train", "cgan", "--data", "digits", "--n", "20", "--steps", "1", "--objective", "nope"), "invalid choice"),
    (("train", "gan", "--data", "ring8", "--steps", "x"), "argument --steps: must be an integer from 1 to"),
    (("sample", "/no/such/checkpoint.safetensors"), "/no/such/checkpoint.safetensors"),
    (("bench", "nothing"), "invalid choice"),
])
def test_errors_are_one_line_with_status_2(capsys, argv, match):
    fails(capsys, *argv, match=match)


def test_resume_without_a_checkpoint_and_a_foreign_file(tmp_path, capsys):
    fails(capsys, "train", "gan", "--data", "ring8", "--n", 100, "--steps", 1, "--out", tmp_path, "--resume",
          "--quiet", match="no checkpoint")
    np.savez(tmp_path / "foreign.npz", a=np.zeros(3))
    fails(capsys, "sample", tmp_path / "foreign.npz", match="not a minigan checkpoint")


@pytest.mark.skipif(backend.cuda_available(), reason="a GPU is present")
def test_cuda_without_a_gpu_is_a_one_line_error(capsys):
    fails(capsys, "train", "gan", "--data", "ring8", "--device", "cuda", match="cuda")
