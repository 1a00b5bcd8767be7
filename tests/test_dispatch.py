"""The kernel registry: operators and variants found from the folders, every variant true to its operator's
contract, the kernels independent of the rest of minigan, and the variant carried from forward to backward."""

import ast
import importlib
import inspect
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minigan as mg
import minigan.nn.functional as F
from minigan import dispatch
from minigan.ops.batch_norm import batch_norm_act

KERNELS = Path(dispatch.__file__).parent.parent / "kernels"
if not KERNELS.is_dir():  # installed: minigan.kernels is the folder itself
    KERNELS = Path(importlib.import_module("minigan.kernels").__file__).parent


def test_operators_and_variants_are_the_folders():
    folders = sorted(p.name for p in KERNELS.iterdir() if (p / "__init__.py").is_file())
    assert list(dispatch.operators()) == folders
    for op in folders:
        files = sorted(p.stem for p in (KERNELS / op).glob("*.py") if p.stem != "__init__")
        assert list(dispatch.variants(op)) == files
        assert "reference" in dispatch.variants(op), op
    with pytest.raises(ValueError, match="no kernels for operator 'conv3d'"):
        dispatch.variants("conv3d")
    with pytest.raises(ValueError, match="sgd has no 'cpu' kernel"):
        dispatch.kernel("sgd", "cpu")


def bare(signature: inspect.Signature) -> str:
    """The signature as text without annotations: what CONTRACT states."""
    return str(signature.replace(parameters=[p.replace(annotation=p.empty) for p in signature.parameters.values()],
                                 return_annotation=inspect.Signature.empty))


@pytest.mark.parametrize("op", dispatch.operators())
def test_every_variant_implements_the_contract(op):
    contract = importlib.import_module(f"minigan.kernels.{op}").CONTRACT
    assert contract, op
    for variant in dispatch.variants(op):
        module = dispatch.kernel(op, variant)
        for name, expected in contract.items():
            assert callable(getattr(module, name, None)), f"{op}/{variant}.py has no {name}"
            assert bare(inspect.signature(getattr(module, name))) == expected, f"{op}/{variant}.py: {name}"


def test_every_conv2d_variant_says_whether_it_reads_columns():
    for variant in dispatch.variants("conv2d"):
        assert isinstance(dispatch.kernel("conv2d", variant).COLUMNS, bool), variant


def test_paired_operators_have_the_same_variants():
    """conv_transpose2d's gradients run on conv2d's kernels of the same variant."""
    assert dispatch.variants("conv2d") == dispatch.variants("conv_transpose2d")


def test_kernels_import_nothing_from_the_rest_of_minigan():
    """No absolute import of minigan (or of a top-level kernels), and no relative import that climbs out of the
    kernels' folder (a module n folders deep may go up n levels: to the kernels package itself)."""
    for path in KERNELS.rglob("*.py"):
        depth = len(path.relative_to(KERNELS).parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.ImportFrom):
                assert node.level <= depth, f"{path}: a relative import leaves the kernels"
                continue
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in ("minigan", "kernels"), f"{path} imports {name}"


def test_choose_follows_the_selection_and_the_device():
    x = np.zeros((1, 1, 2, 2))
    previous = dispatch.kernels_in_use()
    with dispatch.use_kernels("reference"):
        assert dispatch.choose("conv2d", x) == "reference"
        with dispatch.use_kernels("fast"):
            assert dispatch.choose("conv2d", x) == "cpu"
            assert dispatch.choose("sgd", x) == "reference"  # no CPU kernel: the reference
        assert dispatch.choose("batch_norm", x) == "reference"
    assert dispatch.kernels_in_use() == previous
    with pytest.raises(RuntimeError), dispatch.use_kernels("reference"):
        raise RuntimeError("inside the block")
    assert dispatch.kernels_in_use() == previous
    with pytest.raises(ValueError, match="'slow'"):
        dispatch.use_kernels("slow")
    assert dispatch.kernels_in_use() == previous


@pytest.mark.parametrize(("value", "variant"), [(None, "cpu"), ("fast", "cpu"), ("reference", "reference")])
def test_minigan_kernels_environment_variable(value, variant):
    env = {k: v for k, v in os.environ.items() if k != "MINIGAN_KERNELS"}
    if value is not None:
        env["MINIGAN_KERNELS"] = value
    code = "import numpy, minigan.dispatch as d; print(d.choose('conv2d', numpy.zeros(1)))"
    run = subprocess.run([sys.executable, "-c", code], check=False, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == variant


def test_a_bad_minigan_kernels_value_names_itself():
    env = dict(os.environ, MINIGAN_KERNELS="numba")
    run = subprocess.run([sys.executable, "-c", "import minigan"], check=False, env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode != 0
    assert "'numba'" in run.stderr and "MINIGAN_KERNELS" in run.stderr and "'reference'" in run.stderr


# ---- the variant chosen in forward is the one the backward uses ----

def _rng_arrays(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in shapes]


def _conv2d(x, W, b):
    return F.conv2d(x, W, b, stride=2, padding=1)


def _conv_transpose2d(x, W, b):
    return F.conv_transpose2d(x, W, b, stride=2, padding=1, output_padding=1)


def _batch_norm(x, gamma, beta):
    return F.batch_norm(x, None, None, gamma, beta, training=True)


def _batch_norm_relu(x, gamma, beta):
    return batch_norm_act(x, None, None, gamma, beta, training=True, negative_slope=0.2)


def _batch_norm_eval(x, gamma, beta):
    c = x.shape[1]
    return batch_norm_act(x, mg.zeros(c, dtype=x.dtype) + 0.1, mg.ones(c, dtype=x.dtype) * 2, gamma, beta,
                          training=False, negative_slope=0.0)


def _leaky_relu(x):
    return F.leaky_relu(x * 3 + 0.1, 0.2) * x


def _matmul(a, b):
    return a @ b


CASES = {  # name: (function, input shapes)
    "conv2d": (_conv2d, [(2, 3, 7, 6), (4, 3, 3, 3), (4,)]),
    "conv_transpose2d": (_conv_transpose2d, [(2, 3, 4, 5), (3, 4, 3, 3), (4,)]),
    "batch_norm": (_batch_norm, [(4, 3, 2, 2), (3,), (3,)]),
    "batch_norm_act": (_batch_norm_relu, [(4, 3, 2, 2), (3,), (3,)]),
    "batch_norm_eval": (_batch_norm_eval, [(4, 3, 2, 2), (3,), (3,)]),
    "leaky_relu": (_leaky_relu, [(3, 5)]),
    "matmul": (_matmul, [(3, 4), (4, 5)]),
}


def derivatives(fn, arrays, forward: str, backward: str) -> list[np.ndarray]:
    """The output, its gradient and a second derivative, the forward run under one kernel selection and every
    backward (of first and second order) under another."""
    xs = [mg.tensor(a, requires_grad=True) for a in arrays]
    with dispatch.use_kernels(forward):
        y = fn(*xs)
        gy = mg.tensor(np.linspace(-1, 1, y.numel()).reshape(y.shape), requires_grad=True)
    with dispatch.use_kernels(backward):
        grads = mg.grad(y, xs, gy, create_graph=True)
        second = mg.grad(sum((g * g).sum() for g in grads), xs + [gy], allow_unused=True)
    return [y.numpy()] + [g.numpy() for g in grads] + [g.numpy() for g in second if g is not None]


@pytest.mark.parametrize("case", CASES, ids=CASES)
@pytest.mark.parametrize(("forward", "backward"), [("fast", "reference"), ("reference", "fast")])
def test_switching_kernels_between_forward_and_backward(case, forward, backward):
    """Each node runs on the variant its forward chose, so switching the selection in between changes nothing
    beyond rounding (and conv2d's kept columns are read by the variant that wrote them)."""
    fn, shapes = CASES[case]
    arrays = _rng_arrays(*shapes)
    expected = derivatives(fn, arrays, "reference", "reference")
    actual = derivatives(fn, arrays, forward, backward)
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(a, e, rtol=1e-10, atol=1e-12)


def test_the_forward_variant_is_handed_to_the_gradient_functions():
    x = mg.randn(2, 3, 6, 6, requires_grad=True)
    W = mg.randn(4, 3, 3, 3, requires_grad=True)
    with dispatch.use_kernels("reference"):
        y = F.conv2d(x, W)
    assert y.grad_fn.variant == "reference"
    with dispatch.use_kernels("fast"):
        (gx,) = mg.grad(y.sum(), x, create_graph=True)
    assert gx.grad_fn.variant == "reference"
    assert type(y.grad_fn).__name__ == "Conv2dFunction"


def test_cuda_sources_are_given_to_cupy_whole(tmp_path):
    """CuPy compiles a source from one string: the loader inlines each quoted #include (once, however often it is
    included), so that no .cu of the kernels reaches the compiler with an #include left."""
    from minigan.kernels.cuda import source_text

    (tmp_path / "sub").mkdir()
    (tmp_path / "a.cuh").write_text("int a();\n")
    (tmp_path / "sub" / "b.cuh").write_text('#include "../a.cuh"\nint b();\n')
    (tmp_path / "sub" / "k.cu").write_text('#include "b.cuh"  // b, and a through it\n#include "../a.cuh"\nint k();\n')
    assert source_text(tmp_path / "sub" / "k.cu").split() == ["int", "a();", "int", "b();", "int", "k();"]
    for path in KERNELS.rglob("*.cu"):
        assert "#include" not in source_text(path), path
