"""minigan: a small array framework for generative adversarial networks, on NumPy (CPU) or CuPy (GPU)."""

from minigan import backends, cuda, nn, optim
from minigan.autograd import Function, enable_grad, grad, is_grad_enabled, no_grad, set_grad_enabled
from minigan.backend import cuda_available
from minigan.backends import device
from minigan.dispatch import use_kernels
from minigan.ops import (
    abs,
    argmax,
    argmin,
    cat,
    clamp,
    exp,
    flatten,
    log,
    log_softmax,
    logsumexp,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    permute,
    relu,
    reshape,
    sigmoid,
    softmax,
    sqrt,
    squeeze,
    stack,
    std,
    sum,
    tanh,
    transpose,
    unsqueeze,
    var,
    where,
)
from minigan.random import get_rng_state, manual_seed, set_rng_state
from minigan.serialization import load, save
from minigan.tensor import (
    Tensor,
    arange,
    bool_,
    empty,
    float32,
    float64,
    full,
    full_like,
    get_default_dtype,
    int32,
    int64,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    set_default_dtype,
    tensor,
    zeros,
    zeros_like,
)
from minigan.tensor import float32 as float
from minigan.tensor import float64 as double
from minigan.tensor import int64 as long

__version__ = "0.1.0"

__all__ = [
    "Function", "Tensor", "abs", "arange", "argmax", "argmin", "backends", "bool_", "cat", "clamp", "cuda",
    "cuda_available", "device", "double", "empty", "enable_grad", "exp", "flatten", "float", "float32", "float64",
    "full", "full_like", "get_default_dtype", "get_rng_state", "grad", "int32", "int64", "is_grad_enabled", "load",
    "log", "log_softmax", "logsumexp", "long", "manual_seed", "matmul", "max", "maximum", "mean", "min", "minimum",
    "nn", "no_grad", "ones", "ones_like", "optim", "permute", "rand", "rand_like", "randint", "randn", "randn_like",
    "randperm", "relu", "reshape", "save", "set_default_dtype", "set_grad_enabled", "set_rng_state", "sigmoid",
    "softmax", "sqrt", "squeeze", "stack", "std", "sum", "tanh", "tensor", "transpose", "unsqueeze", "use_kernels",
    "var", "where", "zeros", "zeros_like",
]
