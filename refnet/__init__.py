"""refnet: neural-network training in pure NumPy, with every backward written by hand.

>>> import numpy as np, refnet, refnet.nn as nn
>>> _ = refnet.manual_seed(0)
>>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
>>> x = np.ones((3, 4), dtype=np.float32)
>>> model(x).shape
(3, 2)
>>> model.backward(np.ones((3, 2), dtype=np.float32)).shape
(3, 4)
"""

from refnet import data, nn, optim
from refnet._parallel import get_num_threads, set_num_threads
from refnet.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from refnet.random import manual_seed
from refnet.serialization import load, save

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "data",
    "enable_grad",
    "get_num_threads",
    "is_grad_enabled",
    "load",
    "manual_seed",
    "nn",
    "no_grad",
    "optim",
    "save",
    "set_grad_enabled",
    "set_num_threads",
]
