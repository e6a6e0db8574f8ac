"""The random multiplier of inverted dropout, and torch's functional dropout names.

Dropout multiplies its input by ``noise = mask / (1 - p)``, where each element of the
mask is 1 with probability ``1 - p`` and 0 otherwise. Then

    E[noise] = (1 - p) · 1/(1 - p) = 1,   so   E[x · noise] = x:

the expected output is the input, and evaluation mode (no dropout) needs no rescaling.
This is PyTorch's construction (``bernoulli_(1 - p)`` then ``div_(1 - p)``).

The functional forms (``dropout``, ``dropout1d``/``2d``/``3d``, ``alpha_dropout``,
``feature_alpha_dropout``) run the matching layer in the mode ``training`` says. Each
``*_backward(grad, <the same arguments>)`` draws the mask again, so it needs the
forward's mask back: pass the same integer seed as ``generator`` to both (refnet's
addition to torch's signature; a stateless function has nowhere else to keep it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from refnet._typing import Array, Seed

__all__ = [
    "alpha_dropout",
    "alpha_dropout_backward",
    "dropout",
    "dropout1d",
    "dropout1d_backward",
    "dropout2d",
    "dropout2d_backward",
    "dropout3d",
    "dropout3d_backward",
    "dropout_backward",
    "dropout_noise",
    "feature_alpha_dropout",
    "feature_alpha_dropout_backward",
]


def dropout_noise(
    shape: tuple[int, ...], p: float, dtype: npt.DTypeLike, generator: np.random.Generator
) -> Array:
    """``mask / (1 - p)`` of ``shape`` and ``dtype``, each mask element kept with probability 1-p.

    For ``0 < p < 1``. Drawing the uniforms is most of the cost, so it is done once in
    float32 (half the bits of float64, and twice as fast) and turned into the noise in
    place: ``u ≥ p`` holds with probability ``1 - p`` (up to the 2⁻²⁴ grid of float32
    uniforms), the comparison writes 0/1 into the same buffer, and one multiply scales it.
    """
    noise = generator.random(shape, dtype=np.float32)
    np.greater_equal(noise, np.float32(p), out=noise)
    noise = noise.astype(dtype, copy=False)
    noise *= 1.0 / (1.0 - p)
    return noise


# ---------------------------------------------------------------------- torch's functional names

_KINDS = {
    "dropout": "Dropout",
    "dropout1d": "Dropout1d",
    "dropout2d": "Dropout2d",
    "dropout3d": "Dropout3d",
    "alpha_dropout": "AlphaDropout",
    "feature_alpha_dropout": "FeatureAlphaDropout",
}


def _layer(kind: str, p: float, training: bool, generator: Seed) -> Any:
    import refnet.nn as nn  # refnet.nn imports this package: import it when called

    layer = getattr(nn, _KINDS[kind])(p, generator=generator)
    return layer.train(training)


def _run(kind: str, input: Array, p: float, training: bool, generator: Seed) -> Array:
    return _layer(kind, p, training, generator)(input)


def _run_backward(
    kind: str, grad: Array, input: Array, p: float, training: bool, generator: Seed
) -> Array:
    """Replay the forward's mask from its seed, then backpropagate through it."""
    if training and 0.0 < p < 1.0 and not isinstance(generator, (int, np.integer)):
        raise ValueError(
            f"{kind}_backward: pass the integer seed the forward used (generator=seed), so "
            "the same mask is drawn again; a Generator object has moved on since the forward"
        )
    layer = _layer(kind, p, training, generator)
    layer(input)
    return layer.backward(grad)


def dropout(
    input: Array,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    generator: Seed = None,
) -> Array:
    """Zero elements with probability ``p``, scale the rest by ``1/(1 - p)`` (``F.dropout``).

    ``inplace`` is accepted and has no effect (refnet never overwrites an input);
    ``generator`` (refnet's addition) is the seed or Generator of the mask.
    """
    return _run("dropout", input, p, training, generator)


def dropout_backward(
    grad: Array,
    input: Array,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    generator: Seed = None,
) -> Array:
    """∂L/∂input of :func:`dropout`: ``grad · noise`` for the mask drawn from ``generator``
    (the forward's integer seed; required in training mode with ``0 < p < 1``)."""
    return _run_backward("dropout", grad, input, p, training, generator)


def dropout1d(
    input: Array,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    generator: Seed = None,
) -> Array:
    """Zero whole channels of ``(N, C, L)`` or ``(C, L)`` (``F.dropout1d``)."""
    return _run("dropout1d", input, p, training, generator)


def dropout1d_backward(
    grad: Array,
    input: Array,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    generator: Seed = None,
) -> Array:
    """∂L/∂input of :func:`dropout1d` (the forward's seed as ``generator``)."""
    return _run_backward("dropout1d", grad, input, p, training, generator)


def dropout2d(
    input: Array,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    generator: Seed = None,
) -> Array:
    """Zero whole feature maps of ``(N, C, H, W)`` (``F.dropout2d``; see ``nn.Dropout2d``)."""
    return _run("dropout2d", input, p, training, generator)


def dropout2d_backward(
    grad: Array,
    input: Array,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    generator: Seed = None,
) -> Array:
    """∂L/∂input of :func:`dropout2d` (the forward's seed as ``generator``)."""
    return _run_backward("dropout2d", grad, input, p, training, generator)


def dropout3d(
    input: Array,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    generator: Seed = None,
) -> Array:
    """Zero whole 3-D feature maps of ``(N, C, D, H, W)`` or ``(C, D, H, W)`` (``F.dropout3d``)."""
    return _run("dropout3d", input, p, training, generator)


def dropout3d_backward(
    grad: Array,
    input: Array,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    generator: Seed = None,
) -> Array:
    """∂L/∂input of :func:`dropout3d` (the forward's seed as ``generator``)."""
    return _run_backward("dropout3d", grad, input, p, training, generator)


def alpha_dropout(
    input: Array,
    p: float = 0.5,
    training: bool = False,
    inplace: bool = False,
    *,
    generator: Seed = None,
) -> Array:
    """Alpha dropout for SELU networks (``F.alpha_dropout``; torch's default ``training=False``)."""
    return _run("alpha_dropout", input, p, training, generator)


def alpha_dropout_backward(
    grad: Array,
    input: Array,
    p: float = 0.5,
    training: bool = False,
    inplace: bool = False,
    *,
    generator: Seed = None,
) -> Array:
    """∂L/∂input of :func:`alpha_dropout`: ``grad · a m`` (the forward's seed as ``generator``)."""
    return _run_backward("alpha_dropout", grad, input, p, training, generator)


def feature_alpha_dropout(
    input: Array,
    p: float = 0.5,
    training: bool = False,
    inplace: bool = False,
    *,
    generator: Seed = None,
) -> Array:
    """Alpha dropout of whole channels (``F.feature_alpha_dropout``; default ``training=False``)."""
    return _run("feature_alpha_dropout", input, p, training, generator)


def feature_alpha_dropout_backward(
    grad: Array,
    input: Array,
    p: float = 0.5,
    training: bool = False,
    inplace: bool = False,
    *,
    generator: Seed = None,
) -> Array:
    """∂L/∂input of :func:`feature_alpha_dropout` (the forward's seed as ``generator``)."""
    return _run_backward("feature_alpha_dropout", grad, input, p, training, generator)
