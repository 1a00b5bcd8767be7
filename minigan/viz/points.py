"""Pictures of 2-D GANs: generated points over the real data, and the discriminator's view of the plane."""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import numpy as np

from minigan.autograd import no_grad
from minigan.tensor import Tensor
from minigan.viz.common import as_numpy, check_numeric, new_figure, write_figure

RESOLUTION = 160  # the discriminator is evaluated on a RESOLUTION x RESOLUTION grid of points
MARGIN = 0.1  # the default extent reaches this fraction of the data's span beyond it on every side


def plot_points(samples: np.ndarray | Tensor, path: str | os.PathLike, real: np.ndarray | Tensor | None = None,
                modes: np.ndarray | Tensor | None = None,
                discriminator: Callable[[np.ndarray], np.ndarray | Tensor] | None = None,
                extent: tuple[float, float, float, float] | None = None, title: str | None = None,
                critic: bool = False) -> None:
    """Draw generated 2-D points into a PNG at path, written atomically.

    samples: (N, 2) generated points (an array or a Tensor), drawn over `real` (M, 2) data points (lighter)
    and/or `modes` (K, 2) mixture centres (crosses), so that mode collapse and missed modes are visible.
    discriminator: a callable from a (K, 2) float32 array to K logits (an array or a Tensor, shape (K,) or
    (K, 1)); when given, the background is sigmoid(D) over the plotted area, a filled contour with a colour
    bar and a dashed line where it crosses 1/2, as in Figure 1 of Goodfellow et al. (2014). It is called
    under no_grad, once, on a regular grid; a model with batch norm should be in eval mode. critic: D's output is
    a score, not a logit (Wasserstein, hinge and least-squares objectives): the background shows the score itself,
    since its sigmoid means nothing there.
    extent: (xmin, xmax, ymin, ymax); by default every point drawn, plus a margin.
    """
    fake = _points(samples, "samples")
    real = None if real is None else _points(real, "real")
    modes = None if modes is None else _points(modes, "modes")
    extent = _data_extent([p for p in (fake, real, modes) if p is not None]) if extent is None \
        else _check_extent(extent)

    figure = new_figure(6.4 if discriminator is not None else 5.6, 5.2)
    ax = figure.add_subplot()
    if discriminator is not None:
        _draw_surface(figure, ax, discriminator, extent, critic)
    if real is not None:
        ax.scatter(real[:, 0], real[:, 1], s=5, color="0.35", alpha=0.3, linewidths=0, label=f"real ({len(real)})")
    ax.scatter(fake[:, 0], fake[:, 1], s=7, color="tab:orange", alpha=0.8, linewidths=0,
               label=f"generated ({len(fake)})")
    if modes is not None:
        ax.scatter(modes[:, 0], modes[:, 1], s=60, marker="x", color="black", linewidths=1.5, label="mode centres")
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_aspect("equal")
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    if title is None:
        title = "Generated samples" + (" and D's decision surface" if discriminator is not None else "")
    ax.set_title(title)
    if len(ax.get_legend_handles_labels()[0]) > 1:  # below the axes, where it hides no point
        legend = ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=3, frameon=False)
        for handle in legend.legend_handles:
            handle.set_sizes([30.0])  # legend markers large enough to tell the colours apart
    write_figure(figure, path)


def _draw_surface(figure, ax, discriminator, extent: tuple, critic: bool) -> None:
    """sigmoid(D) (a critic: D itself) on a grid over extent as a filled contour, with a colour bar; for sigmoid(D),
    its 1/2 level dashed."""
    xs = np.linspace(extent[0], extent[1], RESOLUTION)
    ys = np.linspace(extent[2], extent[3], RESOLUTION)
    gx, gy = np.meshgrid(xs, ys)
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
    with no_grad():
        logits = as_numpy(discriminator(grid))
    if logits.size != len(grid):
        raise ValueError(f"plot_points: the discriminator returned shape {logits.shape} for {len(grid)} points; "
                         f"expected one logit per point, shape ({len(grid)},) or ({len(grid)}, 1)")
    check_numeric(logits, "plot_points", "the discriminator's output")
    logits = logits.reshape(gx.shape).astype(np.float64)
    if critic:
        scores = np.ma.masked_invalid(logits)
        low, high = (float(scores.min()), float(scores.max())) if scores.count() else (0.0, 1.0)
        levels = np.linspace(low, high if high > low else low + 1.0, 11)
        filled = ax.contourf(gx, gy, scores, levels=levels, cmap="RdBu", alpha=0.6)
        figure.colorbar(filled, ax=ax, label="D(x): the critic's score (higher: more real)", shrink=0.85)
        return
    probability = np.ma.masked_invalid(0.5 * (1.0 + np.tanh(0.5 * logits)))  # sigmoid, without overflow
    filled = ax.contourf(gx, gy, probability, levels=np.linspace(0.0, 1.0, 11), cmap="RdBu", alpha=0.6)
    if probability.count() and probability.min() < 0.5 < probability.max():
        ax.contour(gx, gy, probability, levels=[0.5], colors="0.2", linewidths=1.0, linestyles="--")
    figure.colorbar(filled, ax=ax, label="sigmoid(D(x)): D's probability that x is real", shrink=0.85)


def _points(x, name: str) -> np.ndarray:
    """x as an (N, 2) float64 array with N > 0, or an error naming the argument and its shape."""
    array = as_numpy(x)
    check_numeric(array, "plot_points", name)
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"plot_points: {name} must have shape (N, 2), got shape {array.shape}")
    if len(array) == 0:
        raise ValueError(f"plot_points: {name} is empty (shape {array.shape})")
    return array.astype(np.float64)


def _data_extent(arrays: list[np.ndarray]) -> tuple[float, float, float, float]:
    """The bounding box of the finite points, widened by MARGIN times its larger side on every side."""
    points = np.concatenate(arrays)
    points = points[np.isfinite(points).all(axis=1)]
    if len(points) == 0:
        raise ValueError("plot_points: no finite point to draw (every coordinate is NaN or infinite); "
                         "pass extent to draw the discriminator alone")
    low, high = points.min(axis=0), points.max(axis=0)
    span = float((high - low).max())
    margin = MARGIN * span if span > 0 else 1.0
    return low[0] - margin, high[0] + margin, low[1] - margin, high[1] + margin


def _check_extent(extent) -> tuple[float, float, float, float]:
    try:
        xmin, xmax, ymin, ymax = (float(v) for v in extent)
    except (TypeError, ValueError):
        raise ValueError(f"plot_points: extent must be four numbers (xmin, xmax, ymin, ymax), got {extent!r}") \
            from None
    if not all(math.isfinite(v) for v in (xmin, xmax, ymin, ymax)) or xmin >= xmax or ymin >= ymax:
        raise ValueError(f"plot_points: extent must be finite with xmin < xmax and ymin < ymax, got {extent!r}")
    return xmin, xmax, ymin, ymax
