"""The contract for several inputs and outputs, and the gradient checker that proves it.

Small user-defined modules stand in for the recurrent and attention layers: two inputs,
two outputs, a pair-valued input like ``(h_0, c_0)``, integer and boolean inputs that get
no slot. The checker must pass correct backwards and catch the planted mistakes: a wrong
gradient for the second input, a missing contribution of the second output.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import refnet.nn as nn
from refnet._typing import Array
from refnet.gradcheck import GradcheckError, check_module
from refnet.nn._validation import gradient_pair, output_gradient
from refnet.testing import related_arrays


class Gate(nn.Module):
    """``out = tanh(x W) * y``: two inputs, one output, one parameter."""

    def __init__(self, n: int, wrong_second: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(np.random.default_rng(0).standard_normal((n, n)))
        self.wrong_second = wrong_second

    def forward(self, x: Array, y: Array) -> Array:
        self._cache = (x, y, np.tanh(x @ self.weight.data))
        return self._cache[2] * y

    def backward(self, grad: Array) -> tuple[Array, Array]:
        x, y, t = self._saved(self._cache)
        pre = grad * y * (1 - t**2)
        self.weight.grad += x.T @ pre
        grad_y = grad * t * (2.0 if self.wrong_second else 1.0)
        return pre @ self.weight.data.T, grad_y


class Split(nn.Module):
    """``(sin(x), x·s)``: one input, two outputs (the second through a parameter)."""

    def __init__(self, n: int, forget_second: bool = False) -> None:
        super().__init__()
        self.scale = nn.Parameter(np.linspace(0.5, 1.5, n))
        self.forget_second = forget_second

    def forward(self, x: Array) -> tuple[Array, Array]:
        self._x = x
        return np.sin(x), x * self.scale.data

    def backward(self, grad_sin: Array | None, grad_scaled: Array | None = None) -> Array:
        x = self._saved(self._x)
        g1 = output_gradient(self, grad_sin, x.shape, x.dtype, "grad_sin")
        g2 = output_gradient(self, grad_scaled, x.shape, x.dtype, "grad_scaled")
        self.scale.grad += (g2 * x).sum(axis=0)
        if self.forget_second:
            return g1 * np.cos(x)
        return g1 * np.cos(x) + g2 * self.scale.data


class Step(nn.Module):
    """An LSTM-shaped signature: ``step(x, (h, c)) -> (h', (h', c'))`` with a mask input."""

    def forward(
        self, x: Array, state: tuple[Array, Array], keep: Array
    ) -> tuple[Array, tuple[Array, Array]]:
        h, c = state
        c_new = c + np.tanh(x + h) * keep
        h_new = np.tanh(c_new)
        self._cache = (x, h, keep, c_new, h_new)
        return h_new, (h_new, c_new)

    def backward(
        self, grad_out: Array | None, grad_state: tuple[Array | None, Array | None] | None = None
    ) -> tuple[Array, tuple[Array, Array]]:
        x, h, keep, c_new, h_new = self._saved(self._cache)
        g_h, g_c = gradient_pair(self, grad_state, "grad_state")
        dh = output_gradient(self, grad_out, h_new.shape, h_new.dtype) + output_gradient(
            self, g_h, h_new.shape, h_new.dtype, "grad_h"
        )
        dc = output_gradient(self, g_c, c_new.shape, c_new.dtype, "grad_c")
        dc = dc + dh * (1 - h_new**2)
        da = dc * keep * (1 - np.tanh(x + h) ** 2)
        return da, (da, dc)


PAIRS = related_arrays("N D", "N D", sizes={"N": st.integers(1, 3)})


@given(pair=PAIRS)
def test_two_inputs_are_checked_each(pair: tuple[Array, Array]) -> None:
    x, y = pair
    report = check_module(Gate(x.shape[1]), (x, y))
    assert [t.name for t in report.tensors] == ["x", "y", "weight"]


def test_a_wrong_gradient_for_the_second_input_is_caught_and_named() -> None:
    x, y = np.random.default_rng(1).standard_normal((2, 3, 4))
    with pytest.raises(GradcheckError) as caught:
        check_module(Gate(4, wrong_second=True), (x, y))
    report = str(caught.value)
    assert "  y (3, 4): max abs error" in report and "mismatched" in report.split("  y ")[1]
    assert "  x (3, 4)" in report and report.split("  x ")[1].split("\n")[0].endswith("ok")


@given(pair=PAIRS)
def test_two_outputs_each_get_an_upstream_gradient(pair: tuple[Array, Array]) -> None:
    x, _ = pair
    report = check_module(Split(x.shape[1]), x)
    assert report.outputs == [
        f"output[0] {x.shape}: random upstream gradient",
        f"output[1] {x.shape}: random upstream gradient",
    ]


def test_a_missing_contribution_of_the_second_output_is_caught() -> None:
    x = np.random.default_rng(2).standard_normal((3, 4))
    with pytest.raises(GradcheckError, match="input"):
        check_module(Split(4, forget_second=True), x)
    # The same module passes when the loss does not use the second output.
    report = check_module(Split(4, forget_second=True), x, unused=[(1,)])
    assert report.outputs[1] == "output[1] (3, 4): unused (None)"


def test_nested_inputs_and_outputs_with_a_mask_that_has_no_slot() -> None:
    rng = np.random.default_rng(3)
    x, h, c = rng.standard_normal((3, 2, 5))
    keep = rng.random((2, 5)) > 0.3
    report = check_module(Step(), (x, (h, c), keep))
    assert [t.name for t in report.tensors] == ["x", "state[0]", "state[1]"]
    for unused in ([(0,)], [(1, 0)], [(1, 1)], [(0,), (1, 1)]):
        check_module(Step(), (x, (h, c), keep), unused=unused)


def test_integer_inputs_are_not_differentiated() -> None:
    emb = nn.Embedding(5, 3, generator=0).double()
    report = check_module(emb, np.array([[0, 4], [2, 2]]))
    assert [t.name for t in report.tensors] == ["weight"]


def test_backward_must_return_one_gradient_per_differentiable_input() -> None:
    class OneSlotShort(Gate):
        def backward(self, grad: Array) -> tuple[Array, Array]:
            return super().backward(grad)[0]  # type: ignore[return-value]

    x, y = np.random.default_rng(4).standard_normal((2, 3, 2))
    with pytest.raises(GradcheckError, match=r"1 gradient\(s\) for the 2 differentiable"):
        check_module(OneSlotShort(2), (x, y))


def test_self_attention_style_inputs_are_added_by_the_caller() -> None:
    """``gate(x, x)``: the module returns one gradient per slot; the chain rule adds them."""
    rng = np.random.default_rng(5)
    x, g = rng.standard_normal((2, 3, 4))
    gate = Gate(4)

    class SelfGate(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gate = gate

        def forward(self, x: Array) -> Array:
            return self.gate(x, x)

        def backward(self, grad: Array) -> Array:
            grad_first, grad_second = self.gate.backward(grad)
            return grad_first + grad_second

    check_module(SelfGate(), x)
    gate(x, x)
    first, second = gate.backward(g)
    assert not np.allclose(first, second)  # two different paths, both needed


def test_wrong_gradients_for_outputs_are_clear_errors() -> None:
    split = Split(3)
    x = np.zeros((2, 3))
    split(x)
    with pytest.raises(ValueError, match=r"grad_scaled of shape \(2, 3\).*got \(3,\)"):
        split.backward(np.zeros((2, 3)), np.zeros(3))
    with pytest.raises(TypeError, match="grad_sin to be a NumPy array or None, got list"):
        split.backward([0.0], None)
    with pytest.raises(TypeError, match="dtype float64"):
        split.backward(np.zeros((2, 3), dtype=np.float32), None)
    step = Step()
    step(x, (x, x), np.ones((2, 3), dtype=bool))
    with pytest.raises(TypeError, match="grad_state as a pair"):
        step.backward(None, (x,))
    with pytest.raises(TypeError, match="grad_state as a pair"):
        step.backward(None, x)
    # A wrong structure is named as such even when the dtype is wrong too: an array given
    # for a pair, or a tuple for an array, is not searched for dtypes element by element.
    with pytest.raises(TypeError, match="grad_state as a pair"):
        step.backward(None, x.astype(np.float32))
    with pytest.raises(TypeError, match="grad_output to be a NumPy array or None, got tuple"):
        step.backward((x.astype(np.float32),), None)
    # The failed calls consumed nothing: a correct backward still finds its forward.
    grad_x, (grad_h, grad_c) = step.backward(x, (None, x))
    assert grad_x.shape == grad_h.shape == grad_c.shape == x.shape
