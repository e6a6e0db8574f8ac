"""Seeded randomness without the global ``np.random`` state.

Every refnet function that draws random numbers (initialisers, dropout, data shuffling)
takes ``generator=``: a :class:`numpy.random.Generator`, an integer seed, or ``None``.
``None`` means refnet's default generator, which :func:`manual_seed` resets, the way
``torch.manual_seed`` resets PyTorch's. The same seed gives the same run.

>>> import refnet, refnet.nn as nn
>>> _ = refnet.manual_seed(0); a = nn.Linear(3, 2).weight.data.copy()
>>> _ = refnet.manual_seed(0); b = nn.Linear(3, 2).weight.data.copy()
>>> bool((a == b).all())
True
"""

from __future__ import annotations

import numpy as np

from refnet._typing import Seed

_default_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reset refnet's default generator to ``seed`` and return it (``torch.manual_seed``)."""
    global _default_generator
    _default_generator = np.random.default_rng(seed)
    return _default_generator


def default_generator() -> np.random.Generator:
    """The generator used where ``generator=None`` is passed."""
    return _default_generator


def as_generator(generator: Seed) -> np.random.Generator:
    """Turn a ``Generator``, an integer seed or ``None`` into a ``Generator``."""
    if generator is None:
        return _default_generator
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return np.random.default_rng(int(generator))
    raise TypeError(
        f"generator must be a numpy.random.Generator, an int seed or None, "
        f"got {type(generator).__name__}"
    )
