"""The connectionist temporal classification (CTC) recursions, in log space.

Notation, for one sample: ``T`` time steps of log-probabilities ``lp[t, c]`` over ``C``
classes, a target ``y_1 … y_S`` and the *extended* target ``l'`` of length ``L = 2S + 1``
that puts a blank before, between and after the labels: ``l' = (∅, y_1, ∅, y_2, …, y_S,
∅)``. A path is one class per time step; it *collapses* to ``y`` when merging repeats and
then dropping blanks gives ``y``. The CTC likelihood is ``p(y | x) = Σ_paths Π_t
y_t(path_t)``, with ``y_t(c) = exp lp[t, c]``, and the loss is ``-log p(y | x)``.

**Forward variables** ``α_t(s)``: the total probability of the path prefixes of length
``t + 1`` that end in ``l'_s`` and collapse to the prefix of ``y`` that ``l'_1…l'_s``
collapses to. A path may stay on ``l'_s``, advance from ``l'_{s-1}``, or skip the blank
in between from ``l'_{s-2}``, the skip being allowed only when ``l'_s ≠ l'_{s-2}`` (it is
never allowed onto a blank, and not between two equal labels, which need a blank
between them to stay two)::

    α_0(0) = y_0(∅),  α_0(1) = y_0(y_1),  α_0(s) = 0 for s ≥ 2
    α_t(s) = y_t(l'_s) · [α_{t-1}(s) + α_{t-1}(s-1) + skip(s) · α_{t-1}(s-2)]
    p(y | x) = α_{T-1}(L-1) + α_{T-1}(L-2)       (end on the last blank or label)

**Backward variables** ``β_t(s)``, the same from the end (the suffixes starting at
``l'_s`` at time ``t``)::

    β_{T-1}(L-1) = y_{T-1}(∅),  β_{T-1}(L-2) = y_{T-1}(y_S)
    β_t(s) = y_t(l'_s) · [β_{t+1}(s) + β_{t+1}(s+1) + skip(s+2) · β_{t+1}(s+2)]

Both count ``y_t(l'_s)`` at ``t``, so ``α_t(s) β_t(s) / y_t(l'_s)`` is the probability of
all paths through ``(t, s)``, and for every ``t``, ``Σ_s α_t(s) β_t(s) / y_t(l'_s) =
p(y | x)``. Differentiating ``p`` by ``y_t(c)`` (it is linear in each one) gives
``∂(-log p)/∂lp[t, c] = -Σ_{s: l'_s = c} α_t(s) β_t(s) / (p · y_t(c))``.

**Why log space.** ``α`` is a product of up to T probabilities: a few hundred steps of
0.01 underflow float64 (1e-308) long before a real utterance ends. Every quantity is
kept as its logarithm, products become sums, and a sum ``log(eᵃ + eᵇ + eᶜ)`` is taken as
``m + log(e^{a-m} + e^{b-m} + e^{c-m})`` with ``m`` the largest, so nothing overflows or
underflows; ``log 0 = -∞`` marks an impossible state (``m = -∞`` is replaced by 0 to avoid
``-∞ - (-∞)``).

**PyTorch's gradient.** ``torch.nn.functional.ctc_loss`` returns, for ``t`` inside the
sample's input length, ``exp(lp[t, c]) - Σ_{s: l'_s = c} α_t(s) β_t(s) / (p · y_t(c))``,
i.e. the derivative above *plus* ``y_t(c)`` (and 0 beyond the input length). That is the
gradient with respect to the logits ``z`` when ``lp = log_softmax(z)``: the extra term
sums to 1 over ``c``, exactly what the log-softmax's backward ``g - softmax(z) Σ_c g``
removes, so through a ``LogSoftmax`` both give the same logits gradient. refnet returns
PyTorch's, so every number agrees with torch's; fed into ``LogSoftmax.backward`` it is
the exact gradient of the loss with respect to the logits.
"""

from __future__ import annotations

import numpy as np

from refnet._typing import Array, IntArray

__all__ = ["CTCAlignment", "ctc_alpha", "ctc_beta", "ctc_gradient"]

_NEG_INF = -np.inf


def _log_add3(a: Array, b: Array, c: Array) -> Array:
    """``log(eᵃ + eᵇ + eᶜ)`` elementwise, shifted by the largest (0 where all are -∞)."""
    m = np.maximum(np.maximum(a, b), c)
    m = np.where(m == _NEG_INF, 0, m)
    with np.errstate(divide="ignore"):
        return np.log(np.exp(a - m) + np.exp(b - m) + np.exp(c - m)) + m


def _shift(a: Array, k: int, fill: float = _NEG_INF) -> Array:
    """``a`` moved ``k`` places along the last axis (right for k > 0), the gap filled."""
    out = np.full_like(a, fill)
    if k > 0:
        out[..., k:] = a[..., :-k]
    else:
        out[..., :k] = a[..., -k:]
    return out


class CTCAlignment:
    """The extended targets of a batch and what both recursions need.

    ``targets`` ``(N, S)`` padded class indices, ``target_lengths`` ``(N,)``. Holds
    ``ext`` ``(N, L)`` (``l'``, blanks at even ``s``), ``valid`` (``s < 2 S_n + 1``) and
    ``skip`` (``s ≥ 2``, ``l'_s ≠ l'_{s-2}``, both valid), and ``lp_ext`` ``(T, N, L)``
    = ``lp[t, n, l'_s]``.
    """

    def __init__(self, log_probs: Array, targets: IntArray, target_lengths: IntArray, blank: int):
        N, S = targets.shape
        L = 2 * S + 1
        ext = np.full((N, L), blank, dtype=np.int64)
        ext[:, 1::2] = targets
        self.valid = np.arange(L) < 2 * target_lengths[:, None] + 1
        ext = np.where(self.valid, ext, blank)  # padding past the target reads the blank
        self.ext = ext
        skip = np.zeros((N, L), dtype=bool)
        skip[:, 2:] = ext[:, 2:] != ext[:, :-2]
        self.skip = skip & self.valid
        index = np.broadcast_to(ext[None], (log_probs.shape[0], N, L))
        self.lp_ext = np.take_along_axis(log_probs, index, axis=2)
        self.target_lengths = target_lengths


def ctc_alpha(align: CTCAlignment, input_lengths: IntArray) -> tuple[Array, Array]:
    """``log α`` ``(T, N, L)`` and the negative log-likelihood ``-log p(y | x)`` ``(N,)``.

    For ``T ≥ 1``. One vectorised step per time step over the batch and the extended
    target; invalid positions stay at ``-∞``. The likelihood is read at each sample's
    last input step (an input of length 0 has likelihood 1 for an empty target, else 0).
    """
    lp_ext, valid, skip = align.lp_ext, align.valid, align.skip
    T, N, L = lp_ext.shape
    alpha = np.full((T, N, L), _NEG_INF, dtype=lp_ext.dtype)
    alpha[0, :, 0] = lp_ext[0, :, 0]
    if L > 1:
        alpha[0, :, 1] = np.where(align.target_lengths > 0, lp_ext[0, :, 1], _NEG_INF)
    for t in range(1, T):
        prev = alpha[t - 1]
        two_back = np.where(skip, _shift(prev, 2), _NEG_INF)
        step = _log_add3(prev, _shift(prev, 1), two_back) + lp_ext[t]
        alpha[t] = np.where(valid, step, _NEG_INF)
    rows = np.arange(N)
    last_t = np.maximum(input_lengths - 1, 0)
    end = 2 * align.target_lengths
    final = alpha[last_t, rows]  # (N, L)
    l1 = final[rows, end]
    l2 = np.where(end > 0, final[rows, np.maximum(end - 1, 0)], _NEG_INF)
    log_likelihood = np.logaddexp(l1, l2)
    empty = input_lengths == 0
    log_likelihood = np.where(empty, np.where(end == 0, 0.0, _NEG_INF), log_likelihood)
    return alpha, np.asarray(-log_likelihood, dtype=lp_ext.dtype)


def ctc_beta(align: CTCAlignment, input_lengths: IntArray) -> Array:
    """``log β`` ``(T, N, L)``: started at each sample's last input step, ``-∞`` after it."""
    lp_ext, valid, skip = align.lp_ext, align.valid, align.skip
    T, N, L = lp_ext.shape
    beta = np.full((T, N, L), _NEG_INF, dtype=lp_ext.dtype)
    rows = np.arange(N)
    end = 2 * align.target_lengths
    start = np.full((N, L), _NEG_INF, dtype=lp_ext.dtype)
    skip_ahead = _shift(skip, -2, fill=False)  # skip(s + 2): may jump from s to s + 2
    for t in range(T - 1, -1, -1):
        start.fill(_NEG_INF)
        start[rows, end] = lp_ext[t, rows, end]
        label = np.maximum(end - 1, 0)
        start[rows, label] = np.where(end > 0, lp_ext[t, rows, label], start[rows, label])
        if t < T - 1:
            nxt = beta[t + 1]
            two_ahead = np.where(skip_ahead, _shift(nxt, -2), _NEG_INF)
            step = _log_add3(nxt, _shift(nxt, -1), two_ahead) + lp_ext[t]
        else:
            step = start
        last = np.asarray(input_lengths - 1 == t)[:, None]
        inside = np.asarray(input_lengths > t)[:, None]
        beta[t] = np.where(valid & inside, np.where(last, start, step), _NEG_INF)
    return beta


def ctc_gradient(
    log_probs: Array,
    align: CTCAlignment,
    alpha: Array,
    beta: Array,
    nll: Array,
    input_lengths: IntArray,
    scale: Array,
    zeroed: Array | None = None,
) -> Array:
    """PyTorch's gradient of ``Σ_n scale_n · nll_n`` with respect to ``log_probs`` ``(T, N, C)``.

    ``exp(lp[t, n, c]) - exp(log Σ_{s: l'_s = c} α_t(s) β_t(s) + nll_n - lp[t, n, c])``
    times ``scale_n`` for ``t`` below the input length, 0 after it (see the module
    docstring for why the first term is there). The sum over the positions ``s`` that
    hold class ``c`` is a product with the one-hot of ``l'`` after shifting by the
    largest ``log αβ`` of each ``(t, n)`` (no ``np.add.at``). The samples marked in
    ``zeroed`` (``zero_infinity``) get 0; an infinite loss otherwise gives NaN, as torch's.
    """
    T, _, C = log_probs.shape
    log_ab = alpha + beta  # (T, N, L)
    m = np.max(log_ab, axis=2, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    onehot = (align.ext[:, :, None] == np.arange(C)) & align.valid[:, :, None]  # (N, L, C)
    collected = np.einsum("tnl,nlc->tnc", np.exp(log_ab - m), onehot.astype(log_probs.dtype))
    with np.errstate(divide="ignore", invalid="ignore"):
        log_collected = np.log(collected) + m
        grad = np.exp(log_probs) - np.exp(log_collected + nll[None, :, None] - log_probs)
    grad *= scale[None, :, None]
    inside = np.arange(T)[:, None] < input_lengths[None, :]
    if zeroed is not None:
        inside = inside & ~zeroed[None, :]
    return np.where(inside[:, :, None], grad, 0).astype(log_probs.dtype, copy=False)
