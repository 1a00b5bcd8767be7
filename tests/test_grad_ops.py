"""First and second derivatives of every differentiable op against central finite differences, in float64.

Hypothesis draws shapes, parameters, a memory layout and a seed; the values come from a NumPy generator seeded
with it and are kept away from kinks, ties and the edges of each function's domain. Inputs are laid out
contiguously, as transposed views, as reversed views (negative strides) or as every other element of a bigger
array, so that the backward passes see non-contiguous arrays too. The heavy operators (conv2d, conv_transpose2d,
batch norm with and without its fused activation, leaky ReLU and ReLU) are checked with both kernel sets: the
Numba kernels ('fast') and the NumPy references.
"""

import math

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

import minigan as mg
import minigan.nn.functional as F
from minigan.dispatch import KERNELS, use_kernels
from minigan.ops.batch_norm import batch_norm_act
from minigan.tensor import Tensor
from minigan.testing import gradcheck, gradgradcheck

seeds = st.integers(0, 2**32 - 1)
LAYOUTS = ["contiguous", "transposed", "reversed", "strided"]
layouts = st.sampled_from(LAYOUTS)
three_layouts = st.lists(layouts, min_size=3, max_size=3)


# ---- drawing values and laying them out ----

def lay_out(a: np.ndarray, layout: str) -> np.ndarray:
    """An array equal to a, stored as layout says; every layout but 'contiguous' gives a non-contiguous view."""
    if layout == "contiguous" or a.size <= 1:
        return a.copy()
    if layout == "transposed":
        out = np.ascontiguousarray(a.T).T
    elif layout == "reversed":
        out = np.ascontiguousarray(a[::-1])[::-1]
    else:
        out = None
    if out is None or out.flags.c_contiguous:
        big = np.full(tuple(2 * s for s in a.shape), np.nan)  # a read outside the view shows up as NaN
        out = big[tuple(slice(None, None, 2) for _ in a.shape)]
        out[...] = a
    assert not out.flags.c_contiguous and np.array_equal(out, a)
    return out


def leaf(a, layout: str = "contiguous") -> Tensor:
    """A float64 leaf that requires grad, holding a laid out as layout says (its .data is the view itself)."""
    return Tensor(lay_out(np.asarray(a, dtype=np.float64), layout), requires_grad=True)


def normal(rng, shape, scale: float = 1.0) -> np.ndarray:
    return scale * rng.standard_normal(shape)


def away(rng, shape, kink: float = 0.0, gap: float = 0.05, reach: float = 2.0) -> np.ndarray:
    """Values on both sides of kink, at a distance between gap and reach from it."""
    sign = np.where(rng.random(shape) < 0.5, -1.0, 1.0)
    return kink + sign * rng.uniform(gap, reach, shape)


def positive(rng, shape, low: float = 0.5, high: float = 2.0) -> np.ndarray:
    return rng.uniform(low, high, shape)


def distinct(rng, shape, spacing: float = 0.1) -> np.ndarray:
    """Values in random order, any two at least 0.8 * spacing apart (no ties)."""
    n = math.prod(shape)
    grid = (rng.permutation(n) - n / 2) * spacing + rng.uniform(0, 0.2 * spacing, n)
    return grid.reshape(shape)


def check(fn, inputs, second: bool = True) -> None:
    """fn's first derivatives, and its second ones unless second is False, match finite differences."""
    assert gradcheck(fn, inputs)
    if second:
        assert gradgradcheck(fn, inputs)


# ---- drawing shapes ----

def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 3):
    """Shapes of min_dims to max_dims dimensions; about half of them have two or more dimensions of size >= 2,
    which a transposed view really transposes."""
    any_shape = st.lists(st.integers(min_side, max_side), min_size=min_dims, max_size=max_dims).map(tuple)
    low_dims, low_side = max(min_dims, 2), max(min_side, 2)
    if low_dims > max_dims or low_side > max_side:
        return any_shape
    full = st.integers(low_dims, max_dims).flatmap(
        lambda n: st.lists(st.integers(low_side, max_side), min_size=n, max_size=n).map(tuple))
    return any_shape | full


@st.composite
def broadcast_pairs(draw, max_dims: int = 3):
    """Two shapes that broadcast together: leading dimensions dropped, some sides set to 1."""
    shape = draw(shapes(0, max_dims))

    def operand():
        lead = draw(st.integers(0, len(shape)))
        return tuple(1 if draw(st.booleans()) else s for s in shape[lead:])

    return operand(), operand()


@st.composite
def dims_of(draw, ndim: int, allow_none: bool = True):
    """None, one dimension (maybe negative) or a tuple of distinct dimensions of an ndim-dimensional tensor."""
    if ndim == 0:
        return None
    kinds = ["int", "tuple"] + (["none"] if allow_none else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "none":
        return None
    if kind == "int":
        return draw(st.integers(-ndim, ndim - 1))
    dims = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    return tuple(d - ndim if draw(st.booleans()) else d for d in dims)


def reduced_count(shape: tuple, dim) -> int:
    """How many elements a reduction over dim combines."""
    if dim is None:
        return math.prod(shape)
    dims = (dim,) if isinstance(dim, int) else dim
    return math.prod(shape[d] for d in dims)


# ---- arithmetic ----

BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a.add(b)),
    "sub": (lambda a, b: a - b, lambda a, b: a.sub(b)),
    "mul": (lambda a, b: a * b, lambda a, b: a.mul(b)),
    "div": (lambda a, b: a / b, lambda a, b: a.div(b)),
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", sorted(BINARY))
@given(pair=broadcast_pairs(), seed=seeds, other=layouts)
def test_binary_arithmetic(name, layout, pair, seed, other):
    """+ - * / (operators and methods) on tensors whose shapes broadcast."""
    rng = np.random.default_rng(seed)
    a = leaf(normal(rng, pair[0]), layout)
    b = leaf(away(rng, pair[1], 0, 0.5) if name == "div" else normal(rng, pair[1]), other)
    operator, method = BINARY[name]
    check(operator, [a, b])
    check(method, [a, b], second=False)


SCALAR_OPS = {
    "x + s": lambda x, s: x + s,
    "s + x": lambda x, s: s + x,
    "x - s": lambda x, s: x - s,
    "s - x": lambda x, s: s - x,
    "x * s": lambda x, s: x * s,
    "s * x": lambda x, s: s * x,
    "x / s": lambda x, s: x / s,
    "s / x": lambda x, s: s / x,
    "-x": lambda x, s: -x,
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", sorted(SCALAR_OPS))
@given(shape=shapes(), s=st.floats(0.5, 3.0) | st.floats(-3.0, -0.5), seed=seeds)
def test_arithmetic_with_python_scalars(name, layout, shape, s, seed):
    """Python numbers on either side of an operator, and negation."""
    rng = np.random.default_rng(seed)
    x = leaf(away(rng, shape, 0, 0.5), layout)
    check(lambda x: SCALAR_OPS[name](x, s), [x])


@pytest.mark.parametrize("layout", LAYOUTS)
@given(shape=shapes(), p=st.integers(-3, 3) | st.floats(-2.5, 2.5), seed=seeds)
def test_pow_tensor_scalar(layout, shape, p, seed):
    """x ** p: any base for an integer p, positive bases otherwise."""
    rng = np.random.default_rng(seed)
    x = away(rng, shape, 0, 0.4) if isinstance(p, int) else positive(rng, shape, 0.4)
    check(lambda x: x ** p, [leaf(x, layout)])


@pytest.mark.parametrize("layout", LAYOUTS)
@given(pair=broadcast_pairs(), seed=seeds, other=layouts)
def test_pow_tensor_tensor(layout, pair, seed, other):
    """a ** b with both differentiated; positive bases, shapes that broadcast."""
    rng = np.random.default_rng(seed)
    a = leaf(positive(rng, pair[0], 0.4), layout)
    b = leaf(normal(rng, pair[1]), other)
    check(lambda a, b: a ** b, [a, b])
    check(lambda a, b: a.pow(b), [a, b], second=False)


@pytest.mark.parametrize("layout", LAYOUTS)
@given(shape=shapes(), base=st.floats(0.2, 3.0), seed=seeds)
def test_pow_scalar_tensor(layout, shape, base, seed):
    """s ** x for a positive Python number s."""
    rng = np.random.default_rng(seed)
    check(lambda x: base ** x, [leaf(normal(rng, shape), layout)])


MATMUL_KINDS = ["vector-vector", "vector-matrix", "matrix-vector", "matrix-matrix", "batched-batched",
                "vector-batched", "batched-vector", "matrix-batched", "batched-matrix"]


@st.composite
def matmul_shapes(draw, kind: str):
    """Operand shapes for 1-D, 2-D and batched products, batch dimensions broadcasting."""
    n, k, m = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    batch = draw(shapes(1, 2))

    def batch_of():
        lead = draw(st.integers(0, len(batch) - 1))
        return tuple(1 if draw(st.booleans()) else s for s in batch[lead:])

    left, right = kind.split("-")
    a = {"vector": (k,), "matrix": (n, k), "batched": batch_of() + (n, k)}[left]
    b = {"vector": (k,), "matrix": (k, m), "batched": batch_of() + (k, m)}[right]
    return a, b


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("kind", MATMUL_KINDS)
@settings(max_examples=15)
@given(data=st.data(), seed=seeds, other=layouts)
def test_matmul(kind, layout, data, seed, other):
    rng = np.random.default_rng(seed)
    a_shape, b_shape = data.draw(matmul_shapes(kind))
    a, b = leaf(normal(rng, a_shape), layout), leaf(normal(rng, b_shape), other)
    check(lambda a, b: a @ b, [a, b])
    check(mg.matmul, [a, b], second=False)


# ---- elementwise functions ----

UNARY = {
    "exp": (lambda x: x.exp(), lambda rng, s: normal(rng, s)),
    "log": (mg.log, lambda rng, s: positive(rng, s, 0.3, 3.0)),
    "sqrt": (lambda x: x.sqrt(), lambda rng, s: positive(rng, s, 0.3, 3.0)),
    "abs": (mg.abs, lambda rng, s: away(rng, s)),
    "abs operator": (abs, lambda rng, s: away(rng, s)),
    "tanh": (F.tanh, lambda rng, s: normal(rng, s, 2.0)),
    "sigmoid": (F.sigmoid, lambda rng, s: normal(rng, s, 3.0)),
    "relu": (F.relu, lambda rng, s: away(rng, s)),
    "relu method": (lambda x: x.relu(), lambda rng, s: away(rng, s)),
    "neg": (mg.ops.neg, lambda rng, s: normal(rng, s)),
}


ON_KERNELS = {"relu", "relu method"}  # the unary ops computed by kernels/ (leaky_relu), checked on both sets


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize(("name", "kernels"),
                         [(name, k) for name in sorted(UNARY) for k in KERNELS if k == "fast" or name in ON_KERNELS])
@given(shape=shapes(), seed=seeds)
def test_unary(name, kernels, layout, shape, seed):
    """exp, log, sqrt, abs, tanh, sigmoid, relu and negation, inside each one's domain and away from kinks."""
    fn, values = UNARY[name]
    with use_kernels(kernels):
        check(fn, [leaf(values(np.random.default_rng(seed), shape), layout)])


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("layout", LAYOUTS)
@given(shape=shapes(), slope=st.floats(-1.0, 2.0), seed=seeds)
def test_leaky_relu(layout, kernels, shape, slope, seed):
    rng = np.random.default_rng(seed)
    with use_kernels(kernels):
        check(lambda x: F.leaky_relu(x, slope), [leaf(away(rng, shape), layout)])


@pytest.mark.parametrize("layout", LAYOUTS)
@given(shape=shapes(), beta=st.floats(0.5, 3.0), threshold=st.floats(0.5, 20.0), seed=seeds)
def test_softplus(layout, shape, beta, threshold, seed):
    """The smooth region and the linear one above threshold / beta, at least 0.05 from the switch."""
    rng = np.random.default_rng(seed)
    x = away(rng, shape, threshold / beta, 0.05, 3.0)
    check(lambda x: F.softplus(x, beta, threshold), [leaf(x, layout)])


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("bounds", ["min", "max", "both"])
@given(shape=shapes(), lo=st.floats(-1.5, 0.5), width=st.floats(0.2, 2.0), seed=seeds)
def test_clamp(bounds, layout, shape, lo, width, seed):
    """clamp with min, max or both; inputs at least 0.05 from either bound."""
    hi = lo + width
    rng = np.random.default_rng(seed)
    x = normal(rng, shape, 2.0)
    for bound in (lo, hi):
        x = np.where(np.abs(x - bound) < 0.05, bound + np.copysign(0.1, x - bound), x)
    assert np.all(np.abs(x - lo) >= 0.05) and np.all(np.abs(x - hi) >= 0.05)
    lo, hi = (lo if bounds != "max" else None), (hi if bounds != "min" else None)
    check(lambda x: x.clamp(lo, hi), [leaf(x, layout)])
    check(lambda x: mg.clamp(x, min=lo, max=hi), [leaf(x, layout)], second=False)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("scalar", ["none", "a", "b"])
@given(pair=broadcast_pairs(), cond_lead=st.integers(0, 3), cond_wider=st.booleans(), seed=seeds, other=layouts)
def test_where(scalar, layout, pair, cond_lead, cond_wider, seed, other):
    """where(condition, a, b) with all three broadcasting (the condition maybe the widest), or a Python number."""
    rng = np.random.default_rng(seed)
    out_shape = np.broadcast_shapes(*pair)
    cond = rng.random((2, *out_shape) if cond_wider else out_shape[min(cond_lead, len(out_shape)):]) < 0.5
    a, b = leaf(normal(rng, pair[0]), layout), leaf(normal(rng, pair[1]), other)
    if scalar == "a":
        check(lambda b: mg.where(mg.tensor(cond), 1.5, b), [b])
    elif scalar == "b":
        check(lambda a: mg.where(cond, a, -0.5), [a])
    else:
        check(lambda a, b: mg.where(mg.tensor(cond), a, b), [a, b])


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("which", ["maximum", "minimum"])
@given(pair=broadcast_pairs(), seed=seeds, other=layouts)
def test_maximum_minimum(which, layout, pair, seed, other):
    """Elementwise max and min; the two operands never within 0.06 of each other (no ties)."""
    rng = np.random.default_rng(seed)
    a = leaf(0.2 * rng.integers(-5, 5, pair[0]) + 0.1 + rng.uniform(-0.02, 0.02, pair[0]), layout)
    b = leaf(0.2 * rng.integers(-5, 5, pair[1]) + rng.uniform(-0.02, 0.02, pair[1]), other)
    check(getattr(mg, which), [a, b])
    check(lambda a, b: getattr(a, which)(b), [a, b], second=False)


# ---- reductions ----

@st.composite
def reductions(draw, min_side: int = 1):
    """A shape, the dims to reduce (None, an int or a tuple) and keepdim."""
    shape = draw(shapes(0, 3, min_side))
    return shape, draw(dims_of(len(shape))), draw(st.booleans())


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("which", ["sum", "mean"])
@given(case=reductions(), seed=seeds)
def test_sum_mean(which, layout, case, seed):
    shape, dim, keepdim = case
    x = leaf(normal(np.random.default_rng(seed), shape), layout)
    check(lambda x: getattr(x, which)(dim, keepdim), [x])
    check(lambda x: getattr(mg, which)(x, dim, keepdim), [x], second=False)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("unbiased", [True, False])
@pytest.mark.parametrize("which", ["var", "std"])
@given(case=reductions(), seed=seeds)
def test_var_std(which, unbiased, layout, case, seed):
    """var and std over dims, biased or not; at least two distinct values in every reduced group."""
    shape, dim, keepdim = case
    assume(reduced_count(shape, dim) >= 2)
    x = leaf(distinct(np.random.default_rng(seed), shape, 0.3), layout)
    check(lambda x: getattr(x, which)(dim, unbiased, keepdim), [x])
    check(lambda x: getattr(mg, which)(x, dim, unbiased=unbiased, keepdim=keepdim), [x], second=False)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("which", ["max", "min"])
@given(shape=shapes(0, 3), seed=seeds)
def test_max_min_full(which, layout, shape, seed):
    """The largest or smallest of distinct values."""
    x = leaf(distinct(np.random.default_rng(seed), shape), layout)
    check(lambda x: getattr(x, which)(), [x])
    check(lambda x: getattr(mg, which)(x), [x], second=False)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("which", ["max", "min"])
@given(shape=shapes(1, 3), keepdim=st.booleans(), data=st.data(), seed=seeds)
def test_max_min_dim(which, layout, shape, keepdim, data, seed):
    """Values along a dimension (the indices carry no gradient)."""
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = leaf(distinct(np.random.default_rng(seed), shape), layout)
    check(lambda x: getattr(x, which)(dim, keepdim).values, [x])
    check(lambda x: getattr(mg, which)(x, dim, keepdim)[0], [x], second=False)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("which", ["log_softmax", "softmax"])
@given(shape=shapes(1, 3), data=st.data(), seed=seeds)
def test_softmax(which, layout, shape, data, seed):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = leaf(normal(np.random.default_rng(seed), shape, 3.0), layout)
    check(lambda x: getattr(F, which)(x, dim), [x])
    check(lambda x: getattr(x, which)(dim), [x], second=False)


@pytest.mark.parametrize("layout", LAYOUTS)
@given(shape=shapes(1, 3), data=st.data(), keepdim=st.booleans(), seed=seeds)
def test_logsumexp(layout, shape, data, keepdim, seed):
    dim = data.draw(dims_of(len(shape), allow_none=False))
    x = leaf(normal(np.random.default_rng(seed), shape, 3.0), layout)
    check(lambda x: mg.logsumexp(x, dim, keepdim), [x])


# ---- shapes ----

SHAPE_OPS = {  # name: the fewest dimensions it applies to
    "reshape": 0, "reshape -1": 0, "view": 0, "view_as": 0, "flatten": 0, "squeeze": 0, "unsqueeze": 0, "T": 0,
    "clone": 0, "flatten dims": 1, "squeeze dim": 1, "transpose": 1, "permute": 1, "mT": 2,
}


def shape_op(name: str, shape: tuple, draw):
    """The shape operation called name, with its arguments drawn for an input of this shape."""
    nd = len(shape)
    dim = st.integers(-max(nd, 1), max(nd, 1) - 1)
    if name == "reshape":
        return lambda x: x.reshape(tuple(reversed(shape)))
    if name == "reshape -1":
        return lambda x: mg.reshape(x, -1, 1)
    if name == "view":
        return lambda x: x.view(1, math.prod(shape))
    if name == "view_as":
        return lambda x: x.view_as(mg.zeros(math.prod(shape)))
    if name == "flatten":
        return lambda x: x.flatten()
    if name == "squeeze":
        return lambda x: x.squeeze()
    if name == "unsqueeze":
        d = draw(st.integers(-nd - 1, nd))
        return lambda x: x.unsqueeze(d)
    if name == "T":
        return lambda x: x.T
    if name == "clone":
        return lambda x: x.clone()
    if name == "flatten dims":
        start, end = sorted((draw(st.integers(0, nd - 1)), draw(st.integers(0, nd - 1))))
        return lambda x: mg.flatten(x, start, end - nd)
    if name == "squeeze dim":
        d = draw(dim)
        return lambda x: mg.squeeze(x, d)
    if name == "transpose":
        d0, d1 = draw(dim), draw(dim)
        return lambda x: mg.transpose(x, d0, d1)
    if name == "permute":
        perm = draw(st.permutations(range(nd)))
        return lambda x: x.permute(*perm)
    assert name == "mT"
    return lambda x: x.mT


@st.composite
def expand_cases(draw):
    """An input shape with some sides 1 and the sizes to expand it to (new leading sides, -1 for kept ones)."""
    shape = draw(shapes(0, 3))
    small = tuple(1 if draw(st.booleans()) else s for s in shape)
    lead = tuple(draw(shapes(0, 2, 1, 3)))
    sizes = lead + tuple(-1 if s == t and draw(st.booleans()) else t for s, t in zip(small, shape))
    return small, sizes


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", sorted(SHAPE_OPS))
@given(data=st.data(), seed=seeds)
def test_shape_ops(name, layout, data, seed):
    """reshape, view, flatten, squeeze, unsqueeze, transpose, permute, T, mT, clone."""
    shape = data.draw(shapes(SHAPE_OPS[name], 4))
    fn = shape_op(name, shape, data.draw)
    check(fn, [leaf(normal(np.random.default_rng(seed), shape), layout)])


@pytest.mark.parametrize("layout", LAYOUTS)
@given(case=expand_cases(), seed=seeds)
def test_expand(layout, case, seed):
    """expand (and expand_as) sum the gradient back over the broadcast sides."""
    small, sizes = case
    x = leaf(normal(np.random.default_rng(seed), small), layout)
    check(lambda x: x.expand(*sizes), [x])
    full = x.expand(sizes).shape
    check(lambda x: x.expand_as(mg.zeros(full)), [x], second=False)


@pytest.mark.parametrize("layout", LAYOUTS)
@given(shape=shapes(1, 3), count=st.integers(1, 3), data=st.data(), seed=seeds, others=three_layouts)
def test_cat(layout, shape, count, data, seed, others):
    """cat of tensors of different sizes along the joined dimension."""
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    rng = np.random.default_rng(seed)
    parts = []
    for k in range(count):
        part = list(shape)
        part[dim] = data.draw(st.integers(1, 3))
        parts.append(leaf(normal(rng, tuple(part)), layout if k == 0 else others[k]))
    check(lambda *xs: mg.cat(xs, dim), parts)


@pytest.mark.parametrize("layout", LAYOUTS)
@given(shape=shapes(0, 3), count=st.integers(1, 3), data=st.data(), seed=seeds, others=three_layouts)
def test_stack(layout, shape, count, data, seed, others):
    dim = data.draw(st.integers(-len(shape) - 1, len(shape)))
    rng = np.random.default_rng(seed)
    parts = [leaf(normal(rng, shape), layout if k == 0 else others[k]) for k in range(count)]
    check(lambda *xs: mg.stack(list(xs), dim), parts)


# ---- indexing ----

@st.composite
def basic_indices(draw, shape):
    """Integers, slices (with steps, negative ones too), None and an Ellipsis."""
    parts = []
    for size in shape:
        kind = draw(st.sampled_from(["int", "slice", "all"]))
        if kind == "int":
            parts.append(draw(st.integers(-size, size - 1)))
        elif kind == "slice":
            bound = st.none() | st.integers(-size - 1, size + 1)
            parts.append(slice(draw(bound), draw(bound), draw(st.sampled_from([None, 1, 2, 3, -1, -2]))))
        else:
            parts.append(slice(None))
    if parts and draw(st.booleans()):
        a = draw(st.integers(0, len(parts)))
        b = draw(st.integers(a, len(parts)))
        parts = parts[:a] + [Ellipsis] + parts[b:]
    for _ in range(draw(st.integers(0, 2))):
        parts.insert(draw(st.integers(0, len(parts))), None)
    return tuple(parts) if len(parts) != 1 or draw(st.booleans()) else parts[0]


@pytest.mark.parametrize("layout", LAYOUTS)
@given(shape=shapes(1, 3, 1, 4), data=st.data(), seed=seeds)
def test_basic_indexing(layout, shape, data, seed):
    index = data.draw(basic_indices(shape))
    x = leaf(normal(np.random.default_rng(seed), shape), layout)
    check(lambda x: x[index], [x])


@st.composite
def advanced_indices(draw, shape):
    """Integer arrays (each with a repeated entry) on some dimensions, slices or integers on the others."""
    rng = np.random.default_rng(draw(seeds))
    index_shape = draw(shapes(1, 2, 2, 3))
    parts = []
    for size in shape:
        kind = draw(st.sampled_from(["array", "array", "slice", "int"]))
        if kind == "array":
            idx = rng.integers(-size, size, index_shape)
            idx.flat[1] = idx.flat[0]  # a repeated index
            form = draw(st.sampled_from(["numpy", "tensor", "list"]))
            parts.append(mg.tensor(idx) if form == "tensor" else idx.tolist() if form == "list" else idx)
        elif kind == "slice":
            parts.append(slice(None, None, draw(st.sampled_from([1, 2, -1]))))
        else:
            parts.append(draw(st.integers(-size, size - 1)))
    if not any(isinstance(p, (np.ndarray, list, Tensor)) for p in parts):
        idx = rng.integers(0, shape[0], index_shape)
        idx.flat[1] = idx.flat[0]
        parts[0] = idx
    return tuple(parts) if len(parts) > 1 or draw(st.booleans()) else parts[0]


@pytest.mark.parametrize("layout", LAYOUTS)
@given(shape=shapes(1, 3, 1, 4), data=st.data(), seed=seeds)
def test_integer_array_indexing(layout, shape, data, seed):
    """Gathering with repeated indices adds their gradients up."""
    index = data.draw(advanced_indices(shape))
    x = leaf(normal(np.random.default_rng(seed), shape), layout)
    check(lambda x: x[index], [x])


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("rest", ["none", "slice", "ellipsis"])
@given(shape=shapes(1, 3, 1, 4), mask_dims=st.integers(1, 3), as_tensor=st.booleans(), seed=seeds)
def test_boolean_mask_indexing(rest, layout, shape, mask_dims, as_tensor, seed):
    """A boolean mask over the leading dimensions, maybe followed by a reversing slice or an Ellipsis."""
    rng = np.random.default_rng(seed)
    k = min(mask_dims, len(shape))
    mask = rng.random(shape[:k]) < 0.5
    index = mg.tensor(mask) if as_tensor else mask
    if rest == "slice" and k < len(shape):
        index = (index, slice(None, None, -1))
    elif rest == "ellipsis":
        index = (index, Ellipsis)
    x = leaf(normal(rng, shape), layout)
    check(lambda x: x[index], [x])


# ---- conv2d and conv_transpose2d ----

@st.composite
def conv2d_cases(draw):
    """Sizes, strides, paddings and dilations of a valid conv2d, down to 1x1 images and oversized kernels."""
    n, c_in, c_out = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    size = []
    for k, p, d in zip(kernel, padding, dilation):
        smallest = max(1, d * (k - 1) + 1 - 2 * p)
        size.append(draw(st.integers(smallest, smallest + 3)))
    return (n, c_in, *size), (c_out, c_in, *kernel), stride, padding, dilation


def conv_leaves(rng, x_shape, w_shape, bias_size, layout, others):
    x = leaf(normal(rng, x_shape), layout)
    W = leaf(normal(rng, w_shape, 0.5), others[0])
    b = leaf(normal(rng, bias_size), others[1]) if bias_size else None
    return [x, W] + ([b] if bias_size else [])


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("bias", [True, False])
@settings(max_examples=20)
@given(case=conv2d_cases(), seed=seeds, others=three_layouts)
@example(case=((1, 1, 1, 1), (1, 1, 3, 3), (1, 1), (1, 1), (1, 1)), seed=0, others=LAYOUTS[:3])  # 1x1 image
@example(case=((2, 2, 2, 3), (3, 2, 3, 3), (2, 1), (2, 2), (2, 2)), seed=1, others=LAYOUTS[1:])  # kernel > image
@example(case=((1, 1, 2, 2), (1, 1, 1, 1), (3, 3), (0, 0), (1, 1)), seed=2, others=LAYOUTS[:3])  # stride > image
def test_conv2d(bias, layout, kernels, case, seed, others):
    x_shape, w_shape, stride, padding, dilation = case
    inputs = conv_leaves(np.random.default_rng(seed), x_shape, w_shape, bias and w_shape[0], layout, others)
    with use_kernels(kernels):
        check(lambda x, W, b=None: F.conv2d(x, W, b, stride, padding, dilation), inputs)


@st.composite
def conv_transpose2d_cases(draw):
    """Valid conv_transpose2d settings: output_padding < max(stride, dilation), a non-empty output."""
    n, c_in, c_out = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    size, kernel, stride, padding, out_pad, dilation = [], [], [], [], [], []
    for _ in range(2):
        h, k = draw(st.integers(1, 4)), draw(st.integers(1, 3))
        s, d = draw(st.integers(1, 3)), draw(st.integers(1, 2))
        o = draw(st.integers(0, max(s, d) - 1))
        room = (h - 1) * s + d * (k - 1) + o  # the output has room - 2 p + 1 >= 1 elements
        p = draw(st.integers(0, min(2, room // 2)))
        for values, v in zip((size, kernel, stride, padding, out_pad, dilation), (h, k, s, p, o, d)):
            values.append(v)
    return ((n, c_in, *size), (c_in, c_out, *kernel), tuple(stride), tuple(padding), tuple(out_pad),
            tuple(dilation))


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("bias", [True, False])
@settings(max_examples=20)
@given(case=conv_transpose2d_cases(), seed=seeds, others=three_layouts)
@example(case=((1, 1, 1, 1), (1, 2, 3, 3), (2, 2), (1, 1), (1, 1), (1, 1)), seed=0, others=LAYOUTS[:3])  # 1x1 input
@example(case=((2, 2, 3, 2), (2, 1, 2, 2), (1, 1), (0, 1), (1, 1), (2, 2)), seed=1,
         others=LAYOUTS[1:])  # output_padding >= stride, allowed by dilation 2
def test_conv_transpose2d(bias, layout, kernels, case, seed, others):
    x_shape, w_shape, stride, padding, out_pad, dilation = case
    inputs = conv_leaves(np.random.default_rng(seed), x_shape, w_shape, bias and w_shape[1], layout, others)
    with use_kernels(kernels):
        check(lambda x, W, b=None: F.conv_transpose2d(x, W, b, stride, padding, out_pad, dilation), inputs)


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("layout", LAYOUTS)
@settings(max_examples=8)
@given(case=conv2d_cases(), bias=st.booleans(), seed=seeds, others=three_layouts)
def test_conv2d_third_order(layout, kernels, case, bias, seed, others):
    """Second derivatives of conv2d's own create_graph gradient: third derivatives of a quartic in (x, W)."""
    x_shape, w_shape, stride, padding, dilation = case
    inputs = conv_leaves(np.random.default_rng(seed), x_shape, w_shape, bias and w_shape[0], layout, others)

    def gradient(*inputs):
        y = F.conv2d(*inputs, stride=stride, padding=padding, dilation=dilation)
        return mg.grad((y * y).sum(), list(inputs), create_graph=True)

    with use_kernels(kernels):
        assert gradgradcheck(gradient, inputs)


# ---- batch norm ----

@st.composite
def batch_norm_shapes(draw, ndim: int):
    """(N, C), (N, C, L) or (N, C, H, W) with at least two values per channel."""
    spatial = tuple(draw(st.integers(1, 3)) for _ in range(ndim - 2))
    n = draw(st.integers(1 if math.prod(spatial) > 1 else 2, 3))
    return (n, draw(st.integers(1, 3)), *spatial)


def batch_norm_leaves(rng, shape, affine, layout):
    x = leaf(distinct(rng, shape, 0.3), layout)
    c = shape[1]
    w = leaf(positive(rng, c), layout) if affine else None
    b = leaf(normal(rng, c), layout) if affine else None
    return x, w, b


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("ndim", [2, 3, 4])
@settings(max_examples=15)
@given(data=st.data(), running=st.booleans(), seed=seeds)
def test_batch_norm_training(ndim, affine, layout, kernels, data, running, seed):
    """Batch statistics; with and without weight and bias, with and without running statistics to update."""
    shape = data.draw(batch_norm_shapes(ndim))
    x, w, b = batch_norm_leaves(np.random.default_rng(seed), shape, affine, layout)
    c = shape[1]

    def fn(x, w=None, b=None):
        mean = mg.zeros(c, dtype=mg.float64) if running else None
        var = mg.ones(c, dtype=mg.float64) if running else None
        return F.batch_norm(x, mean, var, w, b, training=True)

    with use_kernels(kernels):
        check(fn, [x, w, b] if affine else [x])


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("ndim", [2, 3, 4])
@settings(max_examples=15)
@given(data=st.data(), seed=seeds)
def test_batch_norm_eval(ndim, affine, layout, kernels, data, seed):
    """Running statistics: an affine map of x, weight and bias."""
    shape = data.draw(batch_norm_shapes(ndim))
    rng = np.random.default_rng(seed)
    x, w, b = batch_norm_leaves(rng, shape, affine, layout)
    c = shape[1]
    mean, var = mg.tensor(normal(rng, c)), mg.tensor(positive(rng, c))
    with use_kernels(kernels):
        check(lambda x, w=None, b=None: F.batch_norm(x, mean, var, w, b, training=False, eps=1e-3),
              [x, w, b] if affine else [x])


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("ndim", [2, 4])
@settings(max_examples=8)
@given(data=st.data(), seed=seeds)
def test_batch_norm_third_order(ndim, layout, kernels, data, seed):
    """Second derivatives of batch norm's own create_graph gradient (with respect to x, weight and gy)."""
    shape = data.draw(batch_norm_shapes(ndim))
    rng = np.random.default_rng(seed)
    x, w, b = batch_norm_leaves(rng, shape, True, layout)
    gy = leaf(normal(rng, shape))

    def gradient(x, w, b, gy):
        y = F.batch_norm(x, None, None, w, b, training=True)
        return mg.grad(y, [x, w], grad_outputs=gy, create_graph=True)

    with use_kernels(kernels):
        assert gradgradcheck(gradient, [x, w, b, gy])


def per_channel(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """A (C,) array shaped to broadcast against an (N, C, ...) array x."""
    return a.reshape((1, -1) + (1,) * (x.ndim - 2))


def kink_free_bias(rng, x_hat: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """A bias per channel that keeps z = gamma x_hat + bias away from 0 (gamma > 0): -bias / gamma falls midway
    between two neighbouring values of x_hat in the channel, or beyond all of them."""
    bias = np.empty(x_hat.shape[1])
    for c in range(x_hat.shape[1]):
        values = np.sort(x_hat[:, c].ravel())
        thresholds = np.concatenate([[values[0] - 0.5], (values[1:] + values[:-1]) / 2, [values[-1] + 0.5]])
        bias[c] = -gamma[c] * rng.choice(thresholds)
    return bias


def batch_norm_act_leaves(rng, shape, training: bool, layout: str, eps: float):
    """x, weight, bias and the running statistics for batch_norm_act, every pre-activation gamma x_hat + beta
    more than 1e-3 from the kink (far beyond the finite differences' steps); in training the batch statistics
    normalise x, in evaluation the running ones."""
    c = shape[1]
    gamma = positive(rng, c)
    if training:
        x = distinct(rng, shape, 0.3)
        axes = (0,) + tuple(range(2, x.ndim))
        x_hat = (x - x.mean(axes, keepdims=True)) / np.sqrt(x.var(axes, keepdims=True) + eps)
        beta = kink_free_bias(rng, x_hat, gamma)
        running = (None, None)
    else:
        running_mean, running_var, beta = normal(rng, c), positive(rng, c), normal(rng, c)
        z = away(rng, shape, 0.0, 0.05)  # the pre-activation, and x solved from it
        x_hat = (z - per_channel(beta, z)) / per_channel(gamma, z)
        x = per_channel(running_mean, z) + x_hat * per_channel(np.sqrt(running_var + eps), z)
        running = (mg.tensor(running_mean), mg.tensor(running_var))
    assert np.abs(per_channel(gamma, x) * x_hat + per_channel(beta, x)).min() > 1e-3
    return leaf(x, layout), leaf(gamma, layout), leaf(beta, layout), running


slopes = st.sampled_from([0.0, 0.2]) | st.floats(-1.0, 2.0)


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("ndim", [2, 3, 4])
@settings(max_examples=10)
@given(data=st.data(), slope=slopes, layout=layouts, seed=seeds)
def test_batch_norm_act(ndim, training, kernels, data, slope, layout, seed):
    """Batch norm fused with a leaky ReLU (slope 0: ReLU), with batch or running statistics, off the kink."""
    shape = data.draw(batch_norm_shapes(ndim))
    x, w, b, (mean, var) = batch_norm_act_leaves(np.random.default_rng(seed), shape, training, layout, 1e-3)
    with use_kernels(kernels):
        check(lambda x, w, b: batch_norm_act(x, mean, var, w, b, training, eps=1e-3, negative_slope=slope), [x, w, b])


def first_and_second_derivatives(fn, inputs, seed: int):
    """fn's value, the gradient of <gy, fn> with respect to inputs, and the gradient of <v, that gradient> with
    respect to inputs and gy, for gy and v drawn from seed (None where a derivative is zero)."""
    rng = np.random.default_rng(seed)
    y = fn(*inputs)
    gy = Tensor(rng.standard_normal(y.shape), requires_grad=True)
    first = mg.grad(y, inputs, gy, create_graph=True)
    second = mg.grad(sum((g * Tensor(rng.standard_normal(g.shape))).sum() for g in first), inputs + [gy],
                     allow_unused=True)
    return [y.numpy()] + [g.numpy() for g in first] + [None if g is None else g.numpy() for g in second]


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("ndim", [2, 4])
@settings(max_examples=10)
@given(data=st.data(), slope=slopes, layout=layouts, seed=seeds)
def test_batch_norm_act_is_leaky_relu_of_batch_norm(ndim, training, kernels, data, slope, layout, seed):
    """The fused form equals leaky_relu(batch_norm(x)) in value, first and second derivatives, and (in training)
    in the running statistics it updates."""
    shape = data.draw(batch_norm_shapes(ndim))
    x, w, b, statistics = batch_norm_act_leaves(np.random.default_rng(seed), shape, training, layout, 1e-5)
    if training:  # one pair of running statistics for each form to update
        c = shape[1]
        running = [(mg.zeros(c, dtype=mg.float64), mg.ones(c, dtype=mg.float64)) for _ in range(2)]
    else:
        running = [statistics, statistics]
    with use_kernels(kernels):
        fused = first_and_second_derivatives(
            lambda x, w, b: batch_norm_act(x, *running[0], w, b, training, negative_slope=slope), [x, w, b], seed)
        apart = first_and_second_derivatives(
            lambda x, w, b: F.leaky_relu(F.batch_norm(x, *running[1], w, b, training), slope), [x, w, b], seed)
    names = ["y", "gx", "gweight", "gbias", "ggx", "ggweight", "ggbias", "ggy"]
    for name, a, e in zip(names, fused, apart, strict=True):
        assert (a is None) == (e is None), name
        if e is not None:
            np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-12 * max(np.abs(e).max(), 1.0), err_msg=name)
    for a, e in zip(*running, strict=True):
        np.testing.assert_allclose(a.numpy(), e.numpy(), rtol=1e-12, atol=1e-12, err_msg="running statistics")


# ---- losses ----

REDUCTIONS = ["mean", "sum", "none"]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weights", ["none", "weight", "pos_weight", "both"])
@settings(max_examples=15)
@given(shape=shapes(1, 2), hard=st.booleans(), full_weight=st.booleans(), seed=seeds)
def test_binary_cross_entropy_with_logits(weights, reduction, layout, shape, hard, full_weight, seed):
    """Gradients with respect to the logits, the targets, weight and pos_weight (broadcast over the last axis)."""
    rng = np.random.default_rng(seed)
    inputs = [leaf(normal(rng, shape, 3.0), layout), leaf((rng.random(shape) < 0.5) if hard else rng.random(shape))]
    weighted, pos_weighted = weights in ("weight", "both"), weights in ("pos_weight", "both")
    if weighted:
        inputs.append(leaf(positive(rng, shape if full_weight else shape[-1:]), layout))
    if pos_weighted:
        inputs.append(leaf(positive(rng, shape[-1:]), layout))

    def fn(x, t, *rest):
        w = rest[0] if weighted else None
        p = rest[-1] if pos_weighted else None
        return F.binary_cross_entropy_with_logits(x, t, w, reduction, pos_weight=p)

    check(fn, inputs)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [True, False])
@settings(max_examples=15)
@given(shape=shapes(1, 2), seed=seeds)
def test_binary_cross_entropy(weighted, reduction, layout, shape, seed):
    """Probabilities kept inside (0.05, 0.95); gradients with respect to them, the targets and weight."""
    rng = np.random.default_rng(seed)
    p = leaf(rng.uniform(0.05, 0.95, shape), layout)
    t = leaf(rng.random(shape), layout)
    w = [leaf(positive(rng, shape), layout)] if weighted else []
    check(lambda p, t, w=None: F.binary_cross_entropy(p, t, w, reduction), [p, t] + w)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@settings(max_examples=15)
@given(shape=shapes(0, 3), seed=seeds, other=layouts)
def test_mse_loss(reduction, layout, shape, seed, other):
    rng = np.random.default_rng(seed)
    a, b = leaf(normal(rng, shape), layout), leaf(normal(rng, shape), other)
    check(lambda a, b: F.mse_loss(a, b, reduction), [a, b])


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [True, False])
@pytest.mark.parametrize("which", ["cross_entropy", "nll_loss"])
@settings(max_examples=15)
@given(n=st.integers(1, 4), c=st.integers(1, 4), extra=shapes(0, 1), seed=seeds)
def test_classification_losses(which, weighted, reduction, layout, n, c, extra, seed):
    """cross_entropy and nll_loss on (N, C) or (N, C, d) scores, with class weights (also differentiated)."""
    rng = np.random.default_rng(seed)
    x = leaf(normal(rng, (n, c, *extra), 2.0), layout)
    target = mg.tensor(rng.integers(0, c, (n, *extra)))
    loss = getattr(F, which)
    if weighted:
        w = leaf(positive(rng, c), layout)
        check(lambda x, w: loss(x, target, w, reduction), [x, w])
    else:
        check(lambda x: loss(x, target, reduction=reduction), [x])


# ---- layers' functions ----

@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("bias", [True, False])
@given(lead=shapes(0, 2), n_in=st.integers(1, 3), n_out=st.integers(1, 3), seed=seeds, others=three_layouts)
def test_linear(bias, layout, lead, n_in, n_out, seed, others):
    rng = np.random.default_rng(seed)
    x, W = leaf(normal(rng, (*lead, n_in)), layout), leaf(normal(rng, (n_out, n_in)), others[0])
    inputs = [x, W] + ([leaf(normal(rng, n_out), others[1])] if bias else [])
    check(lambda x, W, b=None: F.linear(x, W, b), inputs)


@pytest.mark.parametrize("layout", LAYOUTS)
@given(index_shape=shapes(1, 2, 2, 3), rows=st.integers(1, 4), dim=st.integers(1, 3), seed=seeds)
def test_embedding(layout, index_shape, rows, dim, seed):
    """The weight gradient counts repeated indices once for each time they appear."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, rows, index_shape)
    idx.flat[1] = idx.flat[0]
    weight = leaf(normal(rng, (rows, dim)), layout)
    check(lambda w: F.embedding(mg.tensor(idx), w), [weight])
    F.embedding(mg.tensor(idx), weight).sum().backward()
    counts = np.bincount(idx.ravel(), minlength=rows)
    np.testing.assert_array_equal(weight.grad.numpy(), np.repeat(counts[:, None], dim, axis=1))


def test_layouts_are_non_contiguous():
    """The layouts drawn here do give non-contiguous arrays holding the same values."""
    a = np.arange(6.0).reshape(2, 3)
    for layout in LAYOUTS[1:]:
        t = leaf(a, layout)
        assert not t.data.flags.c_contiguous
        np.testing.assert_array_equal(t.numpy(), a)
    assert not leaf(a[0], "transposed").data.flags.c_contiguous
