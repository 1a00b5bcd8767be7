"""Shared test setup. MINIGAN_EMULATE_CUDA=1 runs the GPU tests on the CPU: the stand-in CuPy of
tests/cuda_emulator (CUDA C compiled with g++, each CUDA thread a fiber) is put first on the path, before minigan
looks for CuPy (and on the path of the processes that tests start)."""

import os
import sys
from pathlib import Path

if os.environ.get("MINIGAN_EMULATE_CUDA") == "1":
    _FAKE_CUPY = str(Path(__file__).resolve().parent / "cuda_emulator" / "fakecupy")
    sys.path.insert(0, _FAKE_CUPY)
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_FAKE_CUPY, os.environ.get("PYTHONPATH")) if p)  # children

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import minigan as mg

settings.register_profile(
    "default", max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.register_profile("ci", parent=settings.get_profile("default"))
settings.load_profile("ci" if os.environ.get("CI") else "default")


def pytest_collection_modifyitems(config, items):
    """Tests marked gpu skip cleanly where CuPy or a GPU is missing (and MINIGAN_EMULATE_CUDA is not set)."""
    if mg.cuda_available():
        return
    skip = pytest.mark.skip(reason="needs CuPy and a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True, scope="session")
def _cache(tmp_path_factory):
    """Generated datasets (the rendered digits) are cached in a temporary folder, never in the user's cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MINIGAN_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _seed():
    mg.manual_seed(0)


# ---- the kernel variants, injected into the tests of each operator ----

def _devices() -> tuple[str, ...]:
    return ("cpu", "cuda") if mg.cuda_available() else ("cpu",)


def _targets(op: str) -> list[tuple[str, str]]:
    """The (variant, device) pairs of op present here, by minigan.dispatch's rule: a variant named after a device
    computes on arrays of that device, the reference on arrays of every device."""
    from minigan import dispatch

    pairs = []
    for variant in dispatch.variants(op):
        if variant != "reference" and variant not in mg.backend.DEVICES:
            raise pytest.UsageError(f"{op} has a variant {variant!r} named after no device: no test would run it")
        pairs += [(variant, device) for device in _devices() if variant in ("reference", device)]
    return pairs


def pytest_generate_tests(metafunc):
    """A test that takes `variant` and `device` runs once for every variant of its module's OPERATOR (or, taking
    `op` too, of each of its OPERATORS) on every device present that the variant computes on; the pairs on the GPU
    are marked gpu."""
    if not {"variant", "device"} <= set(metafunc.fixturenames):
        return
    module = metafunc.module
    with_op = "op" in metafunc.fixturenames
    ops = module.OPERATORS if with_op else (module.OPERATOR,)
    params = []
    for op in ops:
        for variant, device in _targets(op):
            marks = [pytest.mark.gpu] if device == "cuda" else []
            name = f"{variant}-on-{device}"
            values = (op, variant, device) if with_op else (variant, device)
            params.append(pytest.param(*values, marks=marks, id=f"{op}-{name}" if with_op else name))
    metafunc.parametrize(("op", "variant", "device") if with_op else ("variant", "device"), params)


@pytest.fixture
def selected(request, variant, device):
    """Selects the kernels ('reference' or 'fast') under which the test's operator computes on `variant` for
    arrays on `device`, for the test's duration; the value is the selection."""
    from minigan import dispatch
    from minigan.testing import place

    op = request.getfixturevalue("op") if "op" in request.fixturenames else request.module.OPERATOR
    choice = "reference" if variant == "reference" else "fast"
    with dispatch.use_kernels(choice):
        assert dispatch.choose(op, place(np.zeros(1), device)) == variant
        yield choice


@pytest.fixture(scope="session")
def torch_cpu():
    """PyTorch (computing on one CPU thread), or a skip where it is not installed."""
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    return torch


@pytest.fixture
def torch(request, torch_cpu):
    """PyTorch on the test's device (`device`, else the CPU), or a skip: with CUDA, TF32 is off so that float32
    is compared with float32, not with 10-bit mantissas."""
    torch = torch_cpu
    device = request.getfixturevalue("device") if "device" in request.fixturenames else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("needs PyTorch with CUDA")
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield torch
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@pytest.fixture(autouse=True)
def _exact_gpu_allocations(request):
    """In GPU tests, every array in an allocation of its own rather than a slice of CuPy's memory pool, so that a
    kernel that reads or writes past an array's end is caught under
    `compute-sanitizer --tool memcheck --error-exitcode 1 python -m pytest -m gpu -x -q`."""
    if request.node.get_closest_marker("gpu") is None or not mg.cuda_available():
        yield
        return
    import cupy

    cupy.cuda.set_allocator(None)
    yield
    cupy.cuda.set_allocator(cupy.get_default_memory_pool().malloc)


def _derivatives(fn, arrays, device: str, dtype) -> list:
    """y = fn(*xs), g = d<y, v>/dxs (with create_graph) and d(sum g*g)/d(xs, v), all on one device; v is fixed."""
    xs = [None if a is None else mg.tensor(np.asarray(a).astype(dtype), device=device, requires_grad=True)
          for a in arrays]
    live = [x for x in xs if x is not None]
    y = fn(*xs)
    v = mg.tensor(np.random.default_rng(99).standard_normal(y.shape).astype(dtype), device=device, requires_grad=True)
    g = mg.grad((y * v).sum(), live, create_graph=True, allow_unused=True)
    gg = mg.grad(sum((gi * gi).sum() for gi in g if gi is not None), live + [v], allow_unused=True)
    for t in [y, *g, *gg]:
        assert t is None or (t.device == device and t.dtype == np.dtype(dtype)), "a derivative changed device or dtype"
    return [y, *g, *gg]


@pytest.fixture
def derivatives_match(selected, device):
    """check(fn, arrays, dtype, rtol=None): fn's value, gradient and second derivative (of the gradient's squared
    norm) computed on the test's device under its kernel selection agree with those computed by the reference
    kernels on the CPU: |a - e| <= rtol (|e| + max(max|e|, 1)), rtol 1e-10 in float64 and 1e-5 in float32 by
    default. None in arrays stands for an absent optional input."""
    from minigan import dispatch
    from minigan.testing import assert_close

    def check(fn, arrays, dtype, rtol: float | None = None) -> None:
        rtol = {np.dtype("float64"): 1e-10, np.dtype("float32"): 1e-5}[np.dtype(dtype)] if rtol is None else rtol
        mine = _derivatives(fn, arrays, device, dtype)
        with dispatch.use_kernels("reference"):
            expected = _derivatives(fn, arrays, "cpu", dtype)
        for k, (a, e) in enumerate(zip(mine, expected, strict=True)):
            assert (a is None) == (e is None), f"derivative {k} is None on one side only"
            if e is not None:
                e = e.numpy()
                floor = max(float(np.abs(e).max()), 1.0) if e.size else 1.0
                assert_close(a.data, e, floor, f"derivative {k} (0: the value)", rtol=rtol, device=device)

    return check


@pytest.fixture
def matches_torch(torch, device):
    """check(make, arrays, rtol=1e-4): minigan's and torch's values and gradients agree in float32 on the test's
    device, |a - e| <= rtol (|e| + max|e|). make(f) gives the function to compare, written with f =
    minigan.nn.functional or torch.nn.functional; the gradients are those of <gy, fn> for a gy drawn from a fixed
    seed."""
    import minigan.nn.functional as F

    def value_and_gradients(framework, fn, arrays) -> list:
        gy = np.random.default_rng(7)
        if framework is None:
            inputs = [mg.tensor(a, device=device, requires_grad=True) for a in arrays]
            y = fn(*inputs)
            gy = gy.standard_normal(y.shape).astype(np.float32)
            grads = mg.grad(y, inputs, grad_outputs=mg.tensor(gy, device=device))
            assert all(t.device == device for t in [y, *grads])
            return [y.numpy()] + [g.numpy() for g in grads]
        inputs = [torch.tensor(a, device=device, requires_grad=True) for a in arrays]
        y = fn(*inputs)
        gy = gy.standard_normal(tuple(y.shape)).astype(np.float32)
        grads = torch.autograd.grad(y, inputs, grad_outputs=torch.tensor(gy, device=device))
        return [y.detach().cpu().numpy()] + [g.cpu().numpy() for g in grads]

    def check(make, arrays, rtol: float = 1e-4) -> None:
        arrays = [np.asarray(a, dtype=np.float32) for a in arrays]
        mine = value_and_gradients(None, make(F), arrays)
        theirs = value_and_gradients(torch, make(torch.nn.functional), arrays)
        for k, (a, e) in enumerate(zip(mine, theirs, strict=True)):
            assert a.shape == e.shape and a.dtype == e.dtype == np.float32, f"output {k}: {a.shape} {e.shape} {a.dtype}"
            scale = float(np.abs(e).max()) if e.size else 0.0
            np.testing.assert_allclose(a, e, rtol=rtol, atol=rtol * scale, err_msg=f"output {k} (0: the value)")

    return check
