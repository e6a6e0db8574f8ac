"""Cases for the recurrent cells: RNNCell (tanh and ReLU), LSTMCell, GRUCell.

Batched (N, I) or unbatched (I,) input, the initial state given (a second input, whose
gradient is checked too) or left out, bias or not; for LSTMCell the state is the pair
``(h, c)`` and either output may be left unused (its gradient ``None``).
"""

from __future__ import annotations

from hypothesis import strategies as st

import refnet.nn as nn
from refnet.testing import arrays, seeds
from tests.cases.registry import ModuleCase, module_case

Draw = st.DrawFn


def _sizes(draw: Draw) -> tuple[int, int, tuple[int, ...], bool, bool]:
    """``(input_size, hidden_size, batch shape, bias, hx given)``."""
    batch = draw(st.sampled_from([(), (1,), (2,), (4,)]))
    return (
        draw(st.integers(1, 4)),
        draw(st.integers(1, 4)),
        batch,
        draw(st.booleans()),
        draw(st.booleans()),
    )


def _one_state_cell(
    draw: Draw, module: nn.Module, n_in: int, n_hidden: int, batch: tuple[int, ...], given: bool
) -> ModuleCase:
    x = draw(arrays((*batch, n_in)))
    inputs = (x, draw(arrays((*batch, n_hidden)))) if given else x
    return ModuleCase(module.double(), inputs, torch_rtol64=1e-9)


@module_case(nn.RNNCell)
def rnn_cell_case(draw: Draw) -> ModuleCase:
    n_in, n_hidden, batch, bias, given = _sizes(draw)
    nonlinearity = draw(st.sampled_from(["tanh", "relu"]))
    module = nn.RNNCell(n_in, n_hidden, bias, nonlinearity, generator=draw(seeds()))
    return _one_state_cell(draw, module, n_in, n_hidden, batch, given)


@module_case(nn.GRUCell)
def gru_cell_case(draw: Draw) -> ModuleCase:
    n_in, n_hidden, batch, bias, given = _sizes(draw)
    module = nn.GRUCell(n_in, n_hidden, bias, generator=draw(seeds()))
    return _one_state_cell(draw, module, n_in, n_hidden, batch, given)


@module_case(nn.LSTMCell)
def lstm_cell_case(draw: Draw) -> ModuleCase:
    n_in, n_hidden, batch, bias, given = _sizes(draw)
    module = nn.LSTMCell(n_in, n_hidden, bias=bias, generator=draw(seeds())).double()
    x = draw(arrays((*batch, n_in)))
    state = (draw(arrays((*batch, n_hidden))), draw(arrays((*batch, n_hidden))))
    unused = draw(st.sampled_from([(), ((0,),), ((1,),)]))
    return ModuleCase(module, (x, state) if given else x, torch_rtol64=1e-9, unused=unused)


def _sequence_case(draw: Draw, cls: type[nn.Module]) -> ModuleCase:
    """A layer over a short sequence: every option, hx given or not, outputs unused."""
    n_in, n_hidden = draw(st.integers(1, 3)), draw(st.integers(2, 4))
    layers, bidirectional = draw(st.integers(1, 2)), draw(st.booleans())
    batch_first, bias = draw(st.booleans()), draw(st.booleans())
    options: dict[str, object] = {}
    if cls is nn.RNN:
        options["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))
    if cls is nn.LSTM:
        options["proj_size"] = draw(st.integers(0, n_hidden - 1))
    module = cls(
        n_in,
        n_hidden,
        num_layers=layers,
        bias=bias,
        batch_first=batch_first,
        bidirectional=bidirectional,
        generator=draw(seeds()),
        **options,
    ).double()
    length, batch = draw(st.integers(1, 4)), draw(st.sampled_from([(), (1,), (3,)]))
    if batch and batch_first:
        x = draw(arrays((*batch, length, n_in)))
    else:
        x = draw(arrays((length, *batch, n_in)))
    states = layers * (2 if bidirectional else 1)
    out_size = int(options.get("proj_size", 0)) or n_hidden  # type: ignore[call-overload]
    h0 = draw(arrays((states, *batch, out_size)))
    hx: object = h0
    if cls is nn.LSTM:
        hx = (h0, draw(arrays((states, *batch, n_hidden))))
    given = draw(st.booleans())
    unused_options: list[tuple[tuple[int, ...], ...]] = [(), ((0,),), ((1,),)]
    if cls is nn.LSTM:
        unused_options += [((1, 0),), ((1, 1),)]
    return ModuleCase(
        module,
        (x, hx) if given else x,
        torch_rtol64=1e-9,
        unused=draw(st.sampled_from(unused_options)),
    )


@module_case(nn.RNN)
def rnn_case(draw: Draw) -> ModuleCase:
    return _sequence_case(draw, nn.RNN)


@module_case(nn.LSTM)
def lstm_case(draw: Draw) -> ModuleCase:
    return _sequence_case(draw, nn.LSTM)


@module_case(nn.GRU)
def gru_case(draw: Draw) -> ModuleCase:
    return _sequence_case(draw, nn.GRU)
