"""``Embedding``: a learned lookup table from integer indices to vectors."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from refnet._typing import Array, Seed
from refnet.nn import functional as F
from refnet.nn import init
from refnet.nn._validation import same_shape_gradient
from refnet.nn.module import Module
from refnet.nn.parameter import Parameter


class Embedding(Module):
    """Look up rows of a table: ``y[..., :] = W[i[...], :]`` (PyTorch: ``nn.Embedding``).

    Shapes: indices ``i`` of any shape and integer dtype, each in
    ``[0, num_embeddings)``; ``W`` ``(num_embeddings, embedding_dim)``; ``y``
    ``i.shape + (embedding_dim,)``. Initialised from N(0, 1), as in PyTorch.

    Backward: the lookup is a product with a one-hot matrix, ``y = onehot(i) W``, so

        ∂L/∂W_r = Σ_{m : i_m = r} ∂L/∂y_m,

    the gradients of every position that looked row r up, added together (repeated
    indices accumulate). ``backward`` adds that into ``weight.grad`` with a vectorised
    scatter (:func:`refnet.nn.functional.embedding_backward`) and returns ``None``:
    indices are integers, not differentiable, so there is no input gradient to pass on
    (an ``Embedding`` is the first layer of its ``Sequential``).

    ``padding_idx``: that row is initialised to zeros and never receives a gradient, so
    it stays a fixed "pad" vector. ``max_norm``: before each lookup, every looked-up row
    whose ``norm_type``-norm exceeds ``max_norm`` is rescaled in place to norm
    ``max_norm`` (this modifies ``weight``, as in PyTorch). ``scale_grad_by_freq``: each
    row's gradient is divided by how often it occurs in the batch.

    Differences from PyTorch: ``sparse=True`` (sparse gradients) is not supported and
    raises ``NotImplementedError``; :meth:`from_pretrained` copies the given array.

    Caches the indices (a reference).
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
        dtype: npt.DTypeLike = np.float32,
        generator: Seed = None,
    ) -> None:
        super().__init__()
        if num_embeddings < 1 or embedding_dim < 0:
            raise ValueError(
                f"Embedding: num_embeddings must be positive and embedding_dim non-negative, "
                f"got ({num_embeddings}, {embedding_dim})"
            )
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(
                    f"Embedding: padding_idx must be within num_embeddings: "
                    f"expected an index in [-{num_embeddings}, {num_embeddings}), "
                    f"got {padding_idx}"
                )
            padding_idx %= num_embeddings
        if sparse:
            raise NotImplementedError(
                "Embedding: sparse=True (sparse gradients) is not supported by refnet; "
                "the dense gradient has the same values"
            )
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = padding_idx
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.sparse = sparse
        self.weight = Parameter(np.empty((num_embeddings, embedding_dim), dtype=dtype))
        self.reset_parameters(generator)
        self._indices: Array | None = None

    def reset_parameters(self, generator: Seed = None) -> None:
        """PyTorch's initialisation: N(0, 1), then the padding row set to zero."""
        init.normal_(self.weight, generator=generator)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    @classmethod
    def from_pretrained(
        cls,
        embeddings: npt.ArrayLike,
        freeze: bool = True,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
    ) -> Embedding:
        """An ``Embedding`` whose table is a copy of the 2-D array ``embeddings``.

        ``freeze=True`` sets ``weight.requires_grad = False`` (optimizers skip it). As in
        PyTorch, the ``padding_idx`` row is kept as given (not zeroed).
        """
        table = np.array(embeddings, copy=True)
        if table.ndim != 2:
            raise ValueError(
                f"Embedding.from_pretrained: embeddings must be 2-D, got shape {table.shape}"
            )
        module = cls(
            table.shape[0],
            table.shape[1],
            padding_idx,
            max_norm,
            norm_type,
            scale_grad_by_freq,
            sparse,
            dtype=table.dtype,
            generator=0,
        )
        module.weight = Parameter(table, requires_grad=not freeze)
        return module

    def _check_indices(self, indices: object) -> Array:
        if not isinstance(indices, np.ndarray):
            raise TypeError(
                f"{self.describe()}: expected a NumPy array of indices, "
                f"got {type(indices).__name__}"
            )
        if not np.issubdtype(indices.dtype, np.integer):
            raise TypeError(
                f"{self.describe()}: expected integer indices, got dtype {indices.dtype} "
                f"(convert with indices.astype(np.int64))"
            )
        if indices.size > 0:
            low, high = int(indices.min()), int(indices.max())
            if low < 0 or high >= self.num_embeddings:
                bad = low if low < 0 else high
                raise IndexError(
                    f"{self.describe()}: index {bad} is out of range: indices must be in "
                    f"[0, {self.num_embeddings})"
                )
        return indices

    def forward(self, indices: Array) -> Array:
        indices = self._check_indices(indices)
        if self.max_norm is not None and indices.size > 0:
            F.embedding_renorm_(self.weight.data, indices, self.max_norm, self.norm_type)
        self._indices = indices
        return F.embedding(self.weight.data, indices)

    def backward(self, grad_output: Array) -> None:
        """Add ∂L/∂W into ``weight.grad``; return ``None`` (indices have no gradient)."""
        indices = self._saved(self._indices)
        g = same_shape_gradient(self, grad_output, indices.shape + (self.embedding_dim,))
        rows, row_gradients = F.embedding_backward(
            indices.reshape(-1),
            g.reshape(-1, self.embedding_dim),
            self.padding_idx,
            self.scale_grad_by_freq,
        )
        self.weight.grad[rows] += row_gradients
        return None

    def extra_repr(self) -> str:
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            text += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            text += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            text += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            text += f", scale_grad_by_freq={self.scale_grad_by_freq}"
        return text
