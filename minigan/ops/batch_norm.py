"""Batch normalisation with batch statistics (training) and with running statistics (evaluation).

Training: BatchNorm's backward is the Function BatchNormGrad, whose own backward writes the second-order
terms out in differentiable operations (recomputing the statistics from x), so every order works.
"""

from __future__ import annotations

from kernels.batch_norm import reference as kernel
from minigan.autograd import Function
from minigan.ops.reduce import mean, sum
from minigan.ops.shape import reshape
from minigan.tensor import Tensor, full


def _axes(x: Tensor) -> tuple:
    return (0,) + tuple(range(2, x.ndim))


def _per_channel(a: Tensor, x: Tensor) -> Tensor:
    return reshape(a, (1, -1) + (1,) * (x.ndim - 2))


class BatchNorm(Function):
    """y = gamma (x - mean) / sqrt(var + eps) + beta with the batch's per-channel mean and biased variance."""

    def __init__(self, eps: float):
        self.eps = eps

    def forward(self, x, gamma, beta):
        y, self.mean, self.var, self.invstd = kernel.forward_train(x, gamma, beta, self.eps)
        return y

    def backward(self, gy):
        x, gamma, _ = self.inputs
        return BatchNormGrad(self.eps, self.mean, self.invstd).apply(x, gamma, gy)


class BatchNormGrad(Function):
    """(gx, ggamma, gbeta) of BatchNorm as a function of (x, gamma, gy).

    With r = 1/sqrt(var + eps), x_hat = (x - mean) r, m() the per-channel mean and
    h = gy - m(gy) - x_hat m(gy x_hat), the forward gives gx = gamma r h. Its vector-Jacobian product with
    (ggx, gggamma, ggbeta):
        d/dgy    = ggbeta + gggamma x_hat + gamma r (ggx - m(ggx) - x_hat m(ggx x_hat))
        d/dgamma = sum(ggx r h)
        d/dx     = gggamma r h - gamma r^2 (x_hat (m(ggx gy) - m(ggx) m(gy) - m(ggx x_hat) m(gy x_hat))
                                            + m(gy x_hat) (ggx - m(ggx) - x_hat m(ggx x_hat)) + m(ggx x_hat) h)
    """

    def __init__(self, eps: float, mean, invstd):
        self.eps, self.mean, self.invstd = eps, mean, invstd

    def forward(self, x, gamma, gy):
        return kernel.backward(x, gamma, self.mean, self.invstd, gy)

    def backward(self, ggx, gggamma, ggbeta):
        x, gamma, gy = self.inputs
        axes = _axes(x)

        def m(t):
            return mean(t, axes, keepdim=True)

        xc = x - m(x)
        r = (m(xc * xc) + self.eps) ** -0.5
        x_hat = xc * r
        g, gg_gamma, gg_beta = _per_channel(gamma, x), _per_channel(gggamma, x), _per_channel(ggbeta, x)
        m_gy, m_gyx, m_ggx, m_ggxx = m(gy), m(gy * x_hat), m(ggx), m(ggx * x_hat)
        h = gy - m_gy - x_hat * m_gyx
        k = ggx - m_ggx - x_hat * m_ggxx
        g_gy = gg_beta + gg_gamma * x_hat + g * r * k
        g_gamma = sum(ggx * r * h, axes)
        a = m(ggx * gy) - m_ggx * m_gy - m_ggxx * m_gyx
        g_x = gg_gamma * r * h - g * r * r * (x_hat * a + m_gyx * k + m_ggxx * h)
        return g_x, g_gamma, g_gy


class BatchNormEval(Function):
    """y = gamma (x - running_mean) / sqrt(running_var + eps) + beta: affine in x, gamma and beta."""

    def __init__(self, running_mean, running_var, eps: float):
        self.running_mean, self.running_var, self.eps = running_mean, running_var, eps

    def forward(self, x, gamma, beta):
        return kernel.forward_eval(x, self.running_mean, self.running_var, gamma, beta, self.eps)

    def backward(self, gy):
        x, gamma, _ = self.inputs
        axes = _axes(x)
        r = Tensor(1 / (self.running_var + self.eps) ** 0.5)
        x_hat = (x - _per_channel(Tensor(self.running_mean), x)) * _per_channel(r, x)
        gx = gy * _per_channel(gamma * r, x) if self.needs_input_grad[0] else None
        ggamma = sum(gy * x_hat, axes) if self.needs_input_grad[1] else None
        gbeta = sum(gy, axes) if self.needs_input_grad[2] else None
        return gx, ggamma, gbeta


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel (axis 1) of an (N, C) or (N, C, ...) input, as torch.nn.functional.batch_norm.

    In training the batch's statistics are used, and the running ones move towards them by `momentum`
    (the variance unbiased, as PyTorch); in evaluation the running statistics are used.
    """
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
        f = BatchNormEval(running_mean.data, running_var.data, eps)
        return f.apply(input, gamma, beta)
    n = input.numel() // c
    if n <= 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got input {input.shape}")
    f = BatchNorm(eps)
    y = f.apply(input, gamma, beta)
    if running_mean is not None:
        running_mean.data[...] = (1 - momentum) * running_mean.data + momentum * f.mean
    if running_var is not None:
        running_var.data[...] = (1 - momentum) * running_var.data + momentum * f.var * (n / (n - 1))
    return y


def _constant(x: Tensor, value: float) -> Tensor:
    return full((x.shape[1],), value, dtype=x.dtype, device=x.device)
