"""Adam on the GPU: one launch of adam.cu's adam_update for a whole list of parameters (a training step's
optimizer update is then one launch, not about a dozen per parameter).

The addresses of every parameter's arrays and the chunks of work are tables built on the host
(kernels.cuda.ParameterLists) and copied to the device with the launch. The parameters' step sizes
-lr / (1 - beta1^t) and sqrt(1 - beta2^t) are computed in Python's double precision, then rounded to the data's
dtype, as the reference does. See the contract in __init__.py.
"""

from __future__ import annotations

import numpy

from .. import cuda

_SOURCE = cuda.Source("adam", ("adam_update",))


def update(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, lr: float, beta1: float, beta2: float,
           eps: float, weight_decay: float) -> None:
    """One Adam step on every parameter of the list and its moments, in place, in one launch."""
    import cupy

    if not params:
        return
    amsgrad = max_exp_avg_sqs is not None
    lists = cuda.ParameterLists("adam", [[p, g, m, v, v_max] for p, g, m, v, v_max in zip(
        params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs if amsgrad else exp_avg_sqs)], written=(0, 2, 3, 4))
    dtype = lists.dtype
    t, w = dtype.type, dtype.type(1 - beta1)
    if lists.blocks:
        _SOURCE.launch("adam_update", dtype, 0, *lists.arguments(),
                       cupy.asarray(numpy.array([-(lr / (1 - beta1**s)) for s in steps], dtype=dtype)),
                       cupy.asarray(numpy.array([(1 - beta2**s) ** 0.5 for s in steps], dtype=dtype)),
                       amsgrad, t(weight_decay), w, t(1) - w, bool(abs(w) < 0.5), t(1 - beta2), t(beta2), t(eps),
                       grid=(lists.blocks,))
    lists.write_back()
