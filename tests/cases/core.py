"""Cases for the core modules: Linear, Identity, Flatten, Unflatten, Sequential, activations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

import refnet.nn as nn
from refnet._typing import Array
from refnet.testing import arrays, seeds, shapes
from tests.cases.registry import ModuleCase, module_case

Draw = st.DrawFn


def _input(draw: Draw, shape: tuple[int, ...], **kwargs: Any) -> Array:
    return draw(arrays(shape, **kwargs))


@module_case(nn.Linear)
def linear_case(draw: Draw) -> ModuleCase:
    in_features = draw(st.integers(1, 6))
    out_features = draw(st.integers(1, 6))
    bias = draw(st.booleans())
    leading = draw(shapes(min_dims=0, max_dims=2, max_side=4))
    module = nn.Linear(in_features, out_features, bias=bias, generator=draw(seeds())).double()
    return ModuleCase(module, _input(draw, (*leading, in_features)))


@module_case(nn.Identity)
def identity_case(draw: Draw) -> ModuleCase:
    return ModuleCase(nn.Identity(), _input(draw, draw(shapes())))


@module_case(nn.Flatten)
def flatten_case(draw: Draw) -> ModuleCase:
    shape = draw(shapes(min_dims=2, max_dims=4))
    start = draw(st.integers(0, len(shape) - 1))
    end = draw(st.integers(start, len(shape) - 1))
    start_dim = draw(st.sampled_from([start, start - len(shape)]))
    end_dim = draw(st.sampled_from([end, end - len(shape)]))
    return ModuleCase(nn.Flatten(start_dim, end_dim), _input(draw, shape))


@module_case(nn.Unflatten)
def unflatten_case(draw: Draw) -> ModuleCase:
    a, b = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    leading = draw(shapes(min_dims=1, max_dims=2, max_side=3))
    dim = len(leading)
    sizes = draw(st.sampled_from([(a, b), (a, -1), (-1, b)]))
    return ModuleCase(nn.Unflatten(dim, sizes), _input(draw, (*leading, a * b)))


@module_case(nn.Sequential)
def sequential_case(draw: Draw) -> ModuleCase:
    width = draw(st.integers(1, 5))
    hidden = draw(st.integers(1, 5))
    seed = draw(seeds())
    module = nn.Sequential(
        nn.Linear(width, hidden, generator=seed),
        nn.Tanh(),
        nn.Linear(hidden, 3, generator=seed + 1),
        nn.LogSoftmax(dim=1),
    ).double()
    return ModuleCase(module, _input(draw, (draw(st.integers(1, 4)), width)))


def _elementwise_case(
    make: Callable[[Draw], tuple[nn.Module, dict[str, Any]]], **case_options: Any
) -> Callable[[Draw], ModuleCase]:
    """A case builder for an elementwise activation: any shape, values from ``make``'s options."""

    def case(draw: Draw) -> ModuleCase:
        module, value_options = make(draw)
        return ModuleCase(
            module.double(), _input(draw, draw(shapes()), **value_options), **case_options
        )

    return case


def _elementwise(
    **case_options: Any,
) -> Callable[[Callable[[Draw], tuple[nn.Module, dict[str, Any]]]], Callable[[Draw], ModuleCase]]:
    """Decorator form of :func:`_elementwise_case`."""
    return lambda make: _elementwise_case(make, **case_options)


_SIMPLE: dict[type[nn.Module], dict[str, Any]] = {
    nn.ReLU: {"kinks": (0.0,)},
    nn.ReLU6: {"low": -2.0, "high": 8.0, "kinks": (0.0, 6.0)},
    nn.SELU: {"kinks": (0.0,)},
    nn.SiLU: {"low": -6.0, "high": 6.0},
    nn.Mish: {"low": -6.0, "high": 6.0},
    nn.Sigmoid: {"low": -8.0, "high": 8.0},
    nn.LogSigmoid: {"low": -8.0, "high": 8.0},
    nn.Tanh: {"low": -3.0, "high": 3.0},
    nn.Softsign: {"low": -5.0, "high": 5.0},
    nn.Hardsigmoid: {"low": -5.0, "high": 5.0, "kinks": (-3.0, 3.0)},
    nn.Hardswish: {"low": -5.0, "high": 5.0, "kinks": (-3.0, 3.0)},
}

# torch's float64 Hardsigmoid backward multiplies by the float32 constant 1.0f/6.0f, so it
# is only accurate to ~3e-8; refnet uses the exact 1/6.
_CASE_OPTIONS: dict[type[nn.Module], dict[str, Any]] = {nn.Hardsigmoid: {"torch_rtol64": 1e-7}}

for _cls, _options in _SIMPLE.items():
    module_case(_cls)(
        _elementwise_case(
            lambda draw, cls=_cls, options=_options: (cls(), options), **_CASE_OPTIONS.get(_cls, {})
        )
    )


@module_case(nn.LeakyReLU)
@_elementwise()
def leaky_relu_case(draw: Draw) -> tuple[nn.Module, dict[str, Any]]:
    slope = draw(st.floats(-0.5, 0.5))
    return nn.LeakyReLU(slope), {"kinks": (0.0,)}


@module_case(nn.ELU)
@_elementwise()
def elu_case(draw: Draw) -> tuple[nn.Module, dict[str, Any]]:
    return nn.ELU(draw(st.floats(0.1, 2.0))), {"kinks": (0.0,)}


# torch's float32 GELU computes 1 + erf(x/√2), which cancels for x < -2 (absolute error
# a few 1e-7, within the float32 comparison's absolute floor); refnet uses erfc.
@module_case(nn.GELU)
@_elementwise()
def gelu_case(draw: Draw) -> tuple[nn.Module, dict[str, Any]]:
    return nn.GELU(draw(st.sampled_from(["none", "tanh"]))), {"low": -5.0, "high": 5.0}


@module_case(nn.Softplus)
@_elementwise()
def softplus_case(draw: Draw) -> tuple[nn.Module, dict[str, Any]]:
    beta = draw(st.floats(0.5, 3.0))
    threshold = draw(st.floats(1.0, 20.0))
    return nn.Softplus(beta, threshold), {"low": -6.0, "high": 6.0, "kinks": (threshold / beta,)}


@module_case(nn.Hardtanh)
@_elementwise()
def hardtanh_case(draw: Draw) -> tuple[nn.Module, dict[str, Any]]:
    low = draw(st.floats(-2.0, 0.5))
    high = low + draw(st.floats(0.5, 2.0))
    return nn.Hardtanh(low, high), {"low": -3.0, "high": 3.0, "kinks": (low, high)}


@module_case(nn.PReLU)
def prelu_case(draw: Draw) -> ModuleCase:
    shape = draw(shapes(min_dims=2, max_dims=4))
    num_parameters = draw(st.sampled_from([1, shape[1]]))
    module = nn.PReLU(num_parameters, init=draw(st.floats(-0.5, 0.5))).double()
    module.weight.data[...] = draw(arrays((num_parameters,), low=-0.5, high=0.5))
    return ModuleCase(module, _input(draw, shape, kinks=(0.0,)))


def _softmax_case(cls: type[nn.Softmax] | type[nn.LogSoftmax]) -> Callable[[Draw], ModuleCase]:
    def case(draw: Draw) -> ModuleCase:
        shape = draw(shapes(min_dims=1, max_dims=4))
        dim = draw(st.integers(-len(shape), len(shape) - 1))
        return ModuleCase(cls(dim=dim), _input(draw, shape, low=-4.0, high=4.0))

    return case


module_case(nn.Softmax)(_softmax_case(nn.Softmax))
module_case(nn.LogSoftmax)(_softmax_case(nn.LogSoftmax))
