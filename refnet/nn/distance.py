"""Distances between two inputs: ``CosineSimilarity`` and ``PairwiseDistance``.

Both take two arrays that broadcast together and return one gradient per input; where
an input was broadcast, its gradient is summed over the broadcast axes
(:func:`_sum_to_shape`). ``PairwiseDistance`` reuses the p-norm kernels of
:mod:`refnet.nn.functional.loss` (those of ``TripletMarginLoss``).
"""

from __future__ import annotations

import numpy as np

from refnet._typing import Array
from refnet.nn._validation import float_input, same_shape_gradient, shape_error
from refnet.nn.functional import loss as L
from refnet.nn.module import Module


def _sum_to_shape(grad: Array, shape: tuple[int, ...]) -> Array:
    """``grad`` of a broadcast result, summed back onto an operand of ``shape``."""
    extra = grad.ndim - len(shape)
    summed = grad.sum(axis=tuple(range(extra))) if extra else grad
    kept = tuple(i for i, n in enumerate(shape) if n == 1 and summed.shape[i] != 1)
    return summed.sum(axis=kept, keepdims=True) if kept else summed


def _broadcast_shape(module: Module, x1: Array, x2: Array) -> tuple[int, ...]:
    try:
        return np.broadcast_shapes(x1.shape, x2.shape)
    except ValueError:
        raise ValueError(
            f"{module.describe()}: x1 of shape {x1.shape} and x2 of shape {x2.shape} "
            "do not broadcast together"
        ) from None


class CosineSimilarity(Module):
    """``y = Σ_dim u1 ⊙ u2`` with ``u = x / max(‖x‖, eps)`` (PyTorch: ``nn.CosineSimilarity``).

    Defaults ``dim=1``, ``eps=1e-8``; norms along ``dim``; ``x1`` and ``x2`` are
    broadcast to their common shape first (as in PyTorch, a broadcast axis counts in the
    norm), and ``dim`` is removed from the result. Each input is normalised by its own
    norm, clamped below at ``eps``, as PyTorch does.

    Backward: ``∂L/∂u1 = G u2`` (``G`` broadcast along ``dim``), and through
    ``u = x/‖x‖`` (Jacobian ``(I - u uᵀ)/‖x‖``)
    ``∂L/∂x1 = (∂L/∂u1 - u1 (u1 · ∂L/∂u1)) / ‖x1‖``; where the norm was clamped,
    ``u = x/eps`` and ``∂L/∂x1 = ∂L/∂u1 / eps``. The same for ``x2``. Caches ``u1``,
    ``u2`` and the two clamped norms; each gradient is summed back to its input's shape.

    Where a norm is clamped, PyTorch's gradient differs: it clamps in place under
    ``no_grad``, so its gradient still flows through the unclamped norm (an extra
    ``-(x · ∂L/∂u) x / (eps² ‖x‖)``, not the derivative of what it computes). refnet
    keeps the true derivative there; everywhere else the two agree.
    """

    def __init__(self, dim: int = 1, eps: float = 1e-8) -> None:
        super().__init__()
        self.dim = dim
        self.eps = eps
        self._parts: (
            tuple[Array, Array, Array, Array, int, tuple[int, ...], tuple[int, ...]] | None
        ) = None

    def forward(self, x1: Array, x2: Array) -> Array:
        x1, x2 = float_input(self, x1, "x1"), float_input(self, x2, "x2")
        shape = _broadcast_shape(self, x1, x2)
        if not -len(shape) <= self.dim < len(shape):
            raise shape_error(self, f"with a dimension {self.dim} (x2: {x2.shape})", x1, "x1")
        axis = self.dim % len(shape)
        # PyTorch expands both to the common shape first: a broadcast axis counts in the norm.
        e1, e2 = np.broadcast_to(x1, shape), np.broadcast_to(x2, shape)
        n1, n2 = self._clamped_norm(e1, axis), self._clamped_norm(e2, axis)
        u1, u2 = e1 / n1, e2 / n2
        self._parts = (u1, u2, n1, n2, axis, x1.shape, x2.shape)
        return np.asarray(np.sum(u1 * u2, axis=axis))

    def _clamped_norm(self, x: Array, axis: int) -> Array:
        return np.maximum(np.sqrt(np.sum(x * x, axis=axis, keepdims=True)), self.eps)

    def backward(self, grad_output: Array) -> tuple[Array, Array]:
        u1, u2, n1, n2, axis, shape1, shape2 = self._saved(self._parts)
        out_shape = u1.shape[:axis] + u1.shape[axis + 1 :]
        grad = np.expand_dims(same_shape_gradient(self, grad_output, out_shape), axis)
        return (
            _sum_to_shape(self._through_norm(grad * u2, u1, n1, axis), shape1),
            _sum_to_shape(self._through_norm(grad * u1, u2, n2, axis), shape2),
        )

    def _through_norm(self, grad_u: Array, u: Array, norm: Array, axis: int) -> Array:
        """``∂L/∂x`` from ``∂L/∂u`` for ``u = x / max(‖x‖, eps)``."""
        radial = u * np.sum(u * grad_u, axis=axis, keepdims=True)
        return np.where(norm > self.eps, grad_u - radial, grad_u) / norm

    def extra_repr(self) -> str:
        return ""


class PairwiseDistance(Module):
    """``y = ‖x1 - x2 + eps‖_p`` along the last axis (PyTorch: ``nn.PairwiseDistance``).

    Defaults ``p=2.0``, ``eps=1e-6``, ``keepdim=False``; PyTorch keeps ``p`` as the
    attribute ``norm`` (refnet too; ``p`` reads it). Shapes: ``(*, D)`` and ``(*, D)``
    (broadcasting) give ``(*)``, or ``(*, 1)`` with ``keepdim``. With ``v = x1 - x2 +
    eps``: ``∂L/∂x1 = G ∂‖v‖_p/∂v`` (:func:`~refnet.nn.functional.p_norm_backward`: ``v/‖v‖``
    for p = 2, ``sign v`` for p = 1, 0 where ``v = 0``) and ``∂L/∂x2 = -∂L/∂x1``, each
    summed to its input's shape.
    """

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> None:
        super().__init__()
        if not p >= 0:
            raise ValueError(f"PairwiseDistance: p must be at least 0, got {p}")
        self.norm = p
        self.eps = eps
        self.keepdim = keepdim
        self._parts: tuple[Array, Array, tuple[int, ...], tuple[int, ...]] | None = None

    @property
    def p(self) -> float:
        """The order of the norm (PyTorch's constructor argument; stored as ``norm``)."""
        return self.norm

    def forward(self, x1: Array, x2: Array) -> Array:
        x1, x2 = float_input(self, x1, "x1"), float_input(self, x2, "x2")
        shape = _broadcast_shape(self, x1, x2)
        if not shape:
            raise shape_error(self, "(*, D) with at least one axis", x1, "x1")
        v = x1 - x2 + np.asarray(self.eps, dtype=np.result_type(x1, x2))
        distance = np.asarray(L.p_norm(v, self.norm))
        self._parts = (v, distance, x1.shape, x2.shape)
        return distance[..., None] if self.keepdim else distance

    def backward(self, grad_output: Array) -> tuple[Array, Array]:
        v, distance, shape1, shape2 = self._saved(self._parts)
        out_shape = (*distance.shape, 1) if self.keepdim else distance.shape
        grad = same_shape_gradient(self, grad_output, out_shape).reshape(*distance.shape, 1)
        grad_v = grad * L.p_norm_backward(v, distance, self.norm)
        return _sum_to_shape(grad_v, shape1), _sum_to_shape(-grad_v, shape2)

    def extra_repr(self) -> str:
        return ""
