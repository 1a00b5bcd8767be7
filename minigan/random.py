"""The random generators behind randn, rand, dropout and nn.init: one per device, seeded by manual_seed."""

from __future__ import annotations

import numpy

from minigan import backend

_seed: int | None = None
_generators: dict = {}


def manual_seed(seed: int) -> None:
    """Seed every device's generator, so that a run draws the same numbers again."""
    global _seed
    _seed = int(seed)
    _generators.clear()


def initial_seed() -> int | None:
    return _seed


def generator(device: str = "cpu"):
    """The generator of a device: numpy.random.Generator (PCG64) on the CPU, cupy's Generator on the GPU."""
    device = backend.check_device(device)
    if device not in _generators:
        seed = _seed if device == "cpu" else (None if _seed is None else _seed + 1)
        rng = backend.xp_of(device).random
        _generators[device] = rng.default_rng(seed)
    return _generators[device]


def standard_normal(shape: tuple, dtype, device: str):
    return generator(device).standard_normal(shape, dtype=numpy.dtype(dtype))


def uniform(shape: tuple, dtype, device: str):
    return generator(device).random(shape, dtype=numpy.dtype(dtype))


def get_rng_state() -> dict:
    """The CPU generator's state (a JSON-serialisable dict), to store in a checkpoint."""
    return generator("cpu").bit_generator.state


def set_rng_state(new_state: dict) -> None:
    """Restore a state from get_rng_state: the following draws repeat those made after it was taken."""
    gen = numpy.random.Generator(numpy.random.PCG64())
    gen.bit_generator.state = new_state
    _generators["cpu"] = gen
