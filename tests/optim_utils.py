"""Shared helpers for the optimizer and scheduler tests (no torch needed here)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

import refnet.optim as optim
from refnet._typing import Array

OPTIMIZERS: dict[str, type[optim.Optimizer]] = {
    "SGD": optim.SGD,
    "Adam": optim.Adam,
    "AdamW": optim.AdamW,
    "Adamax": optim.Adamax,
    "NAdam": optim.NAdam,
    "RAdam": optim.RAdam,
    "RMSprop": optim.RMSprop,
    "Adagrad": optim.Adagrad,
    "Adadelta": optim.Adadelta,
    "Lion": optim.Lion,
    "Rprop": optim.Rprop,
    "ASGD": optim.ASGD,
    "Adafactor": optim.Adafactor,
}

SHAPES = [(3, 4), (4,), (2, 1, 3)]


def gradient_sequence(steps: int, seed: int, dtype: Any = np.float64) -> list[list[Array]]:
    """Random gradients for ``steps`` steps, one per parameter shape; a few exact zeros."""
    rng = np.random.default_rng(seed)
    sequence = []
    for _ in range(steps):
        grads = []
        for shape in SHAPES:
            g = rng.standard_normal(shape)
            g[rng.random(shape) < 0.05] = 0.0
            grads.append(g.astype(dtype))
        sequence.append(grads)
    return sequence


def initial_values(seed: int, dtype: Any = np.float64) -> list[Array]:
    rng = np.random.default_rng(seed + 1)
    return [rng.uniform(-1, 1, shape).astype(dtype) for shape in SHAPES]


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON data: {type(value).__name__}")


def json_round_trip(state: dict[str, Any]) -> Any:
    """The state dict after ``json.dumps``/``json.loads``: no object survives, int keys
    become strings, tuples lists and arrays nested lists (exact for float64)."""
    return json.loads(json.dumps(state, default=_plain))


def file_round_trip(state: dict[str, Any]) -> Any:
    """Through ``refnet.save``/``refnet.load`` when serialization exists, else JSON."""
    try:
        from refnet.serialization import load, save
    except ImportError:  # pragma: no cover - serialization is another issue
        return json_round_trip(state)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "state.npz"
        save(state, path)
        return load(path)
