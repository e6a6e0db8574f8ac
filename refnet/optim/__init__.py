"""Optimizers and learning-rate schedulers (PyTorch: ``torch.optim``).

Every optimizer follows PyTorch's update rule (its default single-tensor code path) with
PyTorch's argument names and defaults, so a run can be compared with PyTorch step for
step; each class docstring states its rule. :class:`Lion` is an extra, from its paper.

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
from refnet.optim.adagrad import Adagrad
from refnet.optim.adam import Adam
from refnet.optim.adamax import Adamax
from refnet.optim.adamw import AdamW
from refnet.optim.lion import Lion
from refnet.optim.nadam import NAdam
from refnet.optim.optimizer import Optimizer
from refnet.optim.radam import RAdam
from refnet.optim.rmsprop import RMSprop
from refnet.optim.sgd import SGD

__all__ = [
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "Lion",
    "NAdam",
    "Optimizer",
    "RAdam",
    "RMSprop",
    "lr_scheduler",
]
