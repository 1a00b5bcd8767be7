"""The command that runs one experiment and records its numbers with the command line that produced them."""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import platform
import sys
import time
from pathlib import Path

from minigan.experiments import EXPERIMENTS
from minigan.files import write_atomically


def write_json(path: str | Path, record: dict) -> None:
    """Write a JSON record atomically (indented, keys in the order given)."""
    text = json.dumps(record, indent=2, allow_nan=True) + "\n"
    write_atomically(path, lambda f: f.write(text.encode()))


def run(name: str, out: str | Path = "docs/experiments", quick: bool = False, seed: int = 0,
        data_dir: str | None = None, argv: list[str] | None = None) -> dict:
    """Run the experiment `name`, write <out>/<name>.png and <out>/<name>.json, and return its record.

    data_dir: a folder with MNIST's IDX files, for the experiments that train on digits (those whose run() takes
    data_dir); without it they use the built-in rendered digits."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}: expected one of {', '.join(EXPERIMENTS)}")
    module = importlib.import_module(f"minigan.experiments.{EXPERIMENTS[name][0]}")
    takes_data = "data_dir" in inspect.signature(module.run).parameters
    if data_dir is not None and not takes_data:
        raise ValueError(f"experiment {name!r} uses no data files: drop --data-dir")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    results = module.run(out, quick=quick, seed=seed, **({"data_dir": data_dir} if takes_data else {}))
    if argv is None:
        argv = [name, "--out", str(out)] + (["--quick"] if quick else []) + ["--seed", str(seed)]
        argv += ["--data-dir", str(data_dir)] if data_dir is not None else []
    command = "minigan experiment " + " ".join(argv)
    record = {"experiment": name, "command": command, "quick": quick, "seed": seed,
              "seconds": round(time.perf_counter() - start, 1), "python": platform.python_version(),
              "results": results}
    write_json(out / f"{name}.json", record)
    return record


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="minigan experiment", description=__doc__.split("\n")[0] + "\n\n" + "\n".join(
        f"  {name:14s} {line}" for name, (_, line) in EXPERIMENTS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", metavar="NAME", choices=list(EXPERIMENTS), help="which experiment: "
                        + ", ".join(EXPERIMENTS))
    parser.add_argument("--out", default="docs/experiments", help="folder for the PNG and JSON (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="a small version of the protocol (seconds, not minutes)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--data-dir", help="folder with MNIST's IDX files, for smoothing and vs-pytorch (default: "
                        "the built-in rendered digits)")
    args = parser.parse_args(argv)
    try:
        record = run(args.name, args.out, args.quick, args.seed, args.data_dir, argv)
    except (ValueError, FileNotFoundError) as error:
        parser.exit(2, f"minigan experiment: error: {error}\n")
    print(json.dumps(record["results"], indent=2))
    print(f"wrote {Path(args.out) / (args.name + '.png')} and {Path(args.out) / (args.name + '.json')}")
