"""Gradient checks against central finite differences, in float64 along random directions.

For a function f, inputs x and a random output weight gy, the scalar L(x) = <gy, f(x)> has directional
derivative <dL/dx, v> along v; the check compares the engine's dL/dx with (L(x + eps v) - L(x - eps v)) / 2 eps.
One random direction covers every input at once; a few of them make a wrong gradient unlikely to pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy

from minigan import autograd
from minigan.tensor import Tensor


def _outputs(fn: Callable, inputs: Sequence[Tensor]) -> tuple[Tensor, ...]:
    out = fn(*inputs)
    return out if isinstance(out, tuple) else (out,)


def _dot(ys: Sequence[Tensor], gys: Sequence) -> float:
    return float(sum(numpy.vdot(y.numpy(), g) for y, g in zip(ys, gys)))


def _on_device(v: numpy.ndarray, x: Tensor):
    return Tensor(v).to(x.device).data


def gradcheck(fn: Callable, inputs: Sequence[Tensor], eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-4,
              directions: int = 3, seed: int = 0) -> bool:
    """Check the first derivatives of fn at inputs (Tensors; those with requires_grad are checked).

    fn is evaluated with grad enabled (the shifted inputs require grad too), so fn may itself take gradients.

    Raises AssertionError naming the direction and both values when a directional derivative disagrees.
    """
    rng = numpy.random.default_rng(seed)
    inputs = list(inputs)
    checked = [k for k, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad")
    for k in checked:
        if inputs[k].dtype != numpy.float64:
            raise TypeError(f"gradcheck: input {k} has dtype {inputs[k].dtype}; finite differences need float64")
    ys = _outputs(fn, inputs)
    gys = [rng.standard_normal(y.shape) for y in ys]
    live = [(y, Tensor(numpy.asarray(g, dtype=y.dtype)).to(y.device)) for y, g in zip(ys, gys) if y.requires_grad]
    if live:
        grads = autograd.grad([y for y, _ in live], [inputs[k] for k in checked], [g for _, g in live],
                              allow_unused=True)
    else:
        grads = [None] * len(checked)
    grads = [numpy.zeros(inputs[k].shape) if g is None else g.numpy() for k, g in zip(checked, grads)]
    for trial in range(directions):
        vs = [rng.standard_normal(inputs[k].shape) for k in checked]
        analytic = float(sum(numpy.vdot(g, v) for g, v in zip(grads, vs)))

        def shifted(sign: float, vs=vs) -> float:
            moved = list(inputs)
            for k, v in zip(checked, vs):
                moved[k] = Tensor(inputs[k].data + sign * eps * _on_device(v, inputs[k]), requires_grad=True)
            return _dot(_outputs(fn, moved), gys)

        numeric = (shifted(1.0) - shifted(-1.0)) / (2 * eps)
        if not abs(analytic - numeric) <= atol + rtol * abs(numeric):
            raise AssertionError(f"gradcheck: direction {trial}: analytic {analytic!r} but finite difference "
                                 f"{numeric!r} (atol {atol}, rtol {rtol})")
    return True


def gradgradcheck(fn: Callable, inputs: Sequence[Tensor], eps: float = 1e-6, atol: float = 1e-4,
                  rtol: float = 1e-3, directions: int = 3, seed: int = 0) -> bool:
    """Check the second derivatives of fn: gradcheck of x, gy -> d<gy, fn(x)>/dx built with create_graph=True."""
    rng = numpy.random.default_rng(seed + 1)
    inputs = list(inputs)
    checked = [k for k, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    ys = _outputs(fn, inputs)
    gys = [Tensor(rng.standard_normal(y.shape)).to(y.device).requires_grad_() for y in ys]

    def first_grad(*args):
        xs, g = list(args[:len(inputs)]), args[len(inputs):]
        outs = _outputs(fn, xs)
        pairs = [(y, gy) for y, gy in zip(outs, g) if y.requires_grad]
        grads = autograd.grad([y for y, _ in pairs], [xs[k] for k in checked], [gy for _, gy in pairs],
                              create_graph=True, allow_unused=True)
        return tuple(gx for gx in grads if gx is not None)

    return gradcheck(first_grad, inputs + gys, eps, atol, rtol, directions, seed)
