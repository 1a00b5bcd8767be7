"""conv_transpose2d on the GPU: the kernels of kernels/conv2d/conv2d.cu (through conv2d's cuda.convolve), which
compute every product themselves.

The output is split by stride phase: the output rows oy with one residue (oy + p_h) mod s_h (and likewise the
columns) are reached by one arithmetic progression of kernel rows, the input row moving by a constant step from one
to the next, so each of the s_h s_w phases is a dense convolution over its own taps, computed in one launch with the
others (an implicit GEMM, M = C_out, N = the phase's output pixels, K = C_in x its taps; or, for 1 to 3 output
channels, a direct kernel). No multiply-add is spent on the zeros a strided transposed convolution would insert, no
columns are made, and any dilation works the same way. output_padding only lengthens the output: its last rows and
columns get the taps that reach them, if any, and the bias. No atomics: results are bit-reproducible. Non-contiguous
inputs are copied first. See the contract in __init__.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..conv2d.cuda import convolve

if TYPE_CHECKING:
    from cupy import ndarray


def forward(x: ndarray, W: ndarray, b: ndarray | None, stride: tuple, padding: tuple, output_padding: tuple,
            dilation: tuple) -> ndarray:
    """y = conv_transpose2d(x, W) + b."""
    return convolve(x, W, b, stride, padding, dilation, output_padding=tuple(output_padding))
