"""Mini-batches from a dataset, with seeded shuffling (PyTorch: ``torch.utils.data.DataLoader``).

One pass over a :class:`DataLoader` is one epoch: ``for inputs, labels in loader``. With
``shuffle=True`` each epoch visits the samples in a new random order drawn from the
loader's generator, so a seed fixes the whole sequence of epochs.

Resuming a run exactly
----------------------
``loader.state_dict()`` captures everything the future batches depend on: the
generator's state and, if an epoch is under way, its sample order and how many batches it
has already yielded. Save it with the model and optimizer (``refnet.save`` stores it), and
``loader.load_state_dict(state)`` in a fresh process continues with exactly the batches the
uninterrupted run would have seen, whether the checkpoint was taken between epochs or in
the middle of one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from refnet._typing import Array, IntArray, Seed
from refnet.data.dataset import MapDataset, fetch_batch
from refnet.random import as_generator, default_generator

__all__ = ["DataLoader"]


class DataLoader:
    """Iterate over ``dataset`` in batches of ``batch_size`` stacked NumPy arrays.

    PyTorch: ``torch.utils.data.DataLoader`` (single process; no ``num_workers``, no
    samplers). For a dataset of ``(input, label)`` samples each batch is a tuple
    ``(inputs, labels)`` of arrays with ``batch_size`` rows (the last one smaller unless
    ``drop_last=True``).

    Args:
        dataset: any map-style dataset. A refnet :class:`~refnet.data.Dataset` builds each
            batch with ``dataset.get_batch(indices)``: one fancy-indexing operation per
            field for array-backed datasets, no Python loop over samples.
        batch_size: samples per batch.
        shuffle: draw a new random order each epoch (else the dataset's order).
        drop_last: drop the last batch if it is smaller than ``batch_size``.
        generator: a ``np.random.Generator``, a seed, or ``None`` for refnet's default
            generator (looked up at the start of each epoch, so ``refnet.manual_seed``
            called after building the loader still applies, as ``torch.manual_seed`` does).
            A seed creates the loader's own generator: the same seed gives the same
            sequence of epochs.
        transform: a function applied to the inputs (the first field) of each **batch**,
            e.g. ``lambda x: (x - 0.2860) / 0.3530``. Unlike a torchvision per-sample
            transform it receives the whole stacked batch, so write it vectorised. A random
            transform (augmentation) should draw from a generator that is checkpointed
            too; the loader's own (``loader.generator``) is a good choice.

    >>> from refnet.data import TensorDataset
    >>> ds = TensorDataset(np.arange(10, dtype=np.float32), np.arange(10) % 2)
    >>> loader = DataLoader(ds, batch_size=4, shuffle=True, generator=0)
    >>> len(loader), [len(x) for x, y in loader]
    (3, [4, 4, 2])
    """

    def __init__(
        self,
        dataset: MapDataset,
        batch_size: int = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        generator: Seed = None,
        transform: Callable[[Any], Any] | None = None,
    ) -> None:
        if not _is_int(batch_size) or batch_size < 1:
            raise ValueError(
                f"DataLoader: batch_size must be a positive integer, got {batch_size!r}"
            )
        if transform is not None and not callable(transform):
            raise TypeError(
                f"DataLoader: transform must be callable, got {type(transform).__name__}"
            )
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.generator: np.random.Generator | None = (
            None if generator is None else as_generator(generator)
        )
        self.transform = transform
        self._order: IntArray | None = None  # the sample order of the latest epoch
        self._position = 0  # batches of that epoch already handed out
        self._resume = False  # the next iter() continues a restored epoch

    def __len__(self) -> int:
        """Batches per epoch: ``ceil(N / batch_size)``, or ``floor`` with ``drop_last``."""
        size = len(self.dataset)
        if self.drop_last:
            return size // self.batch_size
        return math.ceil(size / self.batch_size)

    def __iter__(self) -> Iterator[Any]:
        """Start an epoch (or continue the one restored by ``load_state_dict``).

        The epoch's order is drawn here, when ``iter()`` is called, not at the first batch.
        """
        if self._resume:
            self._resume = False
            assert self._order is not None
            order, start = self._order, self._position
        else:
            order, start = self._new_order(), 0
            self._order, self._position = order, 0
        return self._batches(order, start)

    def _rng(self) -> np.random.Generator:
        return default_generator() if self.generator is None else self.generator

    def _new_order(self) -> IntArray:
        size = len(self.dataset)
        if self.shuffle:
            return self._rng().permutation(size)
        return np.arange(size)

    def _batches(self, order: IntArray, start: int) -> Iterator[Any]:
        for k in range(start, len(self)):
            indices = order[k * self.batch_size : (k + 1) * self.batch_size]
            batch = fetch_batch(self.dataset, indices)
            if self.transform is not None:
                batch = self._transformed(batch)
            # Count the batch as consumed before handing it out: a checkpoint taken in the
            # loop body, after training on it, must not replay it.
            self._position = k + 1
            yield batch

    def _transformed(self, batch: Any) -> Any:
        assert self.transform is not None
        if isinstance(batch, tuple):
            return (self.transform(batch[0]), *batch[1:])
        return self.transform(batch)

    # ------------------------------------------------------------------ resuming

    def state_dict(self) -> dict[str, Any]:
        """What the following batches depend on; plain data that ``refnet.save`` can store.

        ``{'generator': bit-generator state or None, 'order': int64 array or None,
        'position': int}``. ``order`` and ``position`` describe an epoch under way
        (``position`` batches already yielded); between epochs they are ``None`` and 0.
        With ``shuffle=False`` there is no generator state. With ``generator=None`` the
        state is that of refnet's default generator, which ``load_state_dict`` restores.
        """
        in_progress = self._order is not None and 0 < self._position < len(self)
        return {
            "generator": self._rng().bit_generator.state if self.shuffle else None,
            "order": self._order.copy()
            if self._order is not None and in_progress and self.shuffle
            else None,
            "position": self._position if in_progress else 0,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`: the next ``iter(loader)`` continues that run.

        The generator's state is set in place, so a generator shared with other code
        (dropout, initialisation, refnet's default) is restored for them too, which is
        what an exact resume needs when they all drew from it.
        """
        expected = {"generator", "order", "position"}
        if set(state) != expected:
            raise ValueError(
                f"DataLoader.load_state_dict: expected keys {sorted(expected)}, got {sorted(state)}"
            )
        generator_state, order, position = state["generator"], state["order"], state["position"]
        if (generator_state is not None) != self.shuffle:
            saved = "a shuffling" if generator_state is not None else "a non-shuffling"
            raise ValueError(
                f"DataLoader.load_state_dict: the state comes from {saved} loader, this "
                f"one has shuffle={self.shuffle}"
            )
        batches = len(self)
        if not _is_int(position) or not 0 <= position < max(batches, 1):
            raise ValueError(
                f"DataLoader.load_state_dict: position {position!r} is not a batch index of "
                f"an epoch of {batches} batches"
            )
        restored_order = self._check_order(order, int(position))
        if generator_state is not None:
            self._set_generator_state(generator_state)
        self._order, self._position = restored_order, int(position)
        self._resume = position > 0

    def _check_order(self, order: Array | None, position: int) -> IntArray | None:
        size = len(self.dataset)
        if not self.shuffle:
            if order is not None:
                raise ValueError("DataLoader.load_state_dict: an order for a non-shuffling loader")
            return np.arange(size) if position > 0 else None
        if position == 0:
            return None
        if (
            not isinstance(order, np.ndarray)
            or order.shape != (size,)
            or not np.issubdtype(order.dtype, np.integer)
            or not np.array_equal(np.sort(order), np.arange(size))
        ):
            raise ValueError(
                f"DataLoader.load_state_dict: 'order' must be a permutation of the "
                f"{size} sample indices (was the dataset changed?)"
            )
        return order.astype(np.int64)

    def _set_generator_state(self, generator_state: Any) -> None:
        rng = self._rng()
        try:
            rng.bit_generator.state = dict(generator_state)
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"DataLoader.load_state_dict: cannot restore the generator state into a "
                f"{type(rng.bit_generator).__name__} generator: {error}"
            ) from error

    def __repr__(self) -> str:
        return (
            f"DataLoader(dataset of {len(self.dataset)} samples, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, drop_last={self.drop_last})"
        )


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)
