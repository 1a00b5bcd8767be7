"""check_function: one call that tests a differentiable function the way minigan tests its own operators.

A Function's forward and backward are written separately, and either may be wrong alone: a forward that is right
only for contiguous arrays, a backward whose own derivative (needed for a gradient penalty) is wrong. The check
compares the forward with a NumPy reference in float64 and float32, on inputs held in every memory layout, makes
sure the inputs were left as they were, then compares first and second derivatives with central finite
differences, on inputs that Hypothesis draws.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from minigan import backend
from minigan.autograd import Function
from minigan.tensor import Tensor
from minigan.testing.arrays import LAYOUTS, host, place, untouched
from minigan.testing.gradients import gradcheck, gradgradcheck
from minigan.testing.tolerances import assert_close


def _tuple(out) -> tuple:
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def _is_array(a) -> bool:
    """Whether a drawn input is an array to check (a NumPy or CuPy array, or a Tensor) rather than a constant."""
    return isinstance(a, (Tensor, numpy.ndarray)) or backend.device_of(a) == "cuda"


def _values(a):
    """A drawn input as a contiguous float64 NumPy array (from an array of either device or a Tensor), or the
    constant it is."""
    if not _is_array(a):
        return a
    if isinstance(a, Tensor):
        a = a.data
    return numpy.array(host(a), dtype=numpy.float64, order="C")


def _floors(floor, arrays: list, expected: list) -> list:
    """One floor per output: the default (each output's largest magnitude), a number, or floor(*arrays), which
    may give one value or one per output."""
    if floor is None:
        return [float(numpy.abs(e).max()) if e.size else 0.0 for e in expected]
    if callable(floor):
        floor = floor(*arrays)
        if isinstance(floor, (tuple, list)) and len(expected) > 1:
            if len(floor) != len(expected):
                raise ValueError(f"check_function: floor gave {len(floor)} values for {len(expected)} outputs")
            return list(floor)
    return [floor] * len(expected)


def check_function(
    function: Callable[..., Tensor | tuple[Tensor, ...]] | type[Function],
    reference: Callable[..., Any] | None,
    inputs: SearchStrategy | Sequence[SearchStrategy],
    *,
    floor: float | Callable[..., Any] | None = None,
    rtol: float | None = None,
    dtypes: Sequence[str] = ("float64", "float32"),
    layouts: Sequence[str] = LAYOUTS,
    device: str = "cpu",
    second_order: bool = True,
    examples: Sequence[Sequence] = (),
    max_examples: int | None = None,
) -> None:
    """Check a differentiable function: forward against a NumPy reference, then first and second derivatives
    against finite differences, on inputs drawn by Hypothesis in every memory layout. Raises AssertionError (with
    Hypothesis' report of the smallest failing input) when a check fails; returns None when all pass.

    function: the inputs -> a Tensor or a tuple of Tensors, or a Function subclass whose no-argument instances are
        applied to the inputs. Array inputs reach it as Tensors that require grad, constants as they were drawn.
    reference: the inputs, arrays as NumPy arrays -> an array or a tuple of arrays: what function computes, for
        arrays of the dtype under test (the dtype of its result is the one expected). None skips the forward
        comparison.
    inputs: a strategy drawing a tuple of inputs, or one strategy per input. Arrays (and Tensors) are inputs to
        check, their values taken in float64; anything else (a number, None, a geometry) is a constant passed as it
        is to both function and reference (minigan.testing.strategies has shapes, values kept away from kinks, and
        convolution geometries to build them from).
    floor, rtol: the forward must satisfy |actual - expected| <= rtol (|expected| + floor) elementwise
        (minigan.testing.tolerances). rtol defaults to 1e-12 in float64, 1e-5 in float32. floor is a number,
        or a function of the inputs (as the reference gets them) giving a number, an array that broadcasts
        against the output, or one of these per output; by default each output's largest magnitude, which suits
        outputs that are sums of a few terms of the outputs' size. For a sum of K terms, sqrt(K) max|term|
        (tolerances.sum_floor) is the principled floor.
    dtypes: the dtypes in which the forward is compared (the derivatives are always checked in float64).
    layouts: the memory layouts to hold the array inputs in, one drawn per input for each example, for the forward
        and the derivatives alike; the forward of a given example runs with all inputs in each layout in turn.
    device: "cpu" or "cuda": where the inputs are placed, and where the outputs must be.
    second_order: also check the derivatives of the gradient (gradgradcheck), as a gradient penalty needs.
    examples: input tuples that are always checked, before the drawn ones (edge cases).
    max_examples: how many inputs Hypothesis draws; by default the active settings profile's number.

    The finite differences take steps of 1e-6, so the drawn values must keep kinks, ties and domain edges far
    from every input (minigan.testing.values). Do not call it from inside a Hypothesis test.
    """
    if isinstance(function, type) and issubclass(function, Function):
        function_class = function

        def function(*xs):
            return function_class().apply(*xs)

    strategy = inputs if isinstance(inputs, SearchStrategy) else st.tuples(*inputs)
    layouts = tuple(layouts)
    if not layouts:
        raise ValueError("check_function: no layouts to check")

    def forward(values: list, mixed: tuple, every_layout: bool) -> None:
        assignments = [mixed] + ([(layout,) * len(values) for layout in layouts] if every_layout else [])
        for dtype in dtypes:
            arrays = [v.astype(dtype) if _is_array(v) else v for v in values]
            expected = [numpy.asarray(e) for e in _tuple(reference(*[a.copy() if _is_array(a) else a
                                                                     for a in arrays]))]
            floors = _floors(floor, arrays, expected)
            for assignment in dict.fromkeys(assignments):
                placed = [place(a, device, layout) if _is_array(a) else a for a, layout in zip(arrays, assignment)]
                with untouched(*[p for p in placed if _is_array(p)]):
                    outputs = _tuple(function(*[Tensor(p, requires_grad=True) if _is_array(p) else p
                                                for p in placed]))
                what = f"{dtype} inputs in layouts {assignment}"
                assert len(outputs) == len(expected), f"{what}: {len(outputs)} outputs, the reference {len(expected)}"
                for k, (y, e, f) in enumerate(zip(outputs, expected, floors)):
                    assert isinstance(y, Tensor), f"{what}: output {k} is a {type(y).__name__}, not a Tensor"
                    assert_close(y.data, e, f, f"{what}, output {k}", rtol=rtol, device=device)

    def derivatives(values: list, mixed: tuple) -> None:
        leaves = [Tensor(place(v, device, layout), requires_grad=True) if _is_array(v) else v
                  for v, layout in zip(values, mixed)]
        for name, check in (("first", gradcheck), ("second", gradgradcheck))[:2 if second_order else 1]:
            try:
                check(function, leaves)
            except AssertionError as error:
                raise AssertionError(f"{name} derivatives, inputs in layouts {mixed}: {error}") from error

    def check_one(drawn, mixed: tuple, every_layout: bool = False) -> None:
        values = [_values(a) for a in _tuple(drawn)]
        if reference is not None:
            forward(values, mixed, every_layout)
        derivatives(values, mixed)

    for j, example in enumerate(examples):
        n = len(_tuple(example))
        check_one(example, tuple(layouts[(j + k) % len(layouts)] for k in range(n)), every_layout=True)

    active = settings.default
    options = {"deadline": None, "database": None,
               "suppress_health_check": (*active.suppress_health_check, HealthCheck.too_slow)}
    if max_examples is not None:
        options["max_examples"] = max_examples

    @settings(active, **options)
    @given(data=st.data())
    def drawn(data):
        values = _tuple(data.draw(strategy, label="inputs"))
        mixed = tuple(data.draw(st.sampled_from(layouts), label=f"layout of input {k}") if _is_array(v) else None
                      for k, v in enumerate(values))
        check_one(values, mixed)

    drawn()
