"""batch_norm: normalisation by per-channel batch statistics (training) or running statistics (evaluation),
optionally followed by a leaky ReLU in the same pass.

Per channel c, over the batch and spatial axes of an (N, C) or (N, C, ...) input: mean m, biased variance v,
r = 1 / sqrt(v + eps), x_hat = (x - m) r and z = gamma x_hat + beta. With negative_slope given, the output is
the leaky ReLU of z (slope 0: ReLU; None: no activation), and the backward pass gates gy with z recomputed
from x as the forward computed it.

In forward_train, given running_mean or running_var, the running statistics move towards the batch's by momentum,
in place, in the arrays' dtype and in this order: running_mean = (1 - momentum) running_mean + momentum mean and
running_var = (1 - momentum) running_var + momentum var M / (M - 1), the variance unbiased over the M values of a
channel (as PyTorch), in the same pass that computes the statistics.

Every variant provides exactly the functions of CONTRACT, with these parameters. forward_train returns
(y, mean, var, invstd); backward returns (gx, ggamma, gbeta).
"""

CONTRACT = {
    "forward_train": "(x, gamma, beta, eps, negative_slope=None, running_mean=None, running_var=None, momentum=0.1)",
    "forward_eval": "(x, running_mean, running_var, gamma, beta, eps, negative_slope=None)",
    "backward": "(x, gamma, beta, mean, invstd, gy, negative_slope=None)",
}
