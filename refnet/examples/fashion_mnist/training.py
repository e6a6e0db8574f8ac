"""The training loop, evaluation, and the :class:`Trainer` that holds one run's state.

One epoch is the textbook loop, nothing hidden::

    model.train()
    for inputs, labels in loader:
        optimizer.zero_grad()                 # gradients accumulate: clear them
        outputs = model(inputs)               # forward; every layer caches what it needs
        loss = criterion(outputs, labels)     # a float
        model.backward(criterion.backward())  # the chain rule, layer by layer, in reverse
        optimizer.step()                      # update the weights
        scheduler.step()                      # learning-rate schedules step once per batch

and evaluation runs the model in ``model.eval()`` mode (batch norm uses its running
statistics, dropout is the identity).

All randomness of a run (initial weights, shuffling, dropout masks) comes from **one**
``np.random.Generator`` seeded with ``--seed``. Its state is part of
:meth:`Trainer.state_dict`, with the model's, the optimizer's, the scheduler's and the
data loader's states, so a run restored from a checkpoint continues exactly as the
uninterrupted run would have.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

import refnet.nn as nn
import refnet.optim as optim
from refnet._typing import IntArray
from refnet.data import DataLoader, Dataset
from refnet.examples.fashion_mnist.data import DataSplits
from refnet.examples.fashion_mnist.models import build_model
from refnet.grad_mode import no_grad
from refnet.nn.parameter import Parameter
from refnet.nn.utils import clip_grad_norm_
from refnet.optim.lr_scheduler import LRScheduler

__all__ = [
    "OPTIMIZERS",
    "SCHEDULERS",
    "Config",
    "EpochResult",
    "Evaluation",
    "GradientNorms",
    "Trainer",
    "evaluate",
    "make_optimizer",
    "make_scheduler",
    "skip_input_gradient",
    "train_one_epoch",
]

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULERS = ("none", "step", "cosine", "onecycle")
#: The ``step`` schedule multiplies the learning rate by this after every epoch (the
#: factor of PyTorch's MNIST example).
STEP_GAMMA = 0.7
EVAL_BATCH_SIZE = 500

#: Called after every training batch with (images in the batch, running mean loss).
ProgressFn = Callable[[int, float], None]


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything that determines a run's trajectory (and so must match on ``--resume``)."""

    model: str
    optimizer: str
    lr: float
    batch_size: int
    epochs: int
    scheduler: str
    momentum: float
    weight_decay: float
    seed: int
    clip_grad_norm: float | None
    grad_norm_every: int
    val_size: int | None
    train_size: int | None
    data: str  # the fingerprint of the training and validation images (DataSplits)

    def horizon_matters(self) -> bool:
        """Whether the number of epochs shapes the schedule (then it cannot change on resume)."""
        return self.scheduler in ("cosine", "onecycle")


def make_optimizer(
    name: str, params: Iterable[Parameter], *, lr: float, momentum: float, weight_decay: float
) -> optim.Optimizer:
    """``sgd`` (with ``momentum``), ``adam``, ``adamw`` or ``rmsprop`` (with ``momentum``)."""
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "rmsprop":
        return optim.RMSprop(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def make_scheduler(
    name: str, optimizer: optim.Optimizer, *, lr: float, epochs: int, steps_per_epoch: int
) -> LRScheduler | None:
    """A learning-rate schedule stepped once per batch, over ``epochs · steps_per_epoch`` steps.

    * ``none``: constant ``lr``;
    * ``step``: ``lr`` times ``0.7`` after every epoch (``StepLR``);
    * ``cosine``: cosine annealing from ``lr`` to 0 at the last step (``CosineAnnealingLR``);
    * ``onecycle``: warm up to ``lr`` over the first 30% of the steps, then anneal
      (``OneCycleLR``; it also cycles the momentum or Adam's β₁).
    """
    total = epochs * steps_per_epoch
    lr_scheduler = optim.lr_scheduler
    if name == "none":
        return None
    if name == "step":
        return lr_scheduler.StepLR(optimizer, step_size=steps_per_epoch, gamma=STEP_GAMMA)
    if name == "cosine":
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    if name == "onecycle":
        return lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=total)
    raise ValueError(f"unknown scheduler {name!r}; choose one of {', '.join(SCHEDULERS)}")


class GradientNorms:
    """The L2 norm of each layer's parameter gradients, every ``every`` training steps.

    A layer's norm is ``sqrt(Σ_p ‖∂L/∂p‖²)`` over its parameters (weight and bias),
    measured after ``backward`` and before clipping and the optimizer step. Recording one
    step in ``every`` keeps it cheap and the metrics file small.
    """

    def __init__(self, model: nn.Sequential, every: int) -> None:
        if every < 1:
            raise ValueError(f"grad_norm_every must be at least 1, got {every}")
        self.every = every
        self.layers = [
            (f"{name} {type(layer).__name__}", layer)
            for name, layer in model.named_children()
            if any(True for _ in layer.parameters())
        ]
        self.steps: list[int] = []
        self.norms: dict[str, list[float]] = {label: [] for label, _ in self.layers}

    def record(self, step: int) -> None:
        """Record the current gradients at steps 1, 1 + every, 1 + 2·every, ... (1-based)."""
        if (step - 1) % self.every:
            return
        self.steps.append(step)
        for label, layer in self.layers:
            squares = sum(float(np.vdot(p.grad, p.grad)) for p in layer.parameters())
            self.norms[label].append(math.sqrt(squares))

    def state_dict(self) -> dict[str, Any]:
        """``{'steps': [...], 'norms': {layer: [...]}}``, plain lists (JSON and checkpoints)."""
        return {"steps": list(self.steps), "norms": {k: list(v) for k, v in self.norms.items()}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a record from :meth:`state_dict` (of a model with the same layers)."""
        if set(state["norms"]) != set(self.norms):
            raise ValueError("the gradient-norm record is for other layers")
        self.steps = list(state["steps"])
        self.norms = {k: list(state["norms"][k]) for k in self.norms}


@dataclasses.dataclass(frozen=True)
class EpochResult:
    """Mean training loss and accuracy over the epoch (measured on the fly, in train mode)."""

    loss: float
    accuracy: float
    images: int
    seconds: float


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """Mean loss, accuracy and the predicted class of every image of a dataset."""

    loss: float
    accuracy: float
    predictions: IntArray


def train_one_epoch(
    model: nn.Module,
    criterion: nn.CrossEntropyLoss,
    optimizer: optim.Optimizer,
    scheduler: LRScheduler | None,
    loader: DataLoader,
    *,
    first_step: int = 1,
    grad_norms: GradientNorms | None = None,
    clip_grad_norm: float | None = None,
    progress: ProgressFn | None = None,
) -> EpochResult:
    """One pass over ``loader``; ``first_step`` is the global number of its first batch.

    Raises ``FloatingPointError`` as soon as the loss is not finite (the run diverged).
    """
    start = time.perf_counter()
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    for step, (inputs, labels) in enumerate(loader, start=first_step):
        optimizer.zero_grad()
        outputs = model(inputs)
        loss = criterion(outputs, labels)
        if not math.isfinite(loss):
            raise FloatingPointError(
                f"the training loss became {loss} at step {step}: the run diverged "
                "(try a smaller --lr, or --clip-grad-norm)"
            )
        model.backward(criterion.backward())
        if grad_norms is not None:
            grad_norms.record(step)
        if clip_grad_norm is not None:
            clip_grad_norm_(model.parameters(), clip_grad_norm)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        total_loss += loss * len(labels)
        correct += int(np.count_nonzero(outputs.argmax(axis=1) == labels))
        seen += len(labels)
        if progress is not None:
            progress(len(labels), total_loss / seen)
    return EpochResult(total_loss / seen, correct / seen, seen, time.perf_counter() - start)


def evaluate(
    model: nn.Module,
    criterion: nn.CrossEntropyLoss,
    dataset: Dataset,
    batch_size: int = EVAL_BATCH_SIZE,
) -> Evaluation:
    """Mean loss, accuracy and predicted classes on ``dataset``, in ``model.eval()`` mode.

    Under ``refnet.no_grad()``: nothing is backpropagated, so no layer (and not the
    criterion, which ``model.eval()`` does not reach) keeps a cache for a backward.
    """
    model.eval()
    total_loss, predictions, labels_seen = 0.0, [], []
    with no_grad():
        for inputs, labels in DataLoader(dataset, batch_size=batch_size):
            outputs = model(inputs)
            total_loss += criterion(outputs, labels) * len(labels)
            predictions.append(outputs.argmax(axis=1))
            labels_seen.append(labels)
    predicted, truth = np.concatenate(predictions), np.concatenate(labels_seen)
    accuracy = float(np.count_nonzero(predicted == truth)) / len(truth)
    return Evaluation(total_loss / len(truth), accuracy, predicted.astype(np.int64))


def skip_input_gradient(model: nn.Sequential) -> None:
    """Let the first layer with parameters skip ∂L/∂input: the images need no gradient.

    PyTorch skips it because the input tensor has ``requires_grad=False``; a refnet layer
    is told with ``needs_input_grad = False`` (its parameter gradients are unchanged, and
    ``model.backward`` then returns ``None``).
    """
    for layer in model:
        if any(True for _ in layer.parameters()):
            if hasattr(layer, "needs_input_grad"):
                layer.needs_input_grad = False
            return


class Trainer:
    """One training run: model, loss, optimizer, schedule, loader and generator, and its history.

    ``state_dict()`` / ``load_state_dict()`` capture and restore all of it (plain data for
    ``refnet.save``), at epoch boundaries, where checkpoints are taken.
    """

    def __init__(self, config: Config, splits: DataSplits) -> None:
        self.config = config
        self.splits = splits
        self.generator = np.random.default_rng(config.seed)
        # The one generator: the model's initial weights and dropout masks, the shuffling.
        self.model = build_model(config.model, self.generator)
        skip_input_gradient(self.model)
        self.criterion = nn.CrossEntropyLoss()
        self.loader = DataLoader(
            splits.train, batch_size=config.batch_size, shuffle=True, generator=self.generator
        )
        self.optimizer = make_optimizer(
            config.optimizer,
            self.model.parameters(),
            lr=config.lr,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
        )
        self.scheduler = make_scheduler(
            config.scheduler,
            self.optimizer,
            lr=config.lr,
            epochs=config.epochs,
            steps_per_epoch=len(self.loader),
        )
        self.grad_norms = GradientNorms(self.model, config.grad_norm_every)
        self.epoch = 0  # epochs completed
        self.step = 0  # batches trained on
        self.history: list[dict[str, float]] = []
        self.last_eval: Evaluation | None = None

    @property
    def lr(self) -> float:
        """The current learning rate (of the first parameter group)."""
        return float(self.optimizer.param_groups[0]["lr"])

    @property
    def best(self) -> dict[str, float] | None:
        """The history entry with the highest validation accuracy (the earliest on ties)."""
        return max(self.history, key=lambda h: h["val_acc"], default=None)

    def train_epoch(self, progress: ProgressFn | None = None) -> dict[str, float]:
        """Train one epoch, evaluate, append to (and return) the history entry."""
        start = time.perf_counter()
        result = train_one_epoch(
            self.model,
            self.criterion,
            self.optimizer,
            self.scheduler,
            self.loader,
            first_step=self.step + 1,
            grad_norms=self.grad_norms,
            clip_grad_norm=self.config.clip_grad_norm,
            progress=progress,
        )
        self.step += len(self.loader)
        self.epoch += 1
        self.last_eval = evaluate(self.model, self.criterion, self.splits.val)
        entry = {
            "epoch": self.epoch,
            "train_loss": result.loss,
            "train_acc": result.accuracy,
            "val_loss": self.last_eval.loss,
            "val_acc": self.last_eval.accuracy,
            "lr": self.lr,
            "seconds": time.perf_counter() - start,
            "train_seconds": result.seconds,
            "images_per_s": result.images / result.seconds,
        }
        self.history.append(entry)
        return entry

    def evaluation(self) -> Evaluation:
        """The latest validation result (evaluating now if none is at hand, e.g. after a load)."""
        if self.last_eval is None:
            self.last_eval = evaluate(self.model, self.criterion, self.splits.val)
        return self.last_eval

    # ------------------------------------------------------------------ state

    def state_dict(self) -> dict[str, Any]:
        """Everything the rest of the run depends on, as plain data (see ``checkpoints``)."""
        return {
            "epoch": self.epoch,
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "loader": self.loader.state_dict(),
            "generator": self.generator.bit_generator.state,
            "history": [dict(h) for h in self.history],
            "grad_norms": self.grad_norms.state_dict(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from :meth:`state_dict`, taken from a trainer with the same config."""
        self.model.load_state_dict(state["model"])
        # The optimizer first: its param groups hold the learning rates the scheduler set.
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.loader.load_state_dict(state["loader"])
        self.generator.bit_generator.state = dict(state["generator"])
        self.grad_norms.load_state_dict(state["grad_norms"])
        self.history = [dict(h) for h in state["history"]]
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.last_eval = None
