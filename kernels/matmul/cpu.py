"""matmul on the CPU: 2-D products split over the kernels' own threads (kernels/threads.py), so that BLAS never
spins on a core that a Numba kernel needs; batched products go to NumPy as they are."""

import numpy as np

from .. import threads


def matmul(a, b):
    """a @ b."""
    if a.ndim == b.ndim == 2:
        return threads.matmul(a, b)
    return np.matmul(a, b)
