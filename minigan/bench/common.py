"""What the benchmarks share: thread control, timing, a description of the machine, tables."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from minigan.files import write_json, write_text


def require_torch():
    """PyTorch, or an ImportError saying how to install it."""
    try:
        import torch
    except ImportError:
        raise ImportError("the benchmarks compare against PyTorch: pip install 'minigan[bench]'") from None
    return torch


def set_threads(threads: int) -> None:
    """Give minigan and PyTorch the same number of threads (minigan's CPU kernels, BLAS products included, run
    on Numba's thread count: kernels/threads.py)."""
    import numba

    torch = require_torch()
    torch.set_num_threads(threads)
    numba.set_num_threads(threads)


def timeit(fn: Callable[[], object], repeat: int, warmup: int = 2, sync: Callable[[], object] = lambda: None) -> dict:
    """Median and spread of fn's wall time in seconds, after warm-up calls."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    times.sort()
    return {"median": statistics.median(times), "min": times[0], "max": times[-1], "runs": repeat}


def machine(threads: int, device: str = "cpu") -> dict:
    """The machine and library versions a table was measured with."""
    import numba
    import numpy

    torch = require_torch()
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "threads": threads, "python": platform.python_version(),
            "numpy": numpy.__version__, "numba": numba.__version__, "torch": torch.__version__, "device": device}
    if device == "cuda":
        import cupy

        info["gpu"] = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
        info["cupy"] = cupy.__version__
    return info


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_results(out: str | Path, stem: str, payload: dict, table: str) -> tuple[Path, Path]:
    """Write <stem>.json and <stem>.md under out (made if missing), atomically; returns their paths."""
    path = Path(out)
    path.mkdir(parents=True, exist_ok=True)
    write_json(path / f"{stem}.json", payload)
    write_text(path / f"{stem}.md", table + "\n")
    return path / f"{stem}.json", path / f"{stem}.md"
