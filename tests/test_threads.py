"""The chunked paths of the CPU kernels (kernels/threads.py) agree with the reference.

The other kernel tests use arrays too small to be split; here every kernel is forced to split its work over
two threads (MIN_WORK = 0), so that chunk bounds and per-chunk partial sums are exercised.
"""

import numba
import numpy as np
import pytest
from numba import njit

from minigan.kernels import threads
from minigan.kernels.adam import cpu as adam_cpu
from minigan.kernels.adam import reference as adam_ref
from minigan.kernels.batch_norm import cpu as batch_norm_cpu
from minigan.kernels.batch_norm import reference as batch_norm_ref
from minigan.kernels.conv2d import cpu as conv2d_cpu
from minigan.kernels.conv2d import reference as conv2d_ref
from minigan.kernels.conv_transpose2d import cpu as conv_transpose2d_cpu
from minigan.kernels.conv_transpose2d import reference as conv_transpose2d_ref
from minigan.kernels.leaky_relu import cpu as leaky_relu_cpu
from minigan.kernels.leaky_relu import reference as leaky_relu_ref

pytestmark = pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two threads")


@pytest.fixture(autouse=True)
def two_threads(monkeypatch):
    previous = numba.get_num_threads()
    numba.set_num_threads(2)
    monkeypatch.setattr(threads, "MIN_WORK", 0)
    yield
    numba.set_num_threads(previous)


@njit(nogil=True)
def _mark(lo, hi, k, out):
    for i in range(lo, hi):
        out[i] += k + 1


@pytest.mark.parametrize("n", [1, 2, 3, 10, 1001])
def test_run_covers_the_range_once_in_two_chunks(n):
    out = np.zeros(n, np.int64)
    threads.run(_mark, n, n, out)
    assert np.all(out >= 1)  # every index once (a second visit would add at least 1 more)
    assert set(np.unique(out)) == ({1, 2} if n >= 2 else {1})
    assert np.all(np.diff(out) >= 0)  # chunk 0 is the first block, chunk 1 the second


@pytest.mark.parametrize("shape", [(7, 300, 9), (300, 7, 2), (1, 5, 5)])
def test_matmul_by_columns_and_by_rows(shape):
    m, k, n = shape
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((m, k)), rng.standard_normal((n, k)).T  # b a transposed view
    np.testing.assert_allclose(threads.matmul(a, b), a @ b, rtol=1e-12, atol=1e-12)


def close(a, b, dtype):
    tol = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * max(1.0, float(np.abs(b).max())))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_convolutions(dtype):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((19, 6, 9, 7)).astype(dtype)
    W = rng.standard_normal((5, 6, 3, 4)).astype(dtype)
    b = rng.standard_normal(5).astype(dtype)
    geometry = ((2, 1), (1, 2), (1, 2))
    y = conv2d_ref.forward(x, W, b, *geometry)
    close(conv2d_cpu.forward(x, W, b, *geometry), y, dtype)
    gy = rng.standard_normal(y.shape).astype(dtype)
    close(conv2d_cpu.backward_filter(x, gy, (3, 4), *geometry), conv2d_ref.backward_filter(x, gy, (3, 4), *geometry),
          dtype)
    Wt = rng.standard_normal((6, 5, 3, 4)).astype(dtype)
    geometry_t = ((2, 1), (1, 2), (1, 0), (1, 2))
    close(conv_transpose2d_cpu.forward(x, Wt, b, *geometry_t), conv_transpose2d_ref.forward(x, Wt, b, *geometry_t),
          dtype)


@pytest.mark.parametrize("slope", [None, 0.0, 0.2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_norm_and_leaky_relu(dtype, slope):
    rng = np.random.default_rng(2)
    x = (3 * rng.standard_normal((17, 4, 5, 3)) + 1).astype(dtype)
    gamma, beta = rng.standard_normal(4).astype(dtype), rng.standard_normal(4).astype(dtype)
    gy = rng.standard_normal(x.shape).astype(dtype)
    expected = batch_norm_ref.forward_train(x, gamma, beta, 1e-5, slope)
    for a, e in zip(batch_norm_cpu.forward_train(x, gamma, beta, 1e-5, slope), expected):
        close(a, e, dtype)
    _, mean, _, invstd = expected
    for a, e in zip(batch_norm_cpu.backward(x, gamma, beta, mean, invstd, gy, slope),
                    batch_norm_ref.backward(x, gamma, beta, mean, invstd, gy, slope)):
        close(a, e, dtype)
    np.testing.assert_array_equal(leaky_relu_cpu.forward(x, 0.2), leaky_relu_ref.forward(x, 0.2))
    np.testing.assert_array_equal(leaky_relu_cpu.backward(x, gy, 0.2), leaky_relu_ref.backward(x, gy, 0.2))


def test_adam_is_still_bit_for_bit():
    rng = np.random.default_rng(3)
    param = rng.standard_normal(1001).astype(np.float32)
    ours, state, our_state = param.copy(), [np.zeros_like(param) for _ in range(2)], [np.zeros_like(param)
                                                                                      for _ in range(2)]
    for step in range(1, 4):
        grad = rng.standard_normal(1001).astype(np.float32)
        adam_ref.update([param], [grad], [state[0]], [state[1]], None, [step], 1e-3, 0.5, 0.999, 1e-8, 0.01)
        adam_cpu.update([ours], [grad], [our_state[0]], [our_state[1]], None, [step], 1e-3, 0.5, 0.999, 1e-8, 0.01)
    np.testing.assert_array_equal(ours, param)
