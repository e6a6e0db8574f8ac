"""PyTorch's stateless functions under their ``torch.nn.functional`` names, each with a backward.

A PyTorch model calls ``F.relu(h)`` or ``F.cross_entropy(logits, y)`` inside its
``forward``. Each function here has a sibling ``*_backward(grad, <the same arguments>)``
that returns the gradient of the first argument (the input; ``linear_backward`` also the
weight's and bias's), so a forward written with functional calls gets its hand-written
backward from them, in reverse order::

    def forward(self, x):
        self.h = self.fc1(x)
        return self.fc2(F.relu(self.h))

    def backward(self, grad):
        return self.fc1.backward(F.relu_backward(self.fc2.backward(grad), self.h))

Each pair runs the matching refnet module, so the numbers are the layer's own (proven by
its gradient checks and torch agreement). A function keeps no cache: its backward runs the
forward again from the arguments, the price of being stateless. For a loss, ``grad`` is
the upstream gradient of the loss (1.0 for the loss itself; an array of the per-element
losses' shape with ``reduction='none'``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from refnet._typing import Array, IntArray

if TYPE_CHECKING:
    from refnet.nn.module import Module

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_backward",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_backward",
    "cross_entropy",
    "cross_entropy_backward",
    "elu",
    "elu_backward",
    "gelu",
    "gelu_backward",
    "l1_loss",
    "l1_loss_backward",
    "leaky_relu",
    "leaky_relu_backward",
    "linear",
    "linear_backward",
    "log_softmax_backward",
    "mse_loss",
    "mse_loss_backward",
    "nll_loss",
    "nll_loss_backward",
    "one_hot",
    "relu",
    "relu_backward",
    "silu",
    "silu_backward",
    "smooth_l1_loss",
    "smooth_l1_loss_backward",
    "softmax_backward",
    "tanh_backward",
]


def _through(module: Module, grad: Any, *inputs: Any) -> Any:
    """Run ``module`` on ``inputs`` and backpropagate ``grad`` through that call."""
    module(*inputs)
    return module.backward(grad)


def _nn() -> Any:
    import refnet.nn as nn  # refnet.nn imports this package: import it when called

    return nn


# ---------------------------------------------------------------------- activations


def relu(input: Array) -> Array:
    """``max(input, 0)`` (``torch.nn.functional.relu``)."""
    return _nn().ReLU()(input)


def relu_backward(grad: Array, input: Array) -> Array:
    """∂L/∂input of :func:`relu`: ``grad`` where ``input > 0``, else 0."""
    return _through(_nn().ReLU(), grad, input)


def leaky_relu(input: Array, negative_slope: float = 0.01) -> Array:
    """``input`` if positive, else ``negative_slope · input``."""
    return _nn().LeakyReLU(negative_slope)(input)


def leaky_relu_backward(grad: Array, input: Array, negative_slope: float = 0.01) -> Array:
    """∂L/∂input of :func:`leaky_relu`."""
    return _through(_nn().LeakyReLU(negative_slope), grad, input)


def elu(input: Array, alpha: float = 1.0) -> Array:
    """``input`` if positive, else ``alpha (e^input - 1)``."""
    return _nn().ELU(alpha)(input)


def elu_backward(grad: Array, input: Array, alpha: float = 1.0) -> Array:
    """∂L/∂input of :func:`elu`."""
    return _through(_nn().ELU(alpha), grad, input)


def gelu(input: Array, approximate: str = "none") -> Array:
    """``input · Φ(input)`` (``approximate='tanh'``: the tanh form)."""
    return _nn().GELU(approximate)(input)


def gelu_backward(grad: Array, input: Array, approximate: str = "none") -> Array:
    """∂L/∂input of :func:`gelu`: ``grad · (Φ(x) + x φ(x))``."""
    return _through(_nn().GELU(approximate), grad, input)


def silu(input: Array) -> Array:
    """``input · σ(input)``."""
    return _nn().SiLU()(input)


def silu_backward(grad: Array, input: Array) -> Array:
    """∂L/∂input of :func:`silu`."""
    return _through(_nn().SiLU(), grad, input)


def tanh_backward(grad: Array, input: Array) -> Array:
    """∂L/∂input of ``np.tanh``: ``grad · (1 - tanh² input)``."""
    return _through(_nn().Tanh(), grad, input)


def softmax_backward(grad: Array, input: Array, dim: int) -> Array:
    """∂L/∂input of :func:`~refnet.nn.functional.softmax`: ``y ⊙ (G - Σ_dim G ⊙ y)``."""
    return _through(_nn().Softmax(dim), grad, input)


def log_softmax_backward(grad: Array, input: Array, dim: int) -> Array:
    """∂L/∂input of :func:`~refnet.nn.functional.log_softmax`: ``G - softmax · Σ_dim G``."""
    return _through(_nn().LogSoftmax(dim), grad, input)


# ---------------------------------------------------------------------- linear


def linear(input: Array, weight: Array, bias: Array | None = None) -> Array:
    """``input Wᵀ + b`` over the last axis (``torch.nn.functional.linear``)."""
    y = input @ weight.T
    return y if bias is None else y + bias


def linear_backward(
    grad: Array, input: Array, weight: Array, bias: Array | None = None
) -> tuple[Array, Array, Array | None]:
    """``(∂input, ∂weight, ∂bias)`` of :func:`linear`: ``G W``, ``Gᵀ X``, ``Σ G``
    (the leading axes flattened; ``∂bias`` is ``None`` without a bias)."""
    g = grad.reshape(-1, weight.shape[0])
    x = input.reshape(-1, weight.shape[1])
    grad_bias = None if bias is None else g.sum(axis=0)
    return (grad @ weight), g.T @ x, grad_bias


def one_hot(tensor: IntArray, num_classes: int = -1) -> IntArray:
    """Class indices (*) to one-hot rows (*, C), int64; ``num_classes=-1``: max + 1."""
    indices = np.asarray(tensor)
    if not np.issubdtype(indices.dtype, np.integer):
        raise TypeError(f"one_hot: expected integer class indices, got dtype {indices.dtype}")
    if not indices.size:
        if num_classes <= 0:
            raise ValueError(
                f"one_hot: cannot infer the number of classes from an empty input "
                f"(num_classes={num_classes}); pass a positive num_classes"
            )
        return np.zeros((*indices.shape, num_classes), dtype=np.int64)
    classes = int(indices.max()) + 1 if num_classes == -1 else num_classes
    if indices.min() < 0 or indices.max() >= classes:
        raise ValueError(f"one_hot: class values must be in [0, {classes}), got {indices.max()}")
    return (indices[..., None] == np.arange(classes)).astype(np.int64)


# ---------------------------------------------------------------------- losses


def _loss(name: str, **options: Any) -> Module:
    return getattr(_nn(), name)(**options)


def mse_loss(input: Array, target: Array, reduction: str = "mean") -> Any:
    """Mean (or sum, or each) of ``(input - target)²``."""
    return _loss("MSELoss", reduction=reduction)(input, target)


def mse_loss_backward(grad: Any, input: Array, target: Array, reduction: str = "mean") -> Array:
    """∂L/∂input of :func:`mse_loss`."""
    return _through(_loss("MSELoss", reduction=reduction), grad, input, target)


def l1_loss(input: Array, target: Array, reduction: str = "mean") -> Any:
    """Mean (or sum, or each) of ``|input - target|``."""
    return _loss("L1Loss", reduction=reduction)(input, target)


def l1_loss_backward(grad: Any, input: Array, target: Array, reduction: str = "mean") -> Array:
    """∂L/∂input of :func:`l1_loss`."""
    return _through(_loss("L1Loss", reduction=reduction), grad, input, target)


def smooth_l1_loss(input: Array, target: Array, reduction: str = "mean", beta: float = 1.0) -> Any:
    """Huber-like loss: quadratic below ``beta``, linear above (``SmoothL1Loss``)."""
    return _loss("SmoothL1Loss", reduction=reduction, beta=beta)(input, target)


def smooth_l1_loss_backward(
    grad: Any, input: Array, target: Array, reduction: str = "mean", beta: float = 1.0
) -> Array:
    """∂L/∂input of :func:`smooth_l1_loss`."""
    loss = _loss("SmoothL1Loss", reduction=reduction, beta=beta)
    return _through(loss, grad, input, target)


def cross_entropy(
    input: Array,
    target: Array,
    weight: npt.ArrayLike | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Any:
    """Softmax cross-entropy of logits (N, C, ...) against class indices or probabilities."""
    options = {"weight": weight, "ignore_index": ignore_index, "reduction": reduction}
    return _loss("CrossEntropyLoss", **options, label_smoothing=label_smoothing)(input, target)


def cross_entropy_backward(
    grad: Any,
    input: Array,
    target: Array,
    weight: npt.ArrayLike | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Array:
    """∂L/∂input of :func:`cross_entropy`: ``softmax(input) - target`` per row, scaled."""
    options = {"weight": weight, "ignore_index": ignore_index, "reduction": reduction}
    loss = _loss("CrossEntropyLoss", **options, label_smoothing=label_smoothing)
    return _through(loss, grad, input, target)


def nll_loss(
    input: Array,
    target: Array,
    weight: npt.ArrayLike | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Any:
    """Negative log-likelihood of log-probabilities (N, C, ...) at class indices."""
    options = {"weight": weight, "ignore_index": ignore_index, "reduction": reduction}
    return _loss("NLLLoss", **options)(input, target)


def nll_loss_backward(
    grad: Any,
    input: Array,
    target: Array,
    weight: npt.ArrayLike | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Array:
    """∂L/∂input of :func:`nll_loss`: ``-1`` (times weight and scale) at each target."""
    options = {"weight": weight, "ignore_index": ignore_index, "reduction": reduction}
    return _through(_loss("NLLLoss", **options), grad, input, target)


def binary_cross_entropy(
    input: Array, target: Array, weight: npt.ArrayLike | None = None, reduction: str = "mean"
) -> Any:
    """BCE of probabilities ``input`` against ``target`` in [0, 1]."""
    return _loss("BCELoss", weight=weight, reduction=reduction)(input, target)


def binary_cross_entropy_backward(
    grad: Any,
    input: Array,
    target: Array,
    weight: npt.ArrayLike | None = None,
    reduction: str = "mean",
) -> Array:
    """∂L/∂input of :func:`binary_cross_entropy`."""
    loss = _loss("BCELoss", weight=weight, reduction=reduction)
    return _through(loss, grad, input, target)


def binary_cross_entropy_with_logits(
    input: Array,
    target: Array,
    weight: npt.ArrayLike | None = None,
    reduction: str = "mean",
    pos_weight: npt.ArrayLike | None = None,
) -> Any:
    """BCE of ``σ(input)``, computed from the logits without overflow."""
    options = {"weight": weight, "reduction": reduction, "pos_weight": pos_weight}
    return _loss("BCEWithLogitsLoss", **options)(input, target)


def binary_cross_entropy_with_logits_backward(
    grad: Any,
    input: Array,
    target: Array,
    weight: npt.ArrayLike | None = None,
    reduction: str = "mean",
    pos_weight: npt.ArrayLike | None = None,
) -> Array:
    """∂L/∂input of :func:`binary_cross_entropy_with_logits`."""
    options = {"weight": weight, "reduction": reduction, "pos_weight": pos_weight}
    return _through(_loss("BCEWithLogitsLoss", **options), grad, input, target)
