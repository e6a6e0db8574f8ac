"""``Flatten`` and ``Unflatten``: reshapes, whose backward is the inverse reshape."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from refnet._typing import Array
from refnet.nn._validation import shape_error
from refnet.nn.module import Module


class Flatten(Module):
    """Merge dimensions ``start_dim..end_dim`` into one (PyTorch: ``nn.Flatten``).

    ``(N, C, H, W) -> (N, C·H·W)`` with the defaults. A reshape moves no numbers, so the
    backward reshapes the gradient back to the input's shape. Both are views, no copies
    (when the input is contiguous).
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim
        self._input_shape: tuple[int, ...] | None = None

    def forward(self, x: Array) -> Array:
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{self.describe()}: expected a NumPy array, got {type(x).__name__}")
        ndim = max(x.ndim, 1)
        start, end = self.start_dim % ndim, self.end_dim % ndim
        if not -ndim <= self.start_dim < ndim or not -ndim <= self.end_dim < ndim or start > end:
            raise shape_error(self, f"with dims {self.start_dim}..{self.end_dim}", x)
        self._input_shape = x.shape
        # The flattened size spelled out, not -1: NumPy cannot infer it for an empty batch.
        flat = math.prod(x.shape[start : end + 1])
        return x.reshape(x.shape[:start] + (flat,) + x.shape[end + 1 :])

    def backward(self, grad_output: Array) -> Array:
        return _reshaped_back(self, grad_output, self._saved(self._input_shape))

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dimension ``dim`` into ``unflattened_size`` (PyTorch: ``nn.Unflatten``)."""

    def __init__(self, dim: int, unflattened_size: Sequence[int]) -> None:
        super().__init__()
        self.dim = dim
        self.unflattened_size = tuple(unflattened_size)
        self._input_shape: tuple[int, ...] | None = None

    def forward(self, x: Array) -> Array:
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{self.describe()}: expected a NumPy array, got {type(x).__name__}")
        if not -x.ndim <= self.dim < x.ndim:
            raise shape_error(self, f"with a dimension {self.dim}", x)
        dim = self.dim % x.ndim
        try:
            y = x.reshape(x.shape[:dim] + self.unflattened_size + x.shape[dim + 1 :])
        except ValueError:
            raise shape_error(
                self, f"whose dim {self.dim} splits into {self.unflattened_size}", x
            ) from None
        self._input_shape = x.shape
        return y

    def backward(self, grad_output: Array) -> Array:
        return _reshaped_back(self, grad_output, self._saved(self._input_shape))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


def _reshaped_back(module: Module, grad_output: object, input_shape: tuple[int, ...]) -> Array:
    """The output's gradient in the input's shape, after checking it has as many elements."""
    if not isinstance(grad_output, np.ndarray):
        raise TypeError(
            f"{module.describe()}: backward() expects a NumPy array, "
            f"got {type(grad_output).__name__}"
        )
    if grad_output.size != math.prod(input_shape):
        raise ValueError(
            f"{module.describe()}: backward() expects a gradient of the output's size "
            f"({math.prod(input_shape)} elements, input shape {input_shape}), "
            f"got shape {tuple(grad_output.shape)}"
        )
    return grad_output.reshape(input_shape)
