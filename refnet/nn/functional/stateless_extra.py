"""PyTorch's functional names for the layers of issue 16's second batch, each with a backward.

``celu``, ``threshold``, ``hardshrink``, ``softshrink``, ``tanhshrink``, ``softmin``,
``glu``, ``pixel_shuffle``, ``pixel_unshuffle``, ``channel_shuffle``,
``cosine_similarity``, as in :mod:`refnet.nn.functional.stateless`: each function runs
the matching refnet module, and its sibling ``*_backward(grad, <the same arguments>)``
returns the gradient of the input (``cosine_similarity_backward``: of both inputs) by
running that module's backward, so the numbers are the layer's own (gradient-checked,
compared with torch). ``pad`` and ``pad_backward`` are in
:mod:`refnet.nn.functional.padding`; ``pairwise_distance`` in
:mod:`refnet.nn.functional.loss`.
"""

from __future__ import annotations

from typing import Any

from refnet._typing import Array

__all__ = [
    "celu",
    "celu_backward",
    "channel_shuffle",
    "channel_shuffle_backward",
    "cosine_similarity",
    "cosine_similarity_backward",
    "glu",
    "glu_backward",
    "hardshrink",
    "hardshrink_backward",
    "pixel_shuffle",
    "pixel_shuffle_backward",
    "pixel_unshuffle",
    "pixel_unshuffle_backward",
    "softmin",
    "softmin_backward",
    "softshrink",
    "softshrink_backward",
    "tanhshrink",
    "tanhshrink_backward",
    "threshold",
    "threshold_backward",
]


def _nn() -> Any:
    import refnet.nn as nn  # refnet.nn imports this package: import it when called

    return nn


def _through(module: Any, grad: Any, *inputs: Any) -> Any:
    """Run ``module`` on ``inputs`` and backpropagate ``grad`` through that call."""
    module(*inputs)
    return module.backward(grad)


def celu(input: Array, alpha: float = 1.0) -> Array:
    """``max(0, x) + min(0, α(e^{x/α} - 1))`` (``torch.nn.functional.celu``)."""
    return _nn().CELU(alpha)(input)


def celu_backward(grad: Array, input: Array, alpha: float = 1.0) -> Array:
    """∂L/∂input of :func:`celu`: ``grad`` for ``x > 0``, else ``grad · e^{x/α}``."""
    return _through(_nn().CELU(alpha), grad, input)


def threshold(input: Array, threshold: float, value: float) -> Array:
    """``x`` where ``x > threshold``, else ``value`` (``torch.nn.functional.threshold``)."""
    return _nn().Threshold(threshold, value)(input)


def threshold_backward(grad: Array, input: Array, threshold: float, value: float) -> Array:
    """∂L/∂input of :func:`threshold`: ``grad`` where ``x > threshold``, else 0."""
    return _through(_nn().Threshold(threshold, value), grad, input)


def hardshrink(input: Array, lambd: float = 0.5) -> Array:
    """``x`` where ``|x| > λ``, else 0 (``torch.nn.functional.hardshrink``)."""
    return _nn().Hardshrink(lambd)(input)


def hardshrink_backward(grad: Array, input: Array, lambd: float = 0.5) -> Array:
    """∂L/∂input of :func:`hardshrink`: ``grad`` where ``|x| > λ``, else 0."""
    return _through(_nn().Hardshrink(lambd), grad, input)


def softshrink(input: Array, lambd: float = 0.5) -> Array:
    """``x ∓ λ`` where ``|x| > λ``, else 0 (``torch.nn.functional.softshrink``)."""
    return _nn().Softshrink(lambd)(input)


def softshrink_backward(grad: Array, input: Array, lambd: float = 0.5) -> Array:
    """∂L/∂input of :func:`softshrink`: ``grad`` where ``|x| > λ``, else 0."""
    return _through(_nn().Softshrink(lambd), grad, input)


def tanhshrink(input: Array) -> Array:
    """``x - tanh x`` (``torch.nn.functional.tanhshrink``)."""
    return _nn().Tanhshrink()(input)


def tanhshrink_backward(grad: Array, input: Array) -> Array:
    """∂L/∂input of :func:`tanhshrink`: ``grad · tanh² x``."""
    return _through(_nn().Tanhshrink(), grad, input)


def softmin(input: Array, dim: int | None = None) -> Array:
    """``softmax(-x)`` along ``dim`` (``torch.nn.functional.softmin``)."""
    return _nn().Softmin(dim)(input)


def softmin_backward(grad: Array, input: Array, dim: int | None = None) -> Array:
    """∂L/∂input of :func:`softmin`: ``-y ⊙ (G - Σ_dim G ⊙ y)``."""
    return _through(_nn().Softmin(dim), grad, input)


def glu(input: Array, dim: int = -1) -> Array:
    """``a ⊙ σ(b)``, ``a, b`` the halves of ``input`` along ``dim`` (``F.glu``)."""
    return _nn().GLU(dim)(input)


def glu_backward(grad: Array, input: Array, dim: int = -1) -> Array:
    """∂L/∂input of :func:`glu`: ``[G σ(b), G a σ(b)(1 - σ(b))]`` along ``dim``."""
    return _through(_nn().GLU(dim), grad, input)


def pixel_shuffle(input: Array, upscale_factor: int) -> Array:
    """``(*, C r², H, W) -> (*, C, H r, W r)`` (``torch.nn.functional.pixel_shuffle``)."""
    return _nn().PixelShuffle(upscale_factor)(input)


def pixel_shuffle_backward(grad: Array, input: Array, upscale_factor: int) -> Array:
    """∂L/∂input of :func:`pixel_shuffle`: the gradient pixel-unshuffled."""
    return _through(_nn().PixelShuffle(upscale_factor), grad, input)


def pixel_unshuffle(input: Array, downscale_factor: int) -> Array:
    """``(*, C, H r, W r) -> (*, C r², H, W)`` (``torch.nn.functional.pixel_unshuffle``)."""
    return _nn().PixelUnshuffle(downscale_factor)(input)


def pixel_unshuffle_backward(grad: Array, input: Array, downscale_factor: int) -> Array:
    """∂L/∂input of :func:`pixel_unshuffle`: the gradient pixel-shuffled."""
    return _through(_nn().PixelUnshuffle(downscale_factor), grad, input)


def channel_shuffle(input: Array, groups: int) -> Array:
    """Interleave ``groups`` groups of channels (``torch.nn.functional.channel_shuffle``)."""
    return _nn().ChannelShuffle(groups)(input)


def channel_shuffle_backward(grad: Array, input: Array, groups: int) -> Array:
    """∂L/∂input of :func:`channel_shuffle`: the inverse shuffle of the gradient."""
    return _through(_nn().ChannelShuffle(groups), grad, input)


def cosine_similarity(x1: Array, x2: Array, dim: int = 1, eps: float = 1e-8) -> Array:
    """``Σ_dim x1 x2 / (max(‖x1‖, eps) max(‖x2‖, eps))`` (``F.cosine_similarity``)."""
    return _nn().CosineSimilarity(dim, eps)(x1, x2)


def cosine_similarity_backward(
    grad: Array, x1: Array, x2: Array, dim: int = 1, eps: float = 1e-8
) -> tuple[Array, Array]:
    """``(∂L/∂x1, ∂L/∂x2)`` of :func:`cosine_similarity` (see ``nn.CosineSimilarity``)."""
    return _through(_nn().CosineSimilarity(dim, eps), grad, x1, x2)
