"""Recurrent cells: ``RNNCell``, ``LSTMCell``, ``GRUCell`` (PyTorch's names and numerics).

A cell is one time step. Stepped in a Python loop (``for t in range(T): h = cell(x[t],
h)``), each call keeps its own cache until its backward, so the loop's backward calls
``cell.backward`` once per step, last step first: backpropagation through time written
out by hand. The kernels are in :mod:`refnet.nn.functional.rnn`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

import refnet.nn.functional.rnn as R
from refnet._typing import Array, Seed
from refnet.nn import init
from refnet.nn._validation import float_input, matching_dtype, output_gradient
from refnet.nn.module import Module
from refnet.nn.parameter import Parameter
from refnet.random import as_generator


class _CellBase(Module):
    """Parameters ``weight_ih`` (G·H, I), ``weight_hh`` (G·H, H), ``bias_ih``, ``bias_hh``
    (G·H,), all drawn from U(-1/√H, 1/√H) as PyTorch's ``reset_parameters``."""

    _gates = 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        dtype: npt.DTypeLike = np.float32,
        generator: Seed = None,
    ) -> None:
        super().__init__()
        if input_size <= 0 or hidden_size <= 0:
            raise ValueError(
                f"{type(self).__name__}: input_size and hidden_size must be positive, "
                f"got ({input_size}, {hidden_size})"
            )
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        rows = self._gates * hidden_size
        self.weight_ih = Parameter(np.empty((rows, input_size), dtype=dtype))
        self.weight_hh = Parameter(np.empty((rows, hidden_size), dtype=dtype))
        self.bias_ih: Parameter | None
        self.bias_hh: Parameter | None
        if bias:
            self.bias_ih = Parameter(np.empty(rows, dtype=dtype))
            self.bias_hh = Parameter(np.empty(rows, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters(generator)
        self._cache: Any = None

    def reset_parameters(self, generator: Seed = None) -> None:
        """Every weight and bias from U(-1/√H, 1/√H), in registration order."""
        rng = as_generator(generator)
        bound = 1 / math.sqrt(self.hidden_size)
        for param in self.parameters():
            init.uniform_(param, -bound, bound, generator=rng)

    def _weights(self) -> tuple[Array, Array, Array | None, Array | None]:
        b_ih = None if self.bias_ih is None else self.bias_ih.data
        b_hh = None if self.bias_hh is None else self.bias_hh.data
        return self.weight_ih.data, self.weight_hh.data, b_ih, b_hh

    def _batched_input(self, x: object) -> Array:
        """``x`` as (N, I): an unbatched (I,) input becomes one row."""
        x = float_input(self, x)
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(
                f"{self.describe()}: expected input of shape (N, {self.input_size}) or "
                f"({self.input_size},), got {tuple(x.shape)}"
            )
        matching_dtype(self, x, self.weight_ih.dtype)
        return x if x.ndim == 2 else x[None]

    def _state(self, state: object, x: Array, batched: bool, name: str) -> Array:
        """A given state as (N, H), checked against the input; ``None`` is zeros."""
        shape = (x.shape[0], self.hidden_size)
        if state is None:
            return np.zeros(shape, dtype=x.dtype)
        state = float_input(self, state, name)
        expected = shape if batched else shape[1:]
        if state.shape != expected:
            raise ValueError(
                f"{self.describe()}: expected {name} of shape {expected} for an input of "
                f"shape {(x.shape if batched else x.shape[1:])}, got {tuple(state.shape)}"
            )
        matching_dtype(self, state, x.dtype, name)
        return state if batched else state[None]

    def _add_grads(self, grads: R.CellGrads) -> None:
        grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh = grads
        self.weight_ih.grad += grad_w_ih
        self.weight_hh.grad += grad_w_hh
        if self.bias_ih is not None and self.bias_hh is not None:
            assert grad_b_ih is not None and grad_b_hh is not None
            self.bias_ih.grad += grad_b_ih
            self.bias_hh.grad += grad_b_hh

    def extra_repr(self) -> str:
        bias = "" if self.bias else ", bias=False"
        return f"{self.input_size}, {self.hidden_size}{bias}"


def _unbatch(array: Array, batched: bool) -> Array:
    return array if batched else array[0]


class RNNCell(_CellBase):
    """One Elman RNN step, ``h' = act(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)`` (``nn.RNNCell``).

    ``act`` is ``tanh`` (default) or ``relu`` (``nonlinearity='relu'``). Shapes: input
    (N, I) or (I,), ``hx`` (N, H) or (H,), zeros when omitted; returns h' of hx's shape.

    Backward: ``backward(grad_h)`` with ∂L/∂h'. Through the activation,
    ∂L/∂a = ∂L/∂h' ⊙ act'(a); then ∂L/∂x = (∂L/∂a) W_ih, ∂L/∂h = (∂L/∂a) W_hh and
    ∂W_ih = (∂L/∂a)ᵀ x, ∂W_hh = (∂L/∂a)ᵀ h, ∂b = Σ_n ∂L/∂a. Returns ``grad_input``, or
    ``(grad_input, grad_hx)`` when ``hx`` was passed.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        dtype: npt.DTypeLike = np.float32,
        generator: Seed = None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: unknown nonlinearity {nonlinearity!r} ('tanh' or 'relu')")
        super().__init__(input_size, hidden_size, bias, dtype, generator)
        self.nonlinearity = nonlinearity

    def forward(self, input: Array, hx: Array | None = None) -> Array:
        x = self._batched_input(input)
        batched = input.ndim == 2
        h = self._state(hx, x, batched, "hx")
        h_new, cache = R.rnn_cell(x, h, *self._weights(), nonlinearity=self.nonlinearity)
        self._cache = (cache, batched, hx is not None)
        return _unbatch(h_new, batched)

    def backward(self, grad_h: Array | None) -> Array | tuple[Array, Array]:
        cache, batched, hx_given = self._saved(self._cache)
        g = output_gradient(
            self, _batched_grad(grad_h, batched), cache.h_new.shape, cache.h_new.dtype, "grad_h"
        )
        grad_x, grad_h_prev, grads = R.rnn_cell_backward(
            g, cache, self.weight_ih.data, self.weight_hh.data, self.bias
        )
        self._add_grads(grads)
        grad_input = _unbatch(grad_x, batched)
        return (grad_input, _unbatch(grad_h_prev, batched)) if hx_given else grad_input

    def extra_repr(self) -> str:
        act = "" if self.nonlinearity == "tanh" else ", nonlinearity='relu'"
        return super().extra_repr() + act


class LSTMCell(_CellBase):
    """One LSTM step (PyTorch: ``nn.LSTMCell``), gates i, f, g, o stacked in the weights::

        i, f, o = σ(·), g = tanh(·)      of the slices of x W_ihᵀ + b_ih + h W_hhᵀ + b_hh
        c' = f ⊙ c + i ⊙ g,    h' = o ⊙ tanh(c')

    ``forward(input, hx=None)`` with ``hx = (h, c)`` returns ``(h', c')``.
    ``backward(grad_h, grad_c=None)`` takes one gradient per output (``None`` for an
    unused one) and returns ``grad_input``, or ``(grad_input, (grad_h, grad_c))`` when
    ``hx`` was passed. The cell state's gradient is ``∂L/∂c' ⊙ f`` back to c: an
    additive path that keeps gradients alive over many steps (see
    :func:`refnet.nn.functional.rnn.lstm_cell_backward`).
    """

    _gates = 4

    def forward(self, input: Array, hx: tuple[Array, Array] | None = None) -> tuple[Array, Array]:
        x = self._batched_input(input)
        batched = input.ndim == 2
        if hx is not None and (not isinstance(hx, tuple | list) or len(hx) != 2):
            raise TypeError(f"{self.describe()}: hx must be a pair (h_0, c_0) or None")
        h0, c0 = (None, None) if hx is None else hx
        h = self._state(h0, x, batched, "hx[0]")
        c = self._state(c0, x, batched, "hx[1]")
        h_new, c_new, cache = R.lstm_cell(x, h, c, *self._weights())
        self._cache = (cache, batched, hx is not None)
        return _unbatch(h_new, batched), _unbatch(c_new, batched)

    def backward(
        self, grad_h: Array | None, grad_c: Array | None = None
    ) -> Array | tuple[Array, tuple[Array, Array]]:
        cache, batched, hx_given = self._saved(self._cache)
        shape, dtype = cache.tanh_c.shape, cache.tanh_c.dtype
        gh = output_gradient(self, _batched_grad(grad_h, batched), shape, dtype, "grad_h")
        gc = output_gradient(self, _batched_grad(grad_c, batched), shape, dtype, "grad_c")
        grad_x, grad_h_prev, grad_c_prev, grads = R.lstm_cell_backward(
            gh, gc, cache, self.weight_ih.data, self.weight_hh.data, self.bias
        )
        self._add_grads(grads)
        grad_input = _unbatch(grad_x, batched)
        if not hx_given:
            return grad_input
        return grad_input, (_unbatch(grad_h_prev, batched), _unbatch(grad_c_prev, batched))


class GRUCell(_CellBase):
    """One GRU step (PyTorch: ``nn.GRUCell``), gates r, z, n stacked in the weights::

        r = σ(x W_irᵀ + b_ir + h W_hrᵀ + b_hr),   z = σ(x W_izᵀ + b_iz + h W_hzᵀ + b_hz)
        n = tanh(x W_inᵀ + b_in + r ⊙ (h W_hnᵀ + b_hn)),   h' = (1 - z) ⊙ n + z ⊙ h

    ``backward(grad_h)`` returns ``grad_input``, or ``(grad_input, grad_hx)`` when ``hx``
    was passed (derivation: :func:`refnet.nn.functional.rnn.gru_cell_backward`).
    """

    _gates = 3

    def forward(self, input: Array, hx: Array | None = None) -> Array:
        x = self._batched_input(input)
        batched = input.ndim == 2
        h = self._state(hx, x, batched, "hx")
        h_new, cache = R.gru_cell(x, h, *self._weights())
        self._cache = (cache, batched, hx is not None)
        return _unbatch(h_new, batched)

    def backward(self, grad_h: Array | None) -> Array | tuple[Array, Array]:
        cache, batched, hx_given = self._saved(self._cache)
        g = output_gradient(
            self, _batched_grad(grad_h, batched), cache.h.shape, cache.h.dtype, "grad_h"
        )
        grad_x, grad_h_prev, grads = R.gru_cell_backward(
            g, cache, self.weight_ih.data, self.weight_hh.data, self.bias
        )
        self._add_grads(grads)
        grad_input = _unbatch(grad_x, batched)
        return (grad_input, _unbatch(grad_h_prev, batched)) if hx_given else grad_input


def _batched_grad(grad: object, batched: bool) -> object:
    """An unbatched call's gradient, of shape (H,), as one row (N = 1)."""
    if batched or not isinstance(grad, np.ndarray) or grad.ndim != 1:
        return grad
    return grad[None]
