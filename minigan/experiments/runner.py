"""Running one experiment and recording its numbers with the command line that produced them."""

from __future__ import annotations

import importlib
import platform
import time
from pathlib import Path

from minigan.experiments import EXPERIMENTS
from minigan.files import write_json


def run(name: str, out: str | Path = "docs/experiments", quick: bool = False, seed: int = 0,
        data_dir: str | None = None, command: str | None = None) -> dict:
    """Run the experiment `name`, write <out>/<name>.png and <out>/<name>.json, and return its record.

    data_dir: a folder with MNIST's IDX files, for the experiments on digits; without it they use the built-in
    rendered digits. command: the command line to record (default: the `minigan experiment` one for these
    arguments)."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}: expected one of {', '.join(EXPERIMENTS)}")
    experiment = EXPERIMENTS[name]
    if data_dir is not None and not experiment.digits:
        raise ValueError(f"experiment {name!r} uses no data files: drop --data-dir")
    module = importlib.import_module(f"minigan.experiments.{experiment.module}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    results = module.run(out, quick=quick, seed=seed, **({"data_dir": data_dir} if experiment.digits else {}))
    if command is None:
        argv = [name, "--out", str(out)] + (["--quick"] if quick else []) + ["--seed", str(seed)]
        argv += ["--data-dir", str(data_dir)] if data_dir is not None else []
        command = "minigan experiment " + " ".join(argv)
    record = {"experiment": name, "command": command, "quick": quick, "seed": seed,
              "seconds": round(time.perf_counter() - start, 1), "python": platform.python_version(),
              "results": results}
    write_json(out / f"{name}.json", record)
    return record
