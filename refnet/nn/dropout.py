"""``Dropout`` and ``Dropout2d``: random zeroing during training, identity in evaluation.

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
        if self.p == 1.0:
            self._noise = np.zeros(noise_shape, dtype=x.dtype)
        else:
            rng = as_generator(self.generator)
            self._noise = F.dropout_noise(noise_shape, self.p, x.dtype, rng)
        return x * self._noise

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
                stacklevel=3,
            )
        return tuple(x.shape[:2]) + (1,) * (x.ndim - 2)
