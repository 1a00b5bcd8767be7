"""Batch normalisation in plain array code (see the contract in __init__.py): the specification and the test
oracle of the fast kernels."""

from .. import get_array_module


def _axes(x) -> tuple:
    return (0,) + tuple(range(2, x.ndim))


def _per_channel(a, x):
    return a.reshape((1, -1) + (1,) * (x.ndim - 2))


def _activate(z, negative_slope):
    return z if negative_slope is None else get_array_module(z).where(z > 0, z, z * negative_slope)


def forward_train(x, gamma, beta, eps: float, negative_slope=None, running_mean=None, running_var=None,
                  momentum: float = 0.1):
    """y from the batch statistics; also returns the mean, the biased variance and r = 1/sqrt(var + eps); moves
    the running statistics given."""
    xp = get_array_module(x)
    axes = _axes(x)
    mean = x.mean(axis=axes)
    var = x.var(axis=axes)
    if running_mean is not None:
        running_mean[...] = (1 - momentum) * running_mean + momentum * mean
    if running_var is not None:
        count = x.size // x.shape[1]
        running_var[...] = (1 - momentum) * running_var + momentum * var * (count / (count - 1))
    invstd = 1 / xp.sqrt(var + eps)
    z = (x - _per_channel(mean, x)) * _per_channel(invstd * gamma, x) + _per_channel(beta, x)
    return _activate(z, negative_slope), mean, var, invstd


def forward_eval(x, running_mean, running_var, gamma, beta, eps: float, negative_slope=None):
    """y from the running statistics: an affine map per channel, then the activation."""
    xp = get_array_module(x)
    scale = gamma / xp.sqrt(running_var + eps)
    shift = beta - running_mean * scale
    return _activate(x * _per_channel(scale, x) + _per_channel(shift, x), negative_slope)


def backward(x, gamma, beta, mean, invstd, gy, negative_slope=None):
    """Gradients of the training forward. With gz = gy (or gy through the activation's slope where z <= 0):
    gbeta = sum gz, ggamma = sum gz x_hat and gx = gamma r (gz - mean(gz) - x_hat mean(gz x_hat)).
    """
    xp = get_array_module(x)
    axes = _axes(x)
    n = x.size // x.shape[1]
    x_hat = (x - _per_channel(mean, x)) * _per_channel(invstd, x)
    gz = gy
    if negative_slope is not None:  # the gate of the forward, computed as the forward computes it
        z = (x - _per_channel(mean, x)) * _per_channel(invstd * gamma, x) + _per_channel(beta, x)
        gz = xp.where(z > 0, gy, gy * negative_slope)
    gbeta = gz.sum(axis=axes)
    ggamma = (gz * x_hat).sum(axis=axes)
    gx = _per_channel(gamma * invstd, x) * (gz - _per_channel(gbeta / n, x) - x_hat * _per_channel(ggamma / n, x))
    return gx, ggamma, gbeta
