"""torch's functional pooling names that return the indices, and the 1-D backward siblings.

``max_pool{1,2,3}d_with_indices``, ``adaptive_max_pool{1,2,3}d_with_indices`` and
``fractional_max_pool{2,3}d_with_indices`` return ``(output, indices)`` (indices as the
modules' ``return_indices=True`` gives them: each window's winner as a flat position in
its input plane, what ``MaxUnpool`` takes). Each has a ``*_backward(grad, input, <the same
arguments>)`` sibling, and so do ``conv1d``, ``avg_pool1d`` and ``max_pool1d``. As in
:mod:`refnet.nn.functional.stateless`, each runs the matching refnet module.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from refnet._typing import Array, IntArray

__all__ = [
    "adaptive_max_pool1d_with_indices",
    "adaptive_max_pool1d_with_indices_backward",
    "adaptive_max_pool2d_with_indices",
    "adaptive_max_pool2d_with_indices_backward",
    "adaptive_max_pool3d_with_indices",
    "adaptive_max_pool3d_with_indices_backward",
    "avg_pool1d_backward",
    "conv1d_backward",
    "fractional_max_pool2d_with_indices",
    "fractional_max_pool2d_with_indices_backward",
    "fractional_max_pool3d_with_indices",
    "fractional_max_pool3d_with_indices_backward",
    "max_pool1d_backward",
    "max_pool1d_with_indices",
    "max_pool1d_with_indices_backward",
    "max_pool2d_with_indices",
    "max_pool2d_with_indices_backward",
    "max_pool3d_with_indices",
    "max_pool3d_with_indices_backward",
]


def _nn() -> Any:
    import refnet.nn as nn  # refnet.nn imports this package: import it when called

    return nn


def _max_pool(
    dims: int,
    kernel_size: Any,
    stride: Any,
    padding: Any,
    dilation: Any,
    ceil_mode: bool,
    return_indices: bool,
) -> Any:
    cls = getattr(_nn(), f"MaxPool{dims}d")
    return cls(kernel_size, stride, padding, dilation, return_indices, ceil_mode)


def _backward(module: Any, grad: Array, input: Array) -> Array:
    """Run ``module`` on ``input`` and backpropagate ``grad`` (no gradient for indices)."""
    module(input)
    if getattr(module, "return_indices", False):
        return module.backward(grad, None)
    return module.backward(grad)


# ---------------------------------------------------------------------- max pooling


def max_pool1d_with_indices(
    input: Array,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> tuple[Array, IntArray]:
    """``(output, indices)`` of 1-D max pooling (``return_indices`` is torch's, ignored)."""
    return _max_pool(1, kernel_size, stride, padding, dilation, ceil_mode, True)(input)


def max_pool2d_with_indices(
    input: Array,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> tuple[Array, IntArray]:
    """``(output, indices)`` of 2-D max pooling (``return_indices`` is torch's, ignored)."""
    return _max_pool(2, kernel_size, stride, padding, dilation, ceil_mode, True)(input)


def max_pool3d_with_indices(
    input: Array,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> tuple[Array, IntArray]:
    """``(output, indices)`` of 3-D max pooling (``return_indices`` is torch's, ignored)."""
    return _max_pool(3, kernel_size, stride, padding, dilation, ceil_mode, True)(input)


def max_pool1d_backward(
    grad: Array,
    input: Array,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Array:
    """∂L/∂input of ``max_pool1d``: each window's gradient at its maximum."""
    return _backward(
        _max_pool(1, kernel_size, stride, padding, dilation, ceil_mode, False), grad, input
    )


def max_pool1d_with_indices_backward(
    grad: Array,
    input: Array,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Array:
    """∂L/∂input of :func:`max_pool1d_with_indices` (the indices have no gradient)."""
    return max_pool1d_backward(grad, input, kernel_size, stride, padding, dilation, ceil_mode)


def max_pool2d_with_indices_backward(
    grad: Array,
    input: Array,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Array:
    """∂L/∂input of :func:`max_pool2d_with_indices` (the indices have no gradient)."""
    return _backward(
        _max_pool(2, kernel_size, stride, padding, dilation, ceil_mode, False), grad, input
    )


def max_pool3d_with_indices_backward(
    grad: Array,
    input: Array,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Array:
    """∂L/∂input of :func:`max_pool3d_with_indices` (the indices have no gradient)."""
    return _backward(
        _max_pool(3, kernel_size, stride, padding, dilation, ceil_mode, False), grad, input
    )


# ---------------------------------------------------------------------- adaptive max pooling


def _adaptive(dims: int, output_size: Any) -> Any:
    return getattr(_nn(), f"AdaptiveMaxPool{dims}d")(output_size, return_indices=True)


def adaptive_max_pool1d_with_indices(
    input: Array, output_size: Any, return_indices: bool = False
) -> tuple[Array, IntArray]:
    """``(output, indices)`` of 1-D adaptive max pooling."""
    return _adaptive(1, output_size)(input)


def adaptive_max_pool2d_with_indices(
    input: Array, output_size: Any, return_indices: bool = False
) -> tuple[Array, IntArray]:
    """``(output, indices)`` of 2-D adaptive max pooling."""
    return _adaptive(2, output_size)(input)


def adaptive_max_pool3d_with_indices(
    input: Array, output_size: Any, return_indices: bool = False
) -> tuple[Array, IntArray]:
    """``(output, indices)`` of 3-D adaptive max pooling."""
    return _adaptive(3, output_size)(input)


def adaptive_max_pool1d_with_indices_backward(
    grad: Array, input: Array, output_size: Any, return_indices: bool = False
) -> Array:
    """∂L/∂input of :func:`adaptive_max_pool1d_with_indices`."""
    return _backward(_adaptive(1, output_size), grad, input)


def adaptive_max_pool2d_with_indices_backward(
    grad: Array, input: Array, output_size: Any, return_indices: bool = False
) -> Array:
    """∂L/∂input of :func:`adaptive_max_pool2d_with_indices`."""
    return _backward(_adaptive(2, output_size), grad, input)


def adaptive_max_pool3d_with_indices_backward(
    grad: Array, input: Array, output_size: Any, return_indices: bool = False
) -> Array:
    """∂L/∂input of :func:`adaptive_max_pool3d_with_indices`."""
    return _backward(_adaptive(3, output_size), grad, input)


# ---------------------------------------------------------------------- fractional max pooling


def _fractional(
    dims: int, kernel_size: Any, output_size: Any, output_ratio: Any, samples: Array | None
) -> Any:
    cls = getattr(_nn(), f"FractionalMaxPool{dims}d")
    return cls(kernel_size, output_size, output_ratio, True, samples)


def fractional_max_pool2d_with_indices(
    input: Array,
    kernel_size: Any,
    output_size: Any = None,
    output_ratio: Any = None,
    return_indices: bool = False,
    _random_samples: Array | None = None,
) -> tuple[Array, IntArray]:
    """``(output, indices)`` of 2-D fractional max pooling."""
    return _fractional(2, kernel_size, output_size, output_ratio, _random_samples)(input)


def fractional_max_pool3d_with_indices(
    input: Array,
    kernel_size: Any,
    output_size: Any = None,
    output_ratio: Any = None,
    return_indices: bool = False,
    _random_samples: Array | None = None,
) -> tuple[Array, IntArray]:
    """``(output, indices)`` of 3-D fractional max pooling."""
    return _fractional(3, kernel_size, output_size, output_ratio, _random_samples)(input)


def fractional_max_pool2d_with_indices_backward(
    grad: Array,
    input: Array,
    kernel_size: Any,
    output_size: Any = None,
    output_ratio: Any = None,
    _random_samples: Array | None = None,
) -> Array:
    """∂L/∂input of :func:`fractional_max_pool2d_with_indices` (the same samples)."""
    from refnet.nn.functional.stateless_more import fractional_max_pool2d_backward

    return fractional_max_pool2d_backward(
        grad, input, kernel_size, output_size, output_ratio, _random_samples
    )


def fractional_max_pool3d_with_indices_backward(
    grad: Array,
    input: Array,
    kernel_size: Any,
    output_size: Any = None,
    output_ratio: Any = None,
    _random_samples: Array | None = None,
) -> Array:
    """∂L/∂input of :func:`fractional_max_pool3d_with_indices` (the same samples)."""
    from refnet.nn.functional.stateless_more import fractional_max_pool3d_backward

    return fractional_max_pool3d_backward(
        grad, input, kernel_size, output_size, output_ratio, _random_samples
    )


# ---------------------------------------------------------------------- 1-D siblings


def avg_pool1d_backward(
    grad: Array,
    input: Array,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> Array:
    """∂L/∂input of ``avg_pool1d``: each window's gradient spread evenly over it."""
    module = _nn().AvgPool1d(kernel_size, stride, padding, ceil_mode, count_include_pad)
    return _backward(module, grad, input)


def conv1d_backward(
    grad: Array,
    input: Array,
    weight: Array,
    bias: Array | None = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> tuple[Array, Array, Array | None]:
    """``(∂input, ∂weight, ∂bias)`` of ``conv1d`` (``None`` without a bias)."""
    w = np.asarray(weight)
    module = _nn().Conv1d(
        w.shape[1] * groups,
        w.shape[0],
        w.shape[2],
        stride,
        padding,
        dilation,
        groups,
        bias=bias is not None,
        dtype=w.dtype,
    )
    module.weight.data[...] = w
    if bias is not None:
        module.bias.data[...] = bias
    grad_input = _backward(module, grad, input)
    grad_bias = None if bias is None else module.bias.grad.copy()
    return grad_input, module.weight.grad.copy(), grad_bias
