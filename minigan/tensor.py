"""Tensor: an array (NumPy or CuPy) with a gradient and a place in the graph."""

from __future__ import annotations

import numbers

import numpy

from minigan import backend

float32, float64 = numpy.dtype("float32"), numpy.dtype("float64")
int32, int64, bool_ = numpy.dtype("int32"), numpy.dtype("int64"), numpy.dtype("bool")
_default_dtype = float32


def set_default_dtype(d, /) -> None:
    """The floating dtype of tensors made from Python floats and of randn, zeros, ... (float32 at start)."""
    global _default_dtype
    dtype = numpy.dtype(d)
    if dtype not in (float32, float64):
        raise TypeError(f"default dtype must be float32 or float64, got {dtype}")
    _default_dtype = dtype


def get_default_dtype() -> numpy.dtype:
    return _default_dtype


class Tensor:
    """An n-dimensional array that records how it was computed, so gradients can flow back to it.

    `data` is the raw array; `grad` the accumulated gradient (a Tensor) after backward; `grad_fn` the Function
    that produced it (None for a leaf); `_version` how many times its memory was changed in place, which lets the
    backward notice that a tensor it saved has changed since. As in PyTorch, a view (detach(), reshape, permute,
    expand, basic indexing) shares its base's version counter, and writing through `.data` changes no version.
    """

    __array_ufunc__ = None  # numpy defers to Tensor's reflected operators: ndarray * Tensor is a Tensor

    def __init__(self, data, requires_grad: bool = False):
        self.data = data
        self.requires_grad = requires_grad
        self.grad: Tensor | None = None
        self.grad_fn = None
        self.output_index = 0
        self.hooks: list = []
        self.retains_grad = False
        self._version_counter = [0]  # a list, so that views share it

    # ---- description ----
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def dtype(self) -> numpy.dtype:
        return self.data.dtype

    @property
    def device(self) -> str:
        return backend.device_of(self.data)

    @property
    def is_cuda(self) -> bool:
        return self.device == "cuda"

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def _version(self) -> int:
        return self._version_counter[0]

    def _bump_version(self) -> None:
        """Record an in-place change of the data, for this tensor and every view of its memory."""
        self._version_counter[0] += 1

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def T(self) -> Tensor:
        return self.permute(*reversed(range(self.ndim)))

    @property
    def mT(self) -> Tensor:
        return self.transpose(-2, -1)

    def size(self, dim: int | None = None):
        return self.shape if dim is None else self.shape[dim]

    def dim(self) -> int:
        return self.ndim

    def numel(self) -> int:
        return int(self.data.size)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self) -> str:
        body = numpy.array2string(self.numpy(), separator=", ", prefix="tensor(")
        extras = [] if self.dtype in (_default_dtype, int64) else [f"dtype={self.dtype}"]
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{self.grad_fn.name}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body] + extras) + ")"

    # ---- conversion ----
    def numpy(self) -> numpy.ndarray:
        """The data as a NumPy array (shared on the CPU, copied from the GPU)."""
        return backend.to_device(self.data, "cpu")

    def tolist(self):
        return self.numpy().tolist()

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item(): only one-element tensors can be converted, got shape {self.shape}")
        return self.numpy().reshape(()).item()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        return bool(self.item())

    def __array__(self, dtype=None, copy=None):
        a = self.numpy()
        return a if dtype is None else a.astype(dtype)

    def to(self, *args) -> Tensor:
        """to(device), to(dtype) or to(device, dtype); differentiable, and `self` when nothing changes."""
        out = self
        for arg in args:
            if isinstance(arg, str):
                device = backend.check_device(arg)
                if device != out.device:
                    out = ops.ToDevice(device).apply(out)
            else:
                dtype = numpy.dtype(arg)
                if dtype != out.dtype:
                    out = ops.Cast(dtype).apply(out)
        return out

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self) -> Tensor:
        return self.to("cuda")

    def float(self) -> Tensor:
        return self.to(float32)

    def double(self) -> Tensor:
        return self.to(float64)

    def long(self) -> Tensor:
        return self.to(int64)

    def type_as(self, other: Tensor) -> Tensor:
        return self.to(other.device, other.dtype)

    # ---- graph ----
    def backward(self, gradient: Tensor | None = None, retain_graph: bool | None = None,
                 create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into leaf.grad for every leaf that requires grad."""
        autograd.backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph)

    def detach(self) -> Tensor:
        """The same data, cut from the graph (an in-place change of one is an in-place change of the other)."""
        t = Tensor(self.data)
        t._version_counter = self._version_counter
        return t

    def detach_(self) -> Tensor:
        self.grad_fn, self.requires_grad = None, False
        return self

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if not self.is_leaf and not requires_grad:
            raise RuntimeError("requires_grad_(False) on a non-leaf tensor: use detach() instead")
        if requires_grad and self.dtype.kind not in "fc":
            raise RuntimeError(f"only floating tensors can require grad, got dtype {self.dtype}")
        self.requires_grad = requires_grad
        return self

    def register_hook(self, hook):
        """Call hook(grad) whenever the gradient of this tensor is computed; a returned Tensor replaces it."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that does not require grad")
        self.hooks.append(hook)
        return _HookHandle(self.hooks, hook)

    def retain_grad(self) -> None:
        """Keep the gradient of this non-leaf tensor in .grad after backward."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad() on a tensor that does not require grad")
        self.retains_grad = True

    def clone(self) -> Tensor:
        return ops.Clone().apply(self)

    def contiguous(self) -> Tensor:
        return self

    # ---- in-place updates (never recorded in the graph; each one bumps the version) ----
    def _check_inplace(self, name: str) -> None:
        if autograd.is_grad_enabled() and self.requires_grad:
            raise RuntimeError(
                f"{name}: a tensor that requires grad cannot be changed in place while grad is enabled; "
                "wrap the update in `with minigan.no_grad():`"
            )

    def _assign(self, name: str, array) -> Tensor:
        self._check_inplace(name)
        xp = backend.get_array_module(self.data)
        self.data[...] = xp.asarray(array)
        self._bump_version()
        return self

    def zero_(self) -> Tensor:
        return self._assign("zero_", 0)

    def fill_(self, value) -> Tensor:
        return self._assign("fill_", value)

    def copy_(self, src) -> Tensor:
        src = src.data if isinstance(src, Tensor) else src
        if tuple(numpy.broadcast_shapes(numpy.shape(src), self.shape)) != self.shape:
            raise RuntimeError(f"copy_: source of shape {numpy.shape(src)} does not fit a tensor of shape {self.shape}")
        return self._assign("copy_", backend.to_device(src, self.device))

    def add_(self, other, *, alpha=1) -> Tensor:
        other = other.data if isinstance(other, Tensor) else other
        return self._assign("add_", self.data + alpha * other)

    def mul_(self, other) -> Tensor:
        other = other.data if isinstance(other, Tensor) else other
        return self._assign("mul_", self.data * other)

    def clamp_(self, min=None, max=None) -> Tensor:
        xp = backend.get_array_module(self.data)
        return self._assign("clamp_", xp.clip(self.data, min, max))

    def normal_(self, mean: float = 0.0, std: float = 1.0) -> Tensor:
        return self._assign("normal_", mean + std * random.standard_normal(self.shape, self.dtype, self.device))

    def uniform_(self, a: float = 0.0, b: float = 1.0, /) -> Tensor:
        return self._assign("uniform_", a + (b - a) * random.uniform(self.shape, self.dtype, self.device))

    def __setitem__(self, index, value) -> None:
        self._check_inplace("__setitem__")
        if self.grad_fn is not None:
            raise RuntimeError("__setitem__ on a tensor computed in the graph is not supported; build a new tensor")
        value = value.data if isinstance(value, Tensor) else value
        self.data[ops.array_index(index)] = value
        self._bump_version()

    # ---- arithmetic ----
    def __add__(self, other):
        return ops.add(self, other)

    def __radd__(self, other):
        return ops.add(other, self)

    def __sub__(self, other):
        return ops.sub(self, other)

    def __rsub__(self, other):
        return ops.sub(other, self)

    def __mul__(self, other):
        return ops.mul(self, other)

    def __rmul__(self, other):
        return ops.mul(other, self)

    def __truediv__(self, other):
        return ops.div(self, other)

    def __rtruediv__(self, other):
        return ops.div(other, self)

    def __pow__(self, other):
        return ops.pow(self, other)

    def __rpow__(self, other):
        return ops.pow(other, self)

    def __matmul__(self, other):
        return ops.matmul(self, other)

    def __rmatmul__(self, other):
        return ops.matmul(other, self)

    def __neg__(self):
        return ops.neg(self)

    def __abs__(self):
        return ops.abs(self)

    def __getitem__(self, index):
        return ops.getitem(self, index)

    # comparisons give plain boolean tensors, outside the graph
    def __eq__(self, other):
        return ops.compare("eq", self, other)

    def __ne__(self, other):
        return ops.compare("ne", self, other)

    def __lt__(self, other):
        return ops.compare("lt", self, other)

    def __le__(self, other):
        return ops.compare("le", self, other)

    def __gt__(self, other):
        return ops.compare("gt", self, other)

    def __ge__(self, other):
        return ops.compare("ge", self, other)

    __hash__ = object.__hash__

    # ---- methods that mirror functions ----
    def add(self, other):
        return ops.add(self, other)

    def sub(self, other):
        return ops.sub(self, other)

    def mul(self, other):
        return ops.mul(self, other)

    def div(self, other):
        return ops.div(self, other)

    def pow(self, exponent):
        return ops.pow(self, exponent)

    def matmul(self, other):
        return ops.matmul(self, other)

    def exp(self):
        return ops.exp(self)

    def log(self):
        return ops.log(self)

    def sqrt(self):
        return ops.sqrt(self)

    def abs(self):
        return ops.abs(self)

    def tanh(self):
        return ops.tanh(self)

    def sigmoid(self):
        return ops.sigmoid(self)

    def relu(self):
        return ops.relu(self)

    def clamp(self, min=None, max=None):
        return ops.clamp(self, min, max)

    clip = clamp

    def maximum(self, other):
        return ops.maximum(self, other)

    def minimum(self, other):
        return ops.minimum(self, other)

    def sum(self, dim=None, keepdim: bool = False):
        return ops.sum(self, dim, keepdim)

    def mean(self, dim=None, keepdim: bool = False):
        return ops.mean(self, dim, keepdim)

    def var(self, dim=None, unbiased: bool = True, keepdim: bool = False):
        return ops.var(self, dim, unbiased, keepdim)

    def std(self, dim=None, unbiased: bool = True, keepdim: bool = False):
        return ops.std(self, dim, unbiased, keepdim)

    def max(self, dim=None, keepdim: bool = False):
        return ops.max(self, dim, keepdim)

    def min(self, dim=None, keepdim: bool = False):
        return ops.min(self, dim, keepdim)

    def argmax(self, dim=None, keepdim: bool = False):
        return ops.argmax(self, dim, keepdim)

    def argmin(self, dim=None, keepdim: bool = False):
        return ops.argmin(self, dim, keepdim)

    def log_softmax(self, dim: int):
        return ops.log_softmax(self, dim)

    def softmax(self, dim: int):
        return ops.softmax(self, dim)

    def reshape(self, *shape):
        return ops.reshape(self, *shape)

    view = reshape

    def view_as(self, other: Tensor):
        return ops.reshape(self, other.shape)

    def transpose(self, dim0: int, dim1: int):
        return ops.transpose(self, dim0, dim1)

    def t(self):
        if self.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with at most 2 dimensions, got {self.ndim}")
        return self.T

    def permute(self, *dims):
        return ops.permute(self, *dims)

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        return ops.flatten(self, start_dim, end_dim)

    def squeeze(self, dim=None):
        return ops.squeeze(self, dim)

    def unsqueeze(self, dim: int):
        return ops.unsqueeze(self, dim)

    def expand(self, *size):
        return ops.expand(self, *size)

    def expand_as(self, other: Tensor):
        return ops.expand(self, *other.shape)


class _HookHandle:
    def __init__(self, hooks: list, hook):
        self.hooks, self.hook = hooks, hook

    def remove(self) -> None:
        if self.hook in self.hooks:
            self.hooks.remove(self.hook)


# ---- creation ----
def _infer_dtype(data) -> numpy.dtype:
    a = numpy.asarray(data)
    if a.dtype.kind == "f":
        return _default_dtype if not hasattr(data, "dtype") else a.dtype
    if a.dtype.kind in "iu":
        return a.dtype if hasattr(data, "dtype") else int64
    return a.dtype


def tensor(data, *, dtype=None, device: str | None = None, requires_grad: bool = False) -> Tensor:
    """A new leaf tensor holding a copy of data (a list, a number, a NumPy or CuPy array, a Tensor).

    Python floats become the default dtype (float32); NumPy arrays keep theirs.
    """
    if isinstance(data, Tensor):
        data = data.data
    if device is None:
        device = backend.device_of(data)
    xp = backend.xp_of(device)
    if dtype is None:
        dtype = data.dtype if backend.device_of(data) == "cuda" else _infer_dtype(data)
    array = xp.array(backend.to_device(data, device), dtype=numpy.dtype(dtype))
    t = Tensor(array)
    return t.requires_grad_() if requires_grad else t


def _shape(size) -> tuple:
    if len(size) == 1 and not isinstance(size[0], numbers.Integral):
        size = tuple(size[0])
    return tuple(int(s) for s in size)


def _device(device: str | None) -> str:
    """A factory's device: None is the CPU."""
    return "cpu" if device is None else device


def _new(array, requires_grad: bool) -> Tensor:
    t = Tensor(array)
    return t.requires_grad_() if requires_grad else t


def full(size, fill_value, *, dtype=None, device: str | None = None, requires_grad: bool = False) -> Tensor:
    """A tensor of the given size filled with fill_value; device None is the CPU, as for every factory."""
    if dtype is None:
        dtype = _infer_dtype(fill_value)
    return _new(backend.xp_of(_device(device)).full(_shape((size,)), fill_value, dtype=dtype), requires_grad)


def zeros(*size, dtype=None, device: str | None = None, requires_grad: bool = False) -> Tensor:
    return full(_shape(size), 0, dtype=dtype or _default_dtype, device=device, requires_grad=requires_grad)


def ones(*size, dtype=None, device: str | None = None, requires_grad: bool = False) -> Tensor:
    return full(_shape(size), 1, dtype=dtype or _default_dtype, device=device, requires_grad=requires_grad)


def empty(*size, dtype=None, device: str | None = None, requires_grad: bool = False) -> Tensor:
    return _new(backend.xp_of(_device(device)).empty(_shape(size), dtype=dtype or _default_dtype), requires_grad)


def arange(start, end=None, step=1, *, dtype=None, device: str | None = None, requires_grad: bool = False) -> Tensor:
    if end is None:
        start, end = 0, start
    if dtype is None:
        is_int = all(isinstance(v, numbers.Integral) for v in (start, end, step))
        dtype = int64 if is_int else _default_dtype
    return _new(backend.xp_of(_device(device)).arange(start, end, step, dtype=dtype), requires_grad)


def randn(*size, dtype=None, device: str | None = None, requires_grad: bool = False) -> Tensor:
    """Samples of N(0, 1), drawn from the generator that manual_seed sets."""
    array = random.standard_normal(_shape(size), numpy.dtype(dtype or _default_dtype), _device(device))
    return _new(array, requires_grad)


def rand(*size, dtype=None, device: str | None = None, requires_grad: bool = False) -> Tensor:
    """Samples of U[0, 1), drawn from the generator that manual_seed sets."""
    array = random.uniform(_shape(size), numpy.dtype(dtype or _default_dtype), _device(device))
    return _new(array, requires_grad)


def randint(low: int, high: int, size, *, device: str | None = None) -> Tensor:
    return Tensor(backend.to_device(random.generator().integers(low, high, size=_shape((size,))), _device(device)))


def randperm(n: int, *, device: str | None = None) -> Tensor:
    return Tensor(backend.to_device(random.generator().permutation(n), _device(device)))


def _like(fn, input: Tensor, dtype, device, requires_grad, *args) -> Tensor:
    return fn(*args, input.shape, dtype=dtype or input.dtype, device=device or input.device,
              requires_grad=requires_grad)


def zeros_like(input: Tensor, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _like(zeros, input, dtype, device, requires_grad)


def ones_like(input: Tensor, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _like(ones, input, dtype, device, requires_grad)


def full_like(input: Tensor, fill_value, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return full(input.shape, fill_value, dtype=dtype or input.dtype, device=device or input.device,
                requires_grad=requires_grad)


def randn_like(input: Tensor, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _like(randn, input, dtype, device, requires_grad)


def rand_like(input: Tensor, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _like(rand, input, dtype, device, requires_grad)


from minigan import autograd, ops, random
