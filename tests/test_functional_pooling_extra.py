"""The functional pooling names that return indices, the 1-D backward siblings, pdist and
gumbel_softmax, against torch.nn.functional and torch's autograd (float64)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import refnet.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

# name -> (input shape, positional arguments after the input, keyword arguments)
WITH_INDICES: dict[str, tuple[tuple[int, ...], tuple[Any, ...], dict[str, Any]]] = {
    "max_pool1d_with_indices": ((2, 3, 11), (3,), {"stride": 2, "padding": 1, "dilation": 2}),
    "max_pool2d_with_indices": ((2, 3, 9, 8), (2,), {"ceil_mode": True}),
    "max_pool3d_with_indices": ((1, 2, 6, 5, 6), (2,), {"stride": 1}),
    "adaptive_max_pool1d_with_indices": ((2, 3, 10), (4,), {}),
    "adaptive_max_pool2d_with_indices": ((2, 3, 9, 7), ((4, 3),), {}),
    "adaptive_max_pool3d_with_indices": ((1, 2, 5, 6, 7), (3,), {}),
}


def _torch_grad(
    name: str, x: np.ndarray, args: tuple[Any, ...], kwargs: dict[str, Any], grad: np.ndarray
) -> np.ndarray:
    t = torch.tensor(x, requires_grad=True)
    getattr(TF, name)(t, *args, **kwargs)[0].backward(torch.from_numpy(grad))
    return t.grad.numpy()


@pytest.mark.parametrize("name", sorted(WITH_INDICES))
def test_with_indices_and_their_backward_match_torch(name: str) -> None:
    shape, args, kwargs = WITH_INDICES[name]
    rng = np.random.default_rng(len(name))
    x = rng.normal(size=shape)
    y, i = getattr(F, name)(x, *args, **kwargs)
    ty, ti = getattr(TF, name)(torch.from_numpy(x), *args, **kwargs)
    np.testing.assert_array_equal(y, ty.numpy())
    np.testing.assert_array_equal(i, ti.numpy())
    grad = rng.normal(size=y.shape)
    dx = getattr(F, f"{name}_backward")(grad, x, *args, **kwargs)
    np.testing.assert_allclose(dx, _torch_grad(name, x, args, kwargs, grad), rtol=1e-12)


def test_fractional_with_indices_match_torch() -> None:
    rng = np.random.default_rng(0)
    x, samples = rng.normal(size=(2, 3, 10, 9)), rng.random((2, 3, 2))
    y, i = F.fractional_max_pool2d_with_indices(x, 2, output_size=(5, 4), _random_samples=samples)
    ty, ti = TF.fractional_max_pool2d_with_indices(
        torch.from_numpy(x), 2, output_size=(5, 4), _random_samples=torch.from_numpy(samples)
    )
    np.testing.assert_array_equal(y, ty.numpy())
    np.testing.assert_array_equal(i, ti.numpy())
    grad = np.ones_like(y)
    dx = F.fractional_max_pool2d_with_indices_backward(grad, x, 2, (5, 4), None, samples)
    assert dx.sum() == grad.sum()


def test_one_dimensional_backward_siblings_match_torch() -> None:
    rng = np.random.default_rng(1)
    x, w, b = rng.normal(size=(2, 4, 12)), rng.normal(size=(6, 2, 3)), rng.normal(size=6)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    out = TF.conv1d(tx, tw, tb, stride=2, padding=1, dilation=2, groups=2)
    grad = rng.normal(size=out.shape)
    out.backward(torch.from_numpy(grad))
    grads = F.conv1d_backward(grad, x, w, b, stride=2, padding=1, dilation=2, groups=2)
    for got, tensor in zip(grads, (tx, tw, tb), strict=True):
        np.testing.assert_allclose(got, tensor.grad.numpy(), rtol=1e-10)
    for name, kwargs in (
        ("avg_pool1d", {"padding": 1, "count_include_pad": False}),
        ("max_pool1d", {"stride": 1}),
    ):
        t = torch.tensor(x, requires_grad=True)
        y = getattr(TF, name)(t, 3, **kwargs)
        g = rng.normal(size=y.shape)
        y.backward(torch.from_numpy(g))
        dx = getattr(F, f"{name}_backward")(g, x, 3, **kwargs)
        np.testing.assert_allclose(dx, t.grad.numpy(), rtol=1e-12, err_msg=name)


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, float("inf")])
def test_pdist_and_its_backward_match_torch(p: float) -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(6, 4))
    t = torch.tensor(x, requires_grad=True)
    y = TF.pdist(t, p)
    grad = rng.normal(size=y.shape)
    y.backward(torch.from_numpy(grad))
    np.testing.assert_allclose(F.pdist(x, p), y.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(F.pdist_backward(grad, x, p), t.grad.numpy(), rtol=1e-10)


@pytest.mark.parametrize("hard", [False, True])
def test_gumbel_softmax_is_torchs_formula_on_the_same_noise(hard: bool) -> None:
    rng = np.random.default_rng(3)
    logits, grad = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    y = F.gumbel_softmax(logits, tau=0.7, hard=hard, generator=11)
    noise = -np.log(np.random.default_rng(11).standard_exponential((4, 5)))
    t = torch.tensor(logits, requires_grad=True)
    soft = torch.softmax((t + torch.from_numpy(noise)) / 0.7, dim=-1)
    if hard:
        one_hot = TF.one_hot(soft.argmax(-1), 5).double()
        soft = one_hot - soft.detach() + soft  # torch's straight-through
    soft.backward(torch.from_numpy(grad))
    np.testing.assert_allclose(y, soft.detach().numpy(), rtol=1e-12)
    dx = F.gumbel_softmax_backward(grad, logits, tau=0.7, hard=hard, generator=11)
    np.testing.assert_allclose(dx, t.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_gumbel_max_samples_follow_the_softmax() -> None:
    """argmax of the hard sample is distributed as softmax(logits) (the Gumbel-max trick)."""
    logits = np.log(np.array([0.1, 0.2, 0.7]))
    draws = F.gumbel_softmax(np.tile(logits, (20000, 1)), hard=True, generator=5)
    np.testing.assert_allclose(draws.mean(axis=0), [0.1, 0.2, 0.7], atol=0.015)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("upsample", {"scale_factor": 2, "mode": "bilinear", "align_corners": False}),
        ("upsample_nearest", {"size": (5, 7)}),
        ("upsample_bilinear", {"scale_factor": 2}),
    ],
)
def test_deprecated_upsample_names_match_torch(name: str, kwargs: dict[str, Any]) -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 3, 4, 3))
    t = torch.tensor(x, requires_grad=True)
    y = getattr(TF, name)(t, **kwargs)
    grad = rng.normal(size=y.shape)
    y.backward(torch.from_numpy(grad))
    np.testing.assert_allclose(getattr(F, name)(x, **kwargs), y.detach().numpy(), rtol=1e-12)
    dx = getattr(F, f"{name}_backward")(grad, x, **kwargs)
    np.testing.assert_allclose(dx, t.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("norm", [2.0, 1.5, float("inf")])
def test_lp_pool3d_and_its_backward_match_torch(norm: float) -> None:
    rng = np.random.default_rng(9)
    x = rng.uniform(0.2, 2.0, size=(2, 3, 5, 4, 6))
    t = torch.tensor(x, requires_grad=True)
    y = TF.lp_pool3d(t, norm, (2, 1, 2), stride=1, ceil_mode=True)
    grad = rng.normal(size=y.shape)
    y.backward(torch.from_numpy(grad))
    ours = F.lp_pool3d(x, norm, (2, 1, 2), stride=1, ceil_mode=True)
    np.testing.assert_allclose(ours, y.detach().numpy(), rtol=1e-12)
    dx = F.lp_pool3d_backward(grad, x, norm, (2, 1, 2), stride=1, ceil_mode=True)
    np.testing.assert_allclose(dx, t.grad.numpy(), rtol=1e-10)
