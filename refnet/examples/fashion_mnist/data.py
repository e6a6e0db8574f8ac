"""Which images train and which validate: the official test split, or a held-out tail.

* If the data directory holds the official test split (``t10k-*``), the model trains on
  the whole training split and is validated on the test split.
* Otherwise (e.g. a directory with only the first 8,226 training images) the **last**
  ``val_size`` images of the training split are held out for validation and the model
  trains on the images before them. The default
  ``val_size`` is 1,226, the fair split of that subset (train on the first 7,000,
  evaluate on the remaining 1,226); a split of fewer than 6,130 images holds out a fifth.
* An explicit ``val_size`` always holds out from the training split, even when the test
  split is there (the test split is then left untouched).

Images are standardised with the training set's pixel mean and standard deviation
(``(x - 0.2860) / 0.3530``), batch by batch, by the dataset's transform.
"""

from __future__ import annotations

import dataclasses
import os
import zlib
from pathlib import Path

import numpy as np

from refnet._typing import Array, IntArray
from refnet.data import Dataset, FashionMNIST, Subset
from refnet.examples.fashion_mnist.models import MEAN, STD

__all__ = ["DEFAULT_VAL_SIZE", "DataSplits", "default_val_size", "load_splits", "standardise"]

#: The held-out tail of the 8,226-image subset: 8,226 - 7,000.
DEFAULT_VAL_SIZE = 1226


def standardise(images: Array) -> Array:
    """``(x - mean) / std`` for a batch of float32 images in [0, 1] (stays float32)."""
    return (images - np.float32(MEAN)) / np.float32(STD)


def default_val_size(n: int) -> int:
    """1,226 images (the subset's fair split), or a fifth of a split of fewer than 6,130."""
    return min(DEFAULT_VAL_SIZE, n // 5)


@dataclasses.dataclass(frozen=True)
class DataSplits:
    """The training and validation datasets and what they are.

    ``train`` and ``val`` yield standardised ``(B, 1, 28, 28)`` float32 images and int64
    labels; ``val_images`` are the raw uint8 validation images (for the figures).
    """

    train: Dataset
    val: Dataset
    root: Path
    description: str
    val_images: Array
    val_labels: IntArray
    classes: tuple[str, ...]
    fingerprint: str

    def describe(self) -> str:
        """Where the images come from and how they are split, in one line."""
        return f"{self.root}: train on {len(self.train):,} images, validate on {self.description}"


def load_splits(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    val_size: int | None = None,
    train_size: int | None = None,
    download: bool = False,
) -> DataSplits:
    """Load FashionMNIST from ``data_dir`` (``None``: ``$REFNET_DATA_DIR`` or the cache).

    ``train_size`` keeps only the first ``train_size`` training images (quick runs).
    Raises ``FileNotFoundError`` (from the loader: where to put the files) when the
    training split is missing, and ``ValueError`` for impossible sizes.
    """
    if download:
        FashionMNIST.download(data_dir, train=None)
    full = FashionMNIST(data_dir, train=True, transform=standardise)
    n = len(full)
    if val_size is None and FashionMNIST.split_available(full.root, train=False):
        test = FashionMNIST(full.root, train=False, transform=standardise)
        train_indices = np.arange(n)
        val: Dataset = test
        val_images, val_labels = test.data, test.targets
        description = f"the official test split ({len(test):,} images)"
    else:
        size = default_val_size(n) if val_size is None else val_size
        if not 0 < size < n:
            raise ValueError(
                f"--val-size must be between 1 and {n - 1} for a training split of {n:,} "
                f"images, got {size}"
            )
        train_indices = np.arange(n - size)
        val = Subset(full, np.arange(n - size, n))
        val_images, val_labels = full.data[n - size :], full.targets[n - size :]
        description = f"the last {size:,} images of the training split (held out)"
    if train_size is not None:
        if not 0 < train_size <= len(train_indices):
            raise ValueError(
                f"--train-size must be between 1 and {len(train_indices):,}, got {train_size}"
            )
        train_indices = train_indices[:train_size]
    train = Subset(full, train_indices)
    fingerprint = _fingerprint(
        full.data[train_indices], full.targets[train_indices], val_images, val_labels
    )
    return DataSplits(
        train=train,
        val=val,
        root=full.root,
        description=description,
        val_images=val_images,
        val_labels=val_labels,
        classes=tuple(full.classes),
        fingerprint=fingerprint,
    )


def _fingerprint(*arrays: Array) -> str:
    """A CRC-32 of the arrays' bytes and shapes: which images a checkpoint was trained on."""
    crc = 0
    for array in arrays:
        crc = zlib.crc32(repr(array.shape).encode(), crc)
        crc = zlib.crc32(np.ascontiguousarray(array).tobytes(), crc)
    return f"{crc:08x}"
