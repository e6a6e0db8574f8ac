"""``Linear`` (an affine map) and ``Identity``."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from refnet._typing import Array, Seed
from refnet.nn import init
from refnet.nn._validation import float_input, matching_dtype, same_shape_gradient, shape_error
from refnet.nn.module import Module
from refnet.nn.parameter import Parameter
from refnet.random import as_generator


class Identity(Module):
    """Return the input unchanged (PyTorch: ``nn.Identity``); the gradient passes through.

    Arguments are accepted and ignored, as in PyTorch, so it can stand in for any layer.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__()
        self._shape: tuple[int, ...] | None = None

    def forward(self, x: Array) -> Array:
        self._shape = np.shape(x)
        return x

    def backward(self, grad_output: Array) -> Array:
        return same_shape_gradient(self, grad_output, self._saved(self._shape))


def as_rows(x: Array) -> Array:
    """``x`` (*, F) as a matrix (M, F), M the product of the leading sizes (0 included,
    which ``reshape(-1, 0)`` cannot infer)."""
    return x.reshape(math.prod(x.shape[:-1]), x.shape[-1])


class Linear(Module):
    """Affine map ``y = x Wᵀ + b`` (PyTorch: ``nn.Linear``).

    Shapes: x ``(*, in_features)``, W ``(out_features, in_features)``, b ``(out_features,)``,
    y ``(*, out_features)``. Any leading dimensions are flattened into one batch
    dimension ``N`` so every product is a single BLAS call.

    Backward, from ``y_nj = Σ_i x_ni W_ji + b_j`` and upstream ``G = ∂L/∂y``:

    * ``∂L/∂x = G W``        (N, out) @ (out, in)
    * ``∂L/∂W = Gᵀ x``       (out, N) @ (N, in), summed over the batch by the product
    * ``∂L/∂b = Σ_n G_n``    a sum over the batch

    Initialisation is PyTorch's: ``kaiming_uniform_(W, a=√5)``, which is U(-k, k) with
    ``k = 1/√in_features``, and the same range for b.

    ``∂L/∂b`` is computed as the product ``1ᵀ G`` with a vector of ones: one BLAS call,
    faster than ``G.sum(axis=0)`` (chapter 9's first exercise times both).

    ``needs_input_grad`` (default ``True``): set it to ``False`` on a layer whose input
    gradient nobody uses (the first layer of a network, whose input is the data) and
    ``backward`` skips the product ``G W`` and returns ``None``; the parameter gradients
    are unchanged. PyTorch decides the same from ``input.requires_grad``.

    Caches the input (needed for ∂L/∂W).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        dtype: npt.DTypeLike = np.float32,
        generator: Seed = None,
    ) -> None:
        super().__init__()
        if in_features < 0 or out_features < 0:
            raise ValueError(
                f"Linear: in_features and out_features must be non-negative, "
                f"got ({in_features}, {out_features})"
            )
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(np.empty((out_features, in_features), dtype=dtype))
        self.bias: Parameter | None
        if bias:
            self.bias = Parameter(np.empty(out_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters(generator)
        self._x: Array | None = None
        self.needs_input_grad = True

    def reset_parameters(self, generator: Seed = None) -> None:
        """PyTorch's default initialisation (see the class docstring)."""
        rng = as_generator(generator)
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), generator=rng)
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
            init.uniform_(self.bias, -bound, bound, generator=rng)

    def forward(self, x: Array) -> Array:
        x = float_input(self, x)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise shape_error(self, f"(*, {self.in_features})", x)
        matching_dtype(self, x, self.weight.dtype)
        self._x = x
        y = as_rows(x) @ self.weight.data.T
        if self.bias is not None:
            y += self.bias.data
        return y.reshape(x.shape[:-1] + (self.out_features,))

    # --8<-- [start:backward]
    def backward(self, grad_output: Array) -> Array | None:
        x = self._saved(self._x)
        grad_output = same_shape_gradient(self, grad_output, x.shape[:-1] + (self.out_features,))
        g = as_rows(grad_output)
        self.weight.grad += g.T @ as_rows(x)
        if self.bias is not None:
            self.bias.grad += np.ones(g.shape[0], dtype=g.dtype) @ g
        if not self.needs_input_grad:
            return None
        flat = as_rows(x)
        if flat.flags.f_contiguous and not flat.flags.c_contiguous:
            # ∂L/∂x in the input's layout, as (Wᵀ Gᵀ)ᵀ: the same product. A Flatten of a
            # refnet convolution's (C, H, W, N) output is such an input, and the layer
            # below then reads the gradient without a transposing copy.
            return (self.weight.data.T @ g.T).T.reshape(x.shape)
        return (g @ self.weight.data).reshape(x.shape)

    # --8<-- [end:backward]

    def extra_repr(self) -> str:
        bias = self.bias is not None
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={bias}"
