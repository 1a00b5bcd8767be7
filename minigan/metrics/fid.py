"""Sample-quality scores computed from a digit classifier (minigan.metrics.classifier): the Frechet distance between
feature distributions (FID-LeNet), the classifier score (the Inception score's analogue for digits) and the mode
count of stacked MNIST (three digits in three channels: 1,000 modes).
"""

from __future__ import annotations

import os
import warnings

import numpy
import scipy.linalg

from minigan.data import Dataset, load
from minigan.metrics.classifier import DigitClassifier, extract_features, predict_proba
from minigan.nn import Module
from minigan.tensor import Tensor

EPS = 1e-6  # relative ridge added to both covariances when the square root of their product is ill-defined


def _covariance(feats: numpy.ndarray, name: str) -> tuple[numpy.ndarray, numpy.ndarray]:
    feats = numpy.asarray(feats, dtype=numpy.float64)
    if feats.ndim != 2 or len(feats) < 2:
        raise ValueError(f"frechet_distance: {name} must be (N, F) features with N >= 2, got shape {feats.shape}")
    return feats.mean(axis=0), numpy.cov(feats, rowvar=False).reshape(feats.shape[1], feats.shape[1])


def _trace_sqrt_product(s_a: numpy.ndarray, s_b: numpy.ndarray) -> float | None:
    """Tr((S_a S_b)^{1/2}) by scipy.linalg.sqrtm, or None when the root came out non-finite or clearly complex."""
    with warnings.catch_warnings():  # sqrtm warns about singular matrices; the result is checked below instead
        warnings.simplefilter("ignore")
        root = scipy.linalg.sqrtm(s_a @ s_b)
    if not numpy.all(numpy.isfinite(root)):
        return None
    trace = numpy.trace(root)
    # S_a S_b is similar to the PSD matrix S_a^{1/2} S_b S_a^{1/2}: its square root has a real, non-negative
    # trace, and any imaginary part is rounding error unless it is large against the trace
    if abs(trace.imag) > 1e-3 * max(abs(trace.real), 1.0):
        return None
    return float(trace.real)


def frechet_distance(feats_a: numpy.ndarray, feats_b: numpy.ndarray) -> float:
    """The Frechet (2-Wasserstein) distance between Gaussians fitted to two feature sets (N_a, F) and (N_b, F):

        d^2 = ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^{1/2})

    with means mu and covariances S (unbiased). This is FID (Heusel et al. 2017) when the features are a fixed
    network's: 0 for identical distributions, growing with differences in mean and in spread.

    (S_a S_b)^{1/2} comes from scipy.linalg.sqrtm, keeping its real part (rounding leaves tiny imaginary parts).
    Covariances of fewer samples than features are singular and their product's root may fail; then both get
    EPS times their mean variance added on the diagonal (a ridge far below the features' own spread) and the
    root is taken again.
    """
    mu_a, s_a = _covariance(feats_a, "feats_a")
    mu_b, s_b = _covariance(feats_b, "feats_b")
    if mu_a.shape != mu_b.shape:
        raise ValueError(f"frechet_distance: feature sizes differ: {mu_a.shape[0]} and {mu_b.shape[0]}")
    trace_root = _trace_sqrt_product(s_a, s_b)
    if trace_root is None:
        ridge = EPS * max(float(numpy.trace(s_a) + numpy.trace(s_b)) / (2 * len(mu_a)), 1e-12)
        offset = ridge * numpy.eye(len(mu_a))
        s_a, s_b = s_a + offset, s_b + offset
        trace_root = _trace_sqrt_product(s_a, s_b)
        if trace_root is None:
            raise ValueError("frechet_distance: the square root of the covariance product is not finite even with "
                             "a ridge; are the features finite?")
    diff = mu_a - mu_b
    return float(diff @ diff + numpy.trace(s_a) + numpy.trace(s_b) - 2 * trace_root)


def fid_lenet(fake_images: numpy.ndarray | Tensor, real_images: numpy.ndarray | Tensor, clf: DigitClassifier,
              *, progress: bool = False) -> float:
    """FID-LeNet: frechet_distance between clf's penultimate features of the generated and the real images.
    Values depend on the classifier and on the number of samples (use the same n to compare)."""
    fake = extract_features(clf, fake_images, progress=progress)
    real = extract_features(clf, real_images, progress=progress)
    return frechet_distance(fake, real)


def score_from_proba(probs: numpy.ndarray) -> float:
    """exp(E_x KL(p(y|x) || p(y))) for rows p(y|x) of probs (N, K), where p(y) is their mean.

    High when each sample is classified confidently (low entropy of p(y|x)) and the classes are used evenly (high
    entropy of p(y)): K for confident, balanced predictions over K classes, 1 when every sample gets the same
    distribution. Terms with p(y|x) = 0 contribute 0 (the limit of p log p).
    """
    probs = numpy.asarray(probs, dtype=numpy.float64)
    if probs.ndim != 2 or len(probs) == 0:
        raise ValueError(f"score_from_proba: expected probabilities (N, K) with N >= 1, got shape {probs.shape}")
    marginal = probs.mean(axis=0, keepdims=True)
    with numpy.errstate(divide="ignore", invalid="ignore"):  # 0 log 0 terms, replaced by 0 just below
        terms = numpy.where(probs > 0, probs * numpy.log(probs / marginal), 0.0)
    return float(numpy.exp(terms.sum(axis=1).mean()))


def classifier_score(images: numpy.ndarray | Tensor, clf: Module, *, progress: bool = False) -> float:
    """The Inception score's analogue for digits (Salimans et al. 2016, with clf in place of Inception):
    exp(E_x KL(p(y|x) || p(y))), from 1 (one class, or no confident class) to 10 (confident and balanced)."""
    return score_from_proba(predict_proba(clf, images, progress=progress))


def stacked_modes(images: numpy.ndarray | Tensor, clf: Module, *, progress: bool = False) -> dict:
    """The modes of stacked MNIST (Metz et al. 2017) that samples (N, 3, H, W) reach.

    Each channel is classified on its own; channel digits (d0, d1, d2) make the mode 100 d0 + 10 d1 + d2 (0..999).
    Returns {'modes': how many of the 1,000 modes have at least one sample, 'kl': KL(q || uniform) of the
    samples' mode frequencies q, in nats (0 for a perfectly even spread, log 1000 = 6.9 for a single mode),
    'counts': the samples per mode (1000,)}.
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"stacked_modes: expected images (N, 3, H, W), got shape {tuple(images.shape)}")
    digits = [predict_proba(clf, images[:, c:c + 1], progress=progress).argmax(axis=1) for c in range(3)]
    mode = 100 * digits[0] + 10 * digits[1] + digits[2]
    counts = numpy.bincount(mode, minlength=1000)
    q = counts / counts.sum()
    seen = q > 0
    kl = float(numpy.sum(q[seen] * numpy.log(q[seen] * 1000)))
    return {"modes": int(seen.sum()), "kl": kl, "counts": counts}


def stacked_digits(dataset: Dataset | str, n: int, seed: int = 0, *,
                   data_dir: str | os.PathLike | None = None) -> tuple[numpy.ndarray, numpy.ndarray]:
    """Stacked-MNIST-style data: n images (n, 3, H, W) whose channels are three digits drawn independently and
    uniformly from a gray data set, and their modes 100 d0 + 10 d1 + d2 (n,).

    dataset: a Dataset with one channel and labels (filter it to some digits to make data that lacks modes), or
    the name of one ('digits', or 'mnist' with data_dir). The seed fixes the draw.
    """
    if isinstance(dataset, str):
        dataset = load(dataset, data_dir)
    if dataset.y is None or dataset.x.ndim != 4 or dataset.x.shape[1] != 1:
        raise ValueError(f"stacked_digits: needs labelled one-channel images, got {dataset.name} with samples of "
                         f"shape {dataset.sample_shape}")
    rng = numpy.random.default_rng(seed)
    index = rng.integers(0, len(dataset), size=(3, n))
    images = numpy.concatenate([dataset.x[i] for i in index], axis=1)
    labels = dataset.y[index]
    return images, 100 * labels[0] + 10 * labels[1] + labels[2]


__all__ = ["EPS", "classifier_score", "fid_lenet", "frechet_distance", "score_from_proba", "stacked_digits",
           "stacked_modes"]
