"""Edges of the pooling modules of refnet/nn/pooling.py against torch: sizes given as
1-tuples to the 2-d pools, empty batches, empty channels and depths refused, adaptive
output sizes of 0, and the malformed sizes the adaptive pools and MaxUnpool refuse."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import refnet.nn as nn

torch = pytest.importorskip("torch")

Maker = Callable[[Any], Any]


def _forward_and_grad(module: Any, x: np.ndarray[Any, Any]) -> tuple[Any, Any]:
    """A module's output and its input gradient for an upstream gradient of ones."""
    out = module(x)
    y = out[0] if isinstance(out, tuple) else out
    g = np.ones_like(y)
    dx = module.backward(g, None) if isinstance(out, tuple) else module.backward(g)
    return y, dx


def _torch_forward_and_grad(module: Any, x: np.ndarray[Any, Any]) -> tuple[Any, Any]:
    t = torch.tensor(x, requires_grad=True)
    out = module(t)
    y = out[0] if isinstance(out, tuple) else out
    y.backward(torch.ones_like(y))
    grad = t.grad if t.grad is not None else torch.zeros_like(t)
    return y.detach().numpy(), grad.numpy()


def _assert_module_matches_torch(ours: Any, theirs: Any, x: np.ndarray[Any, Any]) -> None:
    y, dx = _forward_and_grad(ours, x)
    ty, tdx = _torch_forward_and_grad(theirs, x)
    assert y.shape == ty.shape
    assert dx.shape == tdx.shape
    np.testing.assert_allclose(y, ty, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, tdx, rtol=1e-12, atol=1e-12)


# kernel_size, stride, padding, dilation given as 1-tuples: torch repeats them for H and W.
ONE_TUPLE_POOLS: list[tuple[str, Maker]] = [
    ("MaxPool2d", lambda m: m.MaxPool2d((3,), stride=(2,), padding=(1,), dilation=(1,))),
    ("MaxPool2d-kernel-only", lambda m: m.MaxPool2d((2,))),
    ("AvgPool2d", lambda m: m.AvgPool2d((3,), stride=(2,), padding=(1,))),
    ("AvgPool2d-kernel-only", lambda m: m.AvgPool2d((2,))),
]


@pytest.mark.parametrize(("name", "make"), ONE_TUPLE_POOLS, ids=[n for n, _ in ONE_TUPLE_POOLS])
def test_two_d_pools_repeat_a_one_tuple_size_for_both_axes_as_torch(name: str, make: Maker) -> None:
    x = np.random.default_rng(3).permutation(2 * 3 * 7 * 6).reshape(2, 3, 7, 6) / 11.0
    _assert_module_matches_torch(make(nn), make(torch.nn), x)


# (name, make, input shape with N = 0): every pool takes an empty batch, as torch.
EMPTY_BATCH: list[tuple[str, Maker, tuple[int, ...]]] = [
    ("MaxPool1d", lambda m: m.MaxPool1d(2), (0, 3, 5)),
    ("AvgPool1d", lambda m: m.AvgPool1d(2), (0, 3, 5)),
    ("LPPool1d", lambda m: m.LPPool1d(2, 2), (0, 3, 5)),
    ("AdaptiveAvgPool1d", lambda m: m.AdaptiveAvgPool1d(3), (0, 3, 5)),
    ("AdaptiveMaxPool1d", lambda m: m.AdaptiveMaxPool1d(3), (0, 3, 5)),
    ("MaxPool2d", lambda m: m.MaxPool2d(2), (0, 3, 5, 4)),
    ("AvgPool2d", lambda m: m.AvgPool2d(2), (0, 3, 5, 4)),
    ("LPPool2d", lambda m: m.LPPool2d(2, 2), (0, 3, 5, 4)),
    ("AdaptiveAvgPool2d", lambda m: m.AdaptiveAvgPool2d(3), (0, 3, 5, 4)),
    ("AdaptiveMaxPool2d", lambda m: m.AdaptiveMaxPool2d(3), (0, 3, 5, 4)),
    ("MaxPool3d", lambda m: m.MaxPool3d(2), (0, 3, 4, 5, 4)),
    ("AvgPool3d", lambda m: m.AvgPool3d(2), (0, 3, 4, 5, 4)),
    ("AdaptiveAvgPool3d", lambda m: m.AdaptiveAvgPool3d(3), (0, 3, 4, 5, 4)),
    ("AdaptiveMaxPool3d", lambda m: m.AdaptiveMaxPool3d(3), (0, 3, 4, 5, 4)),
]


@pytest.mark.parametrize(("name", "make", "shape"), EMPTY_BATCH, ids=[n for n, _, _ in EMPTY_BATCH])
def test_pools_take_an_empty_batch_as_torch(name: str, make: Maker, shape: tuple[int, ...]) -> None:
    _assert_module_matches_torch(make(nn), make(torch.nn), np.zeros(shape))


# (name, make, input shape with an empty channel or spatial axis): torch refuses them all.
EMPTY_AXIS: list[tuple[str, Maker, tuple[int, ...]]] = [
    ("MaxPool1d-unbatched-C0", lambda m: m.MaxPool1d(2), (0, 5)),
    ("MaxPool2d-unbatched-C0", lambda m: m.MaxPool2d(2), (0, 5, 4)),
    ("AvgPool2d-unbatched-C0", lambda m: m.AvgPool2d(2), (0, 5, 4)),
    ("LPPool2d-C0", lambda m: m.LPPool2d(2, 2), (1, 0, 5, 4)),
    ("MaxPool3d-C0", lambda m: m.MaxPool3d(2), (1, 0, 4, 4, 4)),
    ("MaxPool3d-unbatched-C0", lambda m: m.MaxPool3d(2), (0, 4, 4, 4)),
    ("AvgPool3d-C0", lambda m: m.AvgPool3d(2), (1, 0, 4, 4, 4)),
    ("AvgPool3d-unbatched-C0", lambda m: m.AvgPool3d(2), (0, 4, 4, 4)),
    ("AdaptiveAvgPool3d-C0", lambda m: m.AdaptiveAvgPool3d(2), (1, 0, 4, 4, 4)),
    ("AdaptiveMaxPool3d-C0", lambda m: m.AdaptiveMaxPool3d(2), (1, 0, 4, 4, 4)),
    ("MaxPool3d-D0", lambda m: m.MaxPool3d(2), (1, 2, 0, 4, 4)),
    ("MaxPool3d-unbatched-D0", lambda m: m.MaxPool3d(2), (2, 0, 4, 4)),
    ("AdaptiveAvgPool3d-D0", lambda m: m.AdaptiveAvgPool3d(2), (1, 2, 0, 4, 4)),
    ("AdaptiveMaxPool3d-H0", lambda m: m.AdaptiveMaxPool3d(2), (1, 2, 4, 0, 4)),
]


@pytest.mark.parametrize(("name", "make", "shape"), EMPTY_AXIS, ids=[n for n, _, _ in EMPTY_AXIS])
def test_pools_refuse_an_empty_channel_or_spatial_axis_as_torch(
    name: str, make: Maker, shape: tuple[int, ...]
) -> None:
    with pytest.raises(RuntimeError):
        make(torch.nn)(torch.zeros(shape, dtype=torch.float64))
    with pytest.raises(ValueError, match="no empty dimension"):
        make(nn)(np.zeros(shape))


# Adaptive output sizes of 0: torch gives an empty output.
ZERO_OUTPUT: list[tuple[str, Maker, tuple[int, ...]]] = [
    ("AdaptiveAvgPool1d-0", lambda m: m.AdaptiveAvgPool1d(0), (2, 3, 5)),
    ("AdaptiveAvgPool1d-(0,)", lambda m: m.AdaptiveAvgPool1d((0,)), (2, 3, 5)),
    ("AdaptiveMaxPool1d-0", lambda m: m.AdaptiveMaxPool1d(0), (2, 3, 5)),
    ("AdaptiveMaxPool1d-0-indices", lambda m: m.AdaptiveMaxPool1d(0, True), (3, 5)),
    ("AdaptiveAvgPool2d-0", lambda m: m.AdaptiveAvgPool2d(0), (2, 3, 5, 4)),
    ("AdaptiveAvgPool2d-(0,3)", lambda m: m.AdaptiveAvgPool2d((0, 3)), (2, 3, 5, 4)),
    ("AdaptiveAvgPool2d-(3,0)", lambda m: m.AdaptiveAvgPool2d((3, 0)), (3, 5, 4)),
    ("AdaptiveMaxPool2d-(0,3)", lambda m: m.AdaptiveMaxPool2d((0, 3)), (2, 3, 5, 4)),
    ("AdaptiveMaxPool2d-(None,0)", lambda m: m.AdaptiveMaxPool2d((None, 0)), (2, 3, 5, 4)),
]


@pytest.mark.parametrize(("name", "make", "shape"), ZERO_OUTPUT, ids=[n for n, _, _ in ZERO_OUTPUT])
def test_adaptive_pools_take_an_output_size_of_zero_as_torch(
    name: str, make: Maker, shape: tuple[int, ...]
) -> None:
    x = np.random.default_rng(5).normal(size=shape)
    y, dx = _forward_and_grad(make(nn), x)
    out = make(torch.nn)(torch.tensor(x))
    expected = (out[0] if isinstance(out, tuple) else out).numpy()
    assert y.shape == expected.shape
    assert y.dtype == x.dtype
    # torch's backward refuses an empty gradient; no output element depends on the input
    np.testing.assert_array_equal(dx, np.zeros_like(x))


@pytest.mark.parametrize("output_size", [(2, 3), 2.5, -1, (-1,)])
@pytest.mark.parametrize("layer", ["AdaptiveAvgPool1d", "AdaptiveMaxPool1d"])
def test_adaptive_1d_pools_refuse_an_output_size_torch_refuses(
    layer: str, output_size: Any
) -> None:
    with pytest.raises((RuntimeError, TypeError)):
        getattr(torch.nn, layer)(output_size)(torch.zeros(1, 2, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="output_size"):
        getattr(nn, layer)(output_size)


@pytest.mark.parametrize("kernel_size", [(2, 2, 2), (2,), (2.0, 2.0), (True, True), (2, 2.5)])
def test_max_unpool2d_refuses_a_kernel_size_torch_cannot_use(kernel_size: Any) -> None:
    x = torch.arange(16, dtype=torch.float64).reshape(1, 1, 4, 4)
    y, indices = torch.nn.functional.max_pool2d(x, 2, return_indices=True)
    with pytest.raises((RuntimeError, TypeError, IndexError)):
        torch.nn.MaxUnpool2d(kernel_size)(y, indices)
    with pytest.raises(ValueError, match="kernel_size"):
        nn.MaxUnpool2d(kernel_size)
