"""``affine_grid`` and ``grid_sample``: reading an image at arbitrary points (a spatial
transformer's two halves, Jaderberg et al., 2015).

**The grid.** ``affine_grid(theta, size)`` maps every output pixel's normalised position
(x, y) ∈ [−1, 1]² through the affine map ``theta`` (N, 2, 3): ``grid[n, h, w] = θ_n ·
(x_w, y_h, 1)``. With ``align_corners=True`` the positions −1 and 1 are the centres of the
corner pixels (``x_w = −1 + 2w/(W − 1)``); otherwise the outer edges of the corner pixels
(``x_w = (2w + 1)/W − 1``). Its backward is a sum of outer products:
``∂θ_n = Σ_{h,w} ∂grid[n, h, w] ⊗ (x_w, y_h, 1)``.

**The sampling.** ``grid_sample(input, grid)`` reads ``input`` (N, C, H, W) at each grid
point, in pixel units ``i = (g + 1)(W − 1)/2`` (``align_corners``) or ``((g + 1)W − 1)/2``:

* ``'bilinear'``: the four pixels around (i, j), weighted by the areas of the opposite
  sub-rectangles, ``(1 − a)(1 − b), a(1 − b), (1 − a)b, ab`` with a, b the fractional
  parts; ``'nearest'``: the pixel at the rounded position (ties to even, as PyTorch);
* ``padding_mode`` says what lies outside: ``'zeros'`` (nothing: those neighbours count
  0), ``'border'`` (positions clamped to the image), ``'reflection'`` (positions mirrored
  at the border, then clamped).

**Backward.** The output is linear in ``input``: ∂input adds each output's gradient,
times each neighbour's weight, onto that neighbour. It is piecewise linear in the
position: the bilinear weights' derivative in i is ``∓(1 − b)`` and ``∓b``, so ∂i is the
upstream gradient times ``Σ_c (v₁₀ − v₀₀)(1 − b) + (v₁₁ − v₀₁)b``, times ``di/dg`` (the
scale above, times the clamp's 0 or 1 and the reflection's ±1). ``'nearest'`` is piecewise
constant: its grid gradient is zero.

2-D only (4-D input and grid (N, H_out, W_out, 2)); ``'bicubic'`` and 3-D volumes are not
implemented.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from refnet._typing import Array, IntArray
from refnet.nn.functional.pooling import add_at_positions

__all__ = ["affine_grid", "affine_grid_backward", "grid_sample", "grid_sample_backward"]


# ---------------------------------------------------------------------- affine_grid


def _base_positions(size: int, align_corners: bool, dtype: np.dtype[np.floating]) -> Array:
    """The normalised centres of ``size`` pixels along one axis."""
    if size <= 1:
        return np.zeros(size, dtype=dtype)
    if align_corners:
        return np.linspace(-1.0, 1.0, size, dtype=dtype)
    return ((2 * np.arange(size, dtype=dtype) + 1) / size - 1).astype(dtype)


def _base_grid(H: int, W: int, align_corners: bool, dtype: np.dtype[np.floating]) -> Array:
    """(H, W, 3): each pixel's homogeneous normalised position (x, y, 1)."""
    base = np.empty((H, W, 3), dtype=dtype)
    base[..., 0] = _base_positions(W, align_corners, dtype)[None, :]
    base[..., 1] = _base_positions(H, align_corners, dtype)[:, None]
    base[..., 2] = 1
    return base


def _check_theta(theta: Array, size: tuple[int, ...]) -> tuple[int, int, int]:
    if len(size) != 4:
        raise NotImplementedError(
            f"affine_grid: only 2-D grids (size (N, C, H, W)) are implemented, got size {size}"
        )
    N, _, H, W = size
    if theta.shape != (N, 2, 3):
        raise ValueError(
            f"affine_grid: expected theta of shape ({N}, 2, 3) for size {tuple(size)}, got "
            f"{theta.shape}"
        )
    return N, H, W


def affine_grid(theta: Array, size: tuple[int, ...], align_corners: bool = False) -> Array:
    """The sampling grid (N, H, W, 2) of the affine maps ``theta`` (N, 2, 3)
    (``torch.nn.functional.affine_grid``); see the module docstring."""
    x = np.asarray(theta)
    _, H, W = _check_theta(x, tuple(size))
    base = _base_grid(H, W, align_corners, x.dtype)
    return np.einsum("hwk,nck->nhwc", base, x)


def affine_grid_backward(
    grad: Array, theta: Array, size: tuple[int, ...], align_corners: bool = False
) -> Array:
    """∂L/∂theta of :func:`affine_grid`: ``Σ_{h,w} ∂grid[n, h, w] ⊗ (x_w, y_h, 1)``."""
    x = np.asarray(theta)
    _, H, W = _check_theta(x, tuple(size))
    base = _base_grid(H, W, align_corners, x.dtype)
    return np.einsum("nhwc,hwk->nck", np.asarray(grad), base)


# ---------------------------------------------------------------------- positions


def _unnormalize(g: Array, size: int, align_corners: bool) -> tuple[Array, float]:
    """Pixel coordinates of normalised ``g`` and the derivative di/dg."""
    if align_corners:
        scale = (size - 1) / 2
        return (g + 1) * scale, scale
    return ((g + 1) * size - 1) / 2, size / 2


def _clip(i: Array, size: int) -> tuple[Array, Array]:
    """Clamp to [0, size − 1]; the derivative is 0 at and beyond the ends (PyTorch's)."""
    slope = ((i > 0) & (i < size - 1)).astype(i.dtype)
    return np.clip(i, 0, size - 1), slope


def _reflect(i: Array, twice_low: int, twice_high: int) -> tuple[Array, Array]:
    """Mirror ``i`` back into [low, high] (PyTorch's reflect_coordinates) and its ±1 slope."""
    if twice_low == twice_high:
        return np.zeros_like(i), np.zeros_like(i)
    low, span = twice_low / 2, (twice_high - twice_low) / 2
    shifted = i - low
    sign = np.where(shifted < 0, -1.0, 1.0).astype(i.dtype)
    distance = np.abs(shifted)
    extra = np.fmod(distance, span)
    flips = np.floor(distance / span).astype(np.int64)
    even = flips % 2 == 0
    return np.where(even, extra + low, span - extra + low), np.where(even, sign, -sign)


def _source(g: Array, size: int, padding_mode: str, align_corners: bool) -> tuple[Array, Array]:
    """The pixel coordinate read for normalised ``g`` and its derivative in ``g``."""
    i, scale = _unnormalize(g, size, align_corners)
    slope = np.full_like(i, scale)
    if padding_mode == "border":
        i, clip_slope = _clip(i, size)
        slope *= clip_slope
    elif padding_mode == "reflection":
        twice = (0, 2 * (size - 1)) if align_corners else (-1, 2 * size - 1)
        i, reflect_slope = _reflect(i, *twice)
        i, clip_slope = _clip(i, size)
        slope *= reflect_slope * clip_slope
    return i, slope


# ---------------------------------------------------------------------- sampling


class _Taps(NamedTuple):
    """The neighbours each output reads: flat pixel indices (k, N, Ho, Wo) into a plane,
    their weights (0 outside the image) and, per axis, the weights' derivatives."""

    where: IntArray
    weight: Array
    d_weight_x: Array
    d_weight_y: Array


def _taps(ix: Array, iy: Array, H: int, W: int, mode: str) -> _Taps:
    if mode == "nearest":
        x, y = np.rint(ix).astype(np.int64), np.rint(iy).astype(np.int64)
        inside = (x >= 0) & (x < W) & (y >= 0) & (y < H)
        where = (np.clip(y, 0, H - 1) * W + np.clip(x, 0, W - 1))[None]
        weight = inside.astype(ix.dtype)[None]
        return _Taps(where, weight, np.zeros_like(weight), np.zeros_like(weight))
    x0, y0 = np.floor(ix), np.floor(iy)
    a, b = ix - x0, iy - y0
    xs, ys = (x0, x0 + 1, x0, x0 + 1), (y0, y0, y0 + 1, y0 + 1)
    wx, wy = (1 - a, a, 1 - a, a), (1 - b, 1 - b, b, b)
    dwx, dwy = (-1.0, 1.0, -1.0, 1.0), (-1.0, -1.0, 1.0, 1.0)
    wheres: list[IntArray] = []
    weights: list[Array] = []
    d_x: list[Array] = []
    d_y: list[Array] = []
    for x, y, u, v, du, dv in zip(xs, ys, wx, wy, dwx, dwy, strict=True):
        inside = ((x >= 0) & (x < W) & (y >= 0) & (y < H)).astype(ix.dtype)
        xi = np.clip(x, 0, W - 1).astype(np.int64)
        yi = np.clip(y, 0, H - 1).astype(np.int64)
        wheres.append(yi * W + xi)
        weights.append(u * v * inside)
        d_x.append(du * v * inside)
        d_y.append(u * dv * inside)
    return _Taps(np.stack(wheres), np.stack(weights), np.stack(d_x), np.stack(d_y))


def _check_sample(input: Array, grid: Array, mode: str, padding_mode: str) -> tuple[Array, Array]:
    x, g = np.asarray(input), np.asarray(grid)
    if mode not in ("bilinear", "nearest"):
        raise NotImplementedError(
            f"grid_sample: mode {mode!r} is not implemented (only 'bilinear' and 'nearest')"
        )
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError(
            f"grid_sample: padding_mode must be 'zeros', 'border' or 'reflection', got "
            f"{padding_mode!r}"
        )
    if x.ndim != 4 or g.ndim != 4 or g.shape[-1] != 2 or g.shape[0] != x.shape[0]:
        raise ValueError(
            "grid_sample: expected input (N, C, H, W) and grid (N, H_out, W_out, 2) with the "
            f"same N (only 2-D is implemented), got {x.shape} and {g.shape}"
        )
    return x, g


def _plan(
    x: Array, g: Array, mode: str, padding_mode: str, align_corners: bool
) -> tuple[_Taps, Array, Array]:
    H, W = x.shape[2:]
    ix, slope_x = _source(g[..., 0], W, padding_mode, align_corners)
    iy, slope_y = _source(g[..., 1], H, padding_mode, align_corners)
    return _taps(ix, iy, H, W, mode), slope_x, slope_y


def _gather(x: Array, index: IntArray) -> Array:
    """``x``'s planes read at ``index`` (k, N, Ho, Wo): (k, N, C, Ho, Wo)."""
    N, C = x.shape[:2]
    planes = x.reshape(N, C, -1)
    k, _, Ho, Wo = index.shape
    flat = index.reshape(k, N, 1, Ho * Wo)
    values = np.take_along_axis(planes[None], np.broadcast_to(flat, (k, N, C, Ho * Wo)), axis=3)
    return values.reshape(k, N, C, Ho, Wo)


def grid_sample(
    input: Array,
    grid: Array,
    mode: str = "bilinear",
    padding_mode: str = "zeros",
    align_corners: bool | None = None,
) -> Array:
    """``input`` (N, C, H, W) read at ``grid`` (N, H_out, W_out, 2) (x, y normalised to
    [−1, 1]): (N, C, H_out, W_out) (``torch.nn.functional.grid_sample``)."""
    x, g = _check_sample(input, grid, mode, padding_mode)
    taps, _, _ = _plan(x, g, mode, padding_mode, bool(align_corners))
    return np.einsum("knhw,kncwh->nchw", taps.weight, _gather(x, taps.where).swapaxes(3, 4))


def grid_sample_backward(
    grad: Array,
    input: Array,
    grid: Array,
    mode: str = "bilinear",
    padding_mode: str = "zeros",
    align_corners: bool | None = None,
) -> tuple[Array, Array]:
    """``(∂input, ∂grid)`` of :func:`grid_sample`; see the module docstring."""
    x, g = _check_sample(input, grid, mode, padding_mode)
    taps, slope_x, slope_y = _plan(x, g, mode, padding_mode, bool(align_corners))
    G = np.asarray(grad)
    grad_input = sum(  # the taps may land on one pixel: see add_at_positions
        add_at_positions(weight[:, None] * G, where[:, None], x.shape)
        for where, weight in zip(taps.where, taps.weight, strict=True)
    )
    values = _gather(x, taps.where)  # (k, N, C, Ho, Wo)
    upstream = np.einsum("knchw,nchw->knhw", values, G)
    grad_grid = np.empty(g.shape, dtype=x.dtype)
    grad_grid[..., 0] = np.sum(taps.d_weight_x * upstream, axis=0) * slope_x
    grad_grid[..., 1] = np.sum(taps.d_weight_y * upstream, axis=0) * slope_y
    return np.asarray(grad_input), grad_grid
