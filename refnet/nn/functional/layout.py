"""Memory layout: one convention, kept here.

NumPy arrays carry strides, so an array of shape (N, C, H, W) may hold its numbers in any
axis order in memory; every NumPy operation accepts any order, and refnet's results never
depend on it. Only speed does, and only in one family of kernels, which is why this is the
one module that looks at layouts.

**The convention.** refnet's convolution kernels keep their activations *batch-last*:
memory laid out (C, H, W, N), handed to the user as (N, C, H, W) views
(:func:`to_batch_last`; the speed chapter says why: each kernel tap is then one strided
slice, its copy moves contiguous runs of N numbers, and the product writes its result in
that same layout, where the next convolution or pooling layer reads it without a copy).
Everything downstream takes the layout it is given:

* pooling treats the (N, C) planes as independent, so its kernels allocate their outputs
  in the input's order (:func:`memory_order`, :func:`empty_in_order`) and bring a
  gradient that arrives in another order to the forward's first (:func:`in_order`);
* a ``Flatten`` after a convolution gives (N, C·H·W) rows that are Fortran-ordered, and
  ``Linear`` computes its input gradient in that order (:func:`rows_times`), so the
  layer below receives it without a transposing copy.

Nothing else in refnet branches on memory order.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from refnet._typing import Array

__all__ = [
    "empty_in_order",
    "in_order",
    "memory_order",
    "rows_times",
    "to_batch_last",
    "zeros_in_order",
]


# --8<-- [start:conv-batch-last]
def to_batch_last(x: Array) -> Array:
    """(N, C, H, W) → a C-contiguous (C, H, W, N) array (a view when already laid out so)."""
    return np.ascontiguousarray(x.transpose(1, 2, 3, 0))


# --8<-- [end:conv-batch-last]


def memory_order(x: Array) -> tuple[int, ...]:
    """Axes of ``x`` from the outermost (largest stride) to the innermost in memory."""
    return tuple(sorted(range(x.ndim), key=lambda axis: -abs(x.strides[axis])))


def empty_in_order(shape: tuple[int, ...], dtype: npt.DTypeLike, order: tuple[int, ...]) -> Array:
    """An uninitialised array of ``shape`` whose memory follows the axis ``order``."""
    inverse = np.argsort(order)
    return np.empty([shape[axis] for axis in order], dtype=dtype).transpose(inverse)


def zeros_in_order(shape: tuple[int, ...], dtype: npt.DTypeLike, order: tuple[int, ...]) -> Array:
    """Zeros of ``shape`` laid out in the axis ``order``."""
    inverse = np.argsort(order)
    return np.zeros([shape[axis] for axis in order], dtype=dtype).transpose(inverse)


def in_order(x: Array, order: tuple[int, ...]) -> Array:
    """``x`` with its memory in axis ``order`` (a copy only if it is laid out otherwise).

    A gradient can arrive in another layout than the forward's input (e.g. from a
    ``Flatten`` above); the strided writes of a backward are several times slower when
    source and destination disagree, so one transposing copy first is cheaper.
    """
    if memory_order(x) == order:
        return x
    return np.ascontiguousarray(x.transpose(order)).transpose(np.argsort(order))


def rows_times(g: Array, w: Array, like: Array) -> Array:
    """``g @ w`` laid out as the rows matrix ``like`` is: row-major normally; for
    Fortran-ordered rows (a flattened batch-last activation) computed as ``(wᵀ gᵀ)ᵀ``,
    the same product, whose result is Fortran-ordered too."""
    if like.flags.f_contiguous and not like.flags.c_contiguous:
        return (w.T @ g.T).T
    return g @ w
