"""The run's figures: loss curves, and the GPT's attention maps on a validation line."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from refnet._atomic import atomic_write
from refnet._typing import Array

__all__ = ["attention_figure", "curves_figure", "save_figure"]


def save_figure(figure: Any, path: str | os.PathLike[str]) -> Path:
    with atomic_write(path) as f:
        figure.savefig(f, format="png", dpi=110)
    return Path(path)


def curves_figure(history: Sequence[Mapping[str, float]]) -> Any:
    """Training and validation loss (nats per character) against iterations."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4), layout="constrained")
    ax = figure.subplots()
    steps = [h["iter"] for h in history]
    ax.plot(steps, [h["train_loss"] for h in history], marker="o", label="train")
    ax.plot(steps, [h["val_loss"] for h in history], marker="o", label="validation")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss (nats per character)")
    ax.grid(alpha=0.3)
    ax.legend()
    return figure


def attention_figure(maps: Array, text: str) -> Any:
    """A grid of attention maps, layers down and heads across; row = query character."""
    from matplotlib.figure import Figure

    layers, heads = maps.shape[:2]
    figure = Figure(figsize=(2.6 * heads, 2.6 * layers), layout="constrained")
    axes = figure.subplots(layers, heads, squeeze=False)
    labels = [repr(c)[1:-1] for c in text]
    for layer in range(layers):
        for head in range(heads):
            ax = axes[layer][head]
            ax.imshow(maps[layer, head], cmap="viridis", vmin=0.0)
            ax.set_title(f"layer {layer + 1}, head {head + 1}", fontsize=8)
            ticks = range(0, len(text), max(1, len(text) // 16))
            ax.set_xticks(list(ticks), [labels[i] for i in ticks], fontsize=5)
            ax.set_yticks(list(ticks), [labels[i] for i in ticks], fontsize=5)
    return figure
