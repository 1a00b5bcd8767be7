"""Adam on the GPU: one launch of adam.cu's adam_update for a whole list of parameters (a training step's
optimizer update is then one launch, not about a dozen per parameter).

The addresses of every parameter's arrays and the chunks of work are tables built on the host and copied to the
device with the launch. The arrays must be C-contiguous (a non-contiguous one is updated in a contiguous copy,
then copied back). The parameters' step sizes -lr / (1 - beta1^t) and sqrt(1 - beta2^t) are computed in Python's
double precision, then rounded to the data's dtype, as the reference does. See the contract in __init__.py.
"""

from __future__ import annotations

import numpy

from .. import cuda

_SOURCE = cuda.Source("adam", ("adam_update",))
CHUNK = 16 * cuda.BLOCK  # elements of one parameter that one block updates


def update(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, lr: float, beta1: float, beta2: float,
           eps: float, weight_decay: float) -> None:
    """One Adam step on every parameter of the list and its moments, in place, in one launch."""
    import cupy

    if not params:
        return
    dtype = params[0].dtype
    t = dtype.type
    amsgrad = max_exp_avg_sqs is not None
    state = [params, exp_avgs, exp_avg_sqs] + ([max_exp_avg_sqs] if amsgrad else [])
    work = [[a if a.flags.c_contiguous else cupy.ascontiguousarray(a) for a in arrays] for arrays in state]
    grads = [cupy.ascontiguousarray(g, dtype=dtype) for g in grads]
    rows = []
    for k, p in enumerate(work[0]):
        if p.dtype != dtype or p.size > cuda.MAX_ELEMENTS:
            raise ValueError(f"adam: parameter {k} is {p.dtype} of shape {p.shape}; the list must be one dtype")
        v = work[2][k]
        rows.append([a.data.ptr for a in (p, grads[k], work[1][k], v, work[3][k] if amsgrad else v)])
    sizes = [p.size for p in work[0]]
    chunks = [(k, start) for k, n in enumerate(sizes) for start in range(0, n, CHUNK)]
    if chunks:
        w = t(1 - beta1)
        _SOURCE.launch(
            "adam_update", dtype, 0, cupy.asarray(numpy.array(rows, dtype=numpy.uint64)),
            cupy.asarray(numpy.array(sizes, dtype=numpy.int32)),
            cupy.asarray(numpy.array([k for k, _ in chunks], dtype=numpy.int32)),
            cupy.asarray(numpy.array([s for _, s in chunks], dtype=numpy.int32)), CHUNK,
            cupy.asarray(numpy.array([-(lr / (1 - beta1**s)) for s in steps], dtype=dtype)),
            cupy.asarray(numpy.array([(1 - beta2**s) ** 0.5 for s in steps], dtype=dtype)),
            amsgrad, t(weight_decay), w, t(1) - w, bool(abs(w) < 0.5), t(1 - beta2), t(beta2), t(eps),
            grid=(len(chunks),))
    for arrays, copies in zip(state, work):
        for a, copy in zip(arrays, copies):
            if not a.flags.c_contiguous:
                a[...] = copy
