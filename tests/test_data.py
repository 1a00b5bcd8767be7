"""minigan.data: the generated data sets (Gaussian mixtures, rendered digits) and load()'s dispatch and errors."""

import os

import numpy as np
import pytest

import minigan as mg
from minigan import data
from minigan.data import digits

RING_CENTRES = np.array([[np.cos(a), np.sin(a)] for a in 2 * np.pi * np.arange(8) / 8])
GRID_CENTRES = np.array([[x, y] for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)], dtype=float)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh, empty digits cache for one test."""
    monkeypatch.setenv("MINIGAN_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


# ---- load(): names and options ----
def test_unknown_name_lists_every_data_set():
    with pytest.raises(ValueError) as info:
        data.load("mnits")
    for name in data.DATASETS:
        assert name in str(info.value)


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="split"):
        data.load("ring8", split="validation")
    with pytest.raises(ValueError, match="size and color"):
        data.load("ring8", size=32)
    with pytest.raises(ValueError, match="n must be"):
        data.load("grid25", n=0)
    with pytest.raises(ValueError, match="seed"):
        data.load("grid25", seed=-1)
    with pytest.raises(ValueError, match="size"):
        data.load("digits", size=48, n=10)


# ---- Gaussian mixtures ----
@pytest.mark.parametrize("name, centres, sigma", [("ring8", RING_CENTRES, 0.01), ("grid25", GRID_CENTRES, 0.05)])
def test_mixture_statistics(name, centres, sigma):
    n = 50000
    ds = data.load(name, n=n, seed=3)
    k = len(centres)
    assert ds.x.shape == (n, 2) and ds.x.dtype == np.float32 and ds.sample_shape == (2,) and len(ds) == n
    assert ds.y.dtype == np.int64 and ds.num_classes == k and ds.sigma == sigma
    # the modes: the published centres, in some order, and the label of a point names its mode
    np.testing.assert_allclose(np.sort(ds.modes, axis=0), np.sort(centres, axis=0), atol=1e-6)
    nearest = np.argmin(((ds.x[:, None, :] - ds.modes[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_array_equal(nearest, ds.y)
    counts = np.bincount(ds.y, minlength=k)
    expected, spread = n / k, np.sqrt(n * (1 / k) * (1 - 1 / k))
    assert np.all(np.abs(counts - expected) < 5 * spread), counts
    for mode in range(k):
        points = ds.x[ds.y == mode].astype(np.float64)
        np.testing.assert_allclose(points.mean(0), ds.modes[mode], atol=5 * sigma / np.sqrt(len(points)))
        np.testing.assert_allclose(points.std(0), sigma, rtol=0.1)


def test_mixture_seeds_and_splits():
    a, b = data.load("ring8", n=1000, seed=1), data.load("ring8", n=1000, seed=1)
    np.testing.assert_array_equal(a.x, b.x)
    assert not np.array_equal(a.x, data.load("ring8", n=1000, seed=2).x)
    assert not np.array_equal(a.x, data.load("ring8", n=1000, seed=1, split="test").x)
    assert len(data.load("grid25")) == 100000


# ---- rendered digits ----
def test_digits_shapes_range_and_balance(cache):
    ds = data.load("digits", n=205, seed=0)
    assert ds.name == "digits" and ds.x.shape == (205, 1, 28, 28) and ds.x.dtype == np.float32
    assert ds.y.dtype == np.int64 and ds.num_classes == 10 and ds.sample_shape == (1, 28, 28)
    assert ds.x.min() >= -1 and ds.x.max() <= 1
    assert ds.x.max() == 1 and ds.x.min() == -1
    counts = np.bincount(ds.y, minlength=10)
    assert counts.max() - counts.min() <= 1 and counts.sum() == 205


def test_digits_look_like_mnist_digits(cache):
    """White strokes on black, centred, about 20 pixels tall: MNIST's framing."""
    x = data.load("digits", n=400, seed=5).x[:, 0]
    ink = (x + 1) / 2
    corners = np.concatenate([ink[:, :3, :3], ink[:, :3, -3:], ink[:, -3:, :3], ink[:, -3:, -3:]], axis=1)
    assert np.mean(corners.max(axis=(1, 2)) > 0.05) < 0.01  # black background: the corners stay empty
    edges = np.concatenate([ink[:, 0], ink[:, -1], ink[:, :, 0], ink[:, :, -1]], axis=1)
    assert np.mean(edges.max(axis=1) > 0.05) < 0.03  # digits rarely touch the frame
    assert 0.08 < ink.mean() < 0.2  # MNIST's mean is 33.8 / 255 = 0.13
    rows = np.nonzero((ink > 0.25).any(axis=2))
    heights = np.array([np.ptp(rows[1][rows[0] == i]) + 1 for i in range(len(x))])
    assert 16 < heights.mean() < 23
    r = np.arange(28)
    cy = (ink.sum(2) * r).sum(1) / ink.sum((1, 2))
    cx = (ink.sum(1) * r).sum(1) / ink.sum((1, 2))
    assert abs(cy.mean() - 14) < 1 and abs(cx.mean() - 14) < 1
    assert np.abs(cy - 14).max() < 4 and np.abs(cx - 14).max() < 4


def test_digits_are_deterministic_per_seed(cache):
    a = digits.render_digits(60, rng=np.random.default_rng(7))
    b = digits.render_digits(60, rng=np.random.default_rng(7))
    c = digits.render_digits(60, rng=np.random.default_rng(8))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    train, test = data.load("digits", n=60, seed=7), data.load("digits", n=60, seed=7, split="test")
    assert not np.array_equal(train.x, test.x)


def test_digits_cache_is_written_and_read_back(cache, monkeypatch):
    first = data.load("digits", n=40, seed=4)
    files = os.listdir(cache)
    assert len(files) == 1 and files[0].endswith(".safetensors") and "n40" in files[0] and "seed4" in files[0]

    def no_rendering(*args, **kwargs):
        raise AssertionError("rendered again instead of reading the cache")

    monkeypatch.setattr(digits, "render_digits", no_rendering)
    second = data.load("digits", n=40, seed=4)
    np.testing.assert_array_equal(first.x, second.x)
    np.testing.assert_array_equal(first.y, second.y)
    assert second.x.dtype == np.float32 and second.y.dtype == np.int64
    assert mg.load(cache / files[0])["x"].dtype == np.uint8  # a plain minigan checkpoint, pixels as bytes


def test_digits_corrupt_cache_is_rendered_again(cache):
    first = data.load("digits", n=30, seed=1)
    (path,) = cache.iterdir()
    path.write_bytes(b"not an npz archive")
    with pytest.warns(UserWarning, match="cache"):
        again = data.load("digits", n=30, seed=1)
    np.testing.assert_array_equal(first.x, again.x)
    assert data.load("digits", n=30, seed=1).x.shape == (30, 1, 28, 28)  # and the file was rewritten


def test_digits_variants(cache):
    gray28 = data.load("digits", n=50, seed=2)
    gray32 = data.load("digits", n=50, seed=2, size=32)
    rgb28 = data.load("digits", n=50, seed=2, color=True)
    rgb32 = data.load("digits", n=50, seed=2, color=True, size=32)
    assert gray32.x.shape == (50, 1, 32, 32) and rgb28.x.shape == (50, 3, 28, 28)
    assert rgb32.x.shape == (50, 3, 32, 32) and rgb32.sample_shape == (3, 32, 32)
    for ds in (gray32, rgb28, rgb32):
        assert ds.x.dtype == np.float32 and ds.x.min() >= -1 and ds.x.max() <= 1
        np.testing.assert_array_equal(ds.y, gray28.y)
    # at 32 the digits keep their size on a larger frame (like MNIST padded to 32x32): a black 2-pixel border
    border = np.concatenate([gray32.x[..., :2, :].ravel(), gray32.x[..., -2:, :].ravel(),
                             gray32.x[..., :2].ravel(), gray32.x[..., -2:].ravel()])
    assert np.mean(border < -0.95) > 0.99
    # colour: the channels differ, strokes are brighter than the dark background
    assert np.abs(rgb28.x[:, 0] - rgb28.x[:, 1]).mean() > 0.05
    value = rgb28.x.max(axis=1)  # HSV value of each pixel, in [-1, 1]
    assert np.all(value[:, 0, 0] < -0.45)  # the corner is background: value at most 0.25
    assert np.all(value.reshape(50, -1).max(axis=1) > 0.4)  # every digit has bright ink


def test_digit_classes_are_distinct(cache):
    """A nearest-class-mean classifier fitted on half the digits labels the other half far above chance."""
    ds = data.load("digits", n=600, seed=11)
    x, y = ds.x.reshape(len(ds), -1), ds.y
    fit, held = slice(0, 300), slice(300, 600)
    means = np.stack([x[fit][y[fit] == c].mean(0) for c in range(10)])
    predicted = np.argmin(((x[held][:, None] - means[None]) ** 2).sum(-1), axis=1)
    accuracy = np.mean(predicted == y[held])
    assert accuracy > 0.6, accuracy


def test_thinning_leaves_a_centre_line():
    bar = np.zeros((1, 20, 40), bool)
    bar[0, 6:13, 5:35] = True  # a horizontal stroke 7 pixels thick
    skeleton = digits.thin(bar)[0]
    assert skeleton.sum() > 15  # a line remains, not a point
    assert set(np.nonzero(skeleton)[0]) <= {8, 9, 10}  # along the middle rows
    assert np.all(skeleton <= bar[0])


def test_glyph_templates_measure_stroke_width():
    t = digits.glyph_templates()
    fonts = len(digits.FONT_FILES)
    assert t["sdf"].shape[0] == t["mono"].shape[0] == 10 * fonts
    stroke = t["stroke"].reshape(fonts, 10).mean(axis=1)
    regular, bold = digits.FONT_FILES.index("DejaVuSans.ttf"), digits.FONT_FILES.index("DejaVuSans-Bold.ttf")
    assert stroke[bold] > 1.4 * stroke[regular]
    assert np.all(t["sdf"][:, 0, :] > 0) and np.all(t["mono"][:, 0, :] > 0)  # canvas borders are outside
