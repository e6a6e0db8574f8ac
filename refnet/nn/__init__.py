"""Layers, losses and containers (PyTorch: ``torch.nn``).

Every class here is a :class:`Module` with a hand-written ``forward`` and ``backward``.
"""

from refnet.nn import functional, init
from refnet.nn.activation import (
    ELU,
    GELU,
    SELU,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    LeakyReLU,
    LogSigmoid,
    LogSoftmax,
    Mish,
    PReLU,
    ReLU,
    ReLU6,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Softsign,
    Tanh,
)
from refnet.nn.container import Sequential
from refnet.nn.flatten import Flatten, Unflatten
from refnet.nn.linear import Identity, Linear
from refnet.nn.module import IncompatibleKeys, Module
from refnet.nn.parameter import Parameter

__all__ = [
    "ELU",
    "GELU",
    "SELU",
    "Flatten",
    "Hardsigmoid",
    "Hardswish",
    "Hardtanh",
    "Identity",
    "IncompatibleKeys",
    "LeakyReLU",
    "Linear",
    "LogSigmoid",
    "LogSoftmax",
    "Mish",
    "Module",
    "PReLU",
    "Parameter",
    "ReLU",
    "ReLU6",
    "Sequential",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Softsign",
    "Tanh",
    "Unflatten",
    "functional",
    "init",
]
