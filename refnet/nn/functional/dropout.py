"""The random multiplier of inverted dropout.

Dropout multiplies its input by ``noise = mask / (1 - p)``, where each element of the
mask is 1 with probability ``1 - p`` and 0 otherwise. Then

    E[noise] = (1 - p) · 1/(1 - p) = 1,   so   E[x · noise] = x:

the expected output is the input, and evaluation mode (no dropout) needs no rescaling.
This is PyTorch's construction (``bernoulli_(1 - p)`` then ``div_(1 - p)``).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from refnet._typing import Array


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
