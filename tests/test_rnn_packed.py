"""Variable-length batches: padding, packing, and RNN/LSTM/GRU on a PackedSequence.

What must hold: packing and padding give torch's arrays (data, batch_sizes, the sort
order); their backward functions are the adjoints of the forward moves (<P x, g> =
<x, Pᵀ g>); a layer on a PackedSequence gives torch's packed output and final states and
torch's gradients for the data, the initial states and every parameter; a model
``pad -> pack -> lstm -> unpack`` passes a numerical gradient check, with zero gradient at
the padded positions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import refnet.nn as nn
from refnet._typing import Array, IntArray
from refnet.gradcheck import check_module
from refnet.nn.utils.rnn import (
    PackedSequence,
    pack_padded_sequence,
    pack_padded_sequence_backward,
    packed_data,
    pad_packed_sequence,
    pad_packed_sequence_backward,
    pad_sequence,
    padded_data,
)

D, H = 3, 4  # input size, hidden size


@st.composite
def batches(draw: st.DrawFn) -> tuple[Array, IntArray, bool]:
    """A padded (T, N, D) float64 batch, its lengths (longest = T) and whether they are sorted."""
    n = draw(st.integers(1, 4))
    lengths = draw(st.lists(st.integers(1, 5), min_size=n, max_size=n))
    sort = draw(st.booleans())
    values = np.array(sorted(lengths, reverse=True) if sort else lengths)
    seed = draw(st.integers(0, 2**16))
    x = np.random.default_rng(seed).standard_normal((int(values.max()), n, D))
    return x, values, sort


def _torch() -> Any:
    return pytest.importorskip("torch")


@given(batches(), st.booleans())
def test_packing_and_unpacking_match_torch(
    batch: tuple[Array, IntArray, bool], first: bool
) -> None:
    torch = _torch()
    rnn_utils = torch.nn.utils.rnn
    x, lengths, _ = batch
    x = x.swapaxes(0, 1).copy() if first else x
    ours = pack_padded_sequence(x, lengths, batch_first=first, enforce_sorted=False)
    theirs = rnn_utils.pack_padded_sequence(
        torch.from_numpy(x), torch.from_numpy(lengths), batch_first=first, enforce_sorted=False
    )
    np.testing.assert_array_equal(ours.data, theirs.data.numpy())
    np.testing.assert_array_equal(ours.batch_sizes, theirs.batch_sizes.numpy())
    np.testing.assert_array_equal(ours.sorted_indices, theirs.sorted_indices.numpy())
    np.testing.assert_array_equal(ours.unsorted_indices, theirs.unsorted_indices.numpy())
    total = x.shape[1 if first else 0] + 2
    padded, out_lengths = pad_packed_sequence(ours, first, padding_value=-1.0, total_length=total)
    t_padded, t_lengths = rnn_utils.pad_packed_sequence(
        theirs, first, padding_value=-1.0, total_length=total
    )
    np.testing.assert_array_equal(padded, t_padded.numpy())
    np.testing.assert_array_equal(out_lengths, t_lengths.numpy())


@given(
    st.lists(st.integers(1, 5), min_size=1, max_size=4),
    st.booleans(),
    st.sampled_from(["left", "right"]),
)
def test_pad_sequence_matches_torch(lengths: list[int], first: bool, side: str) -> None:
    torch = _torch()
    rng = np.random.default_rng(len(lengths))
    sequences = [rng.standard_normal((n, 2)) for n in lengths]
    ours = pad_sequence(sequences, batch_first=first, padding_value=7.0, padding_side=side)
    theirs = torch.nn.utils.rnn.pad_sequence(
        [torch.from_numpy(s) for s in sequences],
        batch_first=first,
        padding_value=7.0,
        padding_side=side,
    )
    np.testing.assert_array_equal(ours, theirs.numpy())


@given(batches(), st.booleans())
def test_the_backward_functions_are_the_adjoints_of_packing(
    batch: tuple[Array, IntArray, bool], first: bool
) -> None:
    x, lengths, sort = batch
    x = x.swapaxes(0, 1).copy() if first else x
    packed = pack_padded_sequence(x, lengths, batch_first=first, enforce_sorted=sort)
    rng = np.random.default_rng(0)
    g_data = rng.standard_normal(packed.data.shape)
    grad_x = pack_padded_sequence_backward(g_data, packed, batch_first=first)
    assert grad_x.shape == x.shape
    np.testing.assert_allclose(np.sum(packed.data * g_data), np.sum(x * grad_x), rtol=1e-12)
    padded, _ = pad_packed_sequence(packed, first)
    g_padded = rng.standard_normal(padded.shape)
    grad_packed = pad_packed_sequence_backward(g_padded, packed, batch_first=first)
    assert isinstance(grad_packed, PackedSequence)
    np.testing.assert_allclose(
        np.sum(padded * g_padded), np.sum(packed.data * grad_packed.data), rtol=1e-12
    )


def test_packing_errors_are_clear() -> None:
    x = np.zeros((4, 3, D))
    with pytest.raises(ValueError, match=r"not in decreasing order.*enforce_sorted=False"):
        pack_padded_sequence(x, [2, 4, 1])
    with pytest.raises(ValueError, match=r"lengths must be in \[1, 4\]"):
        pack_padded_sequence(x, [5, 2, 1])
    with pytest.raises(ValueError, match=r"lengths must be in \[1, 4\]"):
        pack_padded_sequence(x, [3, 2, 0])
    with pytest.raises(ValueError, match="expected 3 integer lengths"):
        pack_padded_sequence(x, [3, 2])
    packed = pack_padded_sequence(x, [4, 2, 1])
    with pytest.raises(ValueError, match="total_length 3 is shorter"):
        pad_packed_sequence(packed, total_length=3)
    lstm = nn.LSTM(D, H).double()
    with pytest.raises(ValueError, match="non-increasing"):
        lstm(PackedSequence(packed.data, np.array([1, 2, 2, 2])))
    with pytest.raises(ValueError, match="sum to 6 but data has 7 rows"):
        lstm(PackedSequence(packed.data, np.array([3, 2, 1])))
    with pytest.raises(ValueError, match=r"data must be \(Σ lengths, 3\)"):
        lstm(PackedSequence(packed.data[:, :2], packed.batch_sizes))


def test_the_default_arguments_match_torch() -> None:
    torch = _torch()
    rnn_utils = torch.nn.utils.rnn
    rng = np.random.default_rng(5)
    sequences = [rng.standard_normal((n, D)) for n in (4, 2, 1)]
    padded = pad_sequence(sequences)
    t_padded = rnn_utils.pad_sequence([torch.from_numpy(s) for s in sequences])
    np.testing.assert_array_equal(padded, t_padded.numpy())
    lengths = np.array([4, 2, 1])
    packed = pack_padded_sequence(padded, lengths)
    t_packed = rnn_utils.pack_padded_sequence(t_padded, torch.from_numpy(lengths))
    np.testing.assert_array_equal(packed.data, t_packed.data.numpy())
    np.testing.assert_array_equal(packed.batch_sizes, t_packed.batch_sizes.numpy())
    assert packed.sorted_indices is None and t_packed.sorted_indices is None
    unpacked, out_lengths = pad_packed_sequence(packed)
    t_unpacked, t_lengths = rnn_utils.pad_packed_sequence(t_packed)
    np.testing.assert_array_equal(unpacked, t_unpacked.numpy())
    np.testing.assert_array_equal(out_lengths, t_lengths.numpy())


@pytest.mark.parametrize("padding_value", [0.0, 1.0, -1.0, 2.5])
def test_pad_packed_sequence_pads_with_padding_value_as_torch(padding_value: float) -> None:
    torch = _torch()
    rnn_utils = torch.nn.utils.rnn
    x = np.random.default_rng(6).standard_normal((4, 3, D))
    lengths = np.array([2, 4, 1])
    packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
    t_packed = rnn_utils.pack_padded_sequence(
        torch.from_numpy(x), torch.from_numpy(lengths), enforce_sorted=False
    )
    padded, _ = pad_packed_sequence(packed, padding_value=padding_value, total_length=5)
    t_padded, _ = rnn_utils.pad_packed_sequence(
        t_packed, padding_value=padding_value, total_length=5
    )
    np.testing.assert_array_equal(padded, t_padded.numpy())


@pytest.mark.parametrize(("lengths", "accepted"), [([3, 4], False), ([4, 3], True), ([3, 3], True)])
def test_enforce_sorted_refuses_a_length_one_longer_than_the_one_before(
    lengths: list[int], accepted: bool
) -> None:
    torch = _torch()
    x = np.zeros((4, 2, D))
    if accepted:
        packed = pack_padded_sequence(x, lengths)
        t_packed = torch.nn.utils.rnn.pack_padded_sequence(
            torch.from_numpy(x), torch.tensor(lengths)
        )
        np.testing.assert_array_equal(packed.batch_sizes, t_packed.batch_sizes.numpy())
        return
    with pytest.raises(ValueError, match="not in decreasing order"):
        pack_padded_sequence(x, lengths)
    with pytest.raises(RuntimeError, match="sorted in decreasing order"):
        torch.nn.utils.rnn.pack_padded_sequence(torch.from_numpy(x), torch.tensor(lengths))


def test_a_wrong_number_of_lengths_is_named_in_the_error() -> None:
    x = np.zeros((4, 3, D))
    with pytest.raises(ValueError, match=r"expected 3 integer lengths .*got \[4, 2\]$"):
        pack_padded_sequence(x, [4, 2])
    with pytest.raises(ValueError, match=r"expected 3 integer lengths .*got \(3, 1\)$"):
        pack_padded_sequence(x, np.array([[4], [2], [1]]))


@pytest.mark.parametrize("shape", [(3, 0, D), (3, 2, 0), (0, 2, D)])
def test_packing_an_empty_batch_is_refused_as_by_torch(shape: tuple[int, int, int]) -> None:
    torch = _torch()
    lengths = np.full(shape[1], shape[0])
    with pytest.raises(ValueError, match="cannot pack an empty batch"):
        pack_padded_sequence(np.zeros(shape), lengths)
    with pytest.raises(RuntimeError, match="Cannot pack empty tensors"):
        torch.nn.utils.rnn.pack_padded_sequence(torch.zeros(shape), torch.from_numpy(lengths))


def test_unpacking_empty_batch_sizes_is_refused_as_by_torch() -> None:
    torch = _torch()
    empty = PackedSequence(np.zeros((0, D)), np.zeros(0, dtype=np.int64))
    with pytest.raises(ValueError, match="batch_sizes can not be empty"):
        pad_packed_sequence(empty)
    t_empty = torch.nn.utils.rnn.PackedSequence(torch.zeros(0, D), torch.zeros(0, dtype=torch.long))
    with pytest.raises(RuntimeError, match="batch_sizes can not be empty"):
        torch.nn.utils.rnn.pad_packed_sequence(t_empty)


@pytest.mark.parametrize("lengths", [[], [1], [3, 3, 1]])
def test_padded_data_has_one_column_per_length_even_for_an_empty_packing(
    lengths: list[int],
) -> None:
    # An empty packing can only be built by hand; it holds no steps and no sequences.
    steps = max(lengths, default=0)
    batch_sizes = np.array([sum(n > t for n in lengths) for t in range(steps)], dtype=np.int64)
    data = np.random.default_rng(7).standard_normal((sum(lengths), D))
    packed = PackedSequence(data, batch_sizes)
    np.testing.assert_array_equal(packed.lengths(), lengths)
    padded = padded_data(data, batch_sizes)
    assert padded.shape == (steps, len(packed.lengths()), D)
    np.testing.assert_array_equal(packed_data(padded, batch_sizes), data)


@pytest.mark.parametrize(
    ("batch_sizes", "problem"),
    [
        (np.array([2.0, 1.0]), "a non-empty 1-D integer"),
        (np.zeros(0, dtype=np.int64), "a non-empty 1-D integer"),
        (np.array([[2, 1]]), "a non-empty 1-D integer"),
        (np.array([2, 1, 0]), "positive and non-increasing"),
    ],
)
def test_a_layer_refuses_batch_sizes_packing_could_not_make(
    batch_sizes: IntArray, problem: str
) -> None:
    lstm = nn.LSTM(D, H).double()
    data = np.zeros((int(batch_sizes.sum()), D))
    with pytest.raises(
        ValueError, match=f"not a valid PackedSequence: batch_sizes must be {problem}"
    ):
        lstm(PackedSequence(data, batch_sizes))


@pytest.mark.parametrize("shape", [(2, 2, H), (3, 3, H), (3, 1, H)])
def test_pad_packed_sequence_backward_refuses_a_gradient_of_the_wrong_shape(
    shape: tuple[int, int, int],
) -> None:
    packed = pack_padded_sequence(np.zeros((3, 2, H)), [3, 2])
    with pytest.raises(ValueError, match="does not match 2 sequences of up to 3 steps"):
        pad_packed_sequence_backward(np.zeros(shape), packed)


# ---------------------------------------------------------------------- layers

LAYERS: dict[str, tuple[type[nn.RNN] | type[nn.LSTM] | type[nn.GRU], dict[str, Any]]] = {
    "rnn": (nn.RNN, {"nonlinearity": "relu"}),
    "lstm": (nn.LSTM, {}),
    "lstm-proj": (nn.LSTM, {"proj_size": 2}),
    "gru": (nn.GRU, {}),
}


def _torch_twin(torch: Any, ours: nn.Module, name: str, options: dict[str, Any]) -> Any:
    cls = getattr(torch.nn, type(ours).__name__)
    theirs = cls(D, H, **options).double()
    theirs.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in ours.state_dict().items()})
    return theirs


def _states(hx: Any) -> list[Any]:
    """The state arrays (ours) or tensors (torch's) of ``h`` or ``(h, c)``, as a list."""
    return list(hx) if isinstance(hx, tuple) else [hx]


@pytest.mark.parametrize("name", sorted(LAYERS))
@given(
    batch=batches(),
    layers=st.integers(1, 2),
    bidirectional=st.booleans(),
    with_hx=st.booleans(),
)
def test_a_packed_batch_gives_torch_outputs_and_gradients(
    name: str, batch: tuple[Array, IntArray, bool], layers: int, bidirectional: bool, with_hx: bool
) -> None:
    torch = _torch()
    x, lengths, sort = batch
    cls, extra = LAYERS[name]
    options = {"num_layers": layers, "bidirectional": bidirectional, **extra}
    ours: Any = cls(D, H, generator=1, **options).double()  # RNN, LSTM or GRU
    theirs = _torch_twin(torch, ours, name, options)
    packed = pack_padded_sequence(x, lengths, enforce_sorted=sort)
    rng = np.random.default_rng(2)
    n, k = len(lengths), layers * (2 if bidirectional else 1)
    out_h = extra.get("proj_size", H)
    hx: Any = None
    if with_hx:
        h0 = rng.standard_normal((k, n, out_h))
        hx = (h0, rng.standard_normal((k, n, H))) if cls is nn.LSTM else h0
    out, h_n = ours(packed, hx)
    assert isinstance(out, PackedSequence)
    np.testing.assert_array_equal(out.batch_sizes, packed.batch_sizes)

    t_x = torch.from_numpy(x).requires_grad_()
    t_packed = torch.nn.utils.rnn.pack_padded_sequence(
        t_x, torch.from_numpy(lengths), enforce_sorted=sort
    )
    t_hx = None
    if with_hx:
        t_hx = tuple(torch.from_numpy(s).requires_grad_() for s in _states(hx))
        t_hx = t_hx if cls is nn.LSTM else t_hx[0]
    t_out, t_h_n = theirs(t_packed, t_hx)
    np.testing.assert_allclose(out.data, t_out.data.detach().numpy(), rtol=1e-9, atol=1e-12)
    for mine, their in zip(_states(h_n), _states(t_h_n), strict=True):
        np.testing.assert_allclose(mine, their.detach().numpy(), rtol=1e-9, atol=1e-12)

    g_out = rng.standard_normal(out.data.shape)
    g_states = [rng.standard_normal(s.shape) for s in _states(h_n)]
    loss = (t_out.data * torch.from_numpy(g_out)).sum()
    for their, g in zip(_states(t_h_n), g_states, strict=True):
        loss = loss + (their * torch.from_numpy(g)).sum()
    loss.backward()
    ours.zero_grad()
    grad_hx = tuple(g_states) if cls is nn.LSTM else g_states[0]
    grads = ours.backward(out._replace(data=g_out), grad_hx)
    grad_packed, grad_h0 = grads if with_hx else (grads, None)
    grad_x = pack_padded_sequence_backward(grad_packed, packed)
    np.testing.assert_allclose(grad_x, t_x.grad.numpy(), rtol=1e-9, atol=1e-12)
    if with_hx:
        for mine, their in zip(_states(grad_h0), _states(t_hx), strict=True):
            np.testing.assert_allclose(mine, their.grad.numpy(), rtol=1e-9, atol=1e-12)
    for key, param in ours.named_parameters():
        expected = dict(theirs.named_parameters())[key].grad.numpy()
        np.testing.assert_allclose(param.grad, expected, rtol=1e-9, atol=1e-12, err_msg=key)


class PackedLSTM(nn.Module):
    """A user's model on padded batches: pack, run an LSTM, unpack; backward in reverse."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(D, H, num_layers=2, bidirectional=True, generator=3)

    def forward(self, x: Array, lengths: IntArray) -> Array:
        self.packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
        out, _ = self.lstm(self.packed)
        self.packed_out = out
        padded, _ = pad_packed_sequence(out, total_length=x.shape[0])
        return padded

    def backward(self, grad: Array) -> Array:
        grad_out = pad_packed_sequence_backward(grad, self.packed_out)
        grad_packed = self.lstm.backward(grad_out)
        assert isinstance(grad_packed, PackedSequence)  # no initial state, so no tuple
        return pack_padded_sequence_backward(grad_packed, self.packed, total_length=grad.shape[0])


def test_pad_pack_lstm_unpack_passes_the_gradient_check() -> None:
    model = PackedLSTM().double()
    lengths = np.array([2, 5, 3])
    x = np.random.default_rng(4).standard_normal((5, 3, D))
    report = check_module(model, x, forward_kwargs={"lengths": lengths})
    assert report.passed and len(report.tensors) == 1 + len(list(model.parameters()))
    model(x, lengths)
    grad = model.backward(np.ones((5, 3, 2 * H)))
    padding = np.arange(5)[:, None] >= lengths[None, :]
    assert np.all(grad[padding] == 0) and np.all(grad[~padding] != 0)
