"""Training curves: the per-step log of a run drawn as stacked panels that share the step axis."""

from __future__ import annotations

import json
import numbers
import os
from typing import NamedTuple

import numpy as np

from minigan.viz.common import new_figure, write_figure


class Panel(NamedTuple):
    """One panel of the figure, drawn when any of its keys is in the log."""

    title: str
    ylabel: str
    keys: tuple  # ((record key, legend label), ...)
    log: bool = False  # a log y axis, for quantities that span orders of magnitude
    equilibrium: bool = False  # mark 1/2, the output of an optimal D once G matches the data


PANELS = (
    Panel("Losses", "loss", (("loss_d", "discriminator"), ("loss_g", "generator"))),
    Panel("Discriminator's mean output", "D output", (("d_real", "on real batches"), ("d_fake", "on generated batches")),
          equilibrium=True),
    Panel("Gradient norms", "norm", (("grad_norm_d", "discriminator"), ("grad_norm_g", "generator")), log=True),
)


def plot_losses(records: list[dict] | str | os.PathLike, path: str | os.PathLike,
                smooth: int | None = None) -> None:
    """Draw a run's training curves into one PNG at path, written atomically.

    records: a list of dicts, one per step, with "step" and any of "loss_d", "loss_g", "d_real", "d_fake",
    "grad_norm_d", "grad_norm_g" (other keys are ignored), or the path of a JSON-lines file of such dicts.
    Panels, top to bottom: the two losses; D's mean output on real and on generated batches (with the 1/2
    that an optimal D reaches at equilibrium, when the values are probabilities); the gradient norms on a
    log scale. A panel whose keys appear in no record is left out. Each series is drawn raw (light) and as a
    trailing moving average over `smooth` steps (bold), since per-step GAN losses are too noisy to read;
    smooth=None picks about a fiftieth of the run, smooth=1 draws the raw values only. When a step appears
    more than once (two runs appended to one log) its last record is used.
    """
    if isinstance(records, (str, os.PathLike)):
        by_step = _index_by_step(read_records(records), repr(os.fspath(records)))
    else:
        by_step = _index_by_step(list(records), "the records list")
    order = sorted(by_step)
    steps = np.array(order, dtype=np.float64)
    rows = [by_step[step] for step in order]
    if smooth is None:
        window = max(1, len(rows) // 50)
    elif isinstance(smooth, bool) or not isinstance(smooth, numbers.Integral) or smooth < 1:
        raise ValueError(f"plot_losses: smooth must be a positive integer (steps to average) or None, "
                         f"got {smooth!r}")
    else:
        window = int(smooth)

    panels = []
    for panel in PANELS:
        series = [(label, *_series(rows, steps, key)) for key, label in panel.keys]
        series = [s for s in series if len(s[1])]
        if series:
            panels.append((panel, series))
    if not panels:
        known = ", ".join(key for panel in PANELS for key, _ in panel.keys)
        raise ValueError(f"plot_losses: the records hold none of the plotted keys ({known})")

    figure = new_figure(8.0, 0.6 + 2.4 * len(panels))
    axes = figure.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (panel, series) in zip(axes, panels):
        _draw_panel(ax, panel, series, window)
    axes[-1].set_xlabel("step")
    if window > 1:
        figure.suptitle(f"Training curves (light: every step; bold: mean of the last {window} steps)")
    else:
        figure.suptitle("Training curves")
    write_figure(figure, path)


def read_records(path: str | os.PathLike) -> list[dict]:
    """The records of a JSON-lines log, one per non-empty line.

    An unfinished last line (no newline at its end, not valid JSON) is skipped: the log of a run that is
    still training may be read while a line is being written.
    """
    path = os.fspath(path)
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines(keepends=True)
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as e:
            if number == len(lines) and not line.endswith("\n"):
                break
            raise ValueError(f"plot_losses: line {number} of {path!r} is not valid JSON ({e.msg})") from None
    return records


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """The mean of each value and the window - 1 before it (fewer at the start), ignoring NaN and inf;
    NaN where the window holds no finite value."""
    finite = np.isfinite(values)
    sums = np.concatenate([[0.0], np.cumsum(np.where(finite, values, 0.0))])
    counts = np.concatenate([[0], np.cumsum(finite)])
    end = np.arange(1, len(values) + 1)
    start = np.maximum(end - window, 0)
    n = counts[end] - counts[start]
    return np.where(n > 0, (sums[end] - sums[start]) / np.maximum(n, 1), np.nan)


def _index_by_step(records: list, where: str) -> dict:
    """{step: record}, checking that every record is a dict with a numeric step (`where` names the source)."""
    if not records:
        raise ValueError(f"plot_losses: no records to plot ({where} is empty)")
    by_step = {}
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise TypeError(f"plot_losses: record {i} of {where} is a {type(record).__name__}, expected a dict")
        if "step" not in record:
            raise ValueError(f"plot_losses: record {i} of {where} has no 'step' key (its keys: "
                             f"{sorted(map(str, record))}); every record needs the step it was logged at")
        step = record["step"]
        if isinstance(step, bool) or not isinstance(step, numbers.Real):
            raise TypeError(f"plot_losses: record {i} of {where} has step {step!r}, expected a number")
        by_step[step] = record
    return by_step


def _series(rows: list[dict], steps: np.ndarray, key: str) -> tuple[np.ndarray, np.ndarray]:
    """The steps at which `key` holds a number, and those numbers (None and non-numbers are skipped)."""
    keep = [i for i, row in enumerate(rows)
            if isinstance(row.get(key), numbers.Real) and not isinstance(row.get(key), bool)]
    return steps[keep], np.array([float(rows[i][key]) for i in keep], dtype=np.float64)


def _draw_panel(ax, panel: Panel, series: list, window: int) -> None:
    """Each series raw (light) and smoothed (bold), with a legend when the panel holds more than one line."""
    if panel.log and any((values > 0).any() for _, _, values in series):
        ax.set_yscale("log")
        series = [(label, x, np.where(values > 0, values, np.nan)) for label, x, values in series]
    for colour, (label, x, values) in enumerate(series):
        colour = f"C{colour}"
        if window > 1:
            ax.plot(x, values, color=colour, alpha=0.25, linewidth=0.8)
            ax.plot(x, moving_average(values, window), color=colour, linewidth=1.8, label=label)
        else:
            ax.plot(x, values, color=colour, linewidth=1.2, label=label)
    if panel.equilibrium:
        finite = np.concatenate([values[np.isfinite(values)] for _, _, values in series])
        if finite.size and finite.min() >= 0.0 and finite.max() <= 1.0:  # probabilities, not raw critic scores
            ax.axhline(0.5, color="0.4", linestyle=":", linewidth=1.0, label="1/2 (D cannot tell)")
            ax.set_ylim(-0.02, 1.02)
    title = panel.title
    if len(ax.get_legend_handles_labels()[0]) > 1:
        ax.legend(loc="best", framealpha=0.85)
    else:
        title = f"{title}: {series[0][0]}"
    ax.set_title(title, loc="left")
    ax.set_ylabel(panel.ylabel)
    ax.grid(True, alpha=0.25, linewidth=0.5)
