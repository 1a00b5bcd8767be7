"""sgd: one step of stochastic gradient descent on a parameter array, in place, as torch.optim.SGD computes it.

d is the gradient, plus weight_decay * p (L2). With momentum, the buffer b starts as the first d and then moves as
b = momentum b + (1 - dampening) d, and d becomes b (Nesterov: d + momentum b). Then p -= lr d. The buffer is
passed as None at the first step; update returns it (None without momentum). grad is only read.

Every variant provides exactly the functions of CONTRACT, with these parameters.
"""

CONTRACT = {
    "update": "(param, grad, momentum_buffer, lr, momentum, dampening, weight_decay, nesterov)",
}
