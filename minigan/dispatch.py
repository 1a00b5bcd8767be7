"""Which kernel computes an operator: the registry of minigan.kernels, and the switch between the fast kernels and
the references.

The operators are the folders of minigan.kernels (kernels/<op>/ in the repository) and an operator's variants are
the modules of its folder: reference.py (plain array code, the specification, which runs on NumPy and CuPy arrays
alike), cpu.py (Numba) and cuda.py (CUDA C through CuPy). With the fast kernels selected, an array computes with the
variant named after its device, where the operator has one, else with the reference; with the reference kernels
selected, always with the reference.

A Function chooses its variant once, when it runs forward, and hands the choice on to the gradient Functions it
makes: whatever one kernel keeps for the next (convolution columns, in the variant's own layout) is only ever read
by the same variant, even if the selection changed in between.
"""

from __future__ import annotations

import functools
import importlib
import os
from pathlib import Path
from types import ModuleType

from minigan import kernels
from minigan.backend import device_of

KERNELS = ("fast", "reference")
_ROOT = Path(kernels.__file__).parent


def _check_kernels(choice: str) -> str:
    if choice not in KERNELS:
        raise ValueError(f"kernels must be one of {KERNELS}, got {choice!r} (MINIGAN_KERNELS or use_kernels)")
    return choice


_kernels = _check_kernels(os.environ.get("MINIGAN_KERNELS", "fast"))


class use_kernels:
    """Select the kernels: 'fast' (Numba on the CPU, CUDA C on the GPU) or 'reference' (plain NumPy/CuPy, the
    specification).

    Takes effect at once for every operator that runs forward from then on; used in a `with` block, the previous
    choice comes back at its end. The environment variable MINIGAN_KERNELS sets the choice at start-up.
    """

    def __init__(self, choice: str):
        global _kernels
        self.previous, _kernels = _kernels, _check_kernels(choice)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc) -> None:
        global _kernels
        _kernels = self.previous


def kernels_in_use() -> str:
    """'fast' or 'reference': the selection that operators running forward now follow."""
    return _kernels


@functools.cache
def operators() -> tuple[str, ...]:
    """The operators that have kernels: the folders of minigan.kernels."""
    return tuple(sorted(p.parent.name for p in _ROOT.glob("*/__init__.py")))


@functools.cache
def variants(op: str) -> tuple[str, ...]:
    """The variants of an operator, from the modules of its folder ('reference' always among them)."""
    if op not in operators():
        raise ValueError(f"no kernels for operator {op!r}: expected one of {', '.join(operators())}")
    return tuple(sorted(p.stem for p in (_ROOT / op).glob("*.py") if not p.stem.startswith("_")))


def choose(op: str, array) -> str:
    """The variant that computes `op` on `array` under the current selection."""
    device = device_of(array)
    return device if _kernels == "fast" and device in variants(op) else "reference"


def kernel(op: str, variant: str) -> ModuleType:
    """The module of one variant of an operator (minigan.kernels.<op>.<variant>)."""
    if variant not in variants(op):
        raise ValueError(f"{op} has no {variant!r} kernel: its variants are {', '.join(variants(op))}")
    return importlib.import_module(f"minigan.kernels.{op}.{variant}")
