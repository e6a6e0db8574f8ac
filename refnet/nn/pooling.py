"""Pooling layers: ``MaxPool1d/2d``, ``AvgPool1d/2d``, ``AdaptiveAvgPool1d/2d``,
``AdaptiveMaxPool1d/2d``, ``MaxUnpool1d/2d/3d``, ``LPPool1d/2d``, and (plain kernels) ``MaxPool3d``,
``AvgPool3d``, ``AdaptiveAvgPool3d``, ``AdaptiveMaxPool3d``.

Pooling has no parameters: each output is the maximum or the average of a window of
its input plane. The kernels and the derivation of their gradients are in
:mod:`refnet.nn.functional.pooling`; the 1-d layers run the 2-d kernels over a height
of 1. Outputs keep the memory layout of the input (see the functional module).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from refnet._typing import Array
from refnet.nn._validation import float_input, same_shape_gradient, shape_error
from refnet.nn.functional import pooling as F
from refnet.nn.functional import pooling3d as P3
from refnet.nn.module import Module

IntOrPair = int | tuple[int, ...]


def _pair(value: IntOrPair, name: str, owner: str) -> tuple[int, int]:
    items = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(items) == 1:
        items = (items[0], items[0])
    if len(items) != 2 or not all(isinstance(v, (int, np.integer)) for v in items):
        raise ValueError(f"{owner}: {name} must be an int or a pair of ints, got {value!r}")
    return int(items[0]), int(items[1])


def _single(value: IntOrPair, name: str, owner: str) -> int:
    items = (value,) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(items) != 1 or not isinstance(items[0], (int, np.integer)):
        raise ValueError(f"{owner}: {name} must be an int or a 1-tuple, got {value!r}")
    return int(items[0])


class _Pool(Module):
    """Input checks and (un)batching shared by the pooling layers; ``_dims`` is 1 or 2.

    A layer derives its kernel's settings (the window, the divisor, the output size)
    from its public attributes, named in ``_SETTINGS``, in :meth:`_configure`. Assigning
    one of them later runs it again (and restores the old value if the new one is
    invalid), so the change takes effect, as it does in PyTorch.
    """

    _dims = 2
    _SETTINGS: frozenset[str] = frozenset()

    def __init__(self) -> None:
        super().__init__()
        self._cache: Any = None
        self._output_shape: tuple[int, ...] | None = None
        self._batched = True
        self._configured = False

    def _configure(self) -> None:
        """Validate the public settings and derive the kernel's from them."""

    def _configure_first(self) -> None:
        """The end of a constructor: derive the settings, then follow their changes."""
        self._configure()
        self._configured = True

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self._SETTINGS or not self.__dict__.get("_configured"):
            super().__setattr__(name, value)
            return
        old = getattr(self, name)
        super().__setattr__(name, value)
        try:
            self._configure()
        except (ValueError, TypeError):
            super().__setattr__(name, old)
            raise

    def _as_batched_2d(self, x: object) -> Array:
        x = float_input(self, x)
        n = self._dims
        if x.ndim not in (n + 1, n + 2) or 0 in x.shape[-n - 1 :]:
            spatial = "L" if n == 1 else "H, W"
            raise shape_error(
                self, f"(N, C, {spatial}) or (C, {spatial}) with no empty dimension", x
            )
        self._batched = x.ndim == n + 2
        xb = x if self._batched else x[None]
        return xb[:, :, None, :] if n == 1 else xb

    def _finish(self, y4: Array) -> Array:
        y = y4[:, :, 0, :] if self._dims == 1 else y4
        y = y if self._batched else y[0]
        self._output_shape = y.shape
        return y

    def _finish_indices(self, indices4: Array) -> Array:
        """The indices output, shaped like the output (1-d: positions along L)."""
        i = indices4[:, :, 0, :] if self._dims == 1 else indices4
        return np.ascontiguousarray(i if self._batched else i[0], dtype=np.int64)

    def _grad_as_batched_2d(self, grad_output: object) -> Array:
        g = same_shape_gradient(self, grad_output, self._saved(self._output_shape))
        g = g if self._batched else g[None]
        return g[:, :, None, :] if self._dims == 1 else g

    def _unbatch_grad(self, dx4: Array) -> Array:
        dx = dx4[:, :, 0, :] if self._dims == 1 else dx4
        return dx if self._batched else dx[0]

    def _check_output(self, x4: Array, out: tuple[int, int]) -> None:
        """Fail clearly when the window does not fit (an empty output)."""
        if out[0] < 1 or out[1] < 1:
            n = self._dims
            shape = tuple(x4.shape) if self._batched else tuple(x4.shape[1:])
            if n == 1:
                shape = shape[:-2] + shape[-1:]
            raise ValueError(
                f"{self.describe()}: input of shape {shape} is too small for the window: "
                f"the output size would be {out[2 - n :]}"
            )


def _validate_window(
    owner: str,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
) -> None:
    """PyTorch's limits: positive kernel, stride and dilation; ``0 ≤ padding ≤ kernel/2``
    (so every window holds at least one input element)."""
    for name, values in (("kernel_size", kernel), ("stride", stride), ("dilation", dilation)):
        if min(values) < 1:
            raise ValueError(f"{owner}: {name} must be positive, got {values}")
    if min(padding) < 0 or any(p > k // 2 for p, k in zip(padding, kernel, strict=True)):
        raise ValueError(
            f"{owner}: padding must be between 0 and half the kernel size, "
            f"got padding={padding} for kernel_size={kernel}"
        )


class _MaxPool(_Pool):
    """Max pooling; the 2-d and 1-d layers differ only in their dimensionality."""

    _SETTINGS = frozenset({"kernel_size", "stride", "padding", "dilation", "ceil_mode"})

    def __init__(
        self,
        kernel_size: IntOrPair,
        stride: IntOrPair | None = None,
        padding: IntOrPair = 0,
        dilation: IntOrPair = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        self.return_indices = return_indices
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.dilation = dilation
        self.ceil_mode = ceil_mode
        self._configure_first()

    def _configure(self) -> None:
        self._geometry = self._make_geometry(type(self).__name__)

    def _make_geometry(self, name: str) -> F.PoolGeometry:
        if self._dims == 1:
            k = (1, _single(self.kernel_size, "kernel_size", name))
            s = (1, _single(self.stride, "stride", name))
            p = (0, _single(self.padding, "padding", name))
            d = (1, _single(self.dilation, "dilation", name))
        else:
            k = _pair(self.kernel_size, "kernel_size", name)
            s = _pair(self.stride, "stride", name)
            p = _pair(self.padding, "padding", name)
            d = _pair(self.dilation, "dilation", name)
        _validate_window(name, k, s, p, d)
        return F.PoolGeometry(k, s, p, d, self.ceil_mode)

    def forward(self, x: Array) -> Array | tuple[Array, Array]:
        x4 = self._as_batched_2d(x)
        self._check_output(x4, self._geometry.output_size(*x4.shape[2:]))
        if not self.return_indices:
            y, self._cache = F.max_pool2d_forward(x4, self._geometry)
            return self._finish(y)
        y, self._cache, indices = F.max_pool2d_indices(x4, self._geometry)
        return self._finish(y), self._finish_indices(indices)

    def backward(self, grad_output: Array, grad_indices: None = None) -> Array:
        cache = self._saved(self._cache)
        return self._unbatch_grad(
            F.max_pool2d_backward(self._grad_as_batched_2d(grad_output), cache)
        )

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class MaxPool2d(_MaxPool):
    """2-d max pooling over (N, C, H, W) or (C, H, W) input (PyTorch: ``nn.MaxPool2d``).

    ``y[n, c, p, q] = max_{i, j} xp[n, c, p·s_h + i·d_h, q·s_w + j·d_w]`` over the
    ``kh × kw`` taps, ``xp`` the input padded with -∞ by ``padding`` (at most half the
    kernel) on each side. ``stride`` defaults to ``kernel_size``; ``ceil_mode`` rounds the
    output size up (the last window must start inside the input or the left padding).

    Backward: a maximum is a selection, so ``∂L/∂x`` is ``G`` routed to the element that
    won each window (summed where overlapping windows picked the same element), 0
    elsewhere. Ties: the first maximum in row-major window order wins, as in PyTorch.

    Caches only which tap won each window (1 to 3 bytes per output), not the input.
    ``return_indices=True`` also returns each window's winner as the flat index
    ``h·W + w`` into its input plane (int64, what ``MaxUnpool2d`` takes); the backward
    then takes ``(grad_output, None)``: the indices have no gradient. With NaN in a
    window the output is NaN as in PyTorch, but its gradient may go to another element
    than PyTorch's choice.
    """


class MaxPool1d(_MaxPool):
    """1-d max pooling over (N, C, L) or (C, L) input (PyTorch: ``nn.MaxPool1d``).

    ``MaxPool2d`` over a height of 1: same derivative, tie rule and cache.
    """

    _dims = 1


class _AvgPool(_Pool):
    """Average pooling; the 2-d and 1-d layers differ only in their dimensionality."""

    _SETTINGS = frozenset({"kernel_size", "stride", "padding", "ceil_mode", "divisor_override"})
    kernel_size: IntOrPair
    stride: IntOrPair
    padding: IntOrPair
    ceil_mode: bool
    count_include_pad: bool

    def _window(self, name: str) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
        """The 2-d kernel size, stride and padding (a 1-d layer's over a height of 1)."""
        if self._dims == 1:
            return (
                (1, _single(self.kernel_size, "kernel_size", name)),
                (1, _single(self.stride, "stride", name)),
                (0, _single(self.padding, "padding", name)),
            )
        return (
            _pair(self.kernel_size, "kernel_size", name),
            _pair(self.stride, "stride", name),
            _pair(self.padding, "padding", name),
        )

    def _configure(self) -> None:
        name = type(self).__name__
        kernel, stride, padding = self._window(name)
        _validate_window(name, kernel, stride, padding, (1, 1))
        divisor_override = getattr(self, "divisor_override", None)
        if divisor_override is not None and divisor_override == 0:
            raise ValueError(f"{name}: divisor_override must not be zero")
        self._divisor_override = divisor_override
        self._geometry = F.PoolGeometry(kernel, stride, padding, (1, 1), self.ceil_mode)

    def forward(self, x: Array) -> Array:
        x4 = self._as_batched_2d(x)
        self._check_output(x4, self._geometry.output_size(*x4.shape[2:]))
        y, self._cache = F.avg_pool2d_forward(
            x4, self._geometry, self.count_include_pad, self._divisor_override
        )
        return self._finish(y)

    def backward(self, grad_output: Array) -> Array:
        cache = self._saved(self._cache)
        return self._unbatch_grad(
            F.avg_pool2d_backward(self._grad_as_batched_2d(grad_output), cache)
        )


class AvgPool2d(_AvgPool):
    """2-d average pooling over (N, C, H, W) or (C, H, W) input (PyTorch: ``nn.AvgPool2d``).

    ``y[n, c, p, q] = (Σ_{i, j} xp[n, c, p·s_h + i, q·s_w + j]) / divisor``, ``xp`` the
    input zero-padded by ``padding`` (at most half the kernel). The divisor, as in
    PyTorch: ``divisor_override`` if given; else with ``count_include_pad`` the window
    size clipped to the padded input (smaller only for a ceil-mode window that overhangs
    it), without it the number of real input elements in the window.

    Backward: the map is linear; each element of window ``(p, q)`` receives
    ``G[p, q] / divisor[p, q]``, summed over the windows that contain it.

    Caches only the divisors and shapes.
    """

    def __init__(
        self,
        kernel_size: IntOrPair,
        stride: IntOrPair | None = None,
        padding: IntOrPair = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override
        self._configure_first()

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(_AvgPool):
    """1-d average pooling over (N, C, L) or (C, L) input (PyTorch: ``nn.AvgPool1d``).

    ``AvgPool2d`` over a height of 1 (PyTorch's ``AvgPool1d`` has no
    ``divisor_override``). Like PyTorch it stores its sizes as 1-tuples.
    """

    _dims = 1

    def __init__(
        self,
        kernel_size: IntOrPair,
        stride: IntOrPair | None = None,
        padding: IntOrPair = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        k = _single(kernel_size, "kernel_size", name)
        s = k if stride is None else _single(stride, "stride", name)
        p = _single(padding, "padding", name)
        self.kernel_size = (k,)
        self.stride = (s,)
        self.padding = (p,)
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self._configure_first()

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _AdaptivePool(_Pool):
    """Pooling to a fixed output size; ``None`` in ``output_size`` keeps an input size."""

    _SETTINGS = frozenset({"output_size"})

    def __init__(self, output_size: int | tuple[int | None, int | None]) -> None:
        super().__init__()
        self.output_size = output_size
        self._configure_first()

    _sizes: tuple[int | None, int | None]

    def _configure(self) -> None:
        output_size = self.output_size
        if self._dims == 1:
            items = tuple(output_size) if isinstance(output_size, tuple) else (output_size,)
            if len(items) != 1 or not (
                items[0] is None or (isinstance(items[0], (int, np.integer)) and items[0] >= 0)
            ):
                raise ValueError(
                    f"{type(self).__name__}: output_size must be a non-negative int, "
                    f"got {output_size!r}"
                )
            self._sizes = (1, None if items[0] is None else int(items[0]))
            return
        sizes = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
        if len(sizes) != 2 or any(
            s is not None and (not isinstance(s, (int, np.integer)) or s < 0) for s in sizes
        ):
            raise ValueError(
                f"{type(self).__name__}: output_size must be a non-negative int or a pair of "
                f"them (or None), got {output_size!r}"
            )
        self._sizes = sizes

    def _out(self, x4: Array) -> tuple[int, int]:
        h, w = (x4.shape[2 + a] if s is None else int(s) for a, s in enumerate(self._sizes))
        return h, w

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool2d(_AdaptivePool):
    """Average pooling to a fixed output size (PyTorch: ``nn.AdaptiveAvgPool2d(output_size)``).

    ``output_size`` is an int or a pair; ``None`` keeps that input dimension. Output
    position ``o`` along an axis of input size ``L`` averages ``[⌊oL/Lo⌋, ⌈(o+1)L/Lo⌉)``:
    windows of varying size that may overlap.

    The map is separable and linear: ``y = (B_h x B_wᵀ) / (count_h count_wᵀ)`` with 0/1
    window-membership matrices ``B``. So ``∂L/∂x = B_hᵀ (G / counts) B_w``: each window's
    share of the gradient spread back over its elements. Both are two small matrix
    products (BLAS), no loop at all.

    Caches the two window matrices and counts (sizes of the spatial axes only).
    """

    def forward(self, x: Array) -> Array:
        x4 = self._as_batched_2d(x)
        y, self._cache = F.adaptive_avg_pool2d_forward(x4, self._out(x4))
        return self._finish(y)

    def backward(self, grad_output: Array) -> Array:
        cache = self._saved(self._cache)
        return self._unbatch_grad(
            F.adaptive_avg_pool2d_backward(self._grad_as_batched_2d(grad_output), cache)
        )


class AdaptiveMaxPool2d(_AdaptivePool):
    """Max pooling to a fixed output size (PyTorch: ``nn.AdaptiveMaxPool2d(output_size)``).

    The windows of ``AdaptiveAvgPool2d`` (varying in size, possibly overlapping), each
    reduced by its maximum. Backward: like ``MaxPool2d``, each window's gradient goes to
    its maximum (the first in row-major order on ties, as in PyTorch), summed where
    overlapping windows chose the same element.

    Caches the flat index of each window's winner (one integer per output), which
    ``return_indices=True`` also returns (int64, ``h·W + w``); the backward then takes
    ``(grad_output, None)``.
    """

    def __init__(
        self, output_size: int | tuple[int | None, int | None], return_indices: bool = False
    ) -> None:
        super().__init__(output_size)
        self.return_indices = return_indices

    def forward(self, x: Array) -> Array | tuple[Array, Array]:
        x4 = self._as_batched_2d(x)
        y, self._cache = F.adaptive_max_pool2d_forward(x4, self._out(x4))
        out = self._finish(y)
        if not self.return_indices:
            return out
        return out, self._finish_indices(self._cache.winner)

    def backward(self, grad_output: Array, grad_indices: None = None) -> Array:
        cache = self._saved(self._cache)
        return self._unbatch_grad(
            F.adaptive_max_pool2d_backward(self._grad_as_batched_2d(grad_output), cache)
        )


class AdaptiveAvgPool1d(AdaptiveAvgPool2d):
    """Average pooling of (N, C, L) or (C, L) to ``output_size`` windows (PyTorch:
    ``nn.AdaptiveAvgPool1d(output_size)``): ``AdaptiveAvgPool2d`` over a height of 1,
    window ``o`` averaging ``[⌊oL/Lo⌋, ⌈(o+1)L/Lo⌉)``."""

    _dims = 1

    def __init__(self, output_size: int | tuple[int]) -> None:
        super().__init__(output_size)  # type: ignore[arg-type]


class AdaptiveMaxPool1d(AdaptiveMaxPool2d):
    """Max pooling of (N, C, L) or (C, L) to ``output_size`` windows (PyTorch:
    ``nn.AdaptiveMaxPool1d(output_size, return_indices=False)``): ``AdaptiveMaxPool2d``
    over a height of 1; ``return_indices`` gives each winner's position along L."""

    _dims = 1

    def __init__(self, output_size: int | tuple[int], return_indices: bool = False) -> None:
        super().__init__(output_size, return_indices)  # type: ignore[arg-type]


def _as_tuple(value: IntOrPair, n: int, name: str, owner: str) -> tuple[int, ...]:
    """PyTorch's ``_single``/``_pair``: an int repeated, a tuple kept (checked)."""
    items = (value,) * n if isinstance(value, (int, np.integer)) else tuple(value)
    if len(items) != n or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in items
    ):
        raise ValueError(f"{owner}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    return tuple(int(v) for v in items)


class _MaxUnpool(Module):
    """The partial inverse of max pooling: values put back at their indices, zeros elsewhere.

    ``forward(input, indices, output_size=None)``; ``y[n, c].flat[indices[n, c, i]] =
    x[n, c, i]`` on an output plane of size ``(L - 1)·s - 2p + k`` per axis (or
    ``output_size``, within a stride of it). Backward: the gradient gathered back at the
    same indices, ``∂L/∂x[n, c, i] = G[n, c].flat[indices[n, c, i]]``; the indices get
    none. (A repeated index keeps the last value written, as in PyTorch; then the
    gradient, a gather, is not the forward's adjoint: indices from max pooling with
    non-overlapping windows never repeat.) Caches the indices.
    """

    _dims = 2

    def __init__(
        self, kernel_size: IntOrPair, stride: IntOrPair | None = None, padding: IntOrPair = 0
    ) -> None:
        super().__init__()
        name, n = type(self).__name__, self._dims
        self.kernel_size = _as_tuple(kernel_size, n, "kernel_size", name)
        self.stride = _as_tuple(kernel_size if stride is None else stride, n, "stride", name)
        self.padding = _as_tuple(padding, n, "padding", name)
        self._indices: Array | None = None
        self._output_shape: tuple[int, ...] | None = None

    def forward(
        self, input: Array, indices: Array, output_size: Sequence[int] | None = None
    ) -> Array:
        x = float_input(self, input)
        n = self._dims
        idx = np.asarray(indices)
        if not np.issubdtype(idx.dtype, np.integer):
            raise TypeError(f"{self.describe()}: indices must be integers, got dtype {idx.dtype}")
        if x.ndim not in (n + 1, n + 2) or idx.shape != x.shape:
            raise ValueError(
                f"{self.describe()}: expected a {n + 1}-d or {n + 2}-d input and indices of "
                f"its shape, got {tuple(x.shape)} and {tuple(idx.shape)}"
            )
        out = F.max_unpool_output_size(
            x.shape[-n:],
            self.kernel_size,
            self.stride,
            self.padding,
            None if output_size is None else tuple(output_size),
            self.describe(),
        )
        batched = x.ndim == n + 2
        xb, ib = (x, idx) if batched else (x[None], idx[None])
        y = F.max_unpool_forward(xb, ib, out, self.describe())
        result = y if batched else y[0]
        self._indices, self._output_shape = idx, result.shape
        return result

    def backward(self, grad_output: Array) -> Array:
        indices = self._saved(self._indices)
        g = same_shape_gradient(self, grad_output, self._saved(self._output_shape))
        batched = g.ndim == self._dims + 2
        gb, ib = (g, indices) if batched else (g[None], indices[None])
        dx = F.max_unpool_gradient(gb, ib)
        return dx if batched else dx[0]

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpool):
    """Undo a ``MaxPool1d(return_indices=True)`` (PyTorch: ``nn.MaxUnpool1d(kernel_size,
    stride=None, padding=0)``): (N, C, L) or (C, L) values back at their positions along
    ``(L - 1)·s - 2p + k``. See :class:`_MaxUnpool`."""

    _dims = 1


class MaxUnpool2d(_MaxUnpool):
    """Undo a ``MaxPool2d(return_indices=True)`` (PyTorch: ``nn.MaxUnpool2d(kernel_size,
    stride=None, padding=0)``): (N, C, H, W) or (C, H, W) values back at their flat
    ``h·W_out + w`` indices. See :class:`_MaxUnpool`."""


class _LPPool(_Pool):
    """Power-average pooling, ``y = (Σ_window x^p)^(1/p)`` (PyTorch's ``LPPool``).

    ``p = norm_type``; ``p = 1`` is sum pooling, ``p → ∞`` approaches max pooling. As in
    PyTorch the sum is ``k · avg_pool(x^p)`` (``k`` the window size; a ceil-mode window
    overhanging the input is averaged over its clipped size first), and a negative
    window sum or a negative ``x`` with a non-integer ``p`` gives NaN. Backward, with
    ``S`` that sum and ``A`` the (linear) average pool:
    ``∂L/∂x = x^(p-1) · Aᵀ(k · G · S^(1/p - 1))`` (the ``p`` of ``∂x^p/∂x`` cancels the
    ``1/p`` of ``∂S^(1/p)/∂S``). Caches ``x^(p-1)`` and ``S^(1/p-1)``.
    """

    _SETTINGS = frozenset({"kernel_size", "stride", "ceil_mode"})

    def __init__(
        self,
        norm_type: float,
        kernel_size: IntOrPair,
        stride: IntOrPair | None = None,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        self.norm_type = norm_type
        self.kernel_size = kernel_size
        self.stride = stride
        self.ceil_mode = ceil_mode
        self._configure_first()

    def _configure(self) -> None:
        name, n = type(self).__name__, self._dims
        k = _as_tuple(self.kernel_size, n, "kernel_size", name)
        s = k if self.stride is None else _as_tuple(self.stride, n, "stride", name)
        kernel, stride = ((1, k[0]), (1, s[0])) if n == 1 else ((k[0], k[1]), (s[0], s[1]))
        _validate_window(name, kernel, stride, (0, 0), (1, 1))
        self._geometry = F.PoolGeometry(kernel, stride, (0, 0), (1, 1), self.ceil_mode)

    def forward(self, x: Array) -> Array:
        x4 = self._as_batched_2d(x)
        self._check_output(x4, self._geometry.output_size(*x4.shape[2:]))
        y, self._cache = F.lp_pool2d_forward(x4, self.norm_type, self._geometry)
        return self._finish(y)

    def backward(self, grad_output: Array) -> Array:
        cache = self._saved(self._cache)
        return self._unbatch_grad(
            F.lp_pool2d_gradient(self._grad_as_batched_2d(grad_output), cache)
        )

    def extra_repr(self) -> str:
        return (
            f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, ceil_mode={self.ceil_mode}"
        )


class LPPool1d(_LPPool):
    """Power-average pooling over (N, C, L) or (C, L) (PyTorch: ``nn.LPPool1d(norm_type,
    kernel_size, stride=None, ceil_mode=False)``). See :class:`_LPPool`."""

    _dims = 1


class LPPool2d(_LPPool):
    """Power-average pooling over (N, C, H, W) or (C, H, W) (PyTorch: ``nn.LPPool2d``).
    See :class:`_LPPool`."""


class MaxUnpool3d(_MaxUnpool):
    """Undo a ``MaxPool3d(return_indices=True)`` (PyTorch: ``nn.MaxUnpool3d(kernel_size,
    stride=None, padding=0)``): (N, C, D, H, W) or (C, D, H, W) values back at their flat
    ``(z·H_out + h)·W_out + w`` indices. See :class:`_MaxUnpool`."""

    _dims = 3


class _Pool3d(Module):
    """Input checks and (un)batching of the 3-d pools (plain kernels in
    :mod:`refnet.nn.functional.pooling3d`); arguments kept as given, as in PyTorch."""

    def __init__(self) -> None:
        super().__init__()
        self._cache: Any = None
        self._output_shape: tuple[int, ...] | None = None
        self._batched = True

    def _batched_input(self, x: object) -> Array:
        x = float_input(self, x)
        if x.ndim not in (4, 5) or 0 in x.shape[-4:]:  # C too, as torch; N may be 0
            raise shape_error(self, "(N, C, D, H, W) or (C, D, H, W) with no empty dimension", x)
        self._batched = x.ndim == 5
        return x if self._batched else x[None]

    def _finish(self, y: Array) -> Array:
        out = y if self._batched else y[0]
        self._output_shape = out.shape
        return out

    def _unbatched(self, a: Array) -> Array:
        return a if self._batched else a[0]

    def _gradient(self, grad_output: object) -> Array:
        g = same_shape_gradient(self, grad_output, self._saved(self._output_shape))
        return g if self._batched else g[None]

    def _geometry(self, dilation: Any = 1) -> P3.Pool3dGeometry:
        geometry = P3.Pool3dGeometry.checked(
            self.kernel_size,
            self.stride,
            self.padding,
            dilation,
            self.ceil_mode,
            type(self).__name__,
        )
        return geometry

    def _check_fits(self, geometry: P3.Pool3dGeometry, x5: Array) -> None:
        out = geometry.output_size(x5.shape[2:])
        if min(out) < 1:
            shape = x5.shape if self._batched else x5.shape[1:]
            raise ValueError(
                f"{self.describe()}: input of shape {tuple(shape)} is too small for the "
                f"window: the output size would be {out}"
            )

    kernel_size: Any
    stride: Any
    padding: Any
    ceil_mode: bool


class MaxPool3d(_Pool3d):
    """3-d max pooling over (N, C, D, H, W) or (C, D, H, W) input (PyTorch:
    ``nn.MaxPool3d(kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
    ceil_mode=False)``).

    ``y[n, c, z, p, q] = max`` over the ``kd × kh × kw`` taps of the input padded with -∞;
    the first maximum in window order wins. Backward: each window's gradient goes to its
    winner (summed where windows overlap). ``return_indices`` also returns the flat
    ``(z·H + h)·W + w`` winner indices (int64); the backward then takes
    ``(grad_output, None)``. Caches the winning tap of every window. Plain kernel.
    """

    def __init__(
        self,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        dilation: Any = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode
        self._geometry(dilation)  # refuse bad arguments now, as the 2-d layers do

    def forward(self, x: Array) -> Array | tuple[Array, Array]:
        x5 = self._batched_input(x)
        geometry = self._geometry(self.dilation)
        self._check_fits(geometry, x5)
        y, self._cache = P3.max_pool3d_forward(x5, geometry)
        out = self._finish(y)
        if not self.return_indices:
            return out
        return out, self._unbatched(self._cache.indices())

    def backward(self, grad_output: Array, grad_indices: None = None) -> Array:
        cache = self._saved(self._cache)
        return self._unbatched(P3.max_pool3d_gradient(self._gradient(grad_output), cache))

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class AvgPool3d(_Pool3d):
    """3-d average pooling over (N, C, D, H, W) or (C, D, H, W) input (PyTorch:
    ``nn.AvgPool3d(kernel_size, stride=None, padding=0, ceil_mode=False,
    count_include_pad=True, divisor_override=None)``).

    ``y = Σ window / divisor``, the input zero-padded, PyTorch's divisor (see
    ``AvgPool2d``); as PyTorch, every spatial size must be at least the kernel's.
    Backward: ``G / divisor`` spread over every window. Caches the divisors. Plain
    kernel.
    """

    def __init__(
        self,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override
        if divisor_override is not None and divisor_override == 0:
            raise ValueError("AvgPool3d: divisor_override must not be zero")
        self._geometry()

    def forward(self, x: Array) -> Array:
        x5 = self._batched_input(x)
        geometry = self._geometry()
        self._check_fits(geometry, x5)
        P3.check_avg_pool3d_input(geometry, x5, self.describe())
        y, self._cache = P3.avg_pool3d_forward(
            x5, geometry, self.count_include_pad, self.divisor_override
        )
        return self._finish(y)

    def backward(self, grad_output: Array) -> Array:
        cache = self._saved(self._cache)
        return self._unbatched(P3.avg_pool3d_gradient(self._gradient(grad_output), cache))

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool3d(_Pool3d):
    """Average pooling of (N, C, D, H, W) or (C, D, H, W) to a fixed output size
    (PyTorch: ``nn.AdaptiveAvgPool3d(output_size)``; ``None`` keeps an input size).

    The windows of ``AdaptiveAvgPool2d`` along three axes; separable, so forward and
    backward are products with one 0/1 window matrix per axis. Caches the matrices.
    """

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size
        P3.adaptive_size((1, 1, 1), output_size, "AdaptiveAvgPool3d")

    def forward(self, x: Array) -> Array:
        x5 = self._batched_input(x)
        out = P3.adaptive_size(x5.shape[2:], self.output_size, self.describe())
        y, self._cache = P3.adaptive_avg_pool3d_forward(x5, out)
        return self._finish(y)

    def backward(self, grad_output: Array) -> Array:
        cache = self._saved(self._cache)
        return self._unbatched(P3.adaptive_avg_pool3d_gradient(self._gradient(grad_output), cache))

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool3d(_Pool3d):
    """Max pooling of (N, C, D, H, W) or (C, D, H, W) to a fixed output size (PyTorch:
    ``nn.AdaptiveMaxPool3d(output_size, return_indices=False)``).

    The adaptive windows, each reduced by its first maximum; backward routes each
    window's gradient to its winner. Caches the winners' flat indices, which
    ``return_indices`` also returns (the backward then takes ``(grad_output, None)``).
    """

    def __init__(self, output_size: Any, return_indices: bool = False) -> None:
        super().__init__()
        self.output_size = output_size
        self.return_indices = return_indices
        P3.adaptive_size((1, 1, 1), output_size, "AdaptiveMaxPool3d")

    def forward(self, x: Array) -> Array | tuple[Array, Array]:
        x5 = self._batched_input(x)
        out = P3.adaptive_size(x5.shape[2:], self.output_size, self.describe())
        y, self._cache = P3.adaptive_max_pool3d_forward(x5, out)
        result = self._finish(y)
        if not self.return_indices:
            return result
        return result, self._unbatched(self._cache.winner)

    def backward(self, grad_output: Array, grad_indices: None = None) -> Array:
        cache = self._saved(self._cache)
        return self._unbatched(P3.adaptive_max_pool3d_gradient(self._gradient(grad_output), cache))

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
