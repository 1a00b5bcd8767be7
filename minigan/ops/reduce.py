"""Reductions: sum, mean, var, std, max, min, logsumexp, and log_softmax / softmax over a dimension."""

from __future__ import annotations

import math
import numbers
from collections import namedtuple

from minigan import backend
from minigan.autograd import Function
from minigan.ops.shape import Sum, _dim, broadcast_to, reshape
from minigan.ops.unary import exp, log, maximum, minimum
from minigan.tensor import Tensor, int64, zeros

ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])


def _axes(dim, ndim: int, op: str) -> tuple:
    """The axes to reduce, sorted and non-negative (none for a 0-d tensor, whose dim may be 0 or -1).

    None and an empty tuple or list both mean every axis, as in PyTorch.
    """
    if isinstance(dim, numbers.Integral):
        dims = (dim,)
    elif isinstance(dim, (tuple, list)):
        dims = tuple(dim)
    elif dim is None:
        dims = ()
    else:
        raise TypeError(f"{op}: dim must be an int, a tuple of ints or None, got {type(dim).__name__}")
    if not dims:
        return tuple(range(ndim))
    axes = tuple(sorted({_dim(d, ndim, op) for d in dims}))
    return axes if ndim else ()


def sum(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return Sum(_axes(dim, input.ndim, "sum"), keepdim).apply(input)


def mean(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """The mean over dim (every dim by default) of a floating tensor; NaN over an empty reduction."""
    if input.dtype.kind not in "fc":
        raise RuntimeError(f"mean(): input dtype must be floating point, got {input.dtype}")
    axes = _axes(dim, input.ndim, "mean")
    return _divide(sum(input, axes, keepdim), math.prod(input.shape[a] for a in axes))


def _divide(total: Tensor, n: int) -> Tensor:
    """total / n, and NaN (as 0 / 0 in PyTorch, without NumPy's warning) when n <= 0."""
    return total / n if n > 0 else total * math.nan


def var(input: Tensor, dim=None, unbiased: bool = True, keepdim: bool = False) -> Tensor:
    """Mean squared deviation, divided by n - 1 when unbiased (Bessel's correction) as torch.var.

    A bool as the first argument is `unbiased` over the whole tensor (torch.var(input, unbiased)); the result is
    NaN when there are not more elements than the correction.
    """
    if isinstance(dim, bool):
        dim, unbiased = None, dim
    axes = _axes(dim, input.ndim, "var")
    n = math.prod(input.shape[a] for a in axes)
    d = input - mean(input, axes, keepdim=True)
    return _divide(sum(d * d, axes, keepdim), n - 1 if unbiased else n)


def std(input: Tensor, dim=None, unbiased: bool = True, keepdim: bool = False) -> Tensor:
    """The square root of var, with the same arguments."""
    return var(input, dim, unbiased, keepdim) ** 0.5


class Extreme(Function):
    """The largest (sign 1) or smallest (sign -1) value over axes.

    The gradient goes to the selected element: the first one along a given dim (as the returned index), or
    shared equally among ties for a full reduction.
    """

    saved_inputs = ()

    def __init__(self, sign: int, axis: int | None, keepdims: bool):
        self.sign, self.axis, self.keepdims = sign, axis, keepdims

    def forward(self, x):
        xp = backend.get_array_module(x)
        pick = xp.argmax if self.sign > 0 else xp.argmin
        if self.axis is None:
            y = x.max() if self.sign > 0 else x.min()
            hit = x == y
            self.mask = (hit / hit.sum()).astype(x.dtype)
            return y.reshape((1,) * x.ndim) if self.keepdims else y
        self.index = pick(x, axis=self.axis)
        positions = xp.arange(x.shape[self.axis]).reshape((-1,) + (1,) * (x.ndim - 1 - self.axis))
        self.mask = (positions == xp.expand_dims(self.index, self.axis)).astype(x.dtype)
        picked = xp.take_along_axis(x, xp.expand_dims(self.index, self.axis), self.axis)
        return picked if self.keepdims else picked.squeeze(self.axis)

    def backward(self, gy):
        shape = self.mask.shape
        kept = tuple(1 if self.axis is None or i == self.axis else s for i, s in enumerate(shape))
        return broadcast_to(reshape(gy, kept), shape) * Tensor(self.mask)


def _extreme(sign: int, x: Tensor, dim, keepdim: bool):
    if isinstance(dim, Tensor):
        if keepdim:
            raise TypeError(f"{'max' if sign > 0 else 'min'}: keepdim is not an argument of the two-tensor form")
        return maximum(x, dim) if sign > 0 else minimum(x, dim)
    if x.numel() == 0:
        raise RuntimeError(f"{'max' if sign > 0 else 'min'}: the tensor is empty")
    if dim is None or x.ndim == 0:
        values = Extreme(sign, None, keepdim).apply(x)
        if dim is None:
            return values
        _dim(dim, 0, "max" if sign > 0 else "min")
        return ValuesIndices(values, zeros((), dtype=int64, device=x.device))
    f = Extreme(sign, _dim(dim, x.ndim, "max" if sign > 0 else "min"), keepdim)
    values = f.apply(x)
    index = f.index if not keepdim else backend.get_array_module(f.index).expand_dims(f.index, f.axis)
    return ValuesIndices(values, Tensor(index.astype("int64")))


def max(input: Tensor, dim=None, keepdim: bool = False):
    """The largest value; with dim, the pair (values, indices) along it; with a tensor, the elementwise maximum."""
    return _extreme(1, input, dim, keepdim)


def min(input: Tensor, dim=None, keepdim: bool = False):
    """The smallest value; with dim, the pair (values, indices) along it; with a tensor, the elementwise minimum."""
    return _extreme(-1, input, dim, keepdim)


def argmax(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return _arg(input, dim, keepdim, "argmax")


def argmin(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return _arg(input, dim, keepdim, "argmin")


def _arg(x: Tensor, dim, keepdim: bool, name: str) -> Tensor:
    xp = backend.get_array_module(x.data)
    if dim is None or x.ndim == 0:
        if dim is not None:
            _dim(dim, 0, name)
        return Tensor(xp.asarray(getattr(xp, name)(x.data), dtype="int64"))
    axis = _dim(dim, x.ndim, name)
    index = getattr(xp, name)(x.data, axis=axis)
    return Tensor((xp.expand_dims(index, axis) if keepdim else index).astype("int64"))


class LogSoftmax(Function):
    """y = x - log(sum(exp(x))) along an axis; its gradient is gy - softmax(x) * sum(gy)."""

    saves_outputs = True
    saved_inputs = ()

    def __init__(self, axis: int):
        self.axis = axis

    def forward(self, x):
        xp = backend.get_array_module(x)
        if x.size == 0:
            return xp.empty_like(x)
        shifted = x - x.max(axis=self.axis, keepdims=True)
        return shifted - xp.log(xp.exp(shifted).sum(axis=self.axis, keepdims=True))

    def backward(self, gy):
        return gy - exp(self.output()) * sum(gy, self.axis, keepdim=True)


def log_softmax(input: Tensor, dim: int) -> Tensor:
    return LogSoftmax(_dim(dim, input.ndim, "log_softmax")).apply(input)


def softmax(input: Tensor, dim: int) -> Tensor:
    return exp(log_softmax(input, dim))


def logsumexp(input: Tensor, dim, keepdim: bool = False) -> Tensor:
    """log(sum(exp(input))) over dim, shifted by the (constant) maximum so that it never overflows.

    An empty reduction gives -inf; dim=() is refused, as in PyTorch.
    """
    if isinstance(dim, (tuple, list)) and not dim:
        raise RuntimeError("logsumexp: dim must name at least one dimension")
    axes = _axes(dim, input.ndim, "logsumexp")
    if math.prod(input.shape[a] for a in axes) == 0:
        return sum(input, axes, keepdim) - math.inf
    m = Tensor(input.data.max(axis=axes, keepdims=True))
    y = log(sum(exp(input - m), axes, keepdim=True)) + m
    return reshape(y, tuple(s for i, s in enumerate(y.shape) if i not in axes)) if not keepdim else y
