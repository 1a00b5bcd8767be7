"""Differentiable functions on Tensors. Each one is a Function (forward on arrays, backward on Tensors) or
a composition of them; minigan.nn.functional re-exports them with PyTorch's signatures."""

from minigan.ops.arith import Cast, Clone, ToDevice, add, as_tensor, compare, div, matmul, mul, neg, pow, sub
from minigan.ops.batch_norm import batch_norm
from minigan.ops.conv import conv2d, conv_transpose2d
from minigan.ops.leaky_relu import leaky_relu, relu
from minigan.ops.loss import binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, mse_loss, nll_loss
from minigan.ops.reduce import argmax, argmin, log_softmax, logsumexp, max, mean, min, softmax, std, sum, var
from minigan.ops.shape import (
    array_index,
    broadcast_to,
    cat,
    expand,
    flatten,
    getitem,
    permute,
    reshape,
    squeeze,
    stack,
    sum_to,
    transpose,
    unsqueeze,
)
from minigan.ops.unary import abs, clamp, exp, log, maximum, minimum, sigmoid, softplus, sqrt, tanh, where

__all__ = [
    "Cast", "Clone", "ToDevice", "abs", "add", "argmax", "argmin", "array_index", "as_tensor", "batch_norm",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "broadcast_to", "cat", "clamp", "compare",
    "conv2d", "conv_transpose2d", "cross_entropy", "div", "exp", "expand", "flatten", "getitem", "leaky_relu",
    "log", "log_softmax", "logsumexp", "matmul", "max", "maximum", "mean", "min", "minimum", "mse_loss", "mul",
    "neg", "nll_loss", "permute", "pow", "relu", "reshape", "sigmoid", "softmax", "softplus", "sqrt", "squeeze",
    "stack", "std", "sub", "sum", "sum_to", "tanh", "transpose", "unsqueeze", "var", "where",
]
