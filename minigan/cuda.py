"""torch.cuda's question under its name: is there a GPU for device 'cuda'?"""

from __future__ import annotations

from minigan import backend


def is_available() -> bool:
    """True when CuPy is installed and sees at least one GPU, so that device 'cuda' can be used."""
    return backend.cuda_available()


__all__ = ["is_available"]
