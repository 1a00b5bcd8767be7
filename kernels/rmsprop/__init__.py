"""rmsprop: one RMSprop step (Tieleman and Hinton, 2012) on a parameter array and its running averages, in place,
as torch.optim.RMSprop computes it.

With g the gradient (plus weight_decay * p, L2): v = alpha v + (1 - alpha) g^2 (square_avg), and the step divides
by sqrt(v) + eps; centered (grad_avg given, else None) subtracts the square of a running average of g from v
first. With momentum (momentum_buffer given, else None), b = momentum b + g / (sqrt(v) + eps) and p -= lr b;
otherwise p -= lr g / (sqrt(v) + eps). grad is only read.

Every variant provides exactly the functions of CONTRACT, with these parameters.
"""

CONTRACT = {
    "update": "(param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps, weight_decay, momentum)",
}
