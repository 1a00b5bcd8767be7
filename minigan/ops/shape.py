"""Shape operations: reshape, transpose, broadcast and its adjoint sum_to, indexing, concatenation.

Each backward is another shape operation, so the set is closed under differentiation.
"""

from __future__ import annotations

import itertools
import numbers

import numpy

from minigan import backend
from minigan.autograd import Function
from minigan.tensor import Tensor


def _dim(dim: int, ndim: int, op: str) -> int:
    """dim as a non-negative axis; a 0-d tensor accepts 0 and -1, as in PyTorch."""
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
        raise TypeError(f"{op}: dim must be an int, got {type(dim).__name__}")
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"{op}: dimension {dim} is out of range for a tensor with {ndim} dimensions")
    return dim % n


class Reshape(Function):
    saved_inputs = ()
    returns_view = True

    def __init__(self, shape: tuple):
        self.shape = shape

    def forward(self, x):
        self.in_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, gy):
        return reshape(gy, self.in_shape)


def _resolve_shape(shape: tuple, numel: int, in_shape: tuple) -> tuple:
    shape = tuple(int(s) for s in shape)
    if shape.count(-1) > 1:
        raise RuntimeError(f"reshape: only one dimension can be -1, got {shape}")
    known = int(numpy.prod([s for s in shape if s != -1]))
    if -1 in shape:
        if known == 0 or numel % known:
            raise RuntimeError(f"reshape: shape {shape} is invalid for a tensor of shape {in_shape}")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    if int(numpy.prod(shape)) != numel:
        raise RuntimeError(f"reshape: shape {shape} is invalid for a tensor of shape {in_shape} ({numel} elements)")
    return shape


def reshape(input: Tensor, *shape) -> Tensor:
    if len(shape) == 1 and not isinstance(shape[0], numbers.Integral):
        shape = tuple(shape[0])
    shape = _resolve_shape(shape, input.numel(), input.shape)
    return input if shape == input.shape else Reshape(shape).apply(input)


class Permute(Function):
    saved_inputs = ()
    returns_view = True

    def __init__(self, axes: tuple):
        self.axes = axes

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, gy):
        return permute(gy, *numpy.argsort(self.axes))


def permute(input: Tensor, *dims) -> Tensor:
    if len(dims) == 1 and not isinstance(dims[0], numbers.Integral):
        dims = tuple(dims[0])
    axes = tuple(_dim(d, input.ndim, "permute") for d in dims)
    if sorted(axes) != list(range(input.ndim)):
        raise RuntimeError(f"permute: dims {dims} are not a permutation of a tensor with {input.ndim} dimensions")
    return input if axes == tuple(range(input.ndim)) else Permute(axes).apply(input)


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    a, b = _dim(dim0, input.ndim, "transpose"), _dim(dim1, input.ndim, "transpose")
    if input.ndim == 0:
        return input
    axes = list(range(input.ndim))
    axes[a], axes[b] = axes[b], axes[a]
    return permute(input, *axes)


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    s, e = _dim(start_dim, input.ndim, "flatten"), _dim(end_dim, input.ndim, "flatten")
    if input.ndim == 0:
        return reshape(input, 1)
    return reshape(input, input.shape[:s] + (-1,) + input.shape[e + 1:])


def squeeze(input: Tensor, dim=None) -> Tensor:
    """Drop the dimensions of size 1: all of them, or those among dim (an int or a tuple of ints)."""
    if dim is None:
        return reshape(input, tuple(s for s in input.shape if s != 1))
    dims = {_dim(d, input.ndim, "squeeze") for d in (dim if isinstance(dim, (tuple, list)) else (dim,))}
    return reshape(input, tuple(s for i, s in enumerate(input.shape) if not (i in dims and s == 1)))


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    d = _dim(dim, input.ndim + 1, "unsqueeze")
    return reshape(input, input.shape[:d] + (1,) + input.shape[d:])


class Sum(Function):
    """y = sum of x over axes; its adjoint broadcasts gy back."""

    saved_inputs = ()

    def __init__(self, axes: tuple, keepdims: bool):
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x):
        self.in_shape = x.shape
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        if not self.keepdims:
            kept = tuple(1 if i in self.axes else s for i, s in enumerate(self.in_shape))
            gy = reshape(gy, kept)
        return broadcast_to(gy, self.in_shape)


class BroadcastTo(Function):
    saved_inputs = ()
    returns_view = True

    def __init__(self, shape: tuple):
        self.shape = shape

    def forward(self, x):
        self.in_shape = x.shape
        return backend.get_array_module(x).broadcast_to(x, self.shape)

    def backward(self, gy):
        return sum_to(gy, self.in_shape)


def broadcast_to(x: Tensor, shape) -> Tensor:
    shape = tuple(shape)
    if shape == x.shape:
        return x
    try:
        numpy.broadcast_shapes(x.shape, shape)
    except ValueError:
        raise RuntimeError(f"expand: cannot broadcast a tensor of shape {x.shape} to {shape}") from None
    return BroadcastTo(shape).apply(x)


def expand(input: Tensor, *size) -> Tensor:
    """Broadcast to size; -1 keeps a dimension as it is."""
    if len(size) == 1 and not isinstance(size[0], numbers.Integral):
        size = tuple(size[0])
    lead = len(size) - input.ndim
    shape = tuple(input.shape[i - lead] if s == -1 else s for i, s in enumerate(size))
    return broadcast_to(input, shape)


def sum_to(x: Tensor, shape: tuple) -> Tensor:
    """Sum x over the axes that broadcasting added to reach its shape from `shape` (the adjoint of broadcast)."""
    shape = tuple(shape)
    if x.shape == shape:
        return x
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape) if s == 1 and x.shape[lead + i] != 1)
    y = Sum(axes, True).apply(x) if axes else x
    return reshape(y, shape)


def array_index(index):
    """An index for arrays: Tensors become arrays, boolean masks become integer arrays (as with nonzero)."""
    parts = index if isinstance(index, tuple) else (index,)
    out = []
    for p in parts:
        if isinstance(p, Tensor):
            p = p.data
        if isinstance(p, list):
            p = numpy.asarray(p)
        if hasattr(p, "dtype") and p.dtype == bool and p.ndim > 0:
            out.extend(p.nonzero())
        else:
            out.append(p)
    return tuple(out)


def _is_basic(index: tuple) -> bool:
    return all(p is None or p is Ellipsis or isinstance(p, (numbers.Integral, slice)) for p in index)


class GetItem(Function):
    saved_inputs = ()
    returns_view = True  # for basic indexing; advanced indexing copies

    def __init__(self, index: tuple):
        self.index = index

    def forward(self, x):
        self.in_shape = x.shape
        return x[self.index]

    def backward(self, gy):
        return ScatterAdd(self.in_shape, self.index).apply(gy)


class ScatterAdd(Function):
    """y = zeros(shape); y[index] += x, with repeated indices adding up: the adjoint of x[index]."""

    saved_inputs = ()

    def __init__(self, shape: tuple, index: tuple):
        self.shape, self.index = shape, index

    def forward(self, x):
        xp = backend.get_array_module(x)
        y = xp.zeros(self.shape, dtype=x.dtype)
        if _is_basic(self.index):
            y[self.index] = x
        else:
            xp.add.at(y, self.index, x)
        return y

    def backward(self, gy):
        return GetItem(self.index).apply(gy)


def getitem(x: Tensor, index) -> Tensor:
    index = tuple(backend.to_device(p, x.device) if getattr(p, "ndim", 0) > 0 else p for p in array_index(index))
    return GetItem(index).apply(x)


class Concatenate(Function):
    saved_inputs = ()

    def __init__(self, axis: int):
        self.axis = axis

    def forward(self, *xs):
        self.sizes = [x.shape[self.axis] for x in xs]
        return backend.get_array_module(*xs).concatenate(xs, axis=self.axis)

    def backward(self, gy):
        bounds = numpy.cumsum([0] + self.sizes)
        lead = (slice(None),) * self.axis
        return tuple(gy[lead + (slice(int(a), int(b)),)] for a, b in itertools.pairwise(bounds))


def cat(tensors, dim: int = 0) -> Tensor:
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("cat: expected a non-empty list of tensors")
    for k, t in enumerate(tensors):
        if t.ndim == 0:
            raise RuntimeError(f"zero-dimensional tensor (at position {k}) cannot be concatenated")
    ref = tensors[0]
    axis = _dim(dim, ref.ndim, "cat")
    for k, t in enumerate(tensors):
        if t.ndim != ref.ndim or t.shape[:axis] + t.shape[axis + 1:] != ref.shape[:axis] + ref.shape[axis + 1:]:
            raise RuntimeError(
                f"cat: tensor {k} has shape {t.shape}, which does not match {ref.shape} outside dimension {dim}"
            )
        if t.dtype != ref.dtype:
            raise TypeError(f"cat: tensor {k} has dtype {t.dtype}, expected {ref.dtype}")
    return Concatenate(axis).apply(*tensors)


def stack(tensors, dim: int = 0) -> Tensor:
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack: expected a non-empty list of tensors")
    for k, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise RuntimeError(f"stack: tensor {k} has shape {t.shape}, expected {tensors[0].shape}")
    d = _dim(dim, tensors[0].ndim + 1, "stack")
    return cat([unsqueeze(t, d) for t in tensors], d)
