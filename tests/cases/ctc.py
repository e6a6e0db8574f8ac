"""The CTCLoss case: drawn sizes, blank, target layout (padded, concatenated, unbatched),
lengths, reduction and zero_infinity.

``CTCLoss.backward`` returns PyTorch's gradient, which is the derivative with respect to
the logits behind a log-softmax rather than with respect to ``log_probs`` itself (see
:mod:`refnet.nn.functional.ctc`). So the case is a thin subclass that takes logits, applies
``log_softmax`` and chains its backward, with a torch twin doing the same: the generic
gradient check then checks refnet's gradient numerically where it is a true derivative,
and the torch agreement compares both libraries on the same function.
``tests/test_ctc.py`` compares the raw ``log_probs`` gradient with torch's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

import refnet.nn as nn
from refnet._typing import Array
from refnet.nn import functional as F
from refnet.nn._validation import float_input
from tests.cases.loss import _reduction, _rng
from tests.cases.registry import LossCase, loss_case

Draw = st.DrawFn


class _CTCOnLogits(nn.CTCLoss):
    """``CTCLoss(log_softmax(logits))``; backward through the log-softmax (on the class axis)."""

    def forward(self, logits: Array, *rest: Any) -> Any:  # type: ignore[override]
        float_input(self, logits, "log_probs")
        self._softmax = F.softmax(logits, dim=-1)
        return super().forward(F.log_softmax(logits, dim=-1), *rest)

    def backward(self, grad_output: Any = None) -> Array:
        g = super().backward(grad_output)
        return g - self._softmax * g.sum(axis=-1, keepdims=True)


def _register_twin() -> None:
    try:
        import torch

        from refnet.interop.torch import register_to_torch
    except ImportError:  # pragma: no cover - torch is optional
        return

    class Twin(torch.nn.Module):
        def __init__(self, loss: torch.nn.Module) -> None:
            super().__init__()
            self.loss = loss

        def forward(self, logits: Any, *rest: Any) -> Any:
            return self.loss(torch.log_softmax(logits, dim=-1), *rest)

    @register_to_torch(_CTCOnLogits)
    def _twin(module: nn.Module) -> Any:
        assert isinstance(module, nn.CTCLoss)
        return Twin(torch.nn.CTCLoss(module.blank, module.reduction, module.zero_infinity))


_register_twin()


def ctc_targets(
    rng: np.random.Generator, N: int, S: int, C: int, blank: int
) -> tuple[Array, Array]:
    """Padded targets ``(N, S)`` of non-blank classes, with lengths in ``[0, S]``."""
    others = np.array([c for c in range(C) if c != blank])
    padded = others[rng.integers(0, len(others), (N, S))]
    lengths = rng.integers(0, S + 1, N)
    return padded, lengths


def needed_steps(padded: Array, lengths: Array) -> Array:
    """The fewest input steps that can emit each target: a step per label, and a blank
    between each pair of equal neighbours."""
    repeats = [
        int(np.sum(row[1:n] == row[: n - 1])) if n else 0
        for row, n in zip(padded, lengths, strict=True)
    ]
    return lengths + np.array(repeats, dtype=np.int64)


@loss_case(nn.CTCLoss)
def ctc_case(draw: Draw) -> LossCase:
    rng = _rng(draw)
    unbatched = draw(st.booleans())
    concatenated = draw(st.booleans()) and not unbatched
    N = 1 if unbatched else draw(st.integers(1, 3))
    C = draw(st.integers(2, 5))
    S = draw(st.integers(1, 3))  # empty targets come from target lengths of 0
    T = draw(st.integers(1, 6))
    blank = draw(st.sampled_from([0, C - 1]) | st.integers(0, C - 1))
    zero_infinity = draw(st.booleans())
    padded, tl = ctc_targets(rng, N, S, C, blank)
    need = needed_steps(padded, tl)
    T = max(T, int(need.max()))
    low = np.zeros(N, np.int64) if zero_infinity else need  # infeasible only if zeroed
    il = np.array([rng.integers(max(lo, 1), T + 1) for lo in low])
    il[rng.integers(0, N)] = T  # log_probs are no longer than the longest input
    logits = rng.normal(scale=2.0, size=(T, C) if unbatched else (T, N, C))
    targets: Any
    if unbatched:
        targets, il_arg, tl_arg = padded[0, : tl[0]], il[0], tl[0]
    elif concatenated:
        targets = np.concatenate([row[:n] for row, n in zip(padded, tl, strict=True)]).astype(
            np.int64
        )
        il_arg, tl_arg = il, tl
    else:
        il_arg, tl_arg = il, tl
        targets = padded
    criterion = _CTCOnLogits(blank, _reduction(draw), zero_infinity)
    return LossCase(criterion, (logits,), (targets, il_arg, tl_arg))
