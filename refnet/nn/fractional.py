"""Fractional max pooling (Graham, 2014): pooling by a non-integer factor.

An ordinary 2x2 max pool halves each side; fractional pooling shrinks a side of n
positions to any m < n. The windows (all ``kernel_size`` wide) start at pseudo-random
positions that advance by ⌊α⌋ or ⌈α⌉, α = (n − k)/(m − 1), so m windows span the side:
for a uniform sample u in [0, 1),

    start_i = ⌊(i + u) α⌋ − ⌊u α⌋   (i < m − 1),     start_{m−1} = n − k.

Each plane (sample and channel) draws its own u per spatial axis, every forward (so the
pooling regions change from step to step: a regulariser), unless ``_random_samples`` fixes
them, as in PyTorch, whose layout ``(N, C, axes)`` refnet follows so the same samples give
the same windows, including its axis order: (W, H) for the 2-D layer, (T, H, W) for 3-D.
The backward routes each output's gradient to the position of its maximum (the first one
on ties, as PyTorch); windows may overlap, so a position can collect several. The kernel is
the plain loop only (:func:`fractional_max_pool_reference`): a layer for reading and for
small models, not tuned.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from refnet._typing import Array, IntArray, Seed
from refnet.nn._validation import float_input, same_shape_gradient
from refnet.nn.functional.pooling import add_at_positions
from refnet.nn.module import Module
from refnet.random import as_generator

__all__ = [
    "FractionalMaxPool2d",
    "FractionalMaxPool3d",
    "fractional_max_pool_reference",
    "fractional_starts",
]


def fractional_starts(sample: float, size: int, out: int, kernel: int, dtype: type) -> IntArray:
    """The ``out`` window starts along one axis of ``size`` for the uniform ``sample``,
    computed in the input's floating type (PyTorch's arithmetic, rounding included)."""
    starts = np.empty(out, dtype=np.int64)
    if out > 1:
        alpha = dtype(size - kernel) / dtype(out - 1)
        u = dtype(sample)
        for i in range(out - 1):
            starts[i] = int(dtype(i + u) * alpha) - int(u * alpha)
    if out > 0:
        starts[out - 1] = size - kernel
    return starts


def fractional_max_pool_reference(
    x: Array, kernel: tuple[int, ...], out: tuple[int, ...], samples: Array
) -> tuple[Array, IntArray]:
    """The max over each window, plane by plane: ``(y, flat argmax index in the plane)``.

    ``x`` is ``(N, C, *spatial)``, ``samples`` ``(N, C, len(spatial))``, ``samples[..., d]``
    the sample of spatial axis d. Ties keep the first maximum; a NaN wins.
    """
    N, C, *spatial = x.shape
    dims = len(spatial)
    y = np.empty((N, C, *out), dtype=x.dtype)
    where = np.empty((N, C, *out), dtype=np.int64)
    scalar = x.dtype.type
    for n, c in itertools.product(range(N), range(C)):
        starts = [
            fractional_starts(float(samples[n, c, d]), spatial[d], out[d], kernel[d], scalar)
            for d in range(dims)
        ]
        plane = x[n, c]
        for index in itertools.product(*(range(o) for o in out)):
            window = tuple(
                slice(s[i], s[i] + k) for s, i, k in zip(starts, index, kernel, strict=True)
            )
            values = plane[window]
            best = (
                int(np.argmax(values))
                if not np.isnan(values).any()
                else int(np.argmax(np.isnan(values)))
            )
            local = np.unravel_index(best, values.shape)
            position = tuple(s[i] + j for s, i, j in zip(starts, index, local, strict=True))
            y[n, c][index] = plane[position]
            where[n, c][index] = np.ravel_multi_index(position, plane.shape)
    return y, where


class _FractionalMaxPoolNd(Module):
    """Shared by the 2-D and 3-D layers; ``dims`` spatial axes."""

    dims: int
    samples_reversed: bool
    #: How many positions the windows must leave over: PyTorch's 3-D layer requires
    #: ``output + kernel - 1 < input`` (strictly), its 2-D layer ``<=``.
    spare: int
    _random_samples: Array | None

    def __init__(
        self,
        kernel_size: int | Sequence[int],
        output_size: int | Sequence[int] | None = None,
        output_ratio: float | Sequence[float] | None = None,
        return_indices: bool = False,
        _random_samples: Array | None = None,
        generator: Seed = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.kernel_size = self._tuple(kernel_size)
        self.return_indices = return_indices
        self.output_size = None if output_size is None else self._tuple(output_size)
        self.output_ratio = None if output_ratio is None else self._tuple(output_ratio)
        if (output_size is None) == (output_ratio is None):
            raise ValueError(f"{name} requires exactly one of output_size and output_ratio")
        if self.output_ratio is not None and not all(0 < r < 1 for r in self.output_ratio):
            raise ValueError(f"{name}: output_ratio must be between 0 and 1 (got {output_ratio})")
        self.register_buffer("_random_samples", _random_samples)
        self._rng = as_generator(generator)

    def _tuple(self, value: object) -> tuple[int, ...]:
        if isinstance(value, Sequence):
            if len(value) != self.dims:
                raise ValueError(f"{type(self).__name__}: expected {self.dims} values, got {value}")
            return tuple(value)
        return (value,) * self.dims  # type: ignore[return-value]

    def _output_shape(self, spatial: tuple[int, ...]) -> tuple[int, ...]:
        if self.output_size is not None:
            return self.output_size
        assert self.output_ratio is not None
        return tuple(int(s * r) for s, r in zip(spatial, self.output_ratio, strict=True))

    def forward(self, input: Array) -> Array | tuple[Array, IntArray]:
        x = float_input(self, input)
        batched = x.ndim == self.dims + 2
        if x.ndim not in (self.dims + 1, self.dims + 2):
            raise ValueError(
                f"{self.describe()}: expected a {self.dims + 1}-D or {self.dims + 2}-D input, "
                f"got shape {x.shape}"
            )
        x4 = x if batched else x[None]
        spatial = x4.shape[2:]
        out = self._output_shape(spatial)
        for size, o, k in zip(spatial, out, self.kernel_size, strict=True):
            if o + k - 1 > size - self.spare:
                raise ValueError(
                    f"{self.describe()}: output size {out} with kernel {self.kernel_size} is "
                    f"too large for an input of spatial size {spatial}"
                )
        samples = self._samples(x4)
        y, where = fractional_max_pool_reference(x4, self.kernel_size, out, samples)
        self._where, self._shape, self._batched = where, x4.shape, batched
        y, where = (y, where) if batched else (y[0], where[0])
        return (y, where) if self.return_indices else y

    def _samples(self, x: Array) -> Array:
        """The fixed ``_random_samples`` or fresh uniforms (N, C, dims) in x's dtype,
        reordered to the spatial axes' order (PyTorch's 2-D layer lists W before H)."""
        samples = self._random_samples
        if samples is None:
            N, C = x.shape[:2]
            samples = self._rng.random((N, C, self.dims)).astype(x.dtype)
        return samples[..., ::-1] if self.samples_reversed else samples

    def backward(self, grad_output: Array, grad_indices: object = None) -> Array:
        where, shape = self._saved(self._where), self._shape
        out_shape = where.shape if self._batched else where.shape[1:]
        g = same_shape_gradient(self, grad_output, out_shape).reshape(where.shape)
        grad = add_at_positions(g, where, shape)  # windows overlap: a weighted histogram
        return grad if self._batched else grad[0]

    def extra_repr(self) -> str:
        return ""


class FractionalMaxPool2d(_FractionalMaxPoolNd):
    """Fractional max pooling over (H, W) (PyTorch: ``nn.FractionalMaxPool2d``); see the
    module docstring. Input (N, C, H, W) or (C, H, W); ``generator`` seeds the samples."""

    dims = 2
    samples_reversed = True
    spare = 0


class FractionalMaxPool3d(_FractionalMaxPoolNd):
    """Fractional max pooling over (T, H, W) (PyTorch: ``nn.FractionalMaxPool3d``); see
    the module docstring. Input (N, C, T, H, W) or (C, T, H, W)."""

    dims = 3
    samples_reversed = False
    spare = 1
