"""Convolution kernels: 2-d correlation by im2col + one GEMM, and its two gradients.

**Read the references first.** :func:`conv2d_reference`, :func:`conv2d_backward_reference`,
:func:`conv_transpose2d_reference` and :func:`conv_transpose2d_backward_reference` (the
"reference kernels" section below) are the textbook loops, one output position at a
time, with no speed tricks; the tests prove the fast kernels equal to them. The rest of
the module is the fast path, whose tricks the speed chapter (docs/speed.md) explains.

Notation: input ``x`` of shape (N, C, H, W), weight ``w`` of shape (O, C/g, kh, kw) for
``g`` groups, output ``y`` of shape (N, O, Ho, Wo). PyTorch's "convolution" is a
cross-correlation: with stride ``s``, dilation ``d`` and the input zero-padded to ``xp``,

    y[n, o, p, q] = b[o] + Σ_{c, i, j} w[o, c, i, j] · xp[n, c, p·s_h + i·d_h, q·s_w + j·d_w]

(``c`` running over the channels of ``o``'s group).

**Forward as one matrix product (im2col).** Copy every window of ``xp`` into a column of
a matrix ``X`` of shape (C·kh·kw, N·Ho·Wo): row ``(c, i, j)``, column ``(p, q, n)`` holds
``xp[n, c, p·s_h + i·d_h, q·s_w + j·d_w]``. Then ``Y = W X`` with ``W = w.reshape(O, -1)``
is the whole convolution, one BLAS GEMM (one per group).

**Weight gradient: a correlation of the input with the output gradient.** With
``G = ∂L/∂Y`` (O, N·Ho·Wo), ``∂L/∂W = G Xᵀ``: ``∂L/∂w[o, c, i, j]`` sums
``G[n, o, p, q] · xp[n, c, p·s + i·d, q·s + j·d]`` over ``n, p, q``, which is the
correlation of ``xp`` with ``G`` used as a (dilated by ``s``) kernel. The bias gradient
is ``Σ_{n, p, q} G[n, o, p, q]``.

**Input gradient: a transposed convolution (col2im).** ``∂L/∂X = Wᵀ G`` gives, for every
window position, the gradient of each element it copied; since ``X`` copied each element
of ``xp`` into several columns, the chain rule *adds* those column gradients back into
the positions they came from ("col2im"). Written out, ``∂L/∂xp[n, c, u, v]`` sums
``w[o, c, i, j] · G[n, o, p, q]`` over every ``(o, i, j, p, q)`` with ``u = p·s + i·d``:
a correlation of the zero-upsampled ``G`` with the flipped kernel, i.e. the transposed
convolution. Cropping the padding gives ``∂L/∂x``. ``ConvTranspose2d``'s forward is
exactly this map, and its backward the ordinary convolution.

**The fast path** computes exactly these products, arranged for speed; each trick is
explained once, with its measurements, in the speed chapter (docs/speed.md, "Fast
paths"):

* the (C, H, W, N) layout: the kernels work on batch-innermost arrays (the modules
  return (N, C, H, W) views of them), so the column matrix is one copy of a strided
  window view (:func:`_windows`) and the GEMM writes its result in the same layout;
* chunking: ``X`` is filled and multiplied a few output rows at a time (``CHUNK_BYTES``);
* buffer reuse: the forward keeps ``X`` for the weight gradient (one GEMM, no second
  im2col) and writes it into the memory of the layer's previous ``X``;
* bias as a row of ones: with one group, the bias is an extra column of ``W`` against a
  row of ones in ``X``, so the GEMMs add it and return ``∂L/∂b``;
* OpenBLAS small-matrix splitting: skinny products are cut into pieces
  (:mod:`refnet._blas`), and a small layer's input gradient is formed tap by tap
  (:func:`_transposed_correlate` chooses between its two paths);
* thread blocks: im2col and col2im run block by block of channels
  (:func:`refnet._parallel.for_blocks`);
* with zero padding, col2im adds only into the input's region and returns ∂L/∂x as its
  own contiguous array (no cropped view of the padded gradient).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from refnet._blas import SMALL_PRODUCT, matmul_into, matmul_transposed
from refnet._parallel import for_blocks
from refnet._typing import Array
from refnet.nn.functional._conv_arguments import (
    ConvArgs,
    check_conv,
    check_conv_transpose,
    check_gradient,
    conv_transpose_output_shape,
)
from refnet.nn.functional.layout import to_batch_last

__all__ = [
    "ConvGeometry",
    "col2im",
    "conv1d",
    "conv2d",
    "conv2d_backward",
    "conv2d_backward_reference",
    "conv2d_forward",
    "conv2d_reference",
    "conv_transpose1d",
    "conv_transpose1d_backward",
    "conv_transpose2d",
    "conv_transpose2d_backward",
    "conv_transpose2d_backward_reference",
    "conv_transpose2d_forward",
    "conv_transpose2d_reference",
    "im2col",
    "same_padding",
]

# --8<-- [start:conv-chunk-bytes]
# Columns are built and multiplied a few output rows at a time so each chunk of the
# column matrix (and of its gradient) stays in cache (L3) between the copy and the GEMM.
# Large chunks (few BLAS calls) because each call may wait for its second thread on
# shared cores; 16 MiB still fits a 32 MiB L3 (docs/speed.md has the measurements).
CHUNK_BYTES = 16 << 20
# --8<-- [end:conv-chunk-bytes]

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
_NUMPY_PAD_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}

Pair = tuple[int, int]


@dataclass(frozen=True)
class ConvGeometry:
    """Everything a 2-d convolution kernel needs besides the arrays.

    ``padding`` is ``(top, bottom, left, right)``: 'same' padding can be asymmetric
    (PyTorch puts the extra row/column at the bottom/right).
    """

    kernel_size: Pair
    stride: Pair = (1, 1)
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)
    dilation: Pair = (1, 1)
    groups: int = 1
    padding_mode: str = "zeros"

    @property
    def dilated_kernel(self) -> Pair:
        """Extent of one window: ``d·(k - 1) + 1`` per axis."""
        (kh, kw), (dh, dw) = self.kernel_size, self.dilation
        return dh * (kh - 1) + 1, dw * (kw - 1) + 1

    def padded_size(self, height: int, width: int) -> Pair:
        """The input size ``(H, W)`` plus the padding on both sides."""
        top, bottom, left, right = self.padding
        return height + top + bottom, width + left + right

    def output_size(self, height: int, width: int) -> Pair:
        """``⌊(padded - dilated_kernel) / stride⌋ + 1`` per axis (may be ≤ 0: too small)."""
        hp, wp = self.padded_size(height, width)
        (eh, ew), (sh, sw) = self.dilated_kernel, self.stride
        return (hp - eh) // sh + 1, (wp - ew) // sw + 1


def same_padding(kernel_size: Pair, dilation: Pair) -> tuple[int, int, int, int]:
    """PyTorch's padding='same': total ``d·(k - 1)`` per axis, the odd one on the far side."""
    pads: list[int] = []
    for k, d in zip(kernel_size, dilation, strict=True):
        total = d * (k - 1)
        pads += [total // 2, total - total // 2]
    return pads[0], pads[1], pads[2], pads[3]


# ---------------------------------------------------------------------- reference kernels
#
# Read these first. The textbook loops, written for a reader: one output position (or
# one input position, for the transposed convolution) at a time, the sum over a window
# written as one ``einsum``, the groups as an explicit loop, the padding by ``np.pad``.
# No chunks, no buffers, no layout tricks: the tests prove every fast path below equal
# to these (tests/test_reference_kernels.py), and the speed chapter explains the tricks.


def _pad_reference(x: Array, geometry: ConvGeometry) -> Array:
    """``x`` (N, C, H, W) padded by ``geometry.padding`` with ``geometry.padding_mode``."""
    top, bottom, left, right = geometry.padding
    pads = ((0, 0), (0, 0), (top, bottom), (left, right))
    if geometry.padding_mode == "zeros":
        return np.pad(x, pads)
    return np.pad(x, pads, mode=_NUMPY_PAD_MODES[geometry.padding_mode])  # type: ignore[call-overload]


def _pad_backward_reference(grad_padded: Array, geometry: ConvGeometry, size: Pair) -> Array:
    """∂L/∂x from ∂L/∂xp: every element of the padded input is a copy of one input
    element (or a constant zero), so its gradient is added to that element.

    ``sources`` are the input rows (columns) the padded rows (columns) copy: ``np.pad``
    applied to the indices themselves, with -1 for a zero.
    """
    top, bottom, left, right = geometry.padding
    (height, width), mode = size, geometry.padding_mode

    def sources(length: int, before: int, after: int) -> Array:
        if mode == "zeros":
            return np.pad(np.arange(length), (before, after), constant_values=-1)
        return np.pad(np.arange(length), (before, after), mode=_NUMPY_PAD_MODES[mode])  # type: ignore[call-overload]

    rows, cols = sources(height, top, bottom), sources(width, left, right)
    grad = np.zeros((*grad_padded.shape[:2], height, width), dtype=grad_padded.dtype)
    for u, r in enumerate(rows):
        for v, c in enumerate(cols):
            if r >= 0 and c >= 0:
                grad[:, :, r, c] += grad_padded[:, :, u, v]
    return grad


def _window_reference(geometry: ConvGeometry, p: int, q: int) -> tuple[slice, slice]:
    """Rows and columns of the (padded) input under output position (p, q):
    ``p·s + i·d`` for the kernel rows ``i`` (likewise for columns)."""
    (kh, kw), (sh, sw), (dh, dw) = geometry.kernel_size, geometry.stride, geometry.dilation
    return (
        slice(p * sh, p * sh + dh * (kh - 1) + 1, dh),
        slice(q * sw, q * sw + dw * (kw - 1) + 1, dw),
    )


def _group_slices(channels: int, groups: int) -> list[slice]:
    """The channels of each group: ``groups`` consecutive blocks of ``channels/groups``."""
    size = channels // groups
    return [slice(g * size, (g + 1) * size) for g in range(groups)]


def _groups_and_positions(
    in_channels: int, out_channels: int, groups: int, size: Pair
) -> Iterator[tuple[slice, slice, int, int]]:
    """The reference kernels' loops: each group's input and output channels, with each
    position ``(p, q)`` of ``size``."""
    pairs = zip(
        _group_slices(in_channels, groups), _group_slices(out_channels, groups), strict=True
    )
    for cs, os in pairs:
        for p in range(size[0]):
            for q in range(size[1]):
                yield cs, os, p, q


def conv2d_reference(x: Array, weight: Array, bias: Array | None, geometry: ConvGeometry) -> Array:
    """The convolution by its definition, one output position at a time.

    ``y[n, o, p, q] = b[o] + Σ_{c, i, j} w[o, c, i, j] · xp[n, c, p·s_h + i·d_h, q·s_w + j·d_w]``

    for ``x`` (N, C, H, W), ``w`` (O, C/g, kh, kw), ``xp`` the padded input and ``c``
    running over the channels of ``o``'s group. Returns ``y`` (N, O, Ho, Wo).
    PyTorch: ``F.conv2d`` (with ``padding_mode`` as ``nn.Conv2d``'s).
    """
    xp = _pad_reference(x, geometry)
    N, out_channels = x.shape[0], weight.shape[0]
    ho, wo = geometry.output_size(x.shape[2], x.shape[3])
    y = np.zeros((N, out_channels, ho, wo), dtype=x.dtype)
    groups = geometry.groups
    positions = _groups_and_positions(x.shape[1], out_channels, groups, (ho, wo))
    for cs, os, p, q in positions:
        rows, cols = _window_reference(geometry, p, q)
        window = xp[:, cs, rows, cols]  # (N, C/g, kh, kw)
        y[:, os, p, q] = np.einsum("ncij,ocij->no", window, weight[os])
    if bias is not None:
        y += bias[:, None, None]
    return y


def conv2d_backward_reference(
    grad_output: Array, x: Array, weight: Array, geometry: ConvGeometry
) -> tuple[Array, Array, Array]:
    """``(∂L/∂x, ∂L/∂w, ∂L/∂b)`` of :func:`conv2d_reference`, by the chain rule on each
    output position.

    Output ``y[:, o, p, q]`` read the window ``xp[:, c, p·s + i·d, q·s + j·d]`` with the
    weights ``w[o, c, i, j]``, so with ``G = ∂L/∂y``

    * ``∂L/∂w[o, c, i, j] += Σ_n G[n, o, p, q] · window[n, c, i, j]``,
    * ``∂L/∂window[n, c, i, j] += Σ_o G[n, o, p, q] · w[o, c, i, j]`` (windows overlap,
      so the gradients of the padded input add up), then the padding's gradient folded
      back onto the elements it copied,
    * ``∂L/∂b[o] = Σ_{n, p, q} G[n, o, p, q]``.
    """
    xp = _pad_reference(x, geometry)
    grad_padded, grad_weight = np.zeros_like(xp), np.zeros_like(weight)
    ho, wo = grad_output.shape[2:]
    groups = geometry.groups
    positions = _groups_and_positions(x.shape[1], weight.shape[0], groups, (ho, wo))
    for cs, os, p, q in positions:
        rows, cols = _window_reference(geometry, p, q)
        g = grad_output[:, os, p, q]  # (N, O/g)
        grad_weight[os] += np.einsum("no,ncij->ocij", g, xp[:, cs, rows, cols])
        grad_padded[:, cs, rows, cols] += np.einsum("no,ocij->ncij", g, weight[os])
    grad_input = _pad_backward_reference(grad_padded, geometry, (x.shape[2], x.shape[3]))
    return grad_input, grad_weight, grad_output.sum(axis=(0, 2, 3))


def _transposed_canvas(
    x: Array, weight: Array, geometry: ConvGeometry, output_padding: Pair
) -> tuple[int, int, int, int]:
    """The transposed convolution's output (Ho, Wo) and the size of the uncropped
    "canvas" the patches are scattered on, ``(H - 1)·s + d·(k - 1) + 1 + output_padding``."""
    ho, wo = conv_transpose_output_size(x.shape[2], x.shape[3], geometry, output_padding)
    (eh, ew), (sh, sw) = geometry.dilated_kernel, geometry.stride
    full_h = (x.shape[2] - 1) * sh + eh + output_padding[0]
    full_w = (x.shape[3] - 1) * sw + ew + output_padding[1]
    return ho, wo, full_h, full_w


def conv_transpose2d_reference(
    x: Array, weight: Array, bias: Array | None, geometry: ConvGeometry, output_padding: Pair
) -> Array:
    """The transposed convolution by its definition, one input position at a time.

    Input element ``x[n, c, p, q]`` scatters ``x · w[c, o, i, j]`` onto the canvas at
    ``(p·s_h + i·d_h, q·s_w + j·d_w)`` for every tap; the output is the canvas with
    ``padding`` rows/columns cropped from the start, ``Ho = (H - 1)·s - 2p + d·(k - 1) +
    output_padding + 1`` of them kept. ``x`` (N, C_in, H, W), ``w`` (C_in, C_out/g, kh, kw).
    PyTorch: ``F.conv_transpose2d``.
    """
    ho, wo, full_h, full_w = _transposed_canvas(x, weight, geometry, output_padding)
    N, in_channels, H, W = x.shape
    groups = geometry.groups
    canvas = np.zeros((N, weight.shape[1] * groups, full_h, full_w), dtype=x.dtype)
    positions = _groups_and_positions(in_channels, canvas.shape[1], groups, (H, W))
    for cs, os, p, q in positions:
        rows, cols = _window_reference(geometry, p, q)
        canvas[:, os, rows, cols] += np.einsum("nc,coij->noij", x[:, cs, p, q], weight[cs])
    top, _, left, _ = geometry.padding
    y = canvas[:, :, top : top + ho, left : left + wo].copy()
    if bias is not None:
        y += bias[:, None, None]
    return y


def conv_transpose2d_backward_reference(
    grad_output: Array, x: Array, weight: Array, geometry: ConvGeometry, output_padding: Pair
) -> tuple[Array, Array, Array]:
    """``(∂L/∂x, ∂L/∂w, ∂L/∂b)`` of :func:`conv_transpose2d_reference`.

    The canvas's gradient is ``G`` where the output was cropped from, 0 elsewhere; the
    patch that ``x[n, c, p, q]`` scattered gives ``∂L/∂x[n, c, p, q] = Σ_{o, i, j}
    ∂L/∂patch[n, o, i, j] · w[c, o, i, j]`` and ``∂L/∂w[c, o, i, j] += Σ_n x[n, c, p, q] ·
    ∂L/∂patch[n, o, i, j]``; ``∂L/∂b[o] = Σ_{n, p, q} G``.
    """
    ho, wo, full_h, full_w = _transposed_canvas(x, weight, geometry, output_padding)
    top, _, left, _ = geometry.padding
    grad_canvas = np.zeros((*grad_output.shape[:2], full_h, full_w), dtype=grad_output.dtype)
    grad_canvas[:, :, top : top + ho, left : left + wo] = grad_output
    grad_input, grad_weight = np.zeros_like(x), np.zeros_like(weight)
    _, in_channels, H, W = x.shape
    groups = geometry.groups
    positions = _groups_and_positions(in_channels, grad_output.shape[1], groups, (H, W))
    for cs, os, p, q in positions:
        rows, cols = _window_reference(geometry, p, q)
        patch = grad_canvas[:, os, rows, cols]  # (N, C_out/g, kh, kw)
        grad_input[:, cs, p, q] = np.einsum("noij,coij->nc", patch, weight[cs])
        grad_weight[cs] += np.einsum("nc,noij->coij", x[:, cs, p, q], patch)
    return grad_input, grad_weight, grad_output.sum(axis=(0, 2, 3))


@dataclass
class ConvCache:
    """What a convolution's backward needs: the im2col matrix of the padded input, (C·kh·kw
    [+ 1 row of ones], Ho·Wo·N), for the weight gradient; the rest is shapes."""

    columns: Array
    input_shape: tuple[int, int, int, int]
    padded_size: Pair
    geometry: ConvGeometry


# ---------------------------------------------------------------------- layout helpers
#
# The batch-last layout itself (to_batch_last) is refnet.nn.functional.layout's.


def _pad_batch_last(x: Array, geometry: ConvGeometry) -> Array:
    """Pad an (N, C, H, W) input into a new (C, Hp, Wp, N) array, with ``padding_mode``."""
    top, bottom, left, right = geometry.padding
    xt = x.transpose(1, 2, 3, 0)
    if geometry.padding_mode != "zeros":
        pads = ((0, 0), (top, bottom), (left, right), (0, 0))
        return np.pad(xt, pads, mode=_NUMPY_PAD_MODES[geometry.padding_mode])  # type: ignore[call-overload]
    if not any(geometry.padding):
        return np.ascontiguousarray(xt)
    C, H, W, N = xt.shape
    xp = np.empty((C, H + top + bottom, W + left + right, N), dtype=x.dtype)
    xp[:, :top] = 0
    xp[:, top + H :] = 0
    xp[:, top : top + H, :left] = 0
    xp[:, top : top + H, left + W :] = 0
    xp[:, top : top + H, left : left + W] = xt
    return xp


def _source_index(u: int, size: int, mode: str) -> int:
    """The input index that padded position ``u`` (relative to the input) copies."""
    if mode == "reflect":
        return -u if u < 0 else 2 * (size - 1) - u
    if mode == "replicate":
        return 0 if u < 0 else size - 1
    return u % size  # circular


def _unpad(dxp: Array, geometry: ConvGeometry, height: int, width: int) -> Array:
    """∂L/∂x from ∂L/∂xp, both (C, ·, ·, N): the backward of reflect, replicate or
    circular padding (zero padding's gradient is only cropped, which the caller does by
    computing the inner region alone).

    These modes copied border elements into the padding, so the gradient of each padded
    row (then column) is added back to the row it copied: a loop over the few padded rows
    and columns, not over positions.
    """
    top, bottom, left, right = geometry.padding
    mode = geometry.padding_mode
    rows = dxp[:, top : top + height].copy()
    for r in [*range(top), *range(top + height, top + height + bottom)]:
        rows[:, _source_index(r - top, height, mode)] += dxp[:, r]
    dx = rows[:, :, left : left + width].copy()
    for c in [*range(left), *range(left + width, left + width + right)]:
        dx[:, :, _source_index(c - left, width, mode)] += rows[:, :, c]
    return dx


# ---------------------------------------------------------------------- im2col / col2im


# --8<-- [start:conv-row-chunks]
def _row_chunks(rows: int, row_elements: int, itemsize: int) -> list[tuple[int, int]]:
    """Split ``rows`` output rows into chunks of at most ~CHUNK_BYTES of columns."""
    per_chunk = max(1, CHUNK_BYTES // max(1, row_elements * itemsize))
    return [(r, min(rows, r + per_chunk)) for r in range(0, rows, per_chunk)]


# --8<-- [end:conv-row-chunks]


Region = tuple[int, int, int, int]


def _clip(start: int, step: int, count: int, low: int, high: int) -> tuple[int, int]:
    """The indices ``t`` in ``[0, count)`` whose position ``start + t·step`` lies in
    ``[low, high)``, as a range ``[first, last)`` (empty when ``first == last``)."""
    first = max(0, -(-(low - start) // step))
    last = min(count, -(-(high - start) // step))
    return first, max(first, last)


def _tap_window(
    geometry: ConvGeometry, i: int, j: int, p0: int, p1: int, width: int, region: Region
) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """Where kernel tap (i, j)'s column gradients of output rows ``p0..p1-1`` (all
    ``width`` output columns) go inside ``region`` = (top, left, height, width) of the
    padded input: ``(destination rows, columns)`` relative to the region and the
    ``(rows, columns)`` of the chunk's columns that land there (positions outside the
    region are skipped)."""
    (sh, sw), (dh, dw) = geometry.stride, geometry.dilation
    top, left, height, wide = region
    r0, c0 = p0 * sh + i * dh, j * dw
    t0, t1 = _clip(r0, sh, p1 - p0, top, top + height)
    u0, u1 = _clip(c0, sw, width, left, left + wide)
    rows = slice(r0 + t0 * sh - top, r0 + (t1 - 1) * sh - top + 1, sh)
    columns = slice(c0 + u0 * sw - left, c0 + (u1 - 1) * sw - left + 1, sw)
    return (rows, columns), (slice(t0, t1), slice(u0, u1))


# --8<-- [start:conv-windows]
def _windows(xp: Array, geometry: ConvGeometry, p0: int, p1: int, wo: int) -> Array:
    """Every window of output rows ``p0..p1-1`` as one read-only (C, kh, kw, p1-p0, Wo, N)
    strided view of ``xp`` (no copy): element ``(c, i, j, p, q, n)`` is
    ``xp[c, (p0 + p)·s_h + i·d_h, q·s_w + j·d_w, n]``, the im2col matrix before its copy."""
    (sh, sw), (dh, dw) = geometry.stride, geometry.dilation
    kh, kw = geometry.kernel_size
    C, _, _, N = xp.shape
    sc, sy, sx, sn = xp.strides
    return np.lib.stride_tricks.as_strided(
        xp[:, p0 * sh :],
        shape=(C, kh, kw, p1 - p0, wo, N),
        strides=(sc, dh * sy, dw * sx, sh * sy, sw * sx, sn),
        writeable=False,
    )


# --8<-- [end:conv-windows]


# --8<-- [start:conv-im2col]
def _im2col(xp: Array, geometry: ConvGeometry, p0: int, p1: int, wo: int, cols: Array) -> Array:
    """Fill ``cols`` (C, kh, kw, p1-p0, Wo, N) with the columns of output rows ``p0..p1-1``.

    One copy of the :func:`_windows` view rather than kh·kw copies of slices. The copy runs in
    the order of ``cols``, channel by channel, so each channel of ``xp`` stays in cache
    while its kh·kw windows are read. Channels are independent: with several threads,
    blocks of them run on refnet's threads (:func:`refnet._parallel.for_blocks`).
    """
    windows = _windows(xp, geometry, p0, p1, wo)

    def block(channels: slice) -> None:
        np.copyto(cols[channels], windows[channels])

    for_blocks(block, cols, 0, cache_blocks=False)
    return cols


# --8<-- [end:conv-im2col]


def im2col(x: Array, geometry: ConvGeometry) -> Array:
    """The column matrix of a batched (N, C, H, W) input, as (C, kh, kw, Ho, Wo, N).

    Element ``(c, i, j, p, q, n)`` is ``xp[n, c, p·s_h + i·d_h, q·s_w + j·d_w]`` (``xp``
    padded with ``geometry.padding_mode``): the convolution's own padding and window
    view (:func:`_windows`), copied once. ``F.unfold`` is this matrix reshaped.
    """
    xp = _pad_batch_last(x, geometry)
    ho, wo = geometry.output_size(x.shape[2], x.shape[3])
    return np.ascontiguousarray(_windows(xp, geometry, 0, ho, wo))


def col2im(columns: Array, geometry: ConvGeometry, size: Pair) -> Array:
    """The adjoint of :func:`im2col` with zero padding: columns (C, kh, kw, Ho, Wo, N)
    added back into the (C, H, W, N) positions they were copied from (the parts of the
    windows over the padding dropped). ``F.fold`` is this sum; it is also the last step
    of a convolution's input gradient (:func:`_col2im`, the same code)."""
    C, _, _, ho, _, N = columns.shape
    top, _, left, _ = geometry.padding
    dx = np.zeros((C, size[0], size[1], N), dtype=columns.dtype)
    _col2im(dx, columns, geometry, 0, ho, (top, left, size[0], size[1]))
    return dx


def _scratch_columns(buffer: Array, xp: Array, geometry: ConvGeometry, rows: int, wo: int) -> Array:
    """The start of ``buffer`` viewed as the (C, kh, kw, rows, Wo, N) columns of a chunk."""
    C, N = xp.shape[0], xp.shape[3]
    kh, kw = geometry.kernel_size
    return buffer[: C * kh * kw * rows * wo * N].reshape(C, kh, kw, rows, wo, N)


def _col2im(
    dx: Array, cols: Array, geometry: ConvGeometry, p0: int, p1: int, region: Region
) -> None:
    """Add column gradients (C, kh, kw, p1-p0, Wo, N) back where im2col copied them from,
    into ``dx``, the part ``region`` = (top, left, height, width) of the padded input's
    gradient; the parts of windows outside it are skipped (for zero padding the region
    is the input itself: the padding's gradient would only be cropped, ~9% of the
    additions of a 3x3 layer at 14x14).

    Block by block of channels on refnet's threads, like :func:`_im2col`: the kh·kw
    additions into one block of ``dx`` find it in cache instead of sweeping the whole
    gradient kh·kw times.
    """
    kh, kw = geometry.kernel_size
    wo = cols.shape[4]

    def block(channels: slice) -> None:
        for i in range(kh):
            for j in range(kw):
                (rows, columns), (ps, qs) = _tap_window(geometry, i, j, p0, p1, wo, region)
                if ps.stop > ps.start and qs.stop > qs.start:
                    dx[channels, rows, columns] += cols[channels, i, j, ps, qs]

    for_blocks(block, cols, 0, cache_blocks=True)


def _fits(buffer: Array, size: int, dtype: np.dtype[Any]) -> bool:
    """Whether ``buffer`` can hold ``size`` elements of ``dtype`` as one flat array."""
    return buffer.dtype == dtype and buffer.size >= size and buffer.flags.c_contiguous


def _plan(
    rows: int, columns: int, width: int, batch: int, dtype: np.dtype[Any], whole: bool = False
) -> tuple[list[Pair], Array]:
    """Chunks of output rows, and a buffer for the largest chunk's columns (for all of
    them with ``whole``).

    ``columns`` is the number of rows of the column matrix (C·kh·kw, plus one for a row of
    ones, or the output channels if more): a chunk holds ``columns × (rows·Wo·N)`` values.
    """
    chunks = _row_chunks(rows, columns * width * batch, dtype.itemsize)
    largest = (rows if whole else chunks[0][1] - chunks[0][0]) * width * batch
    return chunks, np.empty(columns * largest, dtype=dtype)


# --8<-- [start:conv-bias-ones]
def _with_ones(buffer: Array, k: int, m: int) -> Array:
    """The (k + 1, m) matrix at the start of ``buffer``: im2col's k rows, then a row of ones.

    With the bias as an extra weight column, the GEMM adds it for free (no extra pass over
    the output), and the weight-gradient GEMM returns the bias gradient as its last column.
    """
    cols = buffer[: (k + 1) * m].reshape(k + 1, m)
    cols[k] = 1
    return cols


# --8<-- [end:conv-bias-ones]


def _column_matrix(buffer: Array, k: int, m: int, ones: bool) -> Array:
    """The (k, m) column matrix at the start of ``buffer``, with the row of ones below it
    (:func:`_with_ones`) when the bias rides in the GEMM."""
    return _with_ones(buffer, k, m) if ones else buffer[: k * m].reshape(k, m)


def _correlate(
    xp: Array,
    weight: Array,
    bias: Array | None,
    geometry: ConvGeometry,
    out_size: Pair,
    keep: bool = False,
    reuse: Array | None = None,
) -> tuple[Array, Array | None]:
    """``y = W · im2col(xp) + b`` in (O, Ho, Wo, N) layout, chunk by chunk of output rows.

    With ``keep``, the chunks' columns are written into one (C·kh·kw [+ 1], Ho·Wo·N)
    matrix that is returned (with its row of ones when the bias rides in the GEMM), for
    the weight gradient; otherwise a chunk-sized scratch buffer is reused. ``reuse``, a
    C-contiguous array no longer needed (the previous call's column matrix), holds the
    kept matrix if it is large enough (see :func:`conv2d_forward`).
    """
    C, _, _, N = xp.shape
    out_channels, g = weight.shape[0], geometry.groups
    ho, wo = out_size
    kh, kw = geometry.kernel_size
    k = C * kh * kw
    ones = bias is not None and g == 1
    w = weight.reshape(g, out_channels // g, -1)
    if ones:
        w = np.concatenate([w[0], bias.reshape(-1, 1)], axis=1)[None]  # type: ignore[union-attr]
    y = np.empty((out_channels, ho, wo, N), dtype=xp.dtype)
    chunks, buffer = _plan(ho, max(k + ones, out_channels), wo, N, xp.dtype, whole=keep)
    needed = (k + ones) * ho * wo * N
    if keep and reuse is not None and _fits(reuse, needed, xp.dtype):
        buffer = reuse.reshape(-1)
    columns = _column_matrix(buffer, k, ho * wo * N, ones) if keep else None
    for p0, p1 in chunks:
        m = (p1 - p0) * wo * N
        if columns is not None:
            first = p0 * wo * N
            full = columns[:k].reshape(C, kh, kw, ho, wo, N)
            _im2col(xp, geometry, p0, p1, wo, full[:, :, :, p0:p1])
            cols = columns[:, first : first + m]
        else:
            _im2col(xp, geometry, p0, p1, wo, _scratch_columns(buffer, xp, geometry, p1 - p0, wo))
            cols = _column_matrix(buffer, k, m, ones)
        out = y[:, p0:p1].reshape(g, out_channels // g, m)
        if g == 1:
            matmul_into(w[0], cols, out[0])  # in pieces if skinny (refnet._blas)
        else:
            np.matmul(w, cols.reshape(g, -1, m), out=out)
            if bias is not None:
                out += bias.reshape(g, out_channels // g, 1)
    return y, columns


# --8<-- [start:conv-input-gradient-dispatch]
def _transposed_correlate(
    a: Array, weight: Array, geometry: ConvGeometry, region: Region, channels: int
) -> Array:
    """col2im(Wᵀ · a): the transposed convolution of ``a`` (O, Ho, Wo, N), as the part
    ``region`` = (top, left, height, width) of the padded result, (C, height, width, N).
    The input gradient of a convolution; ConvTranspose2d's forward.

    The dispatch between its two fast paths: tap by tap when one group's per-tap
    products fit OpenBLAS's small-matrix kernel, else chunks of the column matrix.
    """
    out_channels, ho, wo, N = a.shape
    if geometry.groups == 1 and channels * out_channels * ho * wo * N <= SMALL_PRODUCT:
        return _transposed_correlate_by_taps(a, weight, geometry, region, channels)
    return _transposed_correlate_by_columns(a, weight, geometry, region, channels)


# --8<-- [end:conv-input-gradient-dispatch]


def _transposed_correlate_by_columns(
    a: Array, weight: Array, geometry: ConvGeometry, region: Region, channels: int
) -> Array:
    """Fast path of :func:`_transposed_correlate`: ``Wᵀ a`` one chunk of output rows at a
    time (one GEMM per group into a scratch buffer), each chunk's column gradients added
    back into their windows at once (:func:`_col2im`)."""
    out_channels, ho, wo, N = a.shape
    g = geometry.groups
    kh, kw = geometry.kernel_size
    k = channels * kh * kw
    wt = weight.reshape(g, out_channels // g, -1).transpose(0, 2, 1)  # (g, C/g·kh·kw, O/g)
    dx = np.zeros((channels, region[2], region[3], N), dtype=a.dtype)
    chunks, buffer = _plan(ho, max(k, out_channels), wo, N, a.dtype)
    for p0, p1 in chunks:
        m = (p1 - p0) * wo * N
        cols = buffer[: k * m].reshape(g, -1, m)
        ac = a[:, p0:p1].reshape(g, out_channels // g, m)
        if g == 1:
            np.matmul(wt[0], ac[0], out=cols[0])
        else:
            np.matmul(wt, ac, out=cols)
        _col2im(dx, cols.reshape(channels, kh, kw, p1 - p0, wo, N), geometry, p0, p1, region)
    return dx


# --8<-- [start:conv-input-gradient-by-taps]
def _transposed_correlate_by_taps(
    a: Array, weight: Array, geometry: ConvGeometry, region: Region, channels: int
) -> Array:
    """Fast path of :func:`_transposed_correlate` for one group, one kernel tap at a time.

    Row block ``(i, j)`` of ``Wᵀ a`` is ``w[:, :, i, j]ᵀ a`` (C × Ho·Wo·N); each is added
    into its window of the gradient as soon as it is formed, so the column matrix
    (kh·kw times larger) is never written out. Used when each tap's product is within
    OpenBLAS's small-matrix kernel (:mod:`refnet._blas`). Same sums in the same order as
    the GEMM and col2im.
    """
    out_channels, ho, wo, N = a.shape
    kh, kw = geometry.kernel_size
    taps = np.ascontiguousarray(weight.transpose(2, 3, 1, 0))  # (kh, kw, C, O)
    flat = a.reshape(out_channels, ho * wo * N)
    dx = np.zeros((channels, region[2], region[3], N), dtype=a.dtype)
    tap = np.empty((channels, ho, wo, N), dtype=a.dtype)
    for i in range(kh):
        for j in range(kw):
            (rows, columns), (ps, qs) = _tap_window(geometry, i, j, 0, ho, wo, region)
            if ps.stop > ps.start and qs.stop > qs.start:
                np.matmul(taps[i, j], flat, out=tap.reshape(channels, -1))
                dx[:, rows, columns] += tap[:, ps, qs]
    return dx


# --8<-- [end:conv-input-gradient-by-taps]


def _weight_gradient(
    a: Array, xp: Array, geometry: ConvGeometry, weight_shape: tuple[int, ...]
) -> Array:
    """``Σ_chunks a · im2col(xp)ᵀ``: the correlation of ``xp`` with ``a`` (O, Ho, Wo, N),
    the columns rebuilt chunk by chunk in a scratch buffer (a transposed convolution's
    weight gradient, whose forward kept only its input).

    Each chunk's product is formed as ``(cols · aᵀ)ᵀ``: the same numbers, but OpenBLAS
    runs this orientation of a short-and-wide product (a long sum over positions) faster
    than ``a · colsᵀ``.
    """
    out_channels, ho, wo, N = a.shape
    C = xp.shape[0]
    g = geometry.groups
    k = C * geometry.kernel_size[0] * geometry.kernel_size[1]
    grad = np.zeros((g, out_channels // g, k // g), dtype=a.dtype)
    chunks, buffer = _plan(ho, max(k, out_channels), wo, N, a.dtype)
    for p0, p1 in chunks:
        m = (p1 - p0) * wo * N
        scratch = _scratch_columns(buffer, xp, geometry, p1 - p0, wo)
        cols = _im2col(xp, geometry, p0, p1, wo, scratch).reshape(g, -1, m)
        ac = a[:, p0:p1].reshape(g, out_channels // g, m)
        grad += np.matmul(cols, ac.transpose(0, 2, 1)).transpose(0, 2, 1)
    return grad.reshape(weight_shape)


def _weight_gradient_from_columns(
    a: Array, columns: Array, groups: int, weight_shape: tuple[int, ...], sums: bool
) -> tuple[Array, Array | None]:
    """``a · Xᵀ`` from the column matrix ``X`` kept by the forward: one GEMM (per group),
    formed as ``(X aᵀ)ᵀ`` like :func:`_weight_gradient`. A row of ones in ``X`` (one
    group with a bias) makes the last column the bias gradient."""
    out_channels = a.shape[0]
    flat = a.reshape(groups, out_channels // groups, -1)
    k = math.prod(weight_shape[1:]) * groups
    if groups == 1:
        grad_t = matmul_transposed(columns, flat[0])  # in pieces if skinny (refnet._blas)
        grad_weight = grad_t[:k].T.reshape(weight_shape)
        if sums and columns.shape[0] > k:
            return grad_weight, grad_t[k].copy()
    else:
        grad_t = np.matmul(columns.reshape(groups, k // groups, -1), flat.transpose(0, 2, 1))
        grad_weight = grad_t.transpose(0, 2, 1).reshape(weight_shape)
    return grad_weight, _channel_sums(a) if sums else None


def _channel_sums(a: Array) -> Array:
    """``Σ_{h, w, n} a[o, h, w, n]`` for an (O, H, W, N) array, as one GEMV with ones."""
    flat = a.reshape(a.shape[0], -1)
    return flat @ np.ones(flat.shape[1], dtype=a.dtype)


# ---------------------------------------------------------------------- conv2d


# --8<-- [start:conv2d-forward]
def conv2d_forward(
    x: Array,
    weight: Array,
    bias: Array | None,
    geometry: ConvGeometry,
    reuse: ConvCache | None = None,
) -> tuple[Array, ConvCache]:
    """2-d convolution of a batched (N, C, H, W) input; returns ``(y, cache)``.

    ``y`` is an (N, O, Ho, Wo) view of a (O, Ho, Wo, N)-contiguous array. Shapes must have
    been validated (the modules do it, with messages that name the layer).

    ``reuse``: a cache that will not be used again (a layer's previous one), whose column
    matrix is overwritten when it is large enough. A layer then writes its columns into
    the same memory every step instead of a fresh allocation of kh·kw times its input,
    which the caches may not hold.
    """
    N, _, H, W = x.shape
    xp = _pad_batch_last(x, geometry)
    out_size = geometry.output_size(H, W)
    # The whole memory block the old columns were cut from (NumPy's ``base`` is the array
    # owning the memory), so a smaller batch in between does not shrink what is reused.
    old = None if reuse is None else reuse.columns
    if old is not None and isinstance(old.base, np.ndarray):
        old = old.base
    y, columns = _correlate(xp, weight, bias, geometry, out_size, keep=True, reuse=old)
    assert columns is not None
    cache = ConvCache(columns, (N, x.shape[1], H, W), (xp.shape[1], xp.shape[2]), geometry)
    return y.transpose(3, 0, 1, 2), cache


# --8<-- [end:conv2d-forward]


def conv2d_backward(
    grad_output: Array,
    weight: Array,
    cache: ConvCache,
    input_grad: bool = True,
    bias_grad: bool = True,
) -> tuple[Array | None, Array, Array | None]:
    """``(∂L/∂x, ∂L/∂w, ∂L/∂b)`` of a convolution, from ∂L/∂y (N, O, Ho, Wo).

    ``∂L/∂x`` is ``None`` when ``input_grad`` is false (nobody needs it: skip its GEMM
    and col2im), ``∂L/∂b`` when ``bias_grad`` is false.
    """
    geometry = cache.geometry
    _, C, H, W = cache.input_shape
    G = to_batch_last(grad_output)
    grad_weight, grad_bias = _weight_gradient_from_columns(
        G, cache.columns, geometry.groups, weight.shape, bias_grad
    )
    grad_input = None
    if input_grad:
        top, _, left, _ = geometry.padding
        if geometry.padding_mode == "zeros":  # the padding's gradient would be cropped
            dx = _transposed_correlate(G, weight, geometry, (top, left, H, W), C)
        else:
            dxp = _transposed_correlate(G, weight, geometry, (0, 0, *cache.padded_size), C)
            dx = _unpad(dxp, geometry, H, W)
        grad_input = dx.transpose(3, 0, 1, 2)
    return grad_input, grad_weight, grad_bias


# ---------------------------------------------------------------------- conv_transpose2d


@dataclass
class ConvTransposeCache:
    """A transposed convolution's backward needs its input, (C_in, H, W, N) layout."""

    x: Array
    geometry: ConvGeometry


def conv_transpose_output_size(
    height: int, width: int, geometry: ConvGeometry, output_padding: Pair
) -> Pair:
    """``(H - 1)·s - 2p + d·(k - 1) + output_padding + 1`` per axis (PyTorch's formula)."""
    top, _, left, _ = geometry.padding
    (eh, ew), (sh, sw) = geometry.dilated_kernel, geometry.stride
    return (
        (height - 1) * sh - 2 * top + eh + output_padding[0],
        (width - 1) * sw - 2 * left + ew + output_padding[1],
    )


def conv_transpose2d_forward(
    x: Array, weight: Array, bias: Array | None, geometry: ConvGeometry, output_padding: Pair
) -> tuple[Array, ConvTransposeCache]:
    """Transposed convolution of a batched (N, C_in, H, W) input; weight (C_in, C_out/g, kh, kw).

    It is the input gradient of the convolution from C_out to C_in channels with the same
    weight, stride, padding and dilation: ``col2im(Wᵀ x)``, then the padding cropped
    (rows past ``d·(k-1) + (H-1)·s`` are the output padding: zero before the bias).
    """
    _, _, H, W = x.shape
    c_out = weight.shape[1] * geometry.groups
    top, _, left, _ = geometry.padding
    ho, wo = conv_transpose_output_size(H, W, geometry, output_padding)
    xt = to_batch_last(x)
    y = _transposed_correlate(xt, weight, geometry, (top, left, ho, wo), c_out)
    if bias is not None:
        y += bias.reshape(-1, 1, 1, 1)
    return y.transpose(3, 0, 1, 2), ConvTransposeCache(xt, geometry)


def conv_transpose2d_backward(
    grad_output: Array,
    weight: Array,
    cache: ConvTransposeCache,
    input_grad: bool = True,
    bias_grad: bool = True,
) -> tuple[Array | None, Array, Array | None]:
    """``(∂L/∂x, ∂L/∂w, ∂L/∂b)`` of a transposed convolution.

    Its forward is linear in ``x`` with the convolution's input-gradient map, so its input
    gradient is the convolution itself: ``∂L/∂x = W · im2col(pad(G))``; its weight
    gradient is the correlation of ``pad(G)`` with ``x``: ``x · im2col(pad(G))ᵀ``.
    """
    geometry = cache.geometry
    padded = _pad_batch_last(grad_output, geometry)
    x = cache.x
    grad_weight = _weight_gradient(x, padded, geometry, weight.shape)
    grad_bias = _channel_sums(to_batch_last(grad_output)) if bias_grad else None
    grad_input = None
    if input_grad:
        y, _ = _correlate(padded, weight, None, geometry, (x.shape[1], x.shape[2]))
        grad_input = y.transpose(3, 0, 1, 2)
    return grad_input, grad_weight, grad_bias


# ---------------------------------------------------------------------- functional API


def _over_height(args: ConvArgs) -> ConvArgs:
    """1-d arguments as 2-d ones over a height of 1 (stride, dilation 1, no padding)."""
    padding = args.padding if isinstance(args.padding, str) else (0, *args.padding)
    return ConvArgs(
        (1, *args.stride),
        padding,
        (1, *args.dilation),
        args.groups,
        (0, *args.output_padding),
    )


def _pair(value: int | tuple[int, ...]) -> Pair:
    if isinstance(value, int):
        return value, value
    first, second = value
    return int(first), int(second)


def _geometry(
    weight: Array,
    stride: int | tuple[int, ...],
    padding: int | tuple[int, ...] | str,
    dilation: int | tuple[int, ...],
    groups: int,
) -> ConvGeometry:
    kernel = (int(weight.shape[2]), int(weight.shape[3]))
    dil = _pair(dilation)
    if padding == "same":
        pads = same_padding(kernel, dil)
    elif padding == "valid":
        pads = (0, 0, 0, 0)
    else:
        ph, pw = _pair(padding)  # type: ignore[arg-type]
        pads = (ph, ph, pw, pw)
    return ConvGeometry(kernel, _pair(stride), pads, dil, groups)


def _conv2d(x: Array, weight: Array, bias: Array | None, args: ConvArgs) -> Array:
    """:func:`conv2d` once its arguments are checked (2-tuples in ``args``)."""
    batched = x.ndim == 4
    xb = x if batched else x[None]
    geometry = _geometry(weight, args.stride, args.padding, args.dilation, args.groups)
    y, _ = conv2d_forward(xb, weight, bias, geometry)
    return y if batched else y[0]


def _conv_transpose2d(x: Array, weight: Array, bias: Array | None, args: ConvArgs) -> Array:
    """:func:`conv_transpose2d` once its arguments are checked (2-tuples in ``args``)."""
    batched = x.ndim == 4
    xb = x if batched else x[None]
    geometry = _geometry(weight, args.stride, args.padding, args.dilation, args.groups)
    y, _ = conv_transpose2d_forward(xb, weight, bias, geometry, _pair(args.output_padding))
    return y if batched else y[0]


def conv2d(
    x: Array,
    weight: Array,
    bias: Array | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] | str = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
) -> Array:
    """PyTorch's ``F.conv2d`` (forward only): (N, C, H, W) or (C, H, W) input."""
    args = check_conv("conv2d", 2, x, weight, bias, stride, padding, dilation, groups)
    return _conv2d(x, weight, bias, args)


def conv1d(
    x: Array,
    weight: Array,
    bias: Array | None = None,
    stride: int = 1,
    padding: int | str = 0,
    dilation: int = 1,
    groups: int = 1,
) -> Array:
    """PyTorch's ``F.conv1d`` (forward only): a 2-d convolution over a height of 1."""
    args = check_conv("conv1d", 1, x, weight, bias, stride, padding, dilation, groups)
    y = _conv2d(x[..., None, :], weight[:, :, None, :], bias, _over_height(args))
    return y[..., 0, :]


def conv_transpose2d(
    x: Array,
    weight: Array,
    bias: Array | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    output_padding: int | tuple[int, int] = 0,
    groups: int = 1,
    dilation: int | tuple[int, int] = 1,
) -> Array:
    """PyTorch's ``F.conv_transpose2d`` (forward only): (N, C, H, W) or (C, H, W) input."""
    args = check_conv_transpose(
        "conv_transpose2d", 2, x, weight, bias, stride, padding, output_padding, groups, dilation
    )
    return _conv_transpose2d(x, weight, bias, args)


def conv_transpose1d(
    x: Array,
    weight: Array,
    bias: Array | None = None,
    stride: int = 1,
    padding: int = 0,
    output_padding: int = 0,
    groups: int = 1,
    dilation: int = 1,
) -> Array:
    """PyTorch's ``F.conv_transpose1d``: a transposed 2-d convolution over a height of 1;
    (N, C, L) or (C, L) input, weight (C_in, C_out/groups, k)."""
    args = check_conv_transpose(
        "conv_transpose1d", 1, x, weight, bias, stride, padding, output_padding, groups, dilation
    )
    y = _conv_transpose2d(x[..., None, :], weight[:, :, None, :], bias, _over_height(args))
    return y[..., 0, :]


def conv_transpose1d_backward(
    grad: Array,
    x: Array,
    weight: Array,
    bias: Array | None = None,
    stride: int = 1,
    padding: int = 0,
    output_padding: int = 0,
    groups: int = 1,
    dilation: int = 1,
) -> tuple[Array, Array, Array | None]:
    """``(∂input, ∂weight, ∂bias)`` of :func:`conv_transpose1d` (``∂bias`` ``None``
    without a bias): :func:`conv_transpose2d_backward` over a height of 1."""
    name = "conv_transpose1d_backward"
    args = check_conv_transpose(
        name, 1, x, weight, bias, stride, padding, output_padding, groups, dilation
    )
    check_gradient(name, grad, conv_transpose_output_shape(x.shape, weight.shape, args))
    batched = x.ndim == 3
    x4 = (x if batched else x[None])[:, :, None, :]
    g4 = (grad if batched else grad[None])[:, :, None, :]
    w4 = weight[:, :, None, :]
    a2 = _over_height(args)
    geometry = _geometry(w4, a2.stride, a2.padding, a2.dilation, a2.groups)
    _, cache = conv_transpose2d_forward(x4, w4, None, geometry, _pair(a2.output_padding))
    dx, dw, db = conv_transpose2d_backward(g4, w4, cache, bias_grad=bias is not None)
    assert dx is not None
    dx1 = dx[:, :, 0, :]
    return (dx1 if batched else dx1[0]), dw[:, :, 0, :], db
