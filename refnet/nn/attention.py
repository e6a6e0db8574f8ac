"""``MultiheadAttention``: PyTorch's ``nn.MultiheadAttention``, forward and backward by hand.

For a query sequence ``X_q (L, E)``, keys ``X_k (S, kdim)`` and values ``X_v (S, vdim)``
(per batch element), with ``H`` heads of ``D = E / H`` features each:

    Q = X_q W_qᵀ + b_q,   K = X_k W_kᵀ + b_k,   V = X_v W_vᵀ + b_v        (L|S, E)
    Q_h, K_h, V_h = the h-th block of D columns                           (L|S, D)
    P_h = softmax(Q_h K_hᵀ / √D + M)                                      (L, S)
    O = [D(P_1) V_1, ..., D(P_H) V_H] W_oᵀ + b_o                          (L, E)

M is the mask as scores (``attn_mask`` and ``key_padding_mask``: ``True`` = *blocked*,
the opposite of ``scaled_dot_product_attention``'s booleans, becomes -∞; a float mask is
added). The heads are a reshape ``(N, L, E) -> (N, L, H, D)`` and a transpose to
``(N, H, L, D)``: views, so the attention of every (batch, head) pair is one batched
GEMM (:mod:`refnet.nn.functional.attention`), with no Python loop over heads.

**Backward.** ``backward(grad_attn_output, grad_attn_weights=None)``. Through the output
projection (a :class:`~refnet.nn.Linear` named ``out_proj``), back through the heads'
attention (``∂L/∂A = P ∘ (∂L/∂P - rowsum(∂L/∂P ∘ P))``, see the functional module; the
gradient of the returned weights is added to ``∂L/∂P``, divided by H when they were
averaged over the heads), then through the three input projections:
``∂L/∂X_q = ∂L/∂Q W_q``, ``∂L/∂W_q = ∂L/∂Qᵀ X_q``, ``∂L/∂b_q = Σ ∂L/∂Q`` (and the same
for K and V). Returns ``(grad_query, grad_key, grad_value)``: for self-attention
``mha(x, x, x)`` the caller adds the three (the chain rule sums over the paths).

PyTorch: ``torch.nn.MultiheadAttention``; its ``need_weights=True`` path (a plain
softmax: a query whose keys are all masked gets NaN) and its ``need_weights=False``
path (``scaled_dot_product_attention``: that query gets 0) are both reproduced.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from refnet._typing import Array, Seed
from refnet.nn import init
from refnet.nn._validation import float_input, matching_dtype, output_gradient
from refnet.nn.functional import attention as A
from refnet.nn.linear import Linear
from refnet.nn.module import Module
from refnet.nn.parameter import Parameter
from refnet.random import as_generator


def _heads(p: Array, batch_first: bool, num_heads: int) -> Array:
    """``(N, T, E)`` or ``(T, N, E)`` -> ``(N, H, T, D)``, a view."""
    a, b, e = p.shape
    p4 = p.reshape(a, b, num_heads, e // num_heads)
    return p4.transpose(0, 2, 1, 3) if batch_first else p4.transpose(1, 2, 0, 3)


def _from_heads(h: Array, batch_first: bool) -> Array:
    """``(N, H, T, D)`` -> ``(N, T, H, D)`` or ``(T, N, H, D)``, a view (inverse of _heads)."""
    return h.transpose(0, 2, 1, 3) if batch_first else h.transpose(2, 0, 1, 3)


def _merge_heads(h: Array, batch_first: bool) -> Array:
    """``(N, H, T, D)`` -> ``(N, T, E)`` or ``(T, N, E)``, a contiguous copy."""
    t = _from_heads(h, batch_first)
    return t.reshape(t.shape[0], t.shape[1], t.shape[2] * t.shape[3])


def _affine(x: Array, weight: Array, bias: Array | None) -> Array:
    """``x Wᵀ + b`` over the last axis, one GEMM."""
    y = x.reshape(math.prod(x.shape[:-1]), x.shape[-1]) @ weight.T
    if bias is not None:
        y += bias
    return y.reshape(*x.shape[:-1], weight.shape[0])


class MultiheadAttention(Module):
    """Multi-head attention (PyTorch: ``nn.MultiheadAttention``), see the module docstring.

    ``MultiheadAttention(embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False,
    add_zero_attn=False, kdim=None, vdim=None, batch_first=False)``; refnet adds
    ``dtype`` and ``generator`` (initialisation and the dropout masks).

    Parameters (PyTorch's names, order and initialisation): ``in_proj_weight (3E, E)``
    (Xavier uniform) when ``kdim == vdim == embed_dim``, else ``q_proj_weight (E, E)``,
    ``k_proj_weight (E, kdim)``, ``v_proj_weight (E, vdim)``; ``in_proj_bias (3E,)``
    (zeros); ``bias_k``, ``bias_v (1, 1, E)`` (Xavier normal) with ``add_bias_kv``,
    appended to the projected keys and values as one more key; ``out_proj`` a
    :class:`~refnet.nn.Linear` (its bias zeroed). ``add_zero_attn`` appends a key and a
    value of zeros after the projection.

    ``forward(query, key, value, key_padding_mask=None, need_weights=True,
    attn_mask=None, average_attn_weights=True, is_causal=False)`` with query ``(L, N, E)``
    (``(N, L, E)`` with ``batch_first``, ``(L, E)`` unbatched), key ``(S, N, kdim)``,
    value ``(S, N, vdim)``; ``key_padding_mask (N, S)``, ``attn_mask (L, S)`` or
    ``(N·H, L, S)``, boolean (``True`` = blocked) or float (added to the scores). Returns
    ``(attn_output, attn_weights)``: weights ``(N, L, S)`` averaged over the heads, or
    ``(N, H, L, S)``, after dropout; ``None`` with ``need_weights=False``. As in PyTorch,
    ``is_causal`` is a hint that needs ``attn_mask``: with ``need_weights=False`` and no
    key padding mask the causal mask is applied (cached, not built per call) instead of
    ``attn_mask``; otherwise ``attn_mask`` is used as given.

    ``backward(grad_attn_output, grad_attn_weights=None)`` returns ``(grad_query,
    grad_key, grad_value)``; a gradient for weights that were not returned is an error.
    Self-attention (``query is key is value``, one embedding size) projects Q, K and V
    with one GEMM and accumulates ``in_proj_weight``'s gradient with one.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        dtype: npt.DTypeLike = np.float32,
        generator: Seed = None,
    ) -> None:
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(
                f"MultiheadAttention: embed_dim and num_heads must be positive, "
                f"got embed_dim={embed_dim} and num_heads={num_heads}"
            )
        if embed_dim % num_heads != 0:
            raise ValueError(
                f"MultiheadAttention: embed_dim must be divisible by num_heads, got "
                f"embed_dim={embed_dim} and num_heads={num_heads}"
            )
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"MultiheadAttention: dropout must be in [0, 1], got {dropout}")
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = float(dropout)
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        self.bias = bias
        self.add_bias_kv = add_bias_kv
        E = embed_dim
        self.in_proj_weight: Parameter | None
        self.q_proj_weight: Parameter | None
        self.k_proj_weight: Parameter | None
        self.v_proj_weight: Parameter | None
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(np.empty((3 * E, E), dtype=dtype))
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = Parameter(np.empty((E, E), dtype=dtype))
            self.k_proj_weight = Parameter(np.empty((E, self.kdim), dtype=dtype))
            self.v_proj_weight = Parameter(np.empty((E, self.vdim), dtype=dtype))
            self.register_parameter("in_proj_weight", None)
        self.in_proj_bias: Parameter | None
        if bias:
            self.in_proj_bias = Parameter(np.zeros(3 * E, dtype=dtype))
        else:
            self.register_parameter("in_proj_bias", None)
        rng = as_generator(generator)
        self.out_proj = Linear(E, E, bias=bias, dtype=dtype, generator=rng)
        self.bias_k: Parameter | None
        self.bias_v: Parameter | None
        if add_bias_kv:
            self.bias_k = Parameter(np.empty((1, 1, E), dtype=dtype))
            self.bias_v = Parameter(np.empty((1, 1, E), dtype=dtype))
        else:
            self.register_parameter("bias_k", None)
            self.register_parameter("bias_v", None)
        self.add_zero_attn = add_zero_attn
        # None follows refnet.manual_seed at every call; a seed becomes one Generator.
        self.generator: np.random.Generator | None = (
            None if generator is None else as_generator(generator)
        )
        self._reset_parameters(rng)
        self._cache: Any = None

    def _reset_parameters(self, generator: Seed = None) -> None:
        """PyTorch's: Xavier uniform projections, zero biases, Xavier normal bias_k/bias_v."""
        rng = as_generator(generator)
        if self.in_proj_weight is not None:
            init.xavier_uniform_(self.in_proj_weight, generator=rng)
        else:
            for p in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                assert p is not None
                init.xavier_uniform_(p, generator=rng)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            assert self.out_proj.bias is not None
            init.constant_(self.out_proj.bias, 0.0)
        for p in (self.bias_k, self.bias_v):
            if p is not None:
                init.xavier_normal_(p, generator=rng)

    # ------------------------------------------------------------------ checks

    def _weight_dtype(self) -> np.dtype[Any]:
        return self.out_proj.weight.dtype

    def _check_inputs(self, query: object, key: object, value: object) -> tuple[bool, int, int]:
        """``(batched, L, S)`` after checking dimensions, sizes and dtypes."""
        q = float_input(self, query, "query")
        k = float_input(self, key, "key")
        v = float_input(self, value, "value")
        for name, a in (("query", q), ("key", k), ("value", v)):
            matching_dtype(self, a, self._weight_dtype(), name)
        if q.ndim not in (2, 3) or k.ndim != q.ndim or v.ndim != q.ndim:
            raise ValueError(
                f"{self.describe()}: query, key and value must be all 3-D (batched) or all "
                f"2-D (unbatched), got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}"
            )
        for name, a, size in (("query", q, self.embed_dim), ("key", k, self.kdim)):
            if a.shape[-1] != size:
                raise ValueError(
                    f"{self.describe()}: expected {name} with {size} features in the last "
                    f"dimension, got {tuple(a.shape)}"
                )
        if v.shape[-1] != self.vdim:
            raise ValueError(
                f"{self.describe()}: expected value with {self.vdim} features in the last "
                f"dimension, got {tuple(v.shape)}"
            )
        batched = q.ndim == 3
        seq = 1 if (self.batch_first and batched) else 0
        if k.shape[:-1] != v.shape[:-1]:
            raise ValueError(
                f"{self.describe()}: key and value must have the same length (and batch), "
                f"got {tuple(k.shape)} and {tuple(v.shape)}"
            )
        if batched and q.shape[1 - seq] != k.shape[1 - seq]:
            raise ValueError(
                f"{self.describe()}: query and key must have the same batch size, got "
                f"{tuple(q.shape)} and {tuple(k.shape)}"
                + (" (batch_first=True: (N, L, E))" if self.batch_first else " ((L, N, E))")
            )
        return batched, q.shape[seq], k.shape[seq]

    def _float_mask(self, mask: object, name: str, dtype: np.dtype[Any]) -> Array:
        """A boolean mask (``True`` = blocked) as -∞/0 scores; a float mask as it is."""
        if not isinstance(mask, np.ndarray):
            raise TypeError(
                f"{self.describe()}: {name} must be a NumPy array or None, "
                f"got {type(mask).__name__}"
            )
        if mask.dtype == np.bool_:
            scores = np.zeros(mask.shape, dtype=dtype)
            scores[mask] = -np.inf
            return scores
        if mask.dtype != dtype:
            raise TypeError(
                f"{self.describe()}: {name} must be boolean (True = blocked) or of the "
                f"query's dtype {dtype}, got {mask.dtype}"
            )
        return mask

    def _masks(
        self,
        key_padding_mask: object,
        attn_mask: object,
        batched: bool,
        N: int,
        L: int,
        S: int,
        dtype: np.dtype[Any],
    ) -> Array | None:
        """The merged additive mask, broadcastable to ``(N, H, L, S + extra)``, or None."""
        H = self.num_heads
        extra = int(self.bias_k is not None) + int(self.add_zero_attn)
        merged: Array | None = None
        if attn_mask is not None:
            m = self._float_mask(attn_mask, "attn_mask", dtype)
            three = (N * H, L, S) if batched else (H, L, S)
            if m.shape == (L, S):
                m = m.reshape(1, 1, L, S)
            elif m.shape == three:
                m = m.reshape(N, H, L, S)
            else:
                raise ValueError(
                    f"{self.describe()}: attn_mask must have shape (L, S) = {(L, S)} or "
                    f"(N·num_heads, L, S) = {three}, got {tuple(m.shape)}"
                )
            merged = m
        if key_padding_mask is not None:
            m = self._float_mask(key_padding_mask, "key_padding_mask", dtype)
            expected = (N, S) if batched else (S,)
            if m.shape != expected:
                raise ValueError(
                    f"{self.describe()}: key_padding_mask must have shape (N, S) = "
                    f"{expected} (batched) or (S,) (unbatched), got {tuple(m.shape)}"
                    if batched
                    else f"{self.describe()}: key_padding_mask must have shape (S,) = "
                    f"{expected} for unbatched input, got {tuple(m.shape)}"
                )
            m = m.reshape(N, 1, 1, S)
            merged = m if merged is None else merged + m
        if merged is not None and extra:
            pad = [(0, 0)] * 3 + [(0, extra)]
            merged = np.pad(merged, pad)
        return merged

    # ------------------------------------------------------------------ forward

    def _projection_weights(self) -> tuple[Array, Array, Array]:
        if self.in_proj_weight is not None:
            W = self.in_proj_weight.data
            E = self.embed_dim
            return W[:E], W[E : 2 * E], W[2 * E :]
        assert self.q_proj_weight is not None and self.k_proj_weight is not None
        assert self.v_proj_weight is not None
        return self.q_proj_weight.data, self.k_proj_weight.data, self.v_proj_weight.data

    def _projection_biases(self) -> tuple[Array | None, Array | None, Array | None]:
        if self.in_proj_bias is None:
            return None, None, None
        b, E = self.in_proj_bias.data, self.embed_dim
        return b[:E], b[E : 2 * E], b[2 * E :]

    def _append_bias_kv(self, k: Array, v: Array, bf: bool) -> tuple[Array, Array]:
        """One more key and value, ``bias_k`` and ``bias_v``, at the end of the sequence."""
        assert self.bias_k is not None and self.bias_v is not None
        seq = 1 if bf else 0
        shape = list(k.shape)
        shape[seq] = 1
        k = np.concatenate([k, np.broadcast_to(self.bias_k.data.reshape(-1), shape)], axis=seq)
        v = np.concatenate([v, np.broadcast_to(self.bias_v.data.reshape(-1), shape)], axis=seq)
        return k, v

    def forward(
        self,
        query: Array,
        key: Array,
        value: Array,
        key_padding_mask: Array | None = None,
        need_weights: bool = True,
        attn_mask: Array | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[Array, Array | None]:
        batched, L, S = self._check_inputs(query, key, value)
        if is_causal and attn_mask is None:
            raise ValueError(
                f"{self.describe()}: is_causal=True needs attn_mask (as in PyTorch, it is a "
                "hint that attn_mask is the causal mask); use "
                "Transformer.generate_square_subsequent_mask to build it"
            )
        packed = (
            self.in_proj_weight is not None
            and query is key
            and key is value
            and self.bias_k is None
        )
        if not batched:
            query, key, value = query[None], key[None], value[None]
        bf = self.batch_first or not batched
        N = query.shape[0 if bf else 1]
        dtype = query.dtype
        masked = key_padding_mask is not None or attn_mask is not None
        causal = is_causal and key_padding_mask is None and not need_weights
        mask = None
        if masked:
            mask = self._masks(
                key_padding_mask, None if causal else attn_mask, batched, N, L, S, dtype
            )
        if causal and attn_mask is not None:
            self._float_mask(attn_mask, "attn_mask", dtype)  # still checks its dtype
        H = self.num_heads
        if packed:
            assert self.in_proj_weight is not None
            bias = None if self.in_proj_bias is None else self.in_proj_bias.data
            qkv = _affine(query, self.in_proj_weight.data, bias)
            E = self.embed_dim
            q, k, v = qkv[..., :E], qkv[..., E : 2 * E], qkv[..., 2 * E :]
        else:
            weights, biases = self._projection_weights(), self._projection_biases()
            q, k, v = (
                _affine(x, w, b)
                for x, w, b in zip((query, key, value), weights, biases, strict=True)
            )
        if self.bias_k is not None:
            k, v = self._append_bias_kv(k, v, bf)
        q_h, k_h, v_h = (_heads(p, bf, H) for p in (q, k, v))
        if self.add_zero_attn:
            zeros = np.zeros((N, H, 1, self.head_dim), dtype=dtype)
            k_h = np.concatenate([k_h, zeros], axis=2)
            v_h = np.concatenate([v_h, zeros], axis=2)
        dropout_p = self.dropout if self.training else 0.0
        out_h, cache = A.scaled_dot_product_attention_forward(
            q_h,
            k_h,
            v_h,
            attn_mask=mask,
            dropout_p=dropout_p,
            is_causal=causal,
            generator=self.generator,
            masked_rows="nan" if need_weights else "zero",
        )
        out = self.out_proj(_merge_heads(out_h, bf))
        weights_out: Array | None = None
        if need_weights:
            weights_out = (
                cache.dropped.mean(axis=1) if average_attn_weights else cache.dropped.copy()
            )
            if not batched:
                weights_out = weights_out[0]
        self._cache = (
            (query, key, value),
            (q_h, k_h, v_h),
            cache,
            packed,
            batched,
            bf,
            need_weights,
            average_attn_weights,
            None if weights_out is None else weights_out.shape,
        )
        return (out if batched else out[0]), weights_out

    # ------------------------------------------------------------------ backward

    def backward(
        self, grad_attn_output: Array | None, grad_attn_weights: Array | None = None
    ) -> tuple[Array, Array, Array]:
        inputs, heads, cache, packed, batched, bf, need_weights, average, w_shape = self._saved(
            self._cache
        )
        query, key, value = inputs
        q_h, k_h, v_h = heads
        dtype = query.dtype
        out_shape = query.shape[:-1] + (self.embed_dim,)
        g = output_gradient(
            self,
            grad_attn_output,
            out_shape if batched else out_shape[1:],
            dtype,
            "grad_attn_output",
        )
        grad_weights = self._weights_gradient(grad_attn_weights, need_weights, average, w_shape)
        if not batched:
            g = g[None]
            if grad_weights is not None:
                grad_weights = grad_weights[None]
        g_ctx = self.out_proj.backward(g)
        assert g_ctx is not None  # out_proj.needs_input_grad stays True
        gq_h, gk_h, gv_h = A.scaled_dot_product_attention_backward(
            _heads(g_ctx, bf, self.num_heads), q_h, k_h, v_h, cache, grad_weights
        )
        if self.add_zero_attn:
            gk_h, gv_h = gk_h[:, :, :-1], gv_h[:, :, :-1]
        if packed:
            grads = self._packed_backward(query, (gq_h, gk_h, gv_h), bf)
        else:
            grads = self._separate_backward((query, key, value), (gq_h, gk_h, gv_h), bf)
        if not batched:
            return grads[0][0], grads[1][0], grads[2][0]
        return grads

    def _weights_gradient(
        self,
        grad: Array | None,
        need_weights: bool,
        average: bool,
        shape: tuple[int, ...] | None,
    ) -> Array | None:
        """The weights' gradient as ``(N, H|1, L, S)`` (averaged weights: ``g / H``), or None."""
        if grad is None:
            return None
        if not need_weights or shape is None:
            raise ValueError(
                f"{self.describe()}: backward() got grad_attn_weights, but the forward "
                "returned no attention weights (need_weights=False): pass None"
            )
        g = output_gradient(self, grad, shape, self._weight_dtype(), "grad_attn_weights")
        if average:
            return g[..., None, :, :] * (1.0 / self.num_heads)
        return g

    def _packed_backward(
        self, x: Array, grads_h: tuple[Array, Array, Array], bf: bool
    ) -> tuple[Array, Array, Array]:
        """Self-attention: the three gradients written into one ``(N, T, 3, H, D)`` buffer."""
        assert self.in_proj_weight is not None
        a, b, E = x.shape
        H, D = self.num_heads, self.head_dim
        buf = np.empty((a, b, 3, H, D), dtype=x.dtype)
        for i, g_h in enumerate(grads_h):
            np.copyto(buf[:, :, i], _from_heads(g_h, bf))
        flat = buf.reshape(a * b, 3 * E)
        x2 = x.reshape(a * b, E)
        self.in_proj_weight.grad += flat.T @ x2
        if self.in_proj_bias is not None:
            self.in_proj_bias.grad += np.ones(a * b, dtype=x.dtype) @ flat
        W = self.in_proj_weight.data
        return (
            (flat[:, :E] @ W[:E]).reshape(x.shape),
            (flat[:, E : 2 * E] @ W[E : 2 * E]).reshape(x.shape),
            (flat[:, 2 * E :] @ W[2 * E :]).reshape(x.shape),
        )

    def _separate_backward(
        self,
        inputs: tuple[Array, Array, Array],
        grads_h: tuple[Array, Array, Array],
        bf: bool,
    ) -> tuple[Array, Array, Array]:
        """One projection at a time; ``bias_k``/``bias_v`` take the last key's gradient."""
        grads = [_merge_heads(g_h, bf) for g_h in grads_h]
        if self.bias_k is not None and self.bias_v is not None:
            seq = 1 if bf else 0
            for i, p in ((1, self.bias_k), (2, self.bias_v)):
                last = np.take(grads[i], -1, axis=seq)  # (N, E)
                p.grad += last.sum(axis=0).reshape(p.grad.shape)
                grads[i] = np.take(grads[i], np.arange(grads[i].shape[seq] - 1), axis=seq)
        weight_grads = self._projection_weight_grads()
        bias_grads = self._projection_bias_grads()
        weights = self._projection_weights()
        result = []
        for x, g, w, gw, gb in zip(inputs, grads, weights, weight_grads, bias_grads, strict=True):
            g2 = g.reshape(-1, g.shape[-1])
            gw += g2.T @ x.reshape(-1, x.shape[-1])
            if gb is not None:
                gb += np.ones(g2.shape[0], dtype=g2.dtype) @ g2
            result.append((g2 @ w).reshape(x.shape))
        return result[0], result[1], result[2]

    def _projection_weight_grads(self) -> tuple[Array, Array, Array]:
        if self.in_proj_weight is not None:
            G, E = self.in_proj_weight.grad, self.embed_dim
            return G[:E], G[E : 2 * E], G[2 * E :]
        assert self.q_proj_weight is not None and self.k_proj_weight is not None
        assert self.v_proj_weight is not None
        return self.q_proj_weight.grad, self.k_proj_weight.grad, self.v_proj_weight.grad

    def _projection_bias_grads(self) -> tuple[Array | None, Array | None, Array | None]:
        if self.in_proj_bias is None:
            return None, None, None
        G, E = self.in_proj_bias.grad, self.embed_dim
        return G[:E], G[E : 2 * E], G[2 * E :]

    def extra_repr(self) -> str:
        options = [f"embed_dim={self.embed_dim}", f"num_heads={self.num_heads}"]
        if self.dropout:
            options.append(f"dropout={self.dropout}")
        if not self._qkv_same_embed_dim:
            options.append(f"kdim={self.kdim}, vdim={self.vdim}")
        for name in ("add_bias_kv", "add_zero_attn", "batch_first"):
            if getattr(self, name):
                options.append(f"{name}=True")
        if not self.bias:
            options.append("bias=False")
        return ", ".join(options)


def multihead_attention_reference(
    module: MultiheadAttention,
    query: Array,
    key: Array,
    value: Array,
    key_padding_mask: Array | None = None,
    attn_mask: Array | None = None,
) -> Array:
    """The plain version of ``module(query, key, value, ...)[0]``: a second test oracle.

    Batched, sequence-first ``(L, N, E)`` input, no dropout, no ``add_bias_kv`` /
    ``add_zero_attn``. For each batch element and head in turn: project with that head's
    rows of the weights, attend with the plain per-row kernel
    (:func:`~refnet.nn.functional.attention.scaled_dot_product_attention_reference`),
    concatenate the heads, project out.
    """
    L, N, _ = query.shape
    S = key.shape[0]
    H, D, E = module.num_heads, module.head_dim, module.embed_dim
    weights, biases = module._projection_weights(), module._projection_biases()
    out = np.zeros((L, N, E), dtype=query.dtype)
    for n in range(N):
        heads = []
        for h in range(H):
            rows = slice(h * D, (h + 1) * D)
            qkv = []
            for x, w, b in zip((query, key, value), weights, biases, strict=True):
                p = x[:, n] @ w[rows].T
                qkv.append(p if b is None else p + b[rows])
            m = np.zeros((L, S), dtype=query.dtype)
            if attn_mask is not None:
                a = attn_mask if attn_mask.ndim == 2 else attn_mask[n * H + h]
                m = m + (np.where(a, -np.inf, 0.0) if a.dtype == np.bool_ else a)
            if key_padding_mask is not None:
                k = key_padding_mask[n]
                m = m + (np.where(k, -np.inf, 0.0) if k.dtype == np.bool_ else k)[None, :]
            heads.append(A.scaled_dot_product_attention_reference(qkv[0], qkv[1], qkv[2], m))
        bias = None if module.out_proj.bias is None else module.out_proj.bias.data
        out[:, n] = _affine(np.concatenate(heads, axis=1), module.out_proj.weight.data, bias)
    return out
