"""Recurrent cells: ``RNNCell``, ``LSTMCell``, ``GRUCell`` (PyTorch's names and numerics).

A cell is one time step. Stepped in a Python loop (``for t in range(T): h = cell(x[t],
h)``), each call keeps its own cache until its backward, so the loop's backward calls
``cell.backward`` once per step, last step first: backpropagation through time written
out by hand. The kernels are in :mod:`refnet.nn.functional.rnn`.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

import refnet.nn.functional.recurrent as K
import refnet.nn.functional.rnn as R
from refnet._typing import Array, IntArray, Seed
from refnet.nn import init
from refnet.nn._validation import float_input, gradient_pair, matching_dtype, output_gradient
from refnet.nn.functional.dropout import dropout_noise
from refnet.nn.module import Module
from refnet.nn.parameter import Parameter
from refnet.nn.utils.rnn import PackedSequence, check_packed, packed_data, padded_data
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


class _OneStateCell(_CellBase):
    """RNNCell and GRUCell: one state ``h``; a subclass gives the step and its backward."""

    def forward(self, input: Array, hx: Array | None = None) -> Array:
        x = self._batched_input(input)
        batched = input.ndim == 2
        h = self._state(hx, x, batched, "hx")
        h_new, cache = self._step(x, h)
        self._cache = (cache, batched, hx is not None, h_new.shape)
        return _unbatch(h_new, batched)

    def backward(self, grad_h: Array | None) -> Array | tuple[Array, Array]:
        cache, batched, hx_given, shape = self._saved(self._cache)
        g = output_gradient(self, _batched_grad(grad_h, batched), shape, self._dtype, "grad_h")
        grad_x, grad_h_prev, grads = self._step_backward(g, cache)
        self._add_grads(grads)
        grad_input = _unbatch(grad_x, batched)
        return (grad_input, _unbatch(grad_h_prev, batched)) if hx_given else grad_input

    @property
    def _dtype(self) -> np.dtype[Any]:
        return self.weight_ih.dtype

    def _step(self, x: Array, h: Array) -> tuple[Array, Any]:
        """One step: ``(h', cache)``."""
        raise NotImplementedError

    def _step_backward(self, grad: Array, cache: Any) -> tuple[Array, Array, R.CellGrads]:
        """``(∂x, ∂h, parameter gradients)`` from ∂L/∂h'."""
        raise NotImplementedError


class RNNCell(_OneStateCell):
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

    def _step(self, x: Array, h: Array) -> tuple[Array, Any]:
        return R.rnn_cell(x, h, *self._weights(), nonlinearity=self.nonlinearity)

    def _step_backward(self, grad: Array, cache: Any) -> tuple[Array, Array, R.CellGrads]:
        return R.rnn_cell_backward(grad, cache, self.weight_ih.data, self.weight_hh.data, self.bias)

    def extra_repr(self) -> str:
        act = "" if self.nonlinearity == "tanh" else ", nonlinearity=relu"  # torch's, unquoted
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


class GRUCell(_OneStateCell):
    """One GRU step (PyTorch: ``nn.GRUCell``), gates r, z, n stacked in the weights::

        r = σ(x W_irᵀ + b_ir + h W_hrᵀ + b_hr),   z = σ(x W_izᵀ + b_iz + h W_hzᵀ + b_hz)
        n = tanh(x W_inᵀ + b_in + r ⊙ (h W_hnᵀ + b_hn)),   h' = (1 - z) ⊙ n + z ⊙ h

    ``backward(grad_h)`` returns ``grad_input``, or ``(grad_input, grad_hx)`` when ``hx``
    was passed (derivation: :func:`refnet.nn.functional.rnn.gru_cell_backward`).
    """

    _gates = 3

    def _step(self, x: Array, h: Array) -> tuple[Array, Any]:
        return R.gru_cell(x, h, *self._weights())

    def _step_backward(self, grad: Array, cache: Any) -> tuple[Array, Array, R.CellGrads]:
        return R.gru_cell_backward(grad, cache, self.weight_ih.data, self.weight_hh.data, self.bias)


def _batched_grad(grad: object, batched: bool) -> object:
    """An unbatched call's gradient, of shape (H,), as one row (N = 1)."""
    if batched or not isinstance(grad, np.ndarray) or grad.ndim != 1:
        return grad
    return grad[None]


# ---------------------------------------------------------------------- whole sequences


class _RNNBase(Module):
    """Shared by ``RNN``, ``LSTM`` and ``GRU``: layers, directions, layouts, dropout.

    Parameters per layer ``k`` and direction (``_reverse`` for the second):
    ``weight_ih_l{k}`` (G·H, I_k), ``weight_hh_l{k}`` (G·H, H_out), ``bias_ih_l{k}``,
    ``bias_hh_l{k}`` (G·H,) and, for an LSTM with ``proj_size``, ``weight_hr_l{k}``
    (H_out, H); I_0 = input_size, I_k = D·H_out after that. Every one is drawn from
    U(-1/√H, 1/√H), as PyTorch does.
    """

    _gates = 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        dtype: npt.DTypeLike = np.float32,
        generator: Seed = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if input_size <= 0 or hidden_size <= 0 or num_layers <= 0:
            raise ValueError(
                f"{name}: input_size, hidden_size and num_layers must be positive, "
                f"got ({input_size}, {hidden_size}, {num_layers})"
            )
        if not 0 <= dropout <= 1:
            raise ValueError(f"{name}: dropout must be in [0, 1], got {dropout}")
        if not 0 <= proj_size < hidden_size:
            raise ValueError(f"{name}: proj_size must be in [0, hidden_size), got {proj_size}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bidirectional, proj_size
        self.generator = as_generator(generator)
        out = proj_size or hidden_size
        rows = self._gates * hidden_size
        for layer in range(num_layers):
            width = input_size if layer == 0 else self._directions * out
            for suffix in self._suffixes(layer):
                setattr(self, f"weight_ih{suffix}", Parameter(np.empty((rows, width), dtype)))
                setattr(self, f"weight_hh{suffix}", Parameter(np.empty((rows, out), dtype)))
                if bias:
                    setattr(self, f"bias_ih{suffix}", Parameter(np.empty(rows, dtype)))
                    setattr(self, f"bias_hh{suffix}", Parameter(np.empty(rows, dtype)))
                if proj_size:
                    setattr(
                        self, f"weight_hr{suffix}", Parameter(np.empty((out, hidden_size), dtype))
                    )
        self.reset_parameters(self.generator)
        self._cache: Any = None

    @property
    def _dtype(self) -> np.dtype[Any]:
        first = self._parameters["weight_ih_l0"]
        assert first is not None
        return first.dtype

    @property
    def _directions(self) -> int:
        return 2 if self.bidirectional else 1

    def _suffixes(self, layer: int) -> list[str]:
        return [f"_l{layer}", f"_l{layer}_reverse"][: self._directions]

    def reset_parameters(self, generator: Seed = None) -> None:
        """Every weight and bias from U(-1/√H, 1/√H), in registration order."""
        rng = as_generator(generator)
        bound = 1 / math.sqrt(self.hidden_size)
        for param in self.parameters():
            init.uniform_(param, -bound, bound, generator=rng)

    def _weights(self, suffix: str) -> tuple[Array, Array, Array | None, Array | None]:
        data = {name: p.data for name, p in self._parameters.items() if p is not None}
        return (
            data[f"weight_ih{suffix}"],
            data[f"weight_hh{suffix}"],
            data.get(f"bias_ih{suffix}"),
            data.get(f"bias_hh{suffix}"),
        )

    def _projection(self, suffix: str) -> Array | None:
        param = self._parameters.get(f"weight_hr{suffix}")
        return None if param is None else param.data

    # -------------------------------------------------------------- shapes

    def _layout(self, input: object) -> tuple[Array, _Layout]:
        """The input as the kernels' time-major (L, N, I), and how to map results back."""
        if isinstance(input, PackedSequence):
            check_packed(input, self.input_size, self.describe())
            matching_dtype(self, input.data, self._dtype)
            return padded_data(input.data, input.batch_sizes), _Layout(True, False, input)
        x = float_input(self, input)
        layout = "(N, L, {})" if self.batch_first else "(L, N, {})"
        if x.ndim not in (2, 3) or x.shape[-1] != self.input_size:
            raise ValueError(
                f"{self.describe()}: expected input of shape "
                f"{layout.format(self.input_size)} or (L, {self.input_size}), "
                f"or a PackedSequence, got {tuple(x.shape)}"
            )
        matching_dtype(self, x, self._dtype)
        where = _Layout(x.ndim == 3, self.batch_first, None)
        inside = where.inside(x)
        if inside.shape[0] == 0:
            raise ValueError(f"{self.describe()}: the input sequence is empty (length 0)")
        return inside, where

    def _initial(self, state: object, N: int, width: int, where: _Layout, name: str) -> Array:
        """A state as the kernels' (layers·D, N, width); None: zeros."""
        shape = (self.num_layers * self._directions, N, width)
        if state is None:
            return np.zeros(shape, dtype=self._dtype)
        state = float_input(self, state, name)
        expected = shape if where.batched else (shape[0], shape[2])
        if state.shape != expected:
            raise ValueError(
                f"{self.describe()}: expected {name} of shape {expected}, got {tuple(state.shape)}"
            )
        matching_dtype(self, state, self._dtype, name)
        return where.state_inside(state)

    # -------------------------------------------------------------- computation

    def _run(
        self, x: Array, h0: Array, c0: Array | None, batch_sizes: IntArray | None
    ) -> tuple[Array, Array, Array | None, list[Any]]:
        """Every layer and direction; returns (output, h_n, c_n, per-layer caches)."""
        h_n, c_n = np.empty_like(h0), None if c0 is None else np.empty_like(c0)
        caches: list[Any] = []
        for layer in range(self.num_layers):
            outputs, layer_caches = [], []
            for d, suffix in enumerate(self._suffixes(layer)):
                k = layer * self._directions + d
                c_k = None if c0 is None else c0[k]
                out, h_last, c_last, cache = self._direction_forward(
                    x, h0[k], c_k, suffix, d == 1, batch_sizes
                )
                outputs.append(out)
                layer_caches.append(cache)
                h_n[k] = h_last
                if c_n is not None and c_last is not None:
                    c_n[k] = c_last
            x = outputs[0] if len(outputs) == 1 else np.concatenate(outputs, axis=2)
            mask = None
            if self.training and self.dropout > 0 and layer < self.num_layers - 1:
                mask = dropout_noise(x.shape, self.dropout, x.dtype, self.generator)
                x = x * mask
            caches.append((layer_caches, mask))
        return x, h_n, c_n, caches

    def _run_backward(
        self, grad_out: Array, grad_h_n: Array, grad_c_n: Array | None, caches: list[Any]
    ) -> tuple[Array, Array, Array | None]:
        grad_h0 = np.empty_like(grad_h_n)
        grad_c0 = None if grad_c_n is None else np.empty_like(grad_c_n)
        grad = grad_out
        for layer in range(self.num_layers - 1, -1, -1):
            layer_caches, mask = caches[layer]
            if mask is not None:
                grad = grad * mask
            width = grad.shape[2] // self._directions
            grad_x = None
            for d, suffix in enumerate(self._suffixes(layer)):
                k = layer * self._directions + d
                g_c = None if grad_c_n is None else grad_c_n[k]
                gx, gh, gc = self._direction_backward(
                    grad[:, :, d * width : (d + 1) * width],
                    grad_h_n[k],
                    g_c,
                    layer_caches[d],
                    suffix,
                )
                grad_h0[k] = gh
                if grad_c0 is not None and gc is not None:
                    grad_c0[k] = gc
                grad_x = gx if grad_x is None else grad_x + gx
            assert grad_x is not None
            grad = grad_x
        return grad, grad_h0, grad_c0

    def _direction_forward(
        self,
        x: Array,
        h0: Array,
        c0: Array | None,
        suffix: str,
        reverse: bool,
        batch_sizes: IntArray | None,
    ) -> tuple[Array, Array, Array | None, Any]:
        """One layer in one direction: ``(output, h_n, c_n or None, cache)``."""
        raise NotImplementedError

    def _direction_backward(
        self, grad_out: Array, grad_h_n: Array, grad_c_n: Array | None, cache: Any, suffix: str
    ) -> tuple[Array, Array, Array | None]:
        """BPTT of one layer and direction; adds the parameter gradients, returns
        ``(∂x, ∂h_0, ∂c_0 or None)``."""
        raise NotImplementedError

    def _add_layer_grads(self, suffix: str, grads: tuple[Array | None, ...]) -> None:
        names = ["weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"]
        for name, grad in zip(names, grads, strict=False):
            param = self._parameters.get(f"{name}{suffix}")
            if param is not None and grad is not None:
                param.grad += grad

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        defaults = {  # torch's order; torch leaves an RNN's nonlinearity out
            "proj_size": 0,
            "num_layers": 1,
            "bias": True,
            "batch_first": False,
            "dropout": 0.0,
            "bidirectional": False,
        }
        for name, default in defaults.items():
            value = getattr(self, name)
            if value != default:
                text += f", {name}={value}"
        return text


class _OneState(_RNNBase):
    """RNN and GRU: the state is one array, ``h``."""

    def forward(
        self, input: Array | PackedSequence, hx: Array | None = None
    ) -> tuple[Array | PackedSequence, Array]:
        x, where = self._layout(input)
        h0 = self._initial(hx, x.shape[1], self.hidden_size, where, "hx")
        out, h_n, _, caches = self._run(x, h0, None, where.batch_sizes)
        y, h = where.outside(out), where.state_outside(h_n)
        self._cache = (caches, where, hx is not None, _data_shape(y), h.shape)
        return y, h

    def backward(
        self, grad_output: Array | PackedSequence | None, grad_h_n: Array | None = None
    ) -> Array | PackedSequence | tuple[Array | PackedSequence, Array]:
        caches, where, hx_given, y_shape, h_shape = self._saved(self._cache)
        dtype = self._dtype
        g_out = where.inside(output_gradient(self, _data(grad_output), y_shape, dtype))
        g_h = where.state_inside(output_gradient(self, grad_h_n, h_shape, dtype, "grad_h_n"))
        grad, grad_h0, _ = self._run_backward(g_out, g_h, None, caches)
        grad_input = where.outside(grad)
        return (grad_input, where.state_outside(grad_h0)) if hx_given else grad_input


class RNN(_OneState):
    """A multi-layer Elman RNN (PyTorch: ``nn.RNN``): per layer and direction,

        h_t = act(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh),   act = tanh or ReLU.

    ``forward(input, hx=None)`` returns ``(output, h_n)``: input (L, N, I), (N, L, I) with
    ``batch_first``, or unbatched (L, I); ``hx`` and ``h_n`` (layers·D, N, H). Inside,
    the layer works time-major: the input projections of all steps are one product, the
    recurrence one small product per step (:func:`refnet.nn.functional.recurrent.rnn_forward`).

    ``backward(grad_output, grad_h_n=None)`` backpropagates through time, last step
    first: step t's state gradient is the loss's ``grad_output[t]`` plus what flows back
    from step t + 1 through W_hh. Returns ``grad_input``, or ``(grad_input, grad_hx)``
    when ``hx`` was passed. Dropout (``dropout > 0``) acts on each layer's output but the
    last, in training mode, with masks from ``generator``.

    Variable lengths: ``input`` may be a :class:`~refnet.nn.utils.rnn.PackedSequence`
    (from :func:`~refnet.nn.utils.rnn.pack_padded_sequence`); then ``output`` is one with
    the same ``batch_sizes``, ``h_n`` holds each sequence's state after its own last step
    (in the batch's original order), ``backward`` takes the output's gradient as a
    ``PackedSequence`` (or its ``data`` array) and returns ``grad_input`` as a
    ``PackedSequence``. LSTM and GRU take packed input the same way.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        dtype: npt.DTypeLike = np.float32,
        generator: Seed = None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: unknown nonlinearity {nonlinearity!r} ('tanh' or 'relu')")
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            0,
            dtype,
            generator,
        )
        self.nonlinearity = nonlinearity

    def _direction_forward(
        self,
        x: Array,
        h0: Array,
        c0: Array | None,
        suffix: str,
        reverse: bool,
        batch_sizes: IntArray | None,
    ) -> tuple[Array, Array, Array | None, Any]:
        out, h_n, cache = K.rnn_forward(
            x, h0, *self._weights(suffix), self.nonlinearity, reverse, batch_sizes
        )
        return out, h_n, None, cache

    def _direction_backward(
        self, grad_out: Array, grad_h_n: Array, grad_c_n: Array | None, cache: Any, suffix: str
    ) -> tuple[Array, Array, Array | None]:
        w_ih, w_hh, _, _ = self._weights(suffix)
        gx, gh, grads = K.rnn_backward(grad_out, grad_h_n, cache, w_ih, w_hh, self.bias)
        self._add_layer_grads(suffix, grads)
        return gx, gh, None


class LSTM(_RNNBase):
    """A multi-layer LSTM (PyTorch: ``nn.LSTM``), gates i, f, g, o as in :class:`LSTMCell`,
    with an optional projection ``h_t = W_hr (o_t ⊙ tanh c_t)`` (``proj_size > 0``).

    ``forward(input, hx=None)`` with ``hx = (h_0, c_0)`` returns
    ``(output, (h_n, c_n))``; ``h`` has ``proj_size`` (or ``hidden_size``) features, ``c``
    ``hidden_size``. ``backward(grad_output, grad_hx=None)`` with
    ``grad_hx = (grad_h_n, grad_c_n)`` (either may be ``None``) backpropagates through
    time and returns ``grad_input``, or ``(grad_input, (grad_h_0, grad_c_0))`` when ``hx``
    was passed. The cell state carries the gradient back additively (times f at each
    step), which is why an LSTM learns over long spans where an Elman RNN's gradient
    vanishes.
    """

    _gates = 4

    def forward(
        self, input: Array | PackedSequence, hx: tuple[Array, Array] | None = None
    ) -> tuple[Array | PackedSequence, tuple[Array, Array]]:
        x, where = self._layout(input)
        if hx is not None and (not isinstance(hx, tuple | list) or len(hx) != 2):
            raise TypeError(f"{self.describe()}: hx must be a pair (h_0, c_0) or None")
        h_0, c_0 = (None, None) if hx is None else hx
        out_size = self.proj_size or self.hidden_size
        h0 = self._initial(h_0, x.shape[1], out_size, where, "hx[0]")
        c0 = self._initial(c_0, x.shape[1], self.hidden_size, where, "hx[1]")
        out, h_n, c_n, caches = self._run(x, h0, c0, where.batch_sizes)
        assert c_n is not None
        y = where.outside(out)
        h, c = where.state_outside(h_n), where.state_outside(c_n)
        self._cache = (caches, where, hx is not None, _data_shape(y), h.shape, c.shape)
        return y, (h, c)

    def backward(
        self,
        grad_output: Array | PackedSequence | None,
        grad_hx: tuple[Array | None, Array | None] | None = None,
    ) -> Array | PackedSequence | tuple[Array | PackedSequence, tuple[Array, Array]]:
        caches, where, hx_given, y_shape, h_shape, c_shape = self._saved(self._cache)
        dtype = self._dtype
        grad_h_n, grad_c_n = gradient_pair(self, grad_hx, "grad_hx")
        g_out = where.inside(output_gradient(self, _data(grad_output), y_shape, dtype))
        g_h = where.state_inside(output_gradient(self, grad_h_n, h_shape, dtype, "grad_h_n"))
        g_c = where.state_inside(output_gradient(self, grad_c_n, c_shape, dtype, "grad_c_n"))
        grad, grad_h0, grad_c0 = self._run_backward(g_out, g_h, g_c, caches)
        assert grad_c0 is not None
        grad_input = where.outside(grad)
        if not hx_given:
            return grad_input
        return grad_input, (where.state_outside(grad_h0), where.state_outside(grad_c0))

    def _direction_forward(
        self,
        x: Array,
        h0: Array,
        c0: Array | None,
        suffix: str,
        reverse: bool,
        batch_sizes: IntArray | None,
    ) -> tuple[Array, Array, Array | None, Any]:
        assert c0 is not None
        return K.lstm_forward(
            x, h0, c0, *self._weights(suffix), self._projection(suffix), reverse, batch_sizes
        )

    def _direction_backward(
        self, grad_out: Array, grad_h_n: Array, grad_c_n: Array | None, cache: Any, suffix: str
    ) -> tuple[Array, Array, Array | None]:
        w_ih, w_hh, _, _ = self._weights(suffix)
        gx, gh, gc, grads, grad_w_hr = K.lstm_backward(
            grad_out, grad_h_n, grad_c_n, cache, w_ih, w_hh, self._projection(suffix), self.bias
        )
        self._add_layer_grads(suffix, (*grads, grad_w_hr))
        return gx, gh, gc


class GRU(_OneState):
    """A multi-layer GRU (PyTorch: ``nn.GRU``), gates r, z, n as in :class:`GRUCell`.

    ``forward(input, hx=None)`` returns ``(output, h_n)``; ``backward(grad_output,
    grad_h_n=None)`` returns ``grad_input``, or ``(grad_input, grad_hx)`` when ``hx``
    was passed. Shapes and options as :class:`RNN`'s.
    """

    _gates = 3

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        dtype: npt.DTypeLike = np.float32,
        generator: Seed = None,
    ) -> None:
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            0,
            dtype,
            generator,
        )

    def _direction_forward(
        self,
        x: Array,
        h0: Array,
        c0: Array | None,
        suffix: str,
        reverse: bool,
        batch_sizes: IntArray | None,
    ) -> tuple[Array, Array, Array | None, Any]:
        out, h_n, cache = K.gru_forward(x, h0, *self._weights(suffix), reverse, batch_sizes)
        return out, h_n, None, cache

    def _direction_backward(
        self, grad_out: Array, grad_h_n: Array, grad_c_n: Array | None, cache: Any, suffix: str
    ) -> tuple[Array, Array, Array | None]:
        w_ih, w_hh, _, _ = self._weights(suffix)
        gx, gh, grads = K.gru_backward(grad_out, grad_h_n, cache, w_ih, w_hh, self.bias)
        self._add_layer_grads(suffix, grads)
        return gx, gh, None


def _data_shape(output: Array | PackedSequence) -> tuple[int, ...]:
    return output.data.shape if isinstance(output, PackedSequence) else output.shape


def _data(value: object) -> object:
    """A ``PackedSequence``'s data (what its gradient is shaped like); anything else as is."""
    return value.data if isinstance(value, PackedSequence) else value


class _Layout(NamedTuple):
    """How one call's input maps to the kernels' time-major (L, N, ·) batch, and back:
    batched or not, ``batch_first`` or not, or packed (``packed`` holds the input)."""

    batched: bool
    batch_first: bool
    packed: PackedSequence | None

    @property
    def batch_sizes(self) -> IntArray | None:
        return None if self.packed is None else np.asarray(self.packed.batch_sizes)

    def inside(self, a: Array) -> Array:
        """An input (or an output's gradient) in the kernels' layout."""
        if self.packed is not None:
            return padded_data(a, self.packed.batch_sizes)
        if not self.batched:
            return a[:, None]
        return a.transpose(1, 0, 2) if self.batch_first else a

    def outside(self, a: Array) -> Array | PackedSequence:
        """An output (or the input's gradient) in the caller's layout."""
        if self.packed is not None:
            return self.packed._replace(data=packed_data(a, self.packed.batch_sizes))
        if not self.batched:
            return a[:, 0]
        return a.transpose(1, 0, 2) if self.batch_first else a

    def state_inside(self, state: Array) -> Array:
        """A state (layers·D, N, H) as the kernels see it: packed rows in length order."""
        if self.packed is not None and self.packed.sorted_indices is not None:
            return state[:, self.packed.sorted_indices]
        return state if self.batched else state[:, None]

    def state_outside(self, state: Array) -> Array:
        if self.packed is not None and self.packed.unsorted_indices is not None:
            return state[:, self.packed.unsorted_indices]
        return state if self.batched else state[:, 0]
