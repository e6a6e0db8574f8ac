"""Dropout and Dropout2d: seeded masks, the expectation, the modes, the edge cases, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import refnet
import refnet.nn as nn


def test_the_same_seed_gives_the_same_masks_call_after_call() -> None:
    x = np.ones((8, 16), dtype=np.float32)
    a, b = nn.Dropout(0.5, generator=3), nn.Dropout(0.5, generator=3)
    outputs_a = [a(x) for _ in range(3)]
    outputs_b = [b(x) for _ in range(3)]
    for ya, yb in zip(outputs_a, outputs_b, strict=True):
        np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(outputs_a[0], outputs_a[1]), "successive calls reused a mask"
    assert not np.array_equal(nn.Dropout(0.5, generator=4)(x), outputs_a[0])


def test_without_a_generator_refnet_manual_seed_decides() -> None:
    x = np.ones((8, 16), dtype=np.float32)
    layer = nn.Dropout(0.5)
    refnet.manual_seed(11)
    first = layer(x)
    refnet.manual_seed(11)
    np.testing.assert_array_equal(layer(x), first)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_the_expected_value_is_preserved(p: float) -> None:
    # Each output is 0 or 1/(1-p), with mean 1 and variance p/(1-p); the mean of n of them
    # has standard deviation sqrt(p/((1-p)·n)). Six of those is a generous bound that a
    # missing or wrong rescaling (off by a factor 1-p or more) still breaks by far.
    n = 400_000
    y = nn.Dropout(p, generator=0)(np.ones(n, dtype=np.float64))
    sigma = np.sqrt(p / ((1 - p) * n))
    assert abs(y.mean() - 1.0) < 6 * sigma
    kept = y != 0
    assert abs(kept.mean() - (1 - p)) < 6 * np.sqrt(p * (1 - p) / n)
    np.testing.assert_allclose(y[kept], 1 / (1 - p), rtol=1e-15)


def test_backward_multiplies_by_the_forward_mask() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 1.5, (6, 7))
    layer = nn.Dropout(0.3, generator=1)
    y = layer(x)
    g = rng.standard_normal(y.shape)
    mask = layer(np.ones_like(x))  # a second call, with its own mask, backpropagated first
    np.testing.assert_allclose(layer.backward(g), g * mask, rtol=1e-15)
    np.testing.assert_allclose(layer.backward(g), g * (y / x), rtol=1e-15)  # cache survives


def test_evaluation_mode_is_the_identity() -> None:
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    layer = nn.Dropout(0.9, generator=0).eval()
    assert layer(x) is x
    g = np.ones_like(x)
    np.testing.assert_array_equal(layer.backward(g), g)


def test_p_zero_is_the_identity_in_training_mode() -> None:
    x = np.random.default_rng(0).standard_normal((4, 5))
    layer = nn.Dropout(0.0)
    assert layer(x) is x
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), np.ones_like(x))


def test_p_one_drops_everything_and_nan_stays_nan_as_in_torch() -> None:
    x = np.array([1.0, -2.0, np.nan], dtype=np.float32)
    layer = nn.Dropout(1.0)
    y = layer(x)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, [0.0, 0.0, np.nan])
    np.testing.assert_array_equal(layer.backward(np.ones(3, dtype=np.float32)), np.zeros(3))


@pytest.mark.parametrize("cls", [nn.Dropout, nn.Dropout2d])
@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_p_outside_zero_one_is_rejected(cls: type[nn.Module], p: float) -> None:
    with pytest.raises(ValueError, match=rf"{cls.__name__}: dropout probability .*0 and 1.*{p}"):
        cls(p)


def test_float32_masks_keep_float32() -> None:
    x = np.ones((3, 4), dtype=np.float32)
    layer = nn.Dropout(0.5, generator=0)
    assert layer(x).dtype == np.float32
    assert layer.backward(x).dtype == np.float32


def test_dropout2d_zeroes_whole_channels() -> None:
    x = np.ones((16, 8, 5, 5))
    y = nn.Dropout2d(0.5, generator=0)(x)
    per_channel = y.reshape(16, 8, -1)
    assert np.all(per_channel == per_channel[..., :1]), "a channel was only partly dropped"
    values = set(np.unique(per_channel[..., 0]))
    assert values == {0.0, 2.0}


def test_dropout2d_keeps_the_expected_fraction_of_channels() -> None:
    n = 200 * 250
    y = nn.Dropout2d(0.25, generator=0)(np.ones((200, 250, 2, 2)))
    kept = (y[:, :, 0, 0] != 0).mean()
    assert abs(kept - 0.75) < 6 * np.sqrt(0.25 * 0.75 / n)
    assert abs(y.mean() - 1.0) < 6 * np.sqrt(0.25 / (0.75 * n))


def test_dropout2d_reads_3d_input_as_n_c_l_and_warns_like_torch() -> None:
    x = np.ones((6, 4, 9))
    layer = nn.Dropout2d(0.5, generator=0)
    with pytest.warns(UserWarning, match=r"3-D input.*\(N, C, L\)"):
        y = layer(x)
    rows = y.reshape(6 * 4, 9)
    assert np.all(rows == rows[:, :1]), "3-D input must drop whole (n, c) rows"
    assert 0 < (rows[:, 0] == 0).sum() < 24
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layer.eval()(x)  # no warning when nothing is dropped


@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 4, 5, 6), (7,)])
def test_dropout2d_rejects_other_dimensionalities(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"Dropout2d\(p=0.5.*\(N, C, H, W\) or \(N, C, L\).*got"):
        nn.Dropout2d(0.5)(np.ones(shape))


def test_integer_input_is_rejected() -> None:
    with pytest.raises(TypeError, match=r"Dropout\(p=0.5, inplace=False\): expected a floating"):
        nn.Dropout()(np.ones(3, dtype=np.int64))


def test_dropout2d_on_3d_input_matches_torch_with_the_same_mask() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4, 5))
    g = rng.standard_normal((3, 4, 5))
    layer = nn.Dropout2d(0.4, generator=2)
    with pytest.warns(UserWarning):
        y = layer(x)
    # torch's feature noise for 3-D input has shape (N, C, 1), like refnet's:
    with pytest.warns(UserWarning):
        theirs = torch.nn.Dropout2d(0.5)(torch.ones(50, 4, 5)).numpy()
    assert np.all(theirs == theirs[..., :1]) and (theirs == 0).any()
    kept = torch.from_numpy(y[..., :1] != 0).to(torch.float64)
    tx = torch.from_numpy(x).requires_grad_(True)
    ty = tx * kept.div_(1 - 0.4)
    ty.backward(torch.from_numpy(g))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-15)
    np.testing.assert_allclose(layer.backward(g), tx.grad.numpy(), rtol=1e-15)


def test_repr_matches_torch() -> None:
    assert repr(nn.Dropout()) == "Dropout(p=0.5, inplace=False)"
    assert repr(nn.Dropout2d(0.2)) == "Dropout2d(p=0.2, inplace=False)"


def test_round_trip_through_torch() -> None:
    pytest.importorskip("torch")
    from refnet.interop.torch import from_torch, to_torch

    for layer in (nn.Dropout(0.3), nn.Dropout2d(0.7).eval()):
        theirs = to_torch(layer)
        assert repr(theirs) == repr(layer) and theirs.training == layer.training
        back = from_torch(theirs)
        assert type(back) is type(layer) and back.p == layer.p


def test_a_one_element_input_is_dropped_or_scaled_in_training() -> None:
    """Only an input with no elements skips the mask: a single element comes out as 0 or
    x/(1-p), never as x (the mutation run: ``size == 1`` for ``== 0`` survived)."""
    outputs = {float(nn.Dropout(0.5, generator=seed)(np.array([3.0]))[0]) for seed in range(20)}
    assert outputs == {0.0, 6.0}
