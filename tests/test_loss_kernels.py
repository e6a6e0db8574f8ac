"""The kernels the losses share (``refnet.nn.functional.loss``), called directly and
compared with torch at the points where they branch: a norm of exactly 0 or 1, ties for
the largest component, targets of exactly 0 and 1, and rows with no finite logit."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import refnet.nn as nn
import refnet.nn.functional as F

P_VALUES = [0.0, 0.5, 1.0, 2.0, 3.0, math.inf]

# Rows chosen for the branches: the zero vector, norms of exactly 1 (for every p), a tie
# for the largest |v_k| (of either sign), and an ordinary row.
EDGE_ROWS = np.array(
    [
        [0.0, 0.0, 0.0],
        [1.0, 0.0, 0.0],
        [0.0, -1.0, 0.0],
        [2.0, -2.0, 1.0],
        [3.0, 3.0, 3.0],
        [0.3, -1.7, 0.9],
    ]
)


@pytest.mark.parametrize("p", P_VALUES)
def test_p_norm_and_its_gradient_at_the_branch_points_as_torch(p: float) -> None:
    torch = pytest.importorskip("torch")
    rows = EDGE_ROWS.reshape(2, 3, 3)  # a leading batch of 2 x 3 rows
    v = torch.from_numpy(rows.copy()).requires_grad_()
    norm = torch.linalg.vector_norm(v, ord=p, dim=-1)
    norm.sum().backward()
    ours = F.p_norm(rows, p)
    np.testing.assert_allclose(ours, norm.detach().numpy(), rtol=1e-14)
    np.testing.assert_allclose(
        F.p_norm_backward(rows, ours, p), _gradient_of(v), rtol=1e-14, atol=1e-15
    )


def _gradient_of(leaf: Any) -> np.ndarray:
    """A torch leaf's gradient; zeros where torch has none (the count of nonzeros, p = 0,
    is not differentiable in torch: a constant, whose gradient is zero)."""
    return np.zeros(leaf.shape) if leaf.grad is None else leaf.grad.numpy()


@pytest.mark.parametrize("p", P_VALUES)
@pytest.mark.parametrize("eps", [0.0, 1e-6, 0.25])
def test_pairwise_distance_backward_as_torch(p: float, eps: float) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    x1, x2, G = rng.normal(size=(2, 4, 3)), rng.normal(size=(2, 4, 3)), rng.normal(size=(2, 4))
    x2[0, 0] = x1[0, 0]  # a zero difference, where eps alone makes the distance
    t1, t2 = (torch.from_numpy(a.copy()).requires_grad_() for a in (x1, x2))
    distance = torch.nn.functional.pairwise_distance(t1, t2, p=p, eps=eps)
    if distance.requires_grad:
        distance.backward(torch.from_numpy(G))
    np.testing.assert_allclose(
        F.pairwise_distance(x1, x2, p, eps), distance.detach().numpy(), rtol=1e-14
    )
    g1, g2 = F.pairwise_distance_backward(G, x1, x2, p, eps)
    np.testing.assert_allclose(g1, _gradient_of(t1), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(g2, _gradient_of(t2), rtol=1e-13, atol=1e-15)


def test_xlogy_takes_zero_where_x_is_zero_as_torch() -> None:
    torch = pytest.importorskip("torch")
    x = np.array([0.0, 0.0, 0.0, 1.0, 1.0, 2.0, 0.5, 1.0])
    y = np.array([0.0, 1.0, 3.0, 1.0, 3.0, 0.0, 2.0, np.inf])
    expected = torch.xlogy(torch.from_numpy(x), torch.from_numpy(y)).numpy()
    np.testing.assert_array_equal(F.xlogy(x, y), expected)


ROWS_WITHOUT_A_FINITE_MAXIMUM = np.array(
    [[-np.inf, -np.inf, -np.inf], [np.inf, 0.0, 1.0], [1.0, np.inf, 3.0], [-np.inf, 2.0, 3.0]]
)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_softmax_parts_of_rows_with_an_infinite_maximum_as_torch() -> None:
    torch = pytest.importorskip("torch")
    x = ROWS_WITHOUT_A_FINITE_MAXIMUM
    p, m, log_z = F.softmax_parts(x, axis=1)
    t = torch.from_numpy(x)
    np.testing.assert_allclose(p, torch.softmax(t, dim=1).numpy(), rtol=1e-15)
    np.testing.assert_allclose((x - m) - log_z, torch.log_softmax(t, dim=1).numpy(), rtol=1e-15)
    np.testing.assert_allclose(F.log_softmax(x, 1), torch.log_softmax(t, dim=1).numpy(), rtol=1e-15)
    np.testing.assert_allclose(F.softmax(x, 1), torch.softmax(t, dim=1).numpy(), rtol=1e-15)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_cross_entropy_of_rows_with_an_infinite_logit_as_torch(label_smoothing: float) -> None:
    """NaN where torch gives NaN (an infinite logit, whichever class is the target)."""
    torch = pytest.importorskip("torch")
    x = ROWS_WITHOUT_A_FINITE_MAXIMUM
    options: dict[str, Any] = {"reduction": "none", "label_smoothing": label_smoothing}
    for targets in (np.array([0, 0, 1, 2]), np.array([1, 2, 0, 0])):
        expected = torch.nn.functional.cross_entropy(
            torch.from_numpy(x), torch.from_numpy(targets), **options
        )
        np.testing.assert_allclose(nn.CrossEntropyLoss(**options)(x, targets), expected, rtol=1e-15)
