"""Metrics of generated samples: mode coverage on Gaussian mixtures."""

from minigan.metrics.modes import ModeCoverage, mean_and_stderr, mode_coverage  # noqa: F401
