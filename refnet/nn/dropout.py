"""The dropout layers: random zeroing during training, identity in evaluation.

``Dropout`` (elements), ``Dropout1d``/``Dropout2d``/``Dropout3d`` (whole channels),
``AlphaDropout``/``FeatureAlphaDropout`` (for SELU networks: dropped values set to SELU's
negative saturation and an affine correction, see :class:`AlphaDropout`).

Inverted dropout: in training mode the output is ``y = x · noise`` with
``noise = mask / (1 - p)`` and each mask element 1 with probability ``1 - p``.
Because ``E[noise] = 1``, ``E[y] = x``: the network sees inputs of the same expected
size in both modes, and evaluation mode is the identity (no rescaling at test time).

The backward is the same product: ``y`` is linear in ``x`` for a fixed mask, so
``∂L/∂x = ∂L/∂y · noise`` (dropped elements get no gradient). The noise of the latest
forward is cached for it.

The mask comes from the module's ``generator`` (``generator=`` an int seed or a
``np.random.Generator``; ``None`` follows :func:`refnet.manual_seed`), so the same seed
gives the same masks, call after call.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from refnet._typing import Array, Seed
from refnet.nn import functional as F
from refnet.nn._validation import float_input, same_shape_gradient, shape_error
from refnet.nn.module import Module
from refnet.random import as_generator


class _DropoutNd(Module):
    """Common code: the probability, the generator, the cached noise."""

    def __init__(self, p: float = 0.5, inplace: bool = False, generator: Seed = None) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(
                f"{type(self).__name__}: dropout probability has to be between 0 and 1, but got {p}"
            )
        self.p = p
        self.inplace = inplace
        # None stays None so that refnet.manual_seed() governs it at every call; a seed
        # becomes one Generator now, so successive calls draw different masks.
        self.generator: np.random.Generator | None = (
            None if generator is None else as_generator(generator)
        )
        self._shape: tuple[int, ...] | None = None
        self._noise: Array | None = None

    def _noise_shape(self, x: Array) -> tuple[int, ...]:
        """The shape of the mask; broadcast against the input."""
        raise NotImplementedError

    def forward(self, x: Array) -> Array:
        x = float_input(self, x)
        noise_shape = self._noise_shape(x)
        self._shape, self._noise = x.shape, None
        if not self.training or self.p == 0.0 or x.size == 0:
            return x
        if self.p == 1.0:  # zeros for every kind, as PyTorch's _dropout_impl
            self._noise = np.zeros(noise_shape, dtype=x.dtype)
            return x * self._noise
        rng = as_generator(self.generator)
        out, self._noise = self._apply(x, F.dropout_noise(noise_shape, self.p, x.dtype, rng))
        return out

    def _apply(self, x: Array, noise: Array) -> tuple[Array, Array]:
        """The training-mode output for the drawn ``noise = mask / (1 - p)``, and the
        factor its backward multiplies by (inverted dropout: ``x · noise`` and ``noise``)."""
        return x * noise, noise

    def backward(self, grad_output: Array) -> Array:
        g = same_shape_gradient(self, grad_output, self._saved(self._shape))
        return g if self._noise is None else g * self._noise

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Zero each element with probability ``p`` and scale the rest by ``1/(1 - p)``.

    PyTorch: ``nn.Dropout(p=0.5, inplace=False)``; refnet adds ``generator=``. Any input
    shape. ``p = 0`` and evaluation mode return the input itself; ``p = 1`` returns
    zeros (``x · 0``, so NaN stays NaN, as in PyTorch). See the module docstring for the
    expectation argument and the backward. ``inplace`` is accepted for compatibility and
    has no effect: refnet never overwrites its input (the values are the same).

    Caches the noise ``mask / (1 - p)`` (the input's shape and dtype).
    """

    def _noise_shape(self, x: Array) -> tuple[int, ...]:
        return tuple(x.shape)


class Dropout2d(_DropoutNd):
    """Zero whole channels: each ``x[n, c]`` feature map is dropped with probability ``p``.

    PyTorch: ``nn.Dropout2d(p=0.5, inplace=False)``. Input ``(N, C, H, W)``: the mask has
    shape ``(N, C, 1, 1)`` and is broadcast over the map, so neighbouring (strongly
    correlated) pixels are dropped together. Kept channels are scaled by ``1/(1 - p)``.

    3-D input is read as ``(N, C, L)`` with one mask element per ``(n, c)`` — channel-wise
    1-D dropout — which is what PyTorch does (with the same warning: PyTorch plans to
    read it as an unbatched ``(C, H, W)`` instead). Other dimensionalities are an error
    here; PyTorch accepts them with a deprecation warning.

    Backward as for :class:`Dropout`: ``∂L/∂x = ∂L/∂y · noise``, the noise broadcast.
    Caches the ``(N, C, 1, 1)`` noise.
    """

    def _noise_shape(self, x: Array) -> tuple[int, ...]:
        if x.ndim not in (3, 4):
            raise shape_error(self, "(N, C, H, W) or (N, C, L)", x)
        if x.ndim == 3 and self.training:
            warnings.warn(
                "Dropout2d: received a 3-D input and, as PyTorch, drops whole channels of "
                "(N, C, L) (channel-wise 1-D dropout); PyTorch plans to read 3-D input as "
                "unbatched (C, H, W) instead. Use 4-D input to be unambiguous.",
                UserWarning,
                stacklevel=5,  # the layer's caller: past this, forward, Module's two
            )
        return tuple(x.shape[:2]) + (1,) * (x.ndim - 2)


class Dropout1d(_DropoutNd):
    """Zero whole channels of a sequence: each ``x[n, c, :]`` is dropped with probability ``p``.

    PyTorch: ``nn.Dropout1d(p=0.5, inplace=False)``. Input ``(N, C, L)`` or unbatched
    ``(C, L)``; the mask has shape ``(N, C, 1)`` (``(C, 1)``) and is broadcast along ``L``;
    kept channels are scaled by ``1/(1 - p)``. Other shapes are refused, as in PyTorch.
    Backward: ``∂L/∂x = ∂L/∂y · noise``. Caches the noise.
    """

    def _noise_shape(self, x: Array) -> tuple[int, ...]:
        if x.ndim not in (2, 3):
            raise shape_error(self, "(N, C, L) or (C, L)", x)
        return tuple(x.shape[:-1]) + (1,)


class Dropout3d(_DropoutNd):
    """Zero whole 3-D feature maps: each ``x[n, c]`` is dropped with probability ``p``.

    PyTorch: ``nn.Dropout3d(p=0.5, inplace=False)``. Input ``(N, C, D, H, W)`` or
    unbatched ``(C, D, H, W)``; the mask is ``(N, C, 1, 1, 1)`` (``(C, 1, 1, 1)``),
    kept maps scaled by ``1/(1 - p)``. Other dimensionalities are refused (PyTorch
    accepts them with a deprecation warning). Backward: ``∂L/∂x = ∂L/∂y · noise``.
    Caches the noise.
    """

    def _noise_shape(self, x: Array) -> tuple[int, ...]:
        if x.ndim not in (4, 5):
            raise shape_error(self, "(N, C, D, H, W) or (C, D, H, W)", x)
        return tuple(x.shape[: x.ndim - 3]) + (1, 1, 1)


# SELU's negative saturation value -λα (λ = 1.0507..., α = 1.6732...), PyTorch's constant.
_ALPHA_PRIME = 1.7580993408473766


def alpha_dropout_coefficients(p: float) -> tuple[float, float]:
    """``(a, b)`` of alpha dropout for a drop probability ``0 < p < 1``.

    A dropped unit is set to SELU's negative saturation ``α' = -λα ≈ -1.7581`` (the value
    SELU gives far below zero, so "dropped" looks like "strongly off"), and then an affine
    map ``y = a z + b`` restores a zero mean and unit variance. For ``z = x m + α'(1 - m)``
    with ``x`` of mean 0 and variance 1 and ``m`` kept with probability ``q = 1 - p``:
    ``E[z] = α' p`` and ``Var[z] = q + α'² p - α'² p² = q (1 + α'² p)``, so

        a = (q (1 + α'² p))^{-1/2},      b = -a E[z] = -a α' p  (> 0).
    """
    a = 1.0 / math.sqrt((_ALPHA_PRIME * _ALPHA_PRIME * p + 1) * (1 - p))
    return a, _ALPHA_PRIME * a * p


class AlphaDropout(_DropoutNd):
    """Dropout that keeps a SELU network self-normalising (PyTorch: ``nn.AlphaDropout``).

    In training, each element is kept with probability ``1 - p``; a dropped one becomes
    SELU's saturation ``α'`` instead of 0, and the result is mapped by ``a z + b``
    (:func:`alpha_dropout_coefficients`) so a zero-mean, unit-variance input keeps both::

        y = a m x + a α' (1 - m) + b          (m ∈ {0, 1} per element)

    computed in PyTorch's order (``b' = (m - 1) α a + α a p``, ``y = x (a m) + b'`` with
    ``α = -α'``). Evaluation mode and ``p = 0`` are the identity; ``p = 1`` gives zeros,
    as PyTorch. Backward: ``y`` is affine in ``x``, so ``∂L/∂x = ∂L/∂y · a m``. Any input
    shape. Caches ``a m``.
    """

    def _noise_shape(self, x: Array) -> tuple[int, ...]:
        return tuple(x.shape)

    def _apply(self, x: Array, noise: Array) -> tuple[Array, Array]:
        a, b = alpha_dropout_coefficients(self.p)
        mask = (noise != 0).astype(x.dtype)
        shift = (mask - 1) * (_ALPHA_PRIME * a) + b
        factor = mask * a
        return x * factor + shift, factor


class FeatureAlphaDropout(AlphaDropout):
    """Alpha dropout of whole channels (PyTorch: ``nn.FeatureAlphaDropout``).

    As :class:`AlphaDropout`, with one mask element per ``(n, c)`` of an input ``(N, C,
    *)`` (at least 2-D; PyTorch reads the first two axes as batch and channel even for
    an unbatched input, and so does refnet), broadcast over the remaining axes.
    """

    def _noise_shape(self, x: Array) -> tuple[int, ...]:
        if x.ndim < 2:
            raise shape_error(self, "(N, C, *)", x)
        return tuple(x.shape[:2]) + (1,) * (x.ndim - 2)
