"""Inputs and outputs as structures: an array, ``None``, or (nested) tuples of them.

A module with several inputs or outputs (``lstm(x, (h0, c0)) -> (out, (h_n, c_n))``)
is driven by the generic tests through these helpers: one random upstream gradient per
floating output, ``None`` for the outputs a case leaves unused, and the backward called
with one gradient per output.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

Structure = Any
Path = tuple[int, ...]


def map_structure(fn: Callable[[np.ndarray], Any], value: Structure) -> Structure:
    """Apply ``fn`` to every array in ``value``, keeping the nesting (and ``None``s)."""
    if isinstance(value, np.ndarray):
        return fn(value)
    if isinstance(value, tuple | list):
        return tuple(map_structure(fn, v) for v in value)
    return value


def leaves(value: Structure, path: Path = ()) -> Iterator[tuple[Path, np.ndarray]]:
    """Every array in ``value`` with its index path."""
    if isinstance(value, np.ndarray):
        yield path, value
    elif isinstance(value, tuple | list):
        for i, v in enumerate(value):
            yield from leaves(v, (*path, i))


def is_float(array: np.ndarray) -> bool:
    return bool(np.issubdtype(array.dtype, np.floating))


def upstream(out: Structure, seed: int, unused: Sequence[Path] = ()) -> Structure:
    """A standard normal gradient for every floating output (in its dtype), None for unused."""
    rng = np.random.default_rng(seed)
    skip = set(map(tuple, unused))

    def build(value: Structure, path: Path) -> Structure:
        if path in skip or value is None:
            return None
        if isinstance(value, tuple | list):
            return tuple(build(v, (*path, i)) for i, v in enumerate(value))
        if not is_float(value):
            return None
        return rng.standard_normal(value.shape).astype(value.dtype)

    return build(out, ())


def call_backward(module: Any, G: Structure) -> Structure:
    """``module.backward`` with one gradient per output."""
    return module.backward(*G) if isinstance(G, tuple) else module.backward(G)


def differentiable_slots(inputs: tuple[Any, ...]) -> list[int]:
    """The positions of the inputs that get a gradient (those holding a floating array)."""
    return [i for i, v in enumerate(inputs) if any(is_float(a) for _, a in leaves(v))]


def input_gradients(returned: Structure, inputs: tuple[Any, ...]) -> list[tuple[np.ndarray, Any]]:
    """Pairs ``(input array, its returned gradient)`` over every differentiable input."""
    slots = differentiable_slots(inputs)
    per_slot = [] if not slots else [returned] if len(slots) == 1 else list(returned)
    assert len(per_slot) == len(slots), f"backward returned {len(per_slot)} slots for {len(slots)}"
    pairs = []
    for i, grad in zip(slots, per_slot, strict=True):
        for path, array in leaves(inputs[i]):
            if is_float(array):
                part = grad
                for j in path:
                    part = part[j]
                pairs.append((array, part))
    return pairs
