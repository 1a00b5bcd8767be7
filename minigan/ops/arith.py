"""Arithmetic with NumPy broadcasting: + - * / ** @, negation, casts and device moves.

Gradients of broadcast operands are summed back to the operand's shape with sum_to.
"""

from __future__ import annotations

import numbers

import numpy

from minigan import backend
from minigan.autograd import Function
from minigan.dispatch import choose, kernel
from minigan.ops.shape import squeeze, sum_to, unsqueeze
from minigan.tensor import Tensor, get_default_dtype, tensor


def as_tensor(value, like: Tensor) -> Tensor:
    """value as a constant Tensor on like's device; a Python number takes like's dtype where it fits, else int64
    (an integer beside a boolean tensor) or the default float dtype (a float beside an integer tensor)."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, numbers.Number):
        if like.dtype.kind in "fc" or isinstance(value, bool) or (
                isinstance(value, numbers.Integral) and like.dtype.kind != "b"):
            dtype = like.dtype
        elif isinstance(value, numbers.Integral):
            dtype = numpy.dtype("int64")
        else:
            dtype = get_default_dtype()
        return Tensor(backend.xp_of(like.device).asarray(value, dtype=dtype))
    return tensor(value, device=like.device)


def _operands(op: str, a, b) -> tuple[Tensor, Tensor]:
    """Both operands as Tensors, promoted as PyTorch does: a floating operand makes an integer one its dtype."""
    if not isinstance(a, Tensor):
        a = as_tensor(a, b)
    if not isinstance(b, Tensor):
        b = as_tensor(b, a)
    if a.dtype.kind in "fc" and b.dtype.kind in "iub":
        b = b.to(a.dtype)
    elif b.dtype.kind in "fc" and a.dtype.kind in "iub":
        a = a.to(b.dtype)
    try:
        numpy.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise RuntimeError(f"{op}: shapes {a.shape} and {b.shape} cannot be broadcast together") from None
    return a, b


class Add(Function):
    saved_inputs = ()

    def forward(self, a, b):
        return a + b

    def backward(self, gy):
        a, b = self.inputs
        return sum_to(gy, a.shape), sum_to(gy, b.shape)


class Sub(Function):
    saved_inputs = ()

    def forward(self, a, b):
        return a - b

    def backward(self, gy):
        a, b = self.inputs
        return sum_to(gy, a.shape), sum_to(-gy, b.shape)


class Mul(Function):
    saved_inputs = ((1,), (0,))

    def forward(self, a, b):
        return a * b

    def backward(self, gy):
        a, b = self.inputs
        ga = sum_to(gy * b, a.shape) if self.needs_input_grad[0] else None
        gb = sum_to(gy * a, b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    saved_inputs = ((1,), (0, 1))

    def forward(self, a, b):
        return a / b

    def backward(self, gy):
        a, b = self.inputs
        ga = sum_to(gy / b, a.shape) if self.needs_input_grad[0] else None
        gb = sum_to(-gy * a / (b * b), b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Pow(Function):
    """y = a ** b for tensors a and b; d/db uses log(a), taken as 0 where a == 0 (as PyTorch)."""

    saves_outputs = True
    saved_inputs = ((0, 1), (0, 1))

    def forward(self, a, b):
        return a ** b

    def backward(self, gy):
        a, b = self.inputs
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = sum_to(gy * b * a ** (b - 1), a.shape)
        if self.needs_input_grad[1]:
            zero = Tensor(a.data == 0)
            safe_a = where(zero, 1.0, a)
            gb = sum_to(gy * self.output() * log(safe_a), b.shape)
        return ga, gb


class PowScalar(Function):
    """y = x ** p for a constant exponent p."""

    saved_inputs = ((0,),)

    def __init__(self, p: float):
        self.p = p

    def forward(self, x):
        return x ** self.p

    def backward(self, gy):
        (x,) = self.inputs
        if self.p == 0:
            return gy * 0
        return gy * (self.p * x ** (self.p - 1))


class Neg(Function):
    saved_inputs = ()

    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


class MatMul(Function):
    """y = a @ b for a, b with at least 2 dimensions; leading (batch) dimensions broadcast. The products of its
    gradients are MatMuls again, each choosing its kernel (there is no state between them)."""

    saved_inputs = ((1,), (0,))

    def forward(self, a, b):
        return kernel("matmul", choose("matmul", a)).matmul(a, b)

    def backward(self, gy):
        a, b = self.inputs
        ga = sum_to(gy @ b.mT, a.shape) if self.needs_input_grad[0] else None
        gb = sum_to(a.mT @ gy, b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Cast(Function):
    saved_inputs = ()

    def __init__(self, dtype):
        self.dtype = numpy.dtype(dtype)

    def forward(self, x):
        self.in_dtype = x.dtype
        return x.astype(self.dtype)

    def backward(self, gy):
        return gy.to(self.in_dtype)


class ToDevice(Function):
    saved_inputs = ()

    def __init__(self, device: str):
        self.device = device

    def forward(self, x):
        self.in_device = backend.device_of(x)
        return backend.to_device(x, self.device)

    def backward(self, gy):
        return gy.to(self.in_device)


class Clone(Function):
    """y = a copy of x."""

    saved_inputs = ()

    def forward(self, x):
        return x.copy()

    def backward(self, gy):
        return gy


def add(a, b) -> Tensor:
    return Add().apply(*_operands("add", a, b))


def sub(a, b) -> Tensor:
    return Sub().apply(*_operands("sub", a, b))


def mul(a, b) -> Tensor:
    return Mul().apply(*_operands("mul", a, b))


def div(a, b) -> Tensor:
    """True division; integer operands give the default float dtype, as in PyTorch."""
    a, b = _operands("div", a, b)
    if a.dtype.kind in "iub":
        a, b = a.to(get_default_dtype()), b.to(get_default_dtype())
    return Div().apply(a, b)


def pow(a, b) -> Tensor:
    if isinstance(a, Tensor) and isinstance(b, numbers.Real) and not isinstance(b, bool):
        if isinstance(b, numbers.Integral):
            return PowScalar(int(b)).apply(a)
        if a.dtype.kind in "iub":
            a = a.to(get_default_dtype())
        return PowScalar(float(b)).apply(a)  # float(): a NumPy float64 exponent does not widen float32
    return Pow().apply(*_operands("pow", a, b))


def neg(x: Tensor) -> Tensor:
    return Neg().apply(x)


def matmul(input, other) -> Tensor:
    """Matrix product with NumPy's rules: 1-D operands are promoted to matrices and the result squeezed.

    Both operands must have the same dtype, as in PyTorch: matmul promotes neither.
    """
    a = input if isinstance(input, Tensor) else as_tensor(input, other)
    b = other if isinstance(other, Tensor) else as_tensor(other, input)
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(f"matmul: both operands need at least one dimension, got {a.shape} and {b.shape}")
    a2 = unsqueeze(a, 0) if a.ndim == 1 else a
    b2 = unsqueeze(b, -1) if b.ndim == 1 else b
    if a2.shape[-1] != b2.shape[-2]:
        raise RuntimeError(f"matmul: shapes {a.shape} and {b.shape} cannot be multiplied "
                           f"({a2.shape[-1]} != {b2.shape[-2]})")
    try:
        numpy.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    except ValueError:
        raise RuntimeError(f"matmul: batch dimensions of {a.shape} and {b.shape} cannot be broadcast") from None
    if a.dtype != b.dtype:
        raise RuntimeError(f"matmul: expected both operands to have the same dtype, got {a.dtype} and {b.dtype} "
                           f"(shapes {a.shape} and {b.shape}); convert one with .to()")
    y = MatMul().apply(a2, b2)
    if b.ndim == 1:
        y = squeeze(y, -1)
    if a.ndim == 1:
        y = squeeze(y, -2 if b.ndim > 1 else -1)
    return y


_COMPARE = {"eq": "equal", "ne": "not_equal", "lt": "less", "le": "less_equal", "gt": "greater",
            "ge": "greater_equal"}


def compare(op: str, a, b) -> Tensor:
    """Elementwise comparison: a boolean tensor that carries no gradient."""
    a, b = _operands(op, a, b)
    xp = backend.get_array_module(a.data)
    return Tensor(getattr(xp, _COMPARE[op])(a.data, b.data))


from minigan.ops.unary import log, where
