"""The arguments of the functional convolutions, checked as torch checks them.

The public functions of :mod:`refnet.nn.functional.conv` and
:mod:`refnet.nn.functional.convolution3d` validate their arguments here before any
kernel runs, refusing what torch refuses: a ``ValueError`` (a ``TypeError`` for a
non-integer argument) whose message starts with the function's name and gives the
offending values. The checks read shapes and ints only (O(1) per call); the kernels
assume valid shapes, and the layers of :mod:`refnet.nn.conv` make their own checks,
naming the layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from refnet._typing import Array

IntOrTuple = int | Sequence[int]


@dataclass(frozen=True)
class ConvArgs:
    """A functional convolution's checked arguments, one int per spatial axis
    (``padding`` stays ``'same'`` or ``'valid'`` when given so)."""

    stride: tuple[int, ...]
    padding: tuple[int, ...] | str
    dilation: tuple[int, ...]
    groups: int
    output_padding: tuple[int, ...]


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer))


def _ntuple(name: str, what: str, value: object, dims: int) -> tuple[int, ...]:
    """``value`` as ``dims`` ints; an int or a 1-tuple is repeated, as torch does."""
    items = (value,) if _is_int(value) else value
    wanted = f"{name}: {what} must be an int or a tuple of {dims} ints, got {value!r}"
    if not isinstance(items, Sequence) or not all(_is_int(v) for v in items):
        raise TypeError(wanted)
    if len(items) not in (1, dims):
        raise ValueError(wanted)
    return tuple(int(v) for v in items) * (dims // len(items))


def _at_least(name: str, what: str, values: tuple[int, ...], low: int) -> tuple[int, ...]:
    if min(values) < low:
        raise ValueError(f"{name}: {what} must be at least {low}, got {values}")
    return values


def _groups_arg(name: str, groups: object) -> int:
    if not isinstance(groups, (int, np.integer)):
        raise TypeError(f"{name}: groups must be an int, got {groups!r}")
    if groups < 1:
        raise ValueError(f"{name}: groups must be a positive integer, got {groups}")
    return int(groups)


def _paddings(name: str, padding: object, dims: int) -> tuple[int, ...]:
    return _at_least(name, "padding", _ntuple(name, "padding", padding, dims), 0)


def _conv_padding(
    name: str, padding: object, stride: tuple[int, ...], dims: int
) -> tuple[int, ...] | str:
    """Ints ≥ 0, or 'valid', or 'same' (refused by torch for a stride > 1)."""
    if not isinstance(padding, str):
        return _paddings(name, padding, dims)
    if padding not in ("same", "valid"):
        raise ValueError(f"{name}: invalid padding string {padding!r}, should be 'same' or 'valid'")
    if padding == "same" and max(stride) > 1:
        raise ValueError(
            f"{name}: padding='same' is not supported for strided convolutions, got stride={stride}"
        )
    return padding


def _output_padding(
    name: str, value: object, stride: tuple[int, ...], dilation: tuple[int, ...]
) -> tuple[int, ...]:
    """Ints ≥ 0, each smaller than its axis's stride or dilation (torch's limit)."""
    pads = _at_least(name, "output_padding", _ntuple(name, "output_padding", value, len(stride)), 0)
    if any(op >= s and op >= d for op, s, d in zip(pads, stride, dilation, strict=True)):
        raise ValueError(
            f"{name}: output_padding must be smaller than either stride or dilation, got "
            f"output_padding={pads}, stride={stride}, dilation={dilation}"
        )
    return pads


def _check_dims(name: str, x: Array, weight: Array, dims: int) -> None:
    """Input (C, *spatial) or (N, C, *spatial); weight (·, ·, *kernel)."""
    if np.ndim(x) not in (dims + 1, dims + 2):
        raise ValueError(
            f"{name}: expected a {dims + 1}-d (unbatched) or {dims + 2}-d (batched) input, "
            f"got shape {np.shape(x)}"
        )
    if np.ndim(weight) != dims + 2:
        raise ValueError(f"{name}: expected a {dims + 2}-d weight, got shape {np.shape(weight)}")


def _check_weight_sizes(name: str, shape: tuple[int, ...], transposed: bool) -> None:
    """Torch refuses an empty kernel and a weight without output channels (a transposed
    one, weight (C_in, C_out/groups, *kernel), also without input channels)."""
    if min(shape[2:]) < 1:
        raise ValueError(
            f"{name}: kernel size must be at least 1, got {shape[2:]} (weight shape {shape})"
        )
    named = (
        (("in_channels", 0), ("out_channels / groups", 1)) if transposed else (("out_channels", 0),)
    )
    for what, axis in named:
        if shape[axis] < 1:
            raise ValueError(
                f"{name}: {what} (weight.shape[{axis}]) must be at least 1, got weight shape "
                f"{shape}"
            )


def _check_channels(
    name: str, x_shape: tuple[int, ...], w_shape: tuple[int, ...], groups: int, transposed: bool
) -> None:
    """weight.shape[0] divisible by groups; the input's channels weight.shape[1]·groups
    (convolution) or weight.shape[0] (transposed)."""
    if w_shape[0] % groups:
        what = "in_channels" if transposed else "out_channels"
        raise ValueError(
            f"{name}: {what} (weight.shape[0]) must be divisible by groups, got weight shape "
            f"{w_shape} and groups={groups}"
        )
    expected = w_shape[0] if transposed else w_shape[1] * groups
    source = "weight.shape[0]" if transposed else f"weight.shape[1]={w_shape[1]} * groups={groups}"
    channels = x_shape[-len(w_shape) + 1]
    if channels != expected:
        raise ValueError(
            f"{name}: expected input with {expected} channels ({source}), got {channels} "
            f"channels (input shape {x_shape})"
        )


def _check_bias(name: str, bias: Array | None, out_channels: int) -> None:
    if bias is not None and np.shape(bias) != (out_channels,):
        raise ValueError(f"{name}: expected bias of shape ({out_channels},), got {np.shape(bias)}")


def _check_spatial(name: str, x_shape: tuple[int, ...], dims: int) -> None:
    if min(x_shape[-dims:]) < 1:
        raise ValueError(
            f"{name}: expected a non-empty spatial input (only a zero batch or zero channels "
            f"are supported), got shape {x_shape}"
        )


def _dilated(kernel: tuple[int, ...], dilation: tuple[int, ...]) -> tuple[int, ...]:
    """Extent of one window: ``d·(k - 1) + 1`` per axis."""
    return tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True))


def _padding_totals(args: ConvArgs, kernel: tuple[int, ...]) -> tuple[int, ...]:
    """Both sides' padding per axis: 'same' pads ``d·(k - 1)`` in all, 'valid' none."""
    if args.padding == "same":
        return tuple(e - 1 for e in _dilated(kernel, args.dilation))
    if isinstance(args.padding, str):
        return (0,) * len(kernel)
    return tuple(2 * p for p in args.padding)


def _conv_sizes(sizes: tuple[int, ...], kernel: tuple[int, ...], args: ConvArgs) -> tuple[int, ...]:
    """``⌊(n + padding - dilated kernel) / s⌋ + 1`` per axis."""
    return tuple(
        (n + t - e) // s + 1
        for n, t, e, s in zip(
            sizes,
            _padding_totals(args, kernel),
            _dilated(kernel, args.dilation),
            args.stride,
            strict=True,
        )
    )


def _transposed_sizes(
    sizes: tuple[int, ...], kernel: tuple[int, ...], args: ConvArgs
) -> tuple[int, ...]:
    """``(n - 1)·s - 2p + d·(k - 1) + 1 + output_padding`` per axis."""
    return tuple(
        (n - 1) * s - t + e + op
        for n, s, t, e, op in zip(
            sizes,
            args.stride,
            _padding_totals(args, kernel),
            _dilated(kernel, args.dilation),
            args.output_padding,
            strict=True,
        )
    )


def conv_output_shape(
    x_shape: tuple[int, ...], weight_shape: tuple[int, ...], args: ConvArgs
) -> tuple[int, ...]:
    """The output shape of a checked convolution: (N, O, *out) or, unbatched, (O, *out)."""
    dims = len(weight_shape) - 2
    out = _conv_sizes(x_shape[-dims:], weight_shape[2:], args)
    return (*x_shape[: -dims - 1], weight_shape[0], *out)


def conv_transpose_output_shape(
    x_shape: tuple[int, ...], weight_shape: tuple[int, ...], args: ConvArgs
) -> tuple[int, ...]:
    """The output shape of a checked transposed convolution, with C_out = weight.shape[1]·groups."""
    dims = len(weight_shape) - 2
    out = _transposed_sizes(x_shape[-dims:], weight_shape[2:], args)
    return (*x_shape[: -dims - 1], weight_shape[1] * args.groups, *out)


def _check_kernel_fits(
    name: str, x_shape: tuple[int, ...], w_shape: tuple[int, ...], args: ConvArgs
) -> None:
    """The padded input must hold one dilated kernel along every axis."""
    sizes, kernel = x_shape[2 - len(w_shape) :], w_shape[2:]
    padded = tuple(n + t for n, t in zip(sizes, _padding_totals(args, kernel), strict=True))
    extent = _dilated(kernel, args.dilation)
    if any(p < e for p, e in zip(padded, extent, strict=True)):
        raise ValueError(
            f"{name}: input of size {sizes} padded to {padded} is smaller than the dilated "
            f"kernel {extent} (input shape {x_shape})"
        )


def _check_output_fits(
    name: str, x_shape: tuple[int, ...], w_shape: tuple[int, ...], args: ConvArgs
) -> None:
    """A transposed convolution's output must have at least one element per axis."""
    sizes = x_shape[2 - len(w_shape) :]
    out = _transposed_sizes(sizes, w_shape[2:], args)
    if min(out) < 1:
        raise ValueError(
            f"{name}: output size {out} is too small, every axis needs at least 1 (input of "
            f"size {sizes}, stride {args.stride}, padding {args.padding}, kernel "
            f"{w_shape[2:]}, dilation {args.dilation})"
        )


def check_conv(
    name: str,
    dims: int,
    x: Array,
    weight: Array,
    bias: Array | None,
    stride: IntOrTuple,
    padding: IntOrTuple | str,
    dilation: IntOrTuple,
    groups: int,
) -> ConvArgs:
    """Check a ``dims``-d convolution's arguments as torch does (``name`` opens every
    message); return them as per-axis tuples."""
    _check_dims(name, x, weight, dims)
    x_shape, w_shape = np.shape(x), np.shape(weight)
    _check_weight_sizes(name, w_shape, transposed=False)
    strides = _at_least(name, "stride", _ntuple(name, "stride", stride, dims), 1)
    dilations = _at_least(name, "dilation", _ntuple(name, "dilation", dilation, dims), 1)
    pads = _conv_padding(name, padding, strides, dims)
    args = ConvArgs(strides, pads, dilations, _groups_arg(name, groups), (0,) * dims)
    _check_channels(name, x_shape, w_shape, args.groups, transposed=False)
    _check_bias(name, bias, w_shape[0])
    _check_spatial(name, x_shape, dims)
    _check_kernel_fits(name, x_shape, w_shape, args)
    return args


def check_conv_transpose(
    name: str,
    dims: int,
    x: Array,
    weight: Array,
    bias: Array | None,
    stride: IntOrTuple,
    padding: IntOrTuple,
    output_padding: IntOrTuple,
    groups: int,
    dilation: IntOrTuple,
) -> ConvArgs:
    """Check a ``dims``-d transposed convolution's arguments as torch does (``name`` opens
    every message; ``padding`` must be ints); return them as per-axis tuples."""
    _check_dims(name, x, weight, dims)
    x_shape, w_shape = np.shape(x), np.shape(weight)
    _check_weight_sizes(name, w_shape, transposed=True)
    strides = _at_least(name, "stride", _ntuple(name, "stride", stride, dims), 1)
    dilations = _at_least(name, "dilation", _ntuple(name, "dilation", dilation, dims), 1)
    args = ConvArgs(
        strides,
        _paddings(name, padding, dims),
        dilations,
        _groups_arg(name, groups),
        _output_padding(name, output_padding, strides, dilations),
    )
    _check_channels(name, x_shape, w_shape, args.groups, transposed=True)
    _check_bias(name, bias, w_shape[1] * args.groups)
    _check_spatial(name, x_shape, dims)
    _check_output_fits(name, x_shape, w_shape, args)
    return args


def check_gradient(name: str, grad: Array, expected: tuple[int, ...]) -> None:
    """A backward function's gradient must have its forward output's shape."""
    if np.shape(grad) != tuple(expected):
        raise ValueError(
            f"{name}: expected grad of the output's shape {tuple(expected)}, got {np.shape(grad)}"
        )
