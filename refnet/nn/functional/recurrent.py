"""Whole-sequence recurrent kernels: one layer, one direction, time-major, with BPTT.

Shapes: input ``x`` (L, N, I), time-major; states (N, H) (LSTM with a projection:
``h`` is (N, P)); weights in PyTorch's layout ``W_ih`` (G·H, I), ``W_hh`` (G·H, H or P),
biases (G·H,), G = 1 (RNN), 4 (LSTM: i, f, g, o) or 3 (GRU: r, z, n).

How the work is laid out (the reason for these kernels beside the one-step cells of
:mod:`refnet.nn.functional.rnn`):

* **forward**: the input projections of all L steps are one GEMM,
  ``(L·N, I) @ W_ihᵀ``, written into one gate buffer (L, N, G·H); each step then adds
  its small recurrent GEMM ``h @ W_hhᵀ`` into its slice and applies the gate
  activations in place. The gate activations stay in that buffer: it is the cache.
* **states**: one buffer ``S`` (L+1, N, H) holds the initial state and every step's new
  state, so the state before step t and the output at step t are both views of it.
  Forward direction: ``S[0] = h_0``, step t reads ``S[t]`` and writes ``S[t+1]``;
  reverse direction: ``S[L] = h_0``, step t reads ``S[t+1]`` and writes ``S[t]``.
* **backward** (backpropagation through time): walks the steps in the opposite order,
  carrying ∂L/∂h (and ∂L/∂c) from step to step, computes each step's gate gradients from
  the cached activations (nothing of the forward is recomputed) into one buffer
  (L, N, G·H), and only then forms ∂x, ∂W_ih, ∂W_hh and the bias gradients as single
  GEMMs / sums over all L·N rows: the weights are shared by the steps, so their gradient
  is the sum over steps, and that sum is one matrix product.
* **variable lengths** (packed sequences): ``batch_sizes[t]`` (non-increasing, as in a
  ``PackedSequence``, batch sorted by decreasing length) says that only the first
  ``batch_sizes[t]`` rows are real at step t. A step updates only those rows; the
  others carry their state through unchanged, so after the loop the state buffer's row
  n is sequence n's state at its *last real step* (forward direction), or after its
  first step (reverse direction, which starts each sequence at its own last step from
  ``h_0``). In the backward, inactive rows get zero gate gradients, so padded positions
  get zero input gradient and contribute nothing to the weight gradients.

Each ``*_forward`` returns ``(output, h_n[, c_n], cache)``; each ``*_backward`` takes
the gradients of the outputs (``None`` = the loss did not use that output, zeros) and
returns the gradients of ``x`` and the initial state(s) and the parameter gradients
(the caller adds them into ``p.grad``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from refnet._typing import Array, IntArray

ParamGrads = tuple[Array, Array, Array | None, Array | None]


# ---------------------------------------------------------------------- helpers


def _sigmoid_from_tanh_(s: Array) -> Array:
    """σ(z) = (1 + tanh(z/2)) / 2 in place, for a slice that already holds tanh(z/2)."""
    s *= 0.5
    s += 0.5
    return s


def _sigmoid_rows_halved(gate_names: str, hidden_size: int, dtype: npt.DTypeLike) -> Array:
    """Per-row factors (G·H,) for a gate stack such as ``"ifgo"``: 1/2 for the rows of the
    sigmoid gates, 1 for those of the tanh gate (g of the LSTM, n of the GRU). Weights
    scaled by them give z/2 for the sigmoid gates, so a kernel computes σ(z) =
    (1 + tanh(z/2)) / 2 with one ``tanh`` instead of the costlier e^{-z} and division."""
    factors = [1.0 if name in "gn" else 0.5 for name in gate_names]
    return np.repeat(np.asarray(factors, dtype=dtype), hidden_size)


def _transposed(w: Array) -> Array:
    """``wᵀ`` laid out row by row: each step's ``h @ W_hhᵀ`` reads it L times, and BLAS
    runs a product with a C-ordered right operand faster than with a transposed view."""
    return np.ascontiguousarray(w.T)


def _input_projection(x: Array, w_ih: Array, bias: Array | None) -> Array:
    """All steps' ``x W_ihᵀ + bias`` as one GEMM: (L, N, I) -> (L, N, G·H), a new array."""
    L, N, _ = x.shape
    out = np.matmul(x.reshape(L * N, x.shape[-1]), w_ih.T).reshape(L, N, w_ih.shape[0])
    if bias is not None:
        out += bias
    return out


def _bias_sum(b_ih: Array | None, b_hh: Array | None) -> Array | None:
    """``b_ih + b_hh``, folded into the input projection (RNN and LSTM add both alike)."""
    if b_ih is None or b_hh is None:
        return None
    return b_ih + b_hh


def _steps(length: int, reverse: bool) -> range:
    return range(length - 1, -1, -1) if reverse else range(length)


def _active(batch_sizes: IntArray | None, t: int, batch: int) -> int:
    return batch if batch_sizes is None else int(batch_sizes[t])


def _state_buffer(h0: Array, length: int, reverse: bool) -> Array:
    """(L+1, N, H) with ``h_0`` in the slot the first step reads."""
    states = np.empty((length + 1, *h0.shape), dtype=h0.dtype)
    states[length if reverse else 0] = h0
    return states


def _prev_next(states: Array, reverse: bool) -> tuple[Array, Array]:
    """The views (L, N, H) of the state before each step and after it (= the output)."""
    return (states[1:], states[:-1]) if reverse else (states[:-1], states[1:])


def _gate_buffer(like: Array, packed: bool) -> Array:
    """The gate-gradient buffer: zeros when some rows are inactive (padding), else empty."""
    return np.zeros_like(like) if packed else np.empty_like(like)


def _output_gradient(grad: Array | None, t: int, b: int) -> Array | None:
    return None if grad is None else grad[t, :b]


def _param_grads(d_x: Array, x: Array, d_h: Array, prev: Array, has_bias: bool) -> ParamGrads:
    """``(∂W_ih, ∂W_hh, ∂b_ih, ∂b_hh)``: each a GEMM or a sum over all L·N rows."""
    rows = d_x.shape[0] * d_x.shape[1]
    dx2 = d_x.reshape(rows, d_x.shape[-1])
    dh2 = d_h.reshape(rows, d_h.shape[-1])
    grad_w_ih = dx2.T @ x.reshape(rows, x.shape[-1])
    grad_w_hh = dh2.T @ prev.reshape(rows, prev.shape[-1])
    if not has_bias:
        return grad_w_ih, grad_w_hh, None, None
    return grad_w_ih, grad_w_hh, dx2.sum(axis=0), dh2.sum(axis=0)


def _input_gradient(d_x: Array, w_ih: Array) -> Array:
    L, N, _ = d_x.shape
    return np.matmul(d_x.reshape(L * N, d_x.shape[-1]), w_ih).reshape(L, N, w_ih.shape[1])


def _carry(grad: Array | None, like: Array) -> Array:
    """The gradient carried backwards through the state, starting from ∂L/∂h_n (a copy)."""
    return np.zeros_like(like) if grad is None else np.array(grad, copy=True)


# ---------------------------------------------------------------------- Elman RNN


class RNNCache(NamedTuple):
    x: Array  # (L, N, I)
    states: Array  # (L+1, N, H), see the module docstring
    relu: bool
    reverse: bool
    batch_sizes: IntArray | None


def rnn_forward(
    x: Array,
    h0: Array,
    w_ih: Array,
    w_hh: Array,
    b_ih: Array | None,
    b_hh: Array | None,
    nonlinearity: str = "tanh",
    reverse: bool = False,
    batch_sizes: IntArray | None = None,
) -> tuple[Array, Array, RNNCache]:
    """``h_t = act(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh)`` for t = 1..L (or L..1).

    The pre-activations are written straight into the state buffer (they become the
    states once the activation is applied in place), so the forward allocates one
    (L+1, N, H) array. Returns ``(output (L, N, H), h_n (N, H), cache)``.
    """
    L, N, _ = x.shape
    relu = nonlinearity == "relu"
    states = _state_buffer(h0, L, reverse)
    prev, out = _prev_next(states, reverse)
    out[...] = _input_projection(x, w_ih, _bias_sum(b_ih, b_hh))
    w_hh_t = _transposed(w_hh)
    for t in _steps(L, reverse):
        b = _active(batch_sizes, t, N)
        a = out[t, :b]
        a += prev[t, :b] @ w_hh_t
        if relu:
            np.maximum(a, 0, out=a)
        else:
            np.tanh(a, out=a)
        if b < N:  # rows past their end carry their state through
            out[t, b:] = prev[t, b:]
    h_n = states[0] if reverse else states[L]
    return out, h_n.copy(), RNNCache(x, states, relu, reverse, batch_sizes)


def rnn_backward(
    grad_output: Array | None,
    grad_h_n: Array | None,
    cache: RNNCache,
    w_ih: Array,
    w_hh: Array,
    has_bias: bool,
) -> tuple[Array, Array, ParamGrads]:
    """BPTT: with ``a_t`` the pre-activation and δ_t = ∂L/∂h_t (from the output at t and
    from step t+1), ∂L/∂a_t = δ_t ⊙ act'(a_t) (``1 - h_t²``, or ``[h_t > 0]``), and
    δ_{t-1} gets (∂L/∂a_t) W_hh. Then ∂x = ∂A W_ih, ∂W_ih = ∂Aᵀ X, ∂W_hh = ∂Aᵀ H_prev,
    ∂b_ih = ∂b_hh = Σ ∂A over all steps and rows. Returns ``(∂x, ∂h_0, grads)``."""
    x, states, relu, reverse, batch_sizes = cache
    L, N, _ = x.shape
    prev, out = _prev_next(states, reverse)
    d_a = _gate_buffer(out, batch_sizes is not None)
    carry = _carry(grad_h_n, states[0])
    for t in _steps(L, not reverse):
        b = _active(batch_sizes, t, N)
        dh = carry[:b]
        g = _output_gradient(grad_output, t, b)
        if g is not None:
            dh += g
        h = out[t, :b]
        da = d_a[t, :b]
        if relu:
            np.multiply(dh, h > 0, out=da)
        else:
            np.multiply(h, h, out=da)
            np.subtract(1, da, out=da)
            da *= dh
        np.matmul(da, w_hh, out=carry[:b])
    grads = _param_grads(d_a, x, d_a, prev, has_bias)
    return _input_gradient(d_a, w_ih), carry, grads


# ---------------------------------------------------------------------- LSTM


class LSTMCache(NamedTuple):
    x: Array  # (L, N, I)
    states: Array  # (L+1, N, P): h
    cells: Array  # (L+1, N, H): c, laid out like the states
    gates: Array  # (L, N, 4H): i, f, g, o after their activations
    tanh_c: Array  # (L, N, H)
    hidden: Array | None  # (L, N, H): o ⊙ tanh(c) before the projection (proj_size > 0)
    reverse: bool
    batch_sizes: IntArray | None


def lstm_forward(
    x: Array,
    h0: Array,
    c0: Array,
    w_ih: Array,
    w_hh: Array,
    b_ih: Array | None,
    b_hh: Array | None,
    w_hr: Array | None = None,
    reverse: bool = False,
    batch_sizes: IntArray | None = None,
) -> tuple[Array, Array, Array, LSTMCache]:
    """PyTorch's LSTM over a sequence (gates i, f, g, o)::

        i, f, o = σ(·), g = tanh(·)   of the slices of x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh
        c_t = f ⊙ c_{t-1} + i ⊙ g
        h_t = o ⊙ tanh(c_t)            (times W_hrᵀ when there is a projection, P = proj_size)

    Returns ``(output (L, N, P), h_n (N, P), c_n (N, H), cache)``; P = H without projection.

    One ``tanh`` over all four gates computes them: the i, f, o rows of the weights and
    the bias are halved (exact in binary floating point), so those slices hold z/2, and
    :func:`_sigmoid_from_tanh_` finishes each sigmoid (see :func:`_sigmoid_rows_halved`).
    """
    L, N, _ = x.shape
    H = c0.shape[-1]
    halve = _sigmoid_rows_halved("ifgo", H, x.dtype)
    bias = _bias_sum(b_ih, b_hh)
    gates = _input_projection(x, w_ih * halve[:, None], None if bias is None else bias * halve)
    states = _state_buffer(h0, L, reverse)
    cells = _state_buffer(c0, L, reverse)
    prev_h, out_h = _prev_next(states, reverse)
    prev_c, out_c = _prev_next(cells, reverse)
    tanh_c = np.empty((L, N, H), dtype=x.dtype)
    hidden = None if w_hr is None else np.empty((L, N, H), dtype=x.dtype)
    w_hh_t = _transposed(w_hh * halve[:, None])
    for t in _steps(L, reverse):
        b = _active(batch_sizes, t, N)
        a = gates[t, :b]
        a += prev_h[t, :b] @ w_hh_t
        np.tanh(a, out=a)
        _sigmoid_from_tanh_(a[:, : 2 * H])
        _sigmoid_from_tanh_(a[:, 3 * H :])
        i, f, g, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
        c = out_c[t, :b]
        np.multiply(f, prev_c[t, :b], out=c)
        c += i * g
        tc = tanh_c[t, :b]
        np.tanh(c, out=tc)
        if hidden is None:
            np.multiply(o, tc, out=out_h[t, :b])
        else:
            m = hidden[t, :b]
            np.multiply(o, tc, out=m)
            np.matmul(m, w_hr.T, out=out_h[t, :b])  # type: ignore[union-attr]
        if b < N:
            out_h[t, b:] = prev_h[t, b:]
            out_c[t, b:] = prev_c[t, b:]
    last = 0 if reverse else L
    cache = LSTMCache(x, states, cells, gates, tanh_c, hidden, reverse, batch_sizes)
    return out_h, states[last].copy(), cells[last].copy(), cache


def lstm_backward(
    grad_output: Array | None,
    grad_h_n: Array | None,
    grad_c_n: Array | None,
    cache: LSTMCache,
    w_ih: Array,
    w_hh: Array,
    w_hr: Array | None,
    has_bias: bool,
) -> tuple[Array, Array, Array, ParamGrads, Array | None]:
    """BPTT through :func:`lstm_forward`. Per step, with δh = ∂L/∂h_t (output + carry),
    δm = δh (or δh W_hr with a projection, whose gradient is Σ_t δh_tᵀ m_t):

        δc = δc_carry + δm ⊙ o ⊙ (1 - tanh² c_t)
        ∂i = δc ⊙ g ⊙ i(1-i),  ∂f = δc ⊙ c_{t-1} ⊙ f(1-f),
        ∂g = δc ⊙ i ⊙ (1-g²),  ∂o = δm ⊙ tanh c_t ⊙ o(1-o)
        δc_carry ← δc ⊙ f,     δh_carry ← ∂gates W_hh

    The cell state's gradient goes back through ``f ⊙ c`` with only the factor f: the
    additive path that keeps gradients alive. Returns ``(∂x, ∂h_0, ∂c_0, grads, ∂W_hr)``.
    """
    x, states, cells, gates, tanh_c, hidden, reverse, batch_sizes = cache
    L, N, _ = x.shape
    H = tanh_c.shape[-1]
    prev_h, _ = _prev_next(states, reverse)
    prev_c, _ = _prev_next(cells, reverse)
    packed = batch_sizes is not None
    d_gates = _gate_buffer(gates, packed)
    d_proj = None if hidden is None else _gate_buffer(prev_h, packed)
    carry_h = _carry(grad_h_n, states[0])
    carry_c = _carry(grad_c_n, cells[0])
    dc = np.empty((N, H), dtype=x.dtype)
    for t in _steps(L, not reverse):
        b = _active(batch_sizes, t, N)
        dh = carry_h[:b]
        g_out = _output_gradient(grad_output, t, b)
        if g_out is not None:
            dh += g_out
        if d_proj is not None:
            d_proj[t, :b] = dh
            dm = dh @ w_hr
        else:
            dm = dh
        a = gates[t, :b]
        i, f, g, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
        tc = tanh_c[t, :b]
        d = d_gates[t, :b]
        di, df, dg, do = d[:, :H], d[:, H : 2 * H], d[:, 2 * H : 3 * H], d[:, 3 * H :]
        dcb = dc[:b]
        # δc = δc_carry + δm ⊙ o ⊙ (1 - tanh² c)
        np.multiply(tc, tc, out=dcb)
        np.subtract(1, dcb, out=dcb)
        dcb *= o
        dcb *= dm
        dcb += carry_c[:b]
        np.multiply(dm, tc, out=do)
        do *= o * (1 - o)
        np.multiply(dcb, g, out=di)
        di *= i * (1 - i)
        np.multiply(dcb, prev_c[t, :b], out=df)
        df *= f * (1 - f)
        np.multiply(dcb, i, out=dg)
        dg *= 1 - g * g
        np.multiply(dcb, f, out=carry_c[:b])
        np.matmul(d, w_hh, out=carry_h[:b])
    grads = _param_grads(d_gates, x, d_gates, prev_h, has_bias)
    grad_w_hr = None
    if d_proj is not None and hidden is not None:
        rows = L * N
        grad_w_hr = d_proj.reshape(rows, d_proj.shape[-1]).T @ hidden.reshape(
            rows, hidden.shape[-1]
        )
    return _input_gradient(d_gates, w_ih), carry_h, carry_c, grads, grad_w_hr


# ---------------------------------------------------------------------- GRU


class GRUCache(NamedTuple):
    x: Array  # (L, N, I)
    states: Array  # (L+1, N, H)
    gates: Array  # (L, N, 3H): r, z, n after their activations
    hidden_n: Array  # (L, N, H): h_{t-1} W_hnᵀ + b_hn, which r multiplies
    reverse: bool
    batch_sizes: IntArray | None


def gru_forward(
    x: Array,
    h0: Array,
    w_ih: Array,
    w_hh: Array,
    b_ih: Array | None,
    b_hh: Array | None,
    reverse: bool = False,
    batch_sizes: IntArray | None = None,
) -> tuple[Array, Array, GRUCache]:
    """PyTorch's GRU over a sequence (gates r, z, n)::

        r = σ(x W_irᵀ + b_ir + h W_hrᵀ + b_hr),   z = σ(x W_izᵀ + b_iz + h W_hzᵀ + b_hz)
        n = tanh(x W_inᵀ + b_in + r ⊙ (h W_hnᵀ + b_hn))
        h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}

    b_hn sits inside the product with r, so the two biases cannot be folded for n: the
    input projection carries b_ih only, each step's recurrent product carries b_hh.
    The rows of r and z are halved, as in :func:`lstm_forward`, for σ by ``tanh``.
    Returns ``(output (L, N, H), h_n (N, H), cache)``.
    """
    L, N, _ = x.shape
    H = h0.shape[-1]
    halve = _sigmoid_rows_halved("rzn", H, x.dtype)
    gates = _input_projection(x, w_ih * halve[:, None], None if b_ih is None else b_ih * halve)
    states = _state_buffer(h0, L, reverse)
    prev, out = _prev_next(states, reverse)
    hidden_n = np.empty((L, N, H), dtype=x.dtype)
    w_hh_t = _transposed(w_hh * halve[:, None])
    b_hh_halved = None if b_hh is None else b_hh * halve
    for t in _steps(L, reverse):
        b = _active(batch_sizes, t, N)
        h = prev[t, :b]
        from_h = h @ w_hh_t
        if b_hh_halved is not None:
            from_h += b_hh_halved
        a = gates[t, :b]
        rz = a[:, : 2 * H]
        rz += from_h[:, : 2 * H]
        _sigmoid_from_tanh_(np.tanh(rz, out=rz))
        hn = hidden_n[t, :b]
        hn[...] = from_h[:, 2 * H :]
        n = a[:, 2 * H :]
        n += a[:, :H] * hn
        np.tanh(n, out=n)
        h_new = out[t, :b]
        np.subtract(h, n, out=h_new)  # h' = n + z ⊙ (h - n)
        h_new *= a[:, H : 2 * H]
        h_new += n
        if b < N:
            out[t, b:] = prev[t, b:]
    h_n = states[0] if reverse else states[L]
    return out, h_n.copy(), GRUCache(x, states, gates, hidden_n, reverse, batch_sizes)


def gru_backward(
    grad_output: Array | None,
    grad_h_n: Array | None,
    cache: GRUCache,
    w_ih: Array,
    w_hh: Array,
    has_bias: bool,
) -> tuple[Array, Array, ParamGrads]:
    """BPTT through :func:`gru_forward`. Per step, with δ = ∂L/∂h_t (output + carry):

        ∂a_n = δ ⊙ (1-z) ⊙ (1-n²),   ∂a_z = δ ⊙ (h_{t-1} - n) ⊙ z(1-z),
        ∂a_r = ∂a_n ⊙ (h W_hnᵀ + b_hn) ⊙ r(1-r)

    The x side's gate gradients are (∂a_r, ∂a_z, ∂a_n); the h side's are the same but
    ∂a_n ⊙ r for n (r multiplies the recurrent part). δ_carry ← ∂(h side) W_hh + δ ⊙ z.
    Returns ``(∂x, ∂h_0, grads)``.
    """
    x, states, gates, hidden_n, reverse, batch_sizes = cache
    L, N, _ = x.shape
    H = hidden_n.shape[-1]
    prev, _ = _prev_next(states, reverse)
    packed = batch_sizes is not None
    d_x = _gate_buffer(gates, packed)
    d_h = _gate_buffer(gates, packed)
    carry = _carry(grad_h_n, states[0])
    for t in _steps(L, not reverse):
        b = _active(batch_sizes, t, N)
        dh = carry[:b]
        g_out = _output_gradient(grad_output, t, b)
        if g_out is not None:
            dh += g_out
        a = gates[t, :b]
        r, z, n = a[:, :H], a[:, H : 2 * H], a[:, 2 * H :]
        dx, dhh = d_x[t, :b], d_h[t, :b]
        dr, dz, dn = dx[:, :H], dx[:, H : 2 * H], dx[:, 2 * H :]
        np.multiply(n, n, out=dn)
        np.subtract(1, dn, out=dn)
        dn *= 1 - z
        dn *= dh
        np.subtract(prev[t, :b], n, out=dz)
        dz *= dh
        dz *= z * (1 - z)
        np.multiply(dn, hidden_n[t, :b], out=dr)
        dr *= r * (1 - r)
        dhh[:, : 2 * H] = dx[:, : 2 * H]
        np.multiply(dn, r, out=dhh[:, 2 * H :])
        through_z = dh * z
        np.matmul(dhh, w_hh, out=carry[:b])
        carry[:b] += through_z
    grads = _param_grads(d_x, x, d_h, prev, has_bias)
    return _input_gradient(d_x, w_ih), carry, grads


# ---------------------------------------------------------------------- references
#
# Plain loops, one readable cell after the other, written for a reader and used by the
# tests as a second oracle for the fast kernels above. ``lengths`` (one per row, in any
# order) gives variable-length sequences: row n runs steps 0..lengths[n]-1 (or the
# reverse) and its final state is the state after its last real step; the outputs at
# padded positions are zeros.


def _reference_loop(
    x: Array,
    states: tuple[Array, ...],
    step: object,
    reverse: bool,
    lengths: IntArray | None,
) -> tuple[Array, tuple[Array, ...]]:
    """Run ``step(x_t, *state) -> (output_t, *new_state)`` row by row and step by step."""
    L, N, _ = x.shape
    outputs: list[list[Array]] = [[] for _ in range(L)]
    finals: list[tuple[Array, ...]] = []
    for n in range(N):
        length = L if lengths is None else int(lengths[n])
        state = tuple(s[n] for s in states)
        row_out: dict[int, Array] = {}
        for t in _steps(length, reverse):
            out_t, *new = step(x[t, n], *state)  # type: ignore[operator]
            row_out[t], state = out_t, tuple(new)
        finals.append(state)
        for t in range(L):
            outputs[t].append(row_out.get(t, np.zeros_like(states[0][n])))
    output = np.stack([np.stack(row) for row in outputs])
    return output, tuple(np.stack([f[k] for f in finals]) for k in range(len(states)))


def _affine(v: Array, weight: Array, bias: Array | None) -> Array:
    return weight @ v + (0 if bias is None else bias)


def rnn_reference(
    x: Array,
    h0: Array,
    w_ih: Array,
    w_hh: Array,
    b_ih: Array | None,
    b_hh: Array | None,
    nonlinearity: str = "tanh",
    reverse: bool = False,
    lengths: IntArray | None = None,
) -> tuple[Array, Array]:
    """The Elman RNN, cell by cell: ``h' = act(W_ih x + b_ih + W_hh h + b_hh)``."""

    def step(x_t: Array, h: Array) -> tuple[Array, Array]:
        a = _affine(x_t, w_ih, b_ih) + _affine(h, w_hh, b_hh)
        h_new = np.maximum(a, 0) if nonlinearity == "relu" else np.tanh(a)
        return h_new, h_new

    output, (h_n,) = _reference_loop(x, (h0,), step, reverse, lengths)
    return output, h_n


def lstm_cell_reference(
    x_t: Array,
    h: Array,
    c: Array,
    w_ih: Array,
    w_hh: Array,
    b_ih: Array | None,
    b_hh: Array | None,
    w_hr: Array | None = None,
) -> tuple[Array, Array]:
    """One LSTM step for one sequence: the four gates, the cell, the (projected) output."""
    i, f, g, o = np.split(_affine(x_t, w_ih, b_ih) + _affine(h, w_hh, b_hh), 4)
    i, f, g, o = 1 / (1 + np.exp(-i)), 1 / (1 + np.exp(-f)), np.tanh(g), 1 / (1 + np.exp(-o))
    c_new = f * c + i * g
    h_new = o * np.tanh(c_new)
    return (h_new if w_hr is None else w_hr @ h_new), c_new


def lstm_reference(
    x: Array,
    h0: Array,
    c0: Array,
    w_ih: Array,
    w_hh: Array,
    b_ih: Array | None,
    b_hh: Array | None,
    w_hr: Array | None = None,
    reverse: bool = False,
    lengths: IntArray | None = None,
) -> tuple[Array, Array, Array]:
    """The LSTM, cell by cell (:func:`lstm_cell_reference`)."""

    def step(x_t: Array, h: Array, c: Array) -> tuple[Array, Array, Array]:
        h_new, c_new = lstm_cell_reference(x_t, h, c, w_ih, w_hh, b_ih, b_hh, w_hr)
        return h_new, h_new, c_new

    output, (h_n, c_n) = _reference_loop(x, (h0, c0), step, reverse, lengths)
    return output, h_n, c_n


def gru_cell_reference(
    x_t: Array,
    h: Array,
    w_ih: Array,
    w_hh: Array,
    b_ih: Array | None,
    b_hh: Array | None,
) -> Array:
    """One GRU step for one sequence; note r multiplies ``W_hn h + b_hn`` as a whole."""
    x_r, x_z, x_n = np.split(_affine(x_t, w_ih, b_ih), 3)
    h_r, h_z, h_n = np.split(_affine(h, w_hh, b_hh), 3)
    r = 1 / (1 + np.exp(-(x_r + h_r)))
    z = 1 / (1 + np.exp(-(x_z + h_z)))
    n = np.tanh(x_n + r * h_n)
    return (1 - z) * n + z * h


def gru_reference(
    x: Array,
    h0: Array,
    w_ih: Array,
    w_hh: Array,
    b_ih: Array | None,
    b_hh: Array | None,
    reverse: bool = False,
    lengths: IntArray | None = None,
) -> tuple[Array, Array]:
    """The GRU, cell by cell (:func:`gru_cell_reference`)."""

    def step(x_t: Array, h: Array) -> tuple[Array, Array]:
        h_new = gru_cell_reference(x_t, h, w_ih, w_hh, b_ih, b_hh)
        return h_new, h_new

    output, (h_n,) = _reference_loop(x, (h0,), step, reverse, lengths)
    return output, h_n


# ---------------------------------------------------------------------- reference BPTT
#
# Backpropagation through time written out: replay one row's forward to know the state
# before each step, then walk the steps backwards through each cell's local derivative,
# adding every step's share of the (shared) weights' gradients. The fast backward kernels
# above compute the same sums with all steps' products batched into GEMMs.

StepBackward = Callable[
    [Array, tuple[Array, ...], Array, tuple[Array, ...]],
    tuple[Array, tuple[Array, ...], list[Array | None]],
]
"""``(x_t, state before, ∂L/∂output_t, ∂L/∂state after) -> (∂x_t, ∂state before,
parameter gradients of this step)``."""


def _reference_backward(
    x: Array,
    states: tuple[Array, ...],
    step: object,
    step_backward: StepBackward,
    reverse: bool,
    lengths: IntArray | None,
    grad_output: Array | None,
    grad_finals: tuple[Array | None, ...],
) -> tuple[Array, tuple[Array, ...], list[Array | None]]:
    """BPTT row by row: ``(∂x, ∂initial states, Σ over rows and steps of the parameter
    gradients)``; ``None`` gradients mean the loss did not use that output."""
    L, N, _ = x.shape
    grad_x = np.zeros_like(x)
    grad_states = tuple(np.zeros_like(s) for s in states)
    totals: list[Array | None] | None = None
    for n in range(N):
        order = list(_steps(L if lengths is None else int(lengths[n]), reverse))
        state, before = tuple(s[n] for s in states), []
        for t in order:
            before.append(state)
            _, *new = step(x[t, n], *state)  # type: ignore[operator]
            state = tuple(new)
        carry = tuple(
            np.zeros_like(s) if g is None else g[n].copy()
            for s, g in zip(state, grad_finals, strict=True)
        )
        for t, state_t in zip(reversed(order), reversed(before), strict=True):
            d_out = np.zeros_like(state[0]) if grad_output is None else grad_output[t, n]
            grad_x[t, n], carry, grads = step_backward(x[t, n], state_t, d_out, carry)
            totals = grads if totals is None else _add(totals, grads)
        for k, d in enumerate(carry):
            grad_states[k][n] = d
    return grad_x, grad_states, totals if totals is not None else []


def _add(a: list[Array | None], b: list[Array | None]) -> list[Array | None]:
    return [None if p is None or q is None else p + q for p, q in zip(a, b, strict=True)]


def _sigmoid(v: Array) -> Array:
    return 1 / (1 + np.exp(-v))


def rnn_backward_reference(
    grad_output: Array | None,
    grad_h_n: Array | None,
    x: Array,
    h0: Array,
    w_ih: Array,
    w_hh: Array,
    b_ih: Array | None,
    b_hh: Array | None,
    nonlinearity: str = "tanh",
    reverse: bool = False,
    lengths: IntArray | None = None,
) -> tuple[Array, Array, list[Array | None]]:
    """BPTT of :func:`rnn_reference`. Per step, with δ = ∂L/∂h' (output and carry) and
    a the pre-activation: ∂a = δ ⊙ act'(a); ∂W_ih += ∂a xᵀ, ∂W_hh += ∂a hᵀ,
    ∂b_ih = ∂b_hh += ∂a; ∂x = W_ihᵀ ∂a, ∂h = W_hhᵀ ∂a.
    Returns ``(∂x, ∂h_0, [∂W_ih, ∂W_hh, ∂b_ih, ∂b_hh])``."""

    def step(x_t: Array, h: Array) -> tuple[Array, Array]:
        a = _affine(x_t, w_ih, b_ih) + _affine(h, w_hh, b_hh)
        h_new = np.maximum(a, 0) if nonlinearity == "relu" else np.tanh(a)
        return h_new, h_new

    def step_backward(
        x_t: Array, state: tuple[Array, ...], d_out: Array, carry: tuple[Array, ...]
    ) -> tuple[Array, tuple[Array, ...], list[Array | None]]:
        (h,) = state
        a = _affine(x_t, w_ih, b_ih) + _affine(h, w_hh, b_hh)
        slope = (a > 0).astype(a.dtype) if nonlinearity == "relu" else 1 - np.tanh(a) ** 2
        da = (d_out + carry[0]) * slope
        bias = None if b_ih is None else da
        return w_ih.T @ da, (w_hh.T @ da,), [np.outer(da, x_t), np.outer(da, h), bias, bias]

    grad_x, (grad_h0,), grads = _reference_backward(
        x, (h0,), step, step_backward, reverse, lengths, grad_output, (grad_h_n,)
    )
    return grad_x, grad_h0, grads


def lstm_backward_reference(
    grad_output: Array | None,
    grad_h_n: Array | None,
    grad_c_n: Array | None,
    x: Array,
    h0: Array,
    c0: Array,
    w_ih: Array,
    w_hh: Array,
    b_ih: Array | None,
    b_hh: Array | None,
    w_hr: Array | None = None,
    reverse: bool = False,
    lengths: IntArray | None = None,
) -> tuple[Array, Array, Array, list[Array | None]]:
    """BPTT of :func:`lstm_reference`. Per step, with z the gates' pre-activations,
    m = o ⊙ tanh(c') and h' = W_hr m (or m), δh = ∂L/∂h' and δc = ∂L/∂c' (carried):

        ∂m = W_hrᵀ δh (∂W_hr += δh mᵀ),   ∂o = ∂m ⊙ tanh c'
        ∂c' = δc + ∂m ⊙ o ⊙ (1 − tanh² c')
        ∂i = ∂c' ⊙ g,  ∂g = ∂c' ⊙ i,  ∂f = ∂c' ⊙ c,  ∂c = ∂c' ⊙ f
        ∂z = (∂i i(1−i), ∂f f(1−f), ∂g (1−g²), ∂o o(1−o))
        ∂W_ih += ∂z xᵀ, ∂W_hh += ∂z hᵀ, ∂b += ∂z;  ∂x = W_ihᵀ ∂z, ∂h = W_hhᵀ ∂z

    Returns ``(∂x, ∂h_0, ∂c_0, [∂W_ih, ∂W_hh, ∂b_ih, ∂b_hh, ∂W_hr])``."""

    def step(x_t: Array, h: Array, c: Array) -> tuple[Array, Array, Array]:
        h_new, c_new = lstm_cell_reference(x_t, h, c, w_ih, w_hh, b_ih, b_hh, w_hr)
        return h_new, h_new, c_new

    def step_backward(
        x_t: Array, state: tuple[Array, ...], d_out: Array, carry: tuple[Array, ...]
    ) -> tuple[Array, tuple[Array, ...], list[Array | None]]:
        h, c = state
        zi, zf, zg, zo = np.split(_affine(x_t, w_ih, b_ih) + _affine(h, w_hh, b_hh), 4)
        i, f, g, o = _sigmoid(zi), _sigmoid(zf), np.tanh(zg), _sigmoid(zo)
        c_new = f * c + i * g
        m = o * np.tanh(c_new)
        dh = d_out + carry[0]
        dm = dh if w_hr is None else w_hr.T @ dh
        dc_new = carry[1] + dm * o * (1 - np.tanh(c_new) ** 2)
        dz = np.concatenate(
            [
                dc_new * g * i * (1 - i),
                dc_new * c * f * (1 - f),
                dc_new * i * (1 - g**2),
                dm * np.tanh(c_new) * o * (1 - o),
            ]
        )
        bias = None if b_ih is None else dz
        grad_hr = None if w_hr is None else np.outer(dh, m)
        grads = [np.outer(dz, x_t), np.outer(dz, h), bias, bias, grad_hr]
        return w_ih.T @ dz, (w_hh.T @ dz, dc_new * f), grads

    grad_x, (grad_h0, grad_c0), grads = _reference_backward(
        x, (h0, c0), step, step_backward, reverse, lengths, grad_output, (grad_h_n, grad_c_n)
    )
    return grad_x, grad_h0, grad_c0, grads


def gru_backward_reference(
    grad_output: Array | None,
    grad_h_n: Array | None,
    x: Array,
    h0: Array,
    w_ih: Array,
    w_hh: Array,
    b_ih: Array | None,
    b_hh: Array | None,
    reverse: bool = False,
    lengths: IntArray | None = None,
) -> tuple[Array, Array, list[Array | None]]:
    """BPTT of :func:`gru_reference`. With ``a = W_ih x + b_ih`` and ``u = W_hh h + b_hh``
    split into (r, z, n) parts, r = σ(a_r + u_r), z = σ(a_z + u_z), n = tanh(a_n + r u_n),
    h' = (1 − z) n + z h, and δ = ∂L/∂h':

        ∂n = δ (1 − z),  ∂z = δ (h − n),  ∂h (direct) = δ z
        ∂s_n = ∂n (1 − n²),  ∂r = ∂s_n ⊙ u_n,  ∂u_n = ∂s_n ⊙ r
        ∂a = (∂r r(1−r), ∂z z(1−z), ∂s_n),   ∂u = (∂r r(1−r), ∂z z(1−z), ∂u_n)

    ∂W_ih += ∂a xᵀ, ∂b_ih += ∂a, ∂W_hh += ∂u hᵀ, ∂b_hh += ∂u; ∂x = W_ihᵀ ∂a,
    ∂h = W_hhᵀ ∂u + δ z. Returns ``(∂x, ∂h_0, [∂W_ih, ∂W_hh, ∂b_ih, ∂b_hh])``."""

    def step(x_t: Array, h: Array) -> tuple[Array, Array]:
        h_new = gru_cell_reference(x_t, h, w_ih, w_hh, b_ih, b_hh)
        return h_new, h_new

    def step_backward(
        x_t: Array, state: tuple[Array, ...], d_out: Array, carry: tuple[Array, ...]
    ) -> tuple[Array, tuple[Array, ...], list[Array | None]]:
        (h,) = state
        a_r, a_z, a_n = np.split(_affine(x_t, w_ih, b_ih), 3)
        u_r, u_z, u_n = np.split(_affine(h, w_hh, b_hh), 3)
        r, z = _sigmoid(a_r + u_r), _sigmoid(a_z + u_z)
        n = np.tanh(a_n + r * u_n)
        delta = d_out + carry[0]
        ds_n = delta * (1 - z) * (1 - n**2)
        dr = ds_n * u_n * r * (1 - r)
        dz = delta * (h - n) * z * (1 - z)
        da, du = np.concatenate([dr, dz, ds_n]), np.concatenate([dr, dz, ds_n * r])
        grads = [np.outer(da, x_t), np.outer(du, h), None, None]
        if b_ih is not None:
            grads[2:] = [da, du]
        return w_ih.T @ da, (w_hh.T @ du + delta * z,), grads

    grad_x, (grad_h0,), grads = _reference_backward(
        x, (h0,), step, step_backward, reverse, lengths, grad_output, (grad_h_n,)
    )
    return grad_x, grad_h0, grads
