"""Mode coverage of a generator on a Gaussian mixture with known modes: the protocol of VEEGAN (Srivastava et
al. 2017) and PacGAN (Lin et al. 2018) for the 2-D ring and grid.

Each generated sample is assigned to its nearest mode centre (Euclidean distance). It is *high-quality* when it
lies within `threshold` (3) standard deviations of that centre: ||x - mu_k|| < 3 sigma. A mode is *covered*
when at least one high-quality sample is assigned to it. The *reverse KL divergence* compares the histogram of
the high-quality samples over the modes, q_k = n_k / sum_j n_j with n_k the high-quality samples assigned to
mode k, with the uniform distribution over the K modes of the data: KL(q || u) = sum_k q_k log(K q_k), where
0 log 0 = 0. It is 0 when the high-quality samples spread evenly over all modes, log(K / c) when they spread
evenly over c of them, and log K when they all sit on one.

A collapsed generator covers few modes; one that has not learnt the modes' width has few high-quality samples;
one that covers every mode but favours some has a large reverse KL. Reading the three together tells these
failures apart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy

from minigan.tensor import Tensor


@dataclass(frozen=True)
class ModeCoverage:
    """What mode_coverage measures on one set of samples.

    modes_covered: modes with at least one high-quality sample (0 ... num_modes).
    high_quality: the fraction of all samples that are high-quality (0 ... 1).
    reverse_kl: KL(q || uniform) of the high-quality samples' histogram q over the modes, in nats; NaN when
        no sample is high-quality (q is then undefined).
    counts: the number of high-quality samples assigned to each mode, in the order of the modes given.
    """

    modes_covered: int
    num_modes: int
    high_quality: float
    reverse_kl: float
    counts: tuple[int, ...]

    def as_dict(self) -> dict:
        """The fields as plain Python values (counts as a list), ready for JSON."""
        record = asdict(self)
        record["counts"] = list(self.counts)
        return record


def _as_array(x, name: str) -> numpy.ndarray:
    array = x.numpy() if isinstance(x, Tensor) else numpy.asarray(x)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"mode_coverage: {name} must hold numbers, got an array of dtype {array.dtype}")
    return array.astype(numpy.float64)


def mode_coverage(samples: numpy.ndarray | Tensor, modes: numpy.ndarray | Tensor, sigma: float,
                  threshold: float = 3.0) -> ModeCoverage:
    """Modes covered, fraction of high-quality samples and reverse KL of generated samples (see the module).

    samples: (N, D) generated points (a NumPy array or a Tensor), all finite; modes: (K, D) mode centres;
    sigma: the standard deviation of every (isotropic) mode; threshold: how many standard deviations from
    its nearest centre a high-quality sample may lie (3, as PacGAN). The histogram behind reverse_kl counts
    the high-quality samples only, each at its nearest mode, as PacGAN does.
    Raises ValueError for shapes that do not match, empty or non-finite inputs, and sigma or threshold that
    is not a positive finite number.
    """
    x, mu = _as_array(samples, "samples"), _as_array(modes, "modes")
    if mu.ndim != 2 or mu.shape[0] < 1 or mu.shape[1] < 1:
        raise ValueError(f"mode_coverage: modes must have shape (K, D) with K >= 1, got shape {mu.shape}")
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] != mu.shape[1]:
        raise ValueError(f"mode_coverage: samples must have shape (N, {mu.shape[1]}) with N >= 1 to match modes "
                         f"{mu.shape}, got shape {x.shape}")
    if not numpy.isfinite(x).all():
        bad = int((~numpy.isfinite(x).all(axis=1)).sum())
        raise ValueError(f"mode_coverage: {bad} of {len(x)} samples are NaN or infinite")
    if not numpy.isfinite(mu).all():
        raise ValueError("mode_coverage: the mode centres must be finite")
    for name, value in (("sigma", sigma), ("threshold", threshold)):
        if isinstance(value, bool) or not isinstance(value, (int, float, numpy.number)) \
                or not (math.isfinite(value) and value > 0):
            raise ValueError(f"mode_coverage: {name} must be a positive finite number, got {value!r}")

    distances = numpy.sqrt(((x[:, None, :] - mu[None, :, :]) ** 2).sum(axis=2))  # (N, K)
    nearest = distances.argmin(axis=1)
    good = distances[numpy.arange(len(x)), nearest] < threshold * sigma
    counts = numpy.bincount(nearest[good], minlength=len(mu))
    total = int(counts.sum())
    if total == 0:
        reverse_kl = math.nan
    else:
        q = counts[counts > 0] / total  # the terms with q_k = 0 are 0
        reverse_kl = float(max((q * numpy.log(q * len(mu))).sum(), 0.0))  # max: no -1e-17 from rounding
    return ModeCoverage(modes_covered=int((counts > 0).sum()), num_modes=len(mu), high_quality=total / len(x),
                        reverse_kl=reverse_kl, counts=tuple(int(c) for c in counts))


def mean_and_stderr(values: Sequence[float]) -> dict:
    """The mean of a metric over independent trials and its standard error s / sqrt(n), where s is the sample
    standard deviation (n - 1 in the denominator): the uncertainty of the mean that a table of mean +- error
    reports. NaN values (a reverse KL without high-quality samples) are left out and `n` says how many values
    were used; the error is NaN when fewer than two are left, the mean when none is.
    Returns {"mean": float, "stderr": float, "n": int}.
    """
    array = numpy.asarray(values, dtype=numpy.float64).ravel()
    array = array[~numpy.isnan(array)]
    n = len(array)
    mean = float(array.mean()) if n else math.nan
    stderr = float(array.std(ddof=1) / math.sqrt(n)) if n >= 2 else math.nan
    return {"mean": mean, "stderr": stderr, "n": n}
