"""Testing the tester: the gradient check passes correct backwards and catches wrong ones."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import refnet.nn as nn
from refnet.gradcheck import GradcheckError, check_loss, check_module, numerical_gradient
from refnet.testing import arrays, shapes


class WrongInputGradient(nn.Tanh):
    """Tanh whose backward forgets the square: 1 - y instead of 1 - y²."""

    def _backward(self, grad_output: np.ndarray, y: np.ndarray) -> np.ndarray:
        return grad_output * (1 - y)


class WrongWeightGradient(nn.Linear):
    """Linear whose weight gradient is twice what it should be."""

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        grad_input = super().backward(grad_output)
        self.weight.grad *= 2
        return grad_input


class OffsetBiasGradient(nn.Linear):
    """Linear whose bias gradient is off by a constant (a stale term added each backward)."""

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        grad_input = super().backward(grad_output)
        assert self.bias is not None
        self.bias.grad += 0.01
        return grad_input


class MutatesGradOutput(nn.Tanh):
    def _backward(self, grad_output: np.ndarray, y: np.ndarray) -> np.ndarray:
        grad_output *= 1 - y * y
        return grad_output


def test_numerical_gradient_of_a_known_function() -> None:
    x = np.array([0.5, -1.0, 2.0])
    grad = numerical_gradient(lambda: float(np.sum(x**3)), x)
    np.testing.assert_allclose(grad, 3 * x**2, rtol=1e-9)
    np.testing.assert_array_equal(x, [0.5, -1.0, 2.0])  # restored


def test_numerical_gradient_needs_float64() -> None:
    with pytest.raises(TypeError, match="float64"):
        numerical_gradient(lambda: 0.0, np.ones(2, dtype=np.float32))


@given(x=shapes(max_dims=2).flatmap(lambda s: arrays(s, low=-1.5, high=1.5)))
def test_a_wrong_input_gradient_is_caught(x: np.ndarray) -> None:
    with pytest.raises(GradcheckError, match="input"):
        check_module(WrongInputGradient(), x)


@given(x=arrays((3, 4)), seed=st.integers(0, 100))
def test_a_wrong_parameter_gradient_is_caught_and_named(x: np.ndarray, seed: int) -> None:
    with pytest.raises(GradcheckError, match="weight") as error:
        check_module(WrongWeightGradient(4, 2, generator=seed).double(), x)
    assert "bias" in str(error.value) and "ok" in str(error.value)


def test_an_offset_gradient_is_caught() -> None:
    x = np.random.default_rng(0).normal(size=(3, 4))
    with pytest.raises(GradcheckError, match="bias"):
        check_module(OffsetBiasGradient(4, 2, generator=0).double(), x)


def test_mutating_grad_output_is_caught() -> None:
    with pytest.raises(GradcheckError, match="grad_output"):
        check_module(MutatesGradOutput(), np.linspace(-1, 1, 6).reshape(2, 3))


def test_the_report_names_tensor_index_and_values() -> None:
    x = np.random.default_rng(0).normal(size=(2, 3))
    report = check_module(WrongInputGradient(), x, raise_on_failure=False)
    assert not report.passed
    text = str(report)
    assert "input (2, 3)" in text and "analytic" in text and "numerical" in text
    assert "relative error" in text


def test_a_correct_module_passes_with_a_small_error() -> None:
    x = np.random.default_rng(0).normal(size=(3, 4))
    report = check_module(nn.Linear(4, 2, generator=0).double(), x)
    assert report.passed
    assert max(t.max_relative_error for t in report.tensors) < 1e-8


def test_float32_is_refused_with_advice() -> None:
    with pytest.raises(TypeError, match="double"):
        check_module(nn.Linear(2, 2), np.ones((1, 2)))


class Square(nn.Module):
    """A tiny loss-like module: L = Σ (x - t)² with a deliberately optional bug."""

    def __init__(self, factor: float = 2.0) -> None:
        super().__init__()
        self.factor = factor
        self._diff: np.ndarray | None = None

    def forward(self, x: np.ndarray, t: np.ndarray) -> float:
        self._diff = x - t
        return float(np.sum(self._diff**2))

    def backward(self) -> np.ndarray:
        return self.factor * self._saved(self._diff)


def test_check_loss_passes_a_correct_loss_and_catches_a_wrong_one() -> None:
    x, t = np.random.default_rng(0).normal(size=(2, 5))
    assert check_loss(Square(), x, (t,)).passed
    with pytest.raises(GradcheckError):
        check_loss(Square(factor=1.0), x, (t,))
