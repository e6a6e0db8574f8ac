"""torch's functional pooling names that return the indices, and the 1-D backward siblings.

``max_pool{1,2,3}d_with_indices``, ``adaptive_max_pool{1,2,3}d_with_indices`` and
``fractional_max_pool{2,3}d_with_indices`` return ``(output, indices)`` (indices as the
modules' ``return_indices=True`` gives them: each window's winner as a flat position in
its input plane, what ``MaxUnpool`` takes). Each has a ``*_backward(grad, input, <the same
arguments>)`` sibling, and so do ``conv1d``, ``avg_pool1d``, ``max_pool1d`` and
``lp_pool3d``. As in
:mod:`refnet.nn.functional.stateless`, each runs the matching refnet module.

The functions of one family differ only in the module they run (``MaxPool1d``,
``MaxPool2d``, ...), so each family is written once, as a function that makes them.
"""

from __future__ import annotations

from collections.abc import Callable
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
    "lp_pool3d",
    "lp_pool3d_backward",
    "max_pool1d_backward",
    "max_pool1d_with_indices",
    "max_pool1d_with_indices_backward",
    "max_pool2d_with_indices",
    "max_pool2d_with_indices_backward",
    "max_pool3d_with_indices",
    "max_pool3d_with_indices_backward",
]

WithIndices = Callable[..., tuple[Array, IntArray]]
Backward = Callable[..., Array]


def _nn() -> Any:
    import refnet.nn as nn  # refnet.nn imports this package: import it when called

    return nn


def _backward(module: Any, grad: Array, input: Array) -> Array:
    """Run ``module`` on ``input`` and backpropagate ``grad`` (no gradient for indices)."""
    module(input)
    if getattr(module, "return_indices", False):
        return module.backward(grad, None)
    return module.backward(grad)


def _named(fn: Callable[..., Any], name: str, doc: str) -> Any:
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return fn


# ---------------------------------------------------------------------- max pooling


def _max_pool_pair(dims: int) -> tuple[WithIndices, Backward]:
    """``max_pool{dims}d_with_indices`` and its backward (``MaxPool{dims}d``)."""

    def module(
        kernel_size: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool, indices: bool
    ) -> Any:
        cls = getattr(_nn(), f"MaxPool{dims}d")
        return cls(kernel_size, stride, padding, dilation, indices, ceil_mode)

    def forward(
        input: Array,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        dilation: Any = 1,
        ceil_mode: bool = False,
        return_indices: bool = False,
    ) -> tuple[Array, IntArray]:
        return module(kernel_size, stride, padding, dilation, ceil_mode, True)(input)

    def backward(
        grad: Array,
        input: Array,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        dilation: Any = 1,
        ceil_mode: bool = False,
        return_indices: bool = False,
    ) -> Array:
        pool = module(kernel_size, stride, padding, dilation, ceil_mode, False)
        return _backward(pool, grad, input)

    name = f"max_pool{dims}d_with_indices"
    return (
        _named(
            forward,
            name,
            f"``(output, indices)`` of {dims}-D max pooling "
            "(``return_indices`` is torch's, ignored).",
        ),
        _named(
            backward,
            f"{name}_backward",
            f"∂L/∂input of :func:`{name}`: each window's "
            "gradient at its maximum (the indices have no gradient).",
        ),
    )


max_pool1d_with_indices, max_pool1d_with_indices_backward = _max_pool_pair(1)
max_pool2d_with_indices, max_pool2d_with_indices_backward = _max_pool_pair(2)
max_pool3d_with_indices, max_pool3d_with_indices_backward = _max_pool_pair(3)
max_pool1d_backward = _named(
    _max_pool_pair(1)[1], "max_pool1d_backward", "∂L/∂input of ``max_pool1d``."
)


# ---------------------------------------------------------------------- adaptive max pooling


def _adaptive_pair(dims: int) -> tuple[WithIndices, Backward]:
    """``adaptive_max_pool{dims}d_with_indices`` and its backward."""

    def module(output_size: Any) -> Any:
        return getattr(_nn(), f"AdaptiveMaxPool{dims}d")(output_size, return_indices=True)

    def forward(
        input: Array, output_size: Any, return_indices: bool = False
    ) -> tuple[Array, IntArray]:
        return module(output_size)(input)

    def backward(
        grad: Array, input: Array, output_size: Any, return_indices: bool = False
    ) -> Array:
        return _backward(module(output_size), grad, input)

    name = f"adaptive_max_pool{dims}d_with_indices"
    return (
        _named(forward, name, f"``(output, indices)`` of {dims}-D adaptive max pooling."),
        _named(backward, f"{name}_backward", f"∂L/∂input of :func:`{name}`."),
    )


adaptive_max_pool1d_with_indices, adaptive_max_pool1d_with_indices_backward = _adaptive_pair(1)
adaptive_max_pool2d_with_indices, adaptive_max_pool2d_with_indices_backward = _adaptive_pair(2)
adaptive_max_pool3d_with_indices, adaptive_max_pool3d_with_indices_backward = _adaptive_pair(3)


# ---------------------------------------------------------------------- fractional max pooling


def _fractional_pair(dims: int) -> tuple[WithIndices, Backward]:
    """``fractional_max_pool{dims}d_with_indices`` and its backward (which needs the
    forward's ``_random_samples``, as :mod:`refnet.nn.functional.stateless_more`'s)."""

    def forward(
        input: Array,
        kernel_size: Any,
        output_size: Any = None,
        output_ratio: Any = None,
        return_indices: bool = False,
        _random_samples: Array | None = None,
    ) -> tuple[Array, IntArray]:
        cls = getattr(_nn(), f"FractionalMaxPool{dims}d")
        pool = cls(kernel_size, output_size, output_ratio, True, _random_samples)
        return pool(input)

    def backward(
        grad: Array,
        input: Array,
        kernel_size: Any,
        output_size: Any = None,
        output_ratio: Any = None,
        _random_samples: Array | None = None,
    ) -> Array:
        from refnet.nn.functional import stateless_more

        plain = getattr(stateless_more, f"fractional_max_pool{dims}d_backward")
        return plain(grad, input, kernel_size, output_size, output_ratio, _random_samples)

    name = f"fractional_max_pool{dims}d_with_indices"
    return (
        _named(forward, name, f"``(output, indices)`` of {dims}-D fractional max pooling."),
        _named(backward, f"{name}_backward", f"∂L/∂input of :func:`{name}` (the same samples)."),
    )


fractional_max_pool2d_with_indices, fractional_max_pool2d_with_indices_backward = _fractional_pair(
    2
)
fractional_max_pool3d_with_indices, fractional_max_pool3d_with_indices_backward = _fractional_pair(
    3
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


def lp_pool3d(
    input: Array,
    norm_type: float,
    kernel_size: Any,
    stride: Any = None,
    ceil_mode: bool = False,
) -> Array:
    """``(Σ_window x^p)^(1/p)`` over volumes (``torch.nn.functional.lp_pool3d``); see
    :class:`refnet.nn.LPPool3d`."""
    return _nn().LPPool3d(norm_type, kernel_size, stride, ceil_mode)(input)


def lp_pool3d_backward(
    grad: Array,
    input: Array,
    norm_type: float,
    kernel_size: Any,
    stride: Any = None,
    ceil_mode: bool = False,
) -> Array:
    """∂L/∂input of :func:`lp_pool3d`."""
    return _backward(_nn().LPPool3d(norm_type, kernel_size, stride, ceil_mode), grad, input)
