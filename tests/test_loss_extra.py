"""Specific behaviour of refnet.nn.loss_extra beyond the generic loss properties: the
Gaussian NLL's clamp and variance shapes, the multi-label margin's target convention,
the refusals, and distances with parameters or without a backward."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import refnet.nn as nn
from refnet.gradcheck import numerical_gradient
from refnet.nn import functional as F


def _torch() -> Any:
    return pytest.importorskip("torch")


# ---------------------------------------------------------------------- GaussianNLLLoss


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_gaussian_nll_gradient_at_the_clamp_is_torchs_straight_through(reduction: str) -> None:
    """Below eps the loss is flat in var (numerical derivative 0) but both libraries pass
    the formula's value at v = eps to var, as documented."""
    torch = _torch()
    rng = np.random.default_rng(0)
    x, t = rng.normal(size=(2, 4)), rng.normal(size=(2, 4))
    var = rng.uniform(0.5, 1.5, (2, 4))
    clamped = np.zeros_like(var, dtype=bool)
    clamped[0, 1] = clamped[1, 3] = True
    var[clamped] = [1e-4, 5e-3]  # below eps, and positive under the differences
    loss = nn.GaussianNLLLoss(eps=1e-2, reduction=reduction)
    value = loss(x, t, var)
    g_x, g_var = loss.backward()

    tx, tv = (
        torch.from_numpy(x.copy()).requires_grad_(),
        torch.from_numpy(var.copy()).requires_grad_(),
    )
    theirs = torch.nn.GaussianNLLLoss(eps=1e-2, reduction=reduction)(tx, torch.from_numpy(t), tv)
    theirs.backward()
    np.testing.assert_allclose(value, theirs.item(), rtol=1e-12)
    np.testing.assert_allclose(g_x, tx.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(g_var, tv.grad.numpy(), rtol=1e-12)

    numerical = numerical_gradient(lambda: float(loss(x, t, var)), var, 1e-6)
    assert np.all(numerical[clamped] == 0)  # what the computed function does
    assert np.all(g_var[clamped] != 0)  # what torch's (and refnet's) gradient says
    v = 1e-2
    d = x[clamped] - t[clamped]
    scale = 1.0 if reduction == "sum" else 1 / x.size
    np.testing.assert_allclose(g_var[clamped], 0.5 * (1 / v - d * d / v**2) * scale, rtol=1e-12)
    np.testing.assert_allclose(g_var[~clamped], numerical[~clamped], rtol=1e-6)


@pytest.mark.parametrize("var_shape", [(3, 4), (3,), (3, 1), (1, 4)])
def test_gaussian_nll_variance_shapes_match_torch(var_shape: tuple[int, ...]) -> None:
    torch = _torch()
    rng = np.random.default_rng(1)
    x, t, var = rng.normal(size=(3, 4)), rng.normal(size=(3, 4)), rng.uniform(0.2, 2, var_shape)
    loss = nn.GaussianNLLLoss(reduction="none")
    value = loss(x, t, var)
    G = rng.normal(size=value.shape)
    _, g_var = loss.backward(G)
    assert g_var.shape == var_shape
    tx, tv = (
        torch.from_numpy(x.copy()).requires_grad_(),
        torch.from_numpy(var.copy()).requires_grad_(),
    )
    theirs = torch.nn.GaussianNLLLoss(reduction="none")(tx, torch.from_numpy(t), tv)
    theirs.backward(torch.from_numpy(G))
    np.testing.assert_allclose(value, theirs.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(g_var, tv.grad.numpy(), rtol=1e-12)


def test_gaussian_nll_with_a_number_for_var_returns_the_input_gradient_alone() -> None:
    torch = _torch()
    rng = np.random.default_rng(2)
    x, t = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    loss = nn.GaussianNLLLoss(full=True)
    value = loss(x, t, 0.7)
    grad = loss.backward()
    assert isinstance(grad, np.ndarray) and grad.shape == x.shape
    tx = torch.from_numpy(x.copy()).requires_grad_()
    theirs = torch.nn.GaussianNLLLoss(full=True)(tx, torch.from_numpy(t), 0.7)
    theirs.backward()
    np.testing.assert_allclose(value, theirs.item(), rtol=1e-12)
    np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize(
    ("var", "message"),
    [
        (np.ones((3, 2)), "does not fit"),
        (np.ones((1, 1)), "does not fit"),  # two axes of size 1: torch refuses too
        (-np.ones((3, 4)), "negative"),
        (-1.0, "non-negative"),
        (np.ones((3, 4), dtype=np.float32), "dtype"),
    ],
)
def test_gaussian_nll_refuses_a_bad_variance(var: Any, message: str) -> None:
    x = np.zeros((3, 4))
    with pytest.raises((ValueError, TypeError), match=message) as error:
        nn.GaussianNLLLoss()(x, x, var)
    assert "GaussianNLLLoss(" in str(error.value)


# ---------------------------------------------------------------------- the margins


def test_multilabel_margin_reads_targets_up_to_the_first_minus_one() -> None:
    """torch's documented example: targets [3, 0, -1, 1] mean classes 3 and 0."""
    torch = _torch()
    x = np.array([[0.1, 0.2, 0.4, 0.8]])
    y = np.array([[3, 0, -1, 1]])
    expected = torch.nn.MultiLabelMarginLoss()(torch.from_numpy(x), torch.from_numpy(y)).item()
    ours = nn.MultiLabelMarginLoss()(x, y)
    np.testing.assert_allclose(ours, expected, rtol=1e-12)
    # By hand: classes {3, 0} against {1, 2}; (1-(0.8-0.2) + 1-(0.8-0.4) + 1-(0.1-0.2)
    # + 1-(0.1-0.4)) / 4.
    np.testing.assert_allclose(ours, (0.4 + 0.6 + 1.1 + 1.3) / 4, rtol=1e-12)
    # What follows the -1 does not matter.
    np.testing.assert_allclose(nn.MultiLabelMarginLoss()(x, np.array([[3, 0, -1, 2]])), ours)


def test_multilabel_margin_refuses_bad_targets() -> None:
    loss = nn.MultiLabelMarginLoss()
    x = np.zeros((2, 3))
    with pytest.raises(ValueError, match="out of range"):
        loss(x, np.array([[0, 3, -1], [1, -1, -1]]))
    with pytest.raises(ValueError, match="out of range"):
        loss(x, np.array([[0, -2, -1], [1, -1, -1]]))
    with pytest.raises(TypeError, match="integer"):
        loss(x, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="shape"):
        loss(x, np.zeros((2, 2), dtype=np.int64))


def test_soft_margin_refuses_zero_one_labels() -> None:
    with pytest.raises(ValueError, match="1 or -1"):
        nn.SoftMarginLoss()(np.zeros(3), np.array([0.0, 1.0, 1.0]))


def test_soft_margin_is_finite_for_large_scores() -> None:
    x = np.array([-800.0, 800.0])
    loss = nn.SoftMarginLoss(reduction="none")
    np.testing.assert_allclose(loss(x, np.ones(2)), [800.0, 0.0])
    np.testing.assert_allclose(loss.backward(np.ones(2)), [-1.0, 0.0])


def test_multilabel_soft_margin_weight_must_broadcast() -> None:
    with pytest.raises(ValueError, match="weight"):
        nn.MultiLabelSoftMarginLoss(np.ones(3))(np.zeros((2, 4)), np.zeros((2, 4)))


# ---------------------------------------------------------------------- distances


class _ScaledDistance(nn.Module):
    """A learned metric: ‖W(x1 - x2)‖₂ with a parameter W, to see gradients accumulate."""

    def __init__(self, D: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(np.random.default_rng(3).normal(size=(D, D)))
        self._cache: tuple[Any, Any, Any] | None = None

    def forward(self, x1: Any, x2: Any) -> Any:
        diff = x1 - x2
        z = diff @ self.weight.data.T
        d = np.sqrt(np.sum(z * z, axis=-1))
        self._cache = (diff, z, d)
        return d

    def backward(self, grad: Any) -> tuple[Any, Any]:
        diff, z, d = self._saved(self._cache)
        g_z = grad[..., None] * z / d[..., None]
        self.weight.grad += g_z.T @ diff
        g_diff = g_z @ self.weight.data
        return g_diff, -g_diff


def test_triplet_with_a_learned_distance_gets_every_call_s_gradient() -> None:
    """The distance module is called three times (swap); its call records give each call
    its own backward, and its parameter gradient matches central differences."""
    rng = np.random.default_rng(4)
    a, p, n = rng.normal(size=(3, 5, 3))
    metric = _ScaledDistance(3)
    loss = nn.TripletMarginWithDistanceLoss(distance_function=metric, margin=2.0, swap=True)
    assert "distance_function" in dict(loss.named_children())
    metric.zero_grad()
    loss(a, p, n)
    grads = loss.backward()
    for g, v in zip(grads, (a, p, n), strict=True):
        numerical = numerical_gradient(lambda: float(loss(a, p, n)), v, 1e-6)
        np.testing.assert_allclose(g, numerical, rtol=1e-6, atol=1e-9)
    numerical_w = numerical_gradient(lambda: float(loss(a, p, n)), metric.weight.data, 1e-6)
    np.testing.assert_allclose(metric.weight.grad, numerical_w, rtol=1e-6, atol=1e-9)


def test_triplet_refuses_a_distance_without_a_backward() -> None:
    with pytest.raises(TypeError, match="backward"):
        nn.TripletMarginWithDistanceLoss(distance_function=lambda x, y: np.abs(x - y).sum(-1))


def test_triplet_takes_a_function_with_a_backward_attribute() -> None:
    def l1(x1: Any, x2: Any) -> Any:
        return np.abs(x1 - x2).sum(-1)

    def l1_backward(grad: Any, x1: Any, x2: Any) -> tuple[Any, Any]:
        g = grad[..., None] * np.sign(x1 - x2)
        return g, -g

    l1.backward = l1_backward  # type: ignore[attr-defined]
    rng = np.random.default_rng(5)
    a, p, n = rng.normal(size=(3, 4, 2))
    ours = nn.TripletMarginWithDistanceLoss(distance_function=l1, margin=1.0)
    ref = nn.TripletMarginWithDistanceLoss(distance_function=nn.PairwiseDistance(p=1, eps=0.0))
    np.testing.assert_allclose(ours(a, p, n), ref(a, p, n), rtol=1e-12)
    for g, h in zip(ours.backward(), ref.backward(), strict=True):
        np.testing.assert_allclose(g, h, rtol=1e-12)


def test_triplet_default_distance_is_pairwise_distance_as_in_torch() -> None:
    torch = _torch()
    ours, theirs = nn.TripletMarginWithDistanceLoss(), torch.nn.TripletMarginWithDistanceLoss()
    assert repr(ours) == repr(theirs)
    assert isinstance(ours.distance_function, nn.PairwiseDistance)
    rng = np.random.default_rng(6)
    a, p, n = rng.normal(size=(3, 4, 3))
    expected = theirs(*(torch.from_numpy(v) for v in (a, p, n))).item()
    np.testing.assert_allclose(ours(a, p, n), expected, rtol=1e-12)
    np.testing.assert_allclose(
        F.triplet_margin_with_distance_loss(a, p, n, distance_function=F.pairwise_distance),
        expected,
        rtol=1e-12,
    )


def test_triplet_refuses_a_distance_of_the_wrong_shape() -> None:
    loss = nn.TripletMarginWithDistanceLoss(distance_function=nn.PairwiseDistance(keepdim=True))
    x = np.ones((2, 3))
    with pytest.raises(ValueError, match="one value per sample"):
        loss(x, x, x)


def test_gaussian_nll_takes_a_variance_of_zero_as_torch() -> None:
    torch = _torch()
    x, t = np.array([0.5, -1.0]), np.array([0.0, 0.0])
    ours = nn.GaussianNLLLoss(eps=0.1)(x, t, 0.0)
    theirs = torch.nn.GaussianNLLLoss(eps=0.1)(torch.from_numpy(x), torch.from_numpy(t), 0.0)
    np.testing.assert_allclose(ours, theirs.item(), rtol=1e-13)


def test_multilabel_margin_hinge_exactly_met_passes_no_gradient_as_torch() -> None:
    torch = _torch()
    x, y = np.array([[0.0, 1.0, 3.0]]), np.array([[1, -1, 0]])  # z = 1 - 1 + 0 = 0 for class 0
    loss = nn.MultiLabelMarginLoss(reduction="sum")
    loss(x, y)
    grad = loss.backward()
    tx = torch.from_numpy(x.copy()).requires_grad_()
    torch.nn.MultiLabelMarginLoss(reduction="sum")(tx, torch.from_numpy(y)).backward()
    np.testing.assert_array_equal(grad, tx.grad.numpy())
    assert grad[0, 0] == 0


def test_triplet_with_distance_refuses_a_margin_of_zero_as_torch() -> None:
    with pytest.raises(ValueError, match="margin"):
        nn.TripletMarginWithDistanceLoss(margin=0.0)
