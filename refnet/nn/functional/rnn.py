"""Recurrent cells: one time step of an Elman RNN, an LSTM and a GRU, forward and backward.

Shapes: ``x`` (N, I), ``h`` (N, H), ``W_ih`` (G·H, I), ``W_hh`` (G·H, H), biases (G·H,),
with G = 1 (RNN), 4 (LSTM: gates i, f, g, o) or 3 (GRU: r, z, n), PyTorch's layouts and
gate orders. Each ``*_cell`` returns the new state and a cache; ``*_cell_backward`` takes
the gradients of the new state and returns ``(grad_x, grad_h[, grad_c], grads)`` where
``grads`` are the parameter gradients ``(W_ih, W_hh, b_ih, b_hh)`` (the caller adds them
into ``p.grad``).

The gate pre-activations of a step are one product with each weight matrix,
``x W_ihᵀ + h W_hhᵀ``, however many gates: the weights of all gates are stacked, as
PyTorch stores them. The layers over whole sequences (``nn.RNN``, ``LSTM``, ``GRU``)
run :mod:`refnet.nn.functional.recurrent`, which lays the same step out over all time
steps at once.
"""

from __future__ import annotations

from typing import NamedTuple

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
