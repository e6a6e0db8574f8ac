"""``Parameter``: a trainable array and the gradient that backward accumulates into it."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from refnet._typing import Array


class Parameter:
    """A trainable array ``data`` and its gradient ``grad``, of one shape and dtype.

    PyTorch counterpart: ``torch.nn.Parameter``. Layers read ``p.data`` in ``forward`` and
    **add** into ``p.grad`` in ``backward`` (``p.grad += ...``, never ``p.grad = ...``);
    optimizers update ``p.data`` in place. Because both sides work in place, an optimizer
    may keep views of ``data`` and ``grad`` (for example into one flat buffer) and a layer
    always sees the current values.

    ``grad`` is always an array (zeros after ``zero_grad``), never ``None``: this differs
    from PyTorch's ``set_to_none=True`` default so that in-place views stay valid.

    ``requires_grad=False`` freezes the parameter: optimizers skip it (layers still fill
    its ``grad``, which costs little and keeps every backward simple).

    >>> p = Parameter(np.ones((2, 3), dtype=np.float32))
    >>> p
    Parameter(shape=(2, 3), dtype=float32)
    >>> float(p.grad.sum())
    0.0
    """

    __slots__ = ("data", "grad", "requires_grad")

    def __init__(self, data: npt.ArrayLike, requires_grad: bool = True) -> None:
        array = np.asarray(data)
        if not np.issubdtype(array.dtype, np.floating):
            raise TypeError(f"Parameter data must be a floating-point array, got {array.dtype}")
        self.data: Array = array
        self.grad: Array = np.zeros_like(array)
        self.requires_grad = requires_grad

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of ``data`` (and of ``grad``)."""
        return tuple(self.data.shape)

    @property
    def dtype(self) -> np.dtype[np.generic]:
        """The dtype of ``data`` (and of ``grad``)."""
        return self.data.dtype

    @property
    def ndim(self) -> int:
        """The number of dimensions of ``data``."""
        return int(self.data.ndim)

    @property
    def size(self) -> int:
        """Number of elements (PyTorch's ``numel()``)."""
        return int(self.data.size)

    def numel(self) -> int:
        """Number of elements, as PyTorch's ``numel()``."""
        return self.size

    def zero_grad(self) -> None:
        """Reset the gradient to zero in place (views of it stay valid)."""
        self.grad[...] = 0

    def astype(self, dtype: npt.DTypeLike) -> None:
        """Convert ``data`` and ``grad`` to ``dtype`` (a no-op if they already have it)."""
        self.data = self.data.astype(dtype, copy=False)
        self.grad = self.grad.astype(dtype, copy=False)

    def __repr__(self) -> str:
        frozen = "" if self.requires_grad else ", requires_grad=False"
        return f"Parameter(shape={self.shape}, dtype={self.dtype}{frozen})"
