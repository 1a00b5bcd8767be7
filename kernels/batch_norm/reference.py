"""Batch normalisation in plain array code: the specification and the test oracle of the fast kernels.

Per channel c, over the batch and spatial axes: mean m, biased variance v, r = 1 / sqrt(v + eps),
x_hat = (x - m) r and y = gamma x_hat + beta. The input is (N, C) or (N, C, ...).
"""

from minigan.backend import get_array_module


def _axes(x) -> tuple:
    return (0,) + tuple(range(2, x.ndim))


def _per_channel(a, x):
    return a.reshape((1, -1) + (1,) * (x.ndim - 2))


def forward_train(x, gamma, beta, eps: float):
    """y from the batch statistics; also returns the mean, the biased variance and r = 1/sqrt(var + eps)."""
    xp = get_array_module(x)
    axes = _axes(x)
    mean = x.mean(axis=axes)
    var = x.var(axis=axes)
    invstd = 1 / xp.sqrt(var + eps)
    scale = invstd * gamma
    y = (x - _per_channel(mean, x)) * _per_channel(scale, x) + _per_channel(beta, x)
    return y, mean, var, invstd


def forward_eval(x, running_mean, running_var, gamma, beta, eps: float):
    """y from the running statistics: an affine map per channel."""
    xp = get_array_module(x)
    scale = gamma / xp.sqrt(running_var + eps)
    shift = beta - running_mean * scale
    return x * _per_channel(scale, x) + _per_channel(shift, x)


def backward(x, gamma, mean, invstd, gy):
    """Gradients of the training forward: gbeta = sum gy, ggamma = sum gy x_hat and
    gx = gamma r (gy - mean(gy) - x_hat mean(gy x_hat)).
    """
    axes = _axes(x)
    n = x.size // x.shape[1]
    x_hat = (x - _per_channel(mean, x)) * _per_channel(invstd, x)
    gbeta = gy.sum(axis=axes)
    ggamma = (gy * x_hat).sum(axis=axes)
    gx = _per_channel(gamma * invstd, x) * (gy - _per_channel(gbeta / n, x) - x_hat * _per_channel(ggamma / n, x))
    return gx, ggamma, gbeta
