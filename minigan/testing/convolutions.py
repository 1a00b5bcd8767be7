"""Convolution configurations: one geometry (batch, channels, image, kernel, stride, padding, dilation and
output_padding) of conv2d or conv_transpose2d, with the shapes and arguments it implies, and the odd geometries
that every convolution kernel must get right."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy

from minigan.kernels.conv2d import output_size as conv_output_size
from minigan.kernels.conv_transpose2d import output_size as transposed_output_size
from minigan.testing.values import normal

Pair = tuple[int, int]


@dataclass(frozen=True)
class Convolution:
    """A conv2d geometry, or a conv_transpose2d one with transposed=True (output_padding only matters there)."""

    n: int
    c_in: int
    c_out: int
    size: Pair
    kernel: Pair
    stride: Pair = (1, 1)
    padding: Pair = (0, 0)
    dilation: Pair = (1, 1)
    output_padding: Pair = (0, 0)
    transposed: bool = False

    @property
    def output_size(self) -> Pair:
        """The spatial size of the output."""
        if self.transposed:
            return tuple(transposed_output_size(*a) for a in zip(self.size, self.kernel, self.stride, self.padding,
                                                                   self.output_padding, self.dilation))
        return tuple(conv_output_size(*a) for a in zip(self.size, self.kernel, self.stride, self.padding,
                                                         self.dilation))

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.n, self.c_in, *self.size)

    @property
    def weight_shape(self) -> tuple[int, ...]:
        """(C_out, C_in, kh, kw) for conv2d, (C_in, C_out, kh, kw) for conv_transpose2d."""
        channels = (self.c_in, self.c_out) if self.transposed else (self.c_out, self.c_in)
        return (*channels, *self.kernel)

    @property
    def bias_shape(self) -> tuple[int]:
        return (self.c_out,)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (self.n, self.c_out, *self.output_size)

    @property
    def terms(self) -> int:
        """The most products an output element sums (C_in kh kw): the K of its rounding error."""
        return self.c_in * math.prod(self.kernel)

    @property
    def arguments(self) -> tuple:
        """The geometry as the kernels take it, after their array arguments: (stride, padding, dilation) for
        conv2d, (stride, padding, output_padding, dilation) for conv_transpose2d."""
        if self.transposed:
            return self.stride, self.padding, self.output_padding, self.dilation
        return self.stride, self.padding, self.dilation

    @property
    def options(self) -> dict:
        """The geometry as keyword arguments of minigan.nn.functional (and torch.nn.functional)."""
        options = {"stride": self.stride, "padding": self.padding, "dilation": self.dilation}
        if self.transposed:
            options["output_padding"] = self.output_padding
        return options

    def operands(self, seed: int, bias: bool = True) -> tuple:
        """x, W (at half the scale) and b (None without a bias) drawn as float64 arrays from a generator seeded
        with seed, then the geometry itself: inputs for check_function of F.conv2d or F.conv_transpose2d."""
        rng = numpy.random.default_rng(seed)
        return (normal(rng, self.input_shape), normal(rng, self.weight_shape, 0.5),
                normal(rng, self.bias_shape) if bias else None, self)

    def as_transposed(self) -> Convolution:
        """The same numbers as a conv_transpose2d geometry."""
        return Convolution(self.n, self.c_in, self.c_out, self.size, self.kernel, self.stride, self.padding,
                           self.dilation, self.output_padding, transposed=True)


def _conv(n, c_in, c_out, size, kernel, stride=(1, 1), padding=(0, 0), dilation=(1, 1), output_padding=(0, 0)):
    return Convolution(n, c_in, c_out, size, kernel, stride, padding, dilation, output_padding)


CONVOLUTION_EDGE_CASES: dict[str, Convolution] = {
    "1x1-image": _conv(1, 1, 1, (1, 1), (1, 1)),
    "1x1-image-kernel-3-padded": _conv(2, 2, 3, (1, 1), (3, 3), padding=(1, 1)),
    "kernel-larger-than-image": _conv(2, 1, 2, (2, 3), (5, 4), padding=(2, 1)),
    "dilated-kernel-larger-than-image": _conv(2, 2, 3, (2, 3), (3, 3), (2, 1), (2, 2), (2, 2)),
    "stride-larger-than-kernel": _conv(1, 2, 1, (7, 6), (2, 1), (4, 3), (1, 0)),
    "stride-larger-than-image": _conv(1, 1, 1, (2, 2), (1, 1), (3, 3)),
    "one-channel-batch-one": _conv(1, 1, 1, (5, 4), (2, 3), (2, 1)),
    "dilated-strided-unused-rows": _conv(2, 2, 2, (7, 6), (2, 3), (3, 2), (0, 1), (2, 2), (1, 1)),
    "dcgan-5x5-s2-p2-op1": _conv(4, 8, 6, (8, 8), (5, 5), (2, 2), (2, 2), output_padding=(1, 1)),
    "dcgan-4x4-s2-p1-deep": _conv(4, 32, 16, (8, 8), (4, 4), (2, 2), (1, 1)),
}
"""conv2d geometries at the edges of the formulas: 1x1 images, kernels larger than the image, strides larger than
the kernel or the image, one channel and a batch of one, input rows that no output reads, and DCGAN's layers."""

TRANSPOSED_EDGE_CASES: dict[str, Convolution] = {
    **{name: g.as_transposed() for name, g in CONVOLUTION_EDGE_CASES.items()},
    "1x1-image-output-padding": Convolution(1, 1, 2, (1, 1), (3, 3), (2, 2), (1, 1), (1, 1), (1, 1), True),
    "1x1-image-kernel-3-padded-rows": Convolution(1, 2, 3, (1, 1), (3, 3), padding=(1, 0), transposed=True),
    # output_padding >= stride, allowed by the dilation: the weight gradient's gy is smaller than the full
    # convolution of the output
    "output-padding-from-dilation": Convolution(2, 2, 1, (3, 2), (3, 2), (1, 1), (1, 0), (2, 3), (1, 2), True),
    "output-padding-from-dilation-2": Convolution(2, 2, 1, (3, 2), (2, 2), (1, 1), (0, 1), (2, 2), (1, 1), True),
    "output-padding-from-dilation-3": Convolution(1, 2, 1, (3, 2), (3, 2), (1, 1), (1, 0), (2, 2), (1, 1), True),
    "stride-larger-than-kernel-output-padding": Convolution(2, 1, 1, (3, 3), (2, 1), (3, 4), (0, 0), (1, 1), (2, 3),
                                                            True),
}
"""conv_transpose2d geometries: those of conv2d, and output paddings up to max(stride, dilation) - 1."""
