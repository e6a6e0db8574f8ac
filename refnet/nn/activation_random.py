"""RReLU (a leaky ReLU with random slopes) and Softmax2d (PyTorch's names and defaults).

Both follow :mod:`refnet.nn.activation`'s pattern: ``forward`` caches one array,
``backward`` multiplies the upstream gradient by the local derivative.
"""

from __future__ import annotations

import numpy as np

from refnet._typing import Array, Seed
from refnet.nn._validation import shape_error
from refnet.nn.activation import Softmax, _Activation
from refnet.random import as_generator

__all__ = ["RReLU", "Softmax2d"]


class RReLU(_Activation):
    """Randomized leaky ReLU (PyTorch: ``nn.RReLU(lower=1/8, upper=1/3, inplace=False)``).

    ``y = x`` for ``x > 0`` and ``y = a x`` otherwise, where the slope ``a`` is:

    * in training, drawn for every element from ``U(lower, upper)`` at each forward, with
      the module's ``generator`` (refnet's addition: an int seed or a
      ``np.random.Generator``; ``None`` follows :func:`refnet.manual_seed`), the noise
      acting as a regulariser (Xu et al., 2015);
    * in evaluation, the mean slope ``(lower + upper) / 2``: a plain leaky ReLU.

    For fixed slopes ``y`` is linear in ``x`` on each side of 0, so ``∂L/∂x = ∂L/∂y · a``
    for ``x ≤ 0`` and ``∂L/∂y`` for ``x > 0`` (PyTorch's convention at 0: the slope
    side). Caches the per-element factor (1 or ``a``). ``inplace`` is accepted and has
    no effect (refnet never overwrites its input).
    """

    def __init__(
        self,
        lower: float = 1.0 / 8,
        upper: float = 1.0 / 3,
        inplace: bool = False,
        *,
        generator: Seed = None,
    ) -> None:
        super().__init__()
        if not lower <= upper:
            raise ValueError(f"RReLU: lower must be at most upper, got {lower} and {upper}")
        self.lower = lower
        self.upper = upper
        self.inplace = inplace
        self.generator: np.random.Generator | None = (
            None if generator is None else as_generator(generator)
        )

    def _forward(self, x: Array) -> tuple[Array, Array]:
        if self.training:
            rng = as_generator(self.generator)
            slopes = rng.uniform(self.lower, self.upper, x.shape).astype(x.dtype, copy=False)
        else:
            slopes = np.full(x.shape, (self.lower + self.upper) / 2, dtype=x.dtype)
        factor = np.where(x > 0, np.ones((), dtype=x.dtype), slopes)
        return x * factor, factor

    def _backward(self, grad_output: Array, factor: Array) -> Array:
        return grad_output * factor

    def extra_repr(self) -> str:
        inplace = ", inplace=True" if self.inplace else ""
        return f"lower={self.lower}, upper={self.upper}{inplace}"


class Softmax2d(Softmax):
    """Softmax over the channels at every pixel (PyTorch: ``nn.Softmax2d()``).

    Input ``(N, C, H, W)`` or ``(C, H, W)``: ``y[..., c, h, w] = e^{x_c} / Σ_k e^{x_k}``
    along the channel axis (``dim=-3``); anything else is refused, as in PyTorch. It is
    :class:`Softmax` with ``dim=-3``, so the backward is Softmax's
    ``y ⊙ (G - Σ_c G ⊙ y)``. Caches ``y``.
    """

    def __init__(self) -> None:
        super().__init__(dim=-3)

    def _forward(self, x: Array) -> tuple[Array, Array]:
        if x.ndim not in (3, 4):
            raise shape_error(self, "(N, C, H, W) or (C, H, W)", x)
        return super()._forward(x)

    def extra_repr(self) -> str:
        return ""
