"""The threads of the CPU kernels: one small pool, which runs both the Numba kernels and the BLAS products.

On a machine of few cores, threads that wait by spinning take the cores from the threads that work: Numba's
parallel loops leave OpenMP threads spinning after each loop, and OpenBLAS's threads spin after each product
(a training step ran 1.6 times slower with both pools). So here NumPy's BLAS is held to one thread (from the
first use of a CPU kernel on, process-wide), and every kernel splits its work itself: a Numba kernel, compiled
with nogil=True, takes a range [lo, hi) of its outermost loop and a chunk number k, and a product is split by
columns (or rows) into single-threaded BLAS calls. The chunks run in plain Python threads, which sleep on a
lock between calls. The thread count is Numba's (numba.set_num_threads, NUMBA_NUM_THREADS).
"""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

MIN_WORK = 1 << 20  # elements touched (or multiply-adds / 16): below this, a second thread costs more than it saves
_pool: ThreadPoolExecutor | None = None
_blas_limit = None


def count() -> int:
    """How many chunks a large loop or product is split into."""
    return numba.get_num_threads()


def _spread(calls: list) -> None:
    """Run the (function, args) calls at once: the first in the calling thread, the others in the pool."""
    global _pool, _blas_limit
    if _blas_limit is None:
        from threadpoolctl import threadpool_limits

        _blas_limit = threadpool_limits(1, user_api="blas")
    if len(calls) == 1:
        calls[0][0](*calls[0][1])
        return
    if _pool is None or _pool._max_workers < len(calls) - 1:
        _pool = ThreadPoolExecutor(max_workers=len(calls) - 1, thread_name_prefix="minigan-kernel")
    futures = [_pool.submit(f, *args) for f, args in calls[1:]]
    calls[0][0](*calls[0][1])
    for future in futures:
        future.result()


def _bounds(n: int, work: int) -> list[int]:
    parts = max(1, min(count(), n)) if work >= MIN_WORK else 1
    return [n * k // parts for k in range(parts + 1)]


def run(kernel, n: int, work: int, *args) -> None:
    """kernel(lo, hi, k, *args) for the k-th of nearly equal chunks [lo, hi) of range(n); `work` (elements
    touched) decides whether threads pay at all."""
    b = _bounds(n, work)
    _spread([(kernel, (b[k], b[k + 1], k, *args)) for k in range(len(b) - 1)])


def matmul(a, b):
    """a @ b for 2-D arrays, as single-threaded BLAS calls on blocks of b's columns (or a's rows) at once."""
    m, n = a.shape[0], b.shape[1]
    out = np.empty((m, n), dtype=np.result_type(a, b))
    by_columns = n >= m
    bounds = _bounds(n if by_columns else m, m * n * a.shape[1] // 16)
    if by_columns:
        parts = [(np.matmul, (a, b[:, lo:hi], out[:, lo:hi])) for lo, hi in itertools.pairwise(bounds)]
    else:
        parts = [(np.matmul, (a[lo:hi], b, out[lo:hi])) for lo, hi in itertools.pairwise(bounds)]
    _spread(parts)
    return out
