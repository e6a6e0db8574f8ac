"""Recurrent cells: one time step of an Elman RNN, an LSTM and a GRU, forward and backward.

Shapes: ``x`` (N, I), ``h`` (N, H), ``W_ih`` (G·H, I), ``W_hh`` (G·H, H), biases (G·H,),
with G = 1 (RNN), 4 (LSTM: gates i, f, g, o) or 3 (GRU: r, z, n), PyTorch's layouts and
gate orders. Each ``*_cell`` returns the new state and a cache; ``*_cell_backward`` takes
the gradients of the new state and returns ``(grad_x, grad_h[, grad_c], grads)`` where
``grads`` are the parameter gradients ``(W_ih, W_hh, b_ih, b_hh)`` (the caller adds them
into ``p.grad``).

The gate pre-activations of a step are one product with each weight matrix,
``x W_ihᵀ + h W_hhᵀ``, however many gates: the weights of all gates are stacked, as
PyTorch stores them.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from refnet._typing import Array
from refnet.nn.functional.activation import sigmoid

CellGrads = tuple[Array, Array, Array | None, Array | None]


def _affine(x: Array, weight: Array, bias: Array | None) -> Array:
    out = x @ weight.T
    if bias is not None:
        out += bias
    return out


def _weight_grads(
    d_gates_x: Array, x: Array, d_gates_h: Array, h: Array, has_bias: bool
) -> CellGrads:
    """``(∂W_ih, ∂W_hh, ∂b_ih, ∂b_hh)`` from the gradients of the two pre-activations."""
    grad_w_ih = d_gates_x.T @ x
    grad_w_hh = d_gates_h.T @ h
    if not has_bias:
        return grad_w_ih, grad_w_hh, None, None
    return grad_w_ih, grad_w_hh, d_gates_x.sum(axis=0), d_gates_h.sum(axis=0)


# ---------------------------------------------------------------------- Elman RNN


class RNNCellCache(NamedTuple):
    x: Array
    h: Array
    h_new: Array
    relu: bool


def rnn_cell(
    x: Array,
    h: Array,
    w_ih: Array,
    w_hh: Array,
    b_ih: Array | None,
    b_hh: Array | None,
    nonlinearity: str = "tanh",
) -> tuple[Array, RNNCellCache]:
    """``h' = act(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)``, act = tanh or ReLU."""
    a = _affine(x, w_ih, b_ih) + _affine(h, w_hh, b_hh)
    relu = nonlinearity == "relu"
    h_new = np.maximum(a, 0) if relu else np.tanh(a)
    return h_new, RNNCellCache(x, h, h_new, relu)


def rnn_cell_backward(
    grad_h_new: Array, cache: RNNCellCache, w_ih: Array, w_hh: Array, has_bias: bool
) -> tuple[Array, Array, CellGrads]:
    """With ``a`` the pre-activation: ∂L/∂a = G·act'(a) (``1 - h'²`` for tanh, ``[h' > 0]``
    for ReLU); then ∂L/∂x = (∂L/∂a) W_ih, ∂L/∂h = (∂L/∂a) W_hh, ∂W = (∂L/∂a)ᵀ [x | h]."""
    x, h, h_new, relu = cache
    da = grad_h_new * (h_new > 0) if relu else grad_h_new * (1 - h_new * h_new)
    return da @ w_ih, da @ w_hh, _weight_grads(da, x, da, h, has_bias)


# ---------------------------------------------------------------------- LSTM


class LSTMCellCache(NamedTuple):
    x: Array
    h: Array
    c: Array
    gates: Array  # (N, 4H): i, f, g, o after their activations
    tanh_c: Array


def lstm_cell(
    x: Array,
    h: Array,
    c: Array,
    w_ih: Array,
    w_hh: Array,
    b_ih: Array | None,
    b_hh: Array | None,
) -> tuple[Array, Array, LSTMCellCache]:
    """PyTorch's LSTM step (gates i, f, g, o)::

    i, f, o = σ(·), g = tanh(·)      of the four slices of x W_ihᵀ + b_ih + h W_hhᵀ + b_hh
    c' = f ⊙ c + i ⊙ g
    h' = o ⊙ tanh(c')
    """
    gates = _affine(x, w_ih, b_ih) + _affine(h, w_hh, b_hh)
    H = h.shape[-1]
    gates[:, : 2 * H] = sigmoid(gates[:, : 2 * H])
    gates[:, 2 * H : 3 * H] = np.tanh(gates[:, 2 * H : 3 * H])
    gates[:, 3 * H :] = sigmoid(gates[:, 3 * H :])
    i, f, g, o = np.split(gates, 4, axis=1)
    c_new = f * c + i * g
    tanh_c = np.tanh(c_new)
    return o * tanh_c, c_new, LSTMCellCache(x, h, c, gates, tanh_c)


def lstm_cell_backward(
    grad_h_new: Array,
    grad_c_new: Array,
    cache: LSTMCellCache,
    w_ih: Array,
    w_hh: Array,
    has_bias: bool,
) -> tuple[Array, Array, Array, CellGrads]:
    """Backward of :func:`lstm_cell`. The cell state's gradient collects both routes,

        ∂L/∂c' = G_c + G_h ⊙ o ⊙ (1 - tanh²c'),

    then flows back through the product f ⊙ c unchanged but for the factor f:
    ∂L/∂c = ∂L/∂c' ⊙ f. That additive path is why an LSTM keeps gradients alive over
    many steps. The gates: ∂i = ∂c'⊙g, ∂f = ∂c'⊙c, ∂g = ∂c'⊙i, ∂o = G_h⊙tanh c', each
    times its activation's derivative (σ' = σ(1-σ), tanh' = 1-tanh²).
    """
    x, h, c, gates, tanh_c = cache
    i, f, g, o = np.split(gates, 4, axis=1)
    dc = grad_c_new + grad_h_new * o * (1 - tanh_c * tanh_c)
    d_gates = np.empty_like(gates)
    di, df, dg, do = np.split(d_gates, 4, axis=1)
    np.multiply(dc * g, i * (1 - i), out=di)
    np.multiply(dc * c, f * (1 - f), out=df)
    np.multiply(dc * i, 1 - g * g, out=dg)
    np.multiply(grad_h_new * tanh_c, o * (1 - o), out=do)
    grads = _weight_grads(d_gates, x, d_gates, h, has_bias)
    return d_gates @ w_ih, d_gates @ w_hh, dc * f, grads


# ---------------------------------------------------------------------- GRU


class GRUCellCache(NamedTuple):
    x: Array
    h: Array
    r: Array
    z: Array
    n: Array
    hidden_n: Array  # h W_hnᵀ + b_hn, which r multiplies


def gru_cell(
    x: Array,
    h: Array,
    w_ih: Array,
    w_hh: Array,
    b_ih: Array | None,
    b_hh: Array | None,
) -> tuple[Array, GRUCellCache]:
    """PyTorch's GRU step (gates r, z, n)::

    r = σ(x W_irᵀ + b_ir + h W_hrᵀ + b_hr)
    z = σ(x W_izᵀ + b_iz + h W_hzᵀ + b_hz)
    n = tanh(x W_inᵀ + b_in + r ⊙ (h W_hnᵀ + b_hn))
    h' = (1 - z) ⊙ n + z ⊙ h
    """
    from_x = _affine(x, w_ih, b_ih)
    from_h = _affine(h, w_hh, b_hh)
    H = h.shape[-1]
    rz = sigmoid(from_x[:, : 2 * H] + from_h[:, : 2 * H])
    r, z = rz[:, :H], rz[:, H:]
    hidden_n = from_h[:, 2 * H :]
    n = np.tanh(from_x[:, 2 * H :] + r * hidden_n)
    h_new = n + z * (h - n)
    return h_new, GRUCellCache(x, h, r, z, n, hidden_n)


def gru_cell_backward(
    grad_h_new: Array, cache: GRUCellCache, w_ih: Array, w_hh: Array, has_bias: bool
) -> tuple[Array, Array, CellGrads]:
    """Backward of :func:`gru_cell`. With G = ∂L/∂h': ∂n = G(1-z), ∂z = G(h - n), and h
    reaches h' directly with the factor z. Through n's pre-activation ``a_n``:
    ∂a_n = ∂n(1-n²) goes to the x side whole and to the h side times r, and
    ∂r = ∂a_n ⊙ (h W_hnᵀ + b_hn)."""
    x, h, r, z, n, hidden_n = cache
    H = h.shape[-1]
    d_n = grad_h_new * (1 - z) * (1 - n * n)
    d_x = np.empty(r.shape[:1] + (3 * H,), dtype=r.dtype)
    d_x[:, :H] = d_n * hidden_n * r * (1 - r)
    d_x[:, H : 2 * H] = grad_h_new * (h - n) * z * (1 - z)
    d_x[:, 2 * H :] = d_n
    d_h = d_x.copy()
    d_h[:, 2 * H :] *= r
    grads = _weight_grads(d_x, x, d_h, h, has_bias)
    return d_x @ w_ih, d_h @ w_hh + grad_h_new * z, grads


# ---------------------------------------------------------------------- whole sequences
#
# One layer in one direction over a time-major sequence x (L, N, I). The input
# projections of all steps are one product, x W_ihᵀ (L·N rows); the recurrence is one
# small product per step; the backward walks the steps in reverse over the cached gate
# values, then forms the weight gradients and ∂L/∂x as one product each over all steps.
# ``reverse=True`` runs the sequence last step first (the second direction of a
# bidirectional layer): the same code on the time-flipped arrays.


class SequenceCache(NamedTuple):
    kind: str  # "rnn_tanh", "rnn_relu", "lstm" or "gru"
    x: Array  # (L, N, I), in the order the steps ran
    h: Array  # (L + 1, N, H_out): h_0, then every step's output
    gates: Array  # (L, N, G·H): activated gates (RNN: the new h before any projection)
    c: Array | None  # LSTM: (L + 1, N, H) cell states
    tanh_c: Array | None  # LSTM: (L, N, H)
    hidden_n: Array | None  # GRU: (L, N, H), h W_hnᵀ + b_hn of each step
    raw: Array | None  # LSTM with projection: (L, N, H) before W_hr
    reverse: bool


def _time_order(a: Array, reverse: bool) -> Array:
    return a[::-1] if reverse else a


def sequence_forward(
    kind: str,
    x: Array,
    h0: Array,
    c0: Array | None,
    weights: tuple[Array, Array, Array | None, Array | None],
    w_hr: Array | None = None,
    reverse: bool = False,
) -> tuple[Array, Array, Array | None, SequenceCache]:
    """Run one layer over ``x`` (L, N, I); returns ``(output, h_n, c_n, cache)``.

    ``output`` is (L, N, H_out) in the input's time order, ``h_n`` the state after the
    last step run (the first time step when ``reverse``).
    """
    w_ih, w_hh, b_ih, b_hh = weights
    xs = _time_order(x, reverse)
    L, N = xs.shape[:2]
    from_x = _affine(xs.reshape(L * N, -1), w_ih, b_ih).reshape(L, N, -1)
    H = w_hh.shape[1] if w_hr is None else w_hr.shape[1]
    h_all = np.empty((L + 1, N, h0.shape[-1]), dtype=x.dtype)
    h_all[0] = h0
    gates = from_x  # overwritten step by step with the activated gates
    c_all = tanh_all = hidden_n = raw = None
    if kind == "lstm":
        assert c0 is not None
        c_all = np.empty((L + 1, N, H), dtype=x.dtype)
        c_all[0] = c0
        tanh_all = np.empty((L, N, H), dtype=x.dtype)
        raw = None if w_hr is None else np.empty((L, N, H), dtype=x.dtype)
    if kind == "gru":
        hidden_n = np.empty((L, N, H), dtype=x.dtype)
    for t in range(L):
        h = h_all[t]
        pre = gates[t]
        if kind != "gru":
            pre += h @ w_hh.T
        if kind in ("rnn_tanh", "rnn_relu"):
            if b_hh is not None:
                pre += b_hh
            if kind == "rnn_tanh":
                np.tanh(pre, out=pre)
            else:
                np.maximum(pre, 0, out=pre)
            h_all[t + 1] = pre
        elif kind == "lstm":
            assert c_all is not None and tanh_all is not None
            if b_hh is not None:
                pre += b_hh
            pre[:, : 2 * H] = sigmoid(pre[:, : 2 * H])
            np.tanh(pre[:, 2 * H : 3 * H], out=pre[:, 2 * H : 3 * H])
            pre[:, 3 * H :] = sigmoid(pre[:, 3 * H :])
            i, f, g, o = np.split(pre, 4, axis=1)
            c_all[t + 1] = f * c_all[t] + i * g
            np.tanh(c_all[t + 1], out=tanh_all[t])
            out = o * tanh_all[t]
            if raw is not None and w_hr is not None:
                raw[t] = out
                out = out @ w_hr.T
            h_all[t + 1] = out
        else:  # gru
            assert hidden_n is not None
            from_h = _affine(h, w_hh, b_hh)
            pre[:, : 2 * H] = sigmoid(pre[:, : 2 * H] + from_h[:, : 2 * H])
            r, z = pre[:, :H], pre[:, H : 2 * H]
            hidden_n[t] = from_h[:, 2 * H :]
            np.tanh(pre[:, 2 * H :] + r * hidden_n[t], out=pre[:, 2 * H :])
            n = pre[:, 2 * H :]
            h_all[t + 1] = n + z * (h - n)
    cache = SequenceCache(kind, xs, h_all, gates, c_all, tanh_all, hidden_n, raw, reverse)
    c_n = None if c_all is None else c_all[L]
    return _time_order(h_all[1:], reverse), h_all[L], c_n, cache


def sequence_backward(
    grad_output: Array,
    grad_h_n: Array,
    grad_c_n: Array | None,
    cache: SequenceCache,
    weights: tuple[Array, Array, Array | None, Array | None],
    w_hr: Array | None = None,
) -> tuple[Array, Array, Array | None, tuple[Array, ...]]:
    """Backpropagation through time for :func:`sequence_forward`.

    Returns ``(grad_x, grad_h0, grad_c0, grads)`` with ``grads = (∂W_ih, ∂W_hh, ∂b_ih,
    ∂b_hh[, ∂W_hr])`` (biases ``None`` when absent). Step t receives the gradient of its
    output from the loss (``grad_output[t]``) plus the one flowing back from step t + 1;
    each step's local derivatives are those of the cell kernels above.
    """
    kind, xs, h_all, gates, c_all, tanh_all, hidden_n, raw, reverse = cache
    w_ih, w_hh, b_ih, _ = weights
    g_out = _time_order(grad_output, reverse)
    L, N = xs.shape[:2]
    d_x = np.empty_like(gates)  # ∂L/∂(pre-activations from x), every step
    d_h_side = d_x if kind != "gru" else np.empty_like(gates)
    grad_w_hr = None if w_hr is None else np.zeros_like(w_hr)
    dh = grad_h_n.copy()
    dc = None if grad_c_n is None else grad_c_n.copy()
    for t in range(L - 1, -1, -1):
        dh += g_out[t]
        if kind in ("rnn_tanh", "rnn_relu"):
            h_new = gates[t]
            local = (h_new > 0) if kind == "rnn_relu" else 1 - h_new * h_new
            np.multiply(dh, local, out=d_x[t])
        elif kind == "lstm":
            assert c_all is not None and tanh_all is not None and dc is not None
            if raw is not None and w_hr is not None and grad_w_hr is not None:
                grad_w_hr += dh.T @ raw[t]
                dh = dh @ w_hr
            i, f, g, o = np.split(gates[t], 4, axis=1)
            di, df, dg, do = np.split(d_x[t], 4, axis=1)
            dc += dh * o * (1 - tanh_all[t] * tanh_all[t])
            np.multiply(dc * g, i * (1 - i), out=di)
            np.multiply(dc * c_all[t], f * (1 - f), out=df)
            np.multiply(dc * i, 1 - g * g, out=dg)
            np.multiply(dh * tanh_all[t], o * (1 - o), out=do)
            dc = dc * f
        else:  # gru
            assert hidden_n is not None
            H = dh.shape[-1]
            r, z, n = gates[t, :, :H], gates[t, :, H : 2 * H], gates[t, :, 2 * H :]
            d_n = dh * (1 - z) * (1 - n * n)
            d_x[t, :, :H] = d_n * hidden_n[t] * r * (1 - r)
            d_x[t, :, H : 2 * H] = dh * (h_all[t] - n) * z * (1 - z)
            d_x[t, :, 2 * H :] = d_n
            d_h_side[t] = d_x[t]
            d_h_side[t, :, 2 * H :] *= r
        carry = dh * gates[t, :, dh.shape[-1] : 2 * dh.shape[-1]] if kind == "gru" else 0
        dh = d_h_side[t] @ w_hh + carry
    rows = L * N
    flat_x, flat_h = d_x.reshape(rows, -1), d_h_side.reshape(rows, -1)
    grad_w_ih = flat_x.T @ xs.reshape(rows, -1)
    grad_w_hh = flat_h.T @ h_all[:L].reshape(rows, -1)
    has_bias = b_ih is not None
    grad_b_ih = flat_x.sum(axis=0) if has_bias else None
    grad_b_hh = flat_h.sum(axis=0) if has_bias else None
    grad_x = (flat_x @ w_ih).reshape(xs.shape)
    grads: tuple[Any, ...] = (grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh)
    if grad_w_hr is not None:
        grads = (*grads, grad_w_hr)
    return _time_order(grad_x, reverse), dh, dc, grads
