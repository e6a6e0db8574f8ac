"""RNN, LSTM, GRU beyond the generic cases: dropout, torch's weights, long sequences, errors.

The registered cases (tests/cases/rnn.py) gradient-check every option and compare with
torch; here: dropout between layers (training mode only, seeded), loading a torch
module's state dict, 1,000-step sequences, and the errors a user meets.
"""

from __future__ import annotations

import numpy as np
import pytest

import refnet.nn as nn
from refnet.gradcheck import check_module

L, N, D, H = 5, 3, 4, 6  # length, batch, input size, hidden size


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU])
def test_dropout_acts_between_layers_in_training_only(cls: type[nn.Module]) -> None:
    x = np.random.default_rng(0).standard_normal((L, N, D))
    a = cls(D, H, num_layers=2, dropout=0.5, generator=1).double()
    b = cls(D, H, num_layers=2, dropout=0.5, generator=1).double()
    plain = cls(D, H, num_layers=2, generator=1).double()
    np.testing.assert_array_equal(a(x)[0], b(x)[0])  # same seed, same masks
    assert not np.allclose(a(x)[0], plain(x)[0])
    a.eval(), plain.eval()
    np.testing.assert_array_equal(a(x)[0], plain(x)[0])
    single = cls(D, H, num_layers=1, dropout=0.5, generator=1).double()  # no layer between
    np.testing.assert_array_equal(single(x)[0], cls(D, H, generator=1).double()(x)[0])


def test_the_dropout_mask_is_part_of_the_gradient() -> None:
    lstm = nn.LSTM(D, H, num_layers=2, dropout=0.3, generator=2).double()
    state = lstm.generator.bit_generator.state

    def same_masks() -> None:
        lstm.generator.bit_generator.state = state

    check_module(lstm, np.random.default_rng(3).standard_normal((L, N, D)), reset=same_masks)


def test_torch_weights_load_and_give_torch_results() -> None:
    torch = pytest.importorskip("torch")
    theirs = torch.nn.LSTM(D, H, num_layers=2, bidirectional=True, proj_size=2).double()
    ours = nn.LSTM(D, H, num_layers=2, bidirectional=True, proj_size=2).double()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(4).standard_normal((L, N, D))
    out, (h, c) = ours(x)
    t_out, (t_h, t_c) = theirs(torch.from_numpy(x))
    np.testing.assert_allclose(out, t_out.detach().numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(h, t_h.detach().numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(c, t_c.detach().numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU])
def test_long_sequences_stay_finite(cls: type[nn.Module]) -> None:
    layer = cls(D, H, generator=5)
    x = 3 * np.random.default_rng(6).standard_normal((1000, 2, D)).astype(np.float32)
    out, _ = layer(x)
    grad = layer.backward(np.ones_like(out))
    assert np.isfinite(out).all() and np.isfinite(grad).all()
    assert all(np.isfinite(p.grad).all() for p in layer.parameters())


def test_parameter_names_follow_torch() -> None:
    torch = pytest.importorskip("torch")
    ours = nn.GRU(D, H, num_layers=2, bidirectional=True, bias=False)
    theirs = torch.nn.GRU(D, H, num_layers=2, bidirectional=True, bias=False)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for key, value in theirs.state_dict().items():
        assert ours.state_dict()[key].shape == tuple(value.shape), key
    assert repr(ours) == repr(theirs)


def test_bad_inputs_are_clear_errors() -> None:
    lstm = nn.LSTM(D, H, num_layers=2).double()
    with pytest.raises(ValueError, match=r"expected input of shape \(L, N, 4\) or \(L, 4\)"):
        lstm(np.ones((L, N, D + 1)))
    with pytest.raises(ValueError, match=r"expected hx\[0\] of shape \(2, 3, 6\), got \(1, 3, 6\)"):
        lstm(np.ones((L, N, D)), (np.ones((1, N, H)), np.ones((2, N, H))))
    with pytest.raises(TypeError, match="hx must be a pair"):
        lstm(np.ones((L, N, D)), np.ones((2, N, H)))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="hx must be a pair"):  # a tuple, of the wrong length
        lstm(np.ones((L, N, D)), (np.ones((2, N, H)),) * 3)  # type: ignore[arg-type]
    lstm(np.ones((L, N, D)))
    with pytest.raises(TypeError, match="grad_hx as a pair"):
        lstm.backward(np.ones((L, N, H)), np.ones((2, N, H)))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"grad_c_n of shape \(2, 3, 6\)"):
        lstm.backward(None, (None, np.ones((2, N, 5))))
    with pytest.raises(ValueError, match="proj_size"):
        nn.LSTM(D, H, proj_size=H)
    with pytest.raises(ValueError, match="dropout"):
        nn.GRU(D, H, dropout=1.5)
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(D, H, nonlinearity="gelu")


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_a_batch_of_none_runs_and_an_empty_sequence_is_refused(kind: str) -> None:
    """As torch: N = 0 gives empty outputs and gradients; L = 0 is an error."""
    layer = getattr(nn, kind)(3, 4, num_layers=2, bidirectional=True, generator=0)
    out, _ = layer(np.zeros((5, 0, 3), np.float32))
    assert out.shape == (5, 0, 8)
    assert layer.backward(np.ones_like(out)).shape == (5, 0, 3)
    with pytest.raises(ValueError, match=f"{kind}.*the input sequence is empty"):
        layer(np.zeros((0, 2, 3), np.float32))


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("sizes", [(0, H, 1), (D, 0, 1), (D, H, 0), (-1, H, 1)])
def test_non_positive_sizes_are_refused_as_torch(kind: str, sizes: tuple[int, int, int]) -> None:
    """Each size on its own (the mutation run: the check's ``or`` as ``and`` survived)."""
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError):
        getattr(torch.nn, kind)(*sizes)
    with pytest.raises(ValueError, match="must be positive"):
        getattr(nn, kind)(*sizes)


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("sizes", [(0, H), (D, 0)])
def test_a_cell_refuses_a_zero_size(kind: str, sizes: tuple[int, int]) -> None:
    """Stricter than torch's cells, which build an empty cell."""
    with pytest.raises(ValueError, match="must be positive"):
        getattr(nn, kind)(*sizes)


REPRS = [
    ("RNNCell", (D, H), {}),
    ("RNNCell", (D, H), {"nonlinearity": "relu", "bias": False}),
    ("LSTMCell", (D, H), {}),
    ("GRUCell", (D, H), {"bias": False}),
    ("RNN", (D, H), {"nonlinearity": "relu"}),
    ("LSTM", (D, H), {"num_layers": 2, "batch_first": True, "dropout": 0.5}),
    ("LSTM", (D, H), {"bidirectional": True, "proj_size": 3, "bias": False}),
    ("GRU", (D, H), {}),
]


@pytest.mark.parametrize(("kind", "args", "kwargs"), REPRS)
def test_repr_is_torchs(kind: str, args: tuple[int, int], kwargs: dict[str, object]) -> None:
    """(the mutation run: RNNCell's ``nonlinearity == 'tanh'`` as ``!=`` survived; torch
    writes relu unquoted, leaves an RNN's out and puts proj_size first.)"""
    torch = pytest.importorskip("torch")
    assert repr(getattr(nn, kind)(*args, **kwargs)) == repr(
        getattr(torch.nn, kind)(*args, **kwargs)
    )


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"])
def test_the_smallest_sizes_are_taken(kind: str) -> None:
    """Size 1 everywhere (the mutation run: the size check's ``<= 0`` as ``<= 1`` survived)."""
    layer = getattr(nn, kind)(1, 1).double()
    out = layer(np.ones((2, 1)))
    first = out[0] if isinstance(out, tuple) else out
    assert np.shape(first) == (2, 1)


def test_no_dropout_draws_nothing_from_a_shared_generator() -> None:
    """``dropout=0`` in training mode leaves the caller's generator where it was (the
    mutation run: ``dropout > 0`` as ``>= 0`` survived: an all-ones mask, drawn)."""
    generator = np.random.default_rng(0)
    layer = nn.GRU(D, H, num_layers=2, generator=generator).double()
    before = generator.bit_generator.state
    layer.train()
    layer(np.ones((L, N, D)))
    assert generator.bit_generator.state == before
