"""Checkpoints: a run's whole state in one ``.npz`` (via :func:`refnet.save`: no pickle,
written atomically), and the rules for resuming one.

``latest.npz`` is written at every evaluation, ``best.npz`` (first) when the validation
loss is the best so far. Each holds the config, the iteration, the model, the optimizer,
the schedule, the batch generator's state, the history and the vocabulary, so
``--resume`` continues the uninterrupted run bit for bit, and ``sample`` and ``evaluate``
need nothing but the file.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import refnet
from refnet.examples.shakespeare.training import Config, Trainer

__all__ = [
    "BEST",
    "LATEST",
    "CheckpointError",
    "load_checkpoint",
    "resume_config",
    "save_checkpoint",
]

FORMAT = "refnet-shakespeare-checkpoint"
VERSION = 1
LATEST = "latest.npz"
BEST = "best.npz"


class CheckpointError(ValueError):
    """A file that is not a usable checkpoint of this example, or another run's."""


def save_checkpoint(path: str | os.PathLike[str], trainer: Trainer) -> None:
    document = {
        "format": FORMAT,
        "version": VERSION,
        "config": dataclasses.asdict(trainer.config),
        **trainer.state_dict(),
    }
    refnet.save(document, path)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The checkpoint at ``path``; ``CheckpointError`` saying what is wrong with it."""
    file = Path(path)
    if not file.is_file():
        raise CheckpointError(f"no checkpoint at {file}")
    try:
        document = refnet.load(file)
    except ValueError as error:
        raise CheckpointError(str(error)) from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise CheckpointError(f"{file} is not a checkpoint of the Shakespeare example")
    if document.get("version") != VERSION or not isinstance(document.get("config"), dict):
        raise CheckpointError(f"{file} is incomplete or of another version of the example")
    return document


def config_of(document: Mapping[str, Any]) -> Config:
    try:
        return Config(**document["config"])
    except TypeError as error:
        raise CheckpointError(
            f"the checkpoint's config does not fit this example: {error}"
        ) from None


def resume_config(document: Mapping[str, Any], requested: Mapping[str, Any]) -> Config:
    """The saved config, refusing any flag given with another value (naming them all)."""
    config = config_of(document)
    clashes = [
        f"--{name.replace('_', '-')} {value} given, the checkpoint has {getattr(config, name)}"
        for name, value in requested.items()
        if value is not None and value != getattr(config, name)
    ]
    if clashes:
        raise CheckpointError(
            "cannot resume: the checkpoint was made with another configuration:\n  "
            + "\n  ".join(clashes)
            + "\nresume with the same flags (or none), or start a new run in another --out-dir"
        )
    return config
