"""How much memory a training run needs, measured before the run allocates it, and how much the machine has.

A run that cannot fit should stop with one line before it starts, not with a MemoryError (or the system's
out-of-memory killer) minutes later. The estimate is measured, not modelled: one discriminator and one generator
pass with gradients at a small batch, traced by tracemalloc (NumPy reports its arrays to it), scaled to the
run's batch, plus the weights with their gradients and two optimizer moments.
"""

from __future__ import annotations

import os

import numpy

from minigan import random
from minigan.models.base import GAN

PROBE_BATCH = 4


def available_bytes() -> int | None:
    """The memory the system can give this process now (Linux's MemAvailable), or None where it cannot tell."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def step_bytes(gan: GAN, x: numpy.ndarray, y: numpy.ndarray | None, batch: int) -> int:
    """Bytes that one training step of gan at `batch` needs, measured at a batch of PROBE_BATCH samples of x (CPU),
    after one untraced step (the first step compiles kernels and fills caches, once per process).

    The probe leaves no trace: minigan's random state, the networks' buffers (batch-norm statistics) and their
    gradients are as they were before it."""
    import tracemalloc

    from minigan.tensor import tensor

    def one_step(n: int) -> None:
        real, labels = tensor(x[:n]), None if y is None else tensor(y[:n])
        latent = gan.sample_latent(n)
        fake = gan.generate(latent)
        gan.d_loss(real, labels, fake.detach(), latent)[0].backward()
        gan.g_loss(real, labels, fake, latent)[0].backward()
        for m in networks:
            m.zero_grad(set_to_none=True)

    n = min(PROBE_BATCH, len(x))
    rng, networks = random.get_rng_state(), gan.networks().values()
    buffers = [(b, b.data.copy()) for m in networks for b in m.buffers()]
    weights = sum(p.data.nbytes for m in networks for p in m.parameters())
    try:
        one_step(min(2, n))  # untraced: what the first step compiles or caches once is not per sample
        tracemalloc.start()
        one_step(n)
        probe = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        random.set_rng_state(rng)
        for b, data in buffers:
            b.data[...] = data
        for m in networks:
            m.zero_grad(set_to_none=True)
    activations = max(probe - weights, 0) / n  # per sample; the probe's gradients are the size of the weights
    return int(activations * batch) + 4 * weights  # and the weights, their gradients and two optimizer moments
