"""The training loop: recipes, AdamW with parameter groups, warm-up + cosine, evaluation.

One iteration is nanoGPT's: a random batch, forward, cross-entropy over every position,
``model.backward(criterion.backward())``, gradient clipping, an AdamW step, a schedule
step. Every ``eval_interval`` iterations the loss is estimated on ``eval_iters`` random
batches of each split (their own seeded generator, so evaluating never changes the
training batches).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import refnet.nn as nn
from refnet import no_grad
from refnet._typing import IntArray
from refnet.examples.shakespeare.data import Vocabulary, get_batch
from refnet.examples.shakespeare.models import GPT, CharLSTM, build_model
from refnet.nn.utils import clip_grad_norm_
from refnet.optim import AdamW
from refnet.optim.lr_scheduler import LambdaLR

__all__ = ["RECIPES", "Config", "Trainer", "WarmupCosine"]

LN2 = math.log(2)


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything that shapes a run's trajectory (saved in every checkpoint)."""

    model: str = "gpt"
    iters: int = 2000
    batch_size: int = 12
    block_size: int = 64
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup_iters: int = 100
    weight_decay: float = 0.1
    beta2: float = 0.99
    grad_clip: float = 1.0
    eval_interval: int = 250
    eval_iters: int = 20
    seed: int = 0
    text: str = ""  # the fingerprint of the text trained on


#: nanoGPT's CPU recipe for tiny shakespeare, and an LSTM of char-rnn's kind (2 x 256).
RECIPES: dict[str, dict[str, Any]] = {
    "gpt": {},
    "lstm": {"batch_size": 32, "n_layer": 2, "n_embd": 256, "lr": 2e-3, "n_head": 1},
}


@dataclasses.dataclass
class WarmupCosine:
    """nanoGPT's schedule as a factor of the peak rate: linear warm-up over ``warmup``
    iterations, then a cosine from 1 down to ``floor`` at ``horizon``, then ``floor``."""

    warmup: int
    horizon: int
    floor: float

    def __call__(self, it: int) -> float:
        if it < self.warmup:
            return (it + 1) / (self.warmup + 1)
        if it >= self.horizon:
            return self.floor
        progress = (it - self.warmup) / max(self.horizon - self.warmup, 1)
        return self.floor + 0.5 * (1 + math.cos(math.pi * progress)) * (1 - self.floor)


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """nanoGPT's split: matrices (weights, embeddings) decay, vectors (biases, norms) do not."""
    params = list(model.parameters())
    return [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]


def model_for(config: Config, vocab_size: int) -> GPT | CharLSTM:
    """The recipe's model with its initial weights, drawn from the run's seed."""
    c = config
    generator = np.random.default_rng([c.seed, 0])
    return build_model(c.model, vocab_size, c.block_size, c.n_layer, c.n_head, c.n_embd, generator)


class Trainer:
    """A run's whole state: model, optimizer, schedule, batch generator, iteration, history."""

    def __init__(self, config: Config, vocab: Vocabulary, train: IntArray, val: IntArray) -> None:
        self.config, self.vocab = config, vocab
        self.train_ids, self.val_ids = train, val
        c = config
        self.model = model_for(config, vocab.size)
        self.criterion = nn.CrossEntropyLoss()
        self.optimizer = AdamW(
            parameter_groups(self.model, c.weight_decay), lr=c.lr, betas=(0.9, c.beta2)
        )
        schedule = WarmupCosine(c.warmup_iters, c.iters, c.min_lr / c.lr)
        self.scheduler = LambdaLR(self.optimizer, schedule)
        self.batches = np.random.default_rng([c.seed, 1])
        self.iter = 0
        self.history: list[dict[str, Any]] = []
        self.seconds = 0.0

    # --8<-- [start:step]
    def step(self) -> float:
        """One training iteration; returns its loss (nats per character)."""
        x, y = get_batch(
            self.train_ids, self.config.block_size, self.config.batch_size, self.batches
        )
        self.optimizer.zero_grad()
        logits = self.model(x)
        loss = self.criterion(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        self.model.backward(self.criterion.backward().reshape(logits.shape))
        clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.iter += 1
        return float(loss)

    # --8<-- [end:step]

    def estimate_loss(self) -> dict[str, float]:
        """Mean loss over ``eval_iters`` batches of each split, in eval mode, no caches kept."""
        c = self.config
        losses = {}
        self.model.eval()
        with no_grad():
            for name, ids in (("train", self.train_ids), ("val", self.val_ids)):
                rng = np.random.default_rng([c.seed, 2, self.iter, name == "val"])
                total = 0.0
                for _ in range(c.eval_iters):
                    x, y = get_batch(ids, c.block_size, c.batch_size, rng)
                    logits = self.model(x)
                    total += float(
                        self.criterion(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
                    )
                losses[name] = total / c.eval_iters
        self.model.train()
        return losses

    def record(self, losses: dict[str, float], train_loss: float) -> dict[str, Any]:
        entry = {
            "iter": self.iter,
            "train_loss": losses["train"],
            "val_loss": losses["val"],
            "train_bits": losses["train"] / LN2,
            "val_bits": losses["val"] / LN2,
            "last_batch_loss": train_loss,
            "lr": float(self.optimizer.param_groups[0]["lr"]),
            "seconds": self.seconds,
        }
        self.history.append(entry)
        return entry

    @property
    def best(self) -> dict[str, Any] | None:
        return min(self.history, key=lambda h: h["val_loss"]) if self.history else None

    def run(
        self,
        until: int,
        on_step: Callable[[float, float], None] | None = None,
        on_eval: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        """Train to iteration ``until``, evaluating every ``eval_interval`` and at the end."""
        loss = float("nan")
        while self.iter < until:
            start = time.perf_counter()
            loss = self.step()
            elapsed = time.perf_counter() - start
            self.seconds += elapsed
            if on_step is not None:
                on_step(loss, elapsed)
            if self.iter % self.config.eval_interval == 0 or self.iter == self.config.iters:
                entry = self.record(self.estimate_loss(), loss)
                if on_eval is not None:
                    on_eval(entry)

    def state_dict(self) -> dict[str, Any]:
        return {
            "iter": self.iter,
            "seconds": self.seconds,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "batches": self.batches.bit_generator.state,
            "history": self.history,
            "vocab": self.vocab.chars,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.batches.bit_generator.state = state["batches"]
        self.iter = int(state["iter"])
        self.seconds = float(state["seconds"])
        self.history = [dict(h) for h in state["history"]]
