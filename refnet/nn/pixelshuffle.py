"""Rearrangements of channels: ``PixelShuffle``, ``PixelUnshuffle``, ``ChannelShuffle``.

Each output is a permutation of its input (a reshape, a transpose, a reshape), so each
backward applies the inverse permutation to the gradient: PixelShuffle's is
PixelUnshuffle's forward and the other way round, and ChannelShuffle with ``g`` groups
is undone by ChannelShuffle with ``C / g`` groups. No parameters, nothing summed: the
gradient is exact.
"""

from __future__ import annotations

import numpy as np

from refnet._typing import Array
from refnet.nn._validation import float_input, same_shape_gradient, shape_error
from refnet.nn.module import Module


def pixel_shuffle(x: Array, r: int) -> Array:
    """``(*, C r², H, W) -> (*, C, H r, W r)``.

    ``y[c, h r + i, w r + j] = x[c r² + i r + j, h, w]``.
    """
    *batch, channels, h, w = x.shape
    c = channels // (r * r)
    n = len(batch)
    y = x.reshape(*batch, c, r, r, h, w)
    order = (*range(n), n, n + 3, n + 1, n + 4, n + 2)
    return np.ascontiguousarray(y.transpose(order)).reshape(*batch, c, h * r, w * r)


def pixel_unshuffle(x: Array, r: int) -> Array:
    """``(*, C, H r, W r) -> (*, C r², H, W)``, the inverse of :func:`pixel_shuffle`."""
    *batch, c, hr, wr = x.shape
    h, w = hr // r, wr // r
    n = len(batch)
    y = x.reshape(*batch, c, h, r, w, r)
    order = (*range(n), n, n + 2, n + 4, n + 1, n + 3)
    return np.ascontiguousarray(y.transpose(order)).reshape(*batch, c * r * r, h, w)


def channel_shuffle(x: Array, groups: int) -> Array:
    """``(N, C, *)``: channel ``k · (C/g) + j`` moves to ``j · g + k`` (a (g, C/g) transpose)."""
    n, c, *rest = x.shape
    y = x.reshape(n, groups, c // groups, *rest).swapaxes(1, 2)
    return np.ascontiguousarray(y).reshape(x.shape)


def _positive_factor(value: object, name: str, owner: str) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{owner}: {name} must be a positive int, got {value!r}")
    return int(value)


class PixelShuffle(Module):
    """Move ``r × r`` blocks of channels into space (PyTorch: ``nn.PixelShuffle(upscale_factor)``).

    ``(*, C r², H, W) -> (*, C, H r, W r)``, the sub-pixel convolution's last step; any
    number of leading axes. Backward: :func:`pixel_unshuffle` of the gradient.
    """

    def __init__(self, upscale_factor: int) -> None:
        super().__init__()
        self.upscale_factor = _positive_factor(upscale_factor, "upscale_factor", "PixelShuffle")
        self._output_shape: tuple[int, ...] | None = None

    def forward(self, x: Array) -> Array:
        x = float_input(self, x)
        r = self.upscale_factor
        if x.ndim < 3 or x.shape[-3] % (r * r):
            raise shape_error(self, f"(*, C·{r * r}, H, W) (channels divisible by {r * r})", x)
        y = pixel_shuffle(x, r)
        self._output_shape = y.shape
        return y

    def backward(self, grad_output: Array) -> Array:
        grad = same_shape_gradient(self, grad_output, self._saved(self._output_shape))
        return pixel_unshuffle(grad, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """Fold ``r × r`` spatial blocks into channels (PyTorch: ``nn.PixelUnshuffle``).

    ``(*, C, H r, W r) -> (*, C r², H, W)``. Backward: :func:`pixel_shuffle` of the
    gradient.
    """

    def __init__(self, downscale_factor: int) -> None:
        super().__init__()
        self.downscale_factor = _positive_factor(
            downscale_factor, "downscale_factor", "PixelUnshuffle"
        )
        self._output_shape: tuple[int, ...] | None = None

    def forward(self, x: Array) -> Array:
        x = float_input(self, x)
        r = self.downscale_factor
        if x.ndim < 3 or x.shape[-2] % r or x.shape[-1] % r:
            raise shape_error(self, f"(*, C, H·{r}, W·{r}) (H and W divisible by {r})", x)
        y = pixel_unshuffle(x, r)
        self._output_shape = y.shape
        return y

    def backward(self, grad_output: Array) -> Array:
        grad = same_shape_gradient(self, grad_output, self._saved(self._output_shape))
        return pixel_shuffle(grad, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"


class ChannelShuffle(Module):
    """Interleave ``groups`` groups of channels (PyTorch: ``nn.ChannelShuffle(groups)``).

    ``(N, C, *)`` with at least one axis after the channels, ``C`` divisible by
    ``groups``: the channels, seen as a ``(groups, C/groups)`` matrix, are transposed
    (ShuffleNet). Backward: the transpose back, ``channel_shuffle(grad, C / groups)``.
    """

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = _positive_factor(groups, "groups", "ChannelShuffle")
        self._shape: tuple[int, ...] | None = None

    def forward(self, x: Array) -> Array:
        x = float_input(self, x)
        if x.ndim < 3 or x.shape[1] % self.groups:
            raise shape_error(self, f"(N, C, *) with C divisible by {self.groups}", x)
        self._shape = x.shape
        return channel_shuffle(x, self.groups)

    def backward(self, grad_output: Array) -> Array:
        shape = self._saved(self._shape)
        grad = same_shape_gradient(self, grad_output, shape)
        return channel_shuffle(grad, shape[1] // self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"
