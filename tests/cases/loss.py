"""Cases for the losses: shapes, every option, and values built away from kinks.

Each builder draws the hyperparameters through Hypothesis and the values from a NumPy
generator seeded by Hypothesis (see :mod:`refnet.testing`). Hinge-type losses have a
kink where the hinge switches on; the builders move a hyperparameter (the margin) or
the values away from it, so central differences are valid, instead of filtering.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

import refnet.nn as nn
from refnet._typing import Array
from refnet.nn import functional as F
from refnet.testing import arrays, seeds, shapes
from tests.cases.registry import LossCase, loss_case

Draw = st.DrawFn

GAP = 0.05  # distance kept from every kink; far above the gradient check's step (1e-6)


def _reduction(draw: Draw, *extra: str) -> str:
    return draw(st.sampled_from(["mean", "sum", "none", *extra]))


def _rng(draw: Draw) -> np.random.Generator:
    return np.random.default_rng(draw(seeds()))


def away_from(value: float, kinks: Array, gap: float = GAP, above: float = -np.inf) -> float:
    """The number nearest ``value`` that is at least ``gap`` from every kink (and > ``above``)."""
    k = np.ravel(kinks).astype(np.float64)
    candidates = np.concatenate([[value], k - gap, k + gap])
    valid = [
        float(c) for c in candidates if c > above and np.all(np.abs(c - k) >= gap * (1 - 1e-9))
    ]
    return min(valid, key=lambda c: abs(c - value))


# ---------------------------------------------------------------------- regression


def _input_and_target(draw: Draw, kinks: tuple[float, ...] = ()) -> tuple[Array, Array]:
    """A target and an input ``t + d`` whose difference ``d`` avoids ``kinks``."""
    # 0-d inputs work (tests/test_loss.py) but refnet.gradcheck cannot check them yet.
    shape = draw(shapes(min_dims=1, max_dims=3, max_side=4))
    t = draw(arrays(shape))
    d = draw(arrays(shape, kinks=kinks))
    return t + d, t


@loss_case(nn.MSELoss)
def mse_case(draw: Draw) -> LossCase:
    x, t = _input_and_target(draw)
    return LossCase(nn.MSELoss(reduction=_reduction(draw)), (x,), (t,))


@loss_case(nn.L1Loss)
def l1_case(draw: Draw) -> LossCase:
    x, t = _input_and_target(draw, kinks=(0.0,))
    return LossCase(nn.L1Loss(reduction=_reduction(draw)), (x,), (t,))


@loss_case(nn.SmoothL1Loss)
def smooth_l1_case(draw: Draw) -> LossCase:
    beta = draw(st.sampled_from([0.0, 1.0]) | st.floats(0.3, 2.0))
    x, t = _input_and_target(draw, kinks=(-beta, 0.0, beta))
    return LossCase(nn.SmoothL1Loss(reduction=_reduction(draw), beta=beta), (x,), (t,))


@loss_case(nn.HuberLoss)
def huber_case(draw: Draw) -> LossCase:
    delta = draw(st.sampled_from([1.0]) | st.floats(0.3, 2.0))
    x, t = _input_and_target(draw, kinks=(-delta, delta))
    return LossCase(nn.HuberLoss(_reduction(draw), delta), (x,), (t,))


# ---------------------------------------------------------------------- class indices


def _class_input(draw: Draw, C: int, *, single_ok: bool = True, spatial_ok: bool = True) -> Array:
    """An input ``(C,)``, ``(N, C)`` or ``(N, C, d1[, d2])`` of scores in [-4, 4]."""
    layouts = ["batch"] + (["single"] if single_ok else []) + (["spatial"] if spatial_ok else [])
    layout = draw(st.sampled_from(layouts))
    if layout == "single":
        return draw(arrays((C,), low=-4.0, high=4.0))
    N = draw(st.integers(1, 4))
    spatial = draw(shapes(min_dims=1, max_dims=2, max_side=3)) if layout == "spatial" else ()
    return draw(arrays((N, C, *spatial), low=-4.0, high=4.0))


def _class_indices(
    draw: Draw, rng: np.random.Generator, x: Array, ignore_index: int | None
) -> Array:
    """Targets in [0, C) for ``x``; with ``ignore_index``, a drawn share of them ignored,
    though never the first, so the mean is never over nothing (that case has its own test).
    """
    C = x.shape[0] if x.ndim == 1 else x.shape[1]
    shape = () if x.ndim == 1 else (x.shape[0],) + x.shape[2:]
    y = rng.integers(0, C, shape)
    if ignore_index is None:
        return y
    if 0 <= ignore_index < C and y.reshape(-1)[0] == ignore_index:
        y.reshape(-1)[0] = (ignore_index + 1) % C
    if y.ndim:
        share = draw(st.sampled_from([0.0, 0.3, 0.6]))
        skip = rng.random(shape) < share
        skip.reshape(-1)[0] = False
        y[skip] = ignore_index
    return y


def _class_weight(draw: Draw, rng: np.random.Generator, C: int) -> Array | None:
    return rng.uniform(0.2, 2.0, C) if draw(st.booleans()) else None


@loss_case(nn.CrossEntropyLoss)
def cross_entropy_case(draw: Draw) -> LossCase:
    rng = _rng(draw)
    C = draw(st.integers(2, 5))
    x = _class_input(draw, C)
    weight = _class_weight(draw, rng, C)
    smoothing = draw(st.sampled_from([0.0, 0.0, 0.1]) | st.floats(0.05, 0.95))
    reduction = _reduction(draw)
    target: Array
    if draw(st.booleans()):
        ignore_index = draw(st.sampled_from([-100, -1]))
        class_axis = 0 if x.ndim == 1 else 1
        target = F.softmax(rng.normal(scale=2.0, size=x.shape), dim=class_axis)
    else:
        ignore_index = draw(st.sampled_from([-100, -1, 0, C - 1]))
        target = _class_indices(draw, rng, x, ignore_index)
    criterion = nn.CrossEntropyLoss(
        weight,
        ignore_index=ignore_index,
        reduction=reduction,
        label_smoothing=smoothing,
    )
    return LossCase(criterion.double(), (x,), (target,))


@loss_case(nn.NLLLoss)
def nll_case(draw: Draw) -> LossCase:
    rng = _rng(draw)
    C = draw(st.integers(2, 5))
    scores = _class_input(draw, C)
    x = F.log_softmax(scores, dim=0 if scores.ndim == 1 else 1)
    ignore_index = draw(st.sampled_from([-100, 0, C - 1]))
    target = _class_indices(draw, rng, x, ignore_index)
    criterion = nn.NLLLoss(
        _class_weight(draw, rng, C), ignore_index=ignore_index, reduction=_reduction(draw)
    )
    return LossCase(criterion.double(), (x,), (target,))


@loss_case(nn.MultiMarginLoss)
def multi_margin_case(draw: Draw) -> LossCase:
    rng = _rng(draw)
    C = draw(st.integers(2, 5))
    x = _class_input(draw, C, spatial_ok=False)
    y = _class_indices(draw, rng, x, None)
    scores = x.reshape(-1, C)
    labels = y.reshape(-1)
    # The hinge z = margin - x_y + x_j switches on at margin = x_y - x_j.
    kinks = scores[np.arange(len(labels)), labels][:, None] - scores
    kinks = kinks[np.arange(C)[None, :] != labels[:, None]]
    margin = away_from(draw(st.floats(0.1, 2.0)), kinks)
    criterion = nn.MultiMarginLoss(
        draw(st.sampled_from([1, 2])),
        margin,
        _class_weight(draw, rng, C),
        reduction=_reduction(draw),
    )
    return LossCase(criterion.double(), (x,), (y,))


# ---------------------------------------------------------------------- binary


def _elementwise_weight(draw: Draw, rng: np.random.Generator, shape: tuple[int, ...]) -> Any:
    """No weight, one per entry of the last axis, or one per element."""
    kind = draw(st.sampled_from(["none", "last", "full"]))
    if kind == "none":
        return None
    return rng.uniform(0.2, 2.0, shape[-1:] if kind == "last" else shape)


def _binary_target(draw: Draw, rng: np.random.Generator, shape: tuple[int, ...]) -> Array:
    if draw(st.booleans()):
        return rng.integers(0, 2, shape).astype(np.float64)
    return rng.uniform(0.0, 1.0, shape)


@loss_case(nn.BCELoss)
def bce_case(draw: Draw) -> LossCase:
    rng = _rng(draw)
    shape = draw(shapes(min_dims=1, max_dims=3, max_side=4))
    x = draw(arrays(shape, low=0.05, high=0.95))
    criterion = nn.BCELoss(_elementwise_weight(draw, rng, shape), reduction=_reduction(draw))
    return LossCase(criterion.double(), (x,), (_binary_target(draw, rng, shape),))


@loss_case(nn.BCEWithLogitsLoss)
def bce_with_logits_case(draw: Draw) -> LossCase:
    rng = _rng(draw)
    shape = draw(shapes(min_dims=1, max_dims=3, max_side=4))
    x = draw(arrays(shape, low=-5.0, high=5.0))
    pos_weight = rng.uniform(0.2, 3.0, shape[-1:]) if draw(st.booleans()) else None
    criterion = nn.BCEWithLogitsLoss(
        _elementwise_weight(draw, rng, shape), reduction=_reduction(draw), pos_weight=pos_weight
    )
    return LossCase(criterion.double(), (x,), (_binary_target(draw, rng, shape),))


# ---------------------------------------------------------------------- distributions


@loss_case(nn.KLDivLoss)
def kl_div_case(draw: Draw) -> LossCase:
    rng = _rng(draw)
    shape = draw(shapes(min_dims=1, max_dims=3, max_side=4))
    x = F.log_softmax(draw(arrays(shape, low=-3.0, high=3.0)), dim=-1)
    p = F.softmax(rng.normal(scale=2.0, size=shape), dim=-1)
    log_target = draw(st.booleans())
    if log_target:
        target = np.log(p)
    else:
        p[rng.random(shape) < 0.2] = 0.0  # exact zeros: 0·log 0 = 0
        target = p
    criterion = nn.KLDivLoss(reduction=_reduction(draw, "batchmean"), log_target=log_target)
    return LossCase(criterion, (x,), (target,))


@loss_case(nn.PoissonNLLLoss)
def poisson_nll_case(draw: Draw) -> LossCase:
    rng = _rng(draw)
    shape = draw(shapes(min_dims=1, max_dims=3, max_side=4))
    log_input = draw(st.booleans())
    x = draw(arrays(shape, low=-2.0, high=2.0) if log_input else arrays(shape, low=0.1, high=4.0))
    counts = rng.integers(0, 6, shape).astype(np.float64)
    target = counts if draw(st.booleans()) else rng.uniform(0.0, 5.0, shape)
    criterion = nn.PoissonNLLLoss(
        log_input,
        draw(st.booleans()),
        eps=draw(st.sampled_from([1e-8, 0.1])),
        reduction=_reduction(draw),
    )
    return LossCase(criterion, (x,), (target,))


# ---------------------------------------------------------------------- similarity, ranking


def _triplet_values(
    rng: np.random.Generator, shape: tuple[int, ...], p: float, eps: float, swap: bool
) -> tuple[Array, Array, Array]:
    """Anchor, positive and negative away from the p-norm's non-smooth points.

    Each difference component stays away from 0 (|v| is not smooth there for p = 1, and
    |v|^(p-1) not for p < 2); for p = ∞ the largest |v_k| has no near tie; with the swap
    the two negative distances are not nearly equal. Redrawn from the seeded generator
    until all hold (it takes a few tries).
    """
    for _ in range(1000):
        a, pos, neg = rng.uniform(-2.0, 2.0, (3, *shape))
        diffs = [a - pos + eps, a - neg + eps] + ([pos - neg + eps] if swap else [])
        if any(np.min(np.abs(v), initial=np.inf) < GAP for v in diffs):
            continue
        if np.isinf(p) and any(_max_tie(v) < GAP for v in diffs):
            continue
        if swap and np.min(np.abs(F.p_norm(diffs[1], p) - F.p_norm(diffs[2], p))) < GAP:
            continue
        return a, pos, neg
    raise AssertionError("no triplet away from the kinks found")  # pragma: no cover


def _max_tie(v: Array) -> float:
    """The smallest gap, over rows, between the largest and second-largest |v_k|."""
    if v.shape[-1] < 2:
        return np.inf
    top = np.sort(np.abs(v), axis=-1)
    return float(np.min(top[..., -1] - top[..., -2]))


@loss_case(nn.TripletMarginLoss)
def triplet_margin_case(draw: Draw) -> LossCase:
    rng = _rng(draw)
    D = draw(st.integers(1, 4))
    shape = (D,) if draw(st.booleans()) else (draw(st.integers(1, 4)), D)
    p = draw(st.sampled_from([2.0, 1.0, 3.0, 1.5, np.inf]))
    eps = draw(st.sampled_from([1e-6, 0.0, 0.01]))
    swap = draw(st.booleans())
    a, pos, neg = _triplet_values(rng, shape, p, eps, swap)
    d_ap = F.pairwise_distance(a, pos, p, eps)
    d_neg = F.pairwise_distance(a, neg, p, eps)
    if swap:
        d_neg = np.minimum(d_neg, F.pairwise_distance(pos, neg, p, eps))
    margin = away_from(draw(st.floats(0.1, 3.0)), d_neg - d_ap, above=0.0)
    criterion = nn.TripletMarginLoss(margin, p, eps, swap, reduction=_reduction(draw))
    return LossCase(criterion, (a, pos, neg))


def _signs(rng: np.random.Generator, shape: tuple[int, ...], as_int: bool) -> Array:
    y = rng.choice([-1, 1], size=shape)
    return y if as_int else y.astype(np.float64)


@loss_case(nn.CosineEmbeddingLoss)
def cosine_embedding_case(draw: Draw) -> LossCase:
    rng = _rng(draw)
    D = draw(st.integers(2, 4))
    shape = (D,) if draw(st.booleans()) else (draw(st.integers(1, 4)), D)
    x1, x2 = rng.uniform(-2.0, 2.0, (2, *shape))
    y = _signs(rng, shape[:-1], draw(st.booleans()))
    cos = np.sum(x1 * x2, axis=-1) / np.sqrt(np.sum(x1 * x1, axis=-1) * np.sum(x2 * x2, axis=-1))
    margin = away_from(draw(st.floats(-0.5, 0.9)), cos[y == -1])
    return LossCase(nn.CosineEmbeddingLoss(margin, reduction=_reduction(draw)), (x1, x2), (y,))


@loss_case(nn.MarginRankingLoss)
def margin_ranking_case(draw: Draw) -> LossCase:
    rng = _rng(draw)
    shape = draw(shapes(min_dims=1, max_dims=2, max_side=4))
    x1, x2 = rng.uniform(-2.0, 2.0, (2, *shape))
    y = _signs(rng, shape, as_int=False)
    margin = away_from(draw(st.floats(-1.0, 1.0)), y * (x1 - x2))
    return LossCase(nn.MarginRankingLoss(margin, reduction=_reduction(draw)), (x1, x2), (y,))


@loss_case(nn.HingeEmbeddingLoss)
def hinge_embedding_case(draw: Draw) -> LossCase:
    rng = _rng(draw)
    shape = draw(shapes(min_dims=1, max_dims=3, max_side=4))
    margin = draw(st.floats(0.1, 2.0))
    x = draw(arrays(shape, low=-1.0, high=3.0, kinks=(margin,)))
    y = _signs(rng, shape, as_int=False)
    return LossCase(nn.HingeEmbeddingLoss(margin, reduction=_reduction(draw)), (x,), (y,))
