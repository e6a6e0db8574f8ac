"""Exact boundaries against torch: kinks, ties and degenerate reductions.

The property tests keep away from kinks on purpose (a numerical gradient is meaningless
there), so here each case puts inputs *on* them: ReLU at 0, Hardtanh at its limits, a
hinge whose argument is exactly 0, a tied distance in the triplet swap, a batch whose
targets are all ignored. At a kink the gradient is a choice; PyTorch's choice is the
reference, so the forward and the gradient of every input must equal torch's exactly
(float64; agreement to 1e-15 relative, to allow for summation order).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import refnet.nn as nn

torch = pytest.importorskip("torch")


def torch_forward_backward(
    module: Any,
    inputs: list[np.ndarray[Any, Any]],
    grad: np.ndarray[Any, Any] | None,
    differentiated: int = 1,
) -> tuple[np.ndarray[Any, Any], list[np.ndarray[Any, Any] | None]]:
    """torch's output and the gradients of the first ``differentiated`` inputs."""
    tensors = [torch.tensor(a, requires_grad=k < differentiated) for k, a in enumerate(inputs)]
    out = module(*tensors)
    out.backward(torch.ones_like(out) if grad is None else torch.tensor(grad))
    grads = [None if t.grad is None else t.grad.numpy() for t in tensors]
    return out.detach().numpy(), grads


def assert_same(ours: Any, theirs: Any, what: str, rtol: float = 1e-15) -> None:
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=1e-300, err_msg=what)


#: torch computes these in float64 with a float32 constant (Hardsigmoid's slope 1/6,
#: BCELoss's clamp 1e-12), a relative 3e-8 and 4e-9 from the exact value refnet uses.
FLOAT32_CONSTANT = {"Hardsigmoid": 3e-8, "BCELoss at 0 and 1": 5e-9}


ACTIVATIONS: list[tuple[str, Callable[[], Any], Callable[[], Any], list[float]]] = [
    ("ReLU", nn.ReLU, torch.nn.ReLU, [-1.0, 0.0, 1.0]),
    ("LeakyReLU", nn.LeakyReLU, torch.nn.LeakyReLU, [-1.0, 0.0, 1.0]),
    ("ELU", nn.ELU, torch.nn.ELU, [-1.0, 0.0, 1.0]),
    ("ELU(0.5)", lambda: nn.ELU(0.5), lambda: torch.nn.ELU(0.5), [-1.0, 0.0, 1.0]),
    ("SELU", nn.SELU, torch.nn.SELU, [-1.0, 0.0, 1.0]),
    ("Hardtanh", nn.Hardtanh, torch.nn.Hardtanh, [-2.0, -1.0, 0.0, 1.0, 2.0]),
    (
        "Hardtanh(-0.5, 0.25)",
        lambda: nn.Hardtanh(-0.5, 0.25),
        lambda: torch.nn.Hardtanh(-0.5, 0.25),
        [-0.5, 0.25, 0.0, -0.75, 0.5],
    ),
    ("ReLU6", nn.ReLU6, torch.nn.ReLU6, [-1.0, 0.0, 3.0, 6.0, 7.0]),
    ("Hardsigmoid", nn.Hardsigmoid, torch.nn.Hardsigmoid, [-4.0, -3.0, 0.0, 3.0, 4.0]),
    ("Hardswish", nn.Hardswish, torch.nn.Hardswish, [-4.0, -3.0, 0.0, 3.0, 4.0]),
    # A 1-D input: one slope for all; torch's PReLU is float32 by default, so as double.
    ("PReLU", nn.PReLU, lambda: torch.nn.PReLU().double(), [-1.0, 0.0, 1.0]),
    ("Softplus", nn.Softplus, torch.nn.Softplus, [19.5, 20.0, 20.5]),
    (
        "Softplus(2, 5)",
        lambda: nn.Softplus(beta=2.0, threshold=5.0),
        lambda: torch.nn.Softplus(beta=2.0, threshold=5.0),
        [2.0, 2.5, 3.0],
    ),
]


@pytest.mark.parametrize(
    ("name", "ours", "theirs", "values"),
    [pytest.param(*case, id=case[0]) for case in ACTIVATIONS],
)
def test_activation_at_its_kinks_matches_torch(
    name: str, ours: Callable[[], Any], theirs: Callable[[], Any], values: list[float]
) -> None:
    x = np.array(values)
    grad = np.linspace(0.5, 1.5, x.size)
    expected, (expected_grad,) = torch_forward_backward(theirs(), [x], grad)
    layer = ours().double()
    assert_same(layer(x), expected, "forward")
    rtol = FLOAT32_CONSTANT.get(name, 1e-15)
    assert_same(layer.backward(grad), expected_grad, "gradient", rtol)


def loss_case(name: str, ours: Callable[[], Any], theirs: Callable[[], Any], *inputs: Any) -> Any:
    return pytest.param(name, ours, theirs, [np.asarray(a) for a in inputs], id=name)


LOSSES = [
    loss_case(
        "L1Loss, equal entries", nn.L1Loss, torch.nn.L1Loss, [1.0, 2.0, 3.0], [1.0, 0.0, 3.0]
    ),
    loss_case(
        "SmoothL1Loss at |d| = beta",
        nn.SmoothL1Loss,
        torch.nn.SmoothL1Loss,
        [1.0, -1.0, 0.0, 2.5],
        [0.0, 0.0, 0.0, 0.5],
    ),
    loss_case(
        "SmoothL1Loss, beta 0",
        lambda: nn.SmoothL1Loss(beta=0.0),
        lambda: torch.nn.SmoothL1Loss(beta=0.0),
        [1.0, 0.0, -2.0],
        [1.0, 1.0, 0.0],
    ),
    loss_case(
        "HuberLoss at |d| = delta",
        lambda: nn.HuberLoss(delta=0.5),
        lambda: torch.nn.HuberLoss(delta=0.5),
        [0.5, -0.5, 0.0, 1.0],
        [0.0, 0.0, 0.0, 0.0],
    ),
    loss_case(
        "MarginRankingLoss, hinge argument 0",
        lambda: nn.MarginRankingLoss(margin=0.5),
        lambda: torch.nn.MarginRankingLoss(margin=0.5),
        [1.0, 2.0, 0.0],
        [0.5, 2.5, 1.0],
        [1.0, -1.0, 1.0],
    ),
    loss_case(
        "MarginRankingLoss, target 0 (torch accepts it: the loss is the margin)",
        lambda: nn.MarginRankingLoss(margin=0.5),
        lambda: torch.nn.MarginRankingLoss(margin=0.5),
        [1.0, 2.0, 0.0],
        [0.5, 2.5, 1.0],
        [0.0, 0.0, 1.0],
    ),
    loss_case(
        "HingeEmbeddingLoss at x = margin",
        nn.HingeEmbeddingLoss,
        torch.nn.HingeEmbeddingLoss,
        [1.0, 0.5, 2.0, 1.0],
        [-1.0, -1.0, -1.0, 1.0],
    ),
    loss_case(
        "MultiMarginLoss, margin reached exactly",
        nn.MultiMarginLoss,
        torch.nn.MultiMarginLoss,
        [[2.0, 1.0, 0.5], [0.0, 1.0, 1.0]],
        np.array([0, 2]),
    ),
    loss_case(
        "MultiMarginLoss p=2, margin reached exactly",
        lambda: nn.MultiMarginLoss(p=2),
        lambda: torch.nn.MultiMarginLoss(p=2),
        [[2.0, 1.0, 0.5], [0.0, 1.0, 1.0]],
        np.array([0, 2]),
    ),
    loss_case(
        "TripletMarginLoss swap, tied distances",
        lambda: nn.TripletMarginLoss(swap=True),
        lambda: torch.nn.TripletMarginLoss(swap=True),
        [[1.0, -5.0], [3.0, 0.0]],
        [[-5.0, 1.0], [0.0, 3.0]],
        [[0.0, 0.0], [0.0, 0.0]],
    ),
    loss_case(
        "CrossEntropyLoss, every target ignored",
        nn.CrossEntropyLoss,
        torch.nn.CrossEntropyLoss,
        [[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]],
        np.array([-100, -100]),
    ),
    loss_case(
        "CrossEntropyLoss, every target ignored, smoothing",
        lambda: nn.CrossEntropyLoss(label_smoothing=0.1),
        lambda: torch.nn.CrossEntropyLoss(label_smoothing=0.1),
        [[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]],
        np.array([-100, -100]),
    ),
    loss_case(
        "NLLLoss, every target ignored",
        nn.NLLLoss,
        torch.nn.NLLLoss,
        [[-1.0, -2.0, -0.5], [-0.1, -3.0, -1.0]],
        np.array([-100, -100]),
    ),
    loss_case(
        "NLLLoss, every target ignored, sum",
        lambda: nn.NLLLoss(reduction="sum"),
        lambda: torch.nn.NLLLoss(reduction="sum"),
        [[-1.0, -2.0, -0.5], [-0.1, -3.0, -1.0]],
        np.array([-100, -100]),
    ),
    loss_case(
        "BCELoss at 0 and 1",
        nn.BCELoss,
        torch.nn.BCELoss,
        [0.0, 1.0, 0.0, 1.0],
        [0.0, 1.0, 1.0, 0.0],
    ),
]


@pytest.mark.parametrize(("name", "ours", "theirs", "inputs"), LOSSES)
def test_loss_at_its_boundary_matches_torch(
    name: str,
    ours: Callable[[], Any],
    theirs: Callable[[], Any],
    inputs: list[np.ndarray[Any, Any]],
) -> None:
    criterion = ours()
    with np.errstate(invalid="ignore", divide="ignore"):
        loss = criterion(*inputs)
        grad = criterion.backward()
    ours_grads = grad if isinstance(grad, tuple) else (grad,)
    expected, grads = torch_forward_backward(theirs(), inputs, None, len(ours_grads))
    assert_same(loss, expected, "loss")
    for k, (mine, their) in enumerate(zip(ours_grads, grads, strict=False)):
        assert_same(mine, their, f"gradient of input {k}", FLOAT32_CONSTANT.get(name, 1e-15))
