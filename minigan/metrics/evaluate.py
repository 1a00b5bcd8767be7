"""Scores of a generator's samples, by the kind of data: mode coverage on the 2-D mixtures, and FID-LeNet,
classifier score and precision/recall on digit images (what `minigan eval` reports).
"""

from __future__ import annotations

import numpy


def evaluate_mixture(fake: numpy.ndarray, real) -> dict:
    """Mode coverage of 2-D samples against the mixture's modes and their standard deviation."""
    from minigan.metrics.modes import mode_coverage

    return mode_coverage(fake, real.modes, real.sigma).as_dict()


def evaluate_images(fake: numpy.ndarray, real: numpy.ndarray, clf, k: int = 3, progress: bool = False) -> dict:
    """FID-LeNet, classifier score (of the samples and, for reference, of the real images) and precision/recall
    of generated images against real ones, from clf's features and class probabilities."""
    from minigan.metrics.classifier import extract_features, predict_proba
    from minigan.metrics.fid import frechet_distance, score_from_proba
    from minigan.metrics.precision_recall import precision_recall

    fake_feats = extract_features(clf, fake, progress=progress)
    real_feats = extract_features(clf, real, progress=progress)
    precision, recall = precision_recall(real_feats, fake_feats, k)
    return {"fid_lenet": frechet_distance(fake_feats, real_feats),
            "classifier_score": score_from_proba(predict_proba(clf, fake, progress=progress)),
            "classifier_score_real": score_from_proba(predict_proba(clf, real, progress=progress)),
            "precision": precision, "recall": recall}
