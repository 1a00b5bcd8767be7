"""Reverse-mode automatic differentiation: Function nodes, the graph walk, grad mode.

A Function computes its forward on raw arrays and its backward on Tensors built from other Functions. The
backward is therefore itself recorded when `create_graph=True`, which gives gradients of gradients.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import itertools
import weakref
from collections.abc import Sequence

import numpy

from minigan.tensor import Tensor

_grad_enabled = True
_sequence = itertools.count()


def is_grad_enabled() -> bool:
    return _grad_enabled


class set_grad_enabled:
    """Turn graph recording on or off now; used in a `with` block, the previous mode comes back at its end;
    used as a decorator, the function runs in that mode."""

    def __init__(self, mode: bool):
        global _grad_enabled
        self.mode = bool(mode)
        self.previous, _grad_enabled = _grad_enabled, self.mode

    def __call__(self, func):
        global _grad_enabled
        _grad_enabled = self.previous  # decorating does not switch the mode
        mode = self.mode

        @functools.wraps(func)
        def run(*args, **kwargs):
            with set_grad_enabled(mode):
                return func(*args, **kwargs)

        return run

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc) -> None:
        global _grad_enabled
        _grad_enabled = self.previous


class _GradMode(contextlib.ContextDecorator):
    mode = True

    def __new__(cls, func=None):
        """Bare use as a decorator (@no_grad) wraps func at once; no_grad() makes a context manager."""
        self = super().__new__(cls)
        return self(func) if callable(func) else self

    def _recreate_cm(self):
        return type(self)()  # a fresh one per decorated call, so that recursion restores the right mode

    def __enter__(self) -> None:
        global _grad_enabled
        self.previous, _grad_enabled = _grad_enabled, self.mode

    def __exit__(self, *exc) -> None:
        global _grad_enabled
        _grad_enabled = self.previous


class no_grad(_GradMode):
    """Inside the block (or the decorated function) operations are not recorded: no graph, nothing saved."""

    mode = False


class enable_grad(_GradMode):
    """Inside the block (or the decorated function) operations are recorded, even within no_grad."""

    mode = True


class Function:
    """One node of the graph.

    Subclasses define `forward(*arrays) -> array | tuple of arrays` and `backward(*gys) -> Tensor | tuple`, one
    gradient (or None) per input. `backward` must be written with differentiable operations on Tensors so that
    it can be differentiated again. Inside it, `self.inputs` are the input Tensors, `self.output(i)` the i-th
    output as a node of the graph (saved by setting `saves_outputs = True`), and `self.needs_input_grad` tells
    which input gradients the walk wants.

    The tensors whose values the backward reads are saved for it: their versions are noted in forward and
    checked before backward, which raises if one was changed in place since (the gradient would be wrong).
    `saved_inputs` says which inputs those are: for each input in order, the positions of the inputs that its
    gradient reads, so an input is saved only when an input whose gradient needs it requires grad (as in
    PyTorch); None (the default) saves every input. `returns_view` marks a Function whose output may be a view
    of its first input; when it is, the two share a version counter.
    """

    saves_outputs = False
    saved_inputs: tuple[tuple[int, ...], ...] | None = None
    returns_view = False

    @property
    def name(self) -> str:
        return type(self).__name__

    def forward(self, *xs):
        raise NotImplementedError

    def backward(self, *gys):
        raise NotImplementedError

    def apply(self, *inputs: Tensor | None):
        """Run forward on the inputs' arrays; record the node when a gradient may be asked for later."""
        device = None
        for x in inputs:
            if x is None:
                continue
            if not isinstance(x, Tensor):
                raise TypeError(f"{self.name}: expected Tensor inputs, got {type(x).__name__}")
            if device is None:
                device = x.device
            elif x.device != device:
                raise RuntimeError(f"{self.name}: inputs are on different devices ({device} and {x.device})")
        ys = self.forward(*(None if x is None else x.data for x in inputs))
        single = not isinstance(ys, tuple)
        ys = (ys,) if single else ys
        record = _grad_enabled and any(x is not None and x.requires_grad for x in inputs)
        ys = tuple(numpy.asarray(y) if isinstance(y, numpy.generic) else y for y in ys)  # NumPy scalars -> 0-d
        outputs = tuple(Tensor(y, requires_grad=record) for y in ys)
        if self.returns_view and _memory_owner(ys[0]) is _memory_owner(inputs[0].data):
            outputs[0]._version_counter = inputs[0]._version_counter
        if record:
            self.inputs = inputs
            self.seq = next(_sequence)
            self.output_meta = [(y.shape, y.dtype) for y in ys]
            self.output_refs = [weakref.ref(t) for t in outputs]
            self.saved_outputs = ys if self.saves_outputs else None
            self.input_versions = [None if x is None else x._version_counter[0] for x in inputs]
            if self.saves_outputs:
                self.output_versions = [(t._version_counter, t._version_counter[0]) for t in outputs]
            for i, t in enumerate(outputs):
                t.grad_fn, t.output_index = self, i
        return outputs[0] if single else outputs

    def output(self, i: int = 0) -> Tensor:
        """The i-th output as a graph node (its gradient flows back through this Function)."""
        t = Tensor(self.saved_outputs[i], requires_grad=True)
        t.grad_fn, t.output_index = self, i
        t._version_counter = self.output_versions[i][0]
        return t

    def release(self) -> None:
        """Free what the backward needed; a later walk through this node fails with a clear message."""
        seq, name = self.seq, self.name
        self.__dict__.clear()
        self.seq, self.inputs, self.freed_name = seq, None, name

    def __repr__(self) -> str:
        return f"<{self.name}>"


def _memory_owner(a):
    """The array (or buffer) that owns a's memory: the same for an array and every view of it."""
    while getattr(a, "base", None) is not None:
        a = a.base
    return a


def _check_saved_versions(f: Function) -> None:
    """Raise if a tensor saved for f's backward was changed in place after its forward read it."""
    inputs, versions = f.inputs, f.input_versions
    if [None if x is None else x._version_counter[0] for x in inputs] != versions:  # rare: find which
        if f.saved_inputs is None:
            read = range(len(inputs))
        else:
            read = {j for reads, x in zip(f.saved_inputs, inputs) if x is not None and x.requires_grad for j in reads}
        for j in sorted(read):
            x = inputs[j]
            if x is not None and x._version != versions[j]:
                raise _modified(f, f"input {j}", x.shape, x.dtype, versions[j], x._version)
    if f.saves_outputs:
        for i, (counter, version) in enumerate(f.output_versions):
            if counter[0] != version:
                raise _modified(f, f"output {i}", *f.output_meta[i], version, counter[0])


def _modified(f: Function, what: str, shape: tuple, dtype, saved: int, now: int) -> RuntimeError:
    return RuntimeError(
        f"{f.name}.backward: {what} (shape {shape}, {dtype}), saved for the gradient, was modified in place "
        f"(version {saved} when saved, {now} now): one of the variables needed for gradient computation has been "
        "modified by an inplace operation. Change a clone() instead, or run the forward again after the change."
    )


def _check_freed(f: Function) -> None:
    if f.inputs is None:
        raise RuntimeError(
            f"Trying to backward through {f.freed_name} a second time: its saved values were freed after the "
            "first backward. Pass retain_graph=True to the first backward (or grad) to walk the graph again."
        )


def _collect(roots: Sequence[Tensor]) -> list[Function]:
    """All Functions that the roots depend on, in creation order (inputs always come first)."""
    seen, stack = set(), [t.grad_fn for t in roots if t.grad_fn is not None]
    order = []
    while stack:
        f = stack.pop()
        if f in seen:
            continue
        seen.add(f)
        order.append(f)
        _check_freed(f)
        stack.extend(x.grad_fn for x in f.inputs if x is not None and x.grad_fn is not None)
    order.sort(key=lambda f: f.seq)
    return order


def _accumulate(a: Tensor | None, b: Tensor) -> Tensor:
    return b if a is None else a + b


def _run_hooks(t: Tensor, g: Tensor) -> Tensor:
    for hook in t.hooks:
        out = hook(g)
        if out is not None:
            g = out
    return g


def _zeros(meta, device: str) -> Tensor:
    from minigan.tensor import zeros

    shape, dtype = meta
    return zeros(shape, dtype=dtype, device=device)


def run_backward(outputs, grad_outputs, inputs=None, retain_graph=False, create_graph=False, allow_unused=False):
    """Propagate grad_outputs from outputs to the leaves (inputs=None: accumulate into .grad) or to `inputs`.

    The walk visits Functions in reverse creation order, which is a topological order of any graph built
    forward, and it needs no recursion. With `inputs`, only the Functions on a path to them are run, and each
    one is told which of its input gradients are wanted.
    """
    targets = None if inputs is None else {id(t): k for k, t in enumerate(inputs)}
    order = _collect(outputs)
    wanted: dict[Function, tuple[bool, ...]] = {}
    reaches: set[Function] = set()
    for f in order:
        mask = []
        for x in f.inputs:
            if x is None or not x.requires_grad:
                mask.append(False)
            elif targets is None:
                mask.append(True)
            else:
                mask.append(id(x) in targets or x.grad_fn in reaches)
        wanted[f] = tuple(mask)
        if any(mask):
            reaches.add(f)

    results = [None] * len(inputs) if inputs is not None else None
    leaves: dict[int, list] = {}
    pending: dict[Function, list] = {}
    heap: list = []

    def send(t: Tensor, g: Tensor) -> None:
        if g.dtype != t.dtype:
            g = g.to(t.dtype)
        if t.grad_fn is None:
            entry = leaves.setdefault(id(t), [t, None])
            entry[1] = _accumulate(entry[1], g)
            return
        f = t.grad_fn
        if f not in pending:
            pending[f] = [None] * len(f.output_meta)
            heapq.heappush(heap, (-f.seq, f))
        pending[f][t.output_index] = _accumulate(pending[f][t.output_index], g)

    with enable_grad() if create_graph else no_grad():
        for t, g in zip(outputs, grad_outputs):
            if g.shape != t.shape:
                raise RuntimeError(f"grad_outputs has shape {g.shape}, but the output has shape {t.shape}")
            send(t, g)
        while heap:
            _, f = heapq.heappop(heap)
            gys = pending.pop(f)
            for i, ref in enumerate(f.output_refs):
                t = ref()
                if t is None or gys[i] is None:
                    continue
                if t.hooks:
                    gys[i] = _run_hooks(t, gys[i])
                if t.retains_grad:
                    t.grad = _accumulate(t.grad, gys[i] if create_graph else gys[i].detach())
                if targets is not None and id(t) in targets:
                    results[targets[id(t)]] = gys[i]
            if f in reaches:
                _check_freed(f)
                _check_saved_versions(f)
                device = next(g.device for g in gys if g is not None)
                gys = [_zeros(m, device) if g is None else g for g, m in zip(gys, f.output_meta)]
                f.needs_input_grad = wanted[f]
                gxs = f.backward(*gys)
                gxs = gxs if isinstance(gxs, tuple) else (gxs,)
                if len(gxs) != len(f.inputs):
                    raise RuntimeError(f"{f.name}.backward returned {len(gxs)} gradients for {len(f.inputs)} inputs")
                for x, gx, want in zip(f.inputs, gxs, wanted[f]):
                    if want and gx is not None:
                        if gx.shape != x.shape:
                            raise RuntimeError(
                                f"{f.name}.backward: gradient of shape {gx.shape} for an input of shape {x.shape}"
                            )
                        send(x, gx)
            if not retain_graph:
                f.release()
        for t, g in leaves.values():
            if t.hooks:
                g = _run_hooks(t, g)
            if targets is None:
                t.grad = _accumulate(t.grad, g if create_graph else g.detach())
            elif id(t) in targets:
                results[targets[id(t)]] = g
    if results is not None:
        for k, (t, g) in enumerate(zip(inputs, results)):
            if g is None and not allow_unused:
                raise RuntimeError(
                    f"grad: input {k} (shape {t.shape}) is not reachable from the outputs; "
                    "pass allow_unused=True to get None for it"
                )
    return results


def _as_list(xs) -> list:
    return [xs] if isinstance(xs, Tensor) else list(xs)


def _seed_grads(outputs: list[Tensor], grad_outputs) -> list[Tensor]:
    from minigan.tensor import ones_like

    grad_outputs = [None] * len(outputs) if grad_outputs is None else _as_list(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"got {len(grad_outputs)} grad_outputs for {len(outputs)} outputs")
    seeds = []
    for t, g in zip(outputs, grad_outputs):
        if not t.requires_grad:
            raise RuntimeError(
                f"output of shape {t.shape} does not require grad and has no grad_fn: nothing to differentiate"
            )
        if g is None:
            if t.data.size != 1:
                raise RuntimeError(
                    f"grad can be implicitly created only for scalar outputs; output has shape {t.shape}"
                )
            g = ones_like(t)
        seeds.append(g)
    return seeds


def backward(tensors, grad_tensors=None, retain_graph: bool | None = None, create_graph: bool = False) -> None:
    """Accumulate d(tensors)/d(leaf) into the .grad of every leaf that requires grad."""
    outputs = _as_list(tensors)
    seeds = _seed_grads(outputs, grad_tensors)
    run_backward(outputs, seeds, retain_graph=create_graph if retain_graph is None else retain_graph,
                 create_graph=create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph: bool | None = None, create_graph: bool = False,
         allow_unused: bool = False) -> tuple:
    """The gradients of sum(outputs * grad_outputs) with respect to inputs, as torch.autograd.grad.

    With create_graph=True the returned gradients are themselves differentiable (gradient penalties, R1).
    """
    outputs, inputs = _as_list(outputs), _as_list(inputs)
    for k, t in enumerate(inputs):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError(f"grad: input {k} does not require grad")
    seeds = _seed_grads(outputs, grad_outputs)
    results = run_backward(outputs, seeds, inputs=inputs,
                           retain_graph=create_graph if retain_graph is None else retain_graph,
                           create_graph=create_graph, allow_unused=allow_unused)
    return tuple(results)
