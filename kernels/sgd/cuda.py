"""SGD on the GPU: one launch of sgd.cu's sgd_update for a whole list of parameters. The parameters' arrays go to
the kernel as a table of addresses (kernels.cuda.ParameterLists); a momentum buffer that does not exist yet (a
parameter's first step) is made here and filled by the kernel. See the contract in __init__.py."""

from __future__ import annotations

import numpy

from .. import cuda

_SOURCE = cuda.Source("sgd", ("sgd_update",))


def update(params, grads, momentum_buffers, lr: float, momentum: float, dampening: float, weight_decay: float,
           nesterov: bool) -> list:
    """One step on every parameter of the list (in place), in one launch; returns their momentum buffers."""
    import cupy

    if not params:
        return []
    buffers = [None] * len(params)
    if momentum != 0:
        buffers = [cupy.empty_like(p) if b is None else b for p, b in zip(params, momentum_buffers)]
    first = [b is None for b in momentum_buffers]
    lists = cuda.ParameterLists("sgd", [[p, g, p if b is None else b] for p, g, b in zip(params, grads, buffers)],
                                written=(0, 2))
    t = lists.dtype.type
    if lists.blocks:
        _SOURCE.launch("sgd_update", lists.dtype, 0, *lists.arguments(),
                       cupy.asarray(numpy.array(first, dtype=numpy.int32)), t(lr), t(momentum), t(1 - dampening),
                       t(weight_decay), dampening != 0, nesterov, grid=(lists.blocks,))
    lists.write_back()
    return buffers
