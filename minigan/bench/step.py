"""bench_step: one full GAN training step in minigan and in PyTorch, same model, weights, data and threads.

A step: the discriminator is updated on a real batch and a generated one (non-saturating BCE-with-logits
loss), then the generator through the discriminator; Adam 2e-4, betas (0.5, 0.999). The networks are
minigan.models' own (minigan.bench.models); PyTorch runs their twins (minigan.bench.twin), from the same weights.
Before timing, the two frameworks must give the same losses: over several steps in float64 (where rounding
cannot flip the sign of Adam's first updates, each about lr * sign(gradient)), and on the first step in float32.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy

import minigan as mg
from minigan.bench.common import require_torch
from minigan.bench.models import networks, weights
from minigan.bench.twin import torch_twin


class Framework:
    """The few names a GAN step needs, taken from torch or from minigan (their interfaces agree)."""

    def __init__(self, name: str):
        self.name = name
        if name == "torch":
            torch = require_torch()
            self.F, self.optim, self.tensor = torch.nn.functional, torch.optim, torch.from_numpy
            self.ones_like, self.zeros_like = torch.ones_like, torch.zeros_like
        else:
            self.F, self.optim, self.tensor = mg.nn.functional, mg.optim, mg.tensor
            self.ones_like, self.zeros_like = mg.ones_like, mg.zeros_like


class GANStep:
    """Models, optimizers and fixed data for one framework; call it to run one training step."""

    def __init__(self, fw: Framework, model: str, batch: int, start: dict | None, seed: int = 0,
                 float64: bool = False, **model_options):
        """start: the initial weights (minigan.bench.models.weights), or None for the model's own initialisation
        from seed."""
        self.fw = fw
        g, d, nz, image = networks(model, seed, **model_options)
        for net, name in ((g, "g"), (d, "d")):
            if start is not None:
                net.load_state_dict({k: mg.tensor(v) for k, v in start[name].items()})
            if float64:
                net.to(mg.float64)
        self.g, self.d = (torch_twin(g), torch_twin(d)) if fw.name == "torch" else (g, d)
        adam = {"lr": 2e-4, "betas": (0.5, 0.999)}
        self.opt_g = fw.optim.Adam(self.g.parameters(), **adam)
        self.opt_d = fw.optim.Adam(self.d.parameters(), **adam)
        rng = numpy.random.default_rng(seed)
        dtype = numpy.float64 if float64 else numpy.float32
        self.real = numpy.tanh(rng.standard_normal((batch, *image))).astype(dtype)
        self.noise = rng.standard_normal((batch, nz)).astype(dtype)

    def __call__(self) -> tuple[float, float]:
        return self.step(self.real, self.noise)

    def step(self, real: numpy.ndarray, noise: numpy.ndarray) -> tuple[float, float]:
        """One training step on a real batch and a batch of noise; returns (D's loss, G's loss)."""
        fw, F = self.fw, self.fw.F
        real, z = fw.tensor(real), fw.tensor(noise)
        fake = self.g(z)
        self.opt_d.zero_grad()
        out_real, out_fake = self.d(real), self.d(fake.detach())
        loss_d = (F.binary_cross_entropy_with_logits(out_real, fw.ones_like(out_real))
                  + F.binary_cross_entropy_with_logits(out_fake, fw.zeros_like(out_fake)))
        loss_d.backward()
        self.opt_d.step()
        self.opt_g.zero_grad()
        out = self.d(fake)
        loss_g = F.binary_cross_entropy_with_logits(out, fw.ones_like(out))
        loss_g.backward()
        self.opt_g.step()
        return loss_d.item(), loss_g.item()


class LossesDiffer(AssertionError):
    """minigan and PyTorch, started alike, gave different losses: their timings would not compare the same work."""


def check_losses(model: str, batch: int, steps: int = 5) -> dict:
    """Run both frameworks from the same state; their losses must agree (float64 over `steps` steps to 1e-6,
    float32 on the first step to 1e-4), or the benchmark stops."""
    start = weights(model)
    report = {}
    for float64, n, rtol in ((True, steps, 1e-6), (False, 1, 1e-4)):
        ours, theirs = (GANStep(Framework(name), model, batch, start, float64=float64)
                        for name in ("minigan", "torch"))
        rows = []
        for k in range(n):
            a, b = ours(), theirs()
            rows.append({"step": k, "minigan": a, "torch": b})
            if not numpy.allclose(a, b, rtol=rtol, atol=rtol):
                raise LossesDiffer(f"{model}: losses differ at step {k} ({'float64' if float64 else 'float32'}): "
                                   f"minigan {a}, torch {b}")
        report["float64" if float64 else "float32"] = rows
    return report


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def peak_memory(fw_name: str, model: str, batch: int, steps: int = 3) -> float | None:
    """Peak resident memory (MB) added by running steps of one framework, measured in a fresh process."""
    code = (f"from minigan.bench.step import _measure_memory; print(_measure_memory({fw_name!r}, {model!r}, "
            f"{batch}, {steps}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    value = out.strip().splitlines()[-1]
    return None if value == "None" else float(value)


def _measure_memory(fw_name: str, model: str, batch: int, steps: int) -> float | None:
    step = GANStep(Framework(fw_name), model, batch, weights(model))
    step()  # compile / allocate once, so that the peak is one of a running step
    if not _reset_peak_rss():
        return None
    base = _rss_mb()
    for _ in range(steps):
        step()
    return _peak_rss_mb() - base


def first_step_seconds(model: str, batch: int, cache_dir: str) -> float:
    """Seconds from a fresh interpreter to the end of minigan's first training step (imports included)."""
    code = ("import time; t = time.perf_counter(); "
            "from minigan.bench.step import Framework, GANStep; "
            f"GANStep(Framework('minigan'), {model!r}, {batch}, None)(); print(time.perf_counter() - t)")
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    return float(out.stdout.strip().splitlines()[-1])


_LABELS = {  # kernel (module, function) -> what its time is spent on
    ("minigan.kernels.chwn", "_to_chwn"): "layout NCHW -> CHWN (with padding)",
    ("minigan.kernels.chwn", "_from_chwn"): "layout CHWN -> NCHW (with bias)",
    ("minigan.kernels.conv2d.cpu", "_im2col"): "im2col",
    ("minigan.kernels.conv2d.cpu", "_col2im"): "col2im",
    ("minigan.kernels.batch_norm.cpu", ""): "batch norm (+ fused activation)",
    ("minigan.kernels.leaky_relu.cpu", ""): "leaky ReLU",
    ("minigan.kernels.adam.cpu", ""): "Adam update",
}
_GEMM = "matrix products (BLAS)"
_REST = "everything else (Python, autograd, small NumPy ops)"


def _label(kernel) -> str:
    module, name = kernel.py_func.__module__, kernel.py_func.__name__
    return _LABELS.get((module, name)) or _LABELS.get((module, ""), f"{module}.{name}")


def profile_step(model: str, batch: int, steps: int = 5) -> list[tuple[str, float]]:
    """Milliseconds per minigan training step by what they are spent on: the wall time of every call that the CPU
    kernels make through kernels.threads (a Numba kernel or a matrix product), the rest by difference."""
    import time

    from minigan.kernels import threads

    step = GANStep(Framework("minigan"), model, batch, weights(model))
    for _ in range(2):
        step()
    spent = dict.fromkeys([*_LABELS.values(), _GEMM], 0.0)
    run, matmul = threads.run, threads.matmul

    def timed_run(kernel, *args):
        start = time.perf_counter()
        run(kernel, *args)
        spent[_label(kernel)] = spent.get(_label(kernel), 0.0) + time.perf_counter() - start

    def timed_matmul(a, b):
        start = time.perf_counter()
        out = matmul(a, b)
        spent[_GEMM] += time.perf_counter() - start
        return out

    threads.run, threads.matmul = timed_run, timed_matmul
    try:
        start = time.perf_counter()
        for _ in range(steps):
            step()
        total = time.perf_counter() - start
    finally:
        threads.run, threads.matmul = run, matmul
    rows = [(label, 1e3 * t / steps) for label, t in spent.items()]
    rows.append((_REST, 1e3 * (total - sum(spent.values())) / steps))
    return [*rows, ("total", 1e3 * total / steps)]
