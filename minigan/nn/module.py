"""Module and Parameter: the containers of learnable state, with torch.nn.Module's semantics.

Assigning a Parameter, a Module or a registered buffer to an attribute records it by name, so that
parameters(), state_dict(), to() and train() reach every piece of state of a model and of its sub-modules.
"""

from __future__ import annotations

import contextlib
import math
from collections import OrderedDict, namedtuple
from collections.abc import Callable, Iterator, Mapping

import numpy

from minigan import backend
from minigan.autograd import no_grad
from minigan.tensor import Tensor, empty, float32, float64, tensor


class Parameter(Tensor):
    """A Tensor that a Module lists among its parameters when assigned to one of its attributes.

    Built from a Tensor it shares that tensor's data (as torch.nn.Parameter); from anything else it copies.
    """

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            data = empty(0)
        super().__init__(data.data if isinstance(data, Tensor) else tensor(data).data)
        if isinstance(data, Tensor):
            self._version_counter = data._version_counter  # one memory, one count of its in-place changes
        if requires_grad:
            self.requires_grad_()

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


_budgets: list[list[int]] = []  # [limit, elements created so far] of each active parameter_budget


@contextlib.contextmanager
def parameter_budget(elements: int):
    """Within this context, creating a parameter that would bring the elements of the parameters created inside it
    above `elements` raises ValueError before any memory is allocated.

    For building a model that a file describes (a checkpoint's options): the model cannot be larger than the
    weights the file holds, so a few bytes of metadata cannot ask for gigabytes.
    """
    budget = [int(elements), 0]
    _budgets.append(budget)
    try:
        yield
    finally:
        _budgets.remove(budget)


def new_parameter(shape: tuple, device: str | None, dtype) -> Parameter:
    """An uninitialised Parameter of the given shape, on device (default cpu) in dtype (default dtype); counted
    against the active parameter_budget, if any."""
    size = math.prod(int(d) for d in shape)
    for limit, used in _budgets:
        if used + size > limit:
            raise ValueError(f"the model needs more than {limit} parameters, the most allowed here (a parameter "
                             f"of shape {tuple(shape)} would bring it to {used + size})")
    for budget in _budgets:
        budget[1] += size
    return Parameter(empty(shape, dtype=dtype, device=device or "cpu"))


class IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What load_state_dict found missing from, and left unused in, a state_dict."""

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()


_NAMED_ERRORS = (RuntimeError, TypeError, ValueError, IndexError)


def _name_layer(error: Exception, module: Module) -> None:
    """Prefix an error raised inside module's forward with the module's one-line description, once.

    The innermost layer names the error; the layers around it, which see it next, leave it as it is.
    """
    if getattr(error, "layer", None) is not None or len(error.args) != 1 or not isinstance(error.args[0], str):
        return
    error.layer = f"{type(module).__name__}({', '.join(module.extra_repr().splitlines())})"
    error.args = (f"{error.layer}: {error.args[0]}",)


def _indent(text: str, spaces: int) -> str:
    """Indent every line of text but the first (blank lines stay empty)."""
    first, *rest = text.split("\n")
    return "\n".join([first] + [" " * spaces + line if line.strip() else "" for line in rest])


def _check_name(owner: Module, name, kind: str, table: dict) -> None:
    if not isinstance(name, str):
        raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
    if name == "" or "." in name:
        raise KeyError(f'{kind} name can\'t be empty or contain ".", got {name!r}')
    if hasattr(owner, name) and name not in table:
        raise KeyError(f"attribute '{name}' already exists")


class Module:
    """Base class of all layers and models: subclasses assign their parameters and sub-modules in __init__
    (after calling super().__init__()) and compute their output in forward()."""

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", {})

    # ---- registration ----
    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Record param under name; None keeps the name reserved (e.g. a layer built with bias=False)."""
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        _check_name(self, name, "parameter", self._parameters)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                            "(Parameter or None required)")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Record a tensor that is state but not learned (running statistics); persistent ones go in state_dict."""
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        _check_name(self, name, "buffer", self._buffers)
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' (Tensor or None required)")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Record a sub-module under name."""
        if "_modules" not in self.__dict__:
            raise AttributeError("cannot assign module before Module.__init__() call")
        _check_name(self, name, "module", self._modules)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._modules[name] = module

    register_module = add_module

    def _forget(self, name: str, keep: dict) -> None:
        """Remove name from every table but keep, where it is replaced in place (its order unchanged)."""
        self.__dict__.pop(name, None)
        for table in (self._parameters, self._buffers, self._modules):
            if table is not keep:
                table.pop(name, None)
        self._non_persistent_buffers.discard(name)

    def __setattr__(self, name: str, value) -> None:
        d = self.__dict__
        if isinstance(value, Parameter):
            if "_parameters" not in d:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._forget(name, keep=self._parameters)
            self.register_parameter(name, value)
        elif isinstance(value, Module):
            if "_modules" not in d:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._forget(name, keep=self._modules)
            self.add_module(name, value)
        elif name in d.get("_parameters", ()):
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                "(Parameter or None expected)")
            self._parameters[name] = None
        elif name in d.get("_modules", ()):
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module '{name}' "
                                "(Module or None expected)")
            self._modules[name] = None
        elif name in d.get("_buffers", ()):
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' (Tensor or None expected)")
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str):
        d = self.__dict__
        for table in ("_parameters", "_buffers", "_modules"):
            if table in d and name in d[table]:
                return d[table][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for table in (self._parameters, self._buffers, self._modules):
            if name in table:
                del table[name]
                self._non_persistent_buffers.discard(name)
                return
        object.__delattr__(self, name)

    # ---- traversal ----
    def named_modules(self, memo: set | None = None, prefix: str = "", remove_duplicate: bool = True):
        """(name, module) for this module and every sub-module, depth first; a shared module once."""
        memo = set() if memo is None else memo
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is not None:
                yield from module.named_modules(memo, prefix + ("." if prefix else "") + name, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """(name, module) for the direct sub-modules, each module once."""
        seen = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def _named_members(self, table: str, prefix: str, recurse: bool, remove_duplicate: bool):
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        seen = set()
        for module_prefix, module in modules:
            for name, value in getattr(module, table).items():
                if value is None or id(value) in seen:
                    continue
                if remove_duplicate:
                    seen.add(id(value))
                yield module_prefix + ("." if module_prefix else "") + name, value

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter), this module's first, then each sub-module's; a shared parameter once."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, buf in self.named_buffers(recurse=recurse):
            yield buf

    # ---- state ----
    def state_dict(self, *, prefix: str = "", keep_vars: bool = False) -> OrderedDict:
        """name -> tensor for every parameter and persistent buffer, in PyTorch's key order.

        The tensors share the module's arrays (detached unless keep_vars); a shared module appears under
        each of its names, as in PyTorch.
        """
        out = OrderedDict()
        for name, param in self._parameters.items():
            if param is not None:
                out[prefix + name] = param if keep_vars else param.detach()
        for name, buf in self._buffers.items():
            if buf is not None and name not in self._non_persistent_buffers:
                out[prefix + name] = buf if keep_vars else buf.detach()
        for name, module in self._modules.items():
            if module is not None:
                out.update(module.state_dict(prefix=prefix + name + ".", keep_vars=keep_vars))
        return out

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Copy the values of state_dict (minigan Tensors or NumPy/CuPy arrays) into this module's arrays.

        Each array keeps its device and dtype. All or nothing: nothing is copied unless every value is a numeric
        (boolean, integer or floating-point) tensor or array of the right shape (and, when strict, the keys match
        exactly); otherwise a RuntimeError lists every problem, naming key and shapes. A state_dict that is not a
        dict raises TypeError.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"expected a dict (a state dict) of name -> tensor, got {type(state_dict).__name__}")
        own = self.state_dict(keep_vars=True)
        missing = [key for key in own if key not in state_dict]
        unexpected = [key for key in state_dict if key not in own]
        errors = []
        if strict and unexpected:
            errors.append("Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ".")
        if strict and missing:
            errors.append("Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ".")
        copies = []
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            if not isinstance(value, Tensor) and not (hasattr(value, "shape") and hasattr(value, "dtype")):
                errors.append(f'While copying the parameter named "{key}", expected a Tensor or an array from '
                              f"the state_dict, got {type(value).__name__}.")
            elif numpy.dtype(value.dtype).kind not in "biuf":
                errors.append(f'While copying the parameter named "{key}", expected numbers (a boolean, integer or '
                              f"floating-point tensor), got dtype {value.dtype}.")
            elif tuple(value.shape) != target.shape:
                errors.append(f"size mismatch for {key}: copying a param with shape {tuple(value.shape)} from "
                              f"checkpoint, the shape in current model is {target.shape}.")
            else:
                copies.append((target, value))
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(errors))
        with no_grad():
            for target, value in copies:
                target.copy_(value)
        return IncompatibleKeys(missing, unexpected)

    # ---- modes and conversions ----
    def train(self, mode: bool = True) -> Module:
        """Set training mode (batch statistics, dropout) on this module and all sub-modules."""
        if not isinstance(mode, bool):
            raise TypeError(f"training mode is expected to be boolean, got {mode!r}")
        self.training = mode
        for module in self.children():
            module.train(mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode: running statistics, no dropout; the same as train(False)."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop (or zero in place) the .grad of every parameter."""
        for param in self.parameters():
            if param.grad is None:
                continue
            if set_to_none:
                param.grad = None
            else:
                param.grad.detach_()
                param.grad.zero_()

    def apply(self, fn: Callable[[Module], object]) -> Module:
        """Call fn on every sub-module, then on this module (e.g. to initialise weights)."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    def _convert(self, convert: Callable) -> Module:
        """Replace the array of every parameter, gradient and buffer by convert(array), keeping the objects."""
        for module in self.modules():
            for param in module._parameters.values():
                if param is not None:
                    param.data = convert(param.data)
                    if param.grad is not None:
                        param.grad = Tensor(convert(param.grad.data))
            for buf in module._buffers.values():
                if buf is not None:
                    buf.data = convert(buf.data)
        return self

    def to(self, *args, device: str | None = None, dtype=None) -> Module:
        """Move parameters and buffers to a device and/or cast the floating ones to a dtype, in place.

        Accepts to(device), to(dtype), to(device, dtype) and to(tensor). The Parameter objects stay the same,
        so an optimizer built before still updates them.
        """
        for arg in args:
            if isinstance(arg, str):
                device = arg
            elif isinstance(arg, Tensor):
                device, dtype = arg.device, arg.dtype
            else:
                dtype = arg
        device = None if device is None else backend.check_device(device)
        if dtype is not None:
            dtype = numpy.dtype(dtype)
            if dtype.kind not in "fc":
                raise TypeError(f"Module.to only accepts floating point dtypes, got {dtype}")

        def convert(array):
            if device is not None:
                array = backend.to_device(array, device)
            if dtype is not None and array.dtype.kind in "fc":
                array = array.astype(dtype, copy=False)
            return array

        return self._convert(convert)

    def cpu(self) -> Module:
        return self.to("cpu")

    def cuda(self) -> Module:
        return self.to("cuda")

    def float(self) -> Module:
        return self.to(float32)

    def double(self) -> Module:
        return self.to(float64)

    # ---- calling ----
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    def __call__(self, *args, **kwargs):
        """forward(*args, **kwargs). An error raised inside gets the innermost layer's class and settings
        prefixed to its message, e.g. 'Linear(in_features=4, out_features=2, bias=True): ...', and that text
        in its `layer` attribute."""
        try:
            return self.forward(*args, **kwargs)
        except _NAMED_ERRORS as error:
            _name_layer(error, self)
            raise

    # ---- description ----
    def extra_repr(self) -> str:
        """The layer's settings, shown inside its repr (override in layers)."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr().split("\n") if self.extra_repr() else []
        children = [f"({name}): {_indent(repr(module), 2)}" for name, module in self._modules.items()]
        if len(extra) == 1 and not children:
            return f"{type(self).__name__}({extra[0]})"
        lines = extra + children
        body = "\n  " + "\n  ".join(lines) + "\n" if lines else ""
        return f"{type(self).__name__}({body})"
