"""PixelShuffle, PixelUnshuffle, ChannelShuffle, CosineSimilarity, PairwiseDistance.

The registry (tests/cases/pixelshuffle.py, distance.py) gradient-checks them and compares
them with torch on random inputs; here: reprs, refusals, the inverse pairs, and the
points random inputs never reach (CosineSimilarity's eps clamp, a zero distance).
"""

from __future__ import annotations

import numpy as np
import pytest

import refnet.nn as nn

MODULES = [
    nn.PixelShuffle(2),
    nn.PixelUnshuffle(3),
    nn.ChannelShuffle(2),
    nn.CosineSimilarity(),
    nn.PairwiseDistance(),
]


@pytest.mark.parametrize("module", MODULES, ids=repr)
def test_repr_is_torchs(module: nn.Module) -> None:
    pytest.importorskip("torch")
    from refnet.interop.torch import to_torch

    assert repr(module) == repr(to_torch(module))


def test_shuffles_are_undone_by_their_inverses() -> None:
    x = np.random.default_rng(0).standard_normal((2, 12, 3, 4))
    np.testing.assert_array_equal(nn.PixelUnshuffle(2)(nn.PixelShuffle(2)(x)), x)
    np.testing.assert_array_equal(nn.ChannelShuffle(4)(nn.ChannelShuffle(3)(x)), x)
    assert nn.PixelShuffle(2)(x).shape == (2, 3, 6, 8)


def test_channel_shuffle_interleaves_the_groups() -> None:
    x = np.arange(6.0).reshape(1, 6, 1)
    np.testing.assert_array_equal(nn.ChannelShuffle(2)(x).ravel(), [0, 3, 1, 4, 2, 5])


@pytest.mark.parametrize(
    ("module", "shape", "message"),
    [
        (nn.PixelShuffle(2), (1, 3, 2, 2), "channels divisible by 4"),
        (nn.PixelShuffle(2), (4, 2), r"\(\*, C·4, H, W\)"),
        (nn.PixelUnshuffle(2), (1, 1, 3, 2), "H and W divisible by 2"),
        (nn.PixelUnshuffle(2), (1, 1, 2, 3), "H and W divisible by 2"),  # W alone
        (nn.ChannelShuffle(2), (1, 3, 4), "C divisible by 2"),
        (nn.ChannelShuffle(2), (2, 4), r"\(N, C, \*\)"),
    ],
)
def test_wrong_shapes_are_refused_with_the_module_named(
    module: nn.Module, shape: tuple[int, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=f"{type(module).__name__}.*{message}"):
        module(np.zeros(shape))


def test_factors_must_be_positive_ints() -> None:
    with pytest.raises(ValueError, match="PixelShuffle: upscale_factor must be a positive int"):
        nn.PixelShuffle(0)
    with pytest.raises(ValueError, match="ChannelShuffle: groups must be a positive int"):
        nn.ChannelShuffle(1.5)  # type: ignore[arg-type]


def test_pairwise_distance_keeps_p_as_norm_like_torch() -> None:
    module = nn.PairwiseDistance(p=3.0)
    assert module.norm == 3.0 and module.p == 3.0
    with pytest.raises(ValueError, match="p must be at least 0"):
        nn.PairwiseDistance(p=-1.0)


def _torch_gradients(cls_name: str, kwargs: dict, x1: np.ndarray, x2: np.ndarray, g: np.ndarray):
    torch = pytest.importorskip("torch")
    t1 = torch.tensor(x1, requires_grad=True)
    t2 = torch.tensor(x2, requires_grad=True)
    y = getattr(torch.nn, cls_name)(**kwargs)(t1, t2)
    y.backward(torch.tensor(g))
    return y.detach().numpy(), t1.grad.numpy(), t2.grad.numpy()


def test_cosine_similarity_where_the_norm_is_clamped() -> None:
    """Below eps, refnet's gradient is the derivative of what it computes (u = x / eps).

    torch clamps the norm in place under no_grad, so its gradient still flows through
    the unclamped norm: an extra ``-(x·∂L/∂u) / eps² · x/‖x‖`` in the clamped rows.
    refnet keeps the true derivative (the central difference's); the other rows agree.
    """
    from refnet.gradcheck import check_module

    rng = np.random.default_rng(1)
    x1 = rng.standard_normal((3, 4))
    x1[0] *= 1e-9  # norm below eps: u = x / eps
    x1[1] = 0.0
    x2 = rng.standard_normal((3, 4))
    g = rng.standard_normal(3)
    module = nn.CosineSimilarity(dim=1, eps=1e-6)
    # The same clamp at a scale central differences resolve: row 0's norm 0.1 < eps = 0.5.
    scaled = x1.copy()
    scaled[0] *= 0.1 / np.linalg.norm(scaled[0])
    check_module(nn.CosineSimilarity(dim=1, eps=0.5), (scaled, x2))
    y = module(x1, x2)
    g1, g2 = module.backward(g)
    ty, t1, t2 = _torch_gradients("CosineSimilarity", {"dim": 1, "eps": 1e-6}, x1, x2, g)
    np.testing.assert_allclose(y, ty, rtol=1e-12)
    np.testing.assert_allclose(g2, t2, rtol=1e-10)
    np.testing.assert_allclose(g1[1:], t1[1:], rtol=1e-10)
    grad_u = g[0] * x2[0] / np.linalg.norm(x2[0])
    torch_extra = -(x1[0] @ grad_u) / 1e-12 * x1[0] / np.linalg.norm(x1[0])
    np.testing.assert_allclose(g1[0], grad_u / 1e-6)
    np.testing.assert_allclose(t1[0], g1[0] + torch_extra, rtol=1e-10)


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0])
def test_zero_distance_has_torchs_gradient(p: float) -> None:
    x = np.random.default_rng(2).standard_normal((2, 3))
    g = np.ones(2)
    module = nn.PairwiseDistance(p=p, eps=0.0)
    y = module(x, x.copy())
    g1, g2 = module.backward(g)
    ty, t1, t2 = _torch_gradients("PairwiseDistance", {"p": p, "eps": 0.0}, x, x.copy(), g)
    np.testing.assert_array_equal(y, ty)
    np.testing.assert_array_equal(g1, t1)
    np.testing.assert_array_equal(g2, t2)


@pytest.mark.parametrize("p", [0.0, 0.5])
def test_pairwise_distance_takes_any_p_from_zero_as_torch(p: float) -> None:
    """p = 0 (the count of nonzero differences) and 0 < p < 1 are allowed, as in torch
    (the mutation run: a bound of ``p > 0`` or ``p >= 1`` survived, and p = 0 then crashed
    with a ZeroDivisionError); a negative p is not."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x1, x2 = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    x2[0, :2] = x1[0, :2]  # some differences exactly 0
    module = nn.PairwiseDistance(p=p)
    ours = module(x1, x2)
    t1 = torch.from_numpy(x1).requires_grad_(True)
    theirs = torch.nn.PairwiseDistance(p=p)(t1, torch.from_numpy(x2))
    np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-12)
    g1, g2 = module.backward(np.ones(4))
    theirs.sum().backward()
    their_g1 = np.zeros_like(x1) if t1.grad is None else t1.grad.numpy()  # p = 0: no grad
    np.testing.assert_allclose(g1, their_g1, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(g2, -g1)
    with pytest.raises(ValueError, match="p must be at least 0"):
        nn.PairwiseDistance(p=-1.0)
