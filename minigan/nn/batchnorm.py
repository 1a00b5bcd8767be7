"""BatchNorm1d and BatchNorm2d: per-channel normalisation with learned scale and shift and running statistics; and
BatchNormAct1d and BatchNormAct2d, the same followed by a leaky ReLU in one pass over the data."""

from __future__ import annotations

from minigan.nn import init
from minigan.nn.module import Module, new_parameter
from minigan.ops.batch_norm import batch_norm_act
from minigan.tensor import Tensor, int64, ones, tensor, zeros


class _BatchNorm(Module):
    """Normalise each channel by the batch's statistics in training, by the running ones in evaluation.

    The running statistics move towards each batch's by `momentum`; momentum=None makes them the cumulative
    average over the batches seen (factor 1 / num_batches_tracked), as in PyTorch.
    """

    negative_slope: float | None = None  # the slope of the activation computed in the same pass; None: none

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, *, bias: bool = True, device: str | None = None, dtype=None):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        for name, present in (("weight", affine), ("bias", affine and bias)):
            self.register_parameter(name, new_parameter((num_features,), device, dtype) if present else None)
        device = device or "cpu"
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, dtype=dtype, device=device))
            self.register_buffer("running_var", ones(num_features, dtype=dtype, device=device))
            self.register_buffer("num_batches_tracked", tensor(0, dtype=int64, device=device))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def _check_input(self, input: Tensor) -> None:
        raise NotImplementedError

    def forward(self, input: Tensor) -> Tensor:
        """The normalised input (and activated, for the BatchNormAct layers)."""
        self._check_input(input)
        if input.shape[1] != self.num_features:
            raise RuntimeError(f"expected an input with {self.num_features} channels (dimension 1), "
                               f"got input of shape {input.shape}")
        update = self.training and self.track_running_stats and self.num_batches_tracked is not None
        factor = 0.0 if self.momentum is None else self.momentum
        if update and self.momentum is None:
            factor = 1.0 / (int(self.num_batches_tracked) + 1)
        use_batch_stats = self.training or (self.running_mean is None and self.running_var is None)
        use_running = not self.training or self.track_running_stats
        y = batch_norm_act(input, self.running_mean if use_running else None,
                           self.running_var if use_running else None, self.weight, self.bias, use_batch_stats,
                           factor, self.eps, self.negative_slope)
        if update:
            self.num_batches_tracked.add_(1)
        return y

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of an (N, C) or (N, C, L) input over every axis but C."""

    def _check_input(self, input: Tensor) -> None:
        if input.ndim not in (2, 3):
            raise ValueError(f"expected a 2-D (N, C) or 3-D (N, C, L) input, got shape {input.shape} "
                             f"({input.ndim}-D)")


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of an (N, C, H, W) input over every axis but C."""

    def _check_input(self, input: Tensor) -> None:
        if input.ndim != 4:
            raise ValueError(f"expected a 4-D (N, C, H, W) input, got shape {input.shape} ({input.ndim}-D)")


class _Activated:
    """A batch norm followed by leaky_relu(negative_slope) (0: ReLU) in the same pass over the data: one read and
    one write of the activations instead of two each, forward and backward."""

    def __init__(self, num_features: int, negative_slope: float = 0.0, *args, **kwargs):
        super().__init__(num_features, *args, **kwargs)
        self.negative_slope = float(negative_slope)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, negative_slope={self.negative_slope}"


class BatchNormAct1d(_Activated, BatchNorm1d):
    """BatchNorm1d then a leaky ReLU (negative_slope; 0: ReLU), as one layer: minigan's own, where PyTorch writes
    BatchNorm1d followed by ReLU or LeakyReLU. Its parameters and buffers are BatchNorm1d's."""


class BatchNormAct2d(_Activated, BatchNorm2d):
    """BatchNorm2d then a leaky ReLU (negative_slope; 0: ReLU), as one layer: minigan's own, where PyTorch writes
    BatchNorm2d followed by ReLU or LeakyReLU. Its parameters and buffers are BatchNorm2d's."""
