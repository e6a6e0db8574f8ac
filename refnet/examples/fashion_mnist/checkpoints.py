"""Checkpoints: a run's whole state in one ``.npz`` file, and the rules for resuming it.

After every epoch the run writes ``latest.npz`` in its output directory, and
``best.npz`` when the validation accuracy is the best so far. Each holds (via
:func:`refnet.save`: no pickle, written atomically, so an interrupted write leaves the
previous checkpoint intact)::

    {"format": "refnet-fashion-mnist-checkpoint", "version": 1,
     "config": {...},               # everything that shapes the trajectory (Config)
     "epoch": 3, "step": 165,       # epochs and batches completed
     "model": {...}, "optimizer": {...}, "scheduler": {...} or None,
     "loader": {...},               # DataLoader.state_dict(): generator state, position
     "generator": {...},            # the run's one np.random.Generator (bit_generator.state)
     "history": [...], "grad_norms": {...}}

``--resume`` rebuilds the run from its config, loads this state and continues; the
continued run is the uninterrupted run, to the last bit. It refuses a checkpoint whose
config differs from the flags given (except ``--epochs`` when the schedule does not
depend on it, which extends or shortens a run), or whose images differ.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import refnet
from refnet.examples.fashion_mnist.training import Config, Trainer

__all__ = [
    "BEST",
    "FORMAT",
    "LATEST",
    "ResumeError",
    "load_checkpoint",
    "resume_config",
    "save_checkpoint",
]

FORMAT = "refnet-fashion-mnist-checkpoint"
VERSION = 1
LATEST = "latest.npz"
BEST = "best.npz"


class ResumeError(ValueError):
    """A checkpoint that this run cannot continue (missing, foreign, or another config)."""


def save_checkpoint(path: str | os.PathLike[str], trainer: Trainer) -> None:
    """Write ``trainer``'s state and config to ``path`` (atomically)."""
    checkpoint = {
        "format": FORMAT,
        "version": VERSION,
        "config": dataclasses.asdict(trainer.config),
        **trainer.state_dict(),
    }
    refnet.save(checkpoint, path)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`; ``ResumeError`` if it is not one."""
    file = Path(path)
    if not file.is_file():
        raise ResumeError(
            f"--resume: no checkpoint at {file}; start the run without --resume "
            "(or point --out-dir at the run's directory)"
        )
    try:
        checkpoint = refnet.load(file)
    except ValueError as error:  # corrupt or truncated: refnet.load names the file and why
        raise ResumeError(f"--resume: {error}; start again with --overwrite") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise ResumeError(f"{file} is not a checkpoint of the FashionMNIST example")
    if not isinstance(checkpoint.get("config"), dict):
        raise ResumeError(
            f"{file} has no config (an incomplete checkpoint): start again with --overwrite"
        )
    if checkpoint.get("version") != VERSION:
        raise ResumeError(
            f"{file} is a version {checkpoint.get('version')} checkpoint; this is version "
            f"{VERSION} of the example"
        )
    return checkpoint


def _flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def resume_config(saved: Mapping[str, Any], requested: Mapping[str, Any]) -> Config:
    """The config to continue a checkpoint with: the saved one, checked against ``requested``.

    ``requested`` holds the values given on the command line (``None`` for a flag not
    given, which takes the saved value). Any difference is an error naming the flags,
    except ``epochs`` for a schedule that does not depend on the number of epochs.
    """
    config = Config(**saved)
    mismatches = []
    for field, value in requested.items():
        if value is None or value == getattr(config, field):
            continue
        if field == "epochs" and not config.horizon_matters():
            config = dataclasses.replace(config, epochs=value)
            continue
        if field == "data":
            mismatches.append(
                "the training/validation images differ from the checkpoint's (another data "
                "directory or data set?)"
            )
            continue
        reason = " (the schedule spans the planned epochs)" if field == "epochs" else ""
        mismatches.append(
            f"{_flag(field)} {value} given, the checkpoint has {getattr(config, field)}{reason}"
        )
    if mismatches:
        raise ResumeError(
            "cannot resume: the checkpoint was made with another configuration:\n  "
            + "\n  ".join(mismatches)
            + "\nResume with the same flags (or none: the checkpoint's are used), or start a "
            "new run in another --out-dir."
        )
    return config
