"""``Parameter``: a trainable array and the gradient that backward accumulates into it."""

from __future__ import annotations

from typing import Any

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

    # ------------------------------------------------------------------ array-like
    #
    # Where PyTorch code treats a parameter as a tensor (``np.asarray(p)``, ``p[0]``,
    # ``p.item()``, ``p * 2``, ``p -= lr * g``), a Parameter acts as its ``data``:
    # reads and arithmetic give arrays, in-place operators and item assignment change
    # ``data`` in place (so layers and optimizers keep seeing it). Equality stays
    # identity: parameters are dictionary keys (an optimizer's state).

    def __array__(self, dtype: npt.DTypeLike | None = None, copy: bool | None = None) -> Array:
        if copy:
            return np.array(self.data, dtype=dtype, copy=True)
        return self.data if dtype is None else self.data.astype(dtype, copy=False)

    def __getattr__(self, name: str) -> Any:
        if name in Parameter.__slots__ or name.startswith("__"):
            # Not set yet (during __init__ or a copy), or a protocol hook such as
            # __deepcopy__: the array's would turn a copied Parameter into an array.
            raise AttributeError(name)
        return getattr(self.data, name)  # .T, .sum(), .item(), .tolist(), .reshape(), ...

    def __getitem__(self, index: Any) -> Any:
        return self.data[index]

    def __setitem__(self, index: Any, value: Any) -> None:
        self.data[index] = value

    def __len__(self) -> int:
        return len(self.data)

    def __neg__(self) -> Array:
        return -self.data

    def __add__(self, other: Any) -> Array:
        return self.data + np.asarray(other)

    def __radd__(self, other: Any) -> Array:
        return np.asarray(other) + self.data

    def __sub__(self, other: Any) -> Array:
        return self.data - np.asarray(other)

    def __rsub__(self, other: Any) -> Array:
        return np.asarray(other) - self.data

    def __mul__(self, other: Any) -> Array:
        return self.data * np.asarray(other)

    def __rmul__(self, other: Any) -> Array:
        return np.asarray(other) * self.data

    def __truediv__(self, other: Any) -> Array:
        return self.data / np.asarray(other)

    def __rtruediv__(self, other: Any) -> Array:
        return np.asarray(other) / self.data

    def __pow__(self, other: Any) -> Array:
        return self.data ** np.asarray(other)

    def __rpow__(self, other: Any) -> Array:
        return np.asarray(other) ** self.data

    def __matmul__(self, other: Any) -> Array:
        return self.data @ np.asarray(other)

    def __rmatmul__(self, other: Any) -> Array:
        return np.asarray(other) @ self.data

    def __iadd__(self, other: Any) -> Parameter:
        self.data += np.asarray(other)
        return self

    def __isub__(self, other: Any) -> Parameter:
        self.data -= np.asarray(other)
        return self

    def __imul__(self, other: Any) -> Parameter:
        self.data *= np.asarray(other)
        return self

    def __itruediv__(self, other: Any) -> Parameter:
        self.data /= np.asarray(other)
        return self
