"""Cases for the pooling layers: MaxPool2d, MaxPool1d, AvgPool2d, AvgPool1d,
AdaptiveAvgPool1d/2d/3d, AdaptiveMaxPool1d/2d/3d (with ``return_indices``),
MaxUnpool1d/2d/3d, LPPool1d/2d, MaxPool3d, AvgPool3d.

Hyperparameters are drawn (kernel, stride or its default, padding up to half the kernel,
dilation, ceil_mode, count_include_pad, divisor_override, output sizes with None) and the
input is built large enough for them. Max-pool inputs are tie-free (``distinct_arrays``),
so the maximum of every window is unique and differentiable. Inputs sometimes come in
another memory layout ((C, N, H, W) or (C, H, W, N) in memory), because the kernels pick
their path by layout.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

import refnet.nn as nn
from refnet._typing import Array
from refnet.testing import arrays, distinct_arrays
from tests.cases.registry import ModuleCase, module_case

Draw = st.DrawFn

_LAYOUTS = [(0, 1, 2, 3), (0, 1, 2, 3), (1, 0, 2, 3), (1, 2, 3, 0)]


def _in_layout(draw: Draw, x: Array) -> Array:
    """The same values, possibly stored in another (N, C) / batch-innermost memory order."""
    if x.ndim != 4:
        return x
    order = draw(st.sampled_from(_LAYOUTS))
    return np.ascontiguousarray(x.transpose(order)).transpose(np.argsort(order))


def _batch(draw: Draw) -> tuple[int, ...]:
    return draw(st.sampled_from([(1,), (2,), ()]))


def _window(draw: Draw, dilated: bool) -> tuple[int, int, int, int]:
    """``(kernel, stride, padding, dilation)`` along one axis; padding ≤ kernel // 2."""
    k = draw(st.integers(1, 3))
    s = draw(st.integers(1, 3))
    p = draw(st.integers(0, k // 2))
    d = draw(st.integers(1, 2)) if dilated else 1
    return k, s, p, d


def _size(draw: Draw, k: int, p: int, d: int) -> int:
    """A size ≤ 7 whose padded extent holds one dilated window (output ≥ 1).

    With padding and dilation, an input shorter than the dilation can leave a window with
    only padding under its taps (PyTorch then routes the gradient out of bounds; see
    test_pooling.py): at least ``d`` elements rule that out.
    """
    low = max(1, d * (k - 1) + 1 - 2 * p, d if p else 1)
    return draw(st.integers(low, max(low, 7)))


def _simple_2x2(draw: Draw) -> bool:
    """Often the common 2×2 stride-2 window: it has its own fast paths."""
    return draw(st.integers(0, 2)) == 0


@module_case(nn.MaxPool2d)
def max_pool2d_case(draw: Draw) -> ModuleCase:
    if _simple_2x2(draw):
        axes = [(2, 2, 0, 1), (2, 2, 0, 1)]
        stride_arg: int | tuple[int, int] | None = draw(st.sampled_from([None, 2, (2, 2)]))
    else:
        axes = [_window(draw, dilated=True), _window(draw, dilated=True)]
        stride_arg = (axes[0][1], axes[1][1])
    (kh, _, ph, dh), (kw, _, pw, dw) = axes
    H, W = _size(draw, kh, ph, dh), _size(draw, kw, pw, dw)
    module = nn.MaxPool2d(
        (kh, kw) if kh != kw or draw(st.booleans()) else kh,
        stride=stride_arg,
        padding=(ph, pw),
        dilation=(dh, dw),
        ceil_mode=draw(st.booleans()),
        return_indices=draw(st.booleans()),
    )
    x = draw(distinct_arrays((*_batch(draw), draw(st.integers(1, 3)), H, W)))
    return ModuleCase(module, _in_layout(draw, x))


@module_case(nn.MaxPool1d)
def max_pool1d_case(draw: Draw) -> ModuleCase:
    k, s, p, d = _window(draw, dilated=True)
    L = _size(draw, k, p, d)
    module = nn.MaxPool1d(
        k,
        stride=draw(st.sampled_from([None, s])),
        padding=p,
        dilation=d,
        ceil_mode=draw(st.booleans()),
        return_indices=draw(st.booleans()),
    )
    return ModuleCase(module, draw(distinct_arrays((*_batch(draw), draw(st.integers(1, 3)), L))))


@module_case(nn.AvgPool2d)
def avg_pool2d_case(draw: Draw) -> ModuleCase:
    (kh, sh, ph, _), (kw, sw, pw, _) = _window(draw, False), _window(draw, False)
    H, W = _size(draw, kh, ph, 1), _size(draw, kw, pw, 1)
    module = nn.AvgPool2d(
        (kh, kw),
        stride=draw(st.sampled_from([None, (sh, sw)])),
        padding=(ph, pw),
        ceil_mode=draw(st.booleans()),
        count_include_pad=draw(st.booleans()),
        divisor_override=draw(st.sampled_from([None, None, 1, 3, 5])),
    )
    x = draw(arrays((*_batch(draw), draw(st.integers(1, 3)), H, W)))
    return ModuleCase(module, _in_layout(draw, x))


@module_case(nn.AvgPool1d)
def avg_pool1d_case(draw: Draw) -> ModuleCase:
    k, s, p, _ = _window(draw, dilated=False)
    L = _size(draw, k, p, 1)
    module = nn.AvgPool1d(
        k,
        stride=draw(st.sampled_from([None, s])),
        padding=p,
        ceil_mode=draw(st.booleans()),
        count_include_pad=draw(st.booleans()),
    )
    return ModuleCase(module, draw(arrays((*_batch(draw), draw(st.integers(1, 3)), L))))


def _adaptive_output_size(draw: Draw) -> int | tuple[int | None, int | None]:
    size = st.integers(1, 7)
    return draw(
        st.one_of(
            size,
            st.tuples(size, size),
            st.tuples(st.none(), size),
            st.tuples(size, st.none()),
        )
    )


@module_case(nn.AdaptiveAvgPool2d)
def adaptive_avg_pool2d_case(draw: Draw) -> ModuleCase:
    H, W = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    module = nn.AdaptiveAvgPool2d(_adaptive_output_size(draw))
    x = draw(arrays((*_batch(draw), draw(st.integers(1, 3)), H, W)))
    return ModuleCase(module, _in_layout(draw, x))


@module_case(nn.AdaptiveMaxPool2d)
def adaptive_max_pool2d_case(draw: Draw) -> ModuleCase:
    H, W = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    module = nn.AdaptiveMaxPool2d(_adaptive_output_size(draw), return_indices=draw(st.booleans()))
    x = draw(distinct_arrays((*_batch(draw), draw(st.integers(1, 3)), H, W)))
    return ModuleCase(module, _in_layout(draw, x))


@module_case(nn.AdaptiveAvgPool1d)
def adaptive_avg_pool1d_case(draw: Draw) -> ModuleCase:
    size = draw(st.integers(1, 7))
    module = nn.AdaptiveAvgPool1d(draw(st.sampled_from([size, (size,)])))
    x = draw(arrays((*_batch(draw), draw(st.integers(1, 3)), draw(st.integers(1, 7)))))
    return ModuleCase(module, x)


@module_case(nn.AdaptiveMaxPool1d)
def adaptive_max_pool1d_case(draw: Draw) -> ModuleCase:
    module = nn.AdaptiveMaxPool1d(draw(st.integers(1, 7)), return_indices=draw(st.booleans()))
    x = draw(distinct_arrays((*_batch(draw), draw(st.integers(1, 3)), draw(st.integers(1, 7)))))
    return ModuleCase(module, x)


def _unpool_case(cls: type[nn.Module], dims: int, draw: Draw) -> ModuleCase:
    """Distinct indices per plane (as from max pooling with non-overlapping windows);
    padding ≤ (kernel - 1) / 2 keeps the output plane at least as large as the input's."""
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    padding = tuple(draw(st.integers(0, (k - 1) // 2)) for k in kernel)
    sizes = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    out = [
        (n - 1) * s - 2 * p + k for n, k, s, p in zip(sizes, kernel, stride, padding, strict=True)
    ]
    output_size = None
    if draw(st.booleans()):
        out = [o + draw(st.integers(0, s - 1)) for o, s in zip(out, stride, strict=True)]
        output_size = tuple(out)
    batch = _batch(draw)
    channels = draw(st.integers(1, 2))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    count, plane = int(np.prod(sizes)), int(np.prod(out))
    planes = int(np.prod(batch)) * channels
    picks = [rng.permutation(plane)[:count] for _ in range(planes)]
    indices = np.array(picks, dtype=np.int64).reshape(*batch, channels, *sizes)
    module = cls(
        kernel[0] if len(set(kernel)) == 1 and draw(st.booleans()) else kernel,
        stride=draw(st.sampled_from([stride, None])) if stride == kernel else stride,
        padding=padding,
    )
    x = draw(arrays((*batch, channels, *sizes)))
    kwargs = {} if output_size is None else {"output_size": output_size}
    return ModuleCase(module, (x, indices), forward_kwargs=kwargs)


@module_case(nn.MaxUnpool1d)
def max_unpool1d_case(draw: Draw) -> ModuleCase:
    return _unpool_case(nn.MaxUnpool1d, 1, draw)


@module_case(nn.MaxUnpool2d)
def max_unpool2d_case(draw: Draw) -> ModuleCase:
    return _unpool_case(nn.MaxUnpool2d, 2, draw)


def _lp_pool_case(cls: type[nn.Module], dims: int, draw: Draw) -> ModuleCase:
    """Positive inputs: x^p and its root stay smooth (negative ones give NaN, as in torch)."""
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    sizes = tuple(k + draw(st.integers(0, 3)) for k in kernel)
    module = cls(
        draw(st.sampled_from([1, 2, 3, 1.5])),
        kernel[0] if dims == 1 or (kernel[0] == kernel[1] and draw(st.booleans())) else kernel,
        stride=draw(st.sampled_from([None, stride[0] if dims == 1 else stride])),
        ceil_mode=draw(st.booleans()),
    )
    x = draw(arrays((*_batch(draw), draw(st.integers(1, 2)), *sizes), low=0.5, high=2.0))
    return ModuleCase(module, x)


@module_case(nn.LPPool1d)
def lp_pool1d_case(draw: Draw) -> ModuleCase:
    return _lp_pool_case(nn.LPPool1d, 1, draw)


@module_case(nn.LPPool2d)
def lp_pool2d_case(draw: Draw) -> ModuleCase:
    return _lp_pool_case(nn.LPPool2d, 2, draw)


@module_case(nn.MaxUnpool3d)
def max_unpool3d_case(draw: Draw) -> ModuleCase:
    return _unpool_case(nn.MaxUnpool3d, 3, draw)


def _window3d(draw: Draw, dilated: bool) -> tuple[list[tuple[int, int, int, int]], tuple[int, ...]]:
    """Per axis ``(kernel, stride, padding, dilation)`` and a size ≤ 5 holding a window."""
    axes = [_window(draw, dilated) for _ in range(3)]
    sizes = tuple(min(_size(draw, k, p, d), max(5, d * (k - 1) + 1 - 2 * p)) for k, _, p, d in axes)
    return axes, sizes


def _arg(draw: Draw, values: tuple[int, ...]) -> int | tuple[int, ...]:
    return values[0] if len(set(values)) == 1 and draw(st.booleans()) else values


@module_case(nn.MaxPool3d)
def max_pool3d_case(draw: Draw) -> ModuleCase:
    axes, sizes = _window3d(draw, dilated=True)
    k, s, p, d = (tuple(a[i] for a in axes) for i in range(4))
    module = nn.MaxPool3d(
        _arg(draw, k),
        stride=draw(st.sampled_from([None, _arg(draw, s)])),
        padding=_arg(draw, p),
        dilation=_arg(draw, d),
        return_indices=draw(st.booleans()),
        ceil_mode=draw(st.booleans()),
    )
    x = draw(distinct_arrays((*_batch(draw), draw(st.integers(1, 2)), *sizes)))
    return ModuleCase(module, x)


@module_case(nn.AvgPool3d)
def avg_pool3d_case(draw: Draw) -> ModuleCase:
    axes, sizes = _window3d(draw, dilated=False)
    k, s, p, _ = (tuple(a[i] for a in axes) for i in range(4))
    sizes = tuple(max(n, kk) for n, kk in zip(sizes, k, strict=True))  # torch's rule
    module = nn.AvgPool3d(
        _arg(draw, k),
        stride=draw(st.sampled_from([None, _arg(draw, s)])),
        padding=_arg(draw, p),
        ceil_mode=draw(st.booleans()),
        count_include_pad=draw(st.booleans()),
        divisor_override=draw(st.sampled_from([None, None, 1, 3])),
    )
    x = draw(arrays((*_batch(draw), draw(st.integers(1, 2)), *sizes)))
    return ModuleCase(module, x)


def _adaptive3d_size(draw: Draw) -> int | tuple[int | None, ...]:
    size = st.integers(1, 4)
    return draw(st.one_of(size, st.tuples(size, size, size), st.tuples(st.none(), size, size)))


@module_case(nn.AdaptiveAvgPool3d)
def adaptive_avg_pool3d_case(draw: Draw) -> ModuleCase:
    sizes = tuple(draw(st.integers(1, 4)) for _ in range(3))
    x = draw(arrays((*_batch(draw), draw(st.integers(1, 2)), *sizes)))
    return ModuleCase(nn.AdaptiveAvgPool3d(_adaptive3d_size(draw)), x)


@module_case(nn.AdaptiveMaxPool3d)
def adaptive_max_pool3d_case(draw: Draw) -> ModuleCase:
    sizes = tuple(draw(st.integers(1, 4)) for _ in range(3))
    x = draw(distinct_arrays((*_batch(draw), draw(st.integers(1, 2)), *sizes)))
    module = nn.AdaptiveMaxPool3d(_adaptive3d_size(draw), return_indices=draw(st.booleans()))
    return ModuleCase(module, x)
