"""The three models of the example, their default recipes, and a printed model summary.

* ``mlp``: 784-256-128-10 with ReLU, a baseline that ignores the image's 2-D structure.
* ``lenet``: LeCun's LeNet-5 in the layout of PyTorch's classic MNIST example,
  conv(1,10,5)-pool-relu-conv(10,20,5)-pool-relu-fc(320,50)-relu-fc(50,10), trained with
  SGD and momentum 0.9.
* ``cnn`` (the default): two 3x3 convolution blocks with batch normalisation, then a
  dropout-regularised classifier, trained with Adam.

Every layer is initialised as PyTorch initialises it (``kaiming_uniform_(a=√5)``), drawing
from the one generator of the run, so the seed fixes the initial weights.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

import refnet.nn as nn
from refnet.grad_mode import no_grad

__all__ = ["MODELS", "RECIPES", "Recipe", "build_model", "count_parameters", "summary"]

#: Per-pixel mean and standard deviation of the FashionMNIST training images (in [0, 1]),
#: used to standardise the inputs.
MEAN, STD = 0.2860, 0.3530

INPUT_SHAPE = (1, 28, 28)
NUM_CLASSES = 10


def mlp(generator: np.random.Generator) -> nn.Sequential:
    """784-256-128-10, ReLU: 235,146 parameters."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 256, generator=generator),
        nn.ReLU(),
        nn.Linear(256, 128, generator=generator),
        nn.ReLU(),
        nn.Linear(128, NUM_CLASSES, generator=generator),
    )


def lenet(generator: np.random.Generator) -> nn.Sequential:
    """PyTorch's classic MNIST LeNet: 21,840 parameters."""
    return nn.Sequential(
        nn.Conv2d(1, 10, 5, generator=generator),  # (N, 10, 24, 24)
        nn.MaxPool2d(2),  # (N, 10, 12, 12)
        nn.ReLU(),
        nn.Conv2d(10, 20, 5, generator=generator),  # (N, 20, 8, 8)
        nn.MaxPool2d(2),  # (N, 20, 4, 4)
        nn.ReLU(),
        nn.Flatten(),  # (N, 320)
        nn.Linear(320, 50, generator=generator),
        nn.ReLU(),
        nn.Linear(50, NUM_CLASSES, generator=generator),
    )


def cnn(generator: np.random.Generator) -> nn.Sequential:
    """Two conv-BN-ReLU-pool blocks and a dropout classifier: 421,834 parameters.

    The convolutions have no bias: the batch norm right after them subtracts the mean, so
    a bias would be cancelled (and PyTorch's reference CNNs drop it for that reason).
    """
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1, bias=False, generator=generator),  # (N, 32, 28, 28)
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.MaxPool2d(2),  # (N, 32, 14, 14)
        nn.Conv2d(32, 64, 3, padding=1, bias=False, generator=generator),  # (N, 64, 14, 14)
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.MaxPool2d(2),  # (N, 64, 7, 7)
        nn.Flatten(),  # (N, 3136)
        nn.Linear(3136, 128, generator=generator),
        nn.ReLU(),
        nn.Dropout(0.5, generator=generator),
        nn.Linear(128, NUM_CLASSES, generator=generator),
    )


MODELS: dict[str, Callable[[np.random.Generator], nn.Sequential]] = {
    "mlp": mlp,
    "lenet": lenet,
    "cnn": cnn,
}


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A model's default training recipe; every field has a command-line flag."""

    optimizer: str
    lr: float
    batch_size: int
    epochs: int
    scheduler: str = "none"
    momentum: float = 0.9  # SGD and RMSprop only
    weight_decay: float = 0.0


#: Tuned on the 8k subset with the PyTorch replica (benchmarks/fashion_mnist_torch_replica.py;
#: docs/fashion-mnist-results.md has the runs): the one-cycle schedule beat a constant rate
#: and cosine annealing for all three models within these few epochs.
RECIPES: dict[str, Recipe] = {
    "mlp": Recipe(optimizer="adam", lr=3e-3, batch_size=128, epochs=10, scheduler="onecycle"),
    # PyTorch's classic recipe is SGD(lr=0.01, momentum=0.9), batch 64, constant: 83.7% on
    # the subset's held-out images (torch, 3 seeds) against 87.1% with this one.
    "lenet": Recipe(optimizer="sgd", lr=0.05, batch_size=64, epochs=10, scheduler="onecycle"),
    "cnn": Recipe(optimizer="adam", lr=3e-3, batch_size=128, epochs=8, scheduler="onecycle"),
}


def build_model(name: str, generator: np.random.Generator) -> nn.Sequential:
    """The model called ``name`` (``mlp``, ``lenet`` or ``cnn``), initialised from ``generator``."""
    try:
        factory = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}") from None
    return factory(generator)


def count_parameters(module: nn.Module) -> int:
    """The number of trainable scalars (elements of every parameter) in ``module``."""
    return sum(p.data.size for p in module.parameters() if p.requires_grad)


def summary(model: nn.Sequential, input_shape: tuple[int, ...] = INPUT_SHAPE) -> str:
    """A table of the layers, their output shapes and parameter counts, and the totals.

    The output shapes come from one forward pass of a zero image in evaluation mode, which
    changes nothing: batch norm uses (and does not update) its running statistics, and
    dropout is the identity, so it draws no random numbers.
    """
    was_training = model.training
    model.eval()
    x = np.zeros((1, *input_shape), dtype=np.float32)
    rows = [("#", "layer", "output shape", "params")]
    rows.append(("", "input", _shape(x.shape), ""))
    with no_grad():
        for index, layer in enumerate(model):
            x = layer(x)
            params = count_parameters(layer)
            rows.append(
                (str(index), repr(layer), _shape(x.shape), f"{params:,}" if params else "-")
            )
    model.train(was_training)
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        f"{a:>{widths[0]}}  {b:<{widths[1]}}  {c:<{widths[2]}}  {d:>{widths[3]}}"
        for a, b, c, d in rows
    ]
    rule = "-" * len(lines[0])
    total = count_parameters(model)
    buffers = sum(b.size for b in model.buffers())
    size_mb = sum(p.data.nbytes for p in model.parameters()) / 2**20
    footer = f"Total params: {total:,} ({size_mb:.2f} MB)"
    if buffers:
        footer += f"; buffers (running statistics): {buffers:,}"
    return "\n".join([lines[0], rule, *lines[1:], rule, footer])


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(["N", *map(str, shape[1:])]) + ")"
