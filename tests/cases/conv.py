"""Cases for the convolution layers: Conv1d/2d/3d, ConvTranspose1d/2d/3d.

Every case draws the hyperparameters (kernel, stride, padding as int, tuple, 'same' or
'valid', dilation, groups, bias, padding_mode, output_padding) and then a small input
that is valid for them: sizes are built to fit, never filtered. Shapes stay tiny
(N ≤ 2, C ≤ 4, H, W ≤ 6): a gradient check costs two forwards per input and weight
element.
"""

from __future__ import annotations

from hypothesis import strategies as st

import refnet.nn as nn
from refnet.testing import arrays, seeds
from tests.cases.registry import ModuleCase, module_case

Draw = st.DrawFn


def _channels(draw: Draw) -> tuple[int, int, int]:
    """``(in_channels, out_channels, groups)`` with both divisible by groups, all ≤ 4."""
    groups = draw(st.sampled_from([1, 1, 2]))
    return groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2)), groups


def _batch(draw: Draw) -> tuple[int, ...]:
    """A leading batch dimension of 1 or 2, or none (an unbatched input)."""
    return draw(st.sampled_from([(1,), (2,), ()]))


def _padding_2d(
    draw: Draw, kernel: tuple[int, int], dilation: tuple[int, int], strided: bool
) -> tuple[int | tuple[int, int] | str, tuple[int, int]]:
    """A padding argument and the (per-side, largest) padding it means along H and W."""
    options = ["int", "tuple", "valid"] + ([] if strided else ["same"])
    kind = draw(st.sampled_from(options))
    if kind == "same":
        return "same", tuple(-(-d * (k - 1) // 2) for k, d in zip(kernel, dilation, strict=True))  # type: ignore[return-value]
    if kind == "valid":
        return "valid", (0, 0)
    if kind == "int":
        p = draw(st.integers(0, 2))
        return p, (p, p)
    pair = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    return pair, pair


def _size(draw: Draw, extent: int, pad_total: int, largest_pad: int, mode: str) -> int:
    """A spatial size ≤ 6 holding the dilated kernel once padded, within the mode's limits."""
    low = max(1, extent - pad_total)
    if mode == "reflect":
        low = max(low, largest_pad + 1)
    elif mode == "circular":
        low = max(low, largest_pad)
    return draw(st.integers(low, max(low, 6)))


@module_case(nn.Conv2d)
def conv2d_case(draw: Draw) -> ModuleCase:
    c_in, c_out, groups = _channels(draw)
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    strided = stride != (1, 1)
    padding, largest = _padding_2d(draw, kernel, dilation, strided)
    mode = draw(st.sampled_from(["zeros", "zeros", "reflect", "replicate", "circular"]))
    extents = [d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True)]
    totals = [e - 1 for e in extents] if padding == "same" else [2 * p for p in largest]
    H = _size(draw, extents[0], totals[0], largest[0], mode)
    W = _size(draw, extents[1], totals[1], largest[1], mode)
    stride_arg = draw(st.sampled_from([stride, stride[0]])) if stride[0] == stride[1] else stride
    module = nn.Conv2d(
        c_in,
        c_out,
        draw(st.sampled_from([kernel, kernel[0]])) if kernel[0] == kernel[1] else kernel,
        stride=stride_arg,
        padding=padding,
        dilation=dilation,
        groups=groups,
        bias=draw(st.booleans()),
        padding_mode=mode,
        generator=draw(seeds()),
    ).double()
    x = draw(arrays((*_batch(draw), c_in, H, W)))
    return ModuleCase(module, x)


@module_case(nn.Conv1d)
def conv1d_case(draw: Draw) -> ModuleCase:
    c_in, c_out, groups = _channels(draw)
    kernel = draw(st.integers(1, 4))
    dilation = draw(st.integers(1, 2))
    stride = draw(st.integers(1, 3))
    padding, largest = _padding_2d(draw, (1, kernel), (1, dilation), stride != 1)
    if isinstance(padding, tuple):
        padding = padding[1]
    mode = draw(st.sampled_from(["zeros", "zeros", "reflect", "replicate", "circular"]))
    extent = dilation * (kernel - 1) + 1
    total = extent - 1 if padding == "same" else 2 * largest[1]
    L = _size(draw, extent, total, largest[1], mode) + draw(st.integers(0, 1))
    module = nn.Conv1d(
        c_in,
        c_out,
        kernel,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        bias=draw(st.booleans()),
        padding_mode=mode,
        generator=draw(seeds()),
    ).double()
    return ModuleCase(module, draw(arrays((*_batch(draw), c_in, L))))


@module_case(nn.ConvTranspose2d)
def conv_transpose2d_case(draw: Draw) -> ModuleCase:
    c_in, c_out, groups = _channels(draw)
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    H, W = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    padding = []
    output_padding = []
    for size, k, s, d in zip((H, W), kernel, stride, dilation, strict=True):
        # Output (size-1)s - 2p + d(k-1) + output_padding + 1 must be at least 1.
        padding.append(draw(st.integers(0, min(2, ((size - 1) * s + d * (k - 1)) // 2))))
        output_padding.append(draw(st.integers(0, min(2, max(s, d) - 1))))
    module = nn.ConvTranspose2d(
        c_in,
        c_out,
        kernel,
        stride=stride,
        padding=tuple(padding),
        output_padding=tuple(output_padding),
        groups=groups,
        bias=draw(st.booleans()),
        dilation=dilation,
        generator=draw(seeds()),
    ).double()
    return ModuleCase(module, draw(arrays((*_batch(draw), c_in, H, W))))


@module_case(nn.ConvTranspose1d)
def conv_transpose1d_case(draw: Draw) -> ModuleCase:
    c_in, c_out, groups = _channels(draw)
    k, s, d = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
    L = draw(st.integers(1, 5))
    padding = draw(st.integers(0, min(2, ((L - 1) * s + d * (k - 1)) // 2)))
    output_padding = draw(st.integers(0, min(2, max(s, d) - 1)))
    module = nn.ConvTranspose1d(
        c_in,
        c_out,
        k,
        stride=s,
        padding=padding,
        output_padding=output_padding,
        groups=groups,
        bias=draw(st.booleans()),
        dilation=d,
        generator=draw(seeds()),
    ).double()
    return ModuleCase(module, draw(arrays((*_batch(draw), c_in, L))))


def _padding_3d(
    draw: Draw, kernel: tuple[int, ...], dilation: tuple[int, ...], strided: bool
) -> tuple[object, tuple[int, ...], tuple[int, ...]]:
    """A padding argument, the largest padding per axis and the total per axis."""
    kind = draw(st.sampled_from(["int", "tuple", "valid"] + ([] if strided else ["same"])))
    if kind == "same":
        totals = tuple(d * (k - 1) for k, d in zip(kernel, dilation, strict=True))
        return "same", tuple(t - t // 2 for t in totals), totals
    if kind == "valid":
        return "valid", (0, 0, 0), (0, 0, 0)
    if kind == "int":
        p = draw(st.integers(0, 1))
        return p, (p,) * 3, (2 * p,) * 3
    pads = tuple(draw(st.integers(0, 1)) for _ in range(3))
    return pads, pads, tuple(2 * p for p in pads)


@module_case(nn.Conv3d)
def conv3d_case(draw: Draw) -> ModuleCase:
    """Small volumes (sides ≤ 4) and kernels (≤ 2 per axis): the kernel is plain."""
    c_in, c_out, groups = _channels(draw)
    kernel = tuple(draw(st.integers(1, 2)) for _ in range(3))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(3))
    stride = tuple(draw(st.integers(1, 2)) for _ in range(3))
    padding, largest, totals = _padding_3d(draw, kernel, dilation, stride != (1, 1, 1))
    mode = draw(st.sampled_from(["zeros", "zeros", "reflect", "replicate", "circular"]))
    sizes = tuple(
        _size(draw, d * (k - 1) + 1, t, p, mode) % 5 or 1
        for k, d, t, p in zip(kernel, dilation, totals, largest, strict=True)
    )
    sizes = tuple(
        max(n, d * (k - 1) + 1 - t, p + 1 if mode == "reflect" else p, 1)
        for n, k, d, t, p in zip(sizes, kernel, dilation, totals, largest, strict=True)
    )
    module = nn.Conv3d(
        c_in,
        c_out,
        kernel,
        stride=stride,
        padding=padding,  # type: ignore[arg-type]
        dilation=dilation,
        groups=groups,
        bias=draw(st.booleans()),
        padding_mode=mode,
        generator=draw(seeds()),
    ).double()
    return ModuleCase(module, draw(arrays((*_batch(draw), c_in, *sizes))))


@module_case(nn.ConvTranspose3d)
def conv_transpose3d_case(draw: Draw) -> ModuleCase:
    c_in, c_out, groups = _channels(draw)
    kernel = tuple(draw(st.integers(1, 2)) for _ in range(3))
    stride = tuple(draw(st.integers(1, 2)) for _ in range(3))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(3))
    sizes = tuple(draw(st.integers(1, 3)) for _ in range(3))
    padding = tuple(
        draw(st.integers(0, min(1, ((n - 1) * s + d * (k - 1)) // 2)))
        for n, s, d, k in zip(sizes, stride, dilation, kernel, strict=True)
    )
    output_padding = tuple(
        draw(st.integers(0, min(1, max(s, d) - 1))) for s, d in zip(stride, dilation, strict=True)
    )
    module = nn.ConvTranspose3d(
        c_in,
        c_out,
        kernel,
        stride=stride,
        padding=padding,
        output_padding=output_padding,
        groups=groups,
        bias=draw(st.booleans()),
        dilation=dilation,
        generator=draw(seeds()),
    ).double()
    return ModuleCase(module, draw(arrays((*_batch(draw), c_in, *sizes))))
