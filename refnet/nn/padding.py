"""Padding layers (PyTorch: ``nn.ZeroPad1d``, ``ConstantPad2d``, ``ReflectionPad3d``, ...).

Each pads the last axis (``*Pad1d``: input ``(C, W)`` or ``(N, C, W)``), the last two
(``*Pad2d``: ``(C, H, W)`` or ``(N, C, H, W)``) or the last three (``*Pad3d``:
``(C, D, H, W)`` or ``(N, C, D, H, W)``; the constant ones take any leading axes) by
``padding``: an int for every side, or ``(left, right)`` / ``(left, right, top,
bottom)`` / ``(left, right, top, bottom, front, back)``, PyTorch's order. No
parameters; the kernel and the derivation of its backward (the copied borders added
back onto their sources) are in :mod:`refnet.nn.functional.padding`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from refnet._typing import Array
from refnet.nn._validation import float_input, same_shape_gradient
from refnet.nn.functional import padding as F
from refnet.nn.module import Module

IntOrTuple = int | Sequence[int]


def _widths_tuple(padding: IntOrTuple, length: int, owner: str) -> tuple[int, ...]:
    """``padding`` as ``length`` ints: an int repeated, or a sequence of exactly ``length``."""
    if isinstance(padding, (int, np.integer)):
        return (int(padding),) * length
    items = tuple(padding)
    if len(items) != length or not all(isinstance(v, (int, np.integer)) for v in items):
        raise ValueError(f"{owner}: padding must be an int or {length} ints, got {padding!r}")
    return tuple(int(v) for v in items)


class _PadNd(Module):
    """A padding layer: ``F.pad(x, self.padding, mode, value)`` and its backward."""

    mode: str = "constant"
    axes: int = 1

    def __init__(self, padding: IntOrTuple, value: float = 0.0) -> None:
        super().__init__()
        self.padding = _widths_tuple(padding, 2 * self.axes, type(self).__name__)
        if self.mode == "constant":
            self.value = value
        self._widths: F.Widths | None = None
        self._output_shape: tuple[int, ...] | None = None

    def forward(self, x: Array) -> Array:
        x = float_input(self, x)
        value = self.value if self.mode == "constant" else None
        widths = F.pad_widths(x.shape, self.padding, self.mode, value, owner=self.describe())
        self._widths = widths
        self._output_shape = F.padded_shape(x.shape, widths)
        return F.pad_forward(x, widths, self.mode, value or 0.0)

    def backward(self, grad_output: Array) -> Array:
        widths = self._saved(self._widths)
        grad = same_shape_gradient(self, grad_output, self._saved(self._output_shape))
        return F.pad_gradient(grad, widths, self.mode)

    def extra_repr(self) -> str:
        if self.mode == "constant" and type(self).__name__.startswith("Constant"):
            return f"padding={self.padding}, value={self.value}"
        return f"{self.padding}"


class ConstantPad1d(_PadNd):
    """Pad the last axis with the constant ``value`` (PyTorch: ``nn.ConstantPad1d``)."""

    def __init__(self, padding: IntOrTuple, value: float) -> None:
        super().__init__(padding, value)


class ConstantPad2d(_PadNd):
    """Pad the last two axes with the constant ``value`` (PyTorch: ``nn.ConstantPad2d``)."""

    axes = 2

    def __init__(self, padding: IntOrTuple, value: float) -> None:
        super().__init__(padding, value)


class ZeroPad1d(_PadNd):
    """Pad the last axis with zeros (PyTorch: ``nn.ZeroPad1d``)."""

    def __init__(self, padding: IntOrTuple) -> None:
        super().__init__(padding, 0.0)


class ZeroPad2d(_PadNd):
    """Pad the last two axes with zeros (PyTorch: ``nn.ZeroPad2d``)."""

    axes = 2

    def __init__(self, padding: IntOrTuple) -> None:
        super().__init__(padding, 0.0)


class ReflectionPad1d(_PadNd):
    """Pad the last axis with its reflection, edge not repeated (PyTorch: ``nn.ReflectionPad1d``).

    ``[a, b, c]`` padded by 2 is ``[c, b, a, b, c, b, a]``; each width must be less than
    the axis size.
    """

    mode = "reflect"

    def __init__(self, padding: IntOrTuple) -> None:
        super().__init__(padding)


class ReflectionPad2d(_PadNd):
    """Pad the last two axes with their reflections (PyTorch: ``nn.ReflectionPad2d``)."""

    mode = "reflect"
    axes = 2

    def __init__(self, padding: IntOrTuple) -> None:
        super().__init__(padding)


class ReplicationPad1d(_PadNd):
    """Pad the last axis by repeating its edge values (PyTorch: ``nn.ReplicationPad1d``).

    ``[a, b, c]`` padded by 2 is ``[a, a, a, b, c, c, c]``.
    """

    mode = "replicate"

    def __init__(self, padding: IntOrTuple) -> None:
        super().__init__(padding)


class ReplicationPad2d(_PadNd):
    """Pad the last two axes by repeating their edges (PyTorch: ``nn.ReplicationPad2d``)."""

    mode = "replicate"
    axes = 2

    def __init__(self, padding: IntOrTuple) -> None:
        super().__init__(padding)


class CircularPad1d(_PadNd):
    """Pad the last axis by wrapping around (PyTorch: ``nn.CircularPad1d``).

    ``[a, b, c]`` padded by 2 is ``[b, c, a, b, c, a, b]``; each width at most the size.
    """

    mode = "circular"

    def __init__(self, padding: IntOrTuple) -> None:
        super().__init__(padding)


class CircularPad2d(_PadNd):
    """Pad the last two axes by wrapping around (PyTorch: ``nn.CircularPad2d``)."""

    mode = "circular"
    axes = 2

    def __init__(self, padding: IntOrTuple) -> None:
        super().__init__(padding)


class ConstantPad3d(_PadNd):
    """Pad the last three axes with the constant ``value`` (PyTorch: ``nn.ConstantPad3d``).

    ``padding`` is an int or ``(left, right, top, bottom, front, back)``.
    """

    axes = 3

    def __init__(self, padding: IntOrTuple, value: float) -> None:
        super().__init__(padding, value)


class ZeroPad3d(_PadNd):
    """Pad the last three axes with zeros (PyTorch: ``nn.ZeroPad3d``)."""

    axes = 3

    def __init__(self, padding: IntOrTuple) -> None:
        super().__init__(padding, 0.0)


class ReflectionPad3d(_PadNd):
    """Pad the last three axes of (C, D, H, W) or (N, C, D, H, W) input with their
    reflections (PyTorch: ``nn.ReflectionPad3d``)."""

    mode = "reflect"
    axes = 3

    def __init__(self, padding: IntOrTuple) -> None:
        super().__init__(padding)


class ReplicationPad3d(_PadNd):
    """Pad the last three axes by repeating their edges (PyTorch: ``nn.ReplicationPad3d``)."""

    mode = "replicate"
    axes = 3

    def __init__(self, padding: IntOrTuple) -> None:
        super().__init__(padding)


class CircularPad3d(_PadNd):
    """Pad the last three axes by wrapping around (PyTorch: ``nn.CircularPad3d``)."""

    mode = "circular"
    axes = 3

    def __init__(self, padding: IntOrTuple) -> None:
        super().__init__(padding)
