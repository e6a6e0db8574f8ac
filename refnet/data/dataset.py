"""Map-style datasets (PyTorch: ``torch.utils.data.Dataset``, ``TensorDataset``, ``Subset``).

A dataset is anything with ``len(dataset)`` and ``dataset[i]``. refnet adds one method to
PyTorch's protocol, :meth:`Dataset.get_batch`: given an integer index array it returns the
whole batch, stacked per field. The default stacks ``dataset[i]`` for each ``i``; datasets
backed by arrays (:class:`TensorDataset`, a :class:`Subset` of one, ``FashionMNIST``)
override it with one fancy-indexing operation per field, which is what makes the
:class:`~refnet.data.DataLoader` fast: no Python loop per sample.
"""

from __future__ import annotations

import abc
import itertools
import math
import warnings
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from refnet._typing import Array, IntArray, Seed
from refnet.random import as_generator

__all__ = [
    "Dataset",
    "MapDataset",
    "Subset",
    "TensorDataset",
    "default_collate",
    "random_split",
]


class MapDataset(Protocol):
    """What a :class:`~refnet.data.DataLoader` needs: ``len(d)`` and ``d[i]`` (a list will do)."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int, /) -> Any: ...


class Dataset(abc.ABC):
    """A map-style dataset: ``len(dataset)`` samples, ``dataset[i]`` for ``0 <= i < len``.

    Subclasses implement ``__getitem__`` and ``__len__``; samples are usually tuples
    ``(input, label)``. Array-backed subclasses also override :meth:`get_batch`.
    """

    @abc.abstractmethod
    def __getitem__(self, index: int) -> Any:
        """The sample at ``index``."""

    @abc.abstractmethod
    def __len__(self) -> int:
        """The number of samples."""

    def get_batch(self, indices: IntArray) -> Any:
        """The samples at ``indices`` (a 1-D integer array), stacked per field.

        For samples ``(x, y)`` this is ``(stack of x, stack of y)``; see
        :func:`default_collate`. This default calls ``self[i]`` once per index; override it
        when the data lives in arrays that can be indexed with ``indices`` directly.
        """
        return default_collate([self[int(i)] for i in indices])


class TensorDataset(Dataset):
    """Samples ``(arrays[0][i], arrays[1][i], ...)`` of arrays with one first dimension.

    PyTorch: ``torch.utils.data.TensorDataset``. The arrays are kept as given (no copy),
    and ``get_batch`` indexes each of them once with the batch's index array.

    >>> ds = TensorDataset(np.zeros((5, 3), np.float32), np.arange(5))
    >>> x, y = ds[2]
    >>> x.shape, int(y)
    ((3,), 2)
    >>> [a.shape for a in ds.get_batch(np.array([4, 0]))]
    [(2, 3), (2,)]
    """

    def __init__(self, *arrays: npt.ArrayLike) -> None:
        if not arrays:
            raise ValueError("TensorDataset needs at least one array")
        tensors = tuple(np.asarray(a) for a in arrays)
        for position, tensor in enumerate(tensors):
            if tensor.ndim == 0:
                raise ValueError(
                    f"TensorDataset: array {position} is 0-dimensional; every array needs a "
                    "first (sample) dimension"
                )
        sizes = [t.shape[0] for t in tensors]
        if len(set(sizes)) > 1:
            shapes = ", ".join(str(t.shape) for t in tensors)
            raise ValueError(
                f"TensorDataset: all arrays must have the same first dimension (the number "
                f"of samples), got shapes {shapes}"
            )
        self.tensors = tensors

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return int(self.tensors[0].shape[0])

    def get_batch(self, indices: IntArray) -> tuple[Array, ...]:
        return tuple(t[indices] for t in self.tensors)


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order (``torch.utils.data.Subset``).

    Unlike PyTorch, ``indices`` is stored as an int64 array (validated against
    ``len(dataset)``), so a batch of a subset of an array-backed dataset is still one
    fancy-indexing operation per field.
    """

    def __init__(self, dataset: MapDataset, indices: npt.ArrayLike) -> None:
        index_array = np.asarray(indices)
        if index_array.size == 0:
            index_array = index_array.astype(np.int64)
        if index_array.ndim != 1 or not np.issubdtype(index_array.dtype, np.integer):
            raise TypeError(
                f"Subset indices must be a 1-D sequence of integers, got an array of dtype "
                f"{index_array.dtype} and shape {index_array.shape}"
            )
        size = len(dataset)
        if index_array.size and (index_array.min() < 0 or index_array.max() >= size):
            raise IndexError(
                f"Subset indices must lie in [0, {size}) for a dataset of {size} samples, got "
                f"values from {index_array.min()} to {index_array.max()}"
            )
        self.dataset = dataset
        self.indices: IntArray = index_array.astype(np.int64)

    def __getitem__(self, index: int) -> Any:
        return self.dataset[int(self.indices[index])]

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    def get_batch(self, indices: IntArray) -> Any:
        return fetch_batch(self.dataset, self.indices[indices])


def fetch_batch(dataset: MapDataset, indices: IntArray) -> Any:
    """``dataset.get_batch(indices)`` for a refnet dataset, else stack ``dataset[i]``.

    The fallback lets any map-style object (a list of tuples, a PyTorch-style dataset
    without ``get_batch``) feed a :class:`~refnet.data.DataLoader`.
    """
    if isinstance(dataset, Dataset):
        return dataset.get_batch(indices)
    return default_collate([dataset[int(i)] for i in indices])


def default_collate(samples: Sequence[Any]) -> Any:
    """Stack a list of samples into a batch (PyTorch: ``torch.utils.data.default_collate``).

    Tuple or list samples are stacked field by field into a tuple of arrays; anything else
    (an array, a number) is stacked into one array. Python ints become int64, floats
    float64 and bools bool, as in PyTorch.

    >>> x, y = default_collate([(np.zeros(2), 1), (np.ones(2), 0)])
    >>> x.shape, y
    ((2, 2), array([1, 0]))
    """
    if not samples:
        raise ValueError("default_collate: cannot build a batch from no samples")
    first = samples[0]
    if isinstance(first, (tuple, list)):
        width = len(first)
        if any(not isinstance(s, (tuple, list)) or len(s) != width for s in samples):
            raise ValueError(
                f"default_collate: every sample must be a tuple of {width} fields like the "
                "first one"
            )
        return tuple(_stack([s[field] for s in samples], field) for field in range(width))
    return _stack(list(samples), None)


def _stack(values: list[Any], field: int | None) -> Array:
    arrays = [np.asarray(v) for v in values]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        where = "" if field is None else f" in field {field}"
        raise ValueError(
            f"default_collate: samples{where} have different shapes {sorted(shapes)}; "
            "they cannot be stacked into one batch"
        )
    return np.stack(arrays)


def random_split(
    dataset: MapDataset, lengths: Sequence[float], generator: Seed = None
) -> list[Subset]:
    """Split ``dataset`` at random into non-overlapping subsets of the given lengths.

    PyTorch: ``torch.utils.data.random_split``. ``lengths`` are either sample counts that
    sum to ``len(dataset)``, or fractions that sum to 1: each split then gets
    ``floor(fraction * len(dataset))`` samples and the remainder is handed out one sample
    at a time, round robin from the first split (PyTorch's rule). The permutation comes
    from ``generator`` (a ``Generator``, a seed, or ``None`` for refnet's default), so a
    seed fixes the split. A deterministic split that keeps the order (train on the first
    7,000, validate on the rest) is ``Subset(dataset, range(7000))`` instead.

    >>> train, val = random_split(TensorDataset(np.arange(10)), [0.8, 0.2], generator=0)
    >>> len(train), len(val)
    (8, 2)
    """
    size = len(dataset)
    counts = _split_counts(list(lengths), size)
    order = as_generator(generator).permutation(size)
    bounds = np.cumsum([0, *counts])
    return [Subset(dataset, order[start:stop]) for start, stop in itertools.pairwise(bounds)]


def _split_counts(lengths: list[float], size: int) -> list[int]:
    if not lengths:
        raise ValueError("random_split: lengths is empty")
    if all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in lengths):
        counts = [int(n) for n in lengths]
        if any(n < 0 for n in counts) or sum(counts) != size:
            raise ValueError(
                f"random_split: lengths {counts} must be non-negative and sum to the "
                f"dataset's length {size}"
            )
        return counts
    fractions = [float(f) for f in lengths]
    if any(not 0 <= f <= 1 for f in fractions) or not math.isclose(sum(fractions), 1):
        raise ValueError(
            f"random_split: fractions {fractions} must lie in [0, 1] and sum to 1 "
            f"(or pass integer lengths that sum to {size})"
        )
    counts = [math.floor(size * f) for f in fractions]
    for i in range(size - sum(counts)):
        counts[i % len(counts)] += 1
    for i, n in enumerate(counts):
        if n == 0:
            warnings.warn(f"random_split: split {i} is empty", stacklevel=3)
    return counts
