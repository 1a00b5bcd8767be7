"""rmsprop: one RMSprop step (Tieleman and Hinton, 2012) on a list of parameter arrays and their running averages,
in place, as torch.optim.RMSprop computes it.

With g the gradient (plus weight_decay * p, L2): v = alpha v + (1 - alpha) g^2 (square_avg), and the step divides
by sqrt(v) + eps; centered (grad_avgs given, else None) subtracts the square of a running average of g from v
first. With momentum (momentum_buffers given, else None), b = momentum b + g / (sqrt(v) + eps) and p -= lr b;
otherwise p -= lr g / (sqrt(v) + eps). The lists hold one array per parameter; the gradients are only read.

Every variant provides exactly the functions of CONTRACT, with these parameters.
"""

CONTRACT = {
    "update": "(params, grads, square_avgs, grad_avgs, momentum_buffers, lr, alpha, eps, weight_decay, momentum)",
}
