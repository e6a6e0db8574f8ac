"""Hypothesis strategies for property tests of layers, refnet's own and yours.

refnet's test suite draws shapes, hyperparameters and values from these; they ship with
the package so you can test your own layers the same way (needs the ``test`` extra):

>>> from hypothesis import given, settings
>>> import refnet.nn as nn
>>> from refnet.gradcheck import check_module
>>> from refnet.testing import arrays, shapes
>>> @settings(max_examples=5, deadline=None)
... @given(x=shapes(min_dims=2, max_dims=2).flatmap(lambda s: arrays(s, kinks=(0.0,))))
... def test_relu(x):
...     check_module(nn.ReLU().double(), x)
>>> test_relu()

Values are drawn from a NumPy generator seeded by Hypothesis (drawing every element
through Hypothesis is slow and produces ties and denormals that only test the
strategy). Shrinking then acts on the shape, the hyperparameters and the seed.

Central differences are wrong at kinks (ReLU at 0) and ties (two equal values under a
max), so the strategies *build* values away from them instead of filtering examples.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from refnet._typing import Array

__all__ = ["arrays", "distinct_arrays", "generators", "related_arrays", "seeds", "shapes"]


def seeds() -> st.SearchStrategy[int]:
    """Seeds for ``np.random.default_rng``."""
    return st.integers(0, 2**32 - 1)


def generators() -> st.SearchStrategy[np.random.Generator]:
    """``np.random.Generator`` objects seeded by Hypothesis (shown by seed when a test fails)."""
    return seeds().map(np.random.default_rng)


def shapes(
    min_dims: int = 1, max_dims: int = 4, min_side: int = 1, max_side: int = 5
) -> st.SearchStrategy[tuple[int, ...]]:
    """Array shapes; keep them small: a gradient check costs two forwards per element."""
    return hnp.array_shapes(
        min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    )


def push_away(values: Array, kinks: Sequence[float], margin: float) -> Array:
    """Move every value closer than ``margin`` to a kink out to distance ``margin``."""
    for kink in kinks:
        offset = values - kink
        near = np.abs(offset) < margin
        values[near] = kink + np.where(offset[near] >= 0, margin, -margin)
    return values


def arrays(
    shape: tuple[int, ...],
    *,
    low: float = -2.0,
    high: float = 2.0,
    kinks: Sequence[float] = (),
    margin: float = 0.05,
    dtype: npt.DTypeLike = np.float64,
) -> st.SearchStrategy[Array]:
    """Uniform values in ``[low, high]``, none closer than ``margin`` to any of ``kinks``.

    ``margin`` must exceed the finite-difference step (1e-6) by far: 0.05 leaves room
    for any step and for values that move slightly during a check.
    """

    def build(seed: int) -> Array:
        values = np.random.default_rng(seed).uniform(low, high, shape)
        return push_away(values, kinks, margin).astype(dtype)

    return seeds().map(build)


def distinct_arrays(
    shape: tuple[int, ...],
    *,
    low: float = -2.0,
    high: float = 2.0,
    dtype: npt.DTypeLike = np.float64,
) -> st.SearchStrategy[Array]:
    """Values evenly spread over ``[low, high]`` in random order: no two within
    ``(high - low) / size`` of each other, so a max has no ties, ever.
    """

    def build(seed: int) -> Array:
        size = int(np.prod(shape))
        values = np.linspace(low, high, max(size, 1))[:size]
        return np.random.default_rng(seed).permutation(values).reshape(shape).astype(dtype)

    return seeds().map(build)


def related_arrays(
    *layouts: str,
    sizes: dict[str, st.SearchStrategy[int]] | None = None,
    **options: object,
) -> st.SearchStrategy[tuple[Array, ...]]:
    """Several arrays whose shapes share dimensions, for modules with several inputs.

    Each layout names its dimensions, and a name stands for one size across all of
    them: ``related_arrays("N L E", "N S E", "N S E")`` draws a query, keys and values
    with one batch N and embedding E, and key length S. ``sizes`` gives a strategy per
    name (default ``integers(1, 4)``); a number in a layout is a fixed size. ``options``
    go to :func:`arrays` (``low``, ``high``, ``kinks``, ...).

    >>> from hypothesis import given, settings
    >>> @settings(max_examples=3, deadline=None)
    ... @given(related_arrays("N L E", "N S E", sizes={"E": st.just(4)}))
    ... def test_shapes(qk):
    ...     q, k = qk
    ...     assert q.shape[0] == k.shape[0] and q.shape[2] == k.shape[2] == 4
    >>> test_shapes()
    """
    names = sorted({token for layout in layouts for token in layout.split() if not token.isdigit()})
    chosen = sizes or {}

    @st.composite
    def build(draw: st.DrawFn) -> tuple[Array, ...]:
        size = {name: draw(chosen.get(name, st.integers(1, 4)), label=name) for name in names}
        shapes_ = [
            tuple(int(t) if t.isdigit() else size[t] for t in layout.split()) for layout in layouts
        ]
        return tuple(draw(arrays(shape, **options)) for shape in shapes_)  # type: ignore[arg-type]

    return build()
