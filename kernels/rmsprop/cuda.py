"""RMSprop on the GPU: one launch of rmsprop.cu's rmsprop_update for a whole list of parameters, their arrays
given to the kernel as a table of addresses (kernels.cuda.ParameterLists). See the contract in __init__.py."""

from __future__ import annotations

from .. import cuda

_SOURCE = cuda.Source("rmsprop", ("rmsprop_update",))


def update(params, grads, square_avgs, grad_avgs, momentum_buffers, lr: float, alpha: float, eps: float,
           weight_decay: float, momentum: float) -> None:
    """One step on every parameter of the list and its running averages, in place, in one launch."""
    if not params:
        return
    rows = [[p, g, v, v if grad_avgs is None else grad_avgs[k], v if momentum_buffers is None else momentum_buffers[k]]
            for k, (p, g, v) in enumerate(zip(params, grads, square_avgs))]
    lists = cuda.ParameterLists("rmsprop", rows, written=(0, 2, 3, 4))
    t = lists.dtype.type
    w = t(1 - alpha)  # the weight of lerp(grad_avg, g, 1 - alpha), in the data's dtype as torch.lerp takes it
    if lists.blocks:
        _SOURCE.launch("rmsprop_update", lists.dtype, 0, *lists.arguments(), t(lr), t(alpha), t(1 - alpha), t(eps),
                       t(weight_decay), t(momentum if momentum_buffers is not None else 0), grad_avgs is not None,
                       bool(abs(w) < 0.5), w, t(1) - w, grid=(lists.blocks,))
    lists.write_back()
