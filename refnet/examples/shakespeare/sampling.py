"""Generating text: one character at a time from the model's next-character distribution.

``temperature`` divides the logits (below 1: bolder choices of the likely characters;
above 1: more random), ``top_k`` keeps only the k likeliest characters. The draws come
from the generator passed in, so the same seed gives the same text.
"""

from __future__ import annotations

import numpy as np

from refnet import no_grad
from refnet._typing import Array
from refnet.examples.shakespeare.data import Vocabulary
from refnet.examples.shakespeare.models import GPT, CharLSTM

__all__ = ["generate", "next_distribution"]


def next_distribution(logits: Array, temperature: float, top_k: int | None) -> Array:
    """Probabilities (V,) from logits: scaled by 1/temperature, cut to the top k, softmax."""
    scaled = logits.astype(np.float64) / temperature
    if top_k is not None and top_k < scaled.size:
        kth = np.partition(scaled, -top_k)[-top_k]
        scaled = np.where(scaled < kth, -np.inf, scaled)
    scaled -= scaled.max()
    p = np.exp(scaled)
    return p / p.sum()


def generate(
    model: GPT | CharLSTM,
    vocab: Vocabulary,
    prompt: str,
    length: int,
    generator: np.random.Generator,
    temperature: float = 1.0,
    top_k: int | None = None,
) -> str:
    """``prompt`` followed by ``length`` generated characters (eval mode, no caches kept)."""
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if top_k is not None and top_k <= 0:
        raise ValueError(f"top_k must be positive, got {top_k}")
    context = vocab.encode(prompt or "\n")
    out = list(context)
    state = None
    was_training = model.training
    model.eval()
    with no_grad():
        for _ in range(length):
            logits, state = model.next_logits(np.asarray(out), state)
            p = next_distribution(logits, temperature, top_k)
            out.append(int(generator.choice(vocab.size, p=p)))
    model.train(was_training)
    text = vocab.decode(out)
    return text if prompt else text[1:]
