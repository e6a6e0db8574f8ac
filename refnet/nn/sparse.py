"""``Embedding`` (a learned lookup table from integer indices to vectors) and ``EmbeddingBag``."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from refnet._typing import Array, Seed
from refnet.nn import functional as F
from refnet.nn import init
from refnet.nn._validation import float_input, matching_dtype, same_shape_gradient, shape_error
from refnet.nn.module import Module
from refnet.nn.parameter import Parameter


def _pretrained_table(embeddings: npt.ArrayLike, owner: str) -> Array:
    """A copy of ``embeddings``, which ``from_pretrained`` needs 2-D (rows, dimension)."""
    table = np.array(embeddings, copy=True)
    if table.ndim != 2:
        raise ValueError(
            f"{owner}.from_pretrained: embeddings must be 2-D, got shape {table.shape}"
        )
    return table


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
        if num_embeddings < 0 or embedding_dim < 0:  # an empty table is torch's too
            raise ValueError(
                f"Embedding: num_embeddings and embedding_dim must be non-negative, "
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
        table = _pretrained_table(embeddings, "Embedding")
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


class EmbeddingBag(Module):
    """Sums, means or maxima of bags of embeddings, without the intermediate lookups
    (PyTorch: ``nn.EmbeddingBag``).

    A *bag* is a group of indices; its output is one reduction of their rows of ``W``
    ``(num_embeddings, embedding_dim)``. ``forward(input, offsets=None,
    per_sample_weights=None)``:

    * ``input`` ``(B, L)``: B bags of L indices each (``offsets`` must be ``None``); or
    * ``input`` ``(M,)`` with ``offsets`` ``(B,)``: bag ``b`` is ``input[offsets[b] :
      offsets[b + 1]]`` (the last runs to the end; ``offsets[0]`` must be 0). With
      ``include_last_offset=True`` ``offsets`` has ``B + 1`` entries, the last ``M``
      (refused otherwise: PyTorch documents it so, and its sum, mean and max kernels
      treat the entries after a smaller last offset in three different ways).

    With ``w_k`` the per-sample weights (``mode='sum'`` only; 1 without them) and the
    entries equal to ``padding_idx`` left out of every bag (not counted in the mean)::

        'sum'   y_b = Σ_{k ∈ b} w_k W[i_k]
        'mean'  y_b = Σ_{k ∈ b} W[i_k] / n_b          (n_b: the bag's counted entries)
        'max'   y_b = max_{k ∈ b} W[i_k]              (per feature)

    and an empty bag gives zeros. Output ``(B, embedding_dim)``.

    Backward (``G = ∂L/∂y``): each entry ``k`` of bag ``b`` passes ``w_k G_b`` (sum),
    ``G_b / n_b`` (mean) or, per feature, ``G_b`` if it is the bag's maximum there (the
    first one on a tie, as PyTorch) to row ``i_k`` of ``∂L/∂W``, and the rows are added
    with the same scatter as :class:`Embedding` (repeated rows accumulate; the padding
    row gets nothing). ``∂L/∂w_k = G_b · W[i_k]``: ``backward`` returns it when
    ``per_sample_weights`` was given, and ``None`` otherwise (indices and offsets have
    no gradient). The per-bag sums use ``np.add.reduceat`` over the contiguous bags.

    ``max_norm``, ``norm_type``, ``scale_grad_by_freq``: as for :class:`Embedding`
    (each row's gradient divided by the row's frequency in the batch, as torch documents;
    torch's CPU ``embedding_bag`` kernel scales by other counts, e.g. a row seen once in
    ``[1, 1, 2, 1, 3]`` by 3, which refnet does not copy); ``sparse=True`` is not
    supported. Initialised from N(0, 1), the padding row zeroed.
    Caches the flat indices, the bags, the per-entry coefficients and (max) the winners.
    """

    _modes = ("sum", "mean", "max")

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        mode: str = "mean",
        sparse: bool = False,
        _weight: npt.ArrayLike | None = None,
        include_last_offset: bool = False,
        padding_idx: int | None = None,
        dtype: npt.DTypeLike = np.float32,
        generator: Seed = None,
    ) -> None:
        super().__init__()
        if num_embeddings < 0 or embedding_dim < 0:  # an empty table is torch's too
            raise ValueError(
                "EmbeddingBag: num_embeddings and embedding_dim must be non-negative, "
                f"got ({num_embeddings}, {embedding_dim})"
            )
        if mode not in self._modes:
            raise ValueError(f"EmbeddingBag: mode must be 'sum', 'mean' or 'max', got {mode!r}")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(
                    f"EmbeddingBag: padding_idx must be within num_embeddings, got {padding_idx}"
                )
            padding_idx %= num_embeddings
        if sparse:
            raise NotImplementedError(
                "EmbeddingBag: sparse=True (sparse gradients) is not supported by refnet"
            )
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.mode = mode
        self.sparse = sparse
        self.include_last_offset = include_last_offset
        self.padding_idx = padding_idx
        if _weight is None:
            self.weight = Parameter(np.empty((num_embeddings, embedding_dim), dtype=dtype))
            self.reset_parameters(generator)
        else:
            table = np.array(_weight, dtype=dtype, copy=True)
            if table.shape != (num_embeddings, embedding_dim):
                raise ValueError(
                    f"EmbeddingBag: _weight must have shape ({num_embeddings}, "
                    f"{embedding_dim}), got {table.shape}"
                )
            self.weight = Parameter(table)
        self._cache: tuple[Any, ...] | None = None

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
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        mode: str = "mean",
        sparse: bool = False,
        include_last_offset: bool = False,
        padding_idx: int | None = None,
    ) -> EmbeddingBag:
        """An ``EmbeddingBag`` whose table is a copy of the 2-D array ``embeddings``, in
        its dtype (PyTorch's signature and order). ``freeze=True`` sets
        ``weight.requires_grad = False``; the ``padding_idx`` row is kept as given."""
        table = _pretrained_table(embeddings, "EmbeddingBag")
        module = cls(
            table.shape[0],
            table.shape[1],
            max_norm,
            norm_type,
            scale_grad_by_freq,
            mode,
            sparse,
            table,
            include_last_offset,
            padding_idx,
            dtype=table.dtype,
        )
        module.weight.requires_grad = not freeze
        return module

    def _bags(self, indices: Array, offsets: Array | None) -> tuple[Array, Array, int, int]:
        """Flat indices ``(M,)``, the bags' start offsets ``(B,)``, ``B`` and ``M``."""
        if not isinstance(indices, np.ndarray) or not np.issubdtype(indices.dtype, np.integer):
            kind = getattr(indices, "dtype", type(indices).__name__)
            raise TypeError(f"{self.describe()}: expected an integer index array, got {kind}")
        if indices.ndim == 2:
            if offsets is not None:
                raise ValueError(
                    f"{self.describe()}: offsets must be None for a 2-D input "
                    f"{indices.shape} (each row is a bag)"
                )
            B, L = indices.shape
            return indices.reshape(-1), np.arange(B, dtype=np.int64) * L, B, B * L
        if indices.ndim != 1:
            raise shape_error(self, "(B, L), or (M,) with offsets", indices)
        if offsets is None:
            raise ValueError(f"{self.describe()}: a 1-D input needs offsets (one per bag)")
        if not isinstance(offsets, np.ndarray) or not np.issubdtype(offsets.dtype, np.integer):
            raise TypeError(f"{self.describe()}: offsets must be a 1-D integer array")
        if offsets.ndim != 1:
            raise shape_error(self, "(B,)", offsets, "offsets")
        starts = offsets.astype(np.int64)
        M = end = indices.shape[0]
        if self.include_last_offset:
            if starts.size == 0:
                raise ValueError(f"{self.describe()}: include_last_offset needs B + 1 offsets")
            starts, end = starts[:-1], int(starts[-1])
            if end != M:
                raise ValueError(
                    f"{self.describe()}: with include_last_offset the last offset must be the "
                    f"input's length {M}, got {end} (PyTorch's rule; its kernels disagree "
                    "with one another on the entries after it)"
                )
        if starts.size and starts[0] != 0:
            raise ValueError(f"{self.describe()}: offsets[0] must be 0, got {starts[0]}")
        if np.any(np.diff(starts) < 0) or (starts.size and starts[-1] > M):
            raise ValueError(
                f"{self.describe()}: offsets must be non-decreasing and at most the input "
                f"length {M}, got {offsets.tolist()}"
            )
        return indices, starts, starts.size, end

    def forward(
        self,
        input: Array,
        offsets: Array | None = None,
        per_sample_weights: Array | None = None,
    ) -> Array:
        flat, starts, B, end = self._bags(input, offsets)
        if flat.size and (flat.min() < 0 or flat.max() >= self.num_embeddings):
            bad = flat.min() if flat.min() < 0 else flat.max()
            raise IndexError(
                f"{self.describe()}: index {bad} is out of range: indices must be in "
                f"[0, {self.num_embeddings})"
            )
        weights = None
        if per_sample_weights is not None:
            if self.mode != "sum":
                raise ValueError(
                    f"{self.describe()}: per_sample_weights is only supported for mode='sum' "
                    f"(as in PyTorch), got mode={self.mode!r}"
                )
            weights = float_input(self, per_sample_weights, "per_sample_weights")
            if weights.shape != input.shape:
                raise shape_error(self, f"{input.shape}", weights, "per_sample_weights")
            matching_dtype(self, weights, self.weight.dtype, "per_sample_weights")
            weights = weights.reshape(-1)
        if self.max_norm is not None and flat.size:
            F.embedding_renorm_(self.weight.data, flat, self.max_norm, self.norm_type)
        W = self.weight.data
        M, D = flat.shape[0], self.embedding_dim
        position = np.arange(M)
        bag = np.maximum(np.searchsorted(starts, position, side="right") - 1, 0)  # entry's bag
        valid = position < end
        if self.padding_idx is not None:
            valid &= flat != self.padding_idx
        if B == 0:  # no bag at all: nothing is looked up
            valid[:] = False
            nothing = np.zeros((M, 1), dtype=W.dtype)
            self._cache = (flat, bag, valid, nothing, weights is not None, input.shape, B)
            return np.zeros((0, D), dtype=W.dtype)
        counts = np.bincount(bag[valid], minlength=B) if M else np.zeros(B, np.int64)
        rows = np.take(W, flat, axis=0)  # (M, D)
        winners: Array | None = None
        if self.mode == "max":
            masked = np.where(valid[:, None], rows, -np.inf)
            y = _per_bag(np.maximum, masked, starts, M, B, D, W.dtype, -np.inf)
            y = np.where(counts[:, None] > 0, y, 0).astype(W.dtype)
            first = np.where(valid[:, None] & (masked == y[bag]), np.arange(M)[:, None], M)
            winner_of_bag = _per_bag(np.minimum, first, starts, M, B, D, np.int64, M)
            winners = (winner_of_bag[bag] == np.arange(M)[:, None]).astype(W.dtype)
            coefficient = winners
        else:
            c = valid.astype(W.dtype)
            if weights is not None:
                c = c * weights
            if self.mode == "mean":
                c = c / np.maximum(counts, 1).astype(W.dtype)[bag]
            coefficient = c[:, None]
            y = _per_bag(np.add, rows * coefficient, starts, M, B, D, W.dtype, 0)
        self._cache = (flat, bag, valid, coefficient, weights is not None, input.shape, B)
        return y

    def backward(self, grad_output: Array) -> Array | None:
        flat, bag, valid, coefficient, weighted, shape, B = self._saved(self._cache)
        g = same_shape_gradient(self, grad_output, (B, self.embedding_dim))
        if B == 0:
            g = np.zeros((1, self.embedding_dim), dtype=g.dtype)  # every entry is outside
        per_entry = g[bag] * coefficient  # (M, D): what each entry passes to its row
        if flat.size:
            rows, row_gradients = F.embedding_backward(
                flat, per_entry, self.padding_idx, self.scale_grad_by_freq
            )
            self.weight.grad[rows] += row_gradients
        if not weighted:
            return None
        dots = np.sum(g[bag] * np.take(self.weight.data, flat, axis=0), axis=1)
        return np.where(valid, dots, 0).astype(g.dtype).reshape(shape)

    def extra_repr(self) -> str:
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.max_norm is not None:
            text += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            text += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            text += f", scale_grad_by_freq={self.scale_grad_by_freq}"
        text += f", mode={self.mode!r}"
        if self.padding_idx is not None:
            text += f", padding_idx={self.padding_idx}"
        return text


def _per_bag(
    ufunc: np.ufunc,
    values: Array,
    starts: Array,
    M: int,
    B: int,
    D: int,
    dtype: npt.DTypeLike,
    empty: float,
) -> Array:
    """``ufunc.reduceat`` of ``values`` ``(M, D)`` over the contiguous bags; ``empty`` for a
    bag with no entries (``reduceat`` would return the next bag's first entry there)."""
    out = np.full((B, D), empty, dtype=dtype)
    if B == 0:
        return out
    nonempty = np.diff(np.append(starts, M)) > 0
    if M and nonempty.any():
        out[nonempty] = ufunc.reduceat(values, starts[nonempty], axis=0)
    return out
