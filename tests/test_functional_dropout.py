"""The functional dropout family and rrelu: torch's values where they are deterministic,
the replayed mask's gradient, alpha dropout's self-normalisation, and the layers'
shapes and refusals."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import refnet.nn as nn
import refnet.nn.functional as F
from refnet.gradcheck import numerical_gradient

SHAPES = {
    "dropout": (3, 4),
    "dropout1d": (2, 3, 4),
    "dropout2d": (2, 3, 2, 2),
    "dropout3d": (2, 3, 2, 2, 2),
    "alpha_dropout": (3, 4),
    "feature_alpha_dropout": (2, 3, 2),
}


@pytest.mark.parametrize("name", sorted(SHAPES))
@pytest.mark.parametrize("p", [0.0, 0.4, 1.0])
def test_evaluation_and_the_edge_probabilities_match_torch(name: str, p: float) -> None:
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).normal(size=SHAPES[name])
    theirs = getattr(torch.nn.functional, name)
    np.testing.assert_array_equal(
        getattr(F, name)(x, p, training=False), theirs(torch.from_numpy(x), p, training=False)
    )
    if p in (0.0, 1.0):  # deterministic in training too: the input, or zeros
        ours = getattr(F, name)(x, p, training=True)
        np.testing.assert_array_equal(ours, theirs(torch.from_numpy(x), p, training=True))


@pytest.mark.parametrize("name", sorted(SHAPES))
@pytest.mark.parametrize("p", [0.0, 1.0])
def test_the_edge_probabilities_backward_needs_no_seed(name: str, p: float) -> None:
    """At p = 0 and p = 1 there is no mask to replay: any generator (here a moved-on
    Generator object) gives torch's gradient."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x, G = rng.normal(size=SHAPES[name]), rng.normal(size=SHAPES[name])
    ours = getattr(F, f"{name}_backward")(G, x, p, training=True, generator=rng)
    xt = torch.from_numpy(x).requires_grad_()
    getattr(torch.nn.functional, name)(xt, p, training=True).backward(torch.from_numpy(G))
    assert xt.grad is not None
    np.testing.assert_array_equal(ours, xt.grad)


@pytest.mark.parametrize("name", sorted(SHAPES))
@given(seed=st.integers(0, 2**16), p=st.floats(0.1, 0.9))
def test_the_backward_replays_the_forward_mask(name: str, seed: int, p: float) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=SHAPES[name])
    y = getattr(F, name)(x, p, training=True, generator=seed)
    np.testing.assert_array_equal(y, getattr(F, name)(x, p, training=True, generator=seed))
    G = rng.normal(size=y.shape)
    grad = getattr(F, f"{name}_backward")(G, x, p, training=True, generator=seed)

    def loss() -> float:
        return float(np.sum(getattr(F, name)(x, p, training=True, generator=seed) * G))

    np.testing.assert_allclose(grad, numerical_gradient(loss, x, 1e-6), rtol=1e-7, atol=1e-9)
    with pytest.raises(ValueError, match="seed"):
        getattr(F, f"{name}_backward")(G, x, p, training=True)


@pytest.mark.parametrize("cls", [nn.AlphaDropout, nn.FeatureAlphaDropout])
@pytest.mark.parametrize("p", [0.1, 0.5])
def test_alpha_dropout_keeps_zero_mean_and_unit_variance(cls: type[Any], p: float) -> None:
    """The point of alpha dropout: SELU's fixed point (mean 0, variance 1) survives it."""
    x = np.random.default_rng(1).normal(size=(200, 50, 20))
    y = cls(p, generator=2)(x)
    assert abs(y.mean()) < 0.02 and abs(y.var() - 1) < 0.02
    if cls is nn.FeatureAlphaDropout:  # one draw per (n, c): dropped maps are constant
        constant = np.ptp(y, axis=-1) == 0
        assert abs(constant.mean() - p) < 0.02


def test_channel_dropouts_drop_whole_channels() -> None:
    x = np.ones((4, 6, 5))
    y = nn.Dropout1d(0.5, generator=3)(x)
    assert np.all(np.ptp(y, axis=-1) == 0) and set(np.unique(y)) <= {0.0, 2.0}
    y = nn.Dropout3d(0.5, generator=3)(np.ones((3, 2, 2, 2)))  # unbatched (C, D, H, W)
    assert np.all(np.ptp(y.reshape(3, -1), axis=1) == 0)


@pytest.mark.parametrize(
    ("layer", "shape"),
    [
        (nn.Dropout1d(), (2, 3, 4, 5)),
        (nn.Dropout1d(), (3,)),
        (nn.Dropout3d(), (2, 3, 4)),
        (nn.FeatureAlphaDropout(), (3,)),
        (nn.Softmax2d(), (2, 3)),
        (nn.Softmax2d(), (1, 2, 3, 4, 5)),
    ],
)
def test_layers_refuse_the_wrong_number_of_axes(layer: nn.Module, shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=type(layer).__name__):
        layer(np.zeros(shape))


def test_softmax2d_normalises_over_channels_as_torch() -> None:
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(4).normal(size=(2, 3, 4, 5))
    y = nn.Softmax2d()(x)
    np.testing.assert_allclose(y.sum(axis=1), 1.0)
    np.testing.assert_allclose(y, torch.nn.Softmax2d()(torch.from_numpy(x)).numpy(), rtol=1e-13)


@given(seed=st.integers(0, 2**16))
def test_rrelu_evaluation_matches_torch(seed: int) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(3, 4))
    G = rng.normal(size=x.shape)
    t = torch.from_numpy(x.copy()).requires_grad_()
    torch.nn.functional.rrelu(t, 0.1, 0.3, training=False).backward(torch.from_numpy(G))
    expected = torch.nn.functional.rrelu(torch.from_numpy(x), 0.1, 0.3).numpy()
    np.testing.assert_allclose(F.rrelu(x, 0.1, 0.3), expected, rtol=1e-15)
    np.testing.assert_allclose(F.rrelu_backward(G, x, 0.1, 0.3), t.grad.numpy(), rtol=1e-14)


def test_rrelu_training_draws_one_slope_per_negative_element() -> None:
    x = -np.ones((200, 50))
    layer = nn.RReLU(0.1, 0.3, generator=5)
    slopes = -layer(x)
    assert slopes.min() >= 0.1 and slopes.max() <= 0.3
    assert abs(slopes.mean() - 0.2) < 0.005 and len(np.unique(slopes)) > 1000
    np.testing.assert_array_equal(layer(np.ones(4)), np.ones(4))  # positives pass
    np.testing.assert_array_equal(layer.backward(np.full(4, 2.0)), np.full(4, 2.0))
    with pytest.raises(ValueError, match="seed"):
        F.rrelu_backward(np.ones(3), -np.ones(3), training=True)
    with pytest.raises(ValueError, match="lower"):
        nn.RReLU(0.5, 0.1)
