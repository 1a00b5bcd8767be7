"""How many kernels a GAN training step launches on the GPU, counted by the CUDA emulator's stand-in CuPy (every
RawKernel call, ufunc, reduction, copy and array function on device arrays: what CuPy would launch). A small
model's step is bound by the host's cost per launch (5-10 us each), so the benchmark's seed32 step must take few:
the fused optimizer, batch-norm, loss and convolution kernels keep it at LIMIT or fewer.

Which kernels run depends on the shapes alone, not on the values, so the kernels are only counted here, not run:
the full-size model at the benchmark's batches is counted in a few seconds."""

import collections

import numpy as np
import pytest

import minigan as mg
import minigan.nn.functional as F
from minigan.bench.models import networks

pytestmark = pytest.mark.gpu
LIMIT = 150


@pytest.fixture
def launches(monkeypatch):
    """The emulator's launch log, its kernels counted and not run; a skip on a real GPU (nothing counts there)."""
    import cupy

    if "gpuemu" not in getattr(cupy, "__version__", ""):
        pytest.skip("launches are counted by the CUDA emulator (MINIGAN_EMULATE_CUDA=1)")
    from gpuemu import runtime

    monkeypatch.setattr(runtime.Library, "launch", lambda self, name, grid, block, args, **options:
                        runtime.LAUNCH_LOG.append((name, grid, block)))
    return runtime.LAUNCH_LOG


def step(g, d, opt_g, opt_d, real, z) -> None:
    """The benchmark's step (minigan.bench.step): D on a real and a generated batch, then G through D."""
    fake = g(z)
    opt_d.zero_grad()
    out_real, out_fake = d(real), d(fake.detach())
    loss_d = (F.binary_cross_entropy_with_logits(out_real, mg.ones_like(out_real))
              + F.binary_cross_entropy_with_logits(out_fake, mg.zeros_like(out_fake)))
    loss_d.backward()
    opt_d.step()
    opt_g.zero_grad()
    out = d(fake)
    F.binary_cross_entropy_with_logits(out, mg.ones_like(out)).backward()
    opt_g.step()


@pytest.mark.parametrize("batch", [64, 128])
def test_a_seed32_training_step_launches_few_kernels(launches, batch):
    g, d, nz, shape = networks("seed32")
    g.to("cuda")
    d.to("cuda")
    opt_g, opt_d = (mg.optim.Adam(net.parameters(), lr=2e-4, betas=(0.5, 0.999)) for net in (g, d))
    rng = np.random.default_rng(0)
    real = mg.tensor(np.tanh(rng.standard_normal((batch, *shape))).astype(np.float32), device="cuda")
    z = mg.tensor(rng.standard_normal((batch, nz)).astype(np.float32), device="cuda")
    with np.errstate(all="ignore"):  # the kernels' outputs are left unwritten: NaN
        step(g, d, opt_g, opt_d, real, z)  # the first step makes the optimizers' state
        start = len(launches)
        step(g, d, opt_g, opt_d, real, z)
    names = [name.split("<")[0] for name, _, _ in launches[start:]]
    assert len(names) <= LIMIT, f"{len(names)} launches: {collections.Counter(names).most_common()}"
