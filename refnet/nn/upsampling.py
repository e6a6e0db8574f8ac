"""Upsampling layers: ``Upsample``, ``UpsamplingNearest2d``, ``UpsamplingBilinear2d``.

Each resizes the spatial axes of an (N, C, L), (N, C, H, W) or (N, C, D, H, W) input
with :func:`refnet.nn.functional.upsampling.interpolate`: every output element is a
weighted sum of one (nearest) or two (linear) input elements per axis, so the layer is
linear and its backward applies the transposed weights to the gradient. The module
docstring of :mod:`refnet.nn.functional.upsampling` gives PyTorch's rules for the
source positions (``scale_factor`` versus ``size``, ``align_corners``,
``recompute_scale_factor``) and the derivation of the backward.
"""

from __future__ import annotations

from collections.abc import Sequence

from refnet._typing import Array
from refnet.nn._validation import float_input, same_shape_gradient
from refnet.nn.functional import upsampling as F
from refnet.nn.module import Module

SizeArg = int | Sequence[int] | None
ScaleArg = float | Sequence[float] | None


class Upsample(Module):
    """Resize the spatial axes (PyTorch: ``nn.Upsample(size=None, scale_factor=None,
    mode='nearest', align_corners=None, recompute_scale_factor=None)``).

    Input (N, C, d_1, ..., d_k), ``k = 1, 2, 3``; output (N, C, m_1, ..., m_k) with
    ``m_j = size[j]`` or ``⌊d_j · scale_factor[j]⌋``. ``mode`` is ``'nearest'``,
    ``'nearest-exact'``, ``'linear'`` (3-d input), ``'bilinear'`` (4-d) or
    ``'trilinear'`` (5-d); ``'bicubic'`` and ``'area'`` are not implemented.

    Along each axis ``y[o] = λ₀(o) x[i₀(o)] + λ₁(o) x[i₁(o)]``, i.e. ``y = x ×_j A_j``
    with one sparse (m_j, d_j) matrix per axis. Backward: the map is linear, so
    ``∂L/∂x = G ×_j A_jᵀ``: every output's gradient goes back to the elements it read,
    with the same weights.

    Caches the per-axis weights (a few numbers per output row/column), not the input.
    Unlike PyTorch's 1-d and 3-d ``'nearest'`` backward, the gradient is always the
    adjoint of the forward (see ``test_upsampling.py``).
    """

    def __init__(
        self,
        size: SizeArg = None,
        scale_factor: ScaleArg = None,
        mode: str = "nearest",
        align_corners: bool | None = None,
        recompute_scale_factor: bool | None = None,
    ) -> None:
        super().__init__()
        self.name = type(self).__name__
        self.size = size
        self.scale_factor: float | tuple[float, ...] | None
        if isinstance(scale_factor, tuple):
            self.scale_factor = tuple(float(f) for f in scale_factor)
        else:
            # PyTorch's rule, kept: a scale_factor of 0 means "none" (then size must be given).
            self.scale_factor = float(scale_factor) if scale_factor else None  # type: ignore[arg-type]
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor
        self._plan: F.InterpolationPlan | None = None

    def forward(self, x: Array) -> Array:
        x = float_input(self, x)
        plan = F.interpolate_plan(
            x.shape,
            x.dtype,
            self.size,
            self.scale_factor,
            self.mode,
            self.align_corners,
            self.recompute_scale_factor,
            owner=self.describe(),
        )
        self._plan = plan
        return F.interpolate_apply(x, plan)

    def backward(self, grad_output: Array) -> Array:
        plan = self._saved(self._plan)
        grad = same_shape_gradient(self, grad_output, plan.output_shape)
        return F.interpolate_gradient(grad, plan)

    def extra_repr(self) -> str:
        if self.scale_factor is not None:
            info = f"scale_factor={self.scale_factor!r}"
        else:
            info = f"size={self.size!r}"
        return f"{info}, mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """``Upsample(size, scale_factor, mode='nearest')`` for (N, C, H, W) input
    (PyTorch: ``nn.UpsamplingNearest2d``)."""

    def __init__(self, size: SizeArg = None, scale_factor: ScaleArg = None) -> None:
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """``Upsample(size, scale_factor, mode='bilinear', align_corners=True)`` for
    (N, C, H, W) input (PyTorch: ``nn.UpsamplingBilinear2d``): the corner pixels'
    centres stay aligned, ``s(o) = o · (n - 1) / (m - 1)``."""

    def __init__(self, size: SizeArg = None, scale_factor: ScaleArg = None) -> None:
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)
