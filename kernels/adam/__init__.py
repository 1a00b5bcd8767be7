"""adam: one Adam update of a parameter array and its running moments, in place, in torch.optim.Adam's order of
floating-point operations.

With g the gradient (plus weight_decay * p, L2), the moments move as m = lerp(m, g, 1 - beta1) and
v = beta2 v + (1 - beta2) g^2; then p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps), where
amsgrad (max_exp_avg_sq given, else None) puts the largest v seen so far in place of v. `step` counts from 1;
grad is only read.

Every variant provides exactly the functions of CONTRACT, with these parameters.
"""

CONTRACT = {
    "update": "(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay)",
}
