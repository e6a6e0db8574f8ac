"""Sliding blocks: :func:`unfold` (im2col) and :func:`fold` (col2im), PyTorch's ``F.unfold``
and ``F.fold``.

``unfold`` copies every ``kh × kw`` block of the zero-padded input (N, C, H, W) into a
column: output (N, C·kh·kw, L) with ``L = Ho·Wo`` blocks in row-major order and row
``c·kh·kw + i·kw + j`` holding tap ``(i, j)`` of channel ``c``,

    U[n, (c, i, j), (p, q)] = xp[n, c, p·s_h + i·d_h, q·s_w + j·d_w],

``Ho = ⌊(H + 2p_h - d_h(kh - 1) - 1) / s_h⌋ + 1`` (likewise ``Wo``). It is the column
matrix of a convolution, and refnet computes it with the convolution's own im2col
(:func:`refnet.nn.functional.conv.im2col`): ``conv2d(x, w) = w.reshape(O, -1) @ unfold(x)``.

``fold`` is the adjoint: each column's entries are *added* back at the positions they
would have been copied from, into an (N, C, H, W) output of ``output_size`` (positions
over the padding dropped), with the convolution's col2im
(:func:`refnet.nn.functional.conv.col2im`).

**Backward.** ``unfold`` is a linear copy, ``U = S x`` with a 0/1 selection matrix
``S``; ``fold`` is ``Sᵀ``. So ``∂L/∂x`` of unfold is ``Sᵀ G = fold(G)`` (each element's
gradient is the sum over every block that copied it), and ``∂L/∂cols`` of fold is
``S G = unfold(G)``. :func:`unfold_reference` and :func:`fold_reference` are the plain
loops over blocks that the tests hold the kernels to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from refnet._typing import Array
from refnet.nn.functional import conv as C

__all__ = [
    "BlockGeometry",
    "block_geometry",
    "fold",
    "fold_backward",
    "fold_columns",
    "fold_reference",
    "unfold",
    "unfold_backward",
    "unfold_columns",
    "unfold_reference",
]

IntOrPair = int | Sequence[int]


def _pair(value: IntOrPair, name: str, owner: str) -> tuple[int, int]:
    items = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(items) != 2 or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in items
    ):
        raise ValueError(f"{owner}: {name} must be an int or a pair of ints, got {value!r}")
    return int(items[0]), int(items[1])


@dataclass(frozen=True)
class BlockGeometry:
    """The blocks of an (H, W) plane: the convolution geometry and the block counts."""

    conv: C.ConvGeometry
    size: tuple[int, int]
    blocks: tuple[int, int]

    @property
    def kernel_elements(self) -> int:
        """``kh · kw``: the rows per channel of the column matrix."""
        return self.conv.kernel_size[0] * self.conv.kernel_size[1]


def block_geometry(
    size: tuple[int, int],
    kernel_size: IntOrPair,
    dilation: IntOrPair,
    padding: IntOrPair,
    stride: IntOrPair,
    owner: str,
) -> BlockGeometry:
    """Check the block arguments as PyTorch does (positive kernel, dilation and stride,
    non-negative padding, at least one block) for an (H, W) plane of ``size``."""
    kernel = _pair(kernel_size, "kernel_size", owner)
    dil = _pair(dilation, "dilation", owner)
    pad = _pair(padding, "padding", owner)
    step = _pair(stride, "stride", owner)
    for name, values, low in (
        ("kernel_size", kernel, 1),
        ("dilation", dil, 1),
        ("stride", step, 1),
        ("padding", pad, 0),
    ):
        if min(values) < low:
            raise ValueError(f"{owner}: {name} must be at least {low}, got {values}")
    geometry = C.ConvGeometry(kernel, step, (pad[0], pad[0], pad[1], pad[1]), dil)
    blocks = geometry.output_size(*size)
    if min(blocks) < 1:
        raise ValueError(
            f"{owner}: given a plane of size {size}, kernel_size={kernel}, dilation={dil}, "
            f"padding={pad}, stride={step}, the array of sliding blocks would be {blocks}, "
            "but its components must be at least one"
        )
    return BlockGeometry(geometry, size, blocks)


def unfold_columns(x: Array, geometry: BlockGeometry) -> Array:
    """The unfold kernel: batched (N, C, H, W) to (N, C·kh·kw, L)."""
    cols = C.im2col(x, geometry.conv)  # (C, kh, kw, Ho, Wo, N)
    channels, n = cols.shape[0], cols.shape[-1]
    ho, wo = geometry.blocks
    flat = cols.reshape(channels * geometry.kernel_elements, ho * wo, n)
    return np.ascontiguousarray(flat.transpose(2, 0, 1))


def fold_columns(cols: Array, geometry: BlockGeometry) -> Array:
    """The fold kernel: batched (N, C·kh·kw, L) to (N, C, H, W), overlaps summed."""
    n, rows, _ = cols.shape
    (kh, kw), (ho, wo) = geometry.conv.kernel_size, geometry.blocks
    six = cols.reshape(n, rows // (kh * kw), kh, kw, ho, wo).transpose(1, 2, 3, 4, 5, 0)
    dx = C.col2im(np.ascontiguousarray(six), geometry.conv, geometry.size)
    return np.ascontiguousarray(dx.transpose(3, 0, 1, 2))


def _unfold_checked(input: Array, owner: str) -> tuple[Array, bool]:
    x = np.asarray(input)
    if x.ndim not in (3, 4) or 0 in x.shape[-3:]:
        raise ValueError(
            f"{owner}: expected a non-empty 3-d (C, H, W) or 4-d (N, C, H, W) input, "
            f"got shape {x.shape}"
        )
    return (x if x.ndim == 4 else x[None]), x.ndim == 4


def _fold_checked(
    input: Array,
    geometry_args: tuple[IntOrPair, IntOrPair, IntOrPair, IntOrPair],
    output_size: IntOrPair,
    owner: str,
) -> tuple[Array, bool, BlockGeometry]:
    x = np.asarray(input)
    if x.ndim not in (2, 3) or 0 in x.shape[-2:]:
        raise ValueError(
            f"{owner}: expected a non-empty 2-d (C·kh·kw, L) or 3-d (N, C·kh·kw, L) input, "
            f"got shape {x.shape}"
        )
    size = _pair(output_size, "output_size", owner)
    geometry = block_geometry(size, *geometry_args, owner=owner)
    rows, length = x.shape[-2:]
    k = geometry.kernel_elements
    if rows % k:
        raise ValueError(
            f"{owner}: expected size of input's dimension {x.ndim - 2} to be divisible by "
            f"the product of kernel_size ({k}), got input of shape {x.shape}"
        )
    ho, wo = geometry.blocks
    if length != ho * wo:
        raise ValueError(
            f"{owner}: output_size={size} with these blocks gives {ho} * {wo} = {ho * wo} "
            f"sliding blocks, but the input's last dimension is {length} (shape {x.shape})"
        )
    return (x if x.ndim == 3 else x[None]), x.ndim == 3, geometry


def unfold(
    input: Array,
    kernel_size: IntOrPair,
    dilation: IntOrPair = 1,
    padding: IntOrPair = 0,
    stride: IntOrPair = 1,
) -> Array:
    """Every sliding block of ``input`` (N, C, H, W) or (C, H, W) as a column:
    (N, C·kh·kw, L) or (C·kh·kw, L). PyTorch's ``F.unfold``."""
    x, batched = _unfold_checked(input, "unfold")
    geometry = block_geometry(x.shape[2:], kernel_size, dilation, padding, stride, "unfold")
    cols = unfold_columns(x, geometry)
    return cols if batched else cols[0]


def unfold_backward(
    grad: Array,
    input: Array,
    kernel_size: IntOrPair,
    dilation: IntOrPair = 1,
    padding: IntOrPair = 0,
    stride: IntOrPair = 1,
) -> Array:
    """∂L/∂input of :func:`unfold`: ``fold(grad)`` back to ``input``'s shape."""
    x, _ = _unfold_checked(input, "unfold_backward")
    return fold(grad, x.shape[2:], kernel_size, dilation, padding, stride)


def fold(
    input: Array,
    output_size: IntOrPair,
    kernel_size: IntOrPair,
    dilation: IntOrPair = 1,
    padding: IntOrPair = 0,
    stride: IntOrPair = 1,
) -> Array:
    """Sum columns (N, C·kh·kw, L) or (C·kh·kw, L) back into (N, C, H, W) or (C, H, W)
    blocks, ``(H, W) = output_size``. PyTorch's ``F.fold``."""
    x, batched, geometry = _fold_checked(
        input, (kernel_size, dilation, padding, stride), output_size, "fold"
    )
    y = fold_columns(x, geometry)
    return y if batched else y[0]


def fold_backward(
    grad: Array,
    input: Array,
    output_size: IntOrPair,
    kernel_size: IntOrPair,
    dilation: IntOrPair = 1,
    padding: IntOrPair = 0,
    stride: IntOrPair = 1,
) -> Array:
    """∂L/∂input of :func:`fold`: ``unfold(grad)``, the columns' shape."""
    _fold_checked(input, (kernel_size, dilation, padding, stride), output_size, "fold_backward")
    return unfold(grad, kernel_size, dilation, padding, stride)


# ---------------------------------------------------------------------- reference kernels


def unfold_reference(x: Array, geometry: BlockGeometry) -> Array:
    """:func:`unfold_columns` block by block: block ``(p, q)`` of the zero-padded input,
    flattened channel by channel, is column ``p·Wo + q``."""
    top, bottom, left, right = geometry.conv.padding
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    ho, wo = geometry.blocks
    cols = np.zeros((x.shape[0], x.shape[1] * geometry.kernel_elements, ho * wo), x.dtype)
    for p in range(ho):
        for q in range(wo):
            rows, columns = C._window_reference(geometry.conv, p, q)
            cols[:, :, p * wo + q] = xp[:, :, rows, columns].reshape(x.shape[0], -1)
    return cols


def fold_reference(cols: Array, geometry: BlockGeometry) -> Array:
    """:func:`fold_columns` block by block: column ``p·Wo + q`` added into block ``(p, q)``
    of a zero-padded canvas, whose padding is then cropped."""
    top, bottom, left, right = geometry.conv.padding
    (h, w), (ho, wo) = geometry.size, geometry.blocks
    (kh, kw), n = geometry.conv.kernel_size, cols.shape[0]
    channels = cols.shape[1] // (kh * kw)
    canvas = np.zeros((n, channels, h + top + bottom, w + left + right), cols.dtype)
    for p in range(ho):
        for q in range(wo):
            rows, columns = C._window_reference(geometry.conv, p, q)
            canvas[:, :, rows, columns] += cols[:, :, p * wo + q].reshape(n, channels, kh, kw)
    return canvas[:, :, top : top + h, left : left + w].copy()
