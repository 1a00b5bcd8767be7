"""First and second derivatives of every differentiable op against central finite differences, in float64.

Hypothesis draws shapes, parameters, a memory layout and a seed; the values come from a NumPy generator seeded
with it and are kept away from kinks, ties and the edges of each function's domain. Inputs are laid out
contiguously, as transposed views, as reversed views (negative strides) or as every other element of a bigger
array (minigan.testing.lay_out), so that the backward passes see non-contiguous arrays too. The operators that run
on kernels (conv2d, conv_transpose2d, batch norm, leaky ReLU and ReLU, matmul) are checked by variant in their own
modules (tests/test_<operator>.py); the last tests here check the checking tools themselves.
"""

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import minigan as mg
import minigan.nn.functional as F
from minigan.tensor import Tensor
from minigan.testing import LAYOUTS, gradcheck, gradgradcheck, jacobian_check, lay_out
from minigan.testing.strategies import shapes
from minigan.testing.values import away, distinct, normal, positive

seeds = st.integers(0, 2**32 - 1)
layouts = st.sampled_from(LAYOUTS)
three_layouts = st.lists(layouts, min_size=3, max_size=3)


# ---- drawing values and laying them out ----

def leaf(a, layout: str = "contiguous") -> Tensor:
    """A float64 leaf that requires grad, holding a laid out as layout says (its .data is the view itself)."""
    return Tensor(lay_out(np.asarray(a, dtype=np.float64), layout), requires_grad=True)


def check(fn, inputs, second: bool = True) -> None:
    """fn's first derivatives, and its second ones unless second is False, match finite differences."""
    assert gradcheck(fn, inputs)
    if second:
        assert gradgradcheck(fn, inputs)


# ---- drawing shapes ----

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


# ---- elementwise functions ----

UNARY = {
    "exp": (lambda x: x.exp(), lambda rng, s: normal(rng, s)),
    "log": (mg.log, lambda rng, s: positive(rng, s, 0.3, 3.0)),
    "sqrt": (lambda x: x.sqrt(), lambda rng, s: positive(rng, s, 0.3, 3.0)),
    "abs": (mg.abs, lambda rng, s: away(rng, s)),
    "abs operator": (abs, lambda rng, s: away(rng, s)),
    "tanh": (F.tanh, lambda rng, s: normal(rng, s, 2.0)),
    "sigmoid": (F.sigmoid, lambda rng, s: normal(rng, s, 3.0)),
    "neg": (mg.ops.neg, lambda rng, s: normal(rng, s)),
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", sorted(UNARY))
@given(shape=shapes(), seed=seeds)
def test_unary(name, layout, shape, seed):
    """exp, log, sqrt, abs, tanh, sigmoid and negation, inside each one's domain and away from kinks (ReLU and
    leaky ReLU: tests/test_leaky_relu.py)."""
    fn, values = UNARY[name]
    check(fn, [leaf(values(np.random.default_rng(seed), shape), layout)])


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


# ---- the checking tools themselves ----

def test_layouts_keep_their_gaps_poisoned():
    """A strided layout's gaps hold NaN (the largest value for integers), so a read past the view shows."""
    for a in (np.arange(6.0).reshape(2, 3), np.arange(6).reshape(2, 3)):
        view = lay_out(a, "strided")
        np.testing.assert_array_equal(view, a)
        poison = np.nan if a.dtype.kind == "f" else np.iinfo(a.dtype).max
        np.testing.assert_array_equal(view.base[1::2], np.full((2, 6), poison))
    for layout in LAYOUTS:
        assert lay_out(np.float64(2.0), layout).shape == ()


@given(data=st.data(), transposed=st.booleans())
def test_strategies_draw_what_they_say(data, transposed):
    """Tensors in the layouts asked for, values away from the kink, distinct values, valid convolutions."""
    from minigan.testing.strategies import away_from_kinks, convolutions, distinct_arrays, tensors

    t = data.draw(tensors(shapes(2, 2, 2, 3), dtype="float32", layouts=("strided", "reversed")))
    assert t.requires_grad and t.dtype == np.float32 and not t.data.flags.c_contiguous
    assert np.all(np.abs(data.draw(away_from_kinks((4, 3), kink=1.0, gap=0.1)) - 1.0) >= 0.1)
    values = np.sort(data.draw(distinct_arrays((5, 4), spacing=0.3)), axis=None)
    assert np.all(np.diff(values) >= 0.8 * 0.3 - 1e-12)
    g = data.draw(convolutions(transposed=transposed))
    assert min(g.output_size) >= 1 and g.transposed == transposed
    assert all(o < max(s, d) for o, s, d in zip(g.output_padding, g.stride, g.dilation))


class Cube(mg.autograd.Function):
    """y = x^3, its gradient built from Tensors (so it can be differentiated again)."""

    def forward(self, x):
        return x * x * x

    def backward(self, gy):
        (x,) = self.inputs
        return 3 * x * x * gy


class CubeWithFlatSecondDerivative(Cube):
    """The right gradient, computed from the array: its own derivative with respect to x is lost."""

    def backward(self, gy):
        (x,) = self.inputs
        return gy * Tensor(3 * x.data * x.data)


class CubeWithWrongGradient(Cube):
    def backward(self, gy):
        (x,) = self.inputs
        return 2 * x * x * gy


class CubeWithASmallWrongTerm(Cube):
    """The gradient plus a term a ten-thousandth of its size: below gradcheck's relative tolerance along random
    directions."""

    def backward(self, gy):
        (x,) = self.inputs
        return 3 * x * x * gy + 1e-4 * gy


def test_jacobian_check_compares_every_entry():
    x = mg.tensor(np.random.default_rng(0).standard_normal((4, 3)) + 2, requires_grad=True)
    assert gradcheck(lambda x: CubeWithASmallWrongTerm().apply(x), [x])  # random directions let it pass
    with pytest.raises(AssertionError, match=r"jacobian_check: d output 0\[\d+\] / d input 0\[\d+\]"):
        jacobian_check(lambda x: CubeWithASmallWrongTerm().apply(x), [x])
    assert jacobian_check(lambda x: Cube().apply(x), [x], second_order=True)
    with pytest.raises(AssertionError, match="jacobian_check"):
        jacobian_check(lambda x: CubeWithFlatSecondDerivative().apply(x), [x], second_order=True)
    a, b = (mg.tensor(np.random.default_rng(k).standard_normal(3), requires_grad=True) for k in (1, 2))
    assert jacobian_check(lambda a, b: (a * b, a.exp(), b.detach()), [a, b], second_order=True)
    with pytest.raises(TypeError, match="float64"):
        jacobian_check(lambda a: a * a, [mg.ones(2, requires_grad=True)])


class CubeReadingMemoryInOrder(Cube):
    """Right only for C-contiguous inputs: it reads the memory of x as if it were."""

    def forward(self, x):
        flat = np.lib.stride_tricks.as_strided(x, x.shape, np.array(np.empty_like(x), order="C").strides)
        return flat**3


class CubeInPlace(Cube):
    def forward(self, x):
        x *= 1.0 + 1e-3
        return x * x * x / (1.0 + 1e-3) ** 3


def cube(x):
    return x**3


def test_check_function_passes_a_right_function_with_constants():
    """Function subclasses and plain functions; constants (a number, None) reach both sides unchanged."""
    from minigan.testing import check_function
    from minigan.testing.strategies import arrays

    check_function(Cube, cube, [arrays(shapes())], max_examples=10)

    def scaled(x, s, b):
        assert b is None
        return Cube().apply(x) * s

    check_function(scaled, lambda x, s, b: cube(x) * s, st.tuples(arrays(shapes()), st.floats(-2, 2), st.none()),
                   examples=[(np.ones((2, 3)), 0.5, None)], max_examples=10)


@pytest.fixture
def no_shrinking():
    """The active Hypothesis settings without the shrink phase, for tests that expect a failure: the first failing
    example is enough."""
    from hypothesis import Phase

    previous = settings.get_current_profile_name()
    settings.register_profile("no-shrinking", parent=settings.get_profile(previous),
                              phases=[Phase.explicit, Phase.generate])
    settings.load_profile("no-shrinking")
    yield
    settings.load_profile(previous)


@pytest.mark.parametrize(("function", "complaint"), [
    (CubeWithFlatSecondDerivative, "second derivatives"),
    (CubeWithWrongGradient, "first derivatives"),
    (CubeReadingMemoryInOrder, "elements differ"),
    (CubeInPlace, "wrote into its input"),
    (lambda x: Cube().apply(x).to(mg.float64), "dtype float64, expected float32"),
])
def test_check_function_catches(no_shrinking, function, complaint):
    """What a hand-written Function gets wrong: the derivative of its gradient, its gradient, non-contiguous
    inputs, writing into an input, the dtype of its output."""
    from minigan.testing import check_function
    from minigan.testing.strategies import arrays

    with pytest.raises(AssertionError, match=complaint):
        check_function(function, cube, [arrays(shapes(2, 2, 2, 3))], max_examples=10)
