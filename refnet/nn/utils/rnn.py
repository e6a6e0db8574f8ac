"""Variable-length batches (PyTorch: ``torch.nn.utils.rnn``): padding and packing.

A batch of sequences of different lengths is either *padded* to the longest, an array
(T, N, *) (``batch_first``: (N, T, *)) plus the lengths, or *packed*: a
:class:`PackedSequence` whose ``data`` holds only the real elements, time step by time
step, longest sequences first (``batch_sizes[t]`` of them at step t). ``RNN``, ``LSTM``
and ``GRU`` accept a ``PackedSequence`` and return one; their ``h_n`` is each
sequence's state after its own last real step.

**The gradient's route.** Packing and padding only move elements, so their backward
moves the gradients back: :func:`pack_padded_sequence_backward` scatters the gradient
of the packed data into a padded array (zeros at the padded positions, which did not
take part), and :func:`pad_packed_sequence_backward` gathers the gradient of a padded
output at the real positions, as a ``PackedSequence`` for the layer's ``backward``.
A model ``x -> pack -> lstm -> pad -> loss`` backpropagates as
``pack_backward(lstm.backward(pad_backward(grad, packed_out)))``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from refnet._typing import Array, IntArray


class PackedSequence(NamedTuple):
    """Sequences packed time step by time step (PyTorch: ``PackedSequence``).

    ``data`` (Σ lengths, *): the real elements; ``batch_sizes`` (T,): how many sequences
    are still running at each step; ``sorted_indices``: the batch positions in order of
    decreasing length (``None`` when they already were), ``unsorted_indices`` its inverse.
    """

    data: Array
    batch_sizes: IntArray
    sorted_indices: IntArray | None = None
    unsorted_indices: IntArray | None = None

    def lengths(self) -> IntArray:
        """The length of each sequence, in sorted (packed) order."""
        if not len(self.batch_sizes):
            return np.zeros(0, dtype=np.int64)
        batch = np.arange(int(self.batch_sizes[0]))
        return (self.batch_sizes[None, :] > batch[:, None]).sum(axis=1).astype(np.int64)


def _lengths(lengths: npt.ArrayLike, batch: int, total: int) -> IntArray:
    values = np.asarray(lengths)
    if values.ndim != 1 or values.shape[0] != batch or not np.issubdtype(values.dtype, np.integer):
        raise ValueError(
            f"pack_padded_sequence: expected {batch} integer lengths (one per sequence), "
            f"got {values.tolist() if values.ndim <= 1 else values.shape}"
        )
    if values.min() <= 0 or values.max() > total:
        raise ValueError(
            f"pack_padded_sequence: lengths must be in [1, {total}] (the padded length), "
            f"got {values.tolist()}"
        )
    return values.astype(np.int64)


def _mask(lengths: IntArray, steps: int) -> Array:
    """(steps, N) boolean: which (step, sequence) positions are real."""
    return np.arange(steps)[:, None] < lengths[None, :]


def _active(batch_sizes: IntArray) -> Array:
    """(T, N) boolean, sorted batch order: row n is real at step t if n < batch_sizes[t]."""
    batch = int(batch_sizes[0]) if len(batch_sizes) else 0
    return np.arange(batch)[None, :] < batch_sizes[:, None]


def padded_data(data: Array, batch_sizes: IntArray) -> Array:
    """A packed ``data`` (Σ lengths, *) as a time-major (T, N, *) array in the packed
    (sorted) batch order, zeros at the padded positions: what the recurrent kernels run on."""
    active = _active(batch_sizes)
    out = np.zeros((*active.shape, *data.shape[1:]), dtype=data.dtype)
    out[active] = data
    return out


def packed_data(padded: Array, batch_sizes: IntArray) -> Array:
    """The inverse of :func:`padded_data`: the real positions of (T, N, *), step by step."""
    return padded[_active(batch_sizes)]


def check_packed(sequence: PackedSequence, features: int, who: str) -> None:
    """Refuse a ``PackedSequence`` that packing could not have made, naming ``who``."""
    sizes, data = np.asarray(sequence.batch_sizes), sequence.data
    problem = None
    if sizes.ndim != 1 or not len(sizes) or not np.issubdtype(sizes.dtype, np.integer):
        problem = "batch_sizes must be a non-empty 1-D integer array"
    elif sizes[-1] <= 0 or np.any(np.diff(sizes) > 0):
        problem = f"batch_sizes must be positive and non-increasing, got {sizes.tolist()}"
    elif not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != features:
        problem = f"data must be (Σ lengths, {features}), got {getattr(data, 'shape', data)}"
    elif int(sizes.sum()) != data.shape[0]:
        problem = f"batch_sizes sum to {int(sizes.sum())} but data has {data.shape[0]} rows"
    if problem is not None:
        raise ValueError(f"{who}: not a valid PackedSequence: {problem}")


def pack_padded_sequence(
    input: Array, lengths: npt.ArrayLike, batch_first: bool = False, enforce_sorted: bool = True
) -> PackedSequence:
    """Pack a padded batch (T, N, *) (or (N, T, *)) of sequences of the given lengths.

    With ``enforce_sorted=True`` the lengths must be in decreasing order; otherwise the
    batch is sorted first and the order is kept in the result, so unpacking (and a
    layer's ``h_n``) comes back in the original order.
    """
    x = input.swapaxes(0, 1) if batch_first else input
    if x.size == 0:
        raise ValueError(f"pack_padded_sequence: cannot pack an empty batch, got {x.shape}")
    T, N = x.shape[:2]
    values = _lengths(lengths, N, T)
    sorted_indices = unsorted_indices = None
    if enforce_sorted:
        if np.any(np.diff(values) > 0):
            raise ValueError(
                f"pack_padded_sequence: lengths {values.tolist()} are not in decreasing "
                "order; sort the batch or pass enforce_sorted=False"
            )
    else:
        sorted_indices = np.argsort(-values, kind="stable")
        unsorted_indices = np.argsort(sorted_indices)
        values, x = values[sorted_indices], x[:, sorted_indices]
    steps = int(values.max())
    data = x[:steps][_mask(values, steps)]
    batch_sizes = _mask(values, steps).sum(axis=1).astype(np.int64)
    return PackedSequence(data, batch_sizes, sorted_indices, unsorted_indices)


def pack_padded_sequence_backward(
    grad: PackedSequence | Array,
    packed: PackedSequence,
    batch_first: bool = False,
    total_length: int | None = None,
) -> Array:
    """The gradient of the padded input of :func:`pack_padded_sequence`: each real
    element's gradient back in its place, zeros at the padded positions."""
    data = grad.data if isinstance(grad, PackedSequence) else grad
    if data.shape != packed.data.shape:
        raise ValueError(
            f"pack_padded_sequence_backward: expected a gradient of shape {packed.data.shape}, "
            f"got {tuple(data.shape)}"
        )
    padded = _scatter(data, packed, total_length)
    return padded.swapaxes(0, 1) if batch_first else padded


def _scatter(data: Array, packed: PackedSequence, total_length: int | None) -> Array:
    """(T, N, *) in the original batch order, zeros where there is no element."""
    lengths = packed.lengths()
    steps = len(packed.batch_sizes)
    T = steps if total_length is None else total_length
    if steps > T:
        raise ValueError(f"total_length {T} is shorter than the longest sequence ({steps})")
    out = np.zeros((T, len(lengths), *data.shape[1:]), dtype=data.dtype)
    out[:steps] = padded_data(data, packed.batch_sizes)
    if packed.unsorted_indices is not None:
        out = out[:, packed.unsorted_indices]
    return out


def pad_packed_sequence(
    sequence: PackedSequence,
    batch_first: bool = False,
    padding_value: float = 0.0,
    total_length: int | None = None,
) -> tuple[Array, IntArray]:
    """Unpack to a padded (T, N, *) (or (N, T, *)) array and the lengths, original order."""
    if not len(sequence.batch_sizes):
        raise ValueError("pad_packed_sequence: batch_sizes can not be empty")
    padded = _scatter(sequence.data, sequence, total_length)
    lengths = sequence.lengths()
    if sequence.unsorted_indices is not None:
        lengths = lengths[sequence.unsorted_indices]
    if padding_value != 0:
        padded[~_mask(lengths, padded.shape[0])] = padding_value
    return (padded.swapaxes(0, 1) if batch_first else padded), lengths


def pad_packed_sequence_backward(
    grad: Array, sequence: PackedSequence, batch_first: bool = False
) -> PackedSequence:
    """The gradient of the ``PackedSequence`` that :func:`pad_packed_sequence` unpacked:
    the padded gradient at the real positions (the padding took no part)."""
    g = grad.swapaxes(0, 1) if batch_first else grad
    if sequence.sorted_indices is not None:
        g = g[:, sequence.sorted_indices]
    lengths = sequence.lengths()
    steps = len(sequence.batch_sizes)
    if g.shape[0] < steps or g.shape[1] != len(lengths):
        raise ValueError(
            f"pad_packed_sequence_backward: a gradient of shape {tuple(grad.shape)} does not "
            f"match {len(lengths)} sequences of up to {steps} steps"
        )
    data = packed_data(g[:steps], sequence.batch_sizes)
    return PackedSequence(
        data, sequence.batch_sizes, sequence.sorted_indices, sequence.unsorted_indices
    )


def pad_sequence(
    sequences: Sequence[Array],
    batch_first: bool = False,
    padding_value: float = 0.0,
    padding_side: str = "right",
) -> Array:
    """Stack sequences of shapes (L_i, *) into one padded (T, N, *) (or (N, T, *)) array."""
    if not sequences:
        raise ValueError("pad_sequence: expected at least one sequence")
    if padding_side not in ("left", "right"):
        raise ValueError(
            f"pad_sequence: padding_side must be 'left' or 'right', got {padding_side!r}"
        )
    trailing = sequences[0].shape[1:]
    for i, s in enumerate(sequences):
        if s.shape[1:] != trailing:
            raise ValueError(
                f"pad_sequence: sequence {i} has shape {tuple(s.shape)}; every sequence must "
                f"be (L, {', '.join(map(str, trailing))})"
            )
    T = max(len(s) for s in sequences)
    dtype = np.result_type(*sequences)
    out = np.full((len(sequences), T, *trailing), padding_value, dtype=dtype)
    for i, s in enumerate(sequences):
        if padding_side == "right":
            out[i, : len(s)] = s
        else:
            out[i, T - len(s) :] = s
    return out if batch_first else out.swapaxes(0, 1)
