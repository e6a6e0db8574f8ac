"""PyTorch's functional names for RReLU, Bilinear and EmbeddingBag, each with a backward.

As in :mod:`refnet.nn.functional.stateless`: each function runs the matching refnet
module, and ``*_backward(grad, <the same arguments>)`` returns the gradients through
that module's backward (``bilinear_backward``: of both inputs, the weight and the bias;
``embedding_bag_backward``: of the weight, and of ``per_sample_weights`` when given).
"""

from __future__ import annotations

from typing import Any

from refnet._typing import Array, Seed
from refnet.nn.parameter import Parameter

__all__ = [
    "bilinear",
    "bilinear_backward",
    "embedding_bag",
    "embedding_bag_backward",
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


def _bilinear_layer(weight: Array, bias: Array | None) -> Any:
    out, in1, in2 = weight.shape
    layer = _nn().Bilinear(in1, in2, out, bias=bias is not None, dtype=weight.dtype)
    layer.weight = Parameter(weight)
    if bias is not None:
        layer.bias = Parameter(bias)
    return layer


def bilinear(input1: Array, input2: Array, weight: Array, bias: Array | None = None) -> Array:
    """``y_o = x1ᵀ W_o x2 + b_o`` (``F.bilinear``); ``weight`` ``(out, in1, in2)``."""
    return _bilinear_layer(weight, bias)(input1, input2)


def bilinear_backward(
    grad: Array, input1: Array, input2: Array, weight: Array, bias: Array | None = None
) -> tuple[Array, Array, Array, Array | None]:
    """``(∂L/∂input1, ∂L/∂input2, ∂L/∂weight, ∂L/∂bias)`` of :func:`bilinear` (the last
    ``None`` without a bias)."""
    layer = _bilinear_layer(weight, bias)
    layer(input1, input2)
    g1, g2 = layer.backward(grad)
    return g1, g2, layer.weight.grad, None if bias is None else layer.bias.grad


def _bag_layer(weight: Array, options: dict[str, Any]) -> Any:
    layer = _nn().EmbeddingBag(*weight.shape, _weight=weight, dtype=weight.dtype, **options)
    layer.weight = Parameter(weight)  # the caller's array itself, as max_norm renormalises it
    return layer


def embedding_bag(
    input: Array,
    weight: Array,
    offsets: Array | None = None,
    max_norm: float | None = None,
    norm_type: float = 2,
    scale_grad_by_freq: bool = False,
    mode: str = "mean",
    sparse: bool = False,
    per_sample_weights: Array | None = None,
    include_last_offset: bool = False,
    padding_idx: int | None = None,
) -> Array:
    """Per-bag sums, means or maxima of rows of ``weight`` (``F.embedding_bag``; see
    ``nn.EmbeddingBag``)."""
    options = {
        "max_norm": max_norm,
        "norm_type": norm_type,
        "scale_grad_by_freq": scale_grad_by_freq,
        "mode": mode,
        "sparse": sparse,
        "include_last_offset": include_last_offset,
        "padding_idx": padding_idx,
    }
    return _bag_layer(weight, options)(input, offsets, per_sample_weights)


def embedding_bag_backward(
    grad: Array,
    input: Array,
    weight: Array,
    offsets: Array | None = None,
    max_norm: float | None = None,
    norm_type: float = 2,
    scale_grad_by_freq: bool = False,
    mode: str = "mean",
    sparse: bool = False,
    per_sample_weights: Array | None = None,
    include_last_offset: bool = False,
    padding_idx: int | None = None,
) -> tuple[Array, Array | None]:
    """``(∂L/∂weight, ∂L/∂per_sample_weights)`` of :func:`embedding_bag` (the second
    ``None`` without per-sample weights)."""
    options = {
        "max_norm": max_norm,
        "norm_type": norm_type,
        "scale_grad_by_freq": scale_grad_by_freq,
        "mode": mode,
        "sparse": sparse,
        "include_last_offset": include_last_offset,
        "padding_idx": padding_idx,
    }
    layer = _bag_layer(weight, options)
    layer(input, offsets, per_sample_weights)
    grad_weights = layer.backward(grad)
    return layer.weight.grad, grad_weights
