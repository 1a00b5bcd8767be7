"""The GPU as a whole: the CUDA loader (kernels/cuda.py), which kernel each operator runs on CuPy arrays, device
moves, and whole training steps on the GPU against the CPU. The kernels themselves are tested operator by operator
(tests/test_<operator>.py). Skipped where CuPy or a GPU is missing.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

import minigan as mg
import minigan.nn.functional as F
from minigan import backend, dispatch
from minigan.kernels import cuda as loader
from minigan.models import build
from minigan.testing import assert_close, assert_same_bits

pytestmark = pytest.mark.gpu
SELECTIONS = pytest.mark.parametrize("kernels", dispatch.KERNELS)


def test_loader():
    """Python ints become int32; Python floats, non-contiguous arrays and other dtypes are refused with the
    operator's name; a source is compiled once per process."""
    import cupy

    conv2d = dispatch.kernel("conv2d", "cuda")
    assert type(loader._argument("conv2d", 3)) is np.int32
    with pytest.raises(TypeError, match="conv2d"):
        loader._argument("conv2d", 0.5)
    with pytest.raises(ValueError, match="conv2d.*contiguous"):
        loader._argument("conv2d", cupy.zeros((3, 4)).T)
    with pytest.raises(TypeError, match="conv2d.*float16"):
        conv2d.im2col(cupy.zeros((1, 1, 2, 2), dtype=cupy.float16), (1, 1), (1, 1), (0, 0), (1, 1))
    x = cupy.ones((2, 3, 4, 4), dtype=cupy.float32)
    conv2d.im2col(x, (3, 3), (1, 1), (1, 1), (1, 1))
    compiled = loader._module.cache_info().currsize
    conv2d.im2col(x.astype(cupy.float64), (3, 3), (1, 1), (1, 1), (1, 1))
    assert loader._module.cache_info().currsize == compiled


def test_each_operator_runs_on_its_cuda_kernel_on_the_gpu():
    """With the fast kernels, CuPy arrays go to the operator's cuda variant where it has one, else to the
    reference; NumPy arrays to the cpu variant; with the reference kernels, always to the reference."""
    import cupy

    x, x_cpu = cupy.zeros((1, 1, 2, 2)), np.zeros((1, 1, 2, 2))
    for op in dispatch.operators():
        variants = dispatch.variants(op)
        with dispatch.use_kernels("fast"):
            assert dispatch.choose(op, x) == ("cuda" if "cuda" in variants else "reference"), op
            assert dispatch.choose(op, x_cpu) == ("cpu" if "cpu" in variants else "reference"), op
        with dispatch.use_kernels("reference"):
            assert dispatch.choose(op, x) == "reference", op


@pytest.mark.parametrize(("value", "variant"), [("reference", "reference"), ("fast", "cuda")])
def test_minigan_kernels_environment_variable_on_the_gpu(value, variant):
    code = "import cupy, minigan.dispatch as d; print(d.kernel('conv2d', d.choose('conv2d', cupy.zeros(1))).__name__)"
    run = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, MINIGAN_KERNELS=value),
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"minigan.kernels.conv2d.{variant}"


# ---- device moves and randomness on the device ----

def test_device_moves_carry_gradients_back():
    a = np.random.default_rng(0).standard_normal((3, 4))
    x = mg.tensor(a, requires_grad=True)
    y = (x.to("cuda").exp() * 2).sum().cpu()
    assert y.device == "cpu"
    y.backward()
    assert x.grad.device == "cpu"
    expected = 2 * np.exp(a)
    assert_close(x.grad.data, expected, max(float(np.abs(expected).max()), 1.0), "gradient through to('cuda')")


def test_dropout_on_the_device():
    p, n = 0.3, 200_000
    y = F.dropout(mg.ones(n, dtype=mg.float32, device="cuda"), p)
    assert y.device == "cuda"
    y = y.numpy()
    kept = y != 0
    assert abs(kept.mean() - (1 - p)) < 6 * np.sqrt(p * (1 - p) / n)
    np.testing.assert_allclose(y[kept], 1 / (1 - p), rtol=1e-6)


# ---- training steps on the GPU against the CPU ----

def mlp_steps(device: str, dtype, steps: int = 2, lr: float = 0.1):
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


@SELECTIONS
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_mlp_steps_match_the_cpu(kernels, dtype):
    rtol = {np.float64: 1e-10, np.float32: 1e-5}[dtype]
    with dispatch.use_kernels(kernels):
        losses_cpu, params_cpu = mlp_steps("cpu", dtype)
        losses_gpu, params_gpu = mlp_steps("cuda", dtype)
    np.testing.assert_allclose(losses_gpu, losses_cpu, rtol=rtol)
    assert losses_cpu[1] < losses_cpu[0]
    for name, expected in params_cpu.items():
        expected = expected.numpy()
        assert_close(params_gpu[name].data, expected, max(float(np.abs(expected).max()), 1.0), name, rtol=rtol,
                     device="cuda")


def dcgan_weights() -> dict:
    """The DCGAN's initial weights and buffers (minigan's generator, seed 0) as NumPy arrays, for every run to start
    from."""
    mg.manual_seed(0)
    gan = build("dcgan", (1, 32, 32), width=0.125)
    return {name: {k: v.numpy().copy() for k, v in net.state_dict().items()} for name, net in (("g", gan.g),
                                                                                                ("d", gan.d))}


class GANStep:
    """The DCGAN's networks, Adam optimizers and fixed data on one device; calling it runs one training step (a
    discriminator update on a real and a generated batch, then a generator update, non-saturating BCE-with-logits
    losses) with plain minigan ops, and returns the two losses."""

    def __init__(self, device: str, dtype, weights: dict, batch: int):
        gan = build("dcgan", (1, 32, 32), width=0.125)
        self.g, self.d = gan.g, gan.d
        for net, name in ((self.g, "g"), (self.d, "d")):
            net.load_state_dict(weights[name])
            net.to(device=device, dtype=dtype)
        self.opt_g = mg.optim.Adam(self.g.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_d = mg.optim.Adam(self.d.parameters(), lr=2e-4, betas=(0.5, 0.999))
        rng = np.random.default_rng(1)
        self.real = mg.tensor(np.tanh(rng.standard_normal((batch, 1, 32, 32))).astype(dtype), device=device)
        self.noise = mg.tensor(rng.standard_normal((batch, gan.nz)).astype(dtype), device=device)

    def __call__(self) -> tuple[float, float]:
        bce = F.binary_cross_entropy_with_logits
        fake = self.g(self.noise)
        self.opt_d.zero_grad()
        out_real, out_fake = self.d(self.real), self.d(fake.detach())
        loss_d = bce(out_real, mg.ones_like(out_real)) + bce(out_fake, mg.zeros_like(out_fake))
        loss_d.backward()
        self.opt_d.step()
        self.opt_g.zero_grad()
        out = self.d(fake)
        loss_g = bce(out, mg.ones_like(out))
        loss_g.backward()
        self.opt_g.step()
        return loss_d.item(), loss_g.item()

    def state(self) -> dict:
        """Every parameter and buffer of both networks, as NumPy arrays."""
        return {f"{name}.{k}": v.numpy() for name, net in (("g", self.g), ("d", self.d))
                for k, v in net.state_dict().items()}


@SELECTIONS
def test_dcgan_steps_on_the_gpu_match_the_cpu(kernels):
    """Same weights, same data: in float64 three steps give the same losses and weights (to rounding) on both
    devices; in float32 the first step gives the same losses (later steps may differ where Adam's first update,
    about lr sign(gradient), sees a gradient within rounding of 0)."""
    weights = dcgan_weights()
    with dispatch.use_kernels(kernels):
        cpu, gpu = (GANStep(device, np.float64, weights, batch=8) for device in ("cpu", "cuda"))
        for step in range(3):
            np.testing.assert_allclose(gpu(), cpu(), rtol=1e-9, err_msg=f"float64 losses, step {step}")
        mine, expected = gpu.state(), cpu.state()
        for k in expected:
            np.testing.assert_allclose(mine[k], expected[k], rtol=1e-7, atol=1e-9, err_msg=k)
        assert all(backend.device_of(p.data) == "cuda" for p in gpu.g.parameters())

        cpu, gpu = (GANStep(device, np.float32, weights, batch=8) for device in ("cpu", "cuda"))
        np.testing.assert_allclose(gpu(), cpu(), rtol=1e-4, err_msg="float32 losses, first step")


def test_dcgan_steps_on_the_gpu_are_bit_reproducible():
    """Two runs of two float32 steps from the same state give the same losses and the same bits in every weight."""
    weights = dcgan_weights()
    runs = []
    for _ in range(2):
        step = GANStep("cuda", np.float32, weights, batch=16)
        losses = [step() for _ in range(2)]
        runs.append((losses, step.state()))
    assert runs[0][0] == runs[1][0]
    for k, a in runs[0][1].items():
        assert_same_bits(a, runs[1][1][k], k)
