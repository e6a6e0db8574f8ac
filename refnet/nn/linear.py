"""``Linear`` (an affine map) and ``Identity``."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from refnet._typing import Array, Seed
from refnet.nn import init
from refnet.nn._validation import float_input, matching_dtype, same_shape_gradient, shape_error
from refnet.nn.functional.layout import rows_times
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
        # ∂L/∂x = G W, laid out as the input is (a flattened convolution output is
        # batch-last: refnet.nn.functional.layout).
        return rows_times(g, self.weight.data, like=as_rows(x)).reshape(x.shape)

    # --8<-- [end:backward]

    def extra_repr(self) -> str:
        bias = self.bias is not None
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={bias}"


class Bilinear(Module):
    """Bilinear map ``y_o = x1ᵀ W_o x2 + b_o`` (PyTorch: ``nn.Bilinear``).

    Shapes: ``x1`` ``(*, in1_features)``, ``x2`` ``(*, in2_features)`` with the same
    leading dimensions, ``W`` ``(out_features, in1_features, in2_features)``, ``b``
    ``(out_features,)``, ``y`` ``(*, out_features)``. In indices, over the flattened batch
    ``m``: ``y_mo = Σ_ij x1_mi W_oij x2_mj + b_o``.

    The forward computes ``U_moj = Σ_i x1_mi W_oij`` with one GEMM (``x1`` against ``W``
    laid out as ``(in1, out · in2)``) and then ``y_mo = Σ_j U_moj x2_mj``. ``y`` is linear
    in each of ``x1``, ``x2`` and ``W`` separately, so each gradient is the map with that
    factor removed (upstream ``G = ∂L/∂y``):

    * ``∂L/∂x2_mj = Σ_o G_mo U_moj``             (``U`` reused from the forward)
    * ``∂L/∂x1_mi = Σ_o G_mo Σ_j W_oij x2_mj``   (one GEMM of ``x2`` against ``W``)
    * ``∂L/∂W_oij = Σ_m G_mo x1_mi x2_mj``       (``Gᵀ`` against the outer products)
    * ``∂L/∂b_o = Σ_m G_mo``

    Initialisation is PyTorch's: ``W`` and ``b`` from ``U(-k, k)`` with
    ``k = 1/√in1_features`` (so ``in1_features = 0`` is refused, as in torch; zero
    ``in2_features`` or ``out_features`` are taken). ``backward`` returns
    ``(∂L/∂x1, ∂L/∂x2)``. Caches both inputs and ``U``.
    """

    def __init__(
        self,
        in1_features: int,
        in2_features: int,
        out_features: int,
        bias: bool = True,
        dtype: npt.DTypeLike = np.float32,
        generator: Seed = None,
    ) -> None:
        super().__init__()
        if min(in1_features, in2_features, out_features) < 0:
            raise ValueError(
                "Bilinear: in1_features, in2_features and out_features must be non-negative, "
                f"got ({in1_features}, {in2_features}, {out_features})"
            )
        if in1_features == 0:  # torch refuses it too: the init bound 1/√in1 is undefined
            raise ValueError("Bilinear: in1_features must be > 0, as in torch, got 0")
        self.in1_features = in1_features
        self.in2_features = in2_features
        self.out_features = out_features
        shape = (out_features, in1_features, in2_features)
        self.weight = Parameter(np.empty(shape, dtype=dtype))
        self.bias: Parameter | None
        if bias:
            self.bias = Parameter(np.empty(out_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters(generator)
        self._cache: tuple[Array, Array, Array] | None = None

    def reset_parameters(self, generator: Seed = None) -> None:
        """PyTorch's default initialisation (see the class docstring)."""
        rng = as_generator(generator)
        bound = 1 / math.sqrt(self.in1_features)
        init.uniform_(self.weight, -bound, bound, generator=rng)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound, generator=rng)

    def forward(self, input1: Array, input2: Array) -> Array:
        x1 = float_input(self, input1, "input1")
        x2 = float_input(self, input2, "input2")
        if x1.ndim == 0 or x1.shape[-1] != self.in1_features:
            raise shape_error(self, f"(*, {self.in1_features})", x1, "input1")
        if x2.shape != x1.shape[:-1] + (self.in2_features,):
            raise shape_error(self, f"{x1.shape[:-1] + (self.in2_features,)}", x2, "input2")
        matching_dtype(self, x1, self.weight.dtype, "input1")
        matching_dtype(self, x2, self.weight.dtype, "input2")
        n_out, n1, n2 = self.weight.shape
        a, b = as_rows(x1), as_rows(x2)
        m = a.shape[0]  # not -1 in the reshapes: a zero in2 or out leaves nothing to infer from
        u = (a @ self.weight.data.transpose(1, 0, 2).reshape(n1, n_out * n2)).reshape(m, n_out, n2)
        y = np.einsum("moj,mj->mo", u, b)
        if self.bias is not None:
            y += self.bias.data
        self._cache = (x1, x2, u)
        return y.reshape(x1.shape[:-1] + (n_out,))

    def backward(self, grad_output: Array) -> tuple[Array, Array]:
        x1, x2, u = self._saved(self._cache)
        n_out, n1, n2 = self.weight.shape
        g = as_rows(same_shape_gradient(self, grad_output, x1.shape[:-1] + (n_out,)))
        a, b = as_rows(x1), as_rows(x2)
        m = a.shape[0]
        outer = (a[:, :, None] * b[:, None, :]).reshape(m, n1 * n2)
        self.weight.grad += (g.T @ outer).reshape(n_out, n1, n2)
        if self.bias is not None:
            self.bias.grad += g.sum(axis=0)
        grad2 = np.einsum("mo,moj->mj", g, u)
        v = (b @ self.weight.data.reshape(n_out * n1, n2).T).reshape(m, n_out, n1)
        grad1 = np.einsum("mo,moi->mi", g, v)
        return grad1.reshape(x1.shape), grad2.reshape(x2.shape)

    def extra_repr(self) -> str:
        bias = self.bias is not None
        return (
            f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
            f"out_features={self.out_features}, bias={bias}"
        )
