"""Skinny matrix products in pieces that OpenBLAS runs on its fast small-matrix kernel.

OpenBLAS (0.3.x on x86-64) sends a product of at most ``SMALL_PRODUCT`` = 100³
multiply-adds (``M·N·K``) to a "small matrix" kernel on the calling thread; larger ones
take its general path (packing, then its threads). For a *skinny* product, two short
dimensions and one long one, such as a first convolution layer's
``(10 × 26) @ (26 × 36864)``, the general path is several times slower than the small
kernel. Products whose short dimensions are larger (a 20 × 251 weight matrix) run well
on the general path and stay whole.

So a skinny product ``A Bᵀ`` whose *inner* dimension n is long (both (·, n)), e.g. a
convolution's weight gradient ``G Xᵀ`` summed over every output position, is computed as
``Σ_pieces A[:, piece] B[:, piece]ᵀ`` with pieces of at most ``SMALL_PRODUCT``
multiply-adds: a sum split into partial sums (float32 rounding differs from one product
by a few ulps, as between two BLAS builds).

A long *outer* dimension, ``Y = A B`` with ``B`` (K, n) (a convolution's forward
``W X``), is cut the same way, ``Y[:, piece] = A B[:, piece]`` (the same numbers), but
only for an output of at most ``OUTER_BYTES``: the small kernel runs on one thread, so a
large output, which the general path writes on all of them, is faster whole.

The speed chapter's table of measurements gives the figures behind these thresholds.
With another BLAS the pieces are still correct (partial sums), only perhaps not faster.
"""

from __future__ import annotations

import math

import numpy as np

from refnet._typing import Array

#: OpenBLAS's limit (M·N·K) for its small-matrix kernel.
SMALL_PRODUCT = 100**3

#: The largest output (bytes) cut along its long outer dimension (see above).
OUTER_BYTES = 2 << 20

#: Cut only when each piece keeps at least this many entries of the long dimension
#: (shorter pieces would pay more per call than the small kernel saves).
MIN_PIECE = 1024


def long_pieces(short: int, length: int) -> list[slice] | None:
    """Equal slices of a long dimension of ``length`` such that ``short · piece`` stays
    within :data:`SMALL_PRODUCT`; ``None`` when the product should stay whole (it is
    small already, or its short dimensions ``short`` leave pieces under :data:`MIN_PIECE`)."""
    if short * length <= SMALL_PRODUCT or short * MIN_PIECE > SMALL_PRODUCT:
        return None
    count = math.ceil(length / (SMALL_PRODUCT // short))
    size = math.ceil(length / count)  # at most SMALL_PRODUCT // short
    return [slice(start, min(start + size, length)) for start in range(0, length, size)]


def matmul_into(a: Array, b: Array, out: Array) -> Array:
    """``out[...] = a @ b`` for ``a`` (M, K) and ``b`` (K, n), in pieces of n if skinny
    and ``out`` is at most :data:`OUTER_BYTES`."""
    pieces = long_pieces(a.shape[0] * a.shape[1], b.shape[1])
    if pieces is None or out.nbytes > OUTER_BYTES:
        return np.matmul(a, b, out=out)
    for piece in pieces:
        np.matmul(a, b[:, piece], out=out[:, piece])
    return out


def matmul_transposed(a: Array, b: Array) -> Array:
    """``a @ bᵀ`` for ``a`` (M, n) and ``b`` (N, n), summed in pieces of n if skinny."""
    pieces = long_pieces(a.shape[0] * b.shape[0], a.shape[1])
    if pieces is None:
        return a @ b.T
    first, *rest = pieces
    total = a[:, first] @ b[:, first].T
    for piece in rest:
        total += a[:, piece] @ b[:, piece].T
    return total
