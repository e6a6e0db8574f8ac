"""Recurrent cells beyond the generic cases: stepped in a loop against torch, errors, init.

The generic property tests (tests/cases/rnn.py) check one step; here an LSTM cell is
stepped over a sequence in a Python loop and backpropagated through time by hand, and
must give torch's outputs and gradients (each call's cache is kept until its backward).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import refnet.nn as nn
from refnet._typing import Array

T, N, D, H = 6, 3, 4, 5  # steps, batch, input size, hidden size


def _unroll(cell: nn.LSTMCell, x: Array) -> tuple[Array, tuple[Array, Array]]:
    h = c = np.zeros((x.shape[1], cell.hidden_size))
    outputs = []
    for t in range(x.shape[0]):
        h, c = cell(x[t], (h, c))
        outputs.append(h)
    return np.stack(outputs), (h, c)


def _bptt(cell: nn.LSTMCell, grad_out: Array) -> Array:
    """The loop's backward: the steps in reverse, each cell call's backward once."""
    grad_x = np.zeros((grad_out.shape[0], grad_out.shape[1], cell.input_size))
    grad_h = grad_c = np.zeros_like(grad_out[0])
    for t in reversed(range(grad_out.shape[0])):
        grad_x[t], (grad_h, grad_c) = cell.backward(grad_out[t] + grad_h, grad_c)
    return grad_x


def test_an_lstm_cell_stepped_in_a_loop_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    from refnet.interop.torch import to_torch

    rng = np.random.default_rng(0)
    x, g = rng.standard_normal((T, N, D)), rng.standard_normal((T, N, H))
    cell = nn.LSTMCell(D, H, generator=1).double()
    theirs = to_torch(cell)
    out, _ = _unroll(cell, x)
    grad_x = _bptt(cell, g)

    tx = torch.from_numpy(x).requires_grad_(True)
    h = c = torch.zeros(N, H, dtype=torch.float64)
    steps = []
    for t in range(T):
        h, c = theirs(tx[t], (h, c))
        steps.append(h)
    torch.stack(steps).backward(torch.from_numpy(g))

    np.testing.assert_allclose(out, torch.stack(steps).detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(grad_x, tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    for name, param in cell.named_parameters():
        expected = theirs.get_parameter(name).grad.numpy()
        np.testing.assert_allclose(param.grad, expected, rtol=1e-9, atol=1e-12, err_msg=name)


def test_long_sequences_stay_finite() -> None:
    cell = nn.LSTMCell(D, H, generator=2).double()
    x = 3 * np.random.default_rng(3).standard_normal((1000, N, D))
    out, (_, c) = _unroll(cell, x)
    grad_x = _bptt(cell, np.ones_like(out))
    assert np.isfinite(out).all() and np.isfinite(c).all() and np.isfinite(grad_x).all()


@pytest.mark.parametrize("cls", [nn.RNNCell, nn.LSTMCell, nn.GRUCell])
def test_initialisation_fills_the_torch_range(cls: type[nn.Module]) -> None:
    cell = cls(30, 40, generator=4)
    bound = 1 / math.sqrt(40)
    for name, param in cell.named_parameters():
        assert np.abs(param.data).max() <= bound, name
        near = 0.99 if param.data.size > 1000 else 0.8  # both ends of the range are reached
        assert param.data.max() > near * bound and param.data.min() < -near * bound, name
        spread = bound / math.sqrt(3)  # the standard deviation of U(-bound, bound)
        assert abs(float(param.data.mean())) < 4 * spread / math.sqrt(param.data.size), name
        assert abs(float(param.data.std()) / spread - 1) < 0.2, name
    assert [n for n, _ in cell.named_parameters()] == [
        "weight_ih",
        "weight_hh",
        "bias_ih",
        "bias_hh",
    ]


def test_same_seed_same_weights_and_no_bias() -> None:
    a, b = nn.GRUCell(3, 2, generator=7), nn.GRUCell(3, 2, generator=7)
    np.testing.assert_array_equal(a.weight_hh.data, b.weight_hh.data)
    assert list(nn.GRUCell(3, 2, bias=False).state_dict()) == ["weight_ih", "weight_hh"]


def test_unbatched_input_gives_unbatched_state() -> None:
    cell = nn.LSTMCell(D, H).double()
    h, c = cell(np.ones(D), (np.zeros(H), np.zeros(H)))
    assert h.shape == c.shape == (H,)
    grad_x, (grad_h, grad_c) = cell.backward(np.ones(H), None)
    assert grad_x.shape == (D,) and grad_h.shape == grad_c.shape == (H,)


def test_bad_inputs_are_clear_errors() -> None:
    cell = nn.LSTMCell(D, H).double()
    with pytest.raises(
        ValueError, match=r"expected input of shape \(N, 4\) or \(4,\), got \(3, 5\)"
    ):
        cell(np.ones((3, 5)))
    with pytest.raises(ValueError, match=r"expected hx\[1\] of shape \(3, 5\)"):
        cell(np.ones((3, D)), (np.ones((3, H)), np.ones((2, H))))
    with pytest.raises(TypeError, match="hx must be a pair"):
        cell(np.ones((3, D)), np.ones((3, H)))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"hx of shape \(5,\) for an input of shape \(4,\)"):
        nn.GRUCell(D, H).double()(np.ones(D), np.ones(H + 1))  # unbatched: both shapes without N
    with pytest.raises(TypeError, match="hx must be a pair"):  # a tuple, of the wrong length
        cell(np.ones((3, D)), (np.ones((3, H)),) * 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="dtype float32 but the parameters are float64"):
        cell(np.ones((3, D), dtype=np.float32))
    rnn = nn.RNNCell(D, H).double()
    rnn(np.ones((3, D)))
    with pytest.raises(ValueError, match=r"grad_h of shape \(3, 5\)"):
        rnn.backward(np.ones((3, 4)))
    with pytest.raises(ValueError, match="unknown nonlinearity"):
        nn.RNNCell(D, H, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="must be positive"):
        nn.GRUCell(0, H)


def test_the_returned_slots_follow_whether_hx_was_given() -> None:
    cell = nn.GRUCell(D, H).double()
    x, h = np.ones((2, D)), np.zeros((2, H))
    cell(x, h)
    cell(x)
    grad_x = cell.backward(np.ones((2, H)))  # the second call: no hx, no slot
    grad_x_first, grad_h = cell.backward(np.ones((2, H)))
    assert grad_x.shape == grad_x_first.shape == (2, D) and grad_h.shape == (2, H)
