"""Layers that GAN models add to the usual ones: the two of Salimans et al. 2016 ("Improved techniques for
training GANs") against mode collapse and batch coupling, minibatch discrimination for the discriminator and
virtual batch normalisation for the generator; and maxout units (Goodfellow et al. 2013), the discriminator's
hidden layers in the GAN paper and in PacGAN's 2-D experiments.
"""

from __future__ import annotations

import math
from collections import OrderedDict

from minigan import ops
from minigan.nn import Linear, Module, Sequential, init
from minigan.nn.module import new_parameter
from minigan.tensor import Tensor


class MinibatchDiscrimination(Module):
    """Append to each sample's features how close it lies to the rest of its batch.

    f (N, A) times T (A, B*C) gives M (N, B, C); for each of the B kernels, o_b(x_i) = sum_j exp(-||M_ib - M_jb||_1)
    over the batch (j = i included, as in the paper). The output is [f, o] of shape (N, A + B): a batch of
    near-identical samples gets large o, so D can tell a collapsed generator from the data.
    T starts with entries of standard deviation 1/sqrt(A), which keeps the L1 distances of order C for features
    of unit size.
    """

    def __init__(self, in_features: int, out_features: int = 50, kernel_dims: int = 5, *, device: str | None = None,
                 dtype=None):
        super().__init__()
        self.in_features, self.out_features, self.kernel_dims = in_features, out_features, kernel_dims
        self.T = new_parameter((in_features, out_features * kernel_dims), device, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.normal_(self.T, 0.0, 1.0 / math.sqrt(self.in_features))

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim != 2 or input.shape[1] != self.in_features:
            raise ValueError(f"expected features of shape (N, {self.in_features}), got {input.shape}")
        m = (input @ self.T).reshape(input.shape[0], self.out_features, self.kernel_dims)
        distances = (m.unsqueeze(0) - m.unsqueeze(1)).abs().sum(3)  # (N, N, B): L1 over the kernel dimensions
        closeness = ops.exp(-distances).sum(1)
        return ops.cat([input, closeness], 1)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, kernel_dims={self.kernel_dims}"


class FeatureDiscriminator(Sequential):
    """A discriminator in two parts, applied in turn: `body`, whose output is features(x), the last hidden layer
    (N, num_features) that feature matching and InfoGAN's Q head read; then the head: minibatch discrimination's
    closeness appended when asked (`mbd`), and `out`, by default one dense layer, to D's output (N, 1)."""

    def __init__(self, body: Module, num_features: int, out: Module | None = None,
                 minibatch_discrimination: bool = False, mbd_kernels: int = 50, mbd_dims: int = 5):
        parts = [("body", body)]
        if minibatch_discrimination:
            parts.append(("mbd", MinibatchDiscrimination(num_features, mbd_kernels, mbd_dims)))
        width = num_features + (mbd_kernels if minibatch_discrimination else 0)
        parts.append(("out", out if out is not None else Linear(width, 1)))
        super().__init__(OrderedDict(parts))
        self.num_features = num_features

    def features(self, x: Tensor) -> Tensor:
        """The last hidden layer's activations (N, num_features)."""
        return self.body(x)

    def from_features(self, f: Tensor) -> Tensor:
        """D's output (N, 1) computed from features(x)."""
        for layer in list(self)[1:]:
            f = layer(f)
        return f


class VirtualBatchNorm(Module):
    """Batch normalisation whose statistics come from a fixed reference batch and the sample itself.

    The input's first `reference_size` rows are the reference batch (ReferenceBatch puts them there); they are
    normalised with their own per-channel mean and variance (over the batch and any spatial axes). Every other
    row x is normalised with the statistics of the reference batch joined by x alone: mean and mean square are
    (x's + R times the reference's) / (R + 1), x's own taken over its spatial positions. A sample's output
    therefore does not depend on the rest of its batch (Salimans et al. 2016). Then gamma y + beta per channel.
    """

    def __init__(self, num_features: int, reference_size: int, eps: float = 1e-5, *, device: str | None = None,
                 dtype=None):
        super().__init__()
        self.num_features, self.reference_size, self.eps = num_features, reference_size, eps
        self.weight = init.ones_(new_parameter((num_features,), device, dtype))
        self.bias = init.zeros_(new_parameter((num_features,), device, dtype))

    def forward(self, input: Tensor) -> Tensor:
        r = self.reference_size
        if input.ndim < 2 or input.shape[1] != self.num_features or input.shape[0] <= r:
            raise ValueError(f"expected an input (R + N, {self.num_features}, ...) whose first R = {r} rows are the "
                             f"reference batch, N >= 1, got {input.shape}")
        ref, x = input[:r], input[r:]
        spatial = tuple(range(2, input.ndim))
        ref_mean, ref_square = ref.mean((0,) + spatial, keepdim=True), (ref * ref).mean((0,) + spatial, keepdim=True)
        own_mean = x.mean(spatial, keepdim=True) if spatial else x
        own_square = (x * x).mean(spatial, keepdim=True) if spatial else x * x
        w = 1.0 / (r + 1)
        mean = w * own_mean + (1 - w) * ref_mean
        square = w * own_square + (1 - w) * ref_square
        y = ops.cat([self._normalise(ref, ref_mean, ref_square), self._normalise(x, mean, square)], 0)
        scale = (1, self.num_features) + (1,) * len(spatial)
        return y * self.weight.reshape(scale) + self.bias.reshape(scale)

    def _normalise(self, x: Tensor, mean: Tensor, square: Tensor) -> Tensor:
        return (x - mean) / (square - mean * mean + self.eps).sqrt()

    def extra_repr(self) -> str:
        return f"{self.num_features}, reference_size={self.reference_size}, eps={self.eps}"


class ReferenceBatch(Module):
    """Run `net` on the fixed reference batch stacked above the input, and return the input's rows only.

    The VirtualBatchNorm layers inside `net` take their statistics from those first rows. The reference is a
    buffer, so it follows the module to a device and is saved in its state_dict.
    """

    def __init__(self, net: Module, reference: Tensor):
        super().__init__()
        self.net = net
        self.register_buffer("reference", reference)

    def forward(self, input: Tensor) -> Tensor:
        r = self.reference.shape[0]
        out = self.net(ops.cat([self.reference.to(input.dtype), input], 0))
        return out[r:]


class Maxout(Module):
    """A layer of maxout units (Goodfellow et al. 2013): each output is the largest of `pieces` affine maps.

    z = x W^T + b has pieces * out_features columns, read as (N, pieces, out_features): piece k of unit j is
    column k * out_features + j, and y_j = max_k z_{k * out_features + j}. A unit is thus a convex piecewise
    linear function of its input that learns its own activation; the gradient reaches only the piece that won.
    (Pieces are laid out block by block so that the maximum runs over contiguous rows of out_features values.)
    The affine map is an nn.Linear (`linear`), initialised as PyTorch initialises one.
    """

    def __init__(self, in_features: int, out_features: int, pieces: int = 5, bias: bool = True, *,
                 device: str | None = None, dtype=None):
        super().__init__()
        if pieces < 1:
            raise ValueError(f"Maxout: pieces must be at least 1, got {pieces}")
        self.in_features, self.out_features, self.pieces = in_features, out_features, pieces
        self.linear = Linear(in_features, out_features * pieces, bias=bias, device=device, dtype=dtype)

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim != 2 or input.shape[1] != self.in_features:
            raise ValueError(f"Maxout: expected an input of shape (N, {self.in_features}), got {input.shape}")
        z = self.linear(input).reshape(input.shape[0], self.pieces, self.out_features)
        return z.max(1).values

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, pieces={self.pieces}"
