"""minigan.viz: sample grids pixel by pixel, and every picture written as a readable PNG, atomically."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.image import imread

import minigan as mg
from minigan import viz
from minigan.viz.curves import moving_average


def read_png(path) -> np.ndarray:
    """A PNG as uint8 values (imread gives floats in 0..1)."""
    return np.round(imread(path) * 255).astype(np.uint8)


def losses_log(n=30, keys=("loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d", "grad_norm_g")) -> list[dict]:
    rng = np.random.default_rng(0)
    records = []
    for step in range(1, n + 1):
        record = {"step": step, "loss_info": "nonsat", "seconds": 0.1 * step}
        record.update({key: float(rng.uniform(0.1, 0.9)) for key in keys})
        records.append(record)
    return records


# ---- image_grid ----

def test_grid_geometry_and_known_image_offset():
    n, h, w, padding = 5, 3, 4, 2
    images = np.full((n, 1, h, w), -1.0, dtype=np.float32)
    images[4] = np.linspace(-1, 1, h * w).reshape(1, h, w)  # the fifth image: row 1, column 1 of a 3-wide grid
    grid = viz.image_grid(images, nrow=3, padding=padding)
    assert grid.shape == (2 * (h + padding) + padding, 3 * (w + padding) + padding, 3)
    assert grid.dtype == np.uint8
    top, left = padding + 1 * (h + padding), padding + 1 * (w + padding)
    expected = np.floor((np.linspace(-1, 1, h * w).reshape(h, w) + 1) / 2 * 255 + 0.5).astype(np.uint8)
    for channel in range(3):
        np.testing.assert_array_equal(grid[top:top + h, left:left + w, channel], expected)
    assert (grid[padding:padding + h, padding:padding + w] == 0).all()  # the first image, all -1


def test_grid_padding_pixels_and_empty_slots_hold_the_pad_value():
    n, h, w, padding = 5, 3, 4, 2
    grid = viz.image_grid(np.full((n, 3, h, w), -1.0), nrow=3, padding=padding)
    tiles = np.zeros(grid.shape[:2], dtype=bool)
    for k in range(n):
        row, col = divmod(k, 3)
        top, left = padding + row * (h + padding), padding + col * (w + padding)
        tiles[top:top + h, left:left + w] = True
    assert (grid[tiles] == 0).all()
    assert (grid[~tiles] == 255).all()  # padding, and the sixth slot that no image fills
    assert (viz.image_grid(np.zeros((2, 1, 2, 2)), pad_value=40)[0] == 40).all()


def test_grid_default_layout_is_near_square():
    assert viz.image_grid(np.zeros((10, 1, 4, 4)), padding=1).shape == (3 * 5 + 1, 4 * 5 + 1, 3)
    assert viz.image_grid(np.zeros((64, 1, 4, 4)), padding=0).shape == (32, 32, 3)
    assert viz.image_grid(np.zeros((1, 1, 4, 6)), padding=2).shape == (8, 10, 3)
    assert viz.image_grid(np.zeros((2, 1, 4, 4)), nrow=8, padding=0).shape == (4, 8, 3)  # cols = min(nrow, N)


def test_grid_gray_becomes_equal_rgb_channels_and_rgb_keeps_its_order():
    rng = np.random.default_rng(0)
    gray = viz.image_grid(rng.uniform(-1, 1, (4, 1, 5, 5)))
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()
    rgb = np.stack([np.full((4, 4), -1.0), np.zeros((4, 4)), np.ones((4, 4))])[None]
    grid = viz.image_grid(rgb, padding=0)
    assert (grid == [0, 128, 255]).all()


def test_grid_value_range_maps_to_0_255_and_clips():
    x = np.array([-7.0, -1.0, 0.0, 1.0, 5.0, np.nan]).reshape(1, 1, 1, 6)
    np.testing.assert_array_equal(viz.image_grid(x, padding=0)[0, :, 0], [0, 0, 128, 255, 255, 0])
    y = np.array([-0.5, 0.0, 0.5, 1.0, 2.0]).reshape(1, 1, 1, 5)
    np.testing.assert_array_equal(viz.image_grid(y, padding=0, value_range=(0, 1))[0, :, 0], [0, 0, 128, 255, 255])
    z = np.array([0, 51, 255], dtype=np.uint8).reshape(1, 1, 1, 3)
    np.testing.assert_array_equal(viz.image_grid(z, padding=0, value_range=(0, 255))[0, :, 0], [0, 51, 255])


def test_grid_takes_a_tensor():
    x = np.random.default_rng(1).uniform(-1, 1, (6, 3, 4, 4)).astype(np.float32)
    np.testing.assert_array_equal(viz.image_grid(mg.tensor(x, requires_grad=True), nrow=2), viz.image_grid(x, nrow=2))


@pytest.mark.parametrize(("images", "kwargs", "error", "message"), [
    (np.zeros((3, 8, 8)), {}, ValueError, r"\(N, C, H, W\).*3-D.*\(3, 8, 8\)"),
    (np.zeros((2, 2, 8, 8)), {}, ValueError, r"C = 1 \(gray\) or 3 \(RGB\).*C = 2"),
    (np.zeros((0, 1, 8, 8)), {}, ValueError, r"empty"),
    (np.zeros((2, 1, 8, 8)), {"nrow": 0}, ValueError, r"nrow must be at least 1"),
    (np.zeros((2, 1, 8, 8)), {"padding": -1}, ValueError, r"padding must be at least 0"),
    (np.zeros((2, 1, 8, 8)), {"value_range": (1, -1)}, ValueError, r"low < high"),
    (np.array([[[["a"]]]]), {}, TypeError, r"must hold numbers"),
])
def test_grid_errors_name_the_problem(images, kwargs, error, message):
    with pytest.raises(error, match="image_grid: .*" + message):
        viz.image_grid(images, **kwargs)


# ---- save_grid ----

@pytest.mark.parametrize("scale", [1, 3])
def test_save_grid_writes_a_png_of_the_grid(tmp_path, scale):
    x = np.random.default_rng(2).uniform(-1, 1, (7, 1, 6, 5))
    path = tmp_path / "grid.png"
    viz.save_grid(mg.tensor(x), path, nrow=4, scale=scale)
    grid = viz.image_grid(x, nrow=4)
    image = read_png(path)
    assert image.shape == (grid.shape[0] * scale, grid.shape[1] * scale, 3)
    np.testing.assert_array_equal(image[::scale, ::scale], grid)
    np.testing.assert_array_equal(image[scale - 1::scale, scale - 1::scale], grid)


def test_save_grid_checks_scale_and_directory(tmp_path):
    with pytest.raises(ValueError, match="save_grid: scale must be at least 1"):
        viz.save_grid(np.zeros((1, 1, 2, 2)), tmp_path / "a.png", scale=0)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        viz.save_grid(np.zeros((1, 1, 2, 2)), tmp_path / "missing" / "a.png")


# ---- plot_losses ----

def test_plot_losses_from_a_list(tmp_path):
    viz.plot_losses(losses_log(), tmp_path / "losses.png")
    image = imread(tmp_path / "losses.png")
    assert image.ndim == 3 and image.shape[0] > image.shape[1] * 0.8  # three stacked panels


def test_plot_losses_from_a_jsonl_file_skips_an_unfinished_last_line(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in losses_log()) + '{"step": 31, "loss_d": 0.')
    viz.plot_losses(log, tmp_path / "losses.png", smooth=5)
    viz.plot_losses(str(log), tmp_path / "raw.png", smooth=1)
    assert imread(tmp_path / "losses.png").shape == imread(tmp_path / "raw.png").shape


def test_plot_losses_leaves_out_panels_whose_keys_are_absent(tmp_path):
    heights = {}
    for panels, keys in [(3, ("loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d", "grad_norm_g")),
                         (2, ("loss_d", "loss_g", "grad_norm_d")), (1, ("loss_d", "loss_g"))]:
        records = losses_log(keys=keys)
        records[3]["grad_norm_g"] = None  # a key without a number at some steps is skipped there
        viz.plot_losses(records, tmp_path / f"{panels}.png")
        heights[panels] = imread(tmp_path / f"{panels}.png").shape[0]
    assert heights[1] < heights[2] < heights[3]
    assert heights[3] - heights[2] == heights[2] - heights[1]  # one panel's height each


def test_plot_losses_errors_name_the_problem(tmp_path):
    records = losses_log()
    del records[1]["step"]
    with pytest.raises(ValueError, match=r"plot_losses: record 1 of the records list has no 'step' key"):
        viz.plot_losses(records, tmp_path / "a.png")
    with pytest.raises(ValueError, match=r"plot_losses: no records to plot"):
        viz.plot_losses([], tmp_path / "a.png")
    with pytest.raises(ValueError, match=r"plot_losses: the records hold none of the plotted keys"):
        viz.plot_losses([{"step": 1, "seconds": 2.0}], tmp_path / "a.png")
    with pytest.raises(ValueError, match=r"smooth must be a positive integer"):
        viz.plot_losses(losses_log(), tmp_path / "a.png", smooth=0)
    log = tmp_path / "bad.jsonl"
    log.write_text('{"step": 1, "loss_d": 1}\nnot json\n{"step": 2, "loss_d": 1}\n')
    with pytest.raises(ValueError, match=r"plot_losses: line 2 of .*bad.jsonl.* is not valid JSON"):
        viz.plot_losses(log, tmp_path / "a.png")
    log.write_text('{"loss_d": 1}\n')
    with pytest.raises(ValueError, match=r"record 0 of .*bad.jsonl.* has no 'step' key"):
        viz.plot_losses(log, tmp_path / "a.png")
    assert not (tmp_path / "a.png").exists()


def test_moving_average_trails_and_ignores_non_finite_values():
    np.testing.assert_allclose(moving_average(np.array([1.0, 2.0, 3.0, 4.0]), 2), [1.0, 1.5, 2.5, 3.5])
    np.testing.assert_allclose(moving_average(np.array([1.0, np.nan, 3.0, np.inf]), 3), [1.0, 1.0, 2.0, 3.0])
    assert np.isnan(moving_average(np.array([np.nan, 1.0]), 1)[0])


# ---- plot_points ----

def test_plot_points_without_a_discriminator(tmp_path):
    rng = np.random.default_rng(3)
    modes = np.array([[0.0, 2.0], [2.0, 0.0], [-2.0, 0.0]])
    viz.plot_points(mg.tensor(rng.normal(size=(100, 2))), tmp_path / "a.png", real=rng.normal(size=(300, 2)),
                    modes=modes)
    viz.plot_points(rng.normal(size=(50, 2)), tmp_path / "b.png", title="only samples")
    assert imread(tmp_path / "a.png").ndim == 3 and imread(tmp_path / "b.png").ndim == 3


def test_plot_points_with_a_discriminator(tmp_path):
    calls = []

    def discriminator(points):
        calls.append(points)
        return mg.tensor(points[:, :1] - points[:, 1:])  # a Tensor of shape (K, 1)

    samples = np.random.default_rng(4).normal(size=(80, 2))
    viz.plot_points(samples, tmp_path / "d.png", discriminator=discriminator, extent=(-3, 3, -2, 2))
    assert len(calls) == 1 and calls[0].dtype == np.float32 and calls[0].ndim == 2 and calls[0].shape[1] == 2
    assert calls[0][:, 0].min() == -3 and calls[0][:, 0].max() == 3 and calls[0][:, 1].max() == 2
    viz.plot_points(samples, tmp_path / "e.png", discriminator=lambda p: np.full(len(p), 50.0))  # saturated
    assert imread(tmp_path / "d.png").ndim == 3 and imread(tmp_path / "e.png").ndim == 3


def test_plot_points_of_a_critic_shows_its_scores(tmp_path):
    """Scores 40 apart saturate sigmoid(D) to one colour; drawn as a critic's scores they span the colour map."""
    samples = np.random.default_rng(4).normal(size=(80, 2))

    def critic(p):
        return 20 * (p[:, 0] > 0) + 0.01 * p[:, 1]

    viz.plot_points(samples, tmp_path / "logit.png", discriminator=critic, extent=(-3, 3, -3, 3))
    viz.plot_points(samples, tmp_path / "score.png", discriminator=critic, extent=(-3, 3, -3, 3), critic=True)
    viz.plot_points(samples, tmp_path / "flat.png", discriminator=lambda p: np.zeros(len(p)), critic=True)
    logit, score = (imread(tmp_path / f"{name}.png")[..., :3] for name in ("logit", "score"))
    assert logit.shape == score.shape and not np.array_equal(logit, score)
    assert imread(tmp_path / "flat.png").ndim == 3


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"samples": np.zeros((5, 3))}, r"samples must have shape \(N, 2\), got shape \(5, 3\)"),
    ({"samples": np.zeros((0, 2))}, r"samples is empty"),
    ({"real": np.zeros(4)}, r"real must have shape \(N, 2\)"),
    ({"samples": np.full((3, 2), np.nan)}, r"no finite point"),
    ({"extent": (1, 0, 0, 1)}, r"xmin < xmax"),
    ({"discriminator": lambda p: np.zeros(3)}, r"the discriminator returned shape \(3,\) for \d+ points"),
])
def test_plot_points_errors_name_the_problem(tmp_path, kwargs, message):
    args = {"samples": np.zeros((5, 2))} | kwargs
    with pytest.raises(ValueError, match="plot_points: .*" + message):
        viz.plot_points(path=tmp_path / "p.png", **args)
    assert os.listdir(tmp_path) == []


# ---- files ----

@pytest.mark.parametrize("draw", [
    lambda path: viz.save_grid(np.zeros((4, 1, 8, 8)), path),
    lambda path: viz.plot_losses(losses_log(), path),
    lambda path: viz.plot_points(np.zeros((4, 2)), path),
], ids=["save_grid", "plot_losses", "plot_points"])
def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch, draw):
    path = tmp_path / "picture.png"
    path.write_bytes(b"the previous picture")

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        draw(path)
    assert path.read_bytes() == b"the previous picture"
    assert os.listdir(tmp_path) == ["picture.png"]
    monkeypatch.undo()
    draw(path)
    assert imread(path).ndim == 3 and os.listdir(tmp_path) == ["picture.png"]


def test_drawing_leaves_the_backend_and_pyplot_alone(tmp_path):
    script = f"""
import sys, matplotlib
matplotlib.use("svg")
import numpy as np
from minigan import viz
viz.plot_points(np.zeros((3, 2)), {str(tmp_path / "p.png")!r}, discriminator=lambda p: p[:, 0])
viz.plot_losses([{{"step": 1, "loss_d": 1.0, "loss_g": 2.0}}], {str(tmp_path / "l.png")!r})
assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
assert "matplotlib.pyplot" not in sys.modules
"""
    result = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
