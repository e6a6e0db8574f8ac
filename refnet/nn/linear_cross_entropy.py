"""``LinearCrossEntropyLoss``: the last Linear layer and the cross-entropy as one loss.

A language model's output layer maps each hidden vector to one logit per token and the
loss reads the logits once; torch's ``LinearCrossEntropyLoss`` fuses the two so that it
can (with ``options``) compute them chunk by chunk and never hold all the logits at once.
refnet forms the logits plainly (``options`` is not implemented): the module is the
composition, ``CrossEntropyLoss(Linear(input))``, with torch's parameters, arguments and
``state_dict`` keys (``linear.weight``, ``linear.bias``, ``weight``).

**Backward.** The chain rule through the two: the cross-entropy's gradient of the logits
(``softmax − onehot``, weighted and smoothed as :class:`CrossEntropyLoss` says), reshaped
to the Linear's output, then the Linear's backward, which adds ∂W and ∂b and returns
∂input.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from refnet._typing import Array, Seed
from refnet.nn._validation import float_input, same_shape_gradient
from refnet.nn.linear import Linear
from refnet.nn.loss import CrossEntropyLoss

__all__ = ["LinearCrossEntropyLoss"]


class LinearCrossEntropyLoss(CrossEntropyLoss):
    """``cross_entropy(linear(input), target)`` (PyTorch: ``nn.LinearCrossEntropyLoss``).

    ``LinearCrossEntropyLoss(in_features, num_classes, *, out_features=(), bias=False,
    reduction='mean', weight=None, ignore_index=None, label_smoothing=0.0)``: input
    ``(N, in_features)`` or ``(in_features,)``; the logits are ``(N, num_classes,
    *out_features)`` (a K-dimensional loss when ``out_features`` is not empty) and the
    target holds class indices ``(N, *out_features)`` or probabilities of the logits'
    shape. ``ignore_index=None`` ignores nothing but the class -100, as torch's. refnet
    adds ``dtype`` and ``generator`` (the Linear's initialisation). ``backward(grad=None)``
    returns ∂L/∂input and adds the Linear's gradients.
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        *,
        out_features: tuple[int, ...] = (),
        bias: bool = False,
        reduction: str = "mean",
        weight: npt.ArrayLike | None = None,
        ignore_index: int | None = None,
        label_smoothing: float = 0.0,
        options: Any = None,
        dtype: npt.DTypeLike = np.float32,
        generator: Seed = None,
    ) -> None:
        if options is not None:
            raise NotImplementedError(
                "LinearCrossEntropyLoss: options (torch's chunked path, a memory saving) is "
                "not implemented; refnet forms the logits whole"
            )
        if weight is not None and np.shape(weight) != (num_classes,):
            raise ValueError(
                f"LinearCrossEntropyLoss: expected weight of shape {(num_classes,)}, got "
                f"{np.shape(weight)}"
            )
        super().__init__(weight, reduction=reduction, label_smoothing=label_smoothing)
        self.ignore_index = ignore_index  # type: ignore[assignment]  # None: -100, as torch
        self.in_features = in_features
        self.num_classes = num_classes
        self.out_features = tuple(out_features)
        self.options = options
        width = math.prod(self.out_features, start=num_classes)
        self.linear = Linear(in_features, width, bias=bias, dtype=dtype, generator=generator)

    def _ignored_class(self) -> int:
        ignore: int | None = self.ignore_index
        return -100 if ignore is None else ignore

    def forward(self, input: Array, target: Array) -> Array:
        x = float_input(self, input)
        if x.ndim not in (1, 2) or (self.out_features and x.ndim != 2):
            raise ValueError(
                f"{self.describe()}: expected input (N, {self.linear.in_features})"
                + ("" if self.out_features else f" or ({self.linear.in_features},)")
                + f", got {x.shape}"
            )
        logits = self.linear(x)
        self._logit_shape = logits.shape
        loss = super().forward(logits.reshape(self._logits_of(x)), target)
        # An array in the input's dtype, 0-d when reduced, as torch's tensor (refnet's other
        # losses return the float64 scalar they accumulate); it has .item() too.
        out = np.asarray(loss, dtype=x.dtype)
        self._loss_shape = out.shape
        return out

    def _logits_of(self, x: Array) -> tuple[int, ...]:
        """The logits' shape for input ``x``: ``(*batch, C, *out_features)``."""
        return (*x.shape[:-1], self.num_classes, *self.out_features)

    def backward(self, grad_output: Array | float | None = None) -> Array:
        if isinstance(grad_output, np.ndarray):
            same_shape_gradient(self, grad_output, self._saved(self._loss_shape))
        grad_logits = super().backward(grad_output)
        grad = self.linear.backward(grad_logits.reshape(self._saved(self._logit_shape)))
        assert grad is not None  # the Linear keeps needs_input_grad
        return grad

    def extra_repr(self) -> str:
        return (
            f"in_features={self.linear.in_features}, num_classes={self.num_classes}, "
            f"out_features={self.out_features}, bias={self.linear.bias is not None}, "
            f"reduction={self.reduction}, ignore_index={self.ignore_index}, "
            f"label_smoothing={self.label_smoothing}, options={self.options}"
        )
