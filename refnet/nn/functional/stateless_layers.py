"""PyTorch's functional names for RReLU, Bilinear and EmbeddingBag, each with a backward.

As in :mod:`refnet.nn.functional.stateless`: each function runs the matching refnet
module, and ``*_backward(grad, <the same arguments>)`` returns the gradients through
that module's backward (``bilinear_backward``: of both inputs, the weight and the bias;
``embedding_bag_backward``: of the weight, and of ``per_sample_weights`` when given).
"""

from __future__ import annotations

from typing import Any

from refnet._typing import Array, Seed

__all__ = [
    "rrelu",
    "rrelu_backward",
]


def _nn() -> Any:
    import refnet.nn as nn  # refnet.nn imports this package: import it when called

    return nn


def rrelu(
    input: Array,
    lower: float = 1.0 / 8,
    upper: float = 1.0 / 3,
    training: bool = False,
    inplace: bool = False,
    *,
    generator: Seed = None,
) -> Array:
    """Randomized leaky ReLU (``F.rrelu``): slopes drawn from ``U(lower, upper)`` in
    training (from ``generator``, refnet's addition), ``(lower + upper)/2`` otherwise."""
    layer = _nn().RReLU(lower, upper, generator=generator).train(training)
    return layer(input)


def rrelu_backward(
    grad: Array,
    input: Array,
    lower: float = 1.0 / 8,
    upper: float = 1.0 / 3,
    training: bool = False,
    inplace: bool = False,
    *,
    generator: Seed = None,
) -> Array:
    """∂L/∂input of :func:`rrelu`. In training the slopes are drawn again, so pass the
    forward's integer seed as ``generator``."""
    if training and lower != upper and not isinstance(generator, int):
        raise ValueError(
            "rrelu_backward: pass the integer seed the forward used (generator=seed), so the "
            "same slopes are drawn again"
        )
    layer = _nn().RReLU(lower, upper, generator=generator).train(training)
    layer(input)
    return layer.backward(grad)
