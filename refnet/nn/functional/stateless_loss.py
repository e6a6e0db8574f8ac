"""PyTorch's functional names for the rest of refnet's losses, each with a backward.

As in :mod:`refnet.nn.functional.stateless`: each function builds the matching loss
module and runs it, and its sibling ``*_backward(grad, <the same arguments>)`` returns
the gradient of the differentiated inputs (a tuple when there are several, in the
argument order) through that module's backward, so the numbers are the module's own
(gradient-checked, compared with torch). ``grad`` is the upstream gradient of the loss:
``1.0`` for the loss itself, an array of the per-element losses' shape for
``reduction='none'``.

Signatures are torch's, less the deprecated ``size_average`` and ``reduce``; the
arguments that follow those in torch are keyword-only here, so a positional call never
means something else than it does in torch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy.typing as npt

from refnet._typing import Array

__all__ = [
    "cosine_embedding_loss",
    "cosine_embedding_loss_backward",
    "ctc_loss",
    "ctc_loss_backward",
    "gaussian_nll_loss",
    "gaussian_nll_loss_backward",
    "hinge_embedding_loss",
    "hinge_embedding_loss_backward",
    "huber_loss",
    "huber_loss_backward",
    "kl_div",
    "kl_div_backward",
    "margin_ranking_loss",
    "margin_ranking_loss_backward",
    "multi_margin_loss",
    "multi_margin_loss_backward",
    "multilabel_margin_loss",
    "multilabel_margin_loss_backward",
    "multilabel_soft_margin_loss",
    "multilabel_soft_margin_loss_backward",
    "poisson_nll_loss",
    "poisson_nll_loss_backward",
    "soft_margin_loss",
    "soft_margin_loss_backward",
    "triplet_margin_loss",
    "triplet_margin_loss_backward",
    "triplet_margin_with_distance_loss",
    "triplet_margin_with_distance_loss_backward",
]


def _nn() -> Any:
    import refnet.nn as nn  # refnet.nn imports this package: import it when called

    return nn


def _through(module: Any, grad: Any, *inputs: Any) -> Any:
    """Run ``module`` on ``inputs`` and backpropagate ``grad`` through that call."""
    module(*inputs)
    return module.backward(grad)


# ---------------------------------------------------------------------- new losses


def soft_margin_loss(input: Array, target: Array, *, reduction: str = "mean") -> Any:
    """``log(1 + e^{-y x})`` for targets ``y = ±1`` (``torch.nn.functional.soft_margin_loss``)."""
    return _nn().SoftMarginLoss(reduction=reduction)(input, target)


def soft_margin_loss_backward(
    grad: Any, input: Array, target: Array, *, reduction: str = "mean"
) -> Array:
    """∂L/∂input of :func:`soft_margin_loss`: ``-y σ(-y x)``, scaled."""
    return _through(_nn().SoftMarginLoss(reduction=reduction), grad, input, target)


def multilabel_soft_margin_loss(
    input: Array,
    target: Array,
    weight: npt.ArrayLike | None = None,
    *,
    reduction: str = "mean",
) -> Any:
    """Per-class logistic loss averaged over classes (``F.multilabel_soft_margin_loss``)."""
    return _nn().MultiLabelSoftMarginLoss(weight, reduction=reduction)(input, target)


def multilabel_soft_margin_loss_backward(
    grad: Any,
    input: Array,
    target: Array,
    weight: npt.ArrayLike | None = None,
    *,
    reduction: str = "mean",
) -> Array:
    """∂L/∂input of :func:`multilabel_soft_margin_loss`: ``w (σ(x) - y) / C``, scaled."""
    loss = _nn().MultiLabelSoftMarginLoss(weight, reduction=reduction)
    return _through(loss, grad, input, target)


def multilabel_margin_loss(input: Array, target: Array, *, reduction: str = "mean") -> Any:
    """Hinge between listed and other classes (``F.multilabel_margin_loss``); targets are
    class indices ended by -1."""
    return _nn().MultiLabelMarginLoss(reduction=reduction)(input, target)


def multilabel_margin_loss_backward(
    grad: Any, input: Array, target: Array, *, reduction: str = "mean"
) -> Array:
    """∂L/∂input of :func:`multilabel_margin_loss`."""
    return _through(_nn().MultiLabelMarginLoss(reduction=reduction), grad, input, target)


def gaussian_nll_loss(
    input: Array,
    target: Array,
    var: Array | float,
    full: bool = False,
    eps: float = 1e-6,
    reduction: str = "mean",
) -> Any:
    """``½ (log max(var, eps) + (input - target)² / max(var, eps))`` (``F.gaussian_nll_loss``)."""
    return _nn().GaussianNLLLoss(full=full, eps=eps, reduction=reduction)(input, target, var)


def gaussian_nll_loss_backward(
    grad: Any,
    input: Array,
    target: Array,
    var: Array | float,
    full: bool = False,
    eps: float = 1e-6,
    reduction: str = "mean",
) -> Array | tuple[Array, Array]:
    """``(∂L/∂input, ∂L/∂var)`` of :func:`gaussian_nll_loss` (``∂L/∂input`` alone for a
    number ``var``); at a clamped variance, PyTorch's straight-through gradient
    (see ``nn.GaussianNLLLoss``)."""
    loss = _nn().GaussianNLLLoss(full=full, eps=eps, reduction=reduction)
    return _through(loss, grad, input, target, var)


def triplet_margin_with_distance_loss(
    anchor: Array,
    positive: Array,
    negative: Array,
    *,
    distance_function: Callable[[Array, Array], Array] | Any | None = None,
    margin: float = 1.0,
    swap: bool = False,
    reduction: str = "mean",
) -> Any:
    """``max(0, margin + d(a, p) - d(a, n))`` (``F.triplet_margin_with_distance_loss``);
    ``distance_function`` needs a backward (see ``nn.TripletMarginWithDistanceLoss``)."""
    loss = _nn().TripletMarginWithDistanceLoss(
        distance_function=distance_function, margin=margin, swap=swap, reduction=reduction
    )
    return loss(anchor, positive, negative)


def triplet_margin_with_distance_loss_backward(
    grad: Any,
    anchor: Array,
    positive: Array,
    negative: Array,
    *,
    distance_function: Callable[[Array, Array], Array] | Any | None = None,
    margin: float = 1.0,
    swap: bool = False,
    reduction: str = "mean",
) -> tuple[Array, Array, Array]:
    """``(∂L/∂anchor, ∂L/∂positive, ∂L/∂negative)`` of
    :func:`triplet_margin_with_distance_loss`."""
    loss = _nn().TripletMarginWithDistanceLoss(
        distance_function=distance_function, margin=margin, swap=swap, reduction=reduction
    )
    return _through(loss, grad, anchor, positive, negative)


def ctc_loss(
    log_probs: Array,
    targets: Array,
    input_lengths: Any,
    target_lengths: Any,
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> Any:
    """Connectionist temporal classification loss (``F.ctc_loss``; see ``nn.CTCLoss``)."""
    loss = _nn().CTCLoss(blank, reduction, zero_infinity)
    return loss(log_probs, targets, input_lengths, target_lengths)


def ctc_loss_backward(
    grad: Any,
    log_probs: Array,
    targets: Array,
    input_lengths: Any,
    target_lengths: Any,
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> Array:
    """PyTorch's gradient of :func:`ctc_loss` with respect to ``log_probs`` (the logits'
    gradient behind a log-softmax; see :mod:`refnet.nn.functional.ctc`)."""
    loss = _nn().CTCLoss(blank, reduction, zero_infinity)
    return _through(loss, grad, log_probs, targets, input_lengths, target_lengths)


# ---------------------------------------------------------------------- existing losses


def cosine_embedding_loss(
    input1: Array, input2: Array, target: Array, margin: float = 0.0, *, reduction: str = "mean"
) -> Any:
    """``1 - cos`` for ``y = 1``, ``max(0, cos - margin)`` for ``y = -1``
    (``F.cosine_embedding_loss``)."""
    return _nn().CosineEmbeddingLoss(margin, reduction=reduction)(input1, input2, target)


def cosine_embedding_loss_backward(
    grad: Any,
    input1: Array,
    input2: Array,
    target: Array,
    margin: float = 0.0,
    *,
    reduction: str = "mean",
) -> tuple[Array, Array]:
    """``(∂L/∂input1, ∂L/∂input2)`` of :func:`cosine_embedding_loss`."""
    loss = _nn().CosineEmbeddingLoss(margin, reduction=reduction)
    return _through(loss, grad, input1, input2, target)


def hinge_embedding_loss(
    input: Array, target: Array, margin: float = 1.0, *, reduction: str = "mean"
) -> Any:
    """``x`` for ``y = 1``, ``max(0, margin - x)`` for ``y = -1`` (``F.hinge_embedding_loss``)."""
    return _nn().HingeEmbeddingLoss(margin, reduction=reduction)(input, target)


def hinge_embedding_loss_backward(
    grad: Any, input: Array, target: Array, margin: float = 1.0, *, reduction: str = "mean"
) -> Array:
    """∂L/∂input of :func:`hinge_embedding_loss`."""
    loss = _nn().HingeEmbeddingLoss(margin, reduction=reduction)
    return _through(loss, grad, input, target)


def huber_loss(input: Array, target: Array, reduction: str = "mean", delta: float = 1.0) -> Any:
    """Quadratic below ``delta``, linear with slope ``delta`` above (``F.huber_loss``;
    torch's newer ``weight`` argument is not offered)."""
    return _nn().HuberLoss(reduction, delta)(input, target)


def huber_loss_backward(
    grad: Any, input: Array, target: Array, reduction: str = "mean", delta: float = 1.0
) -> Array:
    """∂L/∂input of :func:`huber_loss`: ``clip(x - t, -δ, δ)``, scaled."""
    return _through(_nn().HuberLoss(reduction, delta), grad, input, target)


def kl_div(
    input: Array, target: Array, *, reduction: str = "mean", log_target: bool = False
) -> Any:
    """KL divergence of log-probabilities ``input`` from ``target`` (``F.kl_div``)."""
    return _nn().KLDivLoss(reduction=reduction, log_target=log_target)(input, target)


def kl_div_backward(
    grad: Any,
    input: Array,
    target: Array,
    *,
    reduction: str = "mean",
    log_target: bool = False,
) -> Array:
    """∂L/∂input of :func:`kl_div`: ``-p`` (or ``-eᵗ`` with ``log_target``), scaled."""
    loss = _nn().KLDivLoss(reduction=reduction, log_target=log_target)
    return _through(loss, grad, input, target)


def margin_ranking_loss(
    input1: Array, input2: Array, target: Array, margin: float = 0.0, *, reduction: str = "mean"
) -> Any:
    """``max(0, -y (x1 - x2) + margin)`` (``F.margin_ranking_loss``)."""
    return _nn().MarginRankingLoss(margin, reduction=reduction)(input1, input2, target)


def margin_ranking_loss_backward(
    grad: Any,
    input1: Array,
    input2: Array,
    target: Array,
    margin: float = 0.0,
    *,
    reduction: str = "mean",
) -> tuple[Array, Array]:
    """``(∂L/∂input1, ∂L/∂input2)`` of :func:`margin_ranking_loss`."""
    loss = _nn().MarginRankingLoss(margin, reduction=reduction)
    return _through(loss, grad, input1, input2, target)


def multi_margin_loss(
    input: Array,
    target: Array,
    p: int = 1,
    margin: float = 1.0,
    weight: npt.ArrayLike | None = None,
    *,
    reduction: str = "mean",
) -> Any:
    """Multi-class hinge loss of scores against class indices (``F.multi_margin_loss``)."""
    return _nn().MultiMarginLoss(p, margin, weight, reduction=reduction)(input, target)


def multi_margin_loss_backward(
    grad: Any,
    input: Array,
    target: Array,
    p: int = 1,
    margin: float = 1.0,
    weight: npt.ArrayLike | None = None,
    *,
    reduction: str = "mean",
) -> Array:
    """∂L/∂input of :func:`multi_margin_loss`."""
    loss = _nn().MultiMarginLoss(p, margin, weight, reduction=reduction)
    return _through(loss, grad, input, target)


def poisson_nll_loss(
    input: Array,
    target: Array,
    log_input: bool = True,
    full: bool = False,
    *,
    eps: float = 1e-8,
    reduction: str = "mean",
) -> Any:
    """Poisson negative log-likelihood of a rate (or its log) (``F.poisson_nll_loss``)."""
    loss = _nn().PoissonNLLLoss(log_input, full, eps=eps, reduction=reduction)
    return loss(input, target)


def poisson_nll_loss_backward(
    grad: Any,
    input: Array,
    target: Array,
    log_input: bool = True,
    full: bool = False,
    *,
    eps: float = 1e-8,
    reduction: str = "mean",
) -> Array:
    """∂L/∂input of :func:`poisson_nll_loss`: ``eˣ - t`` (or ``1 - t/(x + eps)``), scaled."""
    loss = _nn().PoissonNLLLoss(log_input, full, eps=eps, reduction=reduction)
    return _through(loss, grad, input, target)


def triplet_margin_loss(
    anchor: Array,
    positive: Array,
    negative: Array,
    margin: float = 1.0,
    p: float = 2.0,
    eps: float = 1e-6,
    swap: bool = False,
    *,
    reduction: str = "mean",
) -> Any:
    """``max(0, margin + ‖a - p‖ - ‖a - n‖)`` with p-norm distances (``F.triplet_margin_loss``)."""
    loss = _nn().TripletMarginLoss(margin, p, eps, swap, reduction=reduction)
    return loss(anchor, positive, negative)


def triplet_margin_loss_backward(
    grad: Any,
    anchor: Array,
    positive: Array,
    negative: Array,
    margin: float = 1.0,
    p: float = 2.0,
    eps: float = 1e-6,
    swap: bool = False,
    *,
    reduction: str = "mean",
) -> tuple[Array, Array, Array]:
    """``(∂L/∂anchor, ∂L/∂positive, ∂L/∂negative)`` of :func:`triplet_margin_loss`."""
    loss = _nn().TripletMarginLoss(margin, p, eps, swap, reduction=reduction)
    return _through(loss, grad, anchor, positive, negative)
