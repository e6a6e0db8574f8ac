"""Sliding-block layers: ``Unfold`` (im2col) and ``Fold`` (col2im).

``Unfold`` turns every ``kh × kw`` block of an image into a column (the column matrix
of a convolution); ``Fold`` sums columns back into an image. Each is the other's
adjoint, so each one's backward is the other's forward. The kernels, which are the
convolution's own im2col and col2im, and the derivation are in
:mod:`refnet.nn.functional.blocks`.
"""

from __future__ import annotations

from refnet._typing import Array
from refnet.nn._validation import float_input, same_shape_gradient, shape_error
from refnet.nn.functional import blocks as F
from refnet.nn.module import Module

IntOrPair = F.IntOrPair


class _Blocks(Module):
    """Shared by Fold and Unfold: the block arguments, kept as given (PyTorch's way)."""

    def __init__(
        self, kernel_size: IntOrPair, dilation: IntOrPair, padding: IntOrPair, stride: IntOrPair
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride
        self._geometry: F.BlockGeometry | None = None
        self._batched = True
        self._output_shape: tuple[int, ...] | None = None

    def _geometry_for(self, size: tuple[int, int]) -> F.BlockGeometry:
        return F.block_geometry(
            size, self.kernel_size, self.dilation, self.padding, self.stride, self.describe()
        )

    def _blocks_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, dilation={self.dilation}, "
            f"padding={self.padding}, stride={self.stride}"
        )


class Unfold(_Blocks):
    """Extract sliding blocks as columns (PyTorch: ``nn.Unfold(kernel_size, dilation=1,
    padding=0, stride=1)``).

    (N, C, H, W) or (C, H, W) → (N, C·kh·kw, L) or (C·kh·kw, L), ``L = Ho·Wo``:
    ``U[n, (c, i, j), (p, q)] = xp[n, c, p·s_h + i·d_h, q·s_w + j·d_w]``, ``xp``
    zero-padded by ``padding``. Backward: an element's gradient is the sum of the
    gradients of all its copies, ``∂L/∂x = fold(G)``.

    Caches only the block geometry.
    """

    def __init__(
        self,
        kernel_size: IntOrPair,
        dilation: IntOrPair = 1,
        padding: IntOrPair = 0,
        stride: IntOrPair = 1,
    ) -> None:
        super().__init__(kernel_size, dilation, padding, stride)

    def forward(self, x: Array) -> Array:
        x = float_input(self, x)
        if x.ndim not in (3, 4) or 0 in x.shape[-3:]:
            raise shape_error(self, "(N, C, H, W) or (C, H, W), non-empty", x)
        self._batched = x.ndim == 4
        x4 = x if self._batched else x[None]
        geometry = self._geometry_for((x4.shape[2], x4.shape[3]))
        self._geometry = geometry
        y = F.unfold_columns(x4, geometry)
        out = y if self._batched else y[0]
        self._output_shape = out.shape
        return out

    def backward(self, grad_output: Array) -> Array:
        geometry = self._saved(self._geometry)
        g = same_shape_gradient(self, grad_output, self._saved(self._output_shape))
        dx = F.fold_columns(g if self._batched else g[None], geometry)
        return dx if self._batched else dx[0]

    def extra_repr(self) -> str:
        return self._blocks_repr()


class Fold(_Blocks):
    """Sum columns back into an image (PyTorch: ``nn.Fold(output_size, kernel_size,
    dilation=1, padding=0, stride=1)``).

    (N, C·kh·kw, L) or (C·kh·kw, L) → (N, C, H, W) or (C, H, W), ``(H, W) =
    output_size``, ``L`` must be the number of blocks: ``y[n, c, u, v] = Σ`` of the
    column entries ``(c, i, j), (p, q)`` with ``u = p·s_h + i·d_h - p_h`` and
    ``v = q·s_w + j·d_w - p_w`` (overlapping blocks add). Backward: each column entry
    reads the gradient of the position it was added to, ``∂L/∂cols = unfold(G)``.

    Caches only the block geometry.
    """

    def __init__(
        self,
        output_size: IntOrPair,
        kernel_size: IntOrPair,
        dilation: IntOrPair = 1,
        padding: IntOrPair = 0,
        stride: IntOrPair = 1,
    ) -> None:
        super().__init__(kernel_size, dilation, padding, stride)
        self.output_size = output_size

    def forward(self, x: Array) -> Array:
        x = float_input(self, x)
        if x.ndim not in (2, 3) or 0 in x.shape[-2:]:
            raise shape_error(self, "(N, C·kh·kw, L) or (C·kh·kw, L), non-empty", x)
        self._batched = x.ndim == 3
        x3 = x if self._batched else x[None]
        geometry = self._geometry_for(F._pair(self.output_size, "output_size", self.describe()))
        k, (ho, wo) = geometry.kernel_elements, geometry.blocks
        if x3.shape[1] % k or x3.shape[2] != ho * wo:
            raise shape_error(
                self, f"(N, C·{k}, {ho * wo}) or (C·{k}, {ho * wo}): {ho}·{wo} blocks", x
            )
        self._geometry = geometry
        y = F.fold_columns(x3, geometry)
        out = y if self._batched else y[0]
        self._output_shape = out.shape
        return out

    def backward(self, grad_output: Array) -> Array:
        geometry = self._saved(self._geometry)
        g = same_shape_gradient(self, grad_output, self._saved(self._output_shape))
        cols = F.unfold_columns(g if self._batched else g[None], geometry)
        return cols if self._batched else cols[0]

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}, {self._blocks_repr()}"
