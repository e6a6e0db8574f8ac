"""One module called several times: each call's cache kept until its backward.

A layer applied twice, a pooling layer shared by two places (PyTorch's cifar10
tutorial), a cell stepped in a Python loop over time, a user's module with branches
(a ResNet basic block with a projection shortcut) and one that calls a submodule twice
all backpropagate correctly; backwards that do not match the calls fail clearly; and
forwards nobody backpropagates (``no_grad()``, ``eval()``) do not make memory grow.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import refnet
import refnet.nn as nn
from refnet._typing import Array
from refnet.gradcheck import check_module
from refnet.testing import arrays, seeds


@given(width=st.integers(1, 4), batch=st.integers(1, 3), seed=seeds(), data=st.data())
def test_a_layer_applied_twice_gets_both_calls_gradients(
    width: int, batch: int, seed: int, data: st.DataObject
) -> None:
    lin = nn.Linear(width, width, generator=seed).double()
    check_module(nn.Sequential(lin, nn.Tanh(), lin), data.draw(arrays((batch, width))))


def test_the_two_calls_add_into_one_gradient() -> None:
    """The weight gradient of ``lin ∘ tanh ∘ lin`` is the sum over both uses."""
    rng = np.random.default_rng(0)
    x, g = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    lin = nn.Linear(3, 3, generator=1).double()
    first, second = nn.Linear(3, 3, generator=1).double(), nn.Linear(3, 3, generator=1).double()
    shared = nn.Sequential(lin, nn.Tanh(), lin)
    shared(x)
    grad = shared.backward(g)
    untied = nn.Sequential(first, nn.Tanh(), second)
    untied(x)
    np.testing.assert_allclose(grad, untied.backward(g), rtol=1e-12)
    np.testing.assert_allclose(lin.weight.grad, first.weight.grad + second.weight.grad, rtol=1e-12)


class SharedPoolNet(nn.Module):
    """The cifar10 tutorial's shape: one ``MaxPool2d`` used after both convolutions."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 2, 3, padding=1, generator=0)
        self.conv2 = nn.Conv2d(2, 2, 3, padding=1, generator=1)
        self.pool = nn.MaxPool2d(2)
        self.act = nn.Tanh()

    def forward(self, x: Array) -> Array:
        x = self.pool(self.act(self.conv1(x)))
        return self.pool(self.act(self.conv2(x)))

    def backward(self, grad: Array) -> Array:
        grad = self.conv2.backward(self.act.backward(self.pool.backward(grad)))
        return self.conv1.backward(self.act.backward(self.pool.backward(grad)))


def test_a_shared_pooling_layer_backpropagates_both_uses() -> None:
    x = np.random.default_rng(2).standard_normal((2, 1, 8, 8))
    check_module(SharedPoolNet().double(), x)


class LoopedRNN(nn.Module):
    """``for t in range(T): h = cell(x[t], h)``, the way PyTorch tutorials write an RNN."""

    def __init__(self, n_in: int, n_hidden: int) -> None:
        super().__init__()
        self.input = nn.Linear(n_in, n_hidden, generator=3)
        self.hidden = nn.Linear(n_hidden, n_hidden, bias=False, generator=4)
        self.act = nn.Tanh()

    def forward(self, x: Array) -> Array:
        h = np.zeros((x.shape[1], self.hidden.in_features), dtype=x.dtype)
        outputs = []
        for t in range(x.shape[0]):
            h = self.act(self.input(x[t]) + self.hidden(h))
            outputs.append(h)
        return np.stack(outputs)

    def backward(self, grad: Array) -> Array:
        grad_x = np.zeros(grad.shape[:2] + (self.input.in_features,), dtype=grad.dtype)
        grad_h = np.zeros_like(grad[0])
        for t in reversed(range(grad.shape[0])):  # the calls, last first
            pre = self.act.backward(grad[t] + grad_h)
            grad_h = self.hidden.backward(pre)
            grad_x[t] = self.input.backward(pre)
        return grad_x


@given(steps=st.integers(1, 5), batch=st.integers(1, 3), data=st.data())
def test_a_cell_stepped_in_a_python_loop(steps: int, batch: int, data: st.DataObject) -> None:
    check_module(LoopedRNN(2, 3).double(), data.draw(arrays((steps, batch, 2))))


class BasicBlock(nn.Module):
    """ResNet's basic block with a projection shortcut: ``relu(F(x) + P(x))``.

    The input reaches the output along two paths, so its gradient is the sum of the two
    paths' gradients.
    """

    def __init__(self, c_in: int, c_out: int, stride: int = 2) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False, generator=5),
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False, generator=6),
            nn.BatchNorm2d(c_out),
        )
        self.shortcut = nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False, generator=7),
            nn.BatchNorm2d(c_out),
        )
        self.act = nn.Tanh()  # smooth, for the numerical check; ResNet uses ReLU

    def forward(self, x: Array) -> Array:
        return self.act(self.main(x) + self.shortcut(x))

    def backward(self, grad: Array) -> Array:
        grad = self.act.backward(grad)
        return self.main.backward(grad) + self.shortcut.backward(grad)


def test_a_residual_block_with_a_projection_shortcut() -> None:
    block = BasicBlock(2, 3).double()
    block.main[2] = nn.Tanh()  # away from ReLU's kink for central differences
    check_module(block, np.random.default_rng(6).standard_normal((2, 2, 6, 6)), rtol=1e-5)


class Twice(nn.Module):
    """``f(f(x))`` with one submodule ``f``."""

    def __init__(self) -> None:
        super().__init__()
        self.f = nn.Sequential(nn.Linear(3, 3, generator=8), nn.Tanh())

    def forward(self, x: Array) -> Array:
        return self.f(self.f(x))

    def backward(self, grad: Array) -> Array:
        return self.f.backward(self.f.backward(grad))


def test_a_model_that_calls_one_submodule_twice() -> None:
    check_module(Twice().double(), np.random.default_rng(7).standard_normal((4, 3)))


def test_a_subclass_calling_super_keeps_one_record_per_call() -> None:
    class Doubled(nn.Linear):
        def forward(self, x: Array) -> Array:
            return 2 * super().forward(x)

        def backward(self, grad: Array) -> Array:
            return super().backward(2 * grad)

    layer = Doubled(3, 2, generator=9).double()
    check_module(nn.Sequential(layer, nn.Tanh()), np.random.default_rng(8).standard_normal((2, 3)))


def test_an_extra_backward_fails_clearly() -> None:
    lin = nn.Linear(3, 3).double()
    x = np.ones((2, 3))
    lin(x), lin(x)
    lin.backward(x), lin.backward(x)
    with pytest.raises(RuntimeError, match=r"Linear\(.*\): backward\(\) called more times"):
        lin.backward(x)


def test_a_backward_out_of_order_fails_clearly_and_can_be_retried() -> None:
    lin = nn.Linear(3, 2).double()
    lin(np.ones((4, 3)))
    lin(np.ones((1, 3)))
    with pytest.raises(ValueError, match=r"gradient of the output's shape \(1, 2\)"):
        lin.backward(np.ones((4, 2)))  # the first call's gradient first
    assert lin.backward(np.ones((1, 2))).shape == (1, 3)
    assert lin.backward(np.ones((4, 2))).shape == (4, 3)


def test_a_failed_forward_leaves_the_earlier_calls_intact() -> None:
    lin = nn.Linear(3, 2).double()
    x = np.random.default_rng(9).standard_normal((4, 3))
    lin(x)
    with pytest.raises(ValueError, match="expected input"):
        lin(np.ones((4, 5)))
    fresh = nn.Linear(3, 2).double()
    fresh.load_state_dict(lin.state_dict())
    fresh(x)
    g = np.ones((4, 2))
    np.testing.assert_array_equal(lin.backward(g), fresh.backward(g))


def test_no_grad_keeps_no_cache_and_backward_then_fails_clearly() -> None:
    lin = nn.Linear(3, 2).double()
    with refnet.no_grad():
        for _ in range(5):
            lin(np.ones((2, 3)))
        assert not refnet.is_grad_enabled()
        with refnet.enable_grad():
            assert refnet.is_grad_enabled()
    assert refnet.is_grad_enabled()
    with pytest.raises(RuntimeError, match=r"no_grad\(\)"):
        lin.backward(np.ones((2, 2)))


def test_no_grad_as_a_decorator_and_set_grad_enabled() -> None:
    @refnet.no_grad()
    def evaluate() -> bool:
        return refnet.is_grad_enabled()

    assert evaluate() is False and refnet.is_grad_enabled()
    with refnet.set_grad_enabled(False):
        assert not refnet.is_grad_enabled()
    assert refnet.is_grad_enabled()


def test_no_grad_between_a_forward_and_its_backward() -> None:
    """An evaluation in between does not disturb a pending training call."""
    lin = nn.Linear(3, 2).double()
    x = np.random.default_rng(10).standard_normal((4, 3))
    lin(x)
    with refnet.no_grad():
        lin(np.zeros((7, 3)))
    lin.backward(np.ones((4, 2)))
    np.testing.assert_allclose(lin.weight.grad, np.ones((2, 4)) @ x, rtol=1e-12)


def _conv_loop_memory(calls: int, *, eval_mode: bool, no_grad: bool) -> int:
    conv = nn.Conv2d(3, 8, 3, padding=1, generator=0)
    conv.train(not eval_mode)
    x = np.ones((8, 3, 16, 16), dtype=np.float32)
    tracemalloc.start()
    try:
        with refnet.set_grad_enabled(not no_grad):
            for _ in range(calls):
                conv(x)
        return tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(("eval_mode", "no_grad"), [(True, False), (False, True), (True, True)])
def test_forwards_nobody_backpropagates_keep_memory_flat(eval_mode: bool, no_grad: bool) -> None:
    """An evaluation loop (eval() or no_grad()) holds at most one call's cache."""
    few = _conv_loop_memory(3, eval_mode=eval_mode, no_grad=no_grad)
    many = _conv_loop_memory(30, eval_mode=eval_mode, no_grad=no_grad)
    one_call = 8 * 3 * 16 * 16 * 9 * 4  # the column matrix a training call keeps
    assert many - few < one_call


def test_training_mode_keeps_every_call_until_its_backward() -> None:
    """The contrast: in training mode the caches wait (that is what makes reuse work)."""
    few = _conv_loop_memory(3, eval_mode=False, no_grad=False)
    many = _conv_loop_memory(30, eval_mode=False, no_grad=False)
    assert many - few > 20 * 8 * 3 * 16 * 16 * 9 * 4


def test_eval_mode_keeps_only_the_latest_call() -> None:
    lin = nn.Linear(3, 2).double().eval()
    lin(np.ones((4, 3)))
    lin(np.ones((1, 3)))
    assert lin.backward(np.ones((1, 2))).shape == (1, 3)
    with pytest.raises(RuntimeError, match=r"replaced.*train\(\) mode"):
        lin.backward(np.ones((4, 2)))
    lin.train()
    lin(np.ones((4, 3)))
    lin.backward(np.ones((4, 2)))
    with pytest.raises(RuntimeError, match="more times than forward"):
        lin.backward(np.ones((4, 2)))


def test_backward_sees_the_mode_of_its_forward() -> None:
    """A batch-norm call made in training mode backpropagates as one, even after eval()."""
    bn = nn.BatchNorm1d(3).double()
    twin = nn.BatchNorm1d(3).double()
    x, g = np.random.default_rng(11).standard_normal((2, 5, 3))
    bn(x)
    twin(x)
    bn.eval()
    np.testing.assert_array_equal(bn.backward(g), twin.backward(g))
    assert not bn.training


class _OptionalScale(nn.Module):
    """A forward that caches ``scale`` only when one is given; its backward falls back to 1."""

    def forward(self, x: Array, scale: float | None = None) -> Array:
        if scale is not None:
            self.scale = scale
        return x if scale is None else x * scale

    def backward(self, grad: Array) -> Array:
        return grad * getattr(self, "scale", 1.0)


def test_a_cache_attribute_some_calls_do_not_assign_is_absent_in_their_backward() -> None:
    """Each backward sees exactly what its own forward assigned: a name another call
    assigned, before it (popped by that call's backward) or after it, is absent."""
    layer, x, g = _OptionalScale(), np.ones(2), np.ones(2)
    layer(x)
    layer(x, 2.0)  # the first assignment of `scale`: the waiting call had none
    np.testing.assert_array_equal(layer.backward(g), 2 * g)
    np.testing.assert_array_equal(layer.backward(g), g)
    assert not hasattr(layer, "scale")
    layer(x)  # `scale` is a cache name by now, and this call does not assign it
    layer(x, 3.0)
    np.testing.assert_array_equal(layer.backward(g), 3 * g)
    np.testing.assert_array_equal(layer.backward(g), g)
