"""Tools for testing differentiable array code, minigan's own and its users'.

- gradcheck, gradgradcheck: first and second derivatives against central finite differences, in float64.
- jacobian_check: the same, entry by entry of the Jacobian, to float64 precision (for small inputs).
- check_function: one call that checks a function the way minigan checks its operators: the forward against a
  NumPy reference in both float dtypes and every memory layout, its inputs left untouched, then first and second
  derivatives against finite differences, on inputs drawn by Hypothesis.
- arrays: the memory layouts (LAYOUTS, lay_out, place), untouched, assert_same_bits.
- tolerances: the error bound of a floating-point sum (RTOL, sum_floor, assert_close).
- values: values kept away from kinks, ties and domain edges, for finite differences.
- convolutions: conv2d and conv_transpose2d geometries (Convolution) and their edge cases.
- strategies: Hypothesis strategies for all of the above.

Importing minigan.testing needs no Hypothesis; check_function and minigan.testing.strategies do.
"""

import importlib

from minigan.testing.arrays import LAYOUTS, assert_same_bits, host, lay_out, place, untouched
from minigan.testing.convolutions import CONVOLUTION_EDGE_CASES, TRANSPOSED_EDGE_CASES, Convolution
from minigan.testing.gradients import gradcheck, gradgradcheck, jacobian_check
from minigan.testing.tolerances import RTOL, amax, assert_close, rtol_of, sum_floor


def __getattr__(name: str):
    """check_function and the strategies module, imported on first use (they need Hypothesis)."""
    if name == "check_function":
        from minigan.testing.check import check_function

        return check_function
    if name == "strategies":
        return importlib.import_module("minigan.testing.strategies")
    raise AttributeError(f"module 'minigan.testing' has no attribute {name!r}")


__all__ = [
    "CONVOLUTION_EDGE_CASES", "LAYOUTS", "RTOL", "TRANSPOSED_EDGE_CASES", "Convolution", "amax", "assert_close",
    "assert_same_bits", "gradcheck", "gradgradcheck", "host", "jacobian_check", "lay_out", "place", "rtol_of",
    "sum_floor", "untouched",
]
