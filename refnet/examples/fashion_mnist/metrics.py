"""Per-epoch metrics: the printed line, the confusion matrix, ``metrics.json`` and ``metrics.csv``.

``metrics.json`` holds the config, the data split, one entry per epoch (the keys of
:data:`CSV_COLUMNS`), the best epoch, the final confusion matrix and the per-layer
gradient norms; ``metrics.csv`` holds the per-epoch entries only, for a spreadsheet.
Both are rewritten (atomically) after every epoch.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from refnet._atomic import atomic_write
from refnet._typing import IntArray

__all__ = [
    "CSV_COLUMNS",
    "METRIC_KEYS",
    "confusion_matrix",
    "format_epoch",
    "write_metrics",
]

#: The entries that a run's trajectory determines (identical across same-seed runs and
#: resumed runs); the others are wall times.
METRIC_KEYS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr")
CSV_COLUMNS = (*METRIC_KEYS, "seconds", "train_seconds", "images_per_s")


def confusion_matrix(predictions: IntArray, targets: IntArray, num_classes: int) -> IntArray:
    """``C[i, j]``: how many images of true class ``i`` were predicted as class ``j``."""
    flat = np.asarray(targets, dtype=np.int64) * num_classes + np.asarray(predictions)
    counts = np.bincount(flat, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def format_epoch(entry: Mapping[str, float], epochs: int) -> str:
    """One line per epoch: losses, accuracies, learning rate, time and throughput."""
    width = len(str(epochs))
    return (
        f"epoch {int(entry['epoch']):>{width}}/{epochs}  "
        f"train loss {entry['train_loss']:.4f} acc {entry['train_acc']:6.2%}  |  "
        f"val loss {entry['val_loss']:.4f} acc {entry['val_acc']:6.2%}  |  "
        f"lr {entry['lr']:.2e}  {entry['seconds']:.1f}s ({entry['images_per_s']:.0f} img/s)"
    )


def write_metrics(
    out_dir: str | os.PathLike[str],
    *,
    config: Mapping[str, Any],
    data: str,
    history: Sequence[Mapping[str, float]],
    grad_norms: Mapping[str, Any],
    confusion: IntArray | None,
    classes: Sequence[str],
) -> list[Path]:
    """Write ``metrics.json`` and ``metrics.csv`` into ``out_dir``; return their paths."""
    directory = Path(out_dir)
    best = max(history, key=lambda h: h["val_acc"], default=None)
    document = {
        "config": dict(config),
        "data": data,
        "history": [dict(h) for h in history],
        "best": None if best is None else {"epoch": best["epoch"], "val_acc": best["val_acc"]},
        "confusion_matrix": None
        if confusion is None
        else {
            "epoch": history[-1]["epoch"] if history else None,
            "rows": "true class",
            "columns": "predicted class",
            "classes": list(classes),
            "counts": confusion.tolist(),
        },
        "grad_norms": dict(grad_norms),
    }
    json_path, csv_path = directory / "metrics.json", directory / "metrics.csv"
    with atomic_write(json_path) as f:
        f.write(json.dumps(document, indent=1).encode())
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for entry in history:
        writer.writerow({key: entry[key] for key in CSV_COLUMNS})
    with atomic_write(csv_path) as f:
        f.write(text.getvalue().encode())
    return [json_path, csv_path]
