"""What the experiments on digits share: the data, the classifier that scores samples, and scoring itself."""

from __future__ import annotations

import numpy

from minigan.data import Dataset, load
from minigan.metrics.classifier import load_classifier
from minigan.metrics.evaluate import evaluate_images
from minigan.random import manual_seed


def digit_data(data_dir: str | None, quick: bool, size: int = 28) -> tuple[Dataset, object, str]:
    """(training images, the classifier that scores samples, a description): MNIST from data_dir when given,
    else the built-in rendered digits (fewer in the quick version, with a briefly trained classifier)."""
    if data_dir is not None:
        return (load("mnist", data_dir, size=size), load_classifier("mnist", data_dir),
                f"MNIST ({data_dir}), LeNet classifier trained on it")
    n, steps = (2000, 300) if quick else (20000, 3000)
    return (load("digits", n=n, size=size), load_classifier("digits", steps=steps),
            "the built-in rendered digits, LeNet classifier trained on them")


def score(gan, real: numpy.ndarray, clf, n: int, seed: int = 0) -> dict:
    """FID-LeNet, classifier score and precision/recall of n samples of gan's generator against the first n real
    images."""
    manual_seed(seed)
    return evaluate_images(gan.samples(n), real[:n], clf)
