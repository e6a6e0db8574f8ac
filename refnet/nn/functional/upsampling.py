"""Interpolation kernels: :func:`interpolate` (PyTorch: ``torch.nn.functional.interpolate``).

Input ``(N, C, d_1, ..., d_k)`` with ``k = 1, 2, 3`` spatial axes; every spatial axis is
resized on its own, so the whole map is separable: along one axis of input size ``n``
and output size ``m``, output position ``o`` is a weighted sum of at most two input
positions,

    y[o] = λ₀(o) · x[i₀(o)] + λ₁(o) · x[i₁(o)],

which is a product with an ``(m, n)`` matrix ``A`` (row ``o`` holds ``λ₀`` at ``i₀`` and
``λ₁`` at ``i₁``). The ``k``-axis interpolation is ``A_1`` applied along axis 1, then
``A_2`` along axis 2, ...: ``y = x ×₁ A_1 ×₂ A_2 ⋯``.

**Backward.** The map is linear in ``x``, so its gradient is the transposed map:
``∂L/∂x = G ×₁ A_1ᵀ ×₂ A_2ᵀ ⋯``. Each output's gradient goes back to the (one or two)
input positions it read, weighted by the same ``λ``; for ``'nearest'`` that is a sum of
the gradients of all the outputs that copied one input.

**Where the source positions come from (PyTorch's rules, followed to the bit).** With
``scale_factor`` given and ``recompute_scale_factor`` not true, the output size is
``⌊n · scale_factor⌋`` and the *user's* factor sets the source positions (``r = 1 /
scale_factor``); with ``size`` (or ``recompute_scale_factor=True``) they come from the
sizes, ``r = n / m``. The two differ when ``n · scale_factor`` is not an integer:
``scale_factor=2.1`` on 5 elements gives 10 outputs read at ``o / 2.1``, not ``o / 2``.

* ``'nearest'``: ``i(o) = min(⌊o · r⌋, n - 1)``, with ``r`` and the product rounded to
  float32 as PyTorch's CPU kernel does (OpenCV's rule, which is not symmetric);
* ``'nearest-exact'``: ``i(o) = min(⌊(o + ½) · r⌋, n - 1)`` (Pillow's and SciPy's);
* ``'linear'``, ``'bilinear'``, ``'trilinear'`` (3-, 4-, 5-d input): the source
  coordinate is ``s(o) = r · (o + ½) - ½`` clamped at 0 (pixel centres aligned), or
  with ``align_corners=True`` ``s(o) = o · (n - 1) / (m - 1)`` (the corner pixels'
  centres aligned; ``scale_factor`` then only sets the size). Then ``i₀ = ⌊s⌋``
  (clamped to ``n - 1``), ``i₁ = i₀ + 1`` (or ``i₀`` at the last element),
  ``λ₁ = s - i₀``, ``λ₀ = 1 - λ₁``. ``r`` and ``s`` are computed in the input's dtype.

``'bicubic'``, ``'area'`` and ``antialias=True`` are not implemented (a clear
``NotImplementedError``). The fast kernel applies one BLAS product per axis;
:func:`interpolate_reference` and :func:`interpolate_backward_reference` are the plain
loops over output positions that the tests hold it to.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from refnet._typing import Array

__all__ = [
    "AxisWeights",
    "InterpolationPlan",
    "InterpolationRankError",
    "axis_weights",
    "interpolate",
    "interpolate_apply",
    "interpolate_backward",
    "interpolate_backward_reference",
    "interpolate_gradient",
    "interpolate_plan",
    "interpolate_reference",
]

MODES = ("nearest", "nearest-exact", "linear", "bilinear", "trilinear")
_LINEAR_RANK = {"linear": 3, "bilinear": 4, "trilinear": 5}
_NOT_IMPLEMENTED = ("bicubic", "area", "lanczos")

SizeArg = int | Sequence[int] | None


class InterpolationRankError(ValueError, NotImplementedError):
    """A linear mode given an input of another rank ('bilinear' needs 4-d input).

    PyTorch raises ``NotImplementedError``; refnet's layers refuse bad shapes with a
    ``ValueError``. This error is both, so either ``except`` catches it.
    """


ScaleArg = float | Sequence[float] | None


@dataclass(frozen=True)
class AxisWeights:
    """One spatial axis: output ``o`` reads ``λ₀[o] · x[i₀[o]] + λ₁[o] · x[i₁[o]]``."""

    index0: Array
    index1: Array
    weight0: Array
    weight1: Array
    in_size: int

    @property
    def out_size(self) -> int:
        """The number of output positions ``m``."""
        return int(self.index0.shape[0])

    def matrix(self) -> Array:
        """The ``(m, n)`` interpolation matrix ``A`` of this axis."""
        a = np.zeros((self.out_size, self.in_size), dtype=self.weight0.dtype)
        rows = np.arange(self.out_size)
        a[rows, self.index0] += self.weight0
        a[rows, self.index1] += self.weight1
        return a


def axis_weights(
    in_size: int,
    out_size: int,
    scale_factor: float | None,
    mode: str,
    align_corners: bool,
    dtype: np.dtype[np.floating],
    shortcuts: bool = False,
) -> AxisWeights:
    """Source indices and weights of one axis, by PyTorch's rules (module docstring).

    ``shortcuts``: ``'nearest'`` with ``m = n`` copies ``i(o) = o`` and with ``m = 2n``
    reads ``i(o) = ⌊o / 2⌋``, whatever ``scale_factor`` says (PyTorch's 2-d kernel).
    """
    dst = np.arange(out_size)
    if mode == "nearest" and shortcuts and out_size in (in_size, 2 * in_size):
        index = dst if out_size == in_size else dst // 2
        ones = np.ones(out_size, dtype=dtype)
        return AxisWeights(index, index, ones, np.zeros_like(ones), in_size)
    if mode in ("nearest", "nearest-exact"):
        if scale_factor is not None and scale_factor > 0:
            r = np.float32(1.0 / scale_factor)
        else:
            r = np.float32(in_size) / np.float32(out_size)
        if mode == "nearest":
            real = dst.astype(np.float32) * r  # a float32 product, as in PyTorch
        else:
            real = ((dst + 0.5) * float(r)).astype(np.float32)
        index = np.minimum(np.floor(real).astype(np.int64), in_size - 1)
        ones = np.ones(out_size, dtype=dtype)
        return AxisWeights(index, index, ones, np.zeros_like(ones), in_size)
    if out_size == in_size:
        # PyTorch copies an axis whose size does not change, whatever scale_factor says.
        index = np.arange(in_size)
        ones = np.ones(out_size, dtype=dtype)
        return AxisWeights(index, index, ones, np.zeros_like(ones), in_size)
    t = dtype.type
    if align_corners:
        scale = t(in_size - 1) / t(out_size - 1) if out_size > 1 else t(0)
    elif scale_factor is not None and scale_factor > 0:
        scale = t(1.0 / scale_factor)
    else:
        scale = t(in_size) / t(out_size)
    d = dst.astype(dtype)
    # Pixel centres aligned (clamped at 0), or with align_corners the corner centres.
    real = scale * d if align_corners else np.maximum(scale * (d + t(0.5)) - t(0.5), t(0))
    # PyTorch floors the coordinate as a float32 (floorf) in every dtype.
    index0 = np.minimum(np.floor(real.astype(np.float32)).astype(np.int64), in_size - 1)
    weight1 = np.clip(real - index0.astype(dtype), t(0), t(1)).astype(dtype)
    index1 = index0 + (index0 < in_size - 1)
    return AxisWeights(index0, index1, (t(1) - weight1).astype(dtype), weight1, in_size)


@dataclass(frozen=True)
class InterpolationPlan:
    """Everything the kernels need: each spatial axis's weights and the input shape."""

    axes: tuple[AxisWeights, ...]
    input_shape: tuple[int, ...]

    @property
    def output_shape(self) -> tuple[int, ...]:
        """``(N, C, m_1, ..., m_k)``."""
        return (*self.input_shape[:2], *(a.out_size for a in self.axes))


def _as_list(value: object, k: int, what: str, shape: tuple[int, ...]) -> list[object]:
    if isinstance(value, (list, tuple)):
        if len(value) != k:
            raise ValueError(
                f"interpolate: input with spatial dimensions of {list(shape[2:])} and {what} "
                f"of {value!r} do not have the same number of spatial dimensions"
            )
        return list(value)
    return [value] * k


def _is_int(v: object) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def interpolate_plan(
    shape: tuple[int, ...],
    dtype: np.dtype[np.floating],
    size: SizeArg = None,
    scale_factor: ScaleArg = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
    antialias: bool = False,
    owner: str = "interpolate",
) -> InterpolationPlan:
    """Check the arguments as PyTorch does and compute every axis's weights.

    Raises ``ValueError`` for PyTorch's refusals (``align_corners`` with a nearest mode,
    both or neither of ``size`` and ``scale_factor``, a count of sizes or factors other
    than the spatial rank, ``recompute_scale_factor=True`` with ``size``, an empty
    input or output) and ``NotImplementedError`` for a mode that needs another rank or
    that refnet lacks.
    """
    if mode in _NOT_IMPLEMENTED or antialias:
        raise NotImplementedError(
            f"{owner}: mode={mode!r}"
            + (" with antialias=True" if antialias else "")
            + f" is not implemented in refnet; the modes are {MODES}"
        )
    if mode not in MODES:
        raise ValueError(f"{owner}: mode must be one of {MODES}, got {mode!r}")
    nearest = mode.startswith("nearest")
    if nearest and align_corners is not None:
        raise ValueError(
            f"{owner}: align_corners option can only be set with the interpolating modes: "
            "linear | bilinear | bicubic | trilinear"
        )
    if len(shape) not in (3, 4, 5):
        raise ValueError(
            f"{owner}: expected a 3-d, 4-d or 5-d input (N, C, d_1, ...), got shape {shape}"
        )
    if not nearest and len(shape) != _LINEAR_RANK[mode]:
        raise InterpolationRankError(
            f"{owner}: got {len(shape)}D input, but {mode} mode needs "
            f"{_LINEAR_RANK[mode]}D input (shape {shape})"
        )
    k = len(shape) - 2
    if size is not None and scale_factor is not None:
        raise ValueError(f"{owner}: only one of size or scale_factor should be defined")
    if size is None and scale_factor is None:
        raise ValueError(f"{owner}: either size or scale_factor should be defined")
    if recompute_scale_factor and size is not None:
        raise ValueError(
            f"{owner}: recompute_scale_factor is not meaningful with an explicit size."
        )
    scales: list[float | None]
    if size is not None:
        sizes = _as_list(size, k, "output size", shape)
        if not all(_is_int(s) for s in sizes):
            raise TypeError(f"{owner}: size must be an int or a tuple of ints, got {size!r}")
        out = [int(s) for s in sizes]  # type: ignore[call-overload]
        scales = [None] * k
    else:
        factors = _as_list(scale_factor, k, "scale_factor", shape)
        if not all(isinstance(f, (int, float, np.integer, np.floating)) for f in factors):
            raise TypeError(f"{owner}: scale_factor must be a number or a tuple of numbers")
        given = [float(f) for f in factors]  # type: ignore[arg-type]
        if any(not math.isfinite(f) or f <= 0 for f in given):
            raise ValueError(f"{owner}: scale_factor must be positive, got {scale_factor!r}")
        out = [int(n * f) for n, f in zip(shape[2:], given, strict=True)]
        scales = list(given)
        if recompute_scale_factor:
            scales = [None] * k
    # As PyTorch: an empty batch is fine, empty channels or spatial axes are not.
    if 0 in shape[1:] or any(m < 1 for m in out):
        raise ValueError(
            f"{owner}: input and output sizes should be greater than 0, got input {shape} "
            f"and output size {tuple(out)}"
        )
    corners = bool(align_corners)
    shortcuts = len(shape) == 4  # PyTorch's 2-d nearest kernel has them; 1-d and 3-d not
    axes = tuple(
        axis_weights(n, m, s, mode, corners, dtype, shortcuts)
        for n, m, s in zip(shape[2:], out, scales, strict=True)
    )
    return InterpolationPlan(axes, tuple(shape))


def _along(x: Array, axis: int, matrix: Array) -> Array:
    """``x`` with ``matrix`` (m, n) applied along ``axis`` (size n becomes m)."""
    moved = np.moveaxis(x, axis, -1)
    return np.moveaxis(moved @ matrix.T, -1, axis)


def interpolate_apply(x: Array, plan: InterpolationPlan) -> Array:
    """The forward kernel: one product with ``A_j`` along each spatial axis ``j``."""
    y = x
    for j, weights in enumerate(plan.axes):
        y = _along(y, 2 + j, weights.matrix())
    return np.ascontiguousarray(y)


def interpolate_gradient(grad: Array, plan: InterpolationPlan) -> Array:
    """The backward kernel: ``∂L/∂x = G`` with ``A_jᵀ`` applied along each spatial axis."""
    g = grad
    for j, weights in enumerate(plan.axes):
        g = _along(g, 2 + j, weights.matrix().T)
    return np.ascontiguousarray(g)


def interpolate(
    input: Array,
    size: SizeArg = None,
    scale_factor: ScaleArg = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
    antialias: bool = False,
) -> Array:
    """Resize the spatial axes of ``input`` (N, C, d_1, ..., d_k), PyTorch's ``F.interpolate``.

    ``size`` (an int or one per axis) or ``scale_factor`` (a number or one per axis),
    ``mode`` one of ``'nearest'``, ``'nearest-exact'``, ``'linear'`` (3-d input),
    ``'bilinear'`` (4-d), ``'trilinear'`` (5-d); the module docstring gives the rules.
    """
    plan = interpolate_plan(
        np.shape(input),
        np.asarray(input).dtype,
        size,
        scale_factor,
        mode,
        align_corners,
        recompute_scale_factor,
        antialias,
    )
    return interpolate_apply(input, plan)


def interpolate_backward(
    grad: Array,
    input: Array,
    size: SizeArg = None,
    scale_factor: ScaleArg = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
    antialias: bool = False,
) -> Array:
    """∂L/∂input of :func:`interpolate` from ``grad = ∂L/∂output`` (only ``input``'s shape
    and dtype are read): the transposed interpolation of ``grad``."""
    plan = interpolate_plan(
        np.shape(input),
        np.asarray(input).dtype,
        size,
        scale_factor,
        mode,
        align_corners,
        recompute_scale_factor,
        antialias,
    )
    if np.shape(grad) != plan.output_shape:
        raise ValueError(
            f"interpolate_backward: expected grad of shape {plan.output_shape}, "
            f"got {np.shape(grad)}"
        )
    return interpolate_gradient(grad, plan)


# ---------------------------------------------------------------------- reference kernels


def _taps(
    plan: InterpolationPlan, position: tuple[int, ...]
) -> list[tuple[tuple[int, ...], float]]:
    """The input positions output ``position`` reads, each with its weight ``Π_j λ``."""
    per_axis = [
        ((int(a.index0[o]), float(a.weight0[o])), (int(a.index1[o]), float(a.weight1[o])))
        for a, o in zip(plan.axes, position, strict=True)
    ]
    taps = []
    for choice in itertools.product(*per_axis):
        taps.append((tuple(i for i, _ in choice), math.prod(w for _, w in choice)))
    return taps


def _planes(position: tuple[int, ...]) -> tuple[Any, ...]:
    """The index of one spatial position in every (n, c) plane."""
    return (slice(None), slice(None), *position)


def interpolate_reference(input: Array, plan: InterpolationPlan) -> Array:
    """:func:`interpolate_apply` as a loop over output positions, each the weighted sum of
    the ``2^k`` input positions it reads (``λ₁ = 0`` taps included)."""
    y = np.zeros(plan.output_shape, dtype=input.dtype)
    for position in np.ndindex(*plan.output_shape[2:]):
        out = _planes(position)
        for source, weight in _taps(plan, position):
            y[out] += weight * input[_planes(source)]
    return y


def interpolate_backward_reference(grad: Array, plan: InterpolationPlan) -> Array:
    """:func:`interpolate_gradient` as a loop: each output's gradient, times each tap's
    weight, added onto the input position that tap read."""
    dx = np.zeros(plan.input_shape, dtype=grad.dtype)
    for position in np.ndindex(*plan.output_shape[2:]):
        out = _planes(position)
        for source, weight in _taps(plan, position):
            dx[_planes(source)] += weight * grad[out]
    return dx
