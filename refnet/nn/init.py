"""Weight initialisers with PyTorch's names, formulas and defaults (``torch.nn.init``).

Each function fills a ``Parameter`` (or a NumPy array) **in place** and returns it. All
random ones take ``generator=``: a ``numpy.random.Generator``, an int seed, or ``None``
for refnet's default generator (see :mod:`refnet.random`). The numbers drawn differ from
PyTorch's (another generator), the distributions are the same.

Why the scales: for a layer ``y = W x`` with ``fan_in`` inputs of unit variance and
weights of variance ``σ²``, ``Var(y) = fan_in σ²``. Keeping it at 1 through the forward
pass gives ``σ = 1/√fan_in`` (LeCun); through the backward pass ``1/√fan_out``; Xavier
(Glorot) averages the two; Kaiming (He) multiplies by a *gain* that undoes the variance a
nonlinearity removes (ReLU zeroes half the inputs: gain √2). A uniform distribution on
``[-b, b]`` has standard deviation ``b/√3``, hence the ``√3`` in the uniform variants.
"""

from __future__ import annotations

import math
import warnings
from typing import Literal, TypeVar

import numpy as np

from refnet._typing import Array, Seed
from refnet.nn.parameter import Parameter
from refnet.random import as_generator

Tensor = TypeVar("Tensor", Parameter, Array)

_LINEAR_GAINS = (
    "linear",
    "identity",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "sigmoid",
)


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The gain that keeps activations' variance stable through ``nonlinearity``.

    linear/conv/sigmoid: 1; tanh: 5/3; relu: √2; leaky_relu: √(2 / (1 + slope²)) with
    ``slope = param`` (default 0.01); selu: 3/4 (PyTorch's choice for self-normalising
    networks).
    """
    if nonlinearity in _LINEAR_GAINS:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = float(param)
        else:
            raise ValueError(f"negative_slope {param} is not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _array(tensor: Parameter | Array) -> Array:
    array = tensor.data if isinstance(tensor, Parameter) else tensor
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected a Parameter or a NumPy array, got {type(tensor).__name__}")
    return array


def _fill(tensor: Tensor, values: Array | float) -> Tensor:
    array = _array(tensor)
    array[...] = values
    return tensor


def _calculate_fan_in_and_fan_out(tensor: Parameter | Array) -> tuple[int, int]:
    """``fan_in = shape[1]·k``, ``fan_out = shape[0]·k``, ``k`` = product of ``shape[2:]``.

    For a Linear weight (out, in) that is (in, out); for a Conv2d weight (out, in/groups,
    kh, kw) it counts every input a single output sees.
    """
    shape = _array(tensor).shape
    if len(shape) < 2:
        raise ValueError(
            "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions"
        )
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


def _calculate_correct_fan(tensor: Parameter | Array, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: Seed = None) -> Tensor:
    """Fill with values drawn from U(a, b)."""
    array = _array(tensor)
    return _fill(tensor, as_generator(generator).uniform(a, b, array.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator: Seed = None) -> Tensor:
    """Fill with values drawn from N(mean, std²)."""
    array = _array(tensor)
    return _fill(tensor, as_generator(generator).normal(mean, std, array.shape))


def trunc_normal_(
    tensor: Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    generator: Seed = None,
) -> Tensor:
    """Fill with N(mean, std²) conditioned on ``a ≤ value ≤ b`` (absolute bounds, as in PyTorch).

    Drawn by rejection: values outside ``[a, b]`` are drawn again until none is left.
    """
    if not a < b:
        raise ValueError(f"trunc_normal_: expected a < b, got a={a}, b={b}")
    rng = as_generator(generator)
    values = rng.normal(mean, std, _array(tensor).shape)
    outside = (values < a) | (values > b)
    while outside.any():
        values[outside] = rng.normal(mean, std, int(outside.sum()))
        outside = (values < a) | (values > b)
    return _fill(tensor, values)


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with ``val``."""
    return _fill(tensor, val)


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with 0."""
    return _fill(tensor, 0.0)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with 1."""
    return _fill(tensor, 1.0)


def eye_(tensor: Tensor) -> Tensor:
    """Fill a 2-D array with the identity matrix (ones on the diagonal)."""
    array = _array(tensor)
    if array.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    return _fill(tensor, np.eye(*array.shape))


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: Seed = None) -> Tensor:
    """Glorot uniform: U(-b, b) with ``b = gain·√(6 / (fan_in + fan_out))``."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: Seed = None) -> Tensor:
    """Glorot normal: N(0, σ²) with ``σ = gain·√(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def _is_empty(tensor: Tensor) -> bool:
    """True, with PyTorch's warning, for a tensor with no elements (its fan may be 0)."""
    if _array(tensor).size:
        return False
    warnings.warn("Initializing zero-element tensors is a no-op", UserWarning, stacklevel=3)
    return True


def kaiming_uniform_(
    tensor: Tensor,
    a: float = 0.0,
    mode: Literal["fan_in", "fan_out"] = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: Seed = None,
) -> Tensor:
    """He uniform: U(-b, b) with ``b = gain·√(3 / fan)``, and the gain of ``nonlinearity``.

    PyTorch's ``Linear`` and ``Conv`` layers use ``a=√5``, which makes ``b = 1/√fan_in``.
    A tensor with no elements is left as it is, with PyTorch's warning.
    """
    if _is_empty(tensor):
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(
    tensor: Tensor,
    a: float = 0.0,
    mode: Literal["fan_in", "fan_out"] = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: Seed = None,
) -> Tensor:
    """He normal: N(0, σ²) with ``σ = gain / √fan`` (a tensor with no elements: as
    :func:`kaiming_uniform_`)."""
    if _is_empty(tensor):
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return normal_(tensor, 0.0, std, generator)


def orthogonal_(tensor: Tensor, gain: float = 1.0, generator: Seed = None) -> Tensor:
    """Fill with a (semi-)orthogonal matrix times ``gain`` (Saxe et al., 2013).

    The array is viewed as ``(shape[0], rest)``; a Gaussian matrix is QR-factorised and
    ``Q`` is multiplied by the signs of ``diag(R)`` so the result is uniformly distributed.
    """
    array = _array(tensor)
    if array.ndim < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if array.size == 0:
        return tensor
    rows = array.shape[0]
    cols = array.size // rows
    flat = as_generator(generator).normal(0.0, 1.0, (rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _fill(tensor, gain * q.reshape(array.shape))
