"""adam: one Adam update of a list of parameter arrays and their running moments, in place, in torch.optim.Adam's
order of floating-point operations (one launch for the whole list on the GPU).

With g the gradient (plus weight_decay * p, L2), the moments move as m = lerp(m, g, 1 - beta1) and
v = beta2 v + (1 - beta2) g^2; then p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps), where
amsgrad (max_exp_avg_sqs given, else None) puts the largest v seen so far in place of v. The lists hold one array
per parameter, all of one dtype on one device; steps (from 1) is each parameter's step number; the gradients are
only read.

Every variant provides exactly the functions of CONTRACT, with these parameters.
"""

CONTRACT = {
    "update": "(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, lr, beta1, beta2, eps, weight_decay)",
}
