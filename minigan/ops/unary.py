"""Elementwise functions: exp, log, sqrt, abs, tanh, sigmoid, softplus, clamp, where, maximum, minimum.

Piecewise functions multiply the gradient by a constant mask, which is also the mask of every higher
derivative (the kinks themselves have measure zero).
"""

from __future__ import annotations

from minigan import backend
from minigan.autograd import Function
from minigan.ops.arith import _operands, as_tensor
from minigan.ops.shape import sum_to
from minigan.tensor import Tensor


def _mask(condition, like) -> Tensor:
    """A constant tensor of like's dtype: 1 where condition holds, else 0."""
    return Tensor(condition.astype(like.dtype))


class Exp(Function):
    saves_outputs = True
    saved_inputs = ()

    def forward(self, x):
        return backend.get_array_module(x).exp(x)

    def backward(self, gy):
        return gy * self.output()


class Log(Function):
    saved_inputs = ((0,),)

    def forward(self, x):
        return backend.get_array_module(x).log(x)

    def backward(self, gy):
        return gy / self.inputs[0]


class Sqrt(Function):
    saves_outputs = True
    saved_inputs = ()

    def forward(self, x):
        return backend.get_array_module(x).sqrt(x)

    def backward(self, gy):
        return gy / (2 * self.output())


class Abs(Function):
    saved_inputs = ((0,),)

    def forward(self, x):
        return backend.get_array_module(x).abs(x)

    def backward(self, gy):
        x = self.inputs[0].data
        return gy * Tensor(backend.get_array_module(x).sign(x))


class TanhFunction(Function):
    saves_outputs = True
    saved_inputs = ()

    def forward(self, x):
        return backend.get_array_module(x).tanh(x)

    def backward(self, gy):
        y = self.output()
        return gy * (1 - y * y)


class SigmoidFunction(Function):
    """y = 1 / (1 + exp(-x)), as e / (1 + e) with e = exp(x) for x < 0: no overflow, full precision in both tails."""

    saves_outputs = True
    saved_inputs = ()

    def forward(self, x):
        xp = backend.get_array_module(x)
        e = xp.exp(-xp.abs(x))
        return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))

    def backward(self, gy):
        y = self.output()
        return gy * y * (1 - y)


class Softplus(Function):
    """y = log(1 + exp(beta x)) / beta, and y = x where beta x > threshold (PyTorch's linear region)."""

    saved_inputs = ((0,),)

    def __init__(self, beta: float, threshold: float):
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        xp = backend.get_array_module(x)
        bx = x * self.beta
        return xp.where(bx > self.threshold, x, xp.logaddexp(0, bx) / self.beta).astype(x.dtype)

    def backward(self, gy):
        x = self.inputs[0]
        slope = sigmoid(x * self.beta)
        linear = x.data * self.beta > self.threshold
        if linear.any():
            slope = where(Tensor(linear), 1.0, slope)
        return gy * slope


class Clamp(Function):
    saved_inputs = ((0,),)

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def forward(self, x):
        return backend.get_array_module(x).clip(x, self.lo, self.hi)

    def backward(self, gy):
        x = self.inputs[0].data
        inside = (x >= self.lo if self.lo is not None else True) & (x <= self.hi if self.hi is not None else True)
        return gy * _mask(backend.get_array_module(x).asarray(inside), x)


class Where(Function):
    """y = a where condition else b; the condition is a constant of the node."""

    saved_inputs = ()

    def __init__(self, condition):
        self.condition = condition

    def forward(self, a, b):
        return backend.get_array_module(a).where(self.condition, a, b)

    def backward(self, gy):
        a, b = self.inputs
        ga = sum_to(gy * _mask(self.condition, gy.data), a.shape) if self.needs_input_grad[0] else None
        gb = sum_to(gy * _mask(~self.condition, gy.data), b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Maximum(Function):
    """Elementwise max(a, b); at ties the gradient is shared half and half (as PyTorch)."""

    sign = 1
    saved_inputs = ((0, 1), (0, 1))

    def forward(self, a, b):
        xp = backend.get_array_module(a)
        return xp.maximum(a, b) if self.sign > 0 else xp.minimum(a, b)

    def backward(self, gy):
        a, b = self.inputs
        wins = (a.data > b.data) if self.sign > 0 else (a.data < b.data)
        share = wins.astype(gy.dtype) + 0.5 * (a.data == b.data)
        ga = sum_to(gy * Tensor(share.astype(gy.dtype)), a.shape) if self.needs_input_grad[0] else None
        gb = sum_to(gy * Tensor((1 - share).astype(gy.dtype)), b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Minimum(Maximum):
    sign = -1


def exp(input: Tensor) -> Tensor:
    return Exp().apply(input)


def log(input: Tensor) -> Tensor:
    return Log().apply(input)


def sqrt(input: Tensor) -> Tensor:
    return Sqrt().apply(input)


def abs(input: Tensor) -> Tensor:
    return Abs().apply(input)


def tanh(input: Tensor) -> Tensor:
    return TanhFunction().apply(input)


def sigmoid(input: Tensor) -> Tensor:
    return SigmoidFunction().apply(input)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    return Softplus(beta, threshold).apply(input)


def clamp(input: Tensor, min=None, max=None) -> Tensor:
    if min is None and max is None:
        raise RuntimeError("clamp: at least one of min and max must be given")
    return Clamp(min, max).apply(input)


def where(condition, input, other) -> Tensor:
    """input where condition holds, else other (all three broadcast together)."""
    ref = input if isinstance(input, Tensor) else other
    if not isinstance(ref, Tensor):
        raise TypeError("where: at least one of input and other must be a Tensor")
    a, b = _operands("where", as_tensor(input, ref), as_tensor(other, ref))
    cond = condition.data if isinstance(condition, Tensor) else backend.xp_of(ref.device).asarray(condition)
    if cond.dtype != bool:
        raise TypeError(f"where: condition must be boolean, got dtype {cond.dtype}")
    return Where(cond).apply(a, b)


def maximum(input, other) -> Tensor:
    return Maximum().apply(*_operands("maximum", input, other))


def minimum(input, other) -> Tensor:
    return Minimum().apply(*_operands("minimum", input, other))
