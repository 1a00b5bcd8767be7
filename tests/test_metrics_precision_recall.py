"""Precision and recall with k-NN manifolds: known answers, and the blocked distances against a brute-force oracle."""

import itertools

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from minigan.metrics import precision_recall as pr
from minigan.metrics.precision_recall import knn_radii, manifold_fraction, precision_recall


def clusters(rng, centres, n_each: int, scale: float = 0.1) -> np.ndarray:
    return np.concatenate([c + scale * rng.standard_normal((n_each, len(c))) for c in np.asarray(centres, float)])


def test_identical_sets(rng):
    x = rng.standard_normal((300, 8))
    assert precision_recall(x, x) == (1.0, 1.0)


def test_far_apart_sets(rng):
    real = rng.standard_normal((200, 5))
    assert precision_recall(real, rng.standard_normal((150, 5)) + 100.0) == (0.0, 0.0)


def test_half_of_the_clusters_gives_full_precision_and_half_recall(rng):
    real = clusters(rng, [[0, 0, 0], [50, 0, 0]], 100)
    assert precision_recall(real, real[:100]) == (1.0, 0.5)  # the set against its first half: one cluster
    assert precision_recall(real[:100], real) == (0.5, 1.0)  # the roles swap
    precision, recall = precision_recall(real, clusters(rng, [[0, 0, 0]], 100))  # new draws of one cluster
    assert precision > 0.9 and 0.4 < recall <= 0.5


def test_a_random_half_covers_the_same_support(rng):
    real = rng.standard_normal((1000, 4))
    precision, recall = precision_recall(real, real[::2])
    assert precision == 1.0
    assert recall > 0.9  # the other half falls inside the half's k-NN balls: the same distribution


def test_radii_and_fractions_match_brute_force(rng, monkeypatch):
    a, b = rng.standard_normal((90, 6)), rng.standard_normal((70, 6)) * 1.5
    d = cdist(a, a, "sqeuclidean")
    expected = np.sort(d, axis=1)[:, 3]  # column 0 is the point itself
    inside = (cdist(b, a, "sqeuclidean") <= expected[None, :]).any(axis=1).mean()
    monkeypatch.setattr(pr, "_BLOCK", 16)  # several blocks, the last one partial
    np.testing.assert_allclose(knn_radii(a, 3), expected, rtol=1e-9, atol=1e-12)
    assert manifold_fraction(a, knn_radii(a, 3), b) == inside
    monkeypatch.setattr(pr, "_BLOCK", 1024)
    assert manifold_fraction(a, knn_radii(a, 3), b) == inside


def test_larger_k_gives_larger_manifolds(rng):
    real, fake = rng.standard_normal((400, 10)), rng.standard_normal((400, 10)) + 0.5
    results = [precision_recall(real, fake, k) for k in (1, 3, 10)]
    for (p0, r0), (p1, r1) in itertools.pairwise(results):
        assert p0 <= p1 and r0 <= r1
    assert results[-1][0] > results[0][0]


def test_errors(rng):
    with pytest.raises(ValueError, match="same F"):
        precision_recall(rng.standard_normal((10, 3)), rng.standard_normal((10, 4)))
    with pytest.raises(ValueError, match="k must lie"):
        precision_recall(rng.standard_normal((3, 3)), rng.standard_normal((10, 3)), k=3)
