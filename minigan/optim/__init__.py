"""Optimizers with PyTorch semantics: SGD (momentum, Nesterov), Adam (AMSGrad) and RMSprop."""

from minigan.optim.adam import Adam
from minigan.optim.optimizer import Optimizer
from minigan.optim.rmsprop import RMSprop
from minigan.optim.sgd import SGD

__all__ = ["SGD", "Adam", "Optimizer", "RMSprop"]
