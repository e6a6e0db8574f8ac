"""``LPPool3d``: power-average pooling over volumes, built from the 3-D pools.

``y = (Σ_window x^p)^(1/p)`` for ``p = norm_type``, computed as PyTorch's does:
``S = k · avg_pool3d(x^p)`` with ``k = k_d k_h k_w``, then ``y = S^(1/p)``; ``p = ±∞`` is
max pooling of ``|x|`` (the minimum for −∞). The 1-D and 2-D layers are in
:mod:`refnet.nn.pooling`; this one composes :class:`refnet.nn.AvgPool3d` and
:class:`refnet.nn.MaxPool3d`, plain kernels.

Backward, with ``A`` the average pool: ``∂L/∂S = G · S^(1/p − 1)/p``, zero where the
window sum is zero (PyTorch's clamp there passes no gradient); ``∂L/∂x = p x^(p−1) ·
Aᵀ(k ∂L/∂S)``. For ±∞: the max pool's backward of ``G``, times ``sign(x)``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from refnet._typing import Array
from refnet.nn._validation import float_input
from refnet.nn.module import Module
from refnet.nn.pooling import AvgPool3d, MaxPool3d

__all__ = ["LPPool3d"]


def _triple(value: Any) -> tuple[int, int, int]:
    if isinstance(value, int):
        return (value, value, value)
    return tuple(value)


class LPPool3d(Module):
    """Power-average pooling over (N, C, D, H, W) or (C, D, H, W) (PyTorch:
    ``nn.LPPool3d(norm_type, kernel_size, stride=None, ceil_mode=False)``); see the module
    docstring."""

    def __init__(
        self,
        norm_type: float,
        kernel_size: Any,
        stride: Any = None,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        self.norm_type = norm_type
        self.kernel_size = kernel_size
        self.stride = stride
        self.ceil_mode = ceil_mode
        self._cache: tuple[Array, Any, Array | None] | None = None

    def _pool(self) -> AvgPool3d | MaxPool3d:
        if math.isinf(self.norm_type):
            return MaxPool3d(self.kernel_size, self.stride, 0, 1, False, self.ceil_mode)
        return AvgPool3d(self.kernel_size, self.stride, 0, self.ceil_mode)

    def forward(self, input: Array) -> Array:
        x = float_input(self, input)
        pool, p = self._pool(), self.norm_type
        with self._as_mine():
            if math.isinf(p):
                sign = 1.0 if p > 0 else -1.0
                self._cache = (x, pool, None)  # a tuple: the pool is a helper, not a child
                return sign * pool(sign * np.abs(x))
            total = pool(x**p) * math.prod(_triple(self.kernel_size))
        self._cache = (x, pool, total)
        return total ** (1.0 / p)

    def backward(self, grad_output: Array) -> Array:
        x, pool, total = self._saved(self._cache)
        p = self.norm_type
        with self._as_mine():
            if total is None:
                sign = 1.0 if p > 0 else -1.0
                return pool.backward(sign * grad_output) * sign * np.sign(x)
            with np.errstate(divide="ignore", invalid="ignore"):
                d_total = np.where(total != 0, grad_output * total ** (1.0 / p - 1.0) / p, 0.0)
            volume = math.prod(_triple(self.kernel_size))
            return pool.backward(d_total * volume) * p * x ** (p - 1)

    @contextlib.contextmanager
    def _as_mine(self) -> Iterator[None]:
        """The inner pool's refusals, under this layer's name (the pool is not a child)."""
        try:
            yield
        except (TypeError, ValueError) as error:
            raise type(error)(f"{self.describe()}: {error}") from None

    def extra_repr(self) -> str:
        return (
            f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, ceil_mode={self.ceil_mode}"
        )
