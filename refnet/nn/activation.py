"""Activation functions, each with its derivative (PyTorch: ``torch.nn`` activations).

An elementwise activation ``y = f(x)`` has a diagonal Jacobian, so its backward is a
product, elementwise: ``∂L/∂x = ∂L/∂y · f'(x)``. Each class writes ``f`` in ``_forward``
and ``f'`` in ``_backward``, and caches one array: the output ``y`` where ``f'`` can be
written in terms of ``y`` (ReLU, Sigmoid, Tanh, ELU, ...), otherwise the input ``x``.

Softmax and LogSoftmax are not elementwise: each output depends on a whole slice along
``dim``; their backward is a Jacobian-vector product, derived in their docstrings.

Every formula is evaluated in a form that cannot overflow (no warnings, no NaN at
x = ±1000) and keeps the input's dtype.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import numpy.typing as npt

from refnet._parallel import elementwise
from refnet._typing import Array
from refnet.nn import functional as F
from refnet.nn._validation import float_input, matching_dtype, same_shape_gradient, shape_error
from refnet.nn.module import Module
from refnet.nn.parameter import Parameter


class _Activation(Module):
    """An activation that caches one array in ``forward`` for its ``backward``."""

    def __init__(self) -> None:
        super().__init__()
        self._cache: Array | None = None

    def forward(self, x: Array) -> Array:
        x = float_input(self, x)
        y, self._cache = self._forward(x)
        return y

    def backward(self, grad_output: Array) -> Array:
        cache = self._saved(self._cache)
        return self._backward(same_shape_gradient(self, grad_output, cache.shape), cache)

    def _forward(self, x: Array) -> tuple[Array, Array]:
        """Return ``(y, cache)``, the cache an array of the input's shape."""
        raise NotImplementedError

    def _backward(self, grad_output: Array, cache: Array) -> Array:
        """Return ``∂L/∂x`` from ``∂L/∂y`` and the cached array."""
        raise NotImplementedError


class ReLU(_Activation):
    """``y = max(x, 0)``; ``f'(x) = 1`` if ``x > 0`` else 0 (0 at the kink, as PyTorch).

    Caches ``y``: ``x > 0`` exactly where ``y > 0``.

    The backward is the product ``G · 1[y > 0]`` with the boolean mask, which NumPy runs
    in a SIMD loop, much faster than ``np.where(y > 0, G, 0)`` (the speed chapter has the
    figure). It differs from ``where`` (and PyTorch) only at inactive units whose upstream
    gradient is ±inf or NaN (NaN instead of 0) or negative (-0.0 instead of 0). Large
    arrays run in chunks on refnet's threads if ``refnet.set_num_threads`` asks for more
    than one (:mod:`refnet._parallel`).
    """

    def _forward(self, x: Array) -> tuple[Array, Array]:
        y = elementwise(np.maximum, np.empty_like(x), x, 0)
        return y, y

    def _backward(self, grad_output: Array, y: Array) -> Array:
        return elementwise(_relu_grad, np.empty_like(grad_output), grad_output, y)


def _relu_grad(grad_output: Array, y: Array, out: Array) -> Array:
    return np.multiply(grad_output, np.greater(y, 0), out=out)


class Hardtanh(_Activation):
    """``y = clip(x, min_val, max_val)``; ``f'(x) = 1`` strictly inside, 0 outside.

    Caches ``y``: ``min_val < x < max_val`` exactly where ``min_val < y < max_val``.
    """

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0) -> None:
        super().__init__()
        if not max_val > min_val:
            raise ValueError(
                f"Hardtanh: max_val ({max_val}) must be greater than min_val ({min_val})"
            )
        self.min_val = min_val
        self.max_val = max_val

    def _forward(self, x: Array) -> tuple[Array, Array]:
        y = np.clip(x, self.min_val, self.max_val)
        return y, y

    def _backward(self, grad_output: Array, y: Array) -> Array:
        inside = (y > self.min_val) & (y < self.max_val)
        return np.where(inside, grad_output, 0)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}"


class ReLU6(Hardtanh):
    """``y = min(max(x, 0), 6)``: ``Hardtanh(0, 6)``."""

    def __init__(self) -> None:
        super().__init__(0.0, 6.0)

    def extra_repr(self) -> str:
        return ""


class LeakyReLU(_Activation):
    """``y = x`` if ``x > 0`` else ``negative_slope · x``; ``f'`` is 1 or ``negative_slope``.

    Caches ``x`` (with a negative slope, the sign of ``y`` would not tell the side).
    """

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = negative_slope

    def _forward(self, x: Array) -> tuple[Array, Array]:
        return np.where(x > 0, x, x * self.negative_slope), x

    def _backward(self, grad_output: Array, x: Array) -> Array:
        return np.where(x > 0, grad_output, grad_output * self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class ELU(_Activation):
    """``y = x`` if ``x > 0`` else ``α(eˣ - 1)``; ``f'(x) = 1`` or ``αeˣ = y + α``.

    Caches ``y``. ``expm1`` of ``min(x, 0)`` keeps precision near 0 and never overflows.
    """

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = alpha

    def _forward(self, x: Array) -> tuple[Array, Array]:
        y = np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0)))
        return y, y

    def _backward(self, grad_output: Array, y: Array) -> Array:
        return np.where(y > 0, grad_output, grad_output * (y + self.alpha))

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


class SELU(_Activation):
    """``y = λ x`` if ``x > 0`` else ``λα(eˣ - 1)``, with PyTorch's λ ≈ 1.0507, α ≈ 1.6733.

    ``f'(x) = λ`` or ``λαeˣ = y + λα``. Caches ``y``.
    """

    def _forward(self, x: Array) -> tuple[Array, Array]:
        y = _SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(np.minimum(x, 0)))
        return y, y

    def _backward(self, grad_output: Array, y: Array) -> Array:
        slope = np.where(y > 0, _SELU_SCALE, y + _SELU_SCALE * _SELU_ALPHA)
        return grad_output * slope


_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_GELU_CUBIC = 0.044715


class GELU(_Activation):
    """Gaussian error linear unit ``y = x Φ(x)``, Φ the standard normal CDF.

    ``approximate='none'``: Φ(x) = ½ erfc(-x/√2), and ``f'(x) = Φ(x) + x φ(x)`` with
    φ(x) = e^{-x²/2}/√(2π). Φ is :func:`refnet.nn.functional.normal_cdf` (in float32 a
    rational approximation to float32's resolution, in float64 the exact erfc).

    ``approximate='tanh'``: y = ½ x (1 + tanh u), u = √(2/π)(x + 0.044715 x³), and
    ``f'(x) = ½(1 + tanh u) + ½ x (1 - tanh² u) √(2/π)(1 + 3·0.044715 x²)``.

    Caches ``x`` (tanh form) or f'(x) (exact form: computed with y, see
    :func:`refnet.nn.functional.gelu_with_derivative`).
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def _forward(self, x: Array) -> tuple[Array, Array]:
        if self.approximate == "tanh":
            u = _SQRT_2_OVER_PI * (x + _GELU_CUBIC * x**3)
            return 0.5 * x * (1 + np.tanh(u)), x
        return F.gelu_with_derivative(x)  # caches f'(x) = Φ(x) + x φ(x)

    def _backward(self, grad_output: Array, cache: Array) -> Array:
        if self.approximate == "tanh":
            x = cache
            t = np.tanh(_SQRT_2_OVER_PI * (x + _GELU_CUBIC * x**3))
            du = _SQRT_2_OVER_PI * (1 + 3 * _GELU_CUBIC * x * x)
            return grad_output * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du)
        return grad_output * cache

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(_Activation):
    """Sigmoid linear unit (swish) ``y = x σ(x)``; ``f'(x) = σ(x)(1 + x(1 - σ(x)))``.

    Caches ``x`` and recomputes σ in the backward (one array kept, not two).
    """

    def _forward(self, x: Array) -> tuple[Array, Array]:
        return x * F.sigmoid(x), x

    def _backward(self, grad_output: Array, x: Array) -> Array:
        s = F.sigmoid(x)
        return grad_output * s * (1 + x * (1 - s))


class Mish(_Activation):
    """``y = x tanh(softplus(x))``; ``f'(x) = tanh(s) + x (1 - tanh²(s)) σ(x)``, s = softplus(x).

    Caches ``x``.
    """

    def _forward(self, x: Array) -> tuple[Array, Array]:
        return x * np.tanh(F.softplus(x)), x

    def _backward(self, grad_output: Array, x: Array) -> Array:
        t = np.tanh(F.softplus(x))
        return grad_output * (t + x * (1 - t * t) * F.sigmoid(x))


class Sigmoid(_Activation):
    """``y = σ(x) = 1/(1 + e^{-x})``; ``f'(x) = y(1 - y)``. Caches ``y``."""

    def _forward(self, x: Array) -> tuple[Array, Array]:
        y = F.sigmoid(x)
        return y, y

    def _backward(self, grad_output: Array, y: Array) -> Array:
        return grad_output * y * (1 - y)


class LogSigmoid(_Activation):
    """``y = log σ(x) = -softplus(-x)``; ``f'(x) = 1 - σ(x) = σ(-x)``. Caches ``x``."""

    def _forward(self, x: Array) -> tuple[Array, Array]:
        return F.log_sigmoid(x), x

    def _backward(self, grad_output: Array, x: Array) -> Array:
        return grad_output * F.sigmoid(-x)


class Tanh(_Activation):
    """``y = tanh x``; ``f'(x) = 1 - y²``. Caches ``y``."""

    def _forward(self, x: Array) -> tuple[Array, Array]:
        y = np.tanh(x)
        return y, y

    def _backward(self, grad_output: Array, y: Array) -> Array:
        return grad_output * (1 - y * y)


class Softplus(_Activation):
    """``y = log(1 + e^{βx}) / β``, and ``y = x`` where ``βx > threshold`` (PyTorch's rule).

    ``f'(x) = σ(βx)``, and 1 above the threshold. Caches ``x``.
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def _forward(self, x: Array) -> tuple[Array, Array]:
        return F.softplus(x, self.beta, self.threshold), x

    def _backward(self, grad_output: Array, x: Array) -> Array:
        z = x * self.beta
        return np.where(z > self.threshold, grad_output, grad_output * F.sigmoid(z))

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Softsign(_Activation):
    """``y = x / (1 + |x|)``; ``f'(x) = 1 / (1 + |x|)²``. Caches ``x``."""

    def _forward(self, x: Array) -> tuple[Array, Array]:
        return x / (1 + np.abs(x)), x

    def _backward(self, grad_output: Array, x: Array) -> Array:
        d = 1 + np.abs(x)
        return grad_output / (d * d)


class Hardsigmoid(_Activation):
    """``y = clip(x/6 + 1/2, 0, 1)``; ``f'(x) = 1/6`` for ``-3 < x < 3``, else 0. Caches ``x``."""

    def _forward(self, x: Array) -> tuple[Array, Array]:
        return np.clip(x / 6 + 0.5, 0, 1), x

    def _backward(self, grad_output: Array, x: Array) -> Array:
        return np.where((x > -3) & (x < 3), grad_output / 6, 0)


class Hardswish(_Activation):
    """``y = x · clip(x + 3, 0, 6) / 6``; ``f'(x)`` is 0 up to -3, ``x/3 + 1/2`` in
    ``(-3, 3)`` and 1 from 3 on (PyTorch's one-sided choices at the kinks: 0 at -3 and 1
    at 3). Caches ``x``.
    """

    def _forward(self, x: Array) -> tuple[Array, Array]:
        return x * np.clip(x + 3, 0, 6) / 6, x

    def _backward(self, grad_output: Array, x: Array) -> Array:
        slope = np.where(x <= -3, 0, np.where(x < 3, x / 3 + 0.5, 1))
        return grad_output * slope


class PReLU(Module):
    """``y = x`` if ``x > 0`` else ``a·x``, with a learned slope ``a`` per channel.

    PyTorch: ``nn.PReLU(num_parameters=1, init=0.25)``. With ``num_parameters = C`` the
    slope ``a_c`` applies to channel ``c`` = dimension 1 of the input; with 1 a single
    slope is shared.

    Backward: ``∂L/∂x = G`` where ``x > 0`` else ``a G``; ``∂L/∂a_c = Σ G·x`` over the
    elements of channel ``c`` with ``x ≤ 0``. Caches ``x``.
    """

    def __init__(
        self, num_parameters: int = 1, init: float = 0.25, dtype: npt.DTypeLike = np.float32
    ) -> None:
        super().__init__()
        if num_parameters < 1:
            raise ValueError(f"PReLU: num_parameters must be at least 1, got {num_parameters}")
        self.num_parameters = num_parameters
        self.init = init
        self.weight = Parameter(np.full(num_parameters, init, dtype=dtype))
        self._x: Array | None = None

    def _slope_shape(self, x: Array) -> tuple[int, ...]:
        """Shape that broadcasts the slopes along dimension 1."""
        if self.num_parameters == 1:
            return (1,) if x.ndim else ()  # a 0-d input stays 0-d, as in PyTorch
        if x.ndim < 2 or x.shape[1] != self.num_parameters:
            raise shape_error(self, f"(N, {self.num_parameters}, *)", x)
        return (self.num_parameters,) + (1,) * (x.ndim - 2)

    def forward(self, x: Array) -> Array:
        x = float_input(self, x)
        matching_dtype(self, x, self.weight.dtype)
        a = self.weight.data.reshape(self._slope_shape(x))
        self._x = x
        return np.where(x > 0, x, a * x)

    def backward(self, grad_output: Array) -> Array:
        x = self._saved(self._x)
        g = same_shape_gradient(self, grad_output, x.shape)
        a = self.weight.data.reshape(self._slope_shape(x))
        negative_part = np.where(x > 0, 0, g * x)
        if self.num_parameters == 1:
            self.weight.grad += negative_part.sum()
        else:
            self.weight.grad += negative_part.sum(axis=tuple(d for d in range(x.ndim) if d != 1))
        return np.where(x > 0, g, a * g)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


def _softmax_dim(module: Module, dim: int | None, x: Array) -> int:
    """The axis to normalise over; ``dim=None`` follows PyTorch's legacy rule, with a warning."""
    if dim is None:
        warnings.warn(
            f"{type(module).__name__}: implicit dimension choice is deprecated; "
            "pass dim= explicitly",
            UserWarning,
            stacklevel=6,  # the layer's caller: past this, _forward, forward, Module's two
        )
        return 0 if x.ndim in (0, 1, 3) else 1
    if not -max(x.ndim, 1) <= dim < max(x.ndim, 1):
        raise shape_error(module, f"with a dimension {dim}", x)
    return dim


class Softmax(_Activation):
    """``y_i = e^{x_i} / Σ_j e^{x_j}`` along ``dim`` (PyTorch: ``nn.Softmax(dim)``).

    The Jacobian of one slice is ``∂y_i/∂x_k = y_i(δ_ik - y_k)``, so

        ∂L/∂x_k = Σ_i G_i y_i (δ_ik - y_k) = y_k (G_k - Σ_i G_i y_i),

    one elementwise product and one sum along ``dim``: the Jacobian is never built.
    Caches ``y``.
    """

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim
        self._axis = -1

    def _forward(self, x: Array) -> tuple[Array, Array]:
        self._axis = _softmax_dim(self, self.dim, x)
        y = F.softmax(x, dim=self._axis)
        return y, y

    def _backward(self, grad_output: Array, y: Array) -> Array:
        return y * (grad_output - np.sum(grad_output * y, axis=self._axis, keepdims=True))

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(_Activation):
    """``y_i = x_i - log Σ_j e^{x_j}`` along ``dim`` (PyTorch: ``nn.LogSoftmax(dim)``).

    ``∂y_i/∂x_k = δ_ik - softmax(x)_k``, so ``∂L/∂x_k = G_k - e^{y_k} Σ_i G_i``.
    Computed through log-sum-exp, so it is finite for logits of any size. Caches ``y``.
    """

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim
        self._axis = -1

    def _forward(self, x: Array) -> tuple[Array, Array]:
        self._axis = _softmax_dim(self, self.dim, x)
        y = F.log_softmax(x, dim=self._axis)
        return y, y

    def _backward(self, grad_output: Array, y: Array) -> Array:
        return grad_output - np.exp(y) * np.sum(grad_output, axis=self._axis, keepdims=True)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
