"""Kernels shared by the losses: ``xlogy`` and the p-norm distance with its gradient.

They keep the dtype of their array arguments (Python-float parameters do not upcast).
"""

from __future__ import annotations

import math

import numpy as np

from refnet._typing import Array


def xlogy(x: Array, y: Array) -> Array:
    """``x · log y``, and 0 where ``x == 0`` (PyTorch: ``torch.xlogy``).

    The convention ``0 · log 0 = 0`` is the limit of ``t log t`` as ``t → 0⁺``, which is
    what an entropy or a KL divergence needs for probabilities that are exactly zero.
    """
    safe_y = np.where(x == 0, 1, y)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x == 0, 0, x * np.log(safe_y))


def softmax_parts(x: Array, axis: int) -> tuple[Array, Array, Array]:
    """``softmax(x)`` and the two parts ``m``, ``log Z`` of ``logsumexp(x) = m + log Z``.

    ``m`` is the maximum along ``axis`` and ``Z = Σ e^{x - m} ≥ 1`` (both kept as size-1
    axes), so ``log_softmax(x) = (x - m) - log Z`` can be read anywhere without writing
    it out, and ``softmax(x) = e^{x - m} / Z``. Every ``exp`` is of a non-positive number.
    One pass each for the max, the shift, the exp, the sum and the division: the cost of
    one log-softmax, with the softmax that cross-entropy's gradient needs as its result.
    A row whose maximum is infinite gives NaN throughout, as torch's softmax and
    log_softmax do (and so its cross-entropy is NaN, as torch's).
    """
    m = np.max(x, axis=axis, keepdims=True)
    p = np.subtract(x, m)
    np.exp(p, out=p)
    z = np.sum(p, axis=axis, keepdims=True)
    p /= z
    return p, m, np.log(z)


def pairwise_distance(x1: Array, x2: Array, p: float = 2.0, eps: float = 1e-6) -> Array:
    """``‖x1 - x2 + eps‖_p`` along the last axis (PyTorch: ``F.pairwise_distance``).

    Shapes: ``(*, D)`` and ``(*, D)`` give ``(*)``. PyTorch adds ``eps`` to every
    component of the difference (not to the norm), which keeps the gradient of the
    2-norm finite when ``x1 == x2``; refnet does the same so the values agree.
    """
    return p_norm(x1 - x2 + eps, p)


def pairwise_distance_backward(
    grad: Array, x1: Array, x2: Array, p: float = 2.0, eps: float = 1e-6
) -> tuple[Array, Array]:
    """``(∂L/∂x1, ∂L/∂x2)`` of :func:`pairwise_distance` for ``x1`` and ``x2`` of one shape.

    With ``v = x1 - x2 + eps``: ``∂L/∂x1 = G ∂‖v‖_p/∂v`` (:func:`p_norm_backward`) and
    ``∂L/∂x2 = -∂L/∂x1``, ``G`` the upstream gradient of shape ``(*)``.
    """
    v = x1 - x2 + eps
    g = grad[..., None] * p_norm_backward(v, p_norm(v, p), p)
    return g, -g


def p_norm(v: Array, p: float) -> Array:
    """``‖v‖_p = (Σ_k |v_k|^p)^{1/p}`` along the last axis; ``max_k |v_k|`` for ``p = ∞``
    and, as PyTorch, the number of nonzero ``v_k`` for ``p = 0``."""
    a = np.abs(v)
    if p == 0:
        return np.count_nonzero(a, axis=-1).astype(v.dtype)
    if p == 2:
        return np.sqrt(np.sum(a * a, axis=-1))
    if p == 1:
        return np.sum(a, axis=-1)
    if math.isinf(p):
        return np.max(a, axis=-1)
    return np.sum(a**p, axis=-1) ** (1 / p)


def p_norm_backward(v: Array, norm: Array, p: float) -> Array:
    """``∂‖v‖_p / ∂v`` along the last axis, given ``norm = p_norm(v, p)``.

    From ``‖v‖ = (Σ|v_k|^p)^{1/p}``: ``∂‖v‖/∂v_k = sign(v_k) |v_k|^{p-1} / ‖v‖^{p-1}``,
    which is ``v/‖v‖`` for p = 2 and ``sign(v)`` for p = 1. For p = ∞ the derivative
    of the max is ``sign(v_k)`` at the largest ``|v_k|``, shared equally among ties.
    Where ``‖v‖ = 0`` the gradient is 0 (PyTorch's choice at that non-smooth point). The
    count of nonzeros (p = 0) is piecewise constant: its gradient is 0.
    """
    n = norm[..., None]
    if p == 0:
        return np.zeros_like(v)
    if p == 1:
        return np.sign(v)
    if math.isinf(p):
        at_max = np.abs(v) == n
        return np.sign(v) * at_max / np.sum(at_max, axis=-1, keepdims=True, dtype=v.dtype)
    safe = np.where(n == 0, 1, n)
    if p == 2:
        return np.where(n == 0, 0, v / safe)
    return _p_norm_backward_general(v, safe, p)


def _p_norm_backward_general(v: Array, safe_norm: Array, p: float) -> Array:
    """``sign(v_k) (|v_k| / ‖v‖)^{p-1}``, and 0 where ``v_k = 0``: for ``p < 1`` the power
    is infinite there and PyTorch takes 0, the subgradient that keeps a zero component at
    zero (a zero norm has every ``v_k = 0``, so it is covered too)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = np.sign(v) * (np.abs(v) / safe_norm) ** (p - 1)
    return np.where(v == 0, 0, scaled)
