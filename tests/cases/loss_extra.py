"""Cases for the losses of :mod:`refnet.nn.loss_extra`, values built away from kinks.

``GaussianNLLLoss`` is called ``(input, target, var)`` but differentiates ``input`` and
``var``, while the generic tests call a loss as ``criterion(*inputs, *targets)``. Its
case uses a thin subclass taking ``(input, var, target)`` (and a torch twin doing the
same), so the generic gradient check and torch agreement cover ``var``'s gradient too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

import refnet.nn as nn
from refnet._typing import Array
from refnet.nn import functional as F
from refnet.testing import arrays, shapes
from tests.cases.loss import GAP, _reduction, _rng, _triplet_values, away_from
from tests.cases.registry import LossCase, loss_case

Draw = st.DrawFn


@loss_case(nn.SoftMarginLoss)
def soft_margin_case(draw: Draw) -> LossCase:
    rng = _rng(draw)
    shape = draw(shapes(min_dims=1, max_dims=3, max_side=4))
    x = draw(arrays(shape, low=-4.0, high=4.0))
    y = rng.choice([-1.0, 1.0], size=shape)
    if draw(st.booleans()):
        y = y.astype(np.int64)
    return LossCase(nn.SoftMarginLoss(reduction=_reduction(draw)), (x,), (y,))


@loss_case(nn.MultiLabelSoftMarginLoss)
def multilabel_soft_margin_case(draw: Draw) -> LossCase:
    rng = _rng(draw)
    C = draw(st.integers(1, 5))
    shape = (C,) if draw(st.booleans()) else (draw(st.integers(1, 4)), C)
    x = draw(arrays(shape, low=-4.0, high=4.0))
    if draw(st.booleans()):
        y = rng.integers(0, 2, shape).astype(np.float64)
    else:
        y = rng.uniform(0.0, 1.0, shape)
    weight = rng.uniform(0.2, 2.0, C) if draw(st.booleans()) else None
    criterion = nn.MultiLabelSoftMarginLoss(weight, reduction=_reduction(draw))
    return LossCase(criterion.double(), (x,), (y,))


@loss_case(nn.MultiLabelMarginLoss)
def multilabel_margin_case(draw: Draw) -> LossCase:
    """Scores whose pairwise differences stay away from the hinge ``x_{y_j} - x_i = 1``."""
    rng = _rng(draw)
    C = draw(st.integers(1, 5))
    N = draw(st.integers(1, 4))
    single = draw(st.booleans())
    rows = 1 if single else N
    # Scores k·0.4 with a jitter of ±0.05: differences are multiples of 0.4 off by at
    # most 0.1, never within GAP of 1 (0.8 ± 0.1 and 1.2 ± 0.1 are the nearest).
    base = np.stack([rng.permutation(C) for _ in range(rows)]) * 0.4
    x = base + rng.uniform(-0.05, 0.05, base.shape) + rng.uniform(-1.0, 1.0, (rows, 1))
    target = np.full((rows, C), -1, dtype=np.int64)
    for n in range(rows):
        k = rng.integers(0, C + 1)  # how many listed (0: none, C: all)
        listed = rng.choice(C, size=k, replace=False)
        if k and draw(st.booleans()):
            listed = np.append(listed, listed[0])[:C]  # a class listed twice counts twice
        target[n, : len(listed)] = listed
        if len(listed) + 1 < C and draw(st.booleans()):
            target[n, len(listed) + 1 :] = rng.integers(0, C, C - len(listed) - 1)  # ignored
    assert GAP < 0.1
    if single:
        x, target = x[0], target[0]
    criterion = nn.MultiLabelMarginLoss(reduction=_reduction(draw))
    return LossCase(criterion, (x,), (target,))


class _GaussianInputVarTarget(nn.GaussianNLLLoss):
    """``GaussianNLLLoss`` called ``(input, var, target)``: both differentiated inputs
    first, as the generic tests call losses."""

    def forward(self, input: Array, var: Array, target: Array) -> Any:  # type: ignore[override]
        return super().forward(input, target, var)


def _register_gaussian_twin() -> None:
    try:
        import torch

        from refnet.interop.torch import register_to_torch
    except ImportError:  # pragma: no cover - torch is optional
        return

    class Twin(torch.nn.Module):
        def __init__(self, loss: torch.nn.Module) -> None:
            super().__init__()
            self.loss = loss

        def forward(self, input: Any, var: Any, target: Any) -> Any:
            return self.loss(input, target, var)

    @register_to_torch(_GaussianInputVarTarget)
    def _twin(module: nn.Module) -> Any:
        assert isinstance(module, nn.GaussianNLLLoss)
        loss = torch.nn.GaussianNLLLoss(
            full=module.full, eps=module.eps, reduction=module.reduction
        )
        return Twin(loss)


_register_gaussian_twin()


@loss_case(nn.GaussianNLLLoss)
def gaussian_nll_case(draw: Draw) -> LossCase:
    rng = _rng(draw)
    shape = draw(shapes(min_dims=1, max_dims=3, max_side=4))
    x = draw(arrays(shape))
    t = draw(arrays(shape))
    kind = draw(st.sampled_from(["full", "last dropped", "one axis of 1"]))
    if kind == "full" or (kind == "last dropped" and len(shape) < 2):
        var_shape = shape
    elif kind == "last dropped":
        var_shape = shape[:-1]
    else:
        axis = draw(st.integers(0, len(shape) - 1))
        var_shape = tuple(1 if i == axis else s for i, s in enumerate(shape))
    eps = draw(st.sampled_from([1e-6, 0.05]))
    # Away from the clamp (where PyTorch's gradient is not the derivative; see the class).
    var = rng.uniform(0.2, 2.0, var_shape)
    criterion = _GaussianInputVarTarget(
        full=draw(st.booleans()), eps=eps, reduction=_reduction(draw)
    )
    return LossCase(criterion, (x, var), (t,))


@loss_case(nn.TripletMarginWithDistanceLoss)
def triplet_with_distance_case(draw: Draw) -> LossCase:
    rng = _rng(draw)
    D = draw(st.integers(2, 4))
    shape = (D,) if draw(st.booleans()) else (draw(st.integers(1, 4)), D)
    kind = draw(st.sampled_from(["default", "module p=1", "module p=3", "function", "cosine"]))
    swap = draw(st.booleans())
    distance: Any = None
    p, eps = 2.0, 1e-6
    if kind.startswith("module"):
        p = float(kind[-1])
        distance = nn.PairwiseDistance(p=p, eps=eps)
    elif kind == "function":
        distance = F.pairwise_distance
    elif kind == "cosine":
        distance = nn.CosineSimilarity(dim=-1)
        if len(shape) == 1:
            shape = (1, D)
    a, pos, neg = _triplet_values(rng, shape, p, eps, swap)
    d = distance if distance is not None else nn.PairwiseDistance()
    d_ap, d_an = d(a, pos), d(a, neg)
    d_neg = np.minimum(d_an, d(pos, neg)) if swap else d_an
    if swap:  # no near-tie in the swap's minimum
        d_pn = d(pos, neg)
        if np.min(np.abs(d_an - d_pn)) < GAP:
            swap = False
            d_neg = d_an
    margin = away_from(draw(st.floats(0.1, 3.0)), d_neg - d_ap, above=0.0)
    criterion = nn.TripletMarginWithDistanceLoss(
        distance_function=distance, margin=margin, swap=swap, reduction=_reduction(draw)
    )
    return LossCase(criterion, (a, pos, neg))
