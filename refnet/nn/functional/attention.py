"""Scaled dot-product attention, forward and backward.

For queries ``Q (..., L, E)``, keys ``K (..., S, E)`` and values ``V (..., S, Ev)``,

    A = Q Kᵀ · scale + M        (..., L, S)   scale = 1/√E unless given
    P = softmax(A)              each row of A over the S keys
    O = D(P) V                  (..., L, Ev)  D dropout (the identity when p = 0)

M is the mask as scores: 0 where a key takes part and -∞ where it does not (a boolean
mask, ``True`` = take part, becomes that), or any float mask added as it is. A masked
score has ``exp(-∞) = 0``: the key gets probability 0 and no gradient.

**Backward.** With ``G = ∂L/∂O`` and ``P̃ = D(P)``:

    ∂L/∂V = P̃ᵀ G,    ∂L/∂P̃ = G Vᵀ (+ the gradient of the returned weights, if any),
    ∂L/∂P = D(∂L/∂P̃)   (the same mask and scale as the forward's dropout).

The softmax of one row has the Jacobian ``∂P_j/∂A_i = P_j (δ_ij - P_i)``; multiplied by a
row vector ``g = ∂L/∂P`` it gives

    ∂L/∂A_i = Σ_j g_j P_j (δ_ij - P_i) = P_i (g_i - Σ_j g_j P_j),

so ``∂L/∂A = P ∘ (∂L/∂P - rowsum(∂L/∂P ∘ P))``: one elementwise product and one row sum,
never the (S x S) Jacobian of a row. Then ``∂L/∂Q = scale · ∂L/∂A K`` and
``∂L/∂K = scale · (∂L/∂A)ᵀ Q``. Every product is a batched GEMM (``np.matmul`` over the
leading dimensions), so there is no Python loop over batch, heads or positions.

**Fully masked rows.** A row with every key masked has all scores -∞. PyTorch's
``scaled_dot_product_attention`` gives it probability 0 everywhere (output 0, gradient
0, its "safe softmax"); the softmax inside ``nn.MultiheadAttention`` when it returns the
weights gives NaN (0/0). Both are available here: ``masked_rows="zero"`` (the default,
the functional's) or ``"nan"``.

PyTorch: ``torch.nn.functional.scaled_dot_product_attention``.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np

from refnet._typing import Array, Seed
from refnet.nn.functional.dropout import dropout_noise
from refnet.random import as_generator


class AttentionCache(NamedTuple):
    """What :func:`scaled_dot_product_attention_forward` keeps for the backward.

    ``probs`` is P ``(..., L, S)``, the softmax before dropout; ``noise`` the dropout
    multiplier ``mask/(1 - p)`` of P's shape (``None`` without dropout); ``dropped`` is
    ``P ∘ noise`` (P itself without dropout): the weights that multiplied V.
    """

    probs: Array
    noise: Array | None
    dropped: Array
    scale: float


@functools.lru_cache(maxsize=64)
def causal_blocked(L: int, S: int) -> Array:
    """The read-only ``(L, S)`` boolean array that is ``True`` where ``is_causal`` blocks.

    PyTorch's ``is_causal`` is aligned top-left: query ``i`` sees keys ``j <= i``
    (``torch.ones(L, S).tril()``), also when ``L != S``. Built once per ``(L, S)``.
    """
    blocked = np.triu(np.ones((L, S), dtype=bool), k=1)
    blocked.flags.writeable = False
    return blocked


def _check_shapes(query: Array, key: Array, value: Array) -> tuple[int, ...]:
    """The broadcast leading shape, or a clear ``ValueError``."""
    for name, a in (("query", query), ("key", key), ("value", value)):
        if a.ndim < 2:
            raise ValueError(
                f"scaled_dot_product_attention: {name} must have shape (..., length, features), "
                f"got {tuple(a.shape)}"
            )
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(
            f"scaled_dot_product_attention: query (..., L, E) and key (..., S, E) need the same "
            f"E, got {tuple(query.shape)} and {tuple(key.shape)}"
        )
    if key.shape[-2] != value.shape[-2]:
        raise ValueError(
            f"scaled_dot_product_attention: key (..., S, E) and value (..., S, Ev) need the same "
            f"length S, got {tuple(key.shape)} and {tuple(value.shape)}"
        )
    if not (query.dtype == key.dtype == value.dtype) or not np.issubdtype(query.dtype, np.floating):
        raise TypeError(
            "scaled_dot_product_attention: query, key and value must share one floating "
            f"dtype, got {query.dtype}, {key.dtype}, {value.dtype}"
        )
    try:
        return np.broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2])
    except ValueError:
        raise ValueError(
            "scaled_dot_product_attention: the leading dimensions of query, key and value do "
            f"not broadcast: {tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}"
        ) from None


def _check_mask(mask: Array, scores_shape: tuple[int, ...], dtype: np.dtype[np.generic]) -> None:
    if not isinstance(mask, np.ndarray):
        raise TypeError(
            f"scaled_dot_product_attention: attn_mask must be a NumPy array, "
            f"got {type(mask).__name__}"
        )
    if mask.dtype != np.bool_ and mask.dtype != dtype:
        raise TypeError(
            "scaled_dot_product_attention: attn_mask must be boolean or of the query's dtype "
            f"{dtype}, got {mask.dtype}"
        )
    try:
        fits = np.broadcast_shapes(mask.shape, scores_shape) == scores_shape
    except ValueError:
        fits = False
    if not fits:  # a mask with more leading dimensions than the scores is refused, as torch
        raise ValueError(
            f"scaled_dot_product_attention: attn_mask of shape {tuple(mask.shape)} does not "
            f"broadcast to the scores' shape (..., L, S) = {scores_shape}"
        )


def attention_scores(
    query: Array,
    key: Array,
    attn_mask: Array | None = None,
    is_causal: bool = False,
    scale: float | None = None,
) -> tuple[Array, float]:
    """``A = Q Kᵀ · scale + M`` ``(..., L, S)`` and the scale used, a Python float.

    A boolean mask (``True`` = take part) writes -∞ into the blocked scores in place; a
    float mask is added; ``is_causal`` blocks the keys after each query (cached mask).
    """
    E = query.shape[-1]
    s = 1.0 / math.sqrt(E) if scale is None else float(scale)
    scores = np.matmul(query, np.swapaxes(key, -1, -2))
    scores *= s
    L, S = scores.shape[-2:]
    if is_causal:
        np.copyto(scores, -np.inf, where=causal_blocked(L, S))
    if attn_mask is not None:
        _check_mask(attn_mask, scores.shape, query.dtype)
        if attn_mask.dtype == np.bool_:
            np.copyto(scores, -np.inf, where=~attn_mask)
        else:
            scores += attn_mask
    return scores, s


def masked_softmax(scores: Array, masked_rows: str = "zero") -> Array:
    """Softmax of each row of ``scores``, in place; rows of all -∞ give 0 or NaN.

    The row maximum is subtracted first (every ``exp`` is of a number <= 0, so scores of
    1e4 stay finite); for a row whose maximum is -∞ it is taken as 0, so the row's
    exponentials are 0 and its sum is 0. ``masked_rows="zero"`` then returns zeros for
    it (PyTorch's scaled_dot_product_attention), ``"nan"`` returns 0/0 = NaN (PyTorch's
    plain softmax, inside MultiheadAttention when it returns the weights).
    """
    if masked_rows not in ("zero", "nan"):
        raise ValueError(f"masked_rows must be 'zero' or 'nan', got {masked_rows!r}")
    top = scores.max(axis=-1, keepdims=True, initial=-np.inf)  # -inf: no keys at all
    top[~np.isfinite(top)] = 0.0
    scores -= top
    np.exp(scores, out=scores)
    total = scores.sum(axis=-1, keepdims=True)
    if masked_rows == "zero":
        total[total == 0] = 1.0
        scores /= total
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            scores /= total
    return scores


def _sum_to(grad: Array, shape: tuple[int, ...]) -> Array:
    """Sum a broadcast gradient back to ``shape`` (leading dimensions only)."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    grad = grad.sum(axis=tuple(range(extra))) if extra else grad
    axes = tuple(i for i, n in enumerate(shape[:-2]) if n == 1 and grad.shape[i] != 1)
    return grad.sum(axis=axes, keepdims=True) if axes else grad


def scaled_dot_product_attention_forward(
    query: Array,
    key: Array,
    value: Array,
    attn_mask: Array | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    generator: Seed = None,
    masked_rows: str = "zero",
) -> tuple[Array, AttentionCache]:
    """``O = D(softmax(Q Kᵀ · scale + M)) V`` and the :class:`AttentionCache` for backward.

    Shapes ``(..., L, E)``, ``(..., S, E)``, ``(..., S, Ev)`` -> ``(..., L, Ev)``; the
    leading dimensions broadcast. ``attn_mask`` broadcasts to ``(..., L, S)``; boolean
    (``True`` = take part) or float (added). ``is_causal`` with ``attn_mask`` is an error,
    as in PyTorch. Dropout (``dropout_p > 0``) draws from ``generator``.
    """
    _check_shapes(query, key, value)
    if is_causal and attn_mask is not None:
        raise ValueError(
            "scaled_dot_product_attention: pass either attn_mask or is_causal=True, not both"
        )
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(
            f"scaled_dot_product_attention: dropout_p must be in [0, 1], got {dropout_p}"
        )
    scores, s = attention_scores(query, key, attn_mask, is_causal, scale)
    probs = masked_softmax(scores, masked_rows)
    noise: Array | None = None
    dropped = probs
    if dropout_p > 0.0:
        if dropout_p == 1.0:
            noise = np.zeros(probs.shape, dtype=probs.dtype)
        else:
            noise = dropout_noise(probs.shape, dropout_p, probs.dtype, as_generator(generator))
        dropped = probs * noise
    return np.matmul(dropped, value), AttentionCache(probs, noise, dropped, s)


def scaled_dot_product_attention_backward(
    grad_output: Array,
    query: Array,
    key: Array,
    value: Array,
    cache: AttentionCache,
    grad_weights: Array | None = None,
) -> tuple[Array, Array, Array]:
    """``(∂L/∂Q, ∂L/∂K, ∂L/∂V)`` for :func:`scaled_dot_product_attention_forward`.

    ``grad_weights`` ``(..., L, S)``, if given, is the gradient of the dropped weights
    ``D(P)`` (returned by ``nn.MultiheadAttention``), added to ``G Vᵀ``. Derivation in
    this module's docstring: ``∂L/∂A = P ∘ (∂L/∂P - rowsum(∂L/∂P ∘ P))``.
    """
    probs, noise, dropped, s = cache
    grad_value = np.matmul(np.swapaxes(dropped, -1, -2), grad_output)
    grad_probs = np.matmul(grad_output, np.swapaxes(value, -1, -2))
    if grad_weights is not None:
        grad_probs = grad_probs + grad_weights
    if noise is not None:
        grad_probs *= noise
    row = np.einsum("...ls,...ls->...l", grad_probs, probs)[..., None]
    grad_scores = grad_probs
    grad_scores -= row
    grad_scores *= probs
    grad_scores *= s
    grad_query = np.matmul(grad_scores, key)
    grad_key = np.matmul(np.swapaxes(grad_scores, -1, -2), query)
    return (
        _sum_to(grad_query, query.shape),
        _sum_to(grad_key, key.shape),
        _sum_to(grad_value, value.shape),
    )


def scaled_dot_product_attention(
    query: Array,
    key: Array,
    value: Array,
    attn_mask: Array | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
    generator: Seed = None,
) -> Array:
    """PyTorch's ``F.scaled_dot_product_attention``: the output ``(..., L, Ev)`` only.

    See :func:`scaled_dot_product_attention_forward` (which also returns the cache for
    the backward). ``enable_gqa`` (grouped-query attention) is not implemented.
    """
    if enable_gqa:
        raise NotImplementedError("scaled_dot_product_attention: enable_gqa is not implemented")
    out, _ = scaled_dot_product_attention_forward(
        query, key, value, attn_mask, dropout_p, is_causal, scale, generator
    )
    return out


def scaled_dot_product_attention_reference(
    query: Array,
    key: Array,
    value: Array,
    attn_mask: Array | None = None,
    is_causal: bool = False,
    scale: float | None = None,
) -> Array:
    """The plain version, one query row at a time (no dropout): a second test oracle.

    For each leading index and query ``i``: scores ``a_j = q_i·k_j · scale + m_ij``
    (boolean masks and ``is_causal`` as -∞), ``p = exp(a - max a) / Σ exp(a - max a)``
    (a row with every key blocked gives zeros), ``o_i = Σ_j p_j v_j``.
    """
    lead = np.broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2])
    L, E = query.shape[-2:]
    S, Ev = value.shape[-2:]
    s = 1.0 / math.sqrt(E) if scale is None else float(scale)
    q = np.broadcast_to(query, (*lead, L, E))
    k = np.broadcast_to(key, (*lead, S, E))
    v = np.broadcast_to(value, (*lead, S, Ev))
    m = None
    if attn_mask is not None:
        m = np.broadcast_to(attn_mask, (*lead, L, S))
    out = np.zeros((*lead, L, Ev), dtype=query.dtype)
    for index in np.ndindex(*lead):
        for i in range(L):
            a = np.array([q[index][i] @ k[index][j] * s for j in range(S)], dtype=query.dtype)
            if is_causal:
                a[i + 1 :] = -np.inf
            if m is not None:
                row = m[index][i]
                a = np.where(row, a, -np.inf) if row.dtype == np.bool_ else a + row
            if np.all(a == -np.inf):
                continue
            e = np.exp(a - a.max())
            p = e / e.sum()
            out[index][i] = sum(p[j] * v[index][j] for j in range(S))
    return out


def scaled_dot_product_attention_backward_reference(
    grad_output: Array,
    query: Array,
    key: Array,
    value: Array,
    attn_mask: Array | None = None,
    is_causal: bool = False,
    scale: float | None = None,
    grad_weights: Array | None = None,
) -> tuple[Array, Array, Array]:
    """The backward written out, one query row at a time (no dropout): a second oracle
    for :func:`scaled_dot_product_attention_backward`.

    For query i with probabilities p over the keys and upstream g = ∂L/∂o_i (and the
    weights' gradient w, if given): ``∂v_j += p_j g``, ``∂p_j = g·v_j + w_j``,
    ``∂a_j = p_j (∂p_j − Σ_k p_k ∂p_k)``, ``∂q_i = scale Σ_j ∂a_j k_j``,
    ``∂k_j += scale ∂a_j q_i``. Broadcast leading dimensions are summed back.
    """
    lead = np.broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2])
    L, E = query.shape[-2:]
    S, Ev = value.shape[-2:]
    s = 1.0 / math.sqrt(E) if scale is None else float(scale)
    q = np.broadcast_to(query, (*lead, L, E))
    k = np.broadcast_to(key, (*lead, S, E))
    v = np.broadcast_to(value, (*lead, S, Ev))
    m = None if attn_mask is None else np.broadcast_to(attn_mask, (*lead, L, S))
    dq, dk, dv = np.zeros(q.shape), np.zeros(k.shape), np.zeros(v.shape)
    for index in np.ndindex(*lead):
        for i in range(L):
            a = np.array([q[index][i] @ k[index][j] * s for j in range(S)])
            if is_causal:
                a[i + 1 :] = -np.inf
            if m is not None:
                row = m[index][i]
                a = np.where(row, a, -np.inf) if row.dtype == np.bool_ else a + row
            if np.all(a == -np.inf):
                continue  # no key: output 0, no gradient
            e = np.exp(a - a.max())
            p = e / e.sum()
            g = grad_output[index][i]
            dp = np.array([g @ v[index][j] for j in range(S)])
            if grad_weights is not None:
                dp = dp + grad_weights[index][i]
            da = p * (dp - p @ dp)
            for j in range(S):
                dv[index][j] += p[j] * g
                dq[index][i] += s * da[j] * k[index][j]
                dk[index][j] += s * da[j] * q[index][i]
    dtype = query.dtype
    return (
        _sum_to(dq, query.shape).astype(dtype),
        _sum_to(dk, key.shape).astype(dtype),
        _sum_to(dv, value.shape).astype(dtype),
    )
