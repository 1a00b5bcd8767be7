"""Precision and recall of generated samples with k-nearest-neighbour manifolds (Kynkaanniemi et al., 2019).

FID folds quality and variety into one number. These two separate them: precision is the fraction of generated
samples that look like real ones (fall inside the real data's manifold), recall the fraction of real samples that
the generator covers (fall inside the generated samples' manifold). A manifold is estimated as the union of
balls, one per sample, each reaching to that sample's k-th nearest neighbour in its own set.
"""

from __future__ import annotations

import numpy

_BLOCK = 1024  # rows of the distance matrix computed at once: 1024 x 10,000 float64 is 80 MB


def _squared_distances(a: numpy.ndarray, b: numpy.ndarray, b_norms: numpy.ndarray) -> numpy.ndarray:
    """||a_i - b_j||^2 for all pairs, as ||a||^2 + ||b||^2 - 2 a.b, clipped at 0 (rounding can go below)."""
    d = (a * a).sum(axis=1)[:, None] + b_norms[None, :] - 2.0 * (a @ b.T)
    return numpy.maximum(d, 0.0, out=d)


def knn_radii(feats: numpy.ndarray, k: int = 3) -> numpy.ndarray:
    """The squared distance from each row of feats to its k-th nearest other row, block by block."""
    feats = numpy.asarray(feats, dtype=numpy.float64)
    if not 1 <= k < len(feats):
        raise ValueError(f"knn_radii: k must lie in [1, {len(feats) - 1}] for {len(feats)} samples, got {k}")
    norms = (feats * feats).sum(axis=1)
    radii = numpy.empty(len(feats))
    for start in range(0, len(feats), _BLOCK):
        d = _squared_distances(feats[start:start + _BLOCK], feats, norms)
        # the smallest entry of each row is the sample itself (0); the (k+1)-th smallest is its k-th neighbour
        radii[start:start + _BLOCK] = numpy.partition(d, k, axis=1)[:, k]
    return radii


def manifold_fraction(manifold: numpy.ndarray, radii: numpy.ndarray, queries: numpy.ndarray) -> float:
    """The fraction of query rows within the ball of some manifold row: ||q - m_j||^2 <= radii_j for some j."""
    manifold = numpy.asarray(manifold, dtype=numpy.float64)
    queries = numpy.asarray(queries, dtype=numpy.float64)
    norms = (manifold * manifold).sum(axis=1)
    inside = 0
    for start in range(0, len(queries), _BLOCK):
        d = _squared_distances(queries[start:start + _BLOCK], manifold, norms)
        inside += int(numpy.count_nonzero((d <= radii[None, :]).any(axis=1)))
    return inside / len(queries)


def precision_recall(real_feats: numpy.ndarray, fake_feats: numpy.ndarray, k: int = 3) -> tuple[float, float]:
    """(precision, recall) of fake samples against real ones, both given as features (N, F).

    precision = the fraction of fake samples f with ||f - r|| <= NN_k(r) for some real r, where NN_k(r) is the
    distance from r to its k-th nearest real neighbour; recall = the fraction of real samples inside the fake
    samples' manifold, built the same way. Both lie in [0, 1]: identical sets give (1, 1), far-apart sets (0, 0),
    a generator that reproduces half of the data's clusters (1, about 0.5). Distances are computed in blocks of
    rows, so 10,000 x 10,000 samples need a few hundred MB at most.
    """
    real = numpy.asarray(real_feats, dtype=numpy.float64)
    fake = numpy.asarray(fake_feats, dtype=numpy.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"precision_recall: expected features (N, F) with the same F, got shapes {real.shape} and "
                         f"{fake.shape}")
    precision = manifold_fraction(real, knn_radii(real, k), fake)
    recall = manifold_fraction(fake, knn_radii(fake, k), real)
    return precision, recall


__all__ = ["knn_radii", "manifold_fraction", "precision_recall"]
