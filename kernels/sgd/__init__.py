"""sgd: one step of stochastic gradient descent on a list of parameter arrays, in place, as torch.optim.SGD computes
it.

d is the gradient, plus weight_decay * p (L2). With momentum, the buffer b starts as the first d and then moves as
b = momentum b + (1 - dampening) d, and d becomes b (Nesterov: d + momentum b). Then p -= lr d. The lists hold one array
per parameter; a parameter's buffer is None before its first step; update returns the list of buffers (None
entries without momentum). The gradients are only read.

Every variant provides exactly the functions of CONTRACT, with these parameters.
"""

CONTRACT = {
    "update": "(params, grads, momentum_buffers, lr, momentum, dampening, weight_decay, nesterov)",
}
