"""PyTorch's functional names (refnet.nn.functional.stateless): each function and its
backward sibling against torch.nn.functional and torch's autograd, in float64."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import refnet.nn as nn
import refnet.nn.functional as F
from refnet._typing import Array
from refnet.gradcheck import check_module

# name -> (extra keyword arguments, how to draw the input and the other arguments)
ACTIVATIONS: dict[str, dict[str, Any]] = {
    "relu": {},
    "leaky_relu": {"negative_slope": 0.2},
    "elu": {"alpha": 0.7},
    "gelu": {"approximate": "tanh"},
    "silu": {},
}
LOSSES: dict[str, dict[str, Any]] = {
    "mse_loss": {"reduction": "sum"},
    "l1_loss": {},
    "smooth_l1_loss": {"beta": 0.5},
    "cross_entropy": {"label_smoothing": 0.1},
    "nll_loss": {"reduction": "sum"},
    "binary_cross_entropy": {},
    "binary_cross_entropy_with_logits": {"pos_weight": np.array([2.0, 0.5, 1.0])},
}


def _torch() -> Any:
    return pytest.importorskip("torch")


def _tensors(torch: Any, value: Any) -> Any:
    return torch.from_numpy(value) if isinstance(value, np.ndarray) else value


def _loss_inputs(name: str, rng: np.random.Generator) -> tuple[Array, Array]:
    x = rng.normal(size=(4, 3))
    if name in ("cross_entropy", "nll_loss"):
        return (x if name == "cross_entropy" else F.log_softmax(x, dim=1)), rng.integers(0, 3, 4)
    if name == "binary_cross_entropy":
        return F.sigmoid(x), rng.random((4, 3))
    return x, rng.normal(size=(4, 3)) if name != "binary_cross_entropy_with_logits" else rng.random(
        (4, 3)
    )


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@given(seed=st.integers(0, 2**16))
def test_activation_and_its_backward_match_torch(name: str, seed: int) -> None:
    torch = _torch()
    options = ACTIVATIONS[name]
    rng = np.random.default_rng(seed)
    x, g = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    tx = torch.from_numpy(x).requires_grad_()
    expected = getattr(torch.nn.functional, name)(tx, **options)
    expected.backward(torch.from_numpy(g))
    np.testing.assert_allclose(
        getattr(F, name)(x, **options), expected.detach().numpy(), rtol=1e-12
    )
    grad = getattr(F, f"{name}_backward")(g, x, **options)
    np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", sorted(LOSSES))
@given(seed=st.integers(0, 2**16))
def test_loss_and_its_backward_match_torch(name: str, seed: int) -> None:
    torch = _torch()
    options = LOSSES[name]
    x, target = _loss_inputs(name, np.random.default_rng(seed))
    tx = torch.from_numpy(x).requires_grad_()
    t_options = {k: _tensors(torch, v) for k, v in options.items()}
    expected = getattr(torch.nn.functional, name)(tx, torch.from_numpy(target), **t_options)
    (2.5 * expected).backward()
    ours = getattr(F, name)(x, target, **options)
    np.testing.assert_allclose(ours, expected.item(), rtol=1e-12)
    grad = getattr(F, f"{name}_backward")(2.5, x, target, **options)
    np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=1e-12, atol=1e-15)


@given(seed=st.integers(0, 2**16), dim=st.sampled_from([0, 1, -1]))
def test_softmax_log_softmax_tanh_backward_match_torch(seed: int, dim: int) -> None:
    torch = _torch()
    rng = np.random.default_rng(seed)
    x, g = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    cases: list[tuple[Callable[..., Any], Callable[..., Any], Callable[..., Array]]] = [
        (torch.softmax, F.softmax, F.softmax_backward),
        (torch.log_softmax, F.log_softmax, F.log_softmax_backward),
    ]
    for theirs, ours, backward in cases:
        tx = torch.from_numpy(x).requires_grad_()
        y = theirs(tx, dim=dim)
        y.backward(torch.from_numpy(g))
        np.testing.assert_allclose(ours(x, dim=dim), y.detach().numpy(), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(backward(g, x, dim=dim), tx.grad.numpy(), rtol=1e-10, atol=1e-14)
    tx = torch.from_numpy(x).requires_grad_()
    torch.tanh(tx).backward(torch.from_numpy(g))
    np.testing.assert_allclose(F.tanh_backward(g, x), tx.grad.numpy(), rtol=1e-12)


@given(seed=st.integers(0, 2**16), bias=st.booleans())
def test_linear_backward_gives_all_three_gradients(seed: int, bias: bool) -> None:
    torch = _torch()
    rng = np.random.default_rng(seed)
    x, w, b = rng.normal(size=(2, 3, 4)), rng.normal(size=(5, 4)), rng.normal(size=5)
    g = rng.normal(size=(2, 3, 5))
    tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
    y = torch.nn.functional.linear(tx, tw, tb if bias else None)
    y.backward(torch.from_numpy(g))
    np.testing.assert_allclose(F.linear(x, w, b if bias else None), y.detach().numpy(), rtol=1e-12)
    gx, gw, gb = F.linear_backward(g, x, w, b if bias else None)
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(gw, tw.grad.numpy(), rtol=1e-12)
    if bias:
        np.testing.assert_allclose(gb, tb.grad.numpy(), rtol=1e-12)
    else:
        assert gb is None


def test_one_hot_matches_torch_and_refuses_bad_classes() -> None:
    torch = _torch()
    y = np.array([[0, 2], [1, 0]])
    np.testing.assert_array_equal(F.one_hot(y), torch.nn.functional.one_hot(torch.from_numpy(y)))
    assert F.one_hot(y, num_classes=5).shape == (2, 2, 5)
    with pytest.raises(ValueError, match=r"class values must be in \[0, 2\)"):
        F.one_hot(y, num_classes=2)
    with pytest.raises(TypeError, match="integer class indices"):
        F.one_hot(np.array([0.5]))


@pytest.mark.parametrize("shape", [(0,), (0, 3), (2, 0)])
def test_one_hot_of_an_empty_input_as_torch(shape: tuple[int, ...]) -> None:
    """An empty input needs a positive num_classes (torch refuses 0 and -1 alike)."""
    torch = _torch()
    y = np.zeros(shape, dtype=np.int64)
    for classes in (1, 4):
        expected = torch.nn.functional.one_hot(torch.from_numpy(y), classes)
        np.testing.assert_array_equal(F.one_hot(y, classes), expected)
        assert F.one_hot(y, classes).shape == expected.shape
    for classes in (0, -1):
        with pytest.raises(RuntimeError):
            torch.nn.functional.one_hot(torch.from_numpy(y), classes)
        with pytest.raises(ValueError, match="empty input"):
            F.one_hot(y, classes)


class FunctionalNet(nn.Module):
    """A tutorial's model whose forward uses functional calls, backward their siblings."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, 6, generator=0)
        self.fc2 = nn.Linear(6, 3, generator=1)

    def forward(self, x: Array) -> Array:
        self.h = self.fc1(x)
        self.z = self.fc2(F.gelu(self.h))
        return F.log_softmax(self.z, dim=1)

    def backward(self, grad: Array) -> Array:
        grad = F.log_softmax_backward(grad, self.z, dim=1)
        grad = F.gelu_backward(self.fc2.backward(grad), self.h)
        return self.fc1.backward(grad)


def test_a_functional_forward_gets_its_backward_from_the_siblings() -> None:
    model = FunctionalNet().double()
    report = check_module(model, np.random.default_rng(0).normal(size=(5, 4)))
    assert report.passed and len(report.tensors) == 5
