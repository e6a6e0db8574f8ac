"""Optimizers and learning-rate schedulers (PyTorch: ``torch.optim``).

Every optimizer follows PyTorch's update rule (its default single-tensor code path) with
PyTorch's argument names and defaults, so a run can be compared with PyTorch step for
step; each class docstring states its rule. :class:`Lion` is an extra, from its paper;
:class:`Muon` iterates in the parameter's dtype where PyTorch rounds to bfloat16.

>>> import numpy as np, refnet.nn as nn, refnet.optim as optim
>>> model = nn.Linear(3, 1)
>>> optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
>>> scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.5)
>>> optimizer.zero_grad()
>>> _ = model(np.ones((4, 3), dtype=np.float32))
>>> _ = model.backward(np.ones((4, 1), dtype=np.float32))
>>> optimizer.step()
>>> scheduler.step()
"""

from refnet.optim import lr_scheduler
from refnet.optim.adadelta import Adadelta
from refnet.optim.adafactor import Adafactor
from refnet.optim.adagrad import Adagrad
from refnet.optim.adam import Adam
from refnet.optim.adamax import Adamax
from refnet.optim.adamw import AdamW
from refnet.optim.asgd import ASGD
from refnet.optim.lbfgs import LBFGS
from refnet.optim.lion import Lion
from refnet.optim.muon import Muon
from refnet.optim.nadam import NAdam
from refnet.optim.optimizer import Optimizer
from refnet.optim.radam import RAdam
from refnet.optim.rmsprop import RMSprop
from refnet.optim.rprop import Rprop
from refnet.optim.sgd import SGD

__all__ = [
    "ASGD",
    "LBFGS",
    "SGD",
    "Adadelta",
    "Adafactor",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "Lion",
    "Muon",
    "NAdam",
    "Optimizer",
    "RAdam",
    "RMSprop",
    "Rprop",
    "lr_scheduler",
]
