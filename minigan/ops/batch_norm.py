"""Batch normalisation with batch statistics (training) and with running statistics (evaluation), optionally
followed by a leaky ReLU (negative_slope; 0 for ReLU) computed in the same pass.

Training: BatchNormFunction's backward is the Function BatchNormGrad, whose own backward writes the
second-order terms out in differentiable operations (recomputing the statistics from x), so every order works.
The activation's mask is piecewise constant, so it only gates the gradient (LeakyReLUGrad) at every order. Each
node runs on the kernel variant that the forward chose (minigan.dispatch).
"""

from __future__ import annotations

from minigan.autograd import Function
from minigan.dispatch import choose, kernel
from minigan.ops.leaky_relu import LeakyReLUGrad
from minigan.ops.reduce import mean, sum
from minigan.ops.shape import reshape
from minigan.tensor import Tensor, full


def _axes(x: Tensor) -> tuple:
    return (0,) + tuple(range(2, x.ndim))


def _per_channel(a: Tensor, x: Tensor) -> Tensor:
    return reshape(a, (1, -1) + (1,) * (x.ndim - 2))


def _through_activation(g: Tensor, z, negative_slope, variant: str) -> Tensor:
    """g gated by the activation at pre-activation z (an array): g itself when there is no activation."""
    return g if negative_slope is None else LeakyReLUGrad(z, negative_slope, variant).apply(g)


class BatchNormFunction(Function):
    """y = act(gamma (x - mean) / sqrt(var + eps) + beta) with the batch's per-channel mean and biased variance;
    the running statistics given (arrays) move towards the batch's by momentum in the same kernel call."""

    def __init__(self, eps: float, negative_slope: float | None, running_mean=None, running_var=None,
                 momentum: float = 0.1):
        self.eps, self.negative_slope = eps, negative_slope
        self.running_mean, self.running_var, self.momentum = running_mean, running_var, momentum

    def forward(self, x, gamma, beta):
        self.variant = choose("batch_norm", x)
        y, self.mean, self.var, self.invstd = kernel("batch_norm", self.variant).forward_train(
            x, gamma, beta, self.eps, self.negative_slope, self.running_mean, self.running_var, self.momentum)
        return y

    def backward(self, gy):
        x, gamma, beta = self.inputs
        return BatchNormGrad(self.eps, self.mean, self.invstd, self.negative_slope, self.variant).apply(
            x, gamma, beta, gy)


class BatchNormGrad(Function):
    """(gx, ggamma, gbeta) of BatchNormFunction as a function of (x, gamma, beta, gy).

    With r = 1/sqrt(var + eps), x_hat = (x - mean) r, m() the per-channel mean, gz = gy gated by the
    activation and h = gz - m(gz) - x_hat m(gz x_hat), the forward gives gx = gamma r h. Its vector-Jacobian
    product with (ggx, gggamma, ggbeta), before the gate is applied again to the gz part:
        d/dgz    = ggbeta + gggamma x_hat + gamma r (ggx - m(ggx) - x_hat m(ggx x_hat))
        d/dgamma = sum(ggx r h)
        d/dx     = gggamma r h - gamma r^2 (x_hat (m(ggx gz) - m(ggx) m(gz) - m(ggx x_hat) m(gz x_hat))
                                            + m(gz x_hat) (ggx - m(ggx) - x_hat m(ggx x_hat)) + m(ggx x_hat) h)
    and d/dbeta = 0 (beta only moves the gate, which is flat almost everywhere).
    """

    def __init__(self, eps: float, mean, invstd, negative_slope: float | None, variant: str):
        self.eps, self.mean, self.invstd, self.negative_slope, self.variant = eps, mean, invstd, negative_slope, variant

    def forward(self, x, gamma, beta, gy):
        return kernel("batch_norm", self.variant).backward(x, gamma, beta, self.mean, self.invstd, gy,
                                                           self.negative_slope)

    def backward(self, ggx, gggamma, ggbeta):
        x, gamma, beta, gy = self.inputs
        axes = _axes(x)

        def m(t):
            return mean(t, axes, keepdim=True)

        z = None
        if self.negative_slope is not None:
            z = kernel("batch_norm", self.variant).forward_train(x.data, gamma.data, beta.data, self.eps)[0]
        gz = _through_activation(gy, z, self.negative_slope, self.variant)
        xc = x - m(x)
        r = (m(xc * xc) + self.eps) ** -0.5
        x_hat = xc * r
        g, gg_gamma, gg_beta = _per_channel(gamma, x), _per_channel(gggamma, x), _per_channel(ggbeta, x)
        m_gz, m_gzx, m_ggx, m_ggxx = m(gz), m(gz * x_hat), m(ggx), m(ggx * x_hat)
        h = gz - m_gz - x_hat * m_gzx
        k = ggx - m_ggx - x_hat * m_ggxx
        g_gz = gg_beta + gg_gamma * x_hat + g * r * k
        g_gamma = sum(ggx * r * h, axes)
        a = m(ggx * gz) - m_ggx * m_gz - m_ggxx * m_gzx
        g_x = gg_gamma * r * h - g * r * r * (x_hat * a + m_gzx * k + m_ggxx * h)
        return g_x, g_gamma, None, _through_activation(g_gz, z, self.negative_slope, self.variant)


class BatchNormEvalFunction(Function):
    """y = act(gamma (x - running_mean) / sqrt(running_var + eps) + beta): affine in x, gamma and beta, then
    gated by the activation."""

    def __init__(self, running_mean, running_var, eps: float, negative_slope: float | None):
        self.running_mean, self.running_var, self.eps = running_mean, running_var, eps
        self.negative_slope = negative_slope

    def forward(self, x, gamma, beta):
        self.variant = choose("batch_norm", x)
        return kernel("batch_norm", self.variant).forward_eval(x, self.running_mean, self.running_var, gamma, beta,
                                                               self.eps, self.negative_slope)

    def backward(self, gy):
        x, gamma, beta = self.inputs
        z = None
        if self.negative_slope is not None:
            z = kernel("batch_norm", self.variant).forward_eval(x.data, self.running_mean, self.running_var,
                                                                gamma.data, beta.data, self.eps)
        gz = _through_activation(gy, z, self.negative_slope, self.variant)
        axes = _axes(x)
        r = Tensor(1 / (self.running_var + self.eps) ** 0.5)
        x_hat = (x - _per_channel(Tensor(self.running_mean), x)) * _per_channel(r, x)
        gx = gz * _per_channel(gamma * r, x) if self.needs_input_grad[0] else None
        ggamma = sum(gz * x_hat, axes) if self.needs_input_grad[1] else None
        gbeta = sum(gz, axes) if self.needs_input_grad[2] else None
        return gx, ggamma, gbeta


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel (axis 1) of an (N, C) or (N, C, ...) input, as torch.nn.functional.batch_norm.

    In training the batch's statistics are used, and the running ones move towards them by `momentum`
    (the variance unbiased, as PyTorch); in evaluation the running statistics are used.
    """
    return batch_norm_act(input, running_mean, running_var, weight, bias, training, momentum, eps)


def batch_norm_act(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
                   weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
                   momentum: float = 0.1, eps: float = 1e-5, negative_slope: float | None = None) -> Tensor:
    """batch_norm, then leaky_relu(negative_slope) (0: relu; None: no activation), in one pass over the data."""
    if input.ndim < 2:
        raise RuntimeError(f"batch_norm: expected an input of shape (N, C) or (N, C, ...), got {input.shape}")
    c = input.shape[1]
    for t, name in ((running_mean, "running_mean"), (running_var, "running_var"), (weight, "weight"),
                    (bias, "bias")):
        if t is not None and t.shape != (c,):
            raise RuntimeError(f"batch_norm: {name} has shape {t.shape}, expected ({c},) for input {input.shape}")
        if t is not None and t.device != input.device:
            raise RuntimeError(f"batch_norm: input is on {input.device} but {name} is on {t.device}")
        if t is not None and t.dtype != input.dtype:
            raise TypeError(f"batch_norm: input has dtype {input.dtype} but {name} has dtype {t.dtype}")
    gamma = weight if weight is not None else _constant(input, 1)
    beta = bias if bias is not None else _constant(input, 0)
    if not training:
        if running_mean is None or running_var is None:
            raise RuntimeError("batch_norm: evaluation (training=False) needs running_mean and running_var")
        f = BatchNormEvalFunction(running_mean.data, running_var.data, eps, negative_slope)
        return f.apply(input, gamma, beta)
    n = input.numel() // c
    if n <= 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got input {input.shape}")
    y = BatchNormFunction(eps, negative_slope, None if running_mean is None else running_mean.data,
                          None if running_var is None else running_var.data, momentum).apply(input, gamma, beta)
    for running in (running_mean, running_var):
        if running is not None:
            running._bump_version()  # the kernel moved it in place
    return y


def _constant(x: Tensor, value: float) -> Tensor:
    return full((x.shape[1],), value, dtype=x.dtype, device=x.device)
