"""3-d convolution kernels: ``conv3d`` and ``conv_transpose3d`` with their gradients.

Plain kernels, written for a reader (refnet keeps no fast 3-d path): the definitions of
:mod:`refnet.nn.functional.conv` with one more axis, computed one kernel tap at a time.
With input ``x`` (N, C, D, H, W), weight ``w`` (O, C/g, kd, kh, kw) and ``xp`` the padded
input,

    y[n, o, z, p, q] = b[o] + Σ_{c, i, j, l} w[o, c, i, j, l] · xp[n, c, z·s_d + i·d_d,
                                                              p·s_h + j·d_h, q·s_w + l·d_w].

Tap ``(i, j, l)`` of every output position at once is one strided slice of ``xp``
(N, C/g, Do, Ho, Wo), and its contribution one ``einsum`` with ``w[:, :, i, j, l]``. The
gradients follow tap by tap from the same products (with ``G = ∂L/∂y``):

* ``∂L/∂w[o, c, i, j, l] = Σ_{n, z, p, q} G[n, o, z, p, q] · slice[n, c, z, p, q]``;
* ``∂L/∂xp[slice] += Σ_o G[n, o] · w[o, c, i, j, l]`` (slices overlap, so gradients
  add), then the padding's gradient folded back (:func:`refnet.nn.functional.padding.
  pad_gradient`: cropped for zeros, added to the copied borders otherwise);
* ``∂L/∂b[o] = Σ_{n, z, p, q} G``.

The transposed convolution is the adjoint of the convolution's input map: each input
element scatters ``x · w[c, o, i, j, l]`` onto a canvas at ``z·s + i·d`` (per axis),
and ``padding`` is cropped from both sides (``output_padding`` more kept at the far
end). Its input gradient is therefore the convolution of ``G``, and its weight gradient
the correlation of ``G`` with ``x``, computed tap by tap in the same way.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from refnet._typing import Array
from refnet.nn.functional import padding as P
from refnet.nn.functional._conv_arguments import (
    ConvArgs,
    check_conv,
    check_conv_transpose,
    check_gradient,
    conv_output_shape,
    conv_transpose_output_shape,
)

__all__ = [
    "Conv3dGeometry",
    "conv3d",
    "conv3d_backward",
    "conv3d_forward",
    "conv3d_gradient",
    "conv_transpose3d",
    "conv_transpose3d_backward",
    "conv_transpose3d_forward",
    "conv_transpose3d_gradient",
]

Triple = tuple[int, int, int]
_MODES = {
    "zeros": "constant",
    "reflect": "reflect",
    "replicate": "replicate",
    "circular": "circular",
}


@dataclass(frozen=True)
class Conv3dGeometry:
    """Kernel, stride, per-axis ``(before, after)`` padding, dilation, groups, padding mode."""

    kernel_size: Triple
    stride: Triple
    padding: tuple[tuple[int, int], ...]
    dilation: Triple
    groups: int
    padding_mode: str

    def taps(self) -> list[Triple]:
        """Every kernel tap ``(i, j, l)``."""
        return [(i, j, m) for i, j, m in itertools.product(*(range(k) for k in self.kernel_size))]

    def dilated_kernel(self) -> Triple:
        """``d·(k - 1) + 1`` per axis."""
        e = [d * (k - 1) + 1 for k, d in zip(self.kernel_size, self.dilation, strict=True)]
        return e[0], e[1], e[2]

    def output_size(self, sizes: Sequence[int]) -> Triple:
        """``⌊(n + before + after - d(k - 1) - 1) / s⌋ + 1`` per axis (≤ 0: too small)."""
        out = [
            (n + b + a - e) // s + 1
            for n, (b, a), e, s in zip(
                sizes, self.padding, self.dilated_kernel(), self.stride, strict=True
            )
        ]
        return out[0], out[1], out[2]

    def tap_slices(self, tap: Triple, out: Sequence[int]) -> tuple[slice, ...]:
        """The padded input's positions that ``tap`` reads for every output position."""
        return tuple(
            slice(t * d, t * d + (o - 1) * s + 1, s)
            for t, d, o, s in zip(tap, self.dilation, out, self.stride, strict=True)
        )

    def widths(self) -> P.Widths:
        """The padding as :mod:`refnet.nn.functional.padding` widths of a 5-d array."""
        return ((0, 0), (0, 0), *self.padding)


def _all(index: Sequence[slice], channels: slice) -> tuple[slice, ...]:
    """``index`` over the spatial axes, for every sample and the given channels."""
    return (slice(None), channels, *index)


def _groups(c_in: int, c_out: int, groups: int) -> list[tuple[slice, slice]]:
    a, b = c_in // groups, c_out // groups
    return [(slice(g * a, (g + 1) * a), slice(g * b, (g + 1) * b)) for g in range(groups)]


def conv3d_forward(
    x: Array, weight: Array, bias: Array | None, geometry: Conv3dGeometry
) -> tuple[Array, Array]:
    """``(y, xp)``: the convolution of batched (N, C, D, H, W) ``x`` and its padded input."""
    xp = P.pad_forward(x, geometry.widths(), _MODES[geometry.padding_mode], 0.0)
    out = geometry.output_size(x.shape[2:])
    c_out = weight.shape[0]
    y = np.zeros((x.shape[0], c_out, *out), dtype=x.dtype)
    for cs, os in _groups(x.shape[1], c_out, geometry.groups):
        for i, j, m in geometry.taps():
            view = xp[_all(geometry.tap_slices((i, j, m), out), cs)]
            y[:, os] += np.einsum("ncdhw,oc->nodhw", view, weight[os, :, i, j, m])
    if bias is not None:
        y += bias.reshape(-1, 1, 1, 1)
    return y, xp


def conv3d_gradient(
    grad: Array, xp: Array, weight: Array, geometry: Conv3dGeometry, input_shape: tuple[int, ...]
) -> tuple[Array, Array, Array]:
    """``(∂L/∂x, ∂L/∂w, ∂L/∂b)`` of :func:`conv3d_forward`, tap by tap."""
    out = grad.shape[2:]
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(weight)
    for cs, os in _groups(xp.shape[1], weight.shape[0], geometry.groups):
        g = grad[:, os]
        for i, j, m in geometry.taps():
            index = _all(geometry.tap_slices((i, j, m), out), cs)
            dw[os, :, i, j, m] += np.einsum("nodhw,ncdhw->oc", g, xp[index])
            dxp[index] += np.einsum("nodhw,oc->ncdhw", g, weight[os, :, i, j, m])
    dx = P.pad_gradient(dxp, geometry.widths(), _MODES[geometry.padding_mode])
    assert dx.shape == tuple(input_shape)
    return dx, dw, grad.sum(axis=(0, 2, 3, 4))


def _canvas(
    sizes: Sequence[int], geometry: Conv3dGeometry, output_padding: Sequence[int]
) -> Triple:
    full = [
        (n - 1) * s + e + op
        for n, s, e, op in zip(
            sizes, geometry.stride, geometry.dilated_kernel(), output_padding, strict=True
        )
    ]
    return full[0], full[1], full[2]


def transposed_output_size(
    sizes: Sequence[int], geometry: Conv3dGeometry, output_padding: Sequence[int]
) -> Triple:
    """``(n - 1)·s - 2p + d·(k - 1) + output_padding + 1`` per axis (PyTorch's formula)."""
    full = _canvas(sizes, geometry, output_padding)
    out = [f - 2 * b for f, (b, _) in zip(full, geometry.padding, strict=True)]
    return out[0], out[1], out[2]


def _crop(geometry: Conv3dGeometry, out: Sequence[int]) -> tuple[slice, ...]:
    return tuple(slice(b, b + o) for (b, _), o in zip(geometry.padding, out, strict=True))


def conv_transpose3d_forward(
    x: Array,
    weight: Array,
    bias: Array | None,
    geometry: Conv3dGeometry,
    output_padding: Sequence[int],
) -> Array:
    """Transposed convolution of batched (N, C_in, D, H, W) ``x``, weight
    (C_in, C_out/g, kd, kh, kw): patches scattered on a canvas, then the padding cropped."""
    sizes = x.shape[2:]
    c_out = weight.shape[1] * geometry.groups
    canvas = np.zeros((x.shape[0], c_out, *_canvas(sizes, geometry, output_padding)), x.dtype)
    for cs, os in _groups(x.shape[1], c_out, geometry.groups):
        for i, j, m in geometry.taps():
            index = _all(geometry.tap_slices((i, j, m), sizes), os)
            canvas[index] += np.einsum("ncdhw,co->nodhw", x[:, cs], weight[cs, :, i, j, m])
    out = transposed_output_size(sizes, geometry, output_padding)
    y = np.ascontiguousarray(canvas[_all(_crop(geometry, out), slice(None))])
    if bias is not None:
        y += bias.reshape(-1, 1, 1, 1)
    return y


def conv_transpose3d_gradient(
    grad: Array,
    x: Array,
    weight: Array,
    geometry: Conv3dGeometry,
    output_padding: Sequence[int],
) -> tuple[Array, Array, Array]:
    """``(∂L/∂x, ∂L/∂w, ∂L/∂b)`` of :func:`conv_transpose3d_forward`: the canvas's gradient
    is ``G`` where the output was cropped from (0 elsewhere); each input element's patch
    of it gives ``∂L/∂x = Σ patch · w`` and ``∂L/∂w += x · patch``."""
    sizes = x.shape[2:]
    c_out = grad.shape[1]
    full = _canvas(sizes, geometry, output_padding)
    grad_canvas = np.zeros((grad.shape[0], c_out, *full), dtype=grad.dtype)
    grad_canvas[_all(_crop(geometry, grad.shape[2:]), slice(None))] = grad
    dx = np.zeros_like(x)
    dw = np.zeros_like(weight)
    for cs, os in _groups(x.shape[1], c_out, geometry.groups):
        for i, j, m in geometry.taps():
            patch = grad_canvas[_all(geometry.tap_slices((i, j, m), sizes), os)]
            dx[:, cs] += np.einsum("nodhw,co->ncdhw", patch, weight[cs, :, i, j, m])
            dw[cs, :, i, j, m] += np.einsum("ncdhw,nodhw->co", x[:, cs], patch)
    return dx, dw, grad.sum(axis=(0, 2, 3, 4))


# ---------------------------------------------------------------------- functional API


def _triple(items: Sequence[int]) -> Triple:
    return int(items[0]), int(items[1]), int(items[2])


def geometry_from(weight: Array, args: ConvArgs) -> Conv3dGeometry:
    """The geometry of checked functional arguments (``padding`` ``'same'``: total
    ``d(k - 1)`` per axis, the odd one at the far end; ``'valid'``: none)."""
    kernel, dilation = _triple(tuple(weight.shape[2:])), _triple(args.dilation)
    if args.padding == "same":
        pads = tuple(
            (d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2)
            for k, d in zip(kernel, dilation, strict=True)
        )
    elif isinstance(args.padding, str):  # 'valid'
        pads = ((0, 0),) * 3
    else:
        pads = tuple((p, p) for p in args.padding)
    return Conv3dGeometry(kernel, _triple(args.stride), pads, dilation, args.groups, "zeros")


def _batched(x: Array) -> tuple[Array, bool]:
    """A checked 4-d or 5-d input as a batch, and whether it was one."""
    x = np.asarray(x)
    return (x, True) if x.ndim == 5 else (x[None], False)


def conv3d(
    input: Array,
    weight: Array,
    bias: Array | None = None,
    stride: int | Sequence[int] = 1,
    padding: int | Sequence[int] | str = 0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
) -> Array:
    """PyTorch's ``F.conv3d``: (N, C, D, H, W) or (C, D, H, W) input, zero padding."""
    args = check_conv("conv3d", 3, input, weight, bias, stride, padding, dilation, groups)
    x, batched = _batched(input)
    y, _ = conv3d_forward(x, weight, bias, geometry_from(weight, args))
    return y if batched else y[0]


def conv3d_backward(
    grad: Array,
    input: Array,
    weight: Array,
    bias: Array | None = None,
    stride: int | Sequence[int] = 1,
    padding: int | Sequence[int] | str = 0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
) -> tuple[Array, Array, Array | None]:
    """``(∂input, ∂weight, ∂bias)`` of :func:`conv3d` (``∂bias`` ``None`` without a bias)."""
    name = "conv3d_backward"
    args = check_conv(name, 3, input, weight, bias, stride, padding, dilation, groups)
    check_gradient(name, grad, conv_output_shape(np.shape(input), np.shape(weight), args))
    x, batched = _batched(input)
    geometry = geometry_from(weight, args)
    _, xp = conv3d_forward(x, weight, None, geometry)
    g = grad if batched else grad[None]
    dx, dw, db = conv3d_gradient(g, xp, weight, geometry, x.shape)
    return (dx if batched else dx[0]), dw, (None if bias is None else db)


def conv_transpose3d(
    input: Array,
    weight: Array,
    bias: Array | None = None,
    stride: int | Sequence[int] = 1,
    padding: int | Sequence[int] = 0,
    output_padding: int | Sequence[int] = 0,
    groups: int = 1,
    dilation: int | Sequence[int] = 1,
) -> Array:
    """PyTorch's ``F.conv_transpose3d``: (N, C, D, H, W) or (C, D, H, W) input."""
    name = "conv_transpose3d"
    args = check_conv_transpose(
        name, 3, input, weight, bias, stride, padding, output_padding, groups, dilation
    )
    x, batched = _batched(input)
    geometry = geometry_from(weight, args)
    y = conv_transpose3d_forward(x, weight, bias, geometry, args.output_padding)
    return y if batched else y[0]


def conv_transpose3d_backward(
    grad: Array,
    input: Array,
    weight: Array,
    bias: Array | None = None,
    stride: int | Sequence[int] = 1,
    padding: int | Sequence[int] = 0,
    output_padding: int | Sequence[int] = 0,
    groups: int = 1,
    dilation: int | Sequence[int] = 1,
) -> tuple[Array, Array, Array | None]:
    """``(∂input, ∂weight, ∂bias)`` of :func:`conv_transpose3d`."""
    name = "conv_transpose3d_backward"
    args = check_conv_transpose(
        name, 3, input, weight, bias, stride, padding, output_padding, groups, dilation
    )
    expected = conv_transpose_output_shape(np.shape(input), np.shape(weight), args)
    check_gradient(name, grad, expected)
    x, batched = _batched(input)
    geometry = geometry_from(weight, args)
    g = grad if batched else grad[None]
    dx, dw, db = conv_transpose3d_gradient(g, x, weight, geometry, args.output_padding)
    return (dx if batched else dx[0]), dw, (None if bias is None else db)
