"""More activations: CELU, Threshold, Hardshrink, Softshrink, Tanhshrink, Softmin, GLU.

The same pattern as :mod:`refnet.nn.activation` (which they extend; kept apart only
because that file is long): an elementwise ``y = f(x)`` has the backward ``∂L/∂x =
∂L/∂y · f'(x)``, with ``f`` in ``_forward``, ``f'`` in ``_backward`` and one array
cached. Softmin is softmax of ``-x``; GLU halves its input, so it is not elementwise and
its backward is derived in its docstring. PyTorch's names, defaults and ``repr``.
"""

from __future__ import annotations

import numpy as np

from refnet._typing import Array
from refnet.nn import functional as F
from refnet.nn._validation import float_input, same_shape_gradient, shape_error
from refnet.nn.activation import Softmax, _Activation
from refnet.nn.module import Module


class CELU(_Activation):
    """``y = max(0, x) + min(0, α(e^{x/α} - 1))`` (PyTorch: ``nn.CELU(alpha=1.0)``).

    ``f'(x) = 1`` for ``x > 0``, else ``e^{x/α}``. Caches ``x``: ``y/α + 1`` would give
    the same slope from ``y`` but cancels where ``y ≈ -α``. Unlike ELU, the slope at 0
    from the left is 1 for every α (continuously differentiable).
    """

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        if alpha == 0:
            raise ValueError("CELU: alpha cannot be 0")
        self.alpha = alpha

    def _forward(self, x: Array) -> tuple[Array, Array]:
        y = np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0) / self.alpha))
        return y, x

    def _backward(self, grad_output: Array, x: Array) -> Array:
        slope = np.exp(np.minimum(x, 0) / self.alpha)
        return np.where(x > 0, grad_output, grad_output * slope)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class Threshold(_Activation):
    """``y = x`` if ``x > threshold`` else ``value`` (PyTorch: ``nn.Threshold(threshold, value)``).

    ``f'(x) = 1`` above the threshold, 0 at or below it. Caches ``x`` (``y`` cannot tell
    a replaced value from an input equal to it).
    """

    def __init__(self, threshold: float, value: float) -> None:
        super().__init__()
        self.threshold = threshold
        self.value = value

    def _forward(self, x: Array) -> tuple[Array, Array]:
        return np.where(x > self.threshold, x, np.asarray(self.value, dtype=x.dtype)), x

    def _backward(self, grad_output: Array, x: Array) -> Array:
        return np.where(x > self.threshold, grad_output, 0)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, value={self.value}"


class Hardshrink(_Activation):
    """``y = x`` if ``|x| > λ`` else 0 (PyTorch: ``nn.Hardshrink(lambd=0.5)``).

    ``f'(x) = 1`` where ``|x| > λ``, else 0. Caches ``x``.
    """

    def __init__(self, lambd: float = 0.5) -> None:
        super().__init__()
        self.lambd = lambd

    def _forward(self, x: Array) -> tuple[Array, Array]:
        return np.where(np.abs(x) > self.lambd, x, 0).astype(x.dtype, copy=False), x

    def _backward(self, grad_output: Array, x: Array) -> Array:
        return np.where(np.abs(x) > self.lambd, grad_output, 0)

    def extra_repr(self) -> str:
        return f"{self.lambd}"


class Softshrink(_Activation):
    """``y = x - λ`` if ``x > λ``, ``x + λ`` if ``x < -λ``, else 0 (PyTorch: ``nn.Softshrink``).

    ``f'(x) = 1`` where ``|x| > λ``, else 0; λ ≥ 0 (default 0.5). Caches ``x``.
    """

    def __init__(self, lambd: float = 0.5) -> None:
        super().__init__()
        if not lambd >= 0:
            raise ValueError(f"Softshrink: lambd must be at least 0, got {lambd}")
        self.lambd = lambd

    def _forward(self, x: Array) -> tuple[Array, Array]:
        shrunk = x - np.sign(x) * np.asarray(self.lambd, dtype=x.dtype)
        return np.where(np.abs(x) > self.lambd, shrunk, 0).astype(x.dtype, copy=False), x

    def _backward(self, grad_output: Array, x: Array) -> Array:
        return np.where(np.abs(x) > self.lambd, grad_output, 0)

    def extra_repr(self) -> str:
        return f"{self.lambd}"


class Tanhshrink(_Activation):
    """``y = x - tanh(x)`` (PyTorch: ``nn.Tanhshrink``); ``f'(x) = 1 - (1 - tanh² x) = tanh² x``.

    Caches ``tanh(x)``.
    """

    def _forward(self, x: Array) -> tuple[Array, Array]:
        t = np.tanh(x)
        return x - t, t

    def _backward(self, grad_output: Array, t: Array) -> Array:
        return grad_output * (t * t)


class Softmin(Softmax):
    """``y = softmax(-x)`` along ``dim`` (PyTorch: ``nn.Softmin(dim=None)``).

    With ``u = -x`` and softmax's backward ``∂L/∂u = y ⊙ (G - Σ_dim G ⊙ y)``, the chain
    rule through the negation gives ``∂L/∂x = -y ⊙ (G - Σ_dim G ⊙ y)``: :class:`Softmax`
    on ``-x``, its gradient negated. Caches ``y``. ``dim=None`` follows PyTorch's legacy
    rule, with a warning (as :class:`Softmax`).
    """

    def _forward(self, x: Array) -> tuple[Array, Array]:
        return super()._forward(-x)

    def _backward(self, grad_output: Array, y: Array) -> Array:
        return -super()._backward(grad_output, y)


class GLU(Module):
    """Gated linear unit ``y = a ⊙ σ(b)``, ``a, b`` the two halves of ``x`` along ``dim``.

    PyTorch: ``nn.GLU(dim=-1)``. Shapes: ``(*, 2n, *)`` to ``(*, n, *)``. With ``s = σ(b)``
    and ``σ' = s(1 - s)``: ``∂L/∂a = G ⊙ s`` and ``∂L/∂b = G ⊙ a ⊙ s(1 - s)``, and the
    input gradient is the two halves put back together along ``dim``. Caches ``a`` and
    ``s``.
    """

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim
        self._a: Array | None = None
        self._s: Array | None = None
        self._axis = -1

    def forward(self, x: Array) -> Array:
        x = float_input(self, x)
        if not -x.ndim <= self.dim < x.ndim:
            raise shape_error(self, f"with a dimension {self.dim}", x)
        axis = self.dim % x.ndim
        if x.shape[axis] % 2:
            raise shape_error(self, f"with an even size along dim {self.dim}", x)
        a, b = np.split(x, 2, axis=axis)
        self._axis, self._a, self._s = axis, a, F.sigmoid(b)
        return a * self._s

    def backward(self, grad_output: Array) -> Array:
        a, s = self._saved(self._a), self._saved(self._s)
        grad = same_shape_gradient(self, grad_output, a.shape)
        return np.concatenate([grad * s, grad * a * s * (1 - s)], axis=self._axis)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
