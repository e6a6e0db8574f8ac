"""Padding kernels: :func:`pad` (PyTorch: ``torch.nn.functional.pad``) and its backward.

``pad`` lists ``(left, right)`` widths starting from the **last** axis, PyTorch's
convention: ``pad=(1, 2)`` widens the last axis by 1 before and 2 after, ``pad=(1, 1, 2, 2)``
the last axis by 1 on each side and the second-to-last by 2. A negative width crops.

Along one padded axis of size ``n``, output position ``j ∈ [-left, n + right)`` reads
input position ``s(j)``:

* ``'constant'``: ``s(j) = j`` inside ``[0, n)``, else the constant ``value``;
* ``'reflect'``: ``s(j) = -j`` before, ``2(n - 1) - j`` after (the edge is not repeated;
  each width must be ``< n``);
* ``'replicate'``: ``s(j) = clip(j, 0, n - 1)`` (the edge is repeated);
* ``'circular'``: ``s(j) = j mod n`` (each width must be ``≤ n``; negative widths crop
  first, and the cropped axis wraps, as in PyTorch).

**Backward.** The output is a gather ``y_j = x_{s(j)}``, so ``∂L/∂x_i = Σ_{j: s(j) = i}
∂L/∂y_j``: the gradient of the copied centre, plus each copied border added back onto the
input positions it was copied from (reversed for ``'reflect'``, summed onto the edge for
``'replicate'``, wrapped around for ``'circular'``). Constant positions have no source.

The fast kernels pad with ``np.pad`` by the positive widths and then crop the negative
ones, and their backward undoes the two steps with slices. :func:`pad_reference` and
:func:`pad_backward_reference` are the plain loops over output positions that the tests
hold them to.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from refnet._typing import Array

PadMode = Literal["constant", "reflect", "replicate", "circular"]
Widths = tuple[tuple[int, int], ...]

_MODES = ("constant", "reflect", "replicate", "circular")
_NUMPY_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad(
    input: Array, pad: Sequence[int], mode: str = "constant", value: float | None = None
) -> Array:
    """Pad ``input`` by ``pad`` (last axis first), PyTorch's ``F.pad``.

    Shapes: any ``(*, d_k, ..., d_1)`` in ``'constant'`` mode (``k = len(pad) // 2``
    axes padded); with another mode, the input has ``k + 1`` or ``k + 2`` axes (unbatched
    or batched), ``k`` from 1 to 3. ``value`` (default 0) is for ``'constant'`` only.
    """
    widths = pad_widths(np.shape(input), pad, mode, value)
    return pad_forward(input, widths, mode, 0.0 if value is None else value)


def pad_backward(
    grad: Array,
    input: Array,
    pad: Sequence[int],
    mode: str = "constant",
    value: float | None = None,
) -> Array:
    """∂L/∂input of :func:`pad` from ``grad = ∂L/∂output`` (only ``input``'s shape is read)."""
    widths = pad_widths(np.shape(input), pad, mode, value)
    return pad_gradient(grad, widths, mode)


def pad_widths(
    shape: tuple[int, ...],
    pad: Sequence[int],
    mode: str = "constant",
    value: float | None = None,
    owner: str = "pad",
) -> Widths:
    """Check ``pad`` against an input of ``shape``; return one ``(before, after)`` per axis.

    Raises ``ValueError`` (naming ``owner``) with PyTorch's conditions: an even number of
    integer widths, no more axes than the input has, the non-constant modes' input ranks,
    reflection widths below the axis size, circular ones at most the size, a non-negative
    output size, no ``value`` outside ``'constant'`` mode. Two deviations: an empty
    output is allowed (PyTorch refuses some: an empty last axis in reflection and
    replication mode), and circular widths beyond the size left after cropping are
    refused (PyTorch accepts them and reads unset memory).
    """
    pairs = _pairs(pad, mode, value, owner)
    k = len(pairs)
    _check_rank(shape, k, mode, owner)
    widths = [(0, 0)] * (len(shape) - k) + pairs[::-1]
    for axis, (n, (before, after)) in enumerate(zip(shape, widths, strict=True)):
        _check_axis(n, before, after, mode, owner, axis, shape)
    return tuple(widths)


def _pairs(pad: Sequence[int], mode: str, value: float | None, owner: str) -> list[tuple[int, int]]:
    if mode not in _MODES:
        raise ValueError(f"{owner}: mode must be one of {_MODES}, got {mode!r}")
    if mode != "constant" and value not in (None, 0):
        raise ValueError(f"{owner}: padding mode {mode!r} doesn't take a value (got {value!r})")
    widths = tuple(pad)
    if len(widths) % 2 or not all(isinstance(w, (int, np.integer)) for w in widths):
        raise ValueError(f"{owner}: pad must be an even number of ints, got {pad!r}")
    return [(int(widths[i]), int(widths[i + 1])) for i in range(0, len(widths), 2)]


def _check_rank(shape: tuple[int, ...], k: int, mode: str, owner: str) -> None:
    if k > len(shape):
        raise ValueError(
            f"{owner}: pad of length {2 * k} pads {k} axes, but the input has shape {shape}"
        )
    if mode != "constant" and (not 1 <= k <= 3 or len(shape) not in (k + 1, k + 2)):
        raise ValueError(
            f"{owner}: {mode!r} padding of {k} axes takes a {k + 1}-d (unbatched) or "
            f"{k + 2}-d (batched) input, got shape {shape}"
        )
    unbatched = shape if len(shape) == k + 1 else shape[1:]
    if mode in ("reflect", "replicate") and 0 in unbatched:
        raise ValueError(
            f"{owner}: {mode!r} padding takes an input whose axes are non-empty except "
            f"the batch axis, got shape {shape}"
        )


def _check_axis(
    n: int, before: int, after: int, mode: str, owner: str, axis: int, shape: tuple[int, ...]
) -> None:
    where = f"padding ({before}, {after}) at axis {axis} of input of shape {shape}"
    cropped = n + min(before, 0) + min(after, 0)
    if n + before + after < 0 or (cropped < 0 and mode in ("constant", "circular")):
        raise ValueError(f"{owner}: {where} crops more than the axis holds")
    if mode == "constant" or (before == 0 and after == 0):
        return
    if n == 0:
        raise ValueError(f"{owner}: {mode!r} padding needs a non-empty axis, got {where}")
    if mode == "reflect" and max(before, after) >= n:
        raise ValueError(
            f"{owner}: reflection padding must be less than the axis size, got {where}"
        )
    if mode == "circular" and max(before, after) > cropped:
        # PyTorch checks against n alone, and beyond the cropped size reads unset memory.
        raise ValueError(
            f"{owner}: circular padding must be at most the axis size after cropping "
            f"(it would wrap around more than once), got {where}"
        )


def padded_shape(shape: tuple[int, ...], widths: Widths) -> tuple[int, ...]:
    """The output shape of padding ``shape`` by ``widths`` (one pair per axis)."""
    return tuple(n + b + a for n, (b, a) in zip(shape, widths, strict=True))


# ---------------------------------------------------------------------- fast kernels


def _crops(widths: Widths, sizes: tuple[int, ...]) -> tuple[slice, ...]:
    """The slices that remove the negative widths from an array padded by the positive ones."""
    return tuple(slice(-min(b, 0), m + min(a, 0)) for (b, a), m in zip(widths, sizes, strict=True))


def _positive(widths: Widths) -> Widths:
    return tuple((max(b, 0), max(a, 0)) for b, a in widths)


def pad_forward(x: Array, widths: Widths, mode: str, value: float) -> Array:
    """The forward kernel on checked ``widths``: ``np.pad`` by the positive widths and a crop.

    ``'circular'`` crops first and wraps the cropped axis (PyTorch's order); the other
    modes pad first, so a crop can remove what was padded.
    """
    positive = _positive(widths)
    if mode == "circular":
        return np.pad(x[_crops(widths, x.shape)], positive, mode="wrap")
    if mode == "constant":
        full = np.pad(x, positive, mode="constant", constant_values=value)
    else:
        full = np.pad(x, positive, mode=_NUMPY_MODES[mode])  # type: ignore[call-overload]
    return np.ascontiguousarray(full[_crops(widths, full.shape)])


def pad_gradient(grad: Array, widths: Widths, mode: str) -> Array:
    """The backward kernel: ∂L/∂input from ``grad`` and the checked ``widths``.

    Undoes :func:`pad_forward`'s two steps in reverse order: a crop's gradient puts zeros
    back at the cropped positions; a padding's folds each padded axis's borders onto the
    positions they were copied from (:func:`_fold_axis`).
    """
    if mode == "circular":
        return _uncropped(_folded(grad, widths, mode), widths)
    return _folded(_uncropped(grad, widths), widths, mode)


def _uncropped(grad: Array, widths: Widths) -> Array:
    """The gradient of the crop of the negative widths: zeros at the cropped positions."""
    shape = tuple(m - min(b, 0) - min(a, 0) for m, (b, a) in zip(grad.shape, widths, strict=True))
    g = np.zeros(shape, dtype=grad.dtype)
    g[_crops(widths, shape)] = grad
    return g


def _folded(grad: Array, widths: Widths, mode: str) -> Array:
    """The gradient of the padding by the positive widths, one axis at a time."""
    g = grad
    for axis, (before, after) in enumerate(_positive(widths)):
        if before or after:
            g = _fold_axis(g, axis, before, after, mode)
    return g if g is not grad else grad.copy()


def _fold_axis(g: Array, axis: int, before: int, after: int, mode: str) -> Array:
    """The gradient along one axis padded by ``(before, after) ≥ 0``, borders added back."""
    moved = np.moveaxis(g, axis, -1)
    n = moved.shape[-1] - before - after
    result = moved[..., before : before + n].copy()
    left, right = moved[..., :before], moved[..., before + n :]
    if mode == "reflect":
        result[..., 1 : before + 1] += left[..., ::-1]
        result[..., n - 1 - after : n - 1] += right[..., ::-1]
    elif mode == "replicate":
        result[..., 0] += left.sum(axis=-1)
        result[..., n - 1] += right.sum(axis=-1)
    elif mode == "circular":
        result[..., n - before :] += left
        result[..., :after] += right
    return np.ascontiguousarray(np.moveaxis(result, -1, axis))


# ---------------------------------------------------------------------- reference kernels


def _source(j: int, n: int, before: int, after: int, mode: str) -> int | None:
    """The input position that output position ``j`` of an axis of size ``n`` copies.

    None for a constant position. Circular padding wraps the axis cropped by the
    negative widths; the other modes index the axis padded by the positive ones.
    """
    if mode == "circular":
        start, size = -min(before, 0), n + min(before, 0) + min(after, 0)
        return start + (j - max(before, 0)) % size
    i = j - before
    if 0 <= i < n:
        return i
    if mode == "reflect":
        return -i if i < 0 else 2 * (n - 1) - i
    if mode == "replicate":
        return min(max(i, 0), n - 1)
    return None


def _reference_positions(
    shape: tuple[int, ...], widths: Widths, mode: str
) -> list[tuple[tuple[int, ...], tuple[int, ...] | None]]:
    """Every output index with the input index it copies (None: a constant position)."""
    pairs: list[tuple[tuple[int, ...], tuple[int, ...] | None]] = []
    for index in np.ndindex(*padded_shape(shape, widths)):
        sources = [
            _source(j, n, b, a, mode) for j, n, (b, a) in zip(index, shape, widths, strict=True)
        ]
        known = [s for s in sources if s is not None]
        pairs.append((index, tuple(known) if len(known) == len(sources) else None))
    return pairs


def pad_reference(
    input: Array, pad: Sequence[int], mode: str = "constant", value: float | None = None
) -> Array:
    """:func:`pad` as a loop over output positions, each copying ``input[s(j)]``."""
    widths = pad_widths(input.shape, pad, mode, value)
    y = np.full(padded_shape(input.shape, widths), 0.0 if value is None else value, input.dtype)
    for index, source in _reference_positions(input.shape, widths, mode):
        if source is not None:
            y[index] = input[source]
    return y


def pad_backward_reference(
    grad: Array,
    input: Array,
    pad: Sequence[int],
    mode: str = "constant",
    value: float | None = None,
) -> Array:
    """:func:`pad_backward` as a loop: each output gradient added onto its source position."""
    widths = pad_widths(input.shape, pad, mode, value)
    dx = np.zeros(input.shape, dtype=grad.dtype)
    for index, source in _reference_positions(input.shape, widths, mode):
        if source is not None:
            dx[source] += grad[index]
    return dx
