"""matmul: every variant of kernels/matmul on every device present, against the reference; the reference against
PyTorch; and the @ operator and minigan.matmul through each variant, against finite differences.

An element of a @ b is a sum of K products (K the inner size), so the variants may differ from the reference by
rtol sqrt(K) max|a| max|b| (minigan.testing.tolerances); Hypothesis draws 1-D, 2-D and batched operands whose
batch dimensions broadcast, both dtypes, and a memory layout per operand.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigan as mg
from minigan import dispatch
from minigan.testing import amax, assert_close, assert_same_bits, check_function, place, sum_floor, untouched
from minigan.testing import values as v
from minigan.testing.strategies import dtypes, layouts, seeds, shapes

OPERATOR = "matmul"
reference = dispatch.kernel(OPERATOR, "reference")
KINDS = ["vector-vector", "vector-matrix", "matrix-vector", "matrix-matrix", "batched-batched", "vector-batched",
         "batched-vector", "matrix-batched", "batched-matrix"]


@st.composite
def operand_shapes(draw, kind: str, max_side: int = 3):
    """Operand shapes for 1-D, 2-D and batched products, batch dimensions broadcasting."""
    n, k, m = (draw(st.integers(1, max_side)) for _ in range(3))
    batch = draw(shapes(1, 2))

    def batch_of():
        lead = draw(st.integers(0, len(batch) - 1))
        return tuple(1 if draw(st.booleans()) else s for s in batch[lead:])

    left, right = kind.split("-")
    a = {"vector": (k,), "matrix": (n, k), "batched": batch_of() + (n, k)}[left]
    b = {"vector": (k,), "matrix": (k, m), "batched": batch_of() + (k, m)}[right]
    return a, b


@settings(max_examples=40)
@given(data=st.data(), kind=st.sampled_from([k for k in KINDS if "vector" not in k]), dtype=dtypes(),
       layout=st.tuples(layouts(), layouts()), seed=seeds())
def test_matches_the_reference(variant, device, data, kind, dtype, layout, seed):
    """The kernels take operands of two or more dimensions (the op handles vectors)."""
    a_shape, b_shape = data.draw(operand_shapes(kind, max_side=40))
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(a_shape).astype(dtype), rng.standard_normal(b_shape).astype(dtype)
    a_d, b_d = place(a, device, layout[0]), place(b, device, layout[1])
    with untouched(a_d, b_d):
        y = dispatch.kernel(OPERATOR, variant).matmul(a_d, b_d)
    assert_close(y, reference.matmul(a, b), sum_floor(a.shape[-1], amax(a) * amax(b)), kind, device=device)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_runs_are_bit_reproducible(variant, device, dtype):
    rng = np.random.default_rng(0)
    a, b = (place(rng.standard_normal(s), device, dtype=dtype) for s in ((300, 200), (200, 100)))
    kernel = dispatch.kernel(OPERATOR, variant)
    assert_same_bits(kernel.matmul(a, b), kernel.matmul(a, b), "a @ b")


@given(data=st.data(), kind=st.sampled_from([k for k in KINDS if "vector" not in k]), dtype=dtypes(), seed=seeds())
def test_reference_against_torch(torch_cpu, data, kind, dtype, seed):
    a_shape, b_shape = data.draw(operand_shapes(kind))
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(a_shape).astype(dtype), rng.standard_normal(b_shape).astype(dtype)
    expected = torch_cpu.matmul(torch_cpu.tensor(a), torch_cpu.tensor(b)).numpy()
    assert_close(reference.matmul(a, b), expected, sum_floor(a.shape[-1], amax(a) * amax(b)), kind)


# ---- through the @ operator and minigan.matmul ----

@st.composite
def operands(draw, kind: str):
    a_shape, b_shape = draw(operand_shapes(kind))
    rng = np.random.default_rng(draw(seeds()))
    return v.normal(rng, a_shape), v.normal(rng, b_shape)


def floor(a, b):
    return sum_floor(a.shape[-1], amax(a) * amax(b))


@pytest.mark.parametrize("kind", KINDS)
def test_gradients(variant, device, selected, kind):
    """a @ b: the forward, first and second derivatives; minigan.matmul: the forward and first derivatives."""
    check_function(lambda a, b: a @ b, np.matmul, operands(kind), floor=floor, device=device, max_examples=15)
    check_function(mg.matmul, np.matmul, operands(kind), floor=floor, device=device, second_order=False,
                   max_examples=5)


# ---- dtypes: matmul promotes neither operand, as in PyTorch ----

MIXED = [("int64", "float32"), ("float32", "int64"), ("float32", "float64"), ("float64", "float32")]
SHAPES = [((1, 2), (2, 1)), ((2,), (2,)), ((3, 1, 2), (2, 2))]


@pytest.mark.parametrize("a_dtype, b_dtype", MIXED)
@pytest.mark.parametrize("a_shape, b_shape", SHAPES)
def test_operands_of_different_dtypes_raise(a_dtype, b_dtype, a_shape, b_shape):
    a, b = mg.tensor(np.ones(a_shape, a_dtype)), mg.tensor(np.ones(b_shape, b_dtype))
    message = f"matmul: expected both operands to have the same dtype, got {a_dtype} and {b_dtype}"
    with pytest.raises(RuntimeError, match=message):
        a @ b
    with pytest.raises(RuntimeError, match=message):
        mg.matmul(a, b)


def test_integer_operands_give_an_integer_product():
    y = mg.tensor([[1, 2]]) @ mg.tensor([[3], [4]])
    assert y.dtype == np.int64 and y.tolist() == [[11]]


@pytest.mark.parametrize("a_dtype, b_dtype", MIXED + [("int64", "int64"), ("float32", "float32")])
@pytest.mark.parametrize("a_shape, b_shape", SHAPES)
def test_dtype_rule_matches_torch(torch_cpu, a_dtype, b_dtype, a_shape, b_shape):
    """Where PyTorch raises, minigan raises RuntimeError too; where it does not, both give the same product."""
    a, b = np.arange(np.prod(a_shape)).reshape(a_shape), np.arange(np.prod(b_shape)).reshape(b_shape)
    a, b = a.astype(a_dtype), b.astype(b_dtype)
    try:
        expected = (torch_cpu.from_numpy(a) @ torch_cpu.from_numpy(b)).numpy()
    except RuntimeError:
        expected = None
    if expected is None:
        with pytest.raises(RuntimeError, match="same dtype"):
            mg.tensor(a) @ mg.tensor(b)
    else:
        y = (mg.tensor(a) @ mg.tensor(b)).numpy()
        assert y.dtype == expected.dtype
        np.testing.assert_array_equal(y, expected)
