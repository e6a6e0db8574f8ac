"""The run's figures, drawn with matplotlib's object API (no pyplot, no display needed).

* ``curves.png``: training and validation loss and accuracy per epoch;
* ``confusion_matrix.png``: true class against predicted class on the validation images;
* ``predictions.png``: a grid of validation images with predicted and true labels,
  mistakes in red;
* ``grad_norms.png``: each layer's gradient norm over the training steps (log scale).

Figures are built as ``matplotlib.figure.Figure`` objects and written through the Agg
renderer, so they work on a headless machine and never change the global backend of a
program that imports this module. Each file is written atomically.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from refnet._atomic import atomic_write
from refnet._typing import Array, IntArray

__all__ = ["require_matplotlib", "save_figures"]


def require_matplotlib() -> None:
    """Fail early (before training) with the fix if matplotlib is not installed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError(
            "the figures need matplotlib: pip install 'refnet[examples]' (or matplotlib), "
            "or pass --no-plots"
        ) from None


def save_figures(
    out_dir: str | os.PathLike[str],
    *,
    history: Sequence[Mapping[str, float]],
    grad_norms: Mapping[str, Any],
    confusion: IntArray,
    classes: Sequence[str],
    images: Array,
    labels: IntArray,
    predictions: IntArray,
) -> list[Path]:
    """Draw the four figures into ``out_dir``; return their paths."""
    directory = Path(out_dir)
    figures = {
        "curves.png": curves_figure(history),
        "confusion_matrix.png": confusion_figure(confusion, classes),
        "predictions.png": predictions_figure(images, labels, predictions, classes),
        "grad_norms.png": grad_norms_figure(grad_norms),
    }
    paths = []
    for name, figure in figures.items():
        path = directory / name
        with atomic_write(path) as f:
            figure.savefig(f, format="png", dpi=110)
        paths.append(path)
    return paths


def curves_figure(history: Sequence[Mapping[str, float]]) -> Any:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 4), layout="constrained")
    loss_ax, acc_ax = figure.subplots(1, 2)
    epochs = [h["epoch"] for h in history]
    for split, style in (("train", "o-"), ("val", "s-")):
        label = "training" if split == "train" else "validation"
        loss_ax.plot(epochs, [h[f"{split}_loss"] for h in history], style, label=label)
        acc_ax.plot(epochs, [100 * h[f"{split}_acc"] for h in history], style, label=label)
    loss_ax.set(title="Loss", xlabel="epoch", ylabel="cross-entropy")
    acc_ax.set(title="Accuracy", xlabel="epoch", ylabel="accuracy (%)")
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.legend()
        ax.xaxis.get_major_locator().set_params(integer=True)
    return figure


def confusion_figure(confusion: IntArray, classes: Sequence[str]) -> Any:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.5, 6.5), layout="constrained")
    ax = figure.subplots()
    totals = confusion.sum(axis=1, keepdims=True)
    rates = confusion / np.maximum(totals, 1)  # colour by the share of each true class
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=ax, label="share of the true class")
    n = len(classes)
    for i in range(n):
        for j in range(n):
            if confusion[i, j]:
                colour = "white" if rates[i, j] > 0.5 else "black"
                ax.text(j, i, str(confusion[i, j]), ha="center", va="center", color=colour)
    ax.set_xticks(range(n), classes, rotation=45, ha="right")
    ax.set_yticks(range(n), classes)
    accuracy = np.trace(confusion) / max(confusion.sum(), 1)
    ax.set(
        xlabel="predicted class",
        ylabel="true class",
        title=f"Confusion matrix (validation, accuracy {accuracy:.2%})",
    )
    return figure


def predictions_figure(
    images: Array,
    labels: IntArray,
    predictions: IntArray,
    classes: Sequence[str],
    rows: int = 5,
    cols: int = 8,
) -> Any:
    """The first ``rows · cols`` validation images; a red frame and title mark mistakes."""
    from matplotlib.figure import Figure

    count = min(rows * cols, len(images))
    rows = max(1, -(-count // cols))  # no empty rows when there are few images
    figure = Figure(figsize=(cols * 1.5, rows * 1.75), layout="constrained")
    axes = np.atleast_1d(figure.subplots(rows, cols)).ravel()
    for k, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if k >= count:
            ax.set_axis_off()
            continue
        ax.imshow(images[k], cmap="gray_r", vmin=0, vmax=255)
        right = predictions[k] == labels[k]
        colour = "black" if right else "red"
        title = classes[predictions[k]]
        if not right:
            title += f"\n(true: {classes[labels[k]]})"
        ax.set_title(title, fontsize=7, color=colour)
        for spine in ax.spines.values():
            spine.set_color(colour)
            spine.set_linewidth(1 if right else 2.5)
    mistakes = int(np.count_nonzero(predictions[:count] != labels[:count]))
    figure.suptitle(f"Validation images: predicted class (mistakes in red, {mistakes} of {count})")
    return figure


def grad_norms_figure(grad_norms: Mapping[str, Any]) -> Any:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 4.5), layout="constrained")
    ax = figure.subplots()
    steps = grad_norms["steps"]
    if steps:
        for label, norms in grad_norms["norms"].items():
            ax.plot(steps, norms, label=label, linewidth=1)
        ax.set_yscale("log")
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no step recorded yet", ha="center", transform=ax.transAxes)
    ax.set(
        title="Gradient norm per layer (before clipping and the optimizer step)",
        xlabel="training step (batch)",
        ylabel="‖∂L/∂θ‖₂ of the layer",
    )
    ax.grid(alpha=0.3, which="both")
    return figure
