"""3-d pooling kernels: max, average and adaptive pooling over (N, C, D, H, W) arrays.

Plain kernels, written for a reader (refnet keeps no fast 3-d path): the 2-d rules of
:mod:`refnet.nn.functional.pooling` with one more axis. A window of ``kd × kh × kw`` taps
(dilation ``d``), moved by stride ``s`` over the input padded by ``p``, gives one output
per position; every kernel loops over the taps (each tap of every window at once is one
strided slice of the padded input), never over positions.

* **max**: the first maximum in (depth, row, column) window order wins, as in PyTorch;
  ``∂L/∂x`` routes each window's gradient to its winner (summed where windows overlap).
  ``return_indices`` gives the winner as the flat index ``(z·H + h)·W + w`` of its
  (D, H, W) plane.
* **average**: ``y = Σ window / divisor`` with PyTorch's divisor (``divisor_override``;
  else, with ``count_include_pad``, the window clipped to the padded input; without,
  the number of real elements); each element receives ``G / divisor`` from every
  window holding it.
* **adaptive average**: window ``o`` along an axis of size ``L`` covers
  ``[⌊oL/Lo⌋, ⌈(o+1)L/Lo⌉)``; separable, one 0/1 matrix per axis, so forward and
  backward are three small matrix products.
* **adaptive max**: the same windows, each reduced by its first maximum.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from refnet._typing import Array
from refnet.nn.functional.pooling import (
    _window_counts,
    _window_matrix,
    adaptive_windows,
    pool_output_size,
)

__all__ = [
    "Pool3dGeometry",
    "adaptive_avg_pool3d",
    "adaptive_avg_pool3d_backward",
    "adaptive_avg_pool3d_forward",
    "adaptive_avg_pool3d_gradient",
    "adaptive_max_pool3d",
    "adaptive_max_pool3d_backward",
    "adaptive_max_pool3d_forward",
    "adaptive_max_pool3d_gradient",
    "avg_pool3d",
    "avg_pool3d_backward",
    "avg_pool3d_forward",
    "avg_pool3d_gradient",
    "max_pool3d",
    "max_pool3d_backward",
    "max_pool3d_forward",
    "max_pool3d_gradient",
]

Triple = tuple[int, int, int]
IntOr3 = int | Sequence[int]


def triple(value: IntOr3, name: str, owner: str) -> Triple:
    """``value`` as three ints (an int repeated)."""
    items = (value,) * 3 if isinstance(value, (int, np.integer)) else tuple(value)
    if len(items) != 3 or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in items
    ):
        raise ValueError(f"{owner}: {name} must be an int or a tuple of 3 ints, got {value!r}")
    return int(items[0]), int(items[1]), int(items[2])


@dataclass(frozen=True)
class Pool3dGeometry:
    """Kernel, stride, padding (both sides), dilation and ceil mode of a 3-d pooling."""

    kernel_size: Triple
    stride: Triple
    padding: Triple = (0, 0, 0)
    dilation: Triple = (1, 1, 1)
    ceil_mode: bool = False

    @staticmethod
    def checked(
        kernel_size: IntOr3,
        stride: IntOr3 | None,
        padding: IntOr3,
        dilation: IntOr3,
        ceil_mode: bool,
        owner: str,
    ) -> Pool3dGeometry:
        """PyTorch's limits: positive kernel, stride, dilation; ``0 ≤ padding ≤ kernel/2``."""
        k = triple(kernel_size, "kernel_size", owner)
        s = k if stride is None else triple(stride, "stride", owner)
        p = triple(padding, "padding", owner)
        d = triple(dilation, "dilation", owner)
        for name, values in (("kernel_size", k), ("stride", s), ("dilation", d)):
            if min(values) < 1:
                raise ValueError(f"{owner}: {name} must be positive, got {values}")
        if min(p) < 0 or any(pi > ki // 2 for pi, ki in zip(p, k, strict=True)):
            raise ValueError(
                f"{owner}: padding must be between 0 and half the kernel size, "
                f"got padding={p} for kernel_size={k}"
            )
        return Pool3dGeometry(k, s, p, d, bool(ceil_mode))

    def output_size(self, sizes: Sequence[int]) -> Triple:
        """``(D_out, H_out, W_out)`` (PyTorch's rule per axis; may be ≤ 0: too small)."""
        out = [
            pool_output_size(n, k, s, p, d, self.ceil_mode)
            for n, k, s, p, d in zip(
                sizes, self.kernel_size, self.stride, self.padding, self.dilation, strict=True
            )
        ]
        return out[0], out[1], out[2]

    def taps(self) -> list[Triple]:
        """Every tap ``(i, j, l)`` in window order."""
        return [(i, j, m) for i, j, m in itertools.product(*(range(k) for k in self.kernel_size))]

    def tap_slices(self, tap: Triple, out: Triple) -> tuple[slice, slice, slice]:
        """The padded input's positions read by ``tap`` of every window."""
        return tuple(  # type: ignore[return-value]
            slice(t * d, t * d + (o - 1) * s + 1, s)
            for t, d, o, s in zip(tap, self.dilation, out, self.stride, strict=True)
        )

    def pads(self, sizes: Sequence[int], out: Triple) -> tuple[tuple[int, int], ...]:
        """``(before, after)`` per axis: ``p`` before; after, ``p`` or more when a ceil-mode
        window runs past the padded input."""
        result = []
        for n, o, k, s, p, d in zip(
            sizes, out, self.kernel_size, self.stride, self.padding, self.dilation, strict=True
        ):
            needed = (o - 1) * s + d * (k - 1) + 1
            result.append((p, max(p, needed - n - p)))
        return tuple(result)


def _all_planes(index: Sequence[slice]) -> tuple[slice, ...]:
    """``index`` over the spatial axes, applied to every (n, c) plane."""
    return (slice(None), slice(None), *index)


def _pad(x: Array, pads: tuple[tuple[int, int], ...], value: float) -> Array:
    return np.pad(x, ((0, 0), (0, 0), *pads), constant_values=value)


def _crop(dxp: Array, pads: tuple[tuple[int, int], ...], sizes: Sequence[int]) -> Array:
    index = tuple(slice(b, b + n) for (b, _), n in zip(pads, sizes, strict=True))
    return np.ascontiguousarray(dxp[_all_planes(index)])


@dataclass
class MaxPool3dCache:
    """The winning tap of every window (its index in window order), and the shapes."""

    winner: Array
    input_shape: tuple[int, ...]
    geometry: Pool3dGeometry
    pads: tuple[tuple[int, int], ...]

    def indices(self) -> Array:
        """PyTorch's ``return_indices``: the flat ``(z·H + h)·W + w`` of each winner."""
        H, W = self.input_shape[3:]
        out = self.winner.shape[2:]
        taps = np.array(self.geometry.taps(), dtype=np.int64)[self.winner]  # (..., 3)
        coords = []
        for axis in range(3):
            start = np.arange(out[axis]) * self.geometry.stride[axis] - self.geometry.padding[axis]
            shape = [1, 1, 1]
            shape[axis] = -1
            coords.append(start.reshape(shape) + taps[..., axis] * self.geometry.dilation[axis])
        return (coords[0] * H + coords[1]) * W + coords[2]


def max_pool3d_forward(x: Array, geometry: Pool3dGeometry) -> tuple[Array, MaxPool3dCache]:
    """3-d max pooling of (N, C, D, H, W): a running maximum over the tap slices of the
    input padded with -∞, a later tap taking over only when strictly greater."""
    sizes = x.shape[2:]
    out = geometry.output_size(sizes)
    pads = geometry.pads(sizes, out)
    xp = _pad(x, pads, -np.inf)
    best = np.full((*x.shape[:2], *out), -np.inf, dtype=x.dtype)
    winner = np.zeros(best.shape, dtype=np.int64)
    for t, tap in enumerate(geometry.taps()):
        view = xp[_all_planes(geometry.tap_slices(tap, out))]
        better = view > best if t else np.ones(best.shape, dtype=bool)
        best = np.where(better, view, best)
        winner[better] = t
    return best, MaxPool3dCache(winner, x.shape, geometry, pads)


def max_pool3d_gradient(grad: Array, cache: MaxPool3dCache) -> Array:
    """∂L/∂x of :func:`max_pool3d_forward`: tap by tap, ``G`` added where that tap won."""
    geometry, pads = cache.geometry, cache.pads
    sizes = cache.input_shape[2:]
    out = cache.winner.shape[2:]
    padded = (*cache.input_shape[:2], *(n + b + a for n, (b, a) in zip(sizes, pads, strict=True)))
    dxp = np.zeros(padded, dtype=grad.dtype)
    for t, tap in enumerate(geometry.taps()):
        dxp[_all_planes(geometry.tap_slices(tap, out))] += np.where(cache.winner == t, grad, 0)
    return _crop(dxp, pads, sizes)


def _divisor(
    sizes: Sequence[int],
    geometry: Pool3dGeometry,
    count_include_pad: bool,
    divisor_override: int | None,
    dtype: np.dtype[np.floating],
) -> Array | float:
    if divisor_override is not None:
        return float(divisor_override)
    out = geometry.output_size(sizes)
    pick = 0 if count_include_pad else 1
    counts = [
        _window_counts(n, o, k, s, p)[pick]
        for n, o, k, s, p in zip(
            sizes, out, geometry.kernel_size, geometry.stride, geometry.padding, strict=True
        )
    ]
    return np.einsum("a,b,c->abc", *counts).astype(dtype)


@dataclass
class AvgPool3dCache:
    """The divisor of every window and the shapes."""

    divisor: Array | float
    input_shape: tuple[int, ...]
    geometry: Pool3dGeometry
    pads: tuple[tuple[int, int], ...]
    out: Triple


def avg_pool3d_forward(
    x: Array,
    geometry: Pool3dGeometry,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> tuple[Array, AvgPool3dCache]:
    """3-d average pooling of (N, C, D, H, W): the taps summed, then divided once."""
    sizes = x.shape[2:]
    out = geometry.output_size(sizes)
    pads = geometry.pads(sizes, out)
    xp = _pad(x, pads, 0.0)
    total = np.zeros((*x.shape[:2], *out), dtype=x.dtype)
    for tap in geometry.taps():
        total += xp[_all_planes(geometry.tap_slices(tap, out))]
    divisor = _divisor(sizes, geometry, count_include_pad, divisor_override, x.dtype)
    return total / divisor, AvgPool3dCache(divisor, x.shape, geometry, pads, out)


def avg_pool3d_gradient(grad: Array, cache: AvgPool3dCache) -> Array:
    """∂L/∂x of :func:`avg_pool3d_forward`: ``G / divisor`` added to every tap."""
    geometry, pads, out = cache.geometry, cache.pads, cache.out
    sizes = cache.input_shape[2:]
    padded = (*cache.input_shape[:2], *(n + b + a for n, (b, a) in zip(sizes, pads, strict=True)))
    dxp = np.zeros(padded, dtype=grad.dtype)
    share = grad / cache.divisor
    for tap in geometry.taps():
        dxp[_all_planes(geometry.tap_slices(tap, out))] += share
    return _crop(dxp, pads, sizes)


@dataclass
class AdaptiveAvgPool3dCache:
    """One window matrix per axis and the window sizes."""

    matrices: tuple[Array, Array, Array]
    counts: Array


def adaptive_avg_pool3d_forward(
    x: Array, output_size: Triple
) -> tuple[Array, AdaptiveAvgPool3dCache]:
    """Adaptive average pooling of (N, C, D, H, W) to (N, C, *output_size):
    ``Σ_{a,b,c} B_d[o,a] B_h[p,b] B_w[q,c] x[a,b,c] / counts``."""
    parts = [_window_matrix(n, o, x.dtype) for n, o in zip(x.shape[2:], output_size, strict=True)]
    matrices = (parts[0][0], parts[1][0], parts[2][0])
    counts = np.einsum("a,b,c->abc", parts[0][1], parts[1][1], parts[2][1])
    y = np.einsum("ncabd,oa,pb,qd->ncopq", x, *matrices, optimize=True) / counts
    return y, AdaptiveAvgPool3dCache(matrices, counts)


def adaptive_avg_pool3d_gradient(grad: Array, cache: AdaptiveAvgPool3dCache) -> Array:
    """∂L/∂x: each window's share ``G / count`` spread back over its elements."""
    share = grad / cache.counts
    return np.einsum("ncopq,oa,pb,qd->ncabd", share, *cache.matrices, optimize=True)


@dataclass
class AdaptiveMaxPool3dCache:
    """The flat ``(z·H + h)·W + w`` index of each window's winner, and the input shape."""

    winner: Array
    input_shape: tuple[int, ...]


def adaptive_max_pool3d_forward(
    x: Array, output_size: Triple
) -> tuple[Array, AdaptiveMaxPool3dCache]:
    """Adaptive max pooling of (N, C, D, H, W): the windows of the average version, each
    reduced by its first maximum. Tap ``t`` of a window reads ``min(start + t, end - 1)``
    along each axis (a short window repeats its last element, which can never win: a
    later tap must be strictly greater)."""
    sizes = x.shape[2:]
    windows = [adaptive_windows(n, o) for n, o in zip(sizes, output_size, strict=True)]
    spans = [int((end - start).max(initial=0)) for start, end in windows]
    _, H, W = sizes
    best: Array | None = None
    winner = np.zeros((*x.shape[:2], *output_size), dtype=np.int64)
    for tap in itertools.product(*(range(s) for s in spans)):
        idx = [np.minimum(start + t, end - 1) for t, (start, end) in zip(tap, windows, strict=True)]
        z, h, w = np.ix_(*idx)
        view = x[:, :, z, h, w]
        flat = np.broadcast_to((z * H + h) * W + w, winner.shape)
        if best is None:
            best = view.copy()
            winner[...] = flat
            continue
        better = view > best
        best = np.where(better, view, best)
        winner = np.where(better, flat, winner)
    assert best is not None
    return best, AdaptiveMaxPool3dCache(winner, x.shape)


def adaptive_max_pool3d_gradient(grad: Array, cache: AdaptiveMaxPool3dCache) -> Array:
    """∂L/∂x: each window's gradient added at its winner (a weighted histogram)."""
    N, C = cache.input_shape[:2]
    plane = math.prod(cache.input_shape[2:])
    flat = (np.arange(N * C).reshape(N, C, 1, 1, 1) * plane + cache.winner).ravel()
    summed = np.bincount(flat, weights=grad.ravel(), minlength=N * C * plane)
    return summed.astype(grad.dtype, copy=False).reshape(cache.input_shape)


# ---------------------------------------------------------------------- functional API


def _batched(input: Array, owner: str) -> tuple[Array, bool]:
    x = np.asarray(input)
    if x.ndim not in (4, 5) or 0 in x.shape[-3:]:
        raise ValueError(
            f"{owner}: expected a non-empty (N, C, D, H, W) or (C, D, H, W) input, got {x.shape}"
        )
    return (x, True) if x.ndim == 5 else (x[None], False)


def _unbatched(y: Array, batched: bool) -> Array:
    return y if batched else y[0]


def _checked_output(geometry: Pool3dGeometry, x: Array, owner: str) -> None:
    out = geometry.output_size(x.shape[2:])
    if min(out) < 1:
        raise ValueError(
            f"{owner}: input of shape {x.shape} is too small for the window: the output "
            f"size would be {out}"
        )


def check_avg_pool3d_input(geometry: Pool3dGeometry, x: Array, owner: str) -> None:
    """PyTorch's extra rule for 3-d average pooling (not for max pooling, nor 2-d): every
    spatial size at least the kernel's, whatever the padding."""
    if any(n < k for n, k in zip(x.shape[2:], geometry.kernel_size, strict=True)):
        raise ValueError(
            f"{owner}: input of spatial size {tuple(x.shape[2:])} is smaller than the kernel "
            f"size {geometry.kernel_size} (PyTorch's avg_pool3d refuses it, padding or not)"
        )


def max_pool3d(
    input: Array,
    kernel_size: IntOr3,
    stride: IntOr3 | None = None,
    padding: IntOr3 = 0,
    dilation: IntOr3 = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Array | tuple[Array, Array]:
    """PyTorch's ``F.max_pool3d``; with ``return_indices`` also the flat winner indices."""
    x, batched = _batched(input, "max_pool3d")
    geometry = Pool3dGeometry.checked(
        kernel_size, stride, padding, dilation, ceil_mode, "max_pool3d"
    )
    _checked_output(geometry, x, "max_pool3d")
    y, cache = max_pool3d_forward(x, geometry)
    if return_indices:
        return _unbatched(y, batched), _unbatched(cache.indices(), batched)
    return _unbatched(y, batched)


def max_pool3d_backward(
    grad: Array,
    input: Array,
    kernel_size: IntOr3,
    stride: IntOr3 | None = None,
    padding: IntOr3 = 0,
    dilation: IntOr3 = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Array:
    """∂L/∂input of :func:`max_pool3d`: each window's gradient to its winner."""
    x, batched = _batched(input, "max_pool3d_backward")
    geometry = Pool3dGeometry.checked(
        kernel_size, stride, padding, dilation, ceil_mode, "max_pool3d_backward"
    )
    _, cache = max_pool3d_forward(x, geometry)
    g = np.asarray(grad) if batched else np.asarray(grad)[None]
    return _unbatched(max_pool3d_gradient(g, cache), batched)


def avg_pool3d(
    input: Array,
    kernel_size: IntOr3,
    stride: IntOr3 | None = None,
    padding: IntOr3 = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Array:
    """PyTorch's ``F.avg_pool3d``."""
    x, batched = _batched(input, "avg_pool3d")
    geometry = Pool3dGeometry.checked(kernel_size, stride, padding, 1, ceil_mode, "avg_pool3d")
    _checked_output(geometry, x, "avg_pool3d")
    check_avg_pool3d_input(geometry, x, "avg_pool3d")
    y, _ = avg_pool3d_forward(x, geometry, count_include_pad, divisor_override)
    return _unbatched(y, batched)


def avg_pool3d_backward(
    grad: Array,
    input: Array,
    kernel_size: IntOr3,
    stride: IntOr3 | None = None,
    padding: IntOr3 = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Array:
    """∂L/∂input of :func:`avg_pool3d`: ``G / divisor`` spread over every window."""
    x, batched = _batched(input, "avg_pool3d_backward")
    geometry = Pool3dGeometry.checked(
        kernel_size, stride, padding, 1, ceil_mode, "avg_pool3d_backward"
    )
    _, cache = avg_pool3d_forward(x, geometry, count_include_pad, divisor_override)
    g = np.asarray(grad) if batched else np.asarray(grad)[None]
    return _unbatched(avg_pool3d_gradient(g, cache), batched)


def adaptive_size(sizes: Sequence[int], output_size: object, owner: str) -> Triple:
    """An adaptive pool's (D_out, H_out, W_out): an int for all, ``None`` keeping a size."""
    items = (output_size,) * 3 if not isinstance(output_size, (tuple, list)) else output_size
    if len(items) != 3 or not all(
        v is None or (isinstance(v, (int, np.integer)) and v >= 0) for v in items
    ):
        raise ValueError(
            f"{owner}: output_size must be a non-negative int or a tuple of 3 (or None), "
            f"got {output_size!r}"
        )
    out = [n if v is None else int(v) for n, v in zip(sizes, items, strict=True)]
    return out[0], out[1], out[2]


def adaptive_avg_pool3d(input: Array, output_size: IntOr3) -> Array:
    """PyTorch's ``F.adaptive_avg_pool3d``."""
    x, batched = _batched(input, "adaptive_avg_pool3d")
    out = adaptive_size(x.shape[2:], output_size, "adaptive_avg_pool3d")
    return _unbatched(adaptive_avg_pool3d_forward(x, out)[0], batched)


def adaptive_avg_pool3d_backward(grad: Array, input: Array, output_size: IntOr3) -> Array:
    """∂L/∂input of :func:`adaptive_avg_pool3d`."""
    x, batched = _batched(input, "adaptive_avg_pool3d_backward")
    out = adaptive_size(x.shape[2:], output_size, "adaptive_avg_pool3d_backward")
    _, cache = adaptive_avg_pool3d_forward(x, out)
    g = np.asarray(grad) if batched else np.asarray(grad)[None]
    return _unbatched(adaptive_avg_pool3d_gradient(g, cache), batched)


def adaptive_max_pool3d(
    input: Array, output_size: IntOr3, return_indices: bool = False
) -> Array | tuple[Array, Array]:
    """PyTorch's ``F.adaptive_max_pool3d``; with ``return_indices`` also the winners."""
    x, batched = _batched(input, "adaptive_max_pool3d")
    out = adaptive_size(x.shape[2:], output_size, "adaptive_max_pool3d")
    y, cache = adaptive_max_pool3d_forward(x, out)
    if return_indices:
        return _unbatched(y, batched), _unbatched(cache.winner, batched)
    return _unbatched(y, batched)


def adaptive_max_pool3d_backward(
    grad: Array, input: Array, output_size: IntOr3, return_indices: bool = False
) -> Array:
    """∂L/∂input of :func:`adaptive_max_pool3d`: each window's gradient to its winner."""
    x, batched = _batched(input, "adaptive_max_pool3d_backward")
    out = adaptive_size(x.shape[2:], output_size, "adaptive_max_pool3d_backward")
    _, cache = adaptive_max_pool3d_forward(x, out)
    g = np.asarray(grad) if batched else np.asarray(grad)[None]
    return _unbatched(adaptive_max_pool3d_gradient(g, cache), batched)
