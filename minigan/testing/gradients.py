"""Gradient checks against central finite differences, in float64.

gradcheck goes along random directions. For a function f, inputs x and a random output weight gy, the scalar
L(x) = <gy, f(x)> has directional derivative <dL/dx, v> along v; the check compares the engine's dL/dx with
(L(x + eps v) - L(x - eps v)) / 2 eps. One random direction covers every input at once; a few of them make a
wrong gradient unlikely to pass, but a term that is small next to the others can hide in the sum.

jacobian_check compares every entry of the Jacobian instead, each to float64 precision: for small inputs, where
a missing term must show.
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


def _checked_inputs(name: str, inputs: list) -> list[int]:
    """The positions of the inputs that require grad; each must be float64 (finite differences need it)."""
    checked = [k for k, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError(f"{name}: no input requires grad")
    for k in checked:
        if inputs[k].dtype != numpy.float64:
            raise TypeError(f"{name}: input {k} has dtype {inputs[k].dtype}; finite differences need float64")
    return checked


def gradcheck(fn: Callable, inputs: Sequence[Tensor], eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-4,
              directions: int = 3, seed: int = 0) -> bool:
    """Check the first derivatives of fn at inputs (Tensors; those with requires_grad are checked).

    fn is evaluated with grad enabled (the shifted inputs require grad too), so fn may itself take gradients.

    Raises AssertionError naming the direction and both values when a directional derivative disagrees.
    """
    rng = numpy.random.default_rng(seed)
    inputs = list(inputs)
    checked = _checked_inputs("gradcheck", inputs)
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


def _first_gradient(fn: Callable, inputs: list, seed: int) -> tuple[Callable, list]:
    """x, gy -> d<gy, fn(x)>/dx built with create_graph=True, and the inputs followed by a random gy (one per
    output, requiring grad): the function whose derivatives are fn's second derivatives."""
    rng = numpy.random.default_rng(seed + 1)
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

    return first_grad, inputs + gys


def gradgradcheck(fn: Callable, inputs: Sequence[Tensor], eps: float = 1e-6, atol: float = 1e-4,
                  rtol: float = 1e-3, directions: int = 3, seed: int = 0) -> bool:
    """Check the second derivatives of fn: gradcheck of x, gy -> d<gy, fn(x)>/dx built with create_graph=True."""
    first_grad, inputs = _first_gradient(fn, list(inputs), seed)
    return gradcheck(first_grad, inputs, eps, atol, rtol, directions, seed)


def _engine_jacobian(ys: Sequence[Tensor], xs: list[Tensor]) -> list[numpy.ndarray]:
    """For each output, its Jacobian with respect to xs side by side: one vector-Jacobian product per row."""
    sizes = [x.numel() for x in xs]
    blocks = [numpy.zeros((y.numel(), sum(sizes))) for y in ys]
    for y, rows in zip(ys, blocks):
        if not y.requires_grad:
            continue
        for i in range(y.numel()):
            unit = numpy.zeros(y.numel(), dtype=y.dtype)
            unit[i] = 1.0
            grads = autograd.grad(y, xs, Tensor(unit.reshape(y.shape)).to(y.device), retain_graph=True,
                                  allow_unused=True)
            rows[i] = numpy.concatenate([numpy.zeros(n) if g is None else g.numpy().ravel()
                                         for g, n in zip(grads, sizes)])
    return blocks


def _difference_jacobian(fn: Callable, inputs: list, checked: list[int], eps: float) -> list[numpy.ndarray]:
    """The same by central differences: one pair of evaluations per column (an element of a checked input)."""
    columns = []
    for k in checked:
        x = inputs[k]
        for e in range(x.numel()):
            ends = []
            for sign in (1.0, -1.0):
                step = numpy.zeros(x.numel())
                step[e] = sign * eps
                moved = list(inputs)
                moved[k] = Tensor(x.data + _on_device(step.reshape(x.shape), x), requires_grad=True)
                ends.append([y.numpy().ravel() for y in _outputs(fn, moved)])
            columns.append([(plus - minus) / (2 * eps) for plus, minus in zip(*ends)])
    return [numpy.stack(column, axis=1) for column in zip(*columns)]


def jacobian_check(fn: Callable, inputs: Sequence[Tensor], eps: float = 1e-5, rtol: float = 1e-6,
                   second_order: bool = False, seed: int = 0) -> bool:
    """Check every entry of fn's Jacobian (with second_order, of the Jacobian of x, gy -> d<gy, fn(x)>/dx, as
    gradgradcheck builds it) at inputs (Tensors; those with requires_grad are checked), in float64.

    The engine's rows (a vector-Jacobian product per output element) are compared with central differences (a
    pair of evaluations per input element), so it is for small inputs. The block of output k and input j may
    differ by rtol times its largest entry, plus what rounding leaves of a difference quotient, 1000 e max|y_k| /
    eps (e the machine epsilon). The default step, near e^(1/3), balances the truncation and rounding errors of
    the differences: a correct derivative of a smooth function stays far inside, a missing term far outside.

    Raises AssertionError naming the entry, both values and the tolerance.
    """
    inputs = list(inputs)
    if second_order:
        fn, inputs = _first_gradient(fn, inputs, seed)
    checked = _checked_inputs("jacobian_check", inputs)
    ys = _outputs(fn, inputs)
    engine = _engine_jacobian(ys, [inputs[k] for k in checked])
    differences = _difference_jacobian(fn, inputs, checked, eps)
    bounds = numpy.cumsum([0] + [inputs[k].numel() for k in checked])
    rounding = 1000 * numpy.finfo(numpy.float64).eps / eps
    for out, (y, a, n) in enumerate(zip(ys, engine, differences)):
        for j, k in enumerate(checked):
            block_a, block_n = a[:, bounds[j]:bounds[j + 1]], n[:, bounds[j]:bounds[j + 1]]
            if not block_a.size:
                continue
            tolerance = rtol * numpy.abs(block_n).max() + rounding * float(numpy.abs(y.numpy()).max())
            error = numpy.abs(block_a - block_n)
            if error.max() > tolerance:
                i, e = numpy.unravel_index(numpy.argmax(error), error.shape)
                raise AssertionError(
                    f"jacobian_check: d output {out}[{i}] / d input {k}[{e}]: analytic {float(block_a[i, e])!r} but "
                    f"finite difference {float(block_n[i, e])!r} (error {error.max():.3g}, tolerance {tolerance:.3g})")
    return True
