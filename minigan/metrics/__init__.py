"""Scores of generated samples, usable from Python without any command line: mode coverage on Gaussian mixtures
(modes), a LeNet digit classifier (classifier), FID-LeNet and the classifier score (fid), k-NN precision and recall
(precision_recall), and the scores by kind of data that `minigan eval` reports (evaluate)."""

from minigan.metrics.modes import ModeCoverage, mean_and_stderr, mode_coverage

__all__ = ["ModeCoverage", "mean_and_stderr", "mode_coverage"]
