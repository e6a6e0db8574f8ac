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
threads; the default is the number of cores this process may run on.

**Where it does not pay.** OpenBLAS's idle workers keep spinning for ~0.1 s after each
matrix product, on the other core. Elementwise work that follows a product closely
shares that core with the spinner: in the cnn training step, which is dense in products,
the threaded batch norm and ReLU gained nothing measurable (they are 1.3-1.6x faster on
their own), and blocks of im2col/col2im copies on threads made the convolution's
backward 2-5% slower. (``OPENBLAS_THREAD_TIMEOUT=4`` set before NumPy loads makes the
workers sleep at once; it made the threads pay in the cnn step, but cost lenet's many
small products 2-3x, so refnet does not ask for it.)
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from refnet._typing import Array

__all__ = [
    "BLOCK_BYTES",
    "MIN_ELEMENTS",
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

_threads: int | None = None
_pool: ThreadPoolExecutor | None = None
_pool_pid: int | None = None  # a pool does not survive fork(): rebuilt in a child process


def _available_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def get_num_threads() -> int:
    """The number of threads refnet's elementwise kernels use (PyTorch: same name)."""
    return _available_cores() if _threads is None else _threads


def set_num_threads(threads: int) -> None:
    """Use ``threads`` threads (1: everything on the calling thread) for the elementwise
    kernels of large arrays (PyTorch: ``torch.set_num_threads``).

    NumPy's matrix products follow its BLAS's own setting (``OPENBLAS_NUM_THREADS``, or
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


def _groups(length: int, blocks: int, threads: int) -> list[list[slice]]:
    """``range(length)`` cut into ``blocks`` slices, dealt in consecutive runs to
    ``threads`` workers."""
    edges = [round(i * length / blocks) for i in range(blocks + 1)]
    slices = [slice(a, b) for a, b in itertools.pairwise(edges) if b > a]
    workers = min(threads, len(slices))
    cuts = [round(i * len(slices) / workers) for i in range(workers + 1)]
    return [slices[a:b] for a, b in itertools.pairwise(cuts)]


def for_blocks(fn: Callable[[slice], object], x: Array, axis: int, cache_blocks: bool) -> None:
    """Call ``fn(part)`` for slices ``part`` of ``x``'s ``axis`` that together cover it,
    on up to ``get_num_threads()`` threads; ``fn`` must write disjoint outputs per part.

    With ``cache_blocks`` and ``axis`` outermost in memory, the parts are contiguous
    blocks of about :data:`BLOCK_BYTES`, so a kernel making several passes over its block
    finds it in cache after the first; otherwise there is one part per thread. Arrays
    under :data:`MIN_ELEMENTS` are one part, on the calling thread.
    """
    length = x.shape[axis]
    threads = min(get_num_threads(), length)
    if x.size < MIN_ELEMENTS or length <= 1:
        fn(slice(0, length))
        return
    blocks = threads
    if cache_blocks and axis == outer_axis(x):
        blocks = max(threads, min(length, -(-x.nbytes // BLOCK_BYTES)))
    groups = _groups(length, blocks, threads)

    def run(group: list[slice]) -> None:
        for part in group:
            fn(part)

    if len(groups) == 1:
        run(groups[0])
        return
    pool = _executor(len(groups) - 1)
    futures: list[Future[None]] = [pool.submit(run, group) for group in groups[1:]]
    try:
        run(groups[0])  # the calling thread takes the first run of blocks
    finally:
        for future in futures:  # never return while a block is still being written
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
