"""Optimizer: parameter groups, per-parameter state and PyTorch-shaped state dicts.

A subclass states its defaults, checks its hyperparameters, makes the state of a parameter the first time it
has a gradient, and updates one parameter's array in place; the loop over groups, the closure, zero_grad and
saving/loading the state are shared here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy

from minigan import autograd, backend
from minigan.tensor import Tensor


class Optimizer:
    """Base class of the optimizers, with torch.optim.Optimizer's interface.

    `params` is an iterable of Tensors, or of dicts (parameter groups) with a 'params' entry and any
    hyperparameters that override `defaults` for that group. `param_groups` is the list of groups;
    `state[p]` the dict of state (step count, moment arrays) of parameter p, made at its first update.
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], defaults: dict[str, Any]):
        if isinstance(params, (Tensor, dict)):
            raise TypeError("params given to the optimizer should be an iterable of Tensors or dicts, "
                            f"but got a {type(params).__name__}")
        if isinstance(params, (set, frozenset)):
            raise TypeError("params given to the optimizer should be an ordered iterable (a list or a generator), "
                            "not a set: the order of parameters must be the same from run to run")
        self.defaults = dict(defaults)
        self.check_hyperparameters(self.defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[Tensor, dict[str, Any]] = {}
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def __repr__(self) -> str:
        lines = [type(self).__name__ + " ("]
        for k, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {k}")
            lines += [f"    {key}: {value}" for key, value in sorted(group.items()) if key != "params"]
        return "\n".join(lines) + "\n)"

    # ---- hyperparameters ----
    def check_hyperparameters(self, group: dict[str, Any]) -> None:
        """Raise ValueError naming the first hyperparameter of group that is out of range (subclasses extend)."""
        lr = group.get("lr")
        if lr is not None and not lr >= 0:
            raise ValueError(f"{type(self).__name__}: invalid learning rate {lr}: must be >= 0")

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters, with hyperparameters that default to the optimizer's defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"a parameter group must be a dict, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError("a parameter group must have a 'params' entry")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError("a parameter group's 'params' must be ordered (a list), not a set")
        else:
            params = list(params)
        index = len(self.param_groups)
        for k, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but parameter {k} of group {index} is a "
                                f"{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"parameter {k} of group {index} is not a leaf tensor (it has a grad_fn): "
                                 "optimize the tensor it was computed from, or a detached copy")
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        for k, p in enumerate(params):
            if id(p) in seen:
                raise ValueError(f"parameter {k} of group {index} (shape {p.shape}) is given twice: "
                                 "each parameter may appear only once across all parameter groups")
            seen.add(id(p))
        group = {**self.defaults, **param_group, "params": params}
        self.check_hyperparameters(group)
        self.param_groups.append(group)

    # ---- the update ----
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: set every parameter's grad to None, or to a new zero Tensor.

        The old gradient array is never written into (it may be a read-only broadcast view).
        """
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    xp = backend.get_array_module(p.grad.data)
                    p.grad = Tensor(xp.zeros(p.grad.shape, dtype=p.grad.dtype))

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient, in place (bumping its version, as any in-place change);
        return closure() when a closure is given.

        The closure (which recomputes the loss and its gradients) runs with grad enabled; the update runs
        without recording a graph.
        """
        loss = None
        if closure is not None:
            with autograd.enable_grad():
                loss = closure()
        with autograd.no_grad():
            for group in self.param_groups:
                live = [p for p in group["params"] if p.grad is not None]
                for p in live:
                    if p not in self.state:
                        self.state[p] = self.init_state(p, group)
                if live:
                    self.update_group([p.data for p in live], [p.grad.data for p in live],
                                      [self.state[p] for p in live], group)
                for p in live:
                    p._bump_version()  # a graph that saved p before the step can no longer give its gradient
        return loss

    def init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        """The state of parameter p before its first update (arrays on p's device)."""
        return {}

    def update(self, param, grad, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Update the array `param` in place from the array `grad` (never written) and the state."""
        raise NotImplementedError

    def update_group(self, params: list, grads: list, states: list[dict[str, Any]], group: dict[str, Any]) -> None:
        """Update the arrays of a group's parameters that have gradients, in place: update() on each by default; an
        optimizer whose kernel takes whole lists at once (one launch on the GPU) overrides this instead, calling its
        kernel once per list of one_kind()."""
        for param, grad, state in zip(params, grads, states):
            self.update(param, grad, state, group)


    # ---- saving and loading ----
    def state_dict(self) -> dict[str, Any]:
        """A snapshot of the optimizer, shaped like PyTorch's: {'state': {index: {...}}, 'param_groups': [...]}.

        Parameters are numbered in order across the groups; each group lists its parameters' numbers under
        'params'. The state holds copies of the arrays (later steps do not change them) and Python scalars.
        """
        numbers: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            for p in group["params"]:
                numbers.setdefault(id(p), len(numbers))
            saved = {key: value for key, value in group.items() if key != "params"}
            saved["params"] = [numbers[id(p)] for p in group["params"]]
            groups.append(saved)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if self.state.get(p):
                    state[numbers[id(p)]] = {key: _copy(value) for key, value in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a state from state_dict(): hyperparameters and per-parameter state, matched by position.

        The groups must have the same number of parameters as this optimizer's; a hyperparameter missing from
        a saved group keeps its current value; state arrays are copied to their parameter's device (floating
        ones to its dtype) and must have its shape. Nothing is changed when the state dict does not fit.
        """
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= state_dict.keys():
            raise ValueError("load_state_dict: expected a dict with 'state' and 'param_groups' entries, "
                             "as returned by state_dict()")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"load_state_dict: the state dict has {len(saved_groups)} parameter group(s), "
                             f"this optimizer has {len(self.param_groups)}")
        params: dict[int, Tensor] = {}
        for k, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"load_state_dict: parameter group {k} has {len(saved['params'])} parameter(s) "
                                 f"in the state dict and {len(group['params'])} in this optimizer")
            params.update(zip(saved["params"], group["params"]))
        new_state: dict[Tensor, dict[str, Any]] = {}
        for index, entries in state_dict["state"].items():
            if index not in params:
                raise ValueError(f"load_state_dict: the state dict has state for parameter {index!r}, "
                                 "which no parameter group lists")
            p = params[index]
            new_state[p] = {key: _to_param(value, p, index, key) for key, value in entries.items()}
        new_groups = []
        for group, saved in zip(self.param_groups, saved_groups):
            new_group = {**group, **{key: value for key, value in saved.items() if key != "params"},
                         "params": group["params"]}
            self.check_hyperparameters(new_group)
            new_groups.append(new_group)
        self.param_groups = new_groups
        self.state = new_state


def _copy(value):
    """A copy of an array (on its device), or the value itself when it is a Python scalar."""
    if isinstance(value, Tensor):
        return value.data.copy()
    return value.copy() if hasattr(value, "__array__") and hasattr(value, "copy") else value


def _to_param(value, p: Tensor, index, key: str):
    """A state value made ready for parameter p: arrays copied to p's device, floating ones to p's dtype."""
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, numpy.generic):
        return value.item()
    if not hasattr(value, "__array__"):
        raise TypeError(f"load_state_dict: state {key!r} of parameter {index} is a {type(value).__name__}, "
                        "expected an array or a Python scalar")
    if value.shape != p.shape:
        raise ValueError(f"load_state_dict: state {key!r} of parameter {index} has shape {tuple(value.shape)}, "
                         f"but the parameter has shape {p.shape}")
    xp = backend.get_array_module(p.data)
    dtype = p.dtype if value.dtype.kind == "f" else value.dtype
    return xp.array(backend.to_device(value, p.device), dtype=dtype, copy=True)


def one_kind(params: list) -> list[list[int]]:
    """The positions of the arrays in params, in lists of one device and one dtype each (what a kernel that
    updates a list of parameters at once takes)."""
    kinds: dict = {}
    for k, p in enumerate(params):
        kinds.setdefault((backend.device_of(p), p.dtype), []).append(k)
    return list(kinds.values())
