"""Elementwise NumPy kernels on several threads: the chunks of a large array in parallel.

NumPy's matrix products run on its BLAS's threads, but its elementwise functions (ufuncs)
run on the calling thread only, so a ReLU or a batch norm pass over a 12.8 MB activation
uses one core where PyTorch uses all of them. A ufunc releases Python's GIL while it
loops, though: two Python threads, each running the same ufunc on one half of the array
(``out=`` a half of the result), do run on two cores at once. :func:`elementwise` does
that, with a small thread pool shared by all layers.

The split is along the array's outermost axis in memory, so every chunk is one block of
memory; the result is identical to a single call (elementwise work does not depend on
how it is split). Arrays under :data:`MIN_ELEMENTS` run in one call, where the pool's
overhead (tens of microseconds) would cost more than it saves.

:func:`set_num_threads` (exported as ``refnet.set_num_threads``) sets the number of
threads. **The default is 1**, for the reason below; the blocks still run, one after the
other, which keeps a multi-pass kernel's block in cache.

**Why not by default.** OpenBLAS's idle workers keep spinning for ~0.1 s after each
matrix product, on the other core. Elementwise work that follows a product closely
shares that core with the spinner, and the threads cost more than they gain: the
training steps were slower with 2 threads, while on their own, away from products,
batch norm, ReLU and max-pool run faster on 2 threads. Set it for work like that.
(``OPENBLAS_THREAD_TIMEOUT=4``, set before NumPy loads, makes the workers sleep at once,
which helps the threads but makes many small products slower.) The speed chapter's table
of measurements has the figures.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from refnet._typing import Array

__all__ = [
    "BLOCK_BYTES",
    "MIN_ELEMENTS",
    "PARTS_PER_THREAD",
    "elementwise",
    "for_blocks",
    "get_num_threads",
    "outer_axis",
    "set_num_threads",
]

#: Arrays smaller than this (in elements; 1 MiB of float32) are processed in one call.
MIN_ELEMENTS = 1 << 18

#: The size of a block that several passes visit in turn while it stays in cache.
BLOCK_BYTES = 1 << 20

#: At least this many parts per thread, dealt dynamically (see :func:`for_blocks`).
PARTS_PER_THREAD = 4

_threads = 1
_pool: ThreadPoolExecutor | None = None
_pool_pid: int | None = None  # a pool does not survive fork(): rebuilt in a child process


def get_num_threads() -> int:
    """The number of threads refnet's elementwise kernels use (default 1; PyTorch: same
    name)."""
    return _threads


def set_num_threads(threads: int) -> None:
    """Use ``threads`` threads (1, the default: everything on the calling thread) for the
    elementwise kernels of large arrays (PyTorch: ``torch.set_num_threads``).

    Worth it for elementwise work away from matrix products; in a training step dense
    in products it cost more than it gained (see :mod:`refnet._parallel`). NumPy's matrix
    products follow its BLAS's own setting (``OPENBLAS_NUM_THREADS``, or
    ``threadpoolctl``), which this does not change.
    """
    global _threads
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"set_num_threads: expected a positive integer, got {threads!r}")
    _threads = threads


def _executor(workers: int) -> ThreadPoolExecutor:
    global _pool, _pool_pid
    pid = os.getpid()
    if _pool is None or _pool_pid != pid or _pool._max_workers < workers:
        _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="refnet")
        _pool_pid = pid
    return _pool


def outer_axis(a: Array) -> int:
    """The axis with the largest stride: splitting it gives contiguous blocks."""
    return max(range(a.ndim), key=lambda axis: (abs(a.strides[axis]), a.shape[axis]))


def _slices(length: int, blocks: int) -> list[slice]:
    """``range(length)`` cut into ``blocks`` slices of (nearly) equal length."""
    edges = [round(i * length / blocks) for i in range(blocks + 1)]
    return [slice(a, b) for a, b in itertools.pairwise(edges) if b > a]


def for_blocks(fn: Callable[[slice], object], x: Array, axis: int, cache_blocks: bool) -> None:
    """Call ``fn(part)`` for slices ``part`` of ``x``'s ``axis`` that together cover it,
    on up to ``get_num_threads()`` threads; ``fn`` must write disjoint outputs per part.

    With ``cache_blocks`` and ``axis`` outermost in memory, the parts are contiguous
    blocks of about :data:`BLOCK_BYTES`, so a kernel making several passes over its block
    finds it in cache after the first. Arrays under :data:`MIN_ELEMENTS` are one part,
    on the calling thread.

    The threads take the parts from a shared queue, each the next one when it is free
    (there are :data:`PARTS_PER_THREAD` or more per thread): a thread slowed down, by
    another process or by a BLAS worker still spinning on its core after a product,
    simply takes fewer, instead of holding up the others with a fixed share.
    """
    length = x.shape[axis]
    threads = min(get_num_threads(), length)
    if x.size < MIN_ELEMENTS or length <= 1:
        fn(slice(0, length))
        return
    blocks = 1 if threads == 1 else threads * PARTS_PER_THREAD
    if cache_blocks and axis == outer_axis(x):
        blocks = max(blocks, -(-x.nbytes // BLOCK_BYTES))
    parts = _slices(length, min(blocks, length))
    if threads == 1 or len(parts) == 1:
        for part in parts:
            fn(part)
        return
    queue = iter(parts)
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                part = next(queue, None)
            if part is None:
                return
            fn(part)

    pool = _executor(threads - 1)
    futures: list[Future[None]] = [pool.submit(work) for _ in range(threads - 1)]
    try:
        work()  # the calling thread works too
    finally:
        for future in futures:  # never return while a part is still being written
            future.result()


def _chunk(arg: Any, out: Array, axis: int, part: slice) -> Any:
    """``arg``'s share of the chunk ``part`` of ``out`` along ``axis``.

    Arrays are aligned with ``out`` from the right, as in broadcasting: one that spans
    the split axis is sliced, one that is broadcast along it (size 1 or missing) and any
    non-array argument is passed whole.
    """
    if not isinstance(arg, np.ndarray):
        return arg
    own = axis - (out.ndim - arg.ndim)
    if own < 0 or arg.shape[own] != out.shape[axis]:
        return arg
    return arg[(slice(None),) * own + (part,)]


def elementwise(kernel: Callable[..., object], out: Array, *args: Any) -> Array:
    """Run ``kernel(*args, out=out)`` in chunks of ``out`` (split along its outermost
    axis in memory) on up to ``get_num_threads()`` threads, and return ``out``.

    ``kernel`` must compute each element of ``out`` from the elements of ``args`` at the
    same position (broadcasting allowed), e.g. ``np.maximum`` or
    ``lambda g, y, out: np.multiply(g, y > 0, out=out)``.
    """
    if out.size < MIN_ELEMENTS or get_num_threads() == 1:
        kernel(*args, out=out)  # the common small case, without the machinery below
        return out
    axis = outer_axis(out)
    index = (slice(None),) * axis

    def run(part: slice) -> None:
        kernel(*(_chunk(arg, out, axis, part) for arg in args), out=out[index + (part,)])

    for_blocks(run, out, axis, cache_blocks=False)
    return out
