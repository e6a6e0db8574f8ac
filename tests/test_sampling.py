"""affine_grid and grid_sample (refnet.nn.functional.sampling) against torch and its
autograd in float64, over every mode, padding mode and align_corners; and central
differences of the grid gradient away from pixel boundaries."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import refnet.nn.functional as F
from refnet.gradcheck import compare, numerical_gradient

torch = pytest.importorskip("torch")


@given(seed=st.integers(0, 2**16), align_corners=st.booleans())
def test_affine_grid_and_its_backward_match_torch(seed: int, align_corners: bool) -> None:
    rng = np.random.default_rng(seed)
    N, H, W = rng.integers(1, 4), rng.integers(1, 6), rng.integers(1, 6)
    theta = rng.normal(size=(N, 2, 3))
    size = (int(N), 3, int(H), int(W))
    t = torch.tensor(theta, requires_grad=True)
    grid = torch.nn.functional.affine_grid(t, size, align_corners=align_corners)
    g = rng.normal(size=grid.shape)
    grid.backward(torch.from_numpy(g))
    np.testing.assert_allclose(
        F.affine_grid(theta, size, align_corners), grid.detach().numpy(), rtol=1e-12, atol=1e-15
    )
    np.testing.assert_allclose(
        F.affine_grid_backward(g, theta, size, align_corners),
        t.grad.numpy(),
        rtol=1e-12,
        atol=1e-14,
    )


@given(
    seed=st.integers(0, 2**16),
    mode=st.sampled_from(["bilinear", "nearest"]),
    padding_mode=st.sampled_from(["zeros", "border", "reflection"]),
    align_corners=st.booleans(),
)
def test_grid_sample_and_its_backward_match_torch(
    seed: int, mode: str, padding_mode: str, align_corners: bool
) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, 2, int(rng.integers(1, 6)), int(rng.integers(1, 6))))
    grid = rng.uniform(-1.7, 1.7, size=(2, int(rng.integers(1, 5)), int(rng.integers(1, 5)), 2))
    options = {"mode": mode, "padding_mode": padding_mode, "align_corners": align_corners}
    _check_grid_sample_against_torch(x, grid, options, rng, (1e-12, 1e-14), (1e-10, 1e-12))


def _check_grid_sample_against_torch(
    x: np.ndarray,
    grid: np.ndarray,
    options: dict[str, Any],
    rng: np.random.Generator,
    dx_tol: tuple[float, float],
    dg_tol: tuple[float, float],
) -> None:
    """The forward (rtol 1e-12, atol 1e-14) and both gradients (rtol, atol given) as
    torch's autograd gives them, for an upstream gradient drawn from ``rng``."""
    tx, tg = torch.tensor(x, requires_grad=True), torch.tensor(grid, requires_grad=True)
    ty = torch.nn.functional.grid_sample(tx, tg, **options)
    G = rng.normal(size=ty.shape)
    ty.backward(torch.from_numpy(G))
    np.testing.assert_allclose(
        F.grid_sample(x, grid, **options), ty.detach().numpy(), rtol=1e-12, atol=1e-14
    )
    dx, dg = F.grid_sample_backward(G, x, grid, **options)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=dx_tol[0], atol=dx_tol[1])
    np.testing.assert_allclose(dg, tg.grad.numpy(), rtol=dg_tol[0], atol=dg_tol[1])


# Dyadic positions from far outside to far inside: every unnormalised coordinate is exact,
# so the grid lands exactly on pixel centres, on the clamp's ends and on the mirrors of
# reflection (several reflections deep), the kinks where torch's subgradient is the rule.
EXACT_POSITIONS = np.arange(-3.5, 3.75, 0.25)


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("size", [(1, 1), (2, 4), (4, 2), (3, 5)])
def test_grid_sample_on_exact_positions_and_far_outside_as_torch(
    mode: str, padding_mode: str, align_corners: bool, size: tuple[int, int]
) -> None:
    rng = np.random.default_rng(size[0] * 10 + size[1])
    x = rng.normal(size=(1, 2, *size))
    gx, gy = np.meshgrid(EXACT_POSITIONS, EXACT_POSITIONS)
    grid = np.stack([gx, gy], axis=-1)[None]
    options = {"mode": mode, "padding_mode": padding_mode, "align_corners": align_corners}
    _check_grid_sample_against_torch(x, grid, options, rng, (1e-12, 1e-13), (1e-12, 1e-13))


@pytest.mark.filterwarnings("ignore:Since version 1.3.0, affine_grid:UserWarning")
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("size", [(1, 1), (1, 2), (2, 1), (2, 2), (2, 3)])
def test_affine_grid_of_one_and_two_pixels_as_torch(
    align_corners: bool, size: tuple[int, int]
) -> None:
    theta = np.random.default_rng(sum(size)).normal(size=(2, 2, 3))
    shape = (2, 1, *size)
    t = torch.tensor(theta, requires_grad=True)
    grid = torch.nn.functional.affine_grid(t, shape, align_corners=align_corners)
    g = np.random.default_rng(1).normal(size=grid.shape)
    grid.backward(torch.from_numpy(g))
    np.testing.assert_allclose(
        F.affine_grid(theta, shape, align_corners), grid.detach().numpy(), rtol=1e-12, atol=1e-15
    )
    np.testing.assert_allclose(
        F.affine_grid_backward(g, theta, shape, align_corners),
        t.grad.numpy(),
        rtol=1e-12,
        atol=1e-14,
    )


def test_grid_gradient_by_central_differences() -> None:
    """Inside the image and away from pixel boundaries the bilinear sample is smooth."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 2, 5, 6))
    grid = rng.uniform(-0.8, 0.8, size=(1, 3, 4, 2))
    G = rng.normal(size=(1, 2, 3, 4))
    _, dg = F.grid_sample_backward(G, x, grid, align_corners=True)
    numerical = numerical_gradient(
        lambda: (F.grid_sample(x, grid, align_corners=True) * G).ravel(), grid
    )
    report = compare("grid", dg, numerical, rtol=1e-6, atol=1e-9)
    assert not report.mismatches, report


def test_identity_theta_samples_the_image_back() -> None:
    x = np.random.default_rng(1).normal(size=(2, 3, 4, 5))
    identity = np.tile(np.array([[1.0, 0, 0], [0, 1.0, 0]]), (2, 1, 1))
    grid = F.affine_grid(identity, x.shape, align_corners=False)
    np.testing.assert_allclose(F.grid_sample(x, grid, align_corners=False), x, rtol=1e-12)


def test_refusals() -> None:
    x, grid = np.zeros((1, 1, 3, 3)), np.zeros((1, 2, 2, 2))
    with pytest.raises(NotImplementedError, match="bicubic"):
        F.grid_sample(x, grid, mode="bicubic")
    with pytest.raises(ValueError, match="padding_mode"):
        F.grid_sample(x, grid, padding_mode="wrap")
    with pytest.raises(ValueError, match="same N"):
        F.grid_sample(x, np.zeros((2, 2, 2, 2)))
    with pytest.raises(NotImplementedError, match="only 2-D"):
        F.affine_grid(np.zeros((1, 3, 4)), (1, 1, 2, 2, 2))
    with pytest.raises(ValueError, match=r"theta of shape \(1, 2, 3\)"):
        F.affine_grid(np.zeros((1, 3, 3)), (1, 1, 2, 2))
