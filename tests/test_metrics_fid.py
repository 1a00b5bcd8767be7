"""Frechet distance against closed forms, the classifier score's extremes, and stacked-MNIST mode counting."""

import dataclasses
import math

import numpy as np
import pytest

import minigan as mg
from minigan import nn
from minigan.data import Dataset, load
from minigan.metrics.classifier import load_classifier
from minigan.metrics.fid import (
    classifier_score,
    fid_lenet,
    frechet_distance,
    score_from_proba,
    stacked_digits,
    stacked_modes,
)

STEPS = 200  # the digits classifier of the tests (cached for the session, shared with the other metric tests)


def with_moments(rng, n: int, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """n samples whose sample mean and (unbiased) sample covariance are exactly mean and cov."""
    z = rng.standard_normal((n, len(mean)))
    z -= z.mean(axis=0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.atleast_2d(np.cov(z, rowvar=False)))).T  # now cov(z) = I
    return z @ np.linalg.cholesky(cov).T + mean


def test_a_set_against_itself_and_against_a_translated_copy(rng):
    a = rng.standard_normal((2000, 16)) @ rng.standard_normal((16, 16))
    assert abs(frechet_distance(a, a)) < 1e-6 * np.trace(np.cov(a, rowvar=False))
    shift = rng.standard_normal(16)
    assert frechet_distance(a, a + shift) == pytest.approx(shift @ shift, rel=1e-6)
    b = rng.standard_normal((1500, 16))
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-8)


def test_diagonal_gaussians_match_the_closed_form(rng):
    # commuting covariances: d^2 = ||mu_a - mu_b||^2 + sum_i (sqrt(a_i) - sqrt(b_i))^2
    var_a, var_b = rng.uniform(0.2, 3.0, 8), rng.uniform(0.2, 3.0, 8)
    mu_a, mu_b = rng.standard_normal(8), rng.standard_normal(8)
    a = with_moments(rng, 500, mu_a, np.diag(var_a))
    b = with_moments(rng, 700, mu_b, np.diag(var_b))
    expected = np.sum((mu_a - mu_b) ** 2) + np.sum((np.sqrt(var_a) - np.sqrt(var_b)) ** 2)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)


def test_non_commuting_2d_gaussians_match_the_closed_form(rng):
    # for 2x2 M = S_a S_b with eigenvalues l1, l2 >= 0: Tr M^(1/2) = sqrt(l1) + sqrt(l2) = sqrt(Tr M + 2 sqrt(det M))
    s_a = np.array([[2.0, 0.9], [0.9, 1.0]])
    s_b = np.array([[0.5, -0.3], [-0.3, 1.5]])
    mu_a, mu_b = np.array([1.0, -2.0]), np.array([0.5, 0.5])
    m = s_a @ s_b
    tr_root = math.sqrt(np.trace(m) + 2 * math.sqrt(np.linalg.det(m)))
    expected = np.sum((mu_a - mu_b) ** 2) + np.trace(s_a) + np.trace(s_b) - 2 * tr_root
    got = frechet_distance(with_moments(rng, 300, mu_a, s_a), with_moments(rng, 400, mu_b, s_b))
    assert got == pytest.approx(expected, rel=1e-9)


def test_one_dimensional_gaussians(rng):
    a, b = with_moments(rng, 100, np.array([3.0]), np.array([[4.0]])), with_moments(rng, 50, np.zeros(1), np.eye(1))
    assert frechet_distance(a, b) == pytest.approx(3.0 ** 2 + (2.0 - 1.0) ** 2, rel=1e-9)


def test_singular_covariances_stay_finite(rng):
    few = rng.standard_normal((20, 64))  # fewer samples than features: rank-19 covariances
    other = rng.standard_normal((30, 64)) + 1.0
    assert abs(frechet_distance(few, few)) < 1e-3
    d = frechet_distance(few, other)
    assert math.isfinite(d) and d > 64  # at least the squared distance between the means, about 64
    constant = np.c_[rng.standard_normal((200, 4)), np.ones(200)]  # a feature that never varies
    assert frechet_distance(constant, constant + [0, 0, 0, 0, 2.0]) == pytest.approx(4.0, rel=1e-4)


def test_frechet_distance_checks_its_inputs(rng):
    with pytest.raises(ValueError, match="feature sizes differ"):
        frechet_distance(rng.standard_normal((10, 3)), rng.standard_normal((10, 4)))
    with pytest.raises(ValueError, match="N >= 2"):
        frechet_distance(rng.standard_normal((1, 3)), rng.standard_normal((10, 3)))


def test_score_from_proba_extremes():
    one_hot = np.eye(10)[np.arange(1000) % 10]
    assert score_from_proba(one_hot) == pytest.approx(10.0)
    assert score_from_proba(np.eye(10)[np.zeros(50, dtype=int)]) == pytest.approx(1.0)
    assert score_from_proba(np.full((40, 10), 0.1)) == pytest.approx(1.0)  # no confident class
    assert score_from_proba(np.eye(10)[np.arange(100) % 4]) == pytest.approx(4.0)
    # two classes, used 1:3, predicted with certainty: exp(H(p(y))) = exp(-(1/4 log 1/4 + 3/4 log 3/4))
    assert score_from_proba(np.eye(2)[[0, 1, 1, 1]]) == pytest.approx(math.exp(-(0.25 * math.log(0.25)
                                                                                 + 0.75 * math.log(0.75))))


class LabelReader(nn.Module):
    """A stand-in classifier: the digit is written in the mean intensity, (mean + 1) * 5 rounded."""

    def forward(self, x):
        digit = np.clip(np.rint((x.numpy().mean(axis=(1, 2, 3)) + 1) * 5), 0, 9).astype(int)
        return mg.tensor(20.0 * np.eye(10, dtype=np.float32)[digit])


def images_of(digits: np.ndarray, channels: int = 1) -> np.ndarray:
    """Images (N, channels, 28, 28) that LabelReader reads as `digits` (N, channels)."""
    digits = np.asarray(digits).reshape(len(digits), channels)
    return np.broadcast_to((digits / 5.0 - 1)[:, :, None, None], (len(digits), channels, 28, 28)).astype(np.float32)


def test_classifier_score_of_a_confident_classifier():
    assert classifier_score(images_of(np.arange(200) % 10), LabelReader()) == pytest.approx(10.0, rel=1e-6)
    assert classifier_score(images_of(np.full(30, 7)), LabelReader()) == pytest.approx(1.0, rel=1e-6)


def test_stacked_modes_counts_the_three_digit_modes():
    modes = np.array([0, 7, 123, 999, 456, 0])  # 5 distinct modes, one of them twice
    digits = np.stack([modes // 100, modes // 10 % 10, modes % 10], axis=1)
    result = stacked_modes(images_of(digits, 3), LabelReader())
    assert result["modes"] == 5
    np.testing.assert_array_equal(result["counts"], np.bincount(modes, minlength=1000))
    q = np.bincount(modes, minlength=1000) / len(modes)
    assert result["kl"] == pytest.approx(np.sum(q[q > 0] * np.log(1000 * q[q > 0])))
    even = np.repeat(np.arange(0, 1000, 4), 2)  # 250 modes, two samples each: KL = log(1000 / 250)
    digits = np.stack([even // 100, even // 10 % 10, even % 10], axis=1)
    result = stacked_modes(images_of(digits, 3), LabelReader())
    assert result["modes"] == 250 and result["kl"] == pytest.approx(math.log(4))
    with pytest.raises(ValueError, match="N, 3, H, W"):
        stacked_modes(images_of(np.zeros(4)), LabelReader())


def test_stacked_digits_puts_three_labelled_digits_in_three_channels():
    labels = np.arange(50) % 10
    data = Dataset("toy", images_of(labels), labels, num_classes=10)
    images, modes = stacked_digits(data, 400, seed=1)
    assert images.shape == (400, 3, 28, 28) and modes.shape == (400,)
    np.testing.assert_array_equal(stacked_modes(images, LabelReader())["counts"], np.bincount(modes, minlength=1000))
    again, _ = stacked_digits(data, 400, seed=1)
    np.testing.assert_array_equal(again, images)
    assert not np.array_equal(stacked_digits(data, 400, seed=2)[1], modes)
    assert len(np.unique(modes)) > 300  # drawn independently per channel
    with pytest.raises(ValueError, match="one-channel"):
        stacked_digits(Dataset("rgb", np.zeros((5, 3, 28, 28), np.float32), labels[:5], 10), 3)


@pytest.fixture(scope="module")
def clf():
    return load_classifier("digits", steps=STEPS)


@pytest.fixture(scope="module")
def test_digits():
    return load("digits", n=3000, split="test", seed=1)


def test_stacked_real_digits_cover_the_modes_and_half_the_digits_do_not(clf, test_digits):
    images, modes = stacked_digits(test_digits, 3000, seed=0)
    full = stacked_modes(images, clf)
    truth = np.bincount(modes, minlength=1000)
    assert np.minimum(full["counts"], truth).sum() > 0.8 * 3000  # the classifier finds the modes stacked
    low = test_digits.y < 5
    half = dataclasses.replace(test_digits, x=test_digits.x[low], y=test_digits.y[low])
    images, modes = stacked_digits(half, 3000, seed=0)
    assert len(np.unique(modes)) <= 125
    partial = stacked_modes(images, clf)
    assert full["modes"] > 900  # 3,000 uniform draws reach 1000 (1 - e^-3) = 950 modes on average
    assert partial["modes"] < full["modes"] / 2
    assert partial["kl"] > full["kl"] + 1.0  # log(1000 / 125) = 2.1 for an even spread over 125 modes


def test_fid_lenet_and_classifier_score_on_real_digits(clf, test_digits):
    a, b = test_digits.x[:1500], test_digits.x[1500:]
    assert abs(fid_lenet(a, a, clf)) < 1e-6
    same = fid_lenet(a, b, clf)
    few_classes = test_digits.x[test_digits.y < 3]
    assert fid_lenet(few_classes, b, clf) > 5 * same
    assert fid_lenet(np.clip(b + 0.5, -1, 1), a, clf) > 5 * same  # washed-out digits
    assert classifier_score(a, clf) > 6.0  # 10 for a classifier that is sure of every digit
    assert 2.0 < classifier_score(few_classes, clf) < 3.3  # at most exp(H(p(y))), about 3 for three digits
    assert classifier_score(test_digits.x[test_digits.y == 4], clf) < 1.5
