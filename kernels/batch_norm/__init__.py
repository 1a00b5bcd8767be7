"""batch_norm: normalisation by per-channel batch statistics (training) or running statistics (evaluation),
optionally followed by a leaky ReLU in the same pass.

Per channel c, over the batch and spatial axes of an (N, C) or (N, C, ...) input: mean m, biased variance v,
r = 1 / sqrt(v + eps), x_hat = (x - m) r and z = gamma x_hat + beta. With negative_slope given, the output is
the leaky ReLU of z (slope 0: ReLU; None: no activation), and the backward pass gates gy with z recomputed
from x as the forward computed it.

Every variant provides exactly the functions of CONTRACT, with these parameters. forward_train returns
(y, mean, var, invstd); backward returns (gx, ggamma, gbeta).
"""

CONTRACT = {
    "forward_train": "(x, gamma, beta, eps, negative_slope=None)",
    "forward_eval": "(x, running_mean, running_var, gamma, beta, eps, negative_slope=None)",
    "backward": "(x, gamma, beta, mean, invstd, gy, negative_slope=None)",
}
