"""The 'cuda' device (the reference path through CuPy) against the CPU: the same numbers on both devices.

Forward, backward and double backward of the four heavy operators, the reference kernels called directly on
CuPy arrays, device moves, dropout, and two steps of a small MLP. Skipped where CuPy or a GPU is missing.
"""

import numpy as np
import pytest

import minigan as mg
import minigan.nn.functional as F
from minigan import backend, dispatch
from minigan.kernels.batch_norm import reference as batch_norm_ref
from minigan.kernels.conv2d import reference as conv2d_ref
from minigan.kernels.conv_transpose2d import reference as conv_transpose2d_ref
from minigan.kernels.leaky_relu import reference as leaky_relu_ref

pytestmark = pytest.mark.gpu


@pytest.fixture(autouse=True)
def reference_kernels():
    """These tests hold the reference path on CuPy to the CPU (the CUDA kernels have tests of their own)."""
    with dispatch.use_kernels("reference"):
        yield

DTYPES = [np.float64, np.float32]
RTOL = {np.float64: 1e-10, np.float32: 1e-5}


def assert_close(actual, expected, rtol, what=""):
    """|a - e| <= rtol (|e| + max(max|e|, 1)), on NumPy copies of Tensors or arrays from either device."""
    actual, expected = (a.numpy() if isinstance(a, mg.Tensor) else backend.to_device(a, "cpu")
                        for a in (actual, expected))
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = max(float(np.abs(expected).max()), 1.0) if expected.size else 1.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale, err_msg=what)


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def derivatives(fn, arrays, device, dtype):
    """y = fn(*xs), g = d<y, v>/dxs (with create_graph) and d(sum g*g)/d(xs, v), all on one device."""
    xs = [None if a is None else mg.tensor(a.astype(dtype), device=device, requires_grad=True) for a in arrays]
    live = [x for x in xs if x is not None]
    y = fn(*xs)
    v = mg.tensor(randn(*y.shape, seed=99).astype(dtype), device=device, requires_grad=True)
    g = mg.grad((y * v).sum(), live, create_graph=True, allow_unused=True)
    gg = mg.grad(sum((gi * gi).sum() for gi in g if gi is not None), live + [v], allow_unused=True)
    for t in [y, *g, *gg]:
        assert t is None or (t.device == device and t.dtype == np.dtype(dtype))
    return y, g, gg


def check_devices_agree(fn, arrays, dtype, rtol=None):
    rtol = RTOL[dtype] if rtol is None else rtol
    y_cpu, g_cpu, gg_cpu = derivatives(fn, arrays, "cpu", dtype)
    y_gpu, g_gpu, gg_gpu = derivatives(fn, arrays, "cuda", dtype)
    assert_close(y_gpu, y_cpu, rtol, "forward")
    for what, mine, ref in (("backward", g_gpu, g_cpu), ("double backward", gg_gpu, gg_cpu)):
        for k, (a, b) in enumerate(zip(mine, ref)):
            assert (a is None) == (b is None), f"{what}, input {k}: None on one device only"
            if a is not None:
                assert_close(a, b, rtol, f"{what}, input {k}")


CONV_CASES = {
    "dcgan-5x5-s2-p2": ((2, 3, 8, 8), (4, 3, 5, 5), 2, 2, 1),
    "dcgan-4x4-s2-p1": ((2, 3, 8, 8), (4, 3, 4, 4), 2, 1, 1),
    "odd": ((2, 2, 7, 5), (3, 2, 3, 2), (2, 3), (1, 0), (1, 2)),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES.values(), ids=CONV_CASES.keys())
def test_conv2d(case, dtype):
    x_shape, w_shape, stride, padding, dilation = case
    arrays = [randn(*x_shape, seed=1), randn(*w_shape, seed=2), randn(w_shape[0], seed=3)]
    check_devices_agree(lambda x, w, b: F.conv2d(x, w, b, stride, padding, dilation), arrays, dtype)


CONV_TRANSPOSE_CASES = {
    "dcgan-5x5-s2-p2-op1": ((2, 4, 4, 4), (4, 3, 5, 5), 2, 2, 1, 1),
    "dcgan-4x4-s2-p1": ((2, 4, 4, 4), (4, 3, 4, 4), 2, 1, 0, 1),
    "output-padding-from-dilation": ((2, 3, 3, 3), (3, 2, 3, 3), 1, 1, 1, 2),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_TRANSPOSE_CASES.values(), ids=CONV_TRANSPOSE_CASES.keys())
def test_conv_transpose2d(case, dtype):
    x_shape, w_shape, stride, padding, output_padding, dilation = case
    arrays = [randn(*x_shape, seed=1), randn(*w_shape, seed=2), randn(w_shape[1], seed=3)]

    def fn(x, w, b):
        return F.conv_transpose2d(x, w, b, stride, padding, output_padding, dilation)

    check_devices_agree(fn, arrays, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5, 6)])
def test_batch_norm_training(shape, dtype):
    arrays = [3 * randn(*shape, seed=1) + 1, randn(shape[1], seed=2), randn(shape[1], seed=3)]
    rtol = RTOL[dtype] if dtype == np.float64 else 1e-4  # as on the CPU: the double backward divides by var

    def fn(x, w, b):
        return F.batch_norm(x, None, None, w, b, training=True)

    check_devices_agree(fn, arrays, dtype, rtol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm_eval_and_running_stats(dtype):
    stats = {}
    for device in ("cpu", "cuda"):
        mean = mg.tensor(randn(3, seed=4).astype(dtype), device=device)
        var = mg.tensor(np.exp(randn(3, seed=5)).astype(dtype), device=device)
        for step in range(3):
            x = mg.tensor(randn(4, 3, 5, 5, seed=10 + step).astype(dtype), device=device)
            F.batch_norm(x, mean, var, training=True, momentum=0.2)
        assert mean.device == device and var.device == device
        stats[device] = (mean, var)
    assert_close(stats["cuda"][0], stats["cpu"][0], RTOL[dtype], "running mean")
    assert_close(stats["cuda"][1], stats["cpu"][1], RTOL[dtype], "running var")

    running = [stats["cpu"][0].numpy(), stats["cpu"][1].numpy()]

    def fn(x, w, b):
        m, v = (mg.tensor(a, device=x.device) for a in running)
        return F.batch_norm(x, m, v, w, b, training=False)

    check_devices_agree(fn, [randn(4, 3, 5, 5, seed=1), randn(3, seed=2), randn(3, seed=3)], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_leaky_relu(dtype):
    x = randn(4, 3, 5, 5, seed=1)
    x[0, 0, 0] = 0.0
    check_devices_agree(lambda x: F.leaky_relu(x, 0.2), [x], dtype)


def test_discriminator_chain():
    """conv -> batch norm -> leaky ReLU -> conv_transpose -> sigmoid: every op of the chain on the device."""

    def fn(x, w1, gamma, beta, w2):
        h = F.leaky_relu(F.batch_norm(F.conv2d(x, w1, stride=2, padding=1), None, None, gamma, beta,
                                      training=True), 0.2)
        return F.sigmoid(F.conv_transpose2d(h, w2, stride=2, padding=1, output_padding=1))

    arrays = [randn(2, 2, 6, 6, seed=1), randn(3, 2, 3, 3, seed=2), randn(3, seed=3), randn(3, seed=4),
              randn(3, 2, 3, 3, seed=5)]
    check_devices_agree(fn, arrays, np.float64)


# ---- the reference kernels on CuPy arrays ----

def on_gpu(*arrays):
    out = [backend.to_device(a, "cuda") for a in arrays]
    return out[0] if len(out) == 1 else out


def assert_gpu_result(gpu, cpu, dtype, what):
    assert backend.device_of(gpu) == "cuda", f"{what}: computed off the GPU"
    assert gpu.dtype == cpu.dtype
    assert_close(gpu, cpu, RTOL[dtype], what)


@pytest.mark.parametrize("dtype", DTYPES)
def test_reference_conv_kernels_on_cupy_arrays(dtype):
    x, W, b = (randn(2, 3, 7, 6, seed=1).astype(dtype), randn(4, 3, 3, 2, seed=2).astype(dtype),
               randn(4, seed=3).astype(dtype))
    geometry = ((2, 1), (1, 1), (1, 2))
    x_g, W_g, b_g = on_gpu(x, W, b)
    y = conv2d_ref.forward(x, W, b, *geometry)
    assert_gpu_result(conv2d_ref.forward(x_g, W_g, b_g, *geometry), y, dtype, "conv2d forward")
    col = conv2d_ref.im2col(x, W.shape[2:], *geometry)
    assert_gpu_result(conv2d_ref.im2col(x_g, W.shape[2:], *geometry), col, dtype, "im2col")
    c = randn(*col.shape, seed=4).astype(dtype)
    assert_gpu_result(conv2d_ref.col2im(on_gpu(c), x.shape[2:], W.shape[2:], *geometry), conv2d_ref.col2im(c, x.shape[2:], W.shape[2:], *geometry),
                      dtype, "col2im")
    gy = randn(*y.shape, seed=5).astype(dtype)
    assert_gpu_result(conv2d_ref.backward_filter(x_g, on_gpu(gy), W.shape[2:], *geometry),
                      conv2d_ref.backward_filter(x, gy, W.shape[2:], *geometry), dtype, "backward_filter")

    Wt = randn(4, 3, 5, 5, seed=6).astype(dtype)
    args = ((2, 2), (2, 2), (1, 1), (1, 1))
    assert_gpu_result(conv_transpose2d_ref.forward(on_gpu(gy), on_gpu(Wt), on_gpu(b[:3]), *args),
                      conv_transpose2d_ref.forward(gy, Wt, b[:3], *args), dtype, "conv_transpose2d forward")


@pytest.mark.parametrize("dtype", DTYPES)
def test_reference_batch_norm_and_leaky_relu_kernels_on_cupy_arrays(dtype):
    x, gy = (randn(4, 3, 5, 5, seed=s).astype(dtype) for s in (1, 2))
    gamma, beta, running_mean = (randn(3, seed=s).astype(dtype) for s in (3, 4, 5))
    running_var = np.exp(randn(3, seed=6)).astype(dtype)
    x_g, gy_g, gamma_g, beta_g = on_gpu(x, gy, gamma, beta)

    cpu = batch_norm_ref.forward_train(x, gamma, beta, 1e-5)
    gpu = batch_norm_ref.forward_train(x_g, gamma_g, beta_g, 1e-5)
    for what, a, b in zip(("y", "mean", "var", "invstd"), gpu, cpu):
        assert_gpu_result(a, b, dtype, f"forward_train {what}")
    cpu_grads = batch_norm_ref.backward(x, gamma, beta, cpu[1], cpu[3], gy)
    gpu_grads = batch_norm_ref.backward(x_g, gamma_g, beta_g, gpu[1], gpu[3], gy_g)
    for what, a, b in zip(("gx", "ggamma", "gbeta"), gpu_grads, cpu_grads):
        assert_gpu_result(a, b, dtype, f"backward {what}")
    assert_gpu_result(batch_norm_ref.forward_eval(x_g, *on_gpu(running_mean, running_var), gamma_g, beta_g, 1e-5),
                      batch_norm_ref.forward_eval(x, running_mean, running_var, gamma, beta, 1e-5), dtype,
                      "forward_eval")

    x[0, 0, 0] = 0.0
    x_g = on_gpu(x)
    assert_gpu_result(leaky_relu_ref.forward(x_g, 0.2), leaky_relu_ref.forward(x, 0.2), dtype, "leaky_relu forward")
    assert_gpu_result(leaky_relu_ref.backward(x_g, gy_g, 0.2), leaky_relu_ref.backward(x, gy, 0.2), dtype,
                      "leaky_relu backward")


# ---- device moves, dropout, a training step ----

def test_device_moves_carry_gradients_back():
    x = mg.tensor(randn(3, 4), requires_grad=True)
    y = (x.to("cuda").exp() * 2).sum().cpu()
    assert y.device == "cpu"
    y.backward()
    assert x.grad.device == "cpu"
    assert_close(x.grad, 2 * np.exp(randn(3, 4)), 1e-12, "gradient through to('cuda')")


def test_dropout_on_the_device():
    p, n = 0.3, 200_000
    x = mg.ones(n, dtype=mg.float32, device="cuda")
    y = F.dropout(x, p)
    assert y.device == "cuda"
    y = y.numpy()
    kept = y != 0
    assert abs(kept.mean() - (1 - p)) < 6 * np.sqrt(p * (1 - p) / n)
    np.testing.assert_allclose(y[kept], 1 / (1 - p), rtol=1e-6)


def mlp_step(device: str, dtype, steps: int = 2, lr: float = 0.1):
    """Two SGD steps of a 2-layer MLP with BCE-with-logits; returns the losses and the final weights."""
    rng = np.random.default_rng(0)
    arrays = {"w1": 0.5 * rng.standard_normal((8, 5)), "b1": 0.1 * rng.standard_normal(8),
              "w2": 0.5 * rng.standard_normal((1, 8)), "b2": 0.1 * rng.standard_normal(1)}
    params = {k: mg.tensor(v.astype(dtype), device=device, requires_grad=True) for k, v in arrays.items()}
    x = mg.tensor(rng.standard_normal((16, 5)).astype(dtype), device=device)
    target = mg.tensor((rng.random((16, 1)) < 0.5).astype(dtype), device=device)
    losses = []
    for _ in range(steps):
        h = F.leaky_relu(F.linear(x, params["w1"], params["b1"]), 0.2)
        loss = F.binary_cross_entropy_with_logits(F.linear(h, params["w2"], params["b2"]), target)
        for p in params.values():
            p.grad = None
        loss.backward()
        with mg.no_grad():
            for p in params.values():
                assert p.grad.device == device
                p.add_(p.grad, alpha=-lr)
        losses.append(loss.item())
    return losses, params


@pytest.mark.parametrize("dtype", DTYPES)
def test_mlp_training_step_matches_cpu(dtype):
    losses_cpu, params_cpu = mlp_step("cpu", dtype)
    losses_gpu, params_gpu = mlp_step("cuda", dtype)
    np.testing.assert_allclose(losses_gpu, losses_cpu, rtol=RTOL[dtype])
    assert losses_cpu[1] < losses_cpu[0]
    for name in params_cpu:
        assert params_gpu[name].device == "cuda"
        assert_close(params_gpu[name], params_cpu[name], RTOL[dtype], name)
