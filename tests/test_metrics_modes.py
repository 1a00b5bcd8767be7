"""Known answers of the mode-coverage metric (minigan.metrics.modes), and the Maxout layer."""

import math

import numpy as np
import pytest

import minigan as mg
import minigan.data
from minigan.metrics import mean_and_stderr, mode_coverage


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_samples_of_the_mixture_cover_every_mode_evenly(name):
    data = minigan.data.load(name, n=20000, seed=3)
    k = len(data.modes)
    score = mode_coverage(data.x, data.modes, data.sigma)
    assert score.modes_covered == score.num_modes == k
    # the radius of a 2-D standard normal is Rayleigh: P(r < 3) = 1 - exp(-9/2) = 0.9889
    assert score.high_quality == pytest.approx(1 - math.exp(-4.5), abs=0.005)
    assert 0 <= score.reverse_kl < 0.01  # a multinomial histogram of 20,000 points is close to uniform
    assert sum(score.counts) == round(score.high_quality * len(data.x))


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_samples_of_half_the_modes_give_log_2(name):
    data = minigan.data.load(name, n=8000, seed=4)
    k = len(data.modes)
    kept = np.arange(k) % 2 == 0  # every other mode
    half = data.x[kept[data.y]]
    rng = np.random.default_rng(0)
    # exactly even counts over the kept modes, so that the histogram is exactly uniform on them
    centres = data.modes[kept]
    points = np.repeat(centres, 50, axis=0) + 0.5 * data.sigma * rng.uniform(-1, 1, (50 * len(centres), 2))
    score = mode_coverage(points, data.modes, data.sigma)
    assert score.modes_covered == kept.sum()
    assert score.high_quality == 1.0
    assert score.reverse_kl == pytest.approx(math.log(k / kept.sum()), abs=1e-12)
    if k % 2 == 0:
        assert score.reverse_kl == pytest.approx(math.log(2), abs=1e-12)
    assert [c > 0 for c in score.counts] == list(kept)
    # drawn from the data (uneven counts), still exactly the kept modes and close to log(K / kept)
    drawn = mode_coverage(half, data.modes, data.sigma)
    assert drawn.modes_covered == kept.sum()
    assert drawn.reverse_kl == pytest.approx(math.log(k / kept.sum()), abs=0.02)


def test_samples_far_from_every_mode_cover_nothing():
    data = minigan.data.load("ring8", n=10, seed=0)
    far = np.array([[0.0, 0.0], [5.0, 5.0], [np.cos(np.pi / 8), np.sin(np.pi / 8)]])  # the centre, outside, between
    score = mode_coverage(far, data.modes, data.sigma)
    assert score.modes_covered == 0
    assert score.high_quality == 0.0
    assert math.isnan(score.reverse_kl)
    assert score.counts == (0,) * 8


def test_a_case_computed_by_hand():
    modes = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    sigma = 1.0
    samples = np.array([
        [0.5, 0.5],    # mode 0, distance 0.71: high quality
        [2.0, 2.0],    # mode 0, distance 2.83: high quality
        [2.0, 2.5],    # mode 0, distance 3.20: not
        [10.0, 2.9],   # mode 1, distance 2.9: high quality
        [4.0, 4.0],    # nearest mode 0 at 5.66: not
        [-1.0, 9.0],   # mode 2, distance 1.41: high quality
        [6.0, 6.0],    # nearest mode 1 and 2 at 7.21: not
        [1.0, 0.0],    # mode 0: high quality
    ])
    score = mode_coverage(mg.tensor(samples.astype(np.float32)), modes, sigma)  # a Tensor is accepted too
    assert score.counts == (3, 1, 1)
    assert score.modes_covered == 3
    assert score.high_quality == pytest.approx(5 / 8)
    q = np.array([3, 1, 1]) / 5
    assert score.reverse_kl == pytest.approx(float(np.sum(q * np.log(3 * q))), rel=1e-12)
    assert score.reverse_kl == pytest.approx(0.6 * math.log(1.8) + 0.4 * math.log(0.6), rel=1e-12)
    # a wider threshold takes in the sample at 3.2 sigma, a narrower one drops the one at 2.9
    assert mode_coverage(samples, modes, sigma, threshold=3.3).counts == (4, 1, 1)
    assert mode_coverage(samples, modes, sigma, threshold=2.85).counts == (3, 0, 1)
    assert mode_coverage(samples, modes, 2 * sigma).counts[0] == 5  # sigma scales the radius


def test_one_mode_holding_every_sample_gives_log_k():
    modes = np.eye(4) * 10
    score = mode_coverage(np.tile(modes[2], (7, 1)), modes, 0.1)
    assert score.counts == (0, 0, 7, 0)
    assert score.reverse_kl == pytest.approx(math.log(4), abs=1e-12)
    assert score.as_dict() == {"modes_covered": 1, "num_modes": 4, "high_quality": 1.0,
                               "reverse_kl": score.reverse_kl, "counts": [0, 0, 7, 0]}


@pytest.mark.parametrize("samples, modes, sigma, match", [
    (np.zeros((5, 3)), np.zeros((2, 2)), 1.0, r"samples must have shape \(N, 2\)"),
    (np.zeros(5), np.zeros((2, 2)), 1.0, "samples must have shape"),
    (np.zeros((0, 2)), np.zeros((2, 2)), 1.0, "N >= 1"),
    (np.zeros((5, 2)), np.zeros(2), 1.0, r"modes must have shape \(K, D\)"),
    (np.array([[0.0, np.nan], [1.0, 1.0]]), np.zeros((2, 2)), 1.0, "1 of 2 samples are NaN or infinite"),
    (np.array([[0.0, np.inf]]), np.zeros((2, 2)), 1.0, "NaN or infinite"),
    (np.zeros((5, 2)), np.zeros((2, 2)), 0.0, "sigma must be a positive finite number"),
    (np.zeros((5, 2)), np.zeros((2, 2)), -1.0, "sigma must be a positive"),
    (np.zeros((5, 2)), np.zeros((2, 2)), float("nan"), "sigma must be a positive"),
    (np.array([["a", "b"]]), np.zeros((2, 2)), 1.0, "must hold numbers"),
])
def test_bad_inputs_raise_value_errors_that_name_the_problem(samples, modes, sigma, match):
    with pytest.raises(ValueError, match=match):
        mode_coverage(samples, modes, sigma)


def test_threshold_must_be_positive():
    with pytest.raises(ValueError, match="threshold must be a positive"):
        mode_coverage(np.zeros((1, 2)), np.zeros((1, 2)), 1.0, threshold=0)


def test_mean_and_stderr_over_trials():
    values = [6.0, 7.0, 8.0, 5.0]
    summary = mean_and_stderr(values)
    assert summary["mean"] == pytest.approx(6.5)
    assert summary["stderr"] == pytest.approx(np.std(values, ddof=1) / 2)
    assert summary["n"] == 4
    with_nan = mean_and_stderr([0.5, float("nan"), 0.7])  # a trial without high-quality samples is left out
    assert with_nan["n"] == 2 and with_nan["mean"] == pytest.approx(0.6)
    one = mean_and_stderr([3.0])
    assert one["mean"] == 3.0 and math.isnan(one["stderr"]) and one["n"] == 1
    assert math.isnan(mean_and_stderr([float("nan")])["mean"])
