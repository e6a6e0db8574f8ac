"""Pooling kernels: max, average and adaptive pooling over (N, C, H, W) arrays.

**Read the references first.** :func:`max_pool2d_reference`, :func:`avg_pool2d_reference`,
:func:`adaptive_avg_pool2d_reference`, :func:`adaptive_max_pool2d_reference` and their
``*_backward_reference`` (the "reference kernels" section below) are the textbook loops,
one window at a time; the tests prove every fast path equal to them. The speed chapter
(docs/speed.md) explains the fast paths' tricks.

A pooling window of ``kh × kw`` taps (dilation ``d``), moved by stride ``s`` over the
input padded by ``p`` on each side, produces one output per position:

* **max**: ``y = max over the window``. The maximum is a selection, so its derivative
  routes the whole upstream gradient to the element that was selected and gives the
  others 0: ``∂L/∂x = Σ_windows G · [x is the window's argmax]``. PyTorch's tie rule,
  which we follow: the *first* maximum in row-major window order wins (padding is -∞,
  so it never wins).
* **average**: ``y = (Σ window) / divisor``, a linear map; each input element receives
  ``G / divisor`` from every window that contains it (the gradient is spread evenly back
  over the window).
* **adaptive average**: window ``o`` along an axis of size ``L`` covers
  ``[⌊oL/Lo⌋, ⌈(o+1)L/Lo⌉)``; windows vary in size and may overlap. It is separable,
  ``y = (B_h x B_wᵀ) / (count_h count_wᵀ)`` with 0/1 matrices ``B``, so forward and
  backward are two small matrix products each.

Every fast kernel loops over window taps (kh·kw of them), never over positions: tap
``(i, j)`` of every window at once is one strided view of the padded input.

**Layout.** Pooling treats (N, C) as independent planes, so the kernels accept any memory
layout and allocate their outputs in the input's layout: after a refnet convolution
(memory laid out (C, H, W, N)) every tap view has contiguous runs of N elements. The
common 2×2, stride-2 max-pool copies the four window positions into four contiguous
planes first, where the comparisons run at full SIMD speed; on a row-contiguous float32
input (plain NCHW) it has its own path, whose backward writes the gradient of each pair
of horizontal neighbours as one 64-bit word (the gradient's bits shifted into the half of
the word that won, or shifted out entirely). :func:`max_pool2d_forward` is the one
dispatch between these paths; the speed chapter (docs/speed.md) explains each.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from refnet._parallel import for_blocks
from refnet._typing import Array, IntArray
from refnet.nn.functional.layout import empty_in_order, in_order, memory_order, zeros_in_order

__all__ = [
    "AvgPoolCache",
    "LPPoolCache",
    "MaxPoolCache",
    "PoolGeometry",
    "adaptive_avg_pool1d",
    "adaptive_avg_pool1d_backward",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool2d_backward",
    "adaptive_avg_pool2d_backward_reference",
    "adaptive_avg_pool2d_forward",
    "adaptive_avg_pool2d_reference",
    "adaptive_max_pool1d",
    "adaptive_max_pool1d_backward",
    "adaptive_max_pool2d",
    "adaptive_max_pool2d_backward",
    "adaptive_max_pool2d_backward_reference",
    "adaptive_max_pool2d_forward",
    "adaptive_max_pool2d_reference",
    "adaptive_windows",
    "add_at_positions",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool2d_backward",
    "avg_pool2d_backward_reference",
    "avg_pool2d_forward",
    "avg_pool2d_reference",
    "avg_pool_divisor_reference",
    "lp_pool1d",
    "lp_pool1d_backward",
    "lp_pool2d",
    "lp_pool2d_backward",
    "lp_pool2d_forward",
    "lp_pool2d_gradient",
    "max_pool1d",
    "max_pool2d",
    "max_pool2d_backward",
    "max_pool2d_backward_reference",
    "max_pool2d_forward",
    "max_pool2d_indices",
    "max_pool2d_reference",
    "max_unpool1d",
    "max_unpool1d_backward",
    "max_unpool2d",
    "max_unpool2d_backward",
    "max_unpool3d",
    "max_unpool3d_backward",
    "max_unpool_forward",
    "max_unpool_gradient",
    "max_unpool_output_size",
    "pool_output_size",
]

Pair = tuple[int, int]


def pool_output_size(
    size: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool
) -> int:
    """PyTorch's pooling output size along one axis.

    ``⌊(L + 2p - d(k-1) - 1) / s⌋ + 1``, with ``⌈·⌉`` in ceil mode; in ceil mode the last
    window must start inside the input or the left padding, else it is dropped.
    """
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


@dataclass(frozen=True)
class PoolGeometry:
    """Kernel, stride, padding (both sides), dilation and ceil mode of a 2-d pooling."""

    kernel_size: Pair
    stride: Pair
    padding: Pair = (0, 0)
    dilation: Pair = (1, 1)
    ceil_mode: bool = False

    def output_size(self, height: int, width: int) -> Pair:
        """``(H_out, W_out)`` for an ``(H, W)`` input (see :func:`pool_output_size`)."""
        return (
            pool_output_size(height, *self._axis(0), self.ceil_mode),
            pool_output_size(width, *self._axis(1), self.ceil_mode),
        )

    def _axis(self, axis: int) -> tuple[int, int, int, int]:
        return (
            self.kernel_size[axis],
            self.stride[axis],
            self.padding[axis],
            self.dilation[axis],
        )

    def padded_extent(self, size: int, out: int, axis: int) -> tuple[int, int]:
        """``(left, right)`` padding that holds every window: ``p`` on the left, and on
        the right ``p`` or more, when a ceil-mode window runs past the padded input."""
        k, s, p, d = self._axis(axis)
        needed = (out - 1) * s + d * (k - 1) + 1
        return p, max(0, needed - size - p)

    def overlapping(self) -> bool:
        """Whether two windows can share an input element (then gradients must add)."""
        return any(
            s < d * (k - 1) + 1
            for k, s, d in zip(self.kernel_size, self.stride, self.dilation, strict=True)
        )

    def tap_slices(self, i: int, j: int, out: Pair) -> tuple[slice, slice]:
        """Rows and columns of the padded input read by tap ``(i, j)`` of every window."""
        (sh, sw), (dh, dw) = self.stride, self.dilation
        r0, c0 = i * dh, j * dw
        return (
            slice(r0, r0 + (out[0] - 1) * sh + 1, sh),
            slice(c0, c0 + (out[1] - 1) * sw + 1, sw),
        )


# ---------------------------------------------------------------------- reference kernels
#
# Read these first. The textbook loops, written for a reader: one output position at a
# time, its window sliced out of the padded input, its maximum, mean or argmax taken by
# NumPy. The backward of each recomputes what it needs from the input. No layouts, no
# blocks, no fast paths: the tests prove every fast path below equal to these
# (tests/test_reference_kernels.py), and the speed chapter explains the tricks.


def _pool_padded_reference(x: Array, geometry: PoolGeometry, value: float) -> Array:
    """``x`` padded with ``value`` by ``p`` on each side, and on the bottom/right by more
    when a ceil-mode window runs past the padded input."""
    out = geometry.output_size(x.shape[2], x.shape[3])
    pads = [
        geometry.padded_extent(size, o, axis)
        for axis, (size, o) in enumerate(zip(x.shape[2:], out, strict=True))
    ]
    return np.pad(x, ((0, 0), (0, 0), pads[0], pads[1]), constant_values=value)


def _pool_windows_reference(
    geometry: PoolGeometry, out: tuple[int, int]
) -> list[tuple[int, int, slice, slice]]:
    """Every output position (p, q) with the rows and columns of the padded input in its
    window: ``p·s + i·d`` for ``i < k`` (likewise for columns)."""
    (kh, kw), (sh, sw), (dh, dw) = geometry.kernel_size, geometry.stride, geometry.dilation
    eh, ew = dh * (kh - 1) + 1, dw * (kw - 1) + 1  # the window's extent
    return [
        (p, q, slice(p * sh, p * sh + eh, dh), slice(q * sw, q * sw + ew, dw))
        for p in range(out[0])
        for q in range(out[1])
    ]


def _first_argmax(window: Array) -> Array:
    """A 0/1 mask of ``window`` (N, C, kh, kw) marking each plane's first maximum in
    row-major order (``np.argmax`` returns the first): PyTorch's tie rule."""
    N, C, kh, kw = window.shape
    winner = window.reshape(N, C, kh * kw).argmax(axis=2)
    return (winner[:, :, None] == np.arange(kh * kw)).reshape(N, C, kh, kw)


def max_pool2d_reference(x: Array, geometry: PoolGeometry) -> Array:
    """``y[n, c, p, q] = max_{i, j} xp[n, c, p·s_h + i·d_h, q·s_w + j·d_w]``, ``xp`` the
    input padded with -∞; (N, C, H, W) → (N, C, Ho, Wo). PyTorch: ``F.max_pool2d``."""
    xp = _pool_padded_reference(x, geometry, -np.inf)
    ho, wo = geometry.output_size(x.shape[2], x.shape[3])
    y = np.empty((*x.shape[:2], ho, wo), dtype=x.dtype)
    for p, q, rows, cols in _pool_windows_reference(geometry, (ho, wo)):
        y[:, :, p, q] = xp[:, :, rows, cols].max(axis=(2, 3))
    return y


def max_pool2d_backward_reference(grad_output: Array, x: Array, geometry: PoolGeometry) -> Array:
    """∂L/∂x of :func:`max_pool2d_reference`: ``G[n, c, p, q]`` added to the first
    maximum of window (p, q); the others get nothing from it (windows may overlap, so an
    element can win several)."""
    xp = _pool_padded_reference(x, geometry, -np.inf)
    grad_padded = np.zeros_like(xp)
    ho, wo = grad_output.shape[2:]
    for p, q, rows, cols in _pool_windows_reference(geometry, (ho, wo)):
        won = _first_argmax(xp[:, :, rows, cols])
        grad_padded[:, :, rows, cols] += grad_output[:, :, p, q, None, None] * won
    top, left = geometry.padding
    return grad_padded[:, :, top : top + x.shape[2], left : left + x.shape[3]]


def avg_pool_divisor_reference(
    size: Pair, geometry: PoolGeometry, count_include_pad: bool, divisor_override: int | None
) -> Array:
    """The divisor of each window (Ho, Wo), PyTorch's rule: ``divisor_override`` if
    given; else the window's area clipped to the padded input (``count_include_pad``) or
    the number of real input elements in it."""
    ho, wo = geometry.output_size(*size)
    divisor = np.empty((ho, wo))
    for p in range(ho):
        for q in range(wo):
            area, inside = 1, 1
            for axis, o in enumerate((p, q)):
                k, s, pad = (
                    geometry.kernel_size[axis],
                    geometry.stride[axis],
                    geometry.padding[axis],
                )
                start = o * s - pad
                end = min(start + k, size[axis] + pad)
                area *= end - start
                inside *= min(end, size[axis]) - max(start, 0)
            chosen = area if count_include_pad else inside
            divisor[p, q] = chosen if divisor_override is None else divisor_override
    return divisor


def avg_pool2d_reference(
    x: Array,
    geometry: PoolGeometry,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Array:
    """``y[n, c, p, q] = (Σ_{i, j} xp[n, c, p·s_h + i, q·s_w + j]) / divisor[p, q]``,
    ``xp`` the zero-padded input (see :func:`avg_pool_divisor_reference`).
    PyTorch: ``F.avg_pool2d``."""
    xp = _pool_padded_reference(x, geometry, 0.0)
    divisor = avg_pool_divisor_reference(x.shape[2:], geometry, count_include_pad, divisor_override)
    y = np.empty((*x.shape[:2], *divisor.shape), dtype=x.dtype)
    for p, q, rows, cols in _pool_windows_reference(geometry, divisor.shape):
        y[:, :, p, q] = xp[:, :, rows, cols].sum(axis=(2, 3)) / divisor[p, q]
    return y


def avg_pool2d_backward_reference(
    grad_output: Array,
    x: Array,
    geometry: PoolGeometry,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Array:
    """∂L/∂x of :func:`avg_pool2d_reference`: every element of window (p, q) receives
    ``G[n, c, p, q] / divisor[p, q]`` (added up where windows overlap)."""
    xp = _pool_padded_reference(x, geometry, 0.0)
    divisor = avg_pool_divisor_reference(x.shape[2:], geometry, count_include_pad, divisor_override)
    grad_padded = np.zeros_like(xp)
    for p, q, rows, cols in _pool_windows_reference(geometry, divisor.shape):
        grad_padded[:, :, rows, cols] += (grad_output[:, :, p, q] / divisor[p, q])[:, :, None, None]
    top, left = geometry.padding
    return grad_padded[:, :, top : top + x.shape[2], left : left + x.shape[3]]


def _adaptive_window_reference(size: int, out: int, o: int) -> slice:
    """Adaptive window ``o`` of ``out`` along an axis of ``size``: ``[⌊o·L/Lo⌋, ⌈(o+1)·L/Lo⌉)``."""
    return slice(o * size // out, -(-(o + 1) * size // out))  # integer ⌊·⌋ and ⌈·⌉


def _adaptive_windows_reference(x: Array, output_size: Pair) -> list[tuple[int, int, slice, slice]]:
    """Every output position (p, q) with its rows and columns of ``x``."""
    (H, W), (ho, wo) = x.shape[2:], output_size
    return [
        (p, q, _adaptive_window_reference(H, ho, p), _adaptive_window_reference(W, wo, q))
        for p in range(ho)
        for q in range(wo)
    ]


def adaptive_avg_pool2d_reference(x: Array, output_size: Pair) -> Array:
    """``y[n, c, p, q]`` = the mean of ``x`` over adaptive window (p, q).
    PyTorch: ``F.adaptive_avg_pool2d``."""
    y = np.empty((*x.shape[:2], *output_size), dtype=x.dtype)
    for p, q, rows, cols in _adaptive_windows_reference(x, output_size):
        y[:, :, p, q] = x[:, :, rows, cols].mean(axis=(2, 3))
    return y


def adaptive_avg_pool2d_backward_reference(grad_output: Array, x: Array) -> Array:
    """∂L/∂x of :func:`adaptive_avg_pool2d_reference`: each element of window (p, q)
    receives ``G[n, c, p, q] / (window size)``."""
    grad = np.zeros_like(x)
    for p, q, rows, cols in _adaptive_windows_reference(x, grad_output.shape[2:]):
        count = (rows.stop - rows.start) * (cols.stop - cols.start)
        grad[:, :, rows, cols] += (grad_output[:, :, p, q] / count)[:, :, None, None]
    return grad


def adaptive_max_pool2d_reference(x: Array, output_size: Pair) -> Array:
    """``y[n, c, p, q]`` = the maximum of ``x`` over adaptive window (p, q).
    PyTorch: ``F.adaptive_max_pool2d``."""
    y = np.empty((*x.shape[:2], *output_size), dtype=x.dtype)
    for p, q, rows, cols in _adaptive_windows_reference(x, output_size):
        y[:, :, p, q] = x[:, :, rows, cols].max(axis=(2, 3))
    return y


def adaptive_max_pool2d_backward_reference(grad_output: Array, x: Array) -> Array:
    """∂L/∂x of :func:`adaptive_max_pool2d_reference`: ``G[n, c, p, q]`` added to the
    first maximum of window (p, q)."""
    grad = np.zeros_like(x)
    for p, q, rows, cols in _adaptive_windows_reference(x, grad_output.shape[2:]):
        won = _first_argmax(x[:, :, rows, cols])
        grad[:, :, rows, cols] += grad_output[:, :, p, q, None, None] * won
    return grad


# ---------------------------------------------------------------------- plane helpers
#
# The (N, C) planes are independent, so the kernels below work in whatever memory order
# their input has (refnet.nn.functional.layout owns the helpers and says why).


Index = tuple[slice, slice]


def _by_planes(fn: Callable[[Index], object], x: Array) -> None:
    """Call ``fn(index)`` for blocks ``x[index]`` of whole (N, C) planes that cover ``x``,
    on refnet's threads (:func:`refnet._parallel.for_blocks`); ``fn`` writes disjoint
    outputs.

    Pooling never mixes planes, so any block of them is independent work. The split is
    along whichever of N and C is outermost in memory: blocks of about 1 MiB are then
    contiguous and stay in cache through the several passes a kernel makes over them.
    """
    axis = 0 if abs(x.strides[0]) >= abs(x.strides[1]) else 1

    def run(part: slice) -> None:
        fn((part, slice(None)) if axis == 0 else (slice(None), part))

    for_blocks(run, x, axis, cache_blocks=True)


def _padded(
    x: Array, geometry: PoolGeometry, out: Pair, value: float
) -> tuple[Array, tuple[int, int, int, int]]:
    """``x`` padded with ``value`` so that every window fits (a view of ``x`` if none)."""
    H, W = x.shape[2:]
    top, bottom = geometry.padded_extent(H, out[0], 0)
    left, right = geometry.padded_extent(W, out[1], 1)
    pads = (top, bottom, left, right)
    if not any(pads):
        return x, pads
    shape = (x.shape[0], x.shape[1], H + top + bottom, W + left + right)
    xp = empty_in_order(shape, x.dtype, memory_order(x))

    def block(index: Index) -> None:
        xp[index] = value
        xp[index][:, :, top : top + H, left : left + W] = x[index]

    _by_planes(block, x)
    return xp, pads


def _tap_view(xp: Array, geometry: PoolGeometry, tap: int, out: Pair) -> Array:
    """Tap number ``tap`` (row-major in the window) of every window: a strided view."""
    rows, columns = geometry.tap_slices(*divmod(tap, geometry.kernel_size[1]), out)
    return xp[:, :, rows, columns]


def _crop(dxp: Array, pads: tuple[int, int, int, int], height: int, width: int) -> Array:
    top, _, left, _ = pads
    return dxp[:, :, top : top + height, left : left + width]


# ---------------------------------------------------------------------- max pooling


@dataclass
class MaxPoolCache:
    """What max-pool's backward needs: which tap won each window, and the shapes.

    ``kind`` is ``"planes"`` (2×2 fast path: ``routes`` is one uint8 array of shift
    amounts), ``"pairwise"`` (2×2 on any layout: ``routes`` = the three comparisons
    right>left top, right>left bottom, bottom>top) or ``"taps"`` (general: ``routes`` =
    the winning tap index per output).
    """

    kind: str
    routes: tuple[Array, ...]
    input_shape: tuple[int, int, int, int]
    order: tuple[int, ...]
    geometry: PoolGeometry
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)


def _is_simple_2x2(geometry: PoolGeometry) -> bool:
    return (
        geometry.kernel_size == (2, 2)
        and geometry.stride == (2, 2)
        and geometry.padding == (0, 0)
        and geometry.dilation == (1, 1)
    )


def _planes_order(x: Array) -> tuple[int, ...] | None:
    """An (N, C) axis order in which a float32 ``x`` is C-contiguous with even H, W."""
    if x.dtype != np.float32 or sys.byteorder != "little" or x.shape[2] % 2 or x.shape[3] % 2:
        return None
    for order in ((0, 1, 2, 3), (1, 0, 2, 3)):
        if x.transpose(order).flags.c_contiguous:
            return order
    return None


# --8<-- [start:max-pool-dispatch]
def max_pool2d_forward(x: Array, geometry: PoolGeometry) -> tuple[Array, MaxPoolCache]:
    """Max pooling of a batched (N, C, H, W) input; returns ``(y, cache)``.

    The dispatch between the three fast paths: for 2×2 windows of stride 2 (no padding
    or dilation), :func:`_max_pool_planes` on a float32 input contiguous in its planes,
    else :func:`_max_pool_pairwise` (any layout); every other window, and a ceil-mode
    2×2 on odd sizes, :func:`_max_pool_taps`. The cache's ``kind`` records which ran, and
    :func:`max_pool2d_backward` runs its backward.
    """
    H, W = x.shape[2:]
    out = geometry.output_size(H, W)
    if _is_simple_2x2(geometry):
        order = _planes_order(x)
        if order is not None:
            return _max_pool_planes(x, order, geometry)
        if not geometry.ceil_mode or (H % 2 == 0 and W % 2 == 0):
            return _max_pool_pairwise(x, out, geometry)
    return _max_pool_taps(x, out, geometry)


# --8<-- [end:max-pool-dispatch]


def max_pool2d_backward(grad_output: Array, cache: MaxPoolCache) -> Array:
    """∂L/∂x: each window's gradient goes to the element that won it."""
    if cache.kind == "planes":
        return _max_unpool_planes(grad_output, cache)
    if cache.kind == "pairwise":
        return _max_unpool_pairwise(grad_output, cache)
    return _max_unpool_taps(grad_output, cache)


def _max_pool_planes(
    x: Array, order: tuple[int, ...], geometry: PoolGeometry
) -> tuple[Array, MaxPoolCache]:
    """Fast path: 2×2/2 max-pool of a float32 array that is C-contiguous in (N, C) ``order``.

    One copy splits the windows into four contiguous planes a b / c d (top-left, top-right,
    bottom-left, bottom-right); then the tie rule is three comparisons: right beats left
    only if strictly greater (in each row), bottom beats top only if strictly greater.

    The backward writes each pair of horizontal neighbours of ∂L/∂x as one 64-bit word:
    the gradient's 32 bits shifted by 0 (left won), 32 (right won) or ≥ 64 (this row
    lost: NumPy shifts everything out). ``routes`` keeps the two shifts per output
    (top row, bottom row) as uint8: 2 bytes per output. Both run in blocks of planes.
    """
    xo = x.transpose(order)
    A, B, H, W = xo.shape
    ho, wo = H // 2, W // 2
    yo = np.empty((A, B, ho, wo), dtype=x.dtype)
    shifts = np.empty((2, A * B * ho, wo), dtype=np.uint8)

    def block(part: slice) -> None:
        xb = xo[part]
        rows = xb.shape[0] * B * ho
        planes = np.ascontiguousarray(xb.reshape(rows, 2, wo, 2).transpose(1, 3, 0, 2))
        (a, b), (c, d) = planes
        top = yo[part].reshape(rows, wo)
        np.maximum(a, b, out=top)
        right_top = np.greater(b, a).view(np.uint8)
        bottom = np.maximum(c, d)
        right_bottom = np.greater(d, c).view(np.uint8)
        from_bottom = np.greater(bottom, top).view(np.uint8)
        np.maximum(top, bottom, out=top)
        first = part.start * B * ho
        top_shift, bottom_shift = shifts[:, first : first + rows]
        np.left_shift(right_top, 5, out=top_shift)
        top_shift |= from_bottom << 6
        np.left_shift(right_bottom, 5, out=bottom_shift)
        from_bottom ^= 1
        bottom_shift |= from_bottom << 6

    for_blocks(block, xo, 0, cache_blocks=True)
    y = yo.transpose(np.argsort(order))
    return y, MaxPoolCache("planes", (shifts,), x.shape, order, geometry)


# --8<-- [start:max-unpool-planes]
def _max_unpool_planes(grad_output: Array, cache: MaxPoolCache) -> Array:
    """Backward of :func:`_max_pool_planes`: each 64-bit word of two horizontal
    neighbours of ∂L/∂x is the gradient's bits shifted into the half that won, or out."""
    order = cache.order
    shifts = cache.routes[0]
    go = grad_output.transpose(order)
    _, B, ho, wo = go.shape
    dxo = np.empty(tuple(cache.input_shape[axis] for axis in order), dtype=np.float32)

    def block(part: slice) -> None:
        gb = np.ascontiguousarray(go[part], dtype=np.float32)
        rows = gb.shape[0] * B * ho
        words = gb.reshape(rows, wo).view(np.uint32).astype(np.uint64)
        pairs = dxo[part].reshape(rows, 2, wo * 2).view(np.uint64)
        first = part.start * B * ho
        np.left_shift(words, shifts[0, first : first + rows], out=pairs[:, 0])
        np.left_shift(words, shifts[1, first : first + rows], out=pairs[:, 1])

    for_blocks(block, dxo, 0, cache_blocks=True)
    return dxo.transpose(np.argsort(order))


# --8<-- [end:max-unpool-planes]


def _window_taps(x: Array, out: Pair) -> Array:
    """The 2×2/2 windows of ``x`` as a (2, 2, N, C, Ho, Wo) view: ``[i, j]`` is tap (i, j)
    (top-left, top-right / bottom-left, bottom-right) of every window."""
    N, C = x.shape[:2]
    ho, wo = out
    windows = x[:, :, : 2 * ho, : 2 * wo].reshape(N, C, ho, 2, wo, 2)
    return windows.transpose(3, 5, 0, 1, 2, 4)


def _planes_like(shape: tuple[int, ...], dtype: npt.DTypeLike, order: tuple[int, ...]) -> Array:
    """An empty (2, 2, *shape) array: four planes, each laid out in the axis ``order``."""
    return empty_in_order((2, 2, *shape), dtype, (0, 1, *(2 + axis for axis in order)))


def _max_pool_pairwise(x: Array, out: Pair, geometry: PoolGeometry) -> tuple[Array, MaxPoolCache]:
    """Fast path: 2×2/2 max-pool on any layout, pairwise maxima of the four taps (ties
    as in torch).

    Block by block of planes, one copy first gathers the four taps of every window (a b /
    c d) into four contiguous planes laid out like the outputs; then the comparisons run
    on contiguous memory: right beats left only if strictly greater (in each row), bottom
    beats top only if strictly greater. On a refnet convolution's (C, H, W, N) layout a
    tap's strided view has contiguous runs of only N elements (a and b alternate every
    N), and comparisons over such views pay NumPy's per-run overhead each time; one copy
    pays it once.
    """
    order = memory_order(x)
    shape = (x.shape[0], x.shape[1], *out)
    y = empty_in_order(shape, x.dtype, order)
    right_top, right_bottom, from_bottom = (empty_in_order(shape, bool, order) for _ in range(3))

    def block(index: Index) -> None:
        taps = _window_taps(x[index], out)
        planes = _planes_like(taps.shape[2:], x.dtype, order)
        np.copyto(planes, taps)
        (a, b), (c, d) = planes
        top = y[index]
        np.maximum(a, b, out=top)
        np.greater(b, a, out=right_top[index])
        bottom = np.maximum(c, d)
        np.greater(d, c, out=right_bottom[index])
        np.greater(bottom, top, out=from_bottom[index])
        np.maximum(top, bottom, out=top)

    _by_planes(block, x)
    routes = (right_top, right_bottom, from_bottom)
    return y, MaxPoolCache("pairwise", routes, x.shape, order, geometry)


def _max_unpool_pairwise(grad_output: Array, cache: MaxPoolCache) -> Array:
    """Tap (i, j) of each window of ∂L/∂x is ``G`` where it won, else 0: the four products
    are formed in contiguous planes, then one copy scatters them into their windows
    (the forward's gather in reverse, for the same reason)."""
    right_top, right_bottom, from_bottom = cache.routes
    grad_output = in_order(grad_output, cache.order)
    H, W = cache.input_shape[2:]
    out = right_top.shape[2:]
    covered = (2 * out[0], 2 * out[1]) == (H, W)
    make = empty_in_order if covered else zeros_in_order
    dx = make(cache.input_shape, grad_output.dtype, cache.order)

    def block(index: Index) -> None:
        g, rt, rb, fb = (
            grad_output[index],
            right_top[index],
            right_bottom[index],
            from_bottom[index],
        )
        planes = _planes_like(g.shape, g.dtype, cache.order)
        (a, b), (c, d) = planes
        ft = ~fb
        np.multiply(g, ft & ~rt, out=a)
        np.multiply(g, ft & rt, out=b)
        np.multiply(g, fb & ~rb, out=c)
        np.multiply(g, fb & rb, out=d)
        np.copyto(_window_taps(dx[index], out), planes)

    _by_planes(block, dx)
    return dx


def _max_pool_taps(x: Array, out: Pair, geometry: PoolGeometry) -> tuple[Array, MaxPoolCache]:
    """Fast path for any window: running maximum over the kh·kw tap views, remembering
    the first tap that reached it (a later tap takes over only when strictly greater)."""
    xp, pads = _padded(x, geometry, out, -np.inf)
    kh, kw = geometry.kernel_size
    order = memory_order(x)
    shape = (x.shape[0], x.shape[1], *out)
    best = empty_in_order(shape, x.dtype, order)
    winner = zeros_in_order(shape, np.min_scalar_type(kh * kw - 1), order)

    def block(index: Index) -> None:
        xb, bb, wb = xp[index], best[index], winner[index]
        bb[...] = _tap_view(xb, geometry, 0, out)
        for tap in range(1, kh * kw):
            view = _tap_view(xb, geometry, tap, out)
            better = np.greater(view, bb)
            np.maximum(bb, view, out=bb)
            np.copyto(wb, tap, where=better, casting="unsafe")

    _by_planes(block, xp)
    return best, MaxPoolCache("taps", (winner,), x.shape, order, geometry, pads)


def _max_unpool_taps(grad_output: Array, cache: MaxPoolCache) -> Array:
    """Backward of :func:`_max_pool_taps`: tap by tap, ``G`` where that tap won (added
    when windows overlap, copied when they do not)."""
    (winner,) = cache.routes
    grad_output = in_order(grad_output, cache.order)
    geometry, pads = cache.geometry, cache.pads
    N, C, H, W = cache.input_shape
    kh, kw = geometry.kernel_size
    out = winner.shape[2:]
    padded = (N, C, H + pads[0] + pads[1], W + pads[2] + pads[3])
    dxp = zeros_in_order(padded, grad_output.dtype, cache.order)
    overlapping = geometry.overlapping()

    def block(index: Index) -> None:
        db, g, wb = dxp[index], grad_output[index], winner[index]
        for tap in range(kh * kw):
            view = _tap_view(db, geometry, tap, out)
            won = wb == tap
            if overlapping:
                view += np.where(won, g, 0)
            else:
                np.copyto(view, g, where=won)

    _by_planes(block, dxp)
    return _crop(dxp, pads, H, W)


# ---------------------------------------------------------------------- average pooling


@dataclass
class AvgPoolCache:
    """What average-pool's backward needs: the divisor per output and the shapes."""

    divisor: Array | float
    input_shape: tuple[int, int, int, int]
    order: tuple[int, ...]
    geometry: PoolGeometry
    pads: tuple[int, int, int, int]
    out: Pair


def _window_counts(
    size: int, out: int, kernel: int, stride: int, padding: int
) -> tuple[Array, Array]:
    """Per output along one axis: window length clipped to the padded input, and the
    number of real (non-padding) elements in it (PyTorch's two divisors)."""
    start = np.arange(out) * stride - padding
    end = np.minimum(start + kernel, size + padding)
    with_padding = end - start
    inside = np.minimum(end, size) - np.maximum(start, 0)
    return with_padding, inside


def avg_pool_divisor(
    height: int,
    width: int,
    geometry: PoolGeometry,
    count_include_pad: bool,
    divisor_override: int | None,
    dtype: npt.DTypeLike,
) -> Array | float:
    """The divisor of every window: an (Ho, Wo) array, or one number when all agree."""
    if divisor_override is not None:
        return float(divisor_override)
    out = geometry.output_size(height, width)
    counts = [
        _window_counts(size, o, geometry.kernel_size[a], geometry.stride[a], geometry.padding[a])
        for a, (size, o) in enumerate(zip((height, width), out, strict=True))
    ]
    pick = 0 if count_include_pad else 1
    divisor = np.outer(counts[0][pick], counts[1][pick]).astype(dtype)
    if divisor.size and np.all(divisor == divisor.flat[0]):
        return float(divisor.flat[0])
    return divisor


def avg_pool2d_forward(
    x: Array,
    geometry: PoolGeometry,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> tuple[Array, AvgPoolCache]:
    """Average pooling of a batched (N, C, H, W) input; returns ``(y, cache)``.

    Taps are summed in row-major window order, then divided once, as PyTorch does.
    """
    N, C, H, W = x.shape
    out = geometry.output_size(H, W)
    xp, pads = _padded(x, geometry, out, 0.0)
    kh, kw = geometry.kernel_size
    order = memory_order(x)
    total = empty_in_order((N, C, *out), x.dtype, order)
    divisor = avg_pool_divisor(H, W, geometry, count_include_pad, divisor_override, x.dtype)

    def block(index: Index) -> None:
        xb, tb = xp[index], total[index]
        tb[...] = _tap_view(xb, geometry, 0, out)
        for tap in range(1, kh * kw):
            tb += _tap_view(xb, geometry, tap, out)
        tb /= divisor

    _by_planes(block, xp)
    return total, AvgPoolCache(divisor, x.shape, order, geometry, pads, out)


def avg_pool2d_backward(grad_output: Array, cache: AvgPoolCache) -> Array:
    """∂L/∂x: every element of a window receives ``G / divisor`` from it."""
    geometry, pads, out = cache.geometry, cache.pads, cache.out
    N, C, H, W = cache.input_shape
    kh, kw = geometry.kernel_size
    grad_output = in_order(grad_output, cache.order)
    padded = (N, C, H + pads[0] + pads[1], W + pads[2] + pads[3])
    dxp = zeros_in_order(padded, grad_output.dtype, cache.order)
    overlapping = geometry.overlapping()

    def block(index: Index) -> None:
        share = grad_output[index] / cache.divisor
        db = dxp[index]
        for tap in range(kh * kw):
            view = _tap_view(db, geometry, tap, out)
            if overlapping:
                view += share
            else:
                view[...] = share

    _by_planes(block, dxp)
    return _crop(dxp, pads, H, W)


# ---------------------------------------------------------------------- adaptive average


def adaptive_windows(size: int, out: int) -> tuple[Array, Array]:
    """``(starts, ends)`` of PyTorch's adaptive windows: ``[⌊oL/Lo⌋, ⌈(o+1)L/Lo⌉)``."""
    o = np.arange(out)
    return (o * size) // out, ((o + 1) * size + out - 1) // out


def _window_matrix(size: int, out: int, dtype: npt.DTypeLike) -> tuple[Array, Array]:
    """The 0/1 matrix (out, size) whose row ``o`` marks window ``o``, and the window sizes."""
    starts, ends = adaptive_windows(size, out)
    positions = np.arange(size)
    member = (positions >= starts[:, None]) & (positions < ends[:, None])
    return member.astype(dtype), (ends - starts).astype(dtype)


@dataclass
class AdaptiveAvgPoolCache:
    """The window matrices and counts, and the input's shape and layout."""

    rows: Array
    cols: Array
    counts: Array
    input_shape: tuple[int, int, int, int]


def adaptive_avg_pool2d_forward(x: Array, output_size: Pair) -> tuple[Array, AdaptiveAvgPoolCache]:
    """Adaptive average pooling of (N, C, H, W) to (N, C, Ho, Wo): ``(B_h x B_wᵀ) / counts``."""
    H, W = x.shape[2:]
    rows, count_h = _window_matrix(H, output_size[0], x.dtype)
    cols, count_w = _window_matrix(W, output_size[1], x.dtype)
    counts = np.outer(count_h, count_w)
    summed = np.tensordot(np.tensordot(x, cols, axes=([3], [1])), rows, axes=([2], [1]))
    y = summed.transpose(0, 1, 3, 2) / counts
    return y, AdaptiveAvgPoolCache(rows, cols, counts, x.shape)


def adaptive_avg_pool2d_backward(grad_output: Array, cache: AdaptiveAvgPoolCache) -> Array:
    """∂L/∂x = B_hᵀ (G / counts) B_w: each window's share spread back over it."""
    share = grad_output / cache.counts
    spread = np.tensordot(
        np.tensordot(share, cache.rows, axes=([2], [0])), cache.cols, axes=([2], [0])
    )
    return spread


# ---------------------------------------------------------------------- adaptive max


@dataclass
class AdaptiveMaxPoolCache:
    """The flat spatial index ``h·W + w`` of each window's winner, and the input shape."""

    winner: Array
    input_shape: tuple[int, int, int, int]


def adaptive_max_pool2d_forward(x: Array, output_size: Pair) -> tuple[Array, AdaptiveMaxPoolCache]:
    """Adaptive max pooling of (N, C, H, W) to (N, C, Ho, Wo), PyTorch's windows and ties.

    Windows differ in size, so tap ``(t, u)`` of window ``(p, q)`` reads row
    ``min(start_p + t, end_p - 1)`` (and likewise for columns): short windows repeat their
    last row/column, which never changes a maximum, nor the first-maximum rule (a repeat
    comes after the original in row-major order and must be strictly greater to win).
    Each tap is one fancy-indexed gather; the loop runs over the taps of the largest
    window, not over positions.
    """
    H, W = x.shape[2:]
    (row_start, row_end), (col_start, col_end) = (
        adaptive_windows(H, output_size[0]),
        adaptive_windows(W, output_size[1]),
    )
    shape = (x.shape[0], x.shape[1], *output_size)
    best = empty_in_order(shape, x.dtype, memory_order(x))
    winner = np.zeros(shape, dtype=np.intp)
    taps_h = int((row_end - row_start).max(initial=0))
    taps_w = int((col_end - col_start).max(initial=0))
    for t in range(taps_h):
        rows = np.minimum(row_start + t, row_end - 1)[:, None]
        for u in range(taps_w):
            cols = np.minimum(col_start + u, col_end - 1)[None, :]
            view = x[:, :, rows, cols]
            if t == 0 and u == 0:
                best[...] = view
                winner[...] = rows * W + cols
                continue
            better = np.greater(view, best)
            np.maximum(best, view, out=best)
            np.copyto(winner, np.broadcast_to(rows * W + cols, shape), where=better)
    return best, AdaptiveMaxPoolCache(winner, x.shape)


def adaptive_max_pool2d_backward(grad_output: Array, cache: AdaptiveMaxPoolCache) -> Array:
    """∂L/∂x: each window's gradient added at its winner (windows may overlap, so one
    input element can win several; see :func:`add_at_positions`)."""
    return add_at_positions(grad_output, cache.winner, cache.input_shape)


def add_at_positions(values: Array, positions: IntArray, shape: tuple[int, ...]) -> Array:
    """An array of ``shape`` (N, C, *spatial), zero but for ``values`` (N, C, *out) added
    at their flat in-plane ``positions`` (broadcast against ``values``). Several values
    may land on one position (overlapping windows, sampling taps): a histogram weighted by
    the values, ``np.bincount``, sums them in one vectorised pass (``np.add.at`` would go
    element by element), in float64, cast back to the values' dtype."""
    N, C = shape[:2]
    plane = math.prod(shape[2:])
    planes = (np.arange(N * C) * plane).reshape((N, C) + (1,) * (values.ndim - 2))
    flat = np.broadcast_to(planes + positions, values.shape).ravel()
    summed = np.bincount(flat, weights=values.ravel(), minlength=N * C * plane)
    return summed.astype(values.dtype, copy=False).reshape(shape)


# ---------------------------------------------------------------------- functional API


def _pair(value: int | tuple[int, ...]) -> Pair:
    """An int, or a tuple of one or two ints, as two ints (torch repeats a 1-tuple)."""
    first, second = _tuple(value, 2, ())
    return first, second


def _single(value: int | tuple[int, ...]) -> int:
    """An int or a 1-tuple, as an int (a 1-d pool's argument)."""
    (only,) = _tuple(value, 1, ())
    return only


def _batched(fn_input: Array) -> tuple[Array, bool]:
    return (fn_input, True) if fn_input.ndim == 4 else (fn_input[None], False)


def max_pool2d(
    input: Array,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Array | tuple[Array, IntArray]:
    """PyTorch's ``F.max_pool2d`` (forward only): (N, C, H, W) or (C, H, W); with
    ``return_indices`` also each winner's flat index ``h·W + w`` in its input plane."""
    k = _pair(kernel_size)
    geometry = PoolGeometry(
        k, k if stride is None else _pair(stride), _pair(padding), _pair(dilation), ceil_mode
    )
    xb, batched = _batched(input)
    if return_indices:
        y, _, indices = max_pool2d_indices(xb, geometry)
        return (y, indices) if batched else (y[0], indices[0])
    y, _ = max_pool2d_forward(xb, geometry)
    return y if batched else y[0]


def avg_pool2d(
    input: Array,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Array:
    """PyTorch's ``F.avg_pool2d`` (forward only): (N, C, H, W) or (C, H, W)."""
    k = _pair(kernel_size)
    geometry = PoolGeometry(
        k, k if stride is None else _pair(stride), _pair(padding), (1, 1), ceil_mode
    )
    xb, batched = _batched(input)
    y, _ = avg_pool2d_forward(xb, geometry, count_include_pad, divisor_override)
    return y if batched else y[0]


def _adaptive_size(x: Array, output_size: int | tuple[int | None, int | None]) -> Pair:
    """An adaptive pool's (Ho, Wo): an int for both, ``None`` keeping the input's size."""
    sizes = (output_size, output_size) if isinstance(output_size, int) else output_size
    return (
        x.shape[-2] if sizes[0] is None else sizes[0],
        x.shape[-1] if sizes[1] is None else sizes[1],
    )


def adaptive_avg_pool2d(input: Array, output_size: int | tuple[int | None, int | None]) -> Array:
    """PyTorch's ``F.adaptive_avg_pool2d`` (forward only); ``None`` keeps an input size."""
    out = _adaptive_size(input, output_size)
    xb, batched = _batched(input)
    y, _ = adaptive_avg_pool2d_forward(xb, out)
    return y if batched else y[0]


def adaptive_max_pool2d(
    input: Array, output_size: int | tuple[int | None, int | None], return_indices: bool = False
) -> Array | tuple[Array, IntArray]:
    """PyTorch's ``F.adaptive_max_pool2d`` (forward only); ``None`` keeps an input size;
    with ``return_indices`` also each winner's flat index ``h·W + w`` in its input plane."""
    out = _adaptive_size(input, output_size)
    xb, batched = _batched(input)
    y, cache = adaptive_max_pool2d_forward(xb, out)
    if return_indices:
        indices = cache.winner.astype(np.int64)
        return (y, indices) if batched else (y[0], indices[0])
    return y if batched else y[0]


def max_pool1d(
    input: Array,
    kernel_size: int | tuple[int],
    stride: int | tuple[int] | None = None,
    padding: int | tuple[int] = 0,
    dilation: int | tuple[int] = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Array | tuple[Array, IntArray]:
    """PyTorch's ``F.max_pool1d`` (forward only): a 2-d max-pool over a height of 1 (so
    the indices ``h·W + w`` of ``return_indices`` are positions along L)."""
    k = _single(kernel_size)
    s = k if stride is None else _single(stride)
    result = max_pool2d(
        input[..., None, :],
        (1, k),
        (1, s),
        (0, _single(padding)),
        (1, _single(dilation)),
        ceil_mode,
        return_indices,
    )
    if isinstance(result, tuple):
        return result[0][..., 0, :], result[1][..., 0, :]
    return result[..., 0, :]


def avg_pool1d(
    input: Array,
    kernel_size: int | tuple[int],
    stride: int | tuple[int] | None = None,
    padding: int | tuple[int] = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> Array:
    """PyTorch's ``F.avg_pool1d`` (forward only): a 2-d average pool over a height of 1."""
    k = _single(kernel_size)
    s = k if stride is None else _single(stride)
    y = avg_pool2d(
        input[..., None, :], (1, k), (1, s), (0, _single(padding)), ceil_mode, count_include_pad
    )
    return y[..., 0, :]


# ---------------------------------------------------------------------- indices, unpooling, Lp


def max_pool2d_indices(x: Array, geometry: PoolGeometry) -> tuple[Array, MaxPoolCache, Array]:
    """Max pooling with PyTorch's ``return_indices``: ``(y, cache, indices)``, each
    window's winner as the flat index ``h·W + w`` into its (H, W) input plane (int64);
    ``cache`` serves :func:`max_pool2d_backward` as usual.

    Runs the general tap-by-tap kernel (its cache names the winning tap ``(i, j)``) and
    converts: ``h = p·s_h - p_h + i·d_h``, ``w = q·s_w - p_w + j·d_w``.
    """
    H, W = x.shape[2:]
    out = geometry.output_size(H, W)
    y, cache = _max_pool_taps(x, out, geometry)
    (winner,) = cache.routes
    kw = geometry.kernel_size[1]
    (sh, sw), (ph, pw), (dh, dw) = geometry.stride, geometry.padding, geometry.dilation
    tap = winner.astype(np.int64)
    rows = np.arange(out[0]).reshape(-1, 1) * sh - ph + (tap // kw) * dh
    cols = np.arange(out[1]).reshape(1, -1) * sw - pw + (tap % kw) * dw
    return y, cache, rows * W + cols


def max_unpool_output_size(
    size: tuple[int, ...],
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    padding: tuple[int, ...],
    output_size: tuple[int, ...] | None,
    owner: str,
) -> tuple[int, ...]:
    """MaxUnpool's spatial output size: ``(L - 1)·s - 2p + k`` per axis, or the last
    axes of ``output_size``, which must lie within a stride of that default (PyTorch)."""
    default = tuple(
        (n - 1) * s - 2 * p + k for n, k, s, p in zip(size, kernel, stride, padding, strict=True)
    )
    if output_size is None:
        return default
    wanted = tuple(int(v) for v in output_size)[-len(size) :]
    if len(wanted) != len(size):
        raise ValueError(f"{owner}: output_size must have {len(size)} or more elements")
    for w, d, s in zip(wanted, default, stride, strict=True):
        if not d - s < w < d + s:
            raise ValueError(
                f"{owner}: invalid output_size {tuple(output_size)} (dim {wanted} must be "
                f"between {tuple(a - b + 1 for a, b in zip(default, stride, strict=True))} "
                f"and {tuple(a + b - 1 for a, b in zip(default, stride, strict=True))})"
            )
    return wanted


def max_unpool_forward(x: Array, indices: Array, out: tuple[int, ...], owner: str) -> Array:
    """Scatter ``x`` (N, C, *in) into zeros (N, C, *out) at the flat plane ``indices``.

    ``y[n, c].flat[indices[n, c, i]] = x[n, c, i]``: every other position is 0. Indices
    must lie in ``[0, prod(out))``; a repeated index keeps the last value written (as in
    PyTorch), which only a hand-made ``indices`` can produce.
    """
    N, C = x.shape[:2]
    plane = int(np.prod(out))
    flat = np.asarray(indices).reshape(N * C, -1)
    if flat.size and (flat.min() < 0 or flat.max() >= plane):
        raise ValueError(
            f"{owner}: found an invalid max index {int(flat.max())} (output planes of size "
            f"{tuple(out)} hold {plane} elements)"
        )
    y = np.zeros((N * C, plane), dtype=x.dtype)
    np.put_along_axis(y, flat, x.reshape(N * C, -1), axis=1)
    return y.reshape(N, C, *out)


def max_unpool_gradient(grad: Array, indices: Array) -> Array:
    """∂L/∂x of :func:`max_unpool_forward`: the gradient gathered at ``indices``."""
    N, C = grad.shape[:2]
    flat = np.asarray(indices).reshape(N * C, -1)
    picked = np.take_along_axis(grad.reshape(N * C, -1), flat, axis=1)
    return picked.reshape(np.shape(indices))


def _tuple(
    value: int | tuple[int, ...] | None, n: int, default: tuple[int, ...]
) -> tuple[int, ...]:
    if value is None:
        return default
    if isinstance(value, (int, np.integer)):
        return (int(value),) * n
    items = tuple(int(v) for v in value)
    return items * n if len(items) == 1 else items


def _unpool_args(
    input: Array,
    indices: Array,
    kernel_size: int | tuple[int, ...],
    stride: int | tuple[int, ...] | None,
    padding: int | tuple[int, ...],
    output_size: tuple[int, ...] | None,
    n: int,
    owner: str,
) -> tuple[Array, tuple[int, ...], bool]:
    x = np.asarray(input)
    if x.ndim not in (n + 1, n + 2) or np.shape(indices) != x.shape:
        raise ValueError(
            f"{owner}: expected a {n + 1}-d or {n + 2}-d input and indices of its shape, got "
            f"{x.shape} and {np.shape(indices)}"
        )
    k = _tuple(kernel_size, n, ())
    s = _tuple(stride, n, k)
    p = _tuple(padding, n, ())
    out = max_unpool_output_size(x.shape[-n:], k, s, p, output_size, owner)
    return x, out, x.ndim == n + 2


def max_unpool1d(
    input: Array,
    indices: Array,
    kernel_size: int | tuple[int, ...],
    stride: int | tuple[int, ...] | None = None,
    padding: int | tuple[int, ...] = 0,
    output_size: tuple[int, ...] | None = None,
) -> Array:
    """PyTorch's ``F.max_unpool1d``: (N, C, L) or (C, L) values scattered at ``indices``."""
    x, out, batched = _unpool_args(
        input, indices, kernel_size, stride, padding, output_size, 1, "max_unpool1d"
    )
    xb, ib = (x, indices) if batched else (x[None], np.asarray(indices)[None])
    y = max_unpool_forward(xb, ib, out, "max_unpool1d")
    return y if batched else y[0]


def max_unpool1d_backward(
    grad: Array,
    input: Array,
    indices: Array,
    kernel_size: int | tuple[int, ...],
    stride: int | tuple[int, ...] | None = None,
    padding: int | tuple[int, ...] = 0,
    output_size: tuple[int, ...] | None = None,
) -> Array:
    """∂L/∂input of :func:`max_unpool1d`: ``grad`` gathered at ``indices``."""
    _, _, batched = _unpool_args(
        input, indices, kernel_size, stride, padding, output_size, 1, "max_unpool1d_backward"
    )
    gb, ib = (grad, indices) if batched else (grad[None], np.asarray(indices)[None])
    dx = max_unpool_gradient(gb, ib)
    return dx if batched else dx[0]


def max_unpool2d(
    input: Array,
    indices: Array,
    kernel_size: int | tuple[int, ...],
    stride: int | tuple[int, ...] | None = None,
    padding: int | tuple[int, ...] = 0,
    output_size: tuple[int, ...] | None = None,
) -> Array:
    """PyTorch's ``F.max_unpool2d``: (N, C, H, W) or (C, H, W) values scattered at the
    flat ``h·W_out + w`` ``indices`` (those ``max_pool2d`` returns)."""
    x, out, batched = _unpool_args(
        input, indices, kernel_size, stride, padding, output_size, 2, "max_unpool2d"
    )
    xb, ib = (x, indices) if batched else (x[None], np.asarray(indices)[None])
    y = max_unpool_forward(xb, ib, out, "max_unpool2d")
    return y if batched else y[0]


def max_unpool2d_backward(
    grad: Array,
    input: Array,
    indices: Array,
    kernel_size: int | tuple[int, ...],
    stride: int | tuple[int, ...] | None = None,
    padding: int | tuple[int, ...] = 0,
    output_size: tuple[int, ...] | None = None,
) -> Array:
    """∂L/∂input of :func:`max_unpool2d`: ``grad`` gathered at ``indices``."""
    _, _, batched = _unpool_args(
        input, indices, kernel_size, stride, padding, output_size, 2, "max_unpool2d_backward"
    )
    gb, ib = (grad, indices) if batched else (grad[None], np.asarray(indices)[None])
    dx = max_unpool_gradient(gb, ib)
    return dx if batched else dx[0]


@dataclass
class LPPoolCache:
    """LPPool's backward needs: ``x^(p-1)``, ``S^(1/p - 1)`` and the average pool's cache."""

    x_power: Array
    s_power: Array
    avg: AvgPoolCache
    taps: int


def lp_pool2d_forward(
    x: Array, norm_type: float, geometry: PoolGeometry
) -> tuple[Array, LPPoolCache]:
    """Power-average pooling of (N, C, H, W), PyTorch's formula:

        S = k · avg_pool(x^p),   y = S^(1/p),   k = kh·kw

    (``S`` is the window's ``Σ x^p``, except that a ceil-mode window overhanging the
    input is averaged over its clipped size before the ``k ·``, as PyTorch does).

    Backward: ``avg_pool`` is linear (``A``), so with ``G = ∂L/∂y``,
    ``∂L/∂x = p x^(p-1) · Aᵀ(k · G · (1/p) S^(1/p - 1)) = x^(p-1) · Aᵀ(k G S^(1/p - 1))``.
    """
    p = float(norm_type)
    powered = x**p
    avg, avg_cache = avg_pool2d_forward(powered, geometry, True, None)
    taps = geometry.kernel_size[0] * geometry.kernel_size[1]
    s = avg * taps
    y = s ** (1.0 / p)
    return y, LPPoolCache(x ** (p - 1.0), s ** (1.0 / p - 1.0), avg_cache, taps)


def lp_pool2d_gradient(grad: Array, cache: LPPoolCache) -> Array:
    """∂L/∂x of :func:`lp_pool2d_forward` (derived there)."""
    inner = avg_pool2d_backward(grad * cache.s_power * cache.taps, cache.avg)
    return inner * cache.x_power


def _lp_geometry(
    kernel_size: int | tuple[int, ...],
    stride: int | tuple[int, ...] | None,
    ceil_mode: bool,
    n: int,
) -> PoolGeometry:
    k = _tuple(kernel_size, n, ())
    s = _tuple(stride, n, k)
    if n == 1:
        return PoolGeometry((1, k[0]), (1, s[0]), (0, 0), (1, 1), ceil_mode)
    return PoolGeometry((k[0], k[1]), (s[0], s[1]), (0, 0), (1, 1), ceil_mode)


def _as_planes(x: Array, n: int) -> tuple[Array, bool]:
    """(N, C, H, W) from a batched or unbatched 1-d/2-d pooling input."""
    x = np.asarray(x)
    if x.ndim not in (n + 1, n + 2):
        raise ValueError(f"expected a {n + 1}-d or {n + 2}-d input, got shape {x.shape}")
    batched = x.ndim == n + 2
    xb = x if batched else x[None]
    return (xb[:, :, None, :] if n == 1 else xb), batched


def _from_planes(y4: Array, n: int, batched: bool) -> Array:
    y = y4[:, :, 0, :] if n == 1 else y4
    return y if batched else y[0]


def lp_pool1d(
    input: Array,
    norm_type: float,
    kernel_size: int | tuple[int, ...],
    stride: int | tuple[int, ...] | None = None,
    ceil_mode: bool = False,
) -> Array:
    """PyTorch's ``F.lp_pool1d``: ``(Σ_window x^p)^(1/p)`` over (N, C, L) or (C, L)."""
    x4, batched = _as_planes(input, 1)
    y, _ = lp_pool2d_forward(x4, norm_type, _lp_geometry(kernel_size, stride, ceil_mode, 1))
    return _from_planes(y, 1, batched)


def lp_pool1d_backward(
    grad: Array,
    input: Array,
    norm_type: float,
    kernel_size: int | tuple[int, ...],
    stride: int | tuple[int, ...] | None = None,
    ceil_mode: bool = False,
) -> Array:
    """∂L/∂input of :func:`lp_pool1d` (see :func:`lp_pool2d_forward`)."""
    x4, batched = _as_planes(input, 1)
    g4, _ = _as_planes(grad, 1)
    _, cache = lp_pool2d_forward(x4, norm_type, _lp_geometry(kernel_size, stride, ceil_mode, 1))
    return _from_planes(lp_pool2d_gradient(g4, cache), 1, batched)


def lp_pool2d(
    input: Array,
    norm_type: float,
    kernel_size: int | tuple[int, ...],
    stride: int | tuple[int, ...] | None = None,
    ceil_mode: bool = False,
) -> Array:
    """PyTorch's ``F.lp_pool2d``: ``(Σ_window x^p)^(1/p)`` over (N, C, H, W) or (C, H, W)."""
    x4, batched = _as_planes(input, 2)
    y, _ = lp_pool2d_forward(x4, norm_type, _lp_geometry(kernel_size, stride, ceil_mode, 2))
    return _from_planes(y, 2, batched)


def lp_pool2d_backward(
    grad: Array,
    input: Array,
    norm_type: float,
    kernel_size: int | tuple[int, ...],
    stride: int | tuple[int, ...] | None = None,
    ceil_mode: bool = False,
) -> Array:
    """∂L/∂input of :func:`lp_pool2d` (see :func:`lp_pool2d_forward`)."""
    x4, batched = _as_planes(input, 2)
    g4, _ = _as_planes(grad, 2)
    _, cache = lp_pool2d_forward(x4, norm_type, _lp_geometry(kernel_size, stride, ceil_mode, 2))
    return _from_planes(lp_pool2d_gradient(g4, cache), 2, batched)


def adaptive_avg_pool1d(input: Array, output_size: int | tuple[int]) -> Array:
    """PyTorch's ``F.adaptive_avg_pool1d``: (N, C, L) or (C, L) to ``output_size`` windows."""
    x4, batched = _as_planes(input, 1)
    y, _ = adaptive_avg_pool2d_forward(x4, (1, _tuple(output_size, 1, ())[0]))
    return _from_planes(y, 1, batched)


def adaptive_avg_pool1d_backward(grad: Array, input: Array, output_size: int | tuple[int]) -> Array:
    """∂L/∂input of :func:`adaptive_avg_pool1d`: each window's share spread back."""
    x4, batched = _as_planes(input, 1)
    g4, _ = _as_planes(grad, 1)
    _, cache = adaptive_avg_pool2d_forward(x4, (1, _tuple(output_size, 1, ())[0]))
    return _from_planes(adaptive_avg_pool2d_backward(g4, cache), 1, batched)


def adaptive_max_pool1d(
    input: Array, output_size: int | tuple[int], return_indices: bool = False
) -> Array | tuple[Array, Array]:
    """PyTorch's ``F.adaptive_max_pool1d``; with ``return_indices`` also each window's
    winner's position along L (int64)."""
    x4, batched = _as_planes(input, 1)
    y, cache = adaptive_max_pool2d_forward(x4, (1, _tuple(output_size, 1, ())[0]))
    out = _from_planes(y, 1, batched)
    if not return_indices:
        return out
    return out, _from_planes(cache.winner.astype(np.int64), 1, batched)


def adaptive_max_pool1d_backward(
    grad: Array, input: Array, output_size: int | tuple[int], return_indices: bool = False
) -> Array:
    """∂L/∂input of :func:`adaptive_max_pool1d`: each window's gradient to its winner."""
    x4, batched = _as_planes(input, 1)
    g4, _ = _as_planes(grad, 1)
    _, cache = adaptive_max_pool2d_forward(x4, (1, _tuple(output_size, 1, ())[0]))
    return _from_planes(adaptive_max_pool2d_backward(g4, cache), 1, batched)


def max_unpool3d(
    input: Array,
    indices: Array,
    kernel_size: int | tuple[int, ...],
    stride: int | tuple[int, ...] | None = None,
    padding: int | tuple[int, ...] = 0,
    output_size: tuple[int, ...] | None = None,
) -> Array:
    """PyTorch's ``F.max_unpool3d``: (N, C, D, H, W) or (C, D, H, W) values scattered at
    the flat ``(z·H_out + h)·W_out + w`` ``indices`` (those ``max_pool3d`` returns)."""
    x, out, batched = _unpool_args(
        input, indices, kernel_size, stride, padding, output_size, 3, "max_unpool3d"
    )
    xb, ib = (x, indices) if batched else (x[None], np.asarray(indices)[None])
    y = max_unpool_forward(xb, ib, out, "max_unpool3d")
    return y if batched else y[0]


def max_unpool3d_backward(
    grad: Array,
    input: Array,
    indices: Array,
    kernel_size: int | tuple[int, ...],
    stride: int | tuple[int, ...] | None = None,
    padding: int | tuple[int, ...] = 0,
    output_size: tuple[int, ...] | None = None,
) -> Array:
    """∂L/∂input of :func:`max_unpool3d`: ``grad`` gathered at ``indices``."""
    _, _, batched = _unpool_args(
        input, indices, kernel_size, stride, padding, output_size, 3, "max_unpool3d_backward"
    )
    gb, ib = (grad, indices) if batched else (grad[None], np.asarray(indices)[None])
    dx = max_unpool_gradient(gb, ib)
    return dx if batched else dx[0]
