"""The Adam update on the CPU: one Numba pass over the parameter and its moments (in chunks on kernels.threads),
where the reference makes about ten array passes. Every operation is the reference's, in the same order and
the same dtype (no fused multiply-add), so the two agree bit for bit. See the contract in __init__.py.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .. import threads


@njit(cache=True, nogil=True)
def _update(lo, hi, k, p, g, m, v, v_max, amsgrad, decay, w, one_minus_w, small_w, c2, b2, step_size, bc2_sqrt,
            eps):
    p, g, m, v, v_max = p[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi], v_max[lo:hi]
    for i in range(p.size):
        gi = g[i]
        if decay != 0:
            gi = p[i] * decay + gi
        if small_w:
            m[i] = m[i] + (gi - m[i]) * w
        else:
            m[i] = gi - (gi - m[i]) * one_minus_w
        v[i] = v[i] * b2 + gi * c2 * gi
        vi = v[i]
        if amsgrad:
            vi = max(v_max[i], vi)
            v_max[i] = vi
        p[i] = p[i] + m[i] * step_size / (np.sqrt(vi) / bc2_sqrt + eps)


def update(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, lr: float, beta1: float, beta2: float,
           eps: float, weight_decay: float) -> None:
    """One Adam step on every parameter of the list and its moments, in place, one Numba pass per parameter."""
    for k, (param, grad, exp_avg, exp_avg_sq, step) in enumerate(zip(params, grads, exp_avgs, exp_avg_sqs, steps)):
        max_exp_avg_sq = None if max_exp_avg_sqs is None else max_exp_avg_sqs[k]
        _update_one(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay)


def _update_one(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step: int, lr: float, beta1: float, beta2: float,
                eps: float, weight_decay: float) -> None:
    """One Adam step on param and its moments, in place. The pass runs on contiguous arrays: a non-contiguous one
    (a parameter that is a transposed view, say) is updated in a contiguous copy, then copied back."""
    t = param.dtype.type
    w = t(1 - beta1)
    amsgrad = max_exp_avg_sq is not None
    state = [param, exp_avg, exp_avg_sq] + ([max_exp_avg_sq] if amsgrad else [])
    work = [np.ascontiguousarray(a) for a in state]  # the arrays themselves where they are contiguous
    p, m, v = (a.reshape(-1) for a in work[:3])
    threads.run(_update, param.size, 5 * param.size, p, np.ascontiguousarray(grad).reshape(-1), m, v,
                work[3].reshape(-1) if amsgrad else v, amsgrad, t(weight_decay), w, t(1) - w, abs(w) < 0.5,
                t(1 - beta2), t(beta2), t(-(lr / (1 - beta1**step))), t((1 - beta2**step) ** 0.5), t(eps))
    for a, copy in zip(state, work):
        if copy is not a:
            a[...] = copy
