"""Neural-network layers with PyTorch semantics: Module, Parameter, containers, layers, init.

BatchNormAct1d and BatchNormAct2d are minigan's own: a batch norm and its activation in one pass."""

from minigan.nn import functional, init
from minigan.nn.activation import LeakyReLU, ReLU, Sigmoid, Tanh
from minigan.nn.batchnorm import BatchNorm1d, BatchNorm2d, BatchNormAct1d, BatchNormAct2d
from minigan.nn.containers import ModuleList, Sequential
from minigan.nn.conv import Conv2d, ConvTranspose2d
from minigan.nn.dropout import Dropout
from minigan.nn.flatten import Flatten, Unflatten
from minigan.nn.linear import Embedding, Linear
from minigan.nn.loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from minigan.nn.module import IncompatibleKeys, Module, Parameter
from minigan.nn.parallel import DataParallel

__all__ = [
    "BCELoss", "BCEWithLogitsLoss", "BatchNorm1d", "BatchNorm2d", "BatchNormAct1d", "BatchNormAct2d", "Conv2d",
    "ConvTranspose2d", "CrossEntropyLoss", "DataParallel", "Dropout", "Embedding", "Flatten", "IncompatibleKeys", "L1Loss",
    "LeakyReLU", "Linear", "MSELoss", "Module", "ModuleList", "NLLLoss", "Parameter", "ReLU", "Sequential",
    "Sigmoid", "Tanh", "Unflatten", "functional", "init",
]
