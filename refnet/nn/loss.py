"""Loss functions, each with its derivative (PyTorch: the ``torch.nn`` losses).

A loss turns the network's output ``x`` and a target ``t`` into one number, and its
``backward`` starts the chain rule: it returns ``∂L/∂x``, which ``model.backward`` then
carries back through the layers.

Most losses are a sum of per-element (or per-sample) terms ``ℓ_i``, reduced as PyTorch
does::

    reduction='mean'  L = Σ ℓ_i / n      ∂L/∂ℓ_i = 1/n      (n: elements, or the total weight)
    reduction='sum'   L = Σ ℓ_i          ∂L/∂ℓ_i = 1
    reduction='none'  the array ℓ        ∂L/∂ℓ = G, the upstream gradient you pass in

so every ``backward`` is "local derivative ∂ℓ_i/∂x times ∂L/∂ℓ_i". ``criterion(x, t)``
returns a Python ``float`` for ``'mean'``/``'sum'`` and an array for ``'none'``;
``criterion.backward()`` (optionally ``backward(scale)``) or, for ``'none'``,
``criterion.backward(G)`` returns ``∂L/∂x`` in ``x``'s dtype. Losses of several inputs
(triplet, cosine, ranking) return one gradient per input, as a tuple. Targets are not
differentiated.

Where refnet deliberately differs from PyTorch:

* Input and target must have the same shape where PyTorch would broadcast them with a
  warning (MSE, L1, Smooth-L1, Huber, KL): a silent broadcast is almost always a bug.
* The deprecated ``size_average``/``reduce`` arguments do not exist; the arguments that
  follow them in PyTorch are keyword-only here, so a positional call never means
  something else than it does in PyTorch.
* Targets that must be ±1 (CosineEmbeddingLoss, HingeEmbeddingLoss) are checked.
  PyTorch silently gives other values a meaning of its own (0 loss, or the sum of
  both branches), which hides the common mistake of passing {0, 1} labels.
* ``KLDivLoss(reduction='mean')`` does not warn on every call (PyTorch does); its
  docstring says why ``'batchmean'`` is the KL divergence.
* Class weights, targets and the upstream gradient are cast to the input's dtype, so a
  float32 path stays float32 (PyTorch raises on mixed dtypes instead).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, TypeAlias

import numpy as np
import numpy.typing as npt

from refnet._typing import Array, IntArray
from refnet.nn import functional as F
from refnet.nn._validation import float_input, same_shape_gradient, shape_error
from refnet.nn.functional.loss import p_norm, p_norm_backward, xlogy
from refnet.nn.module import Module

__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
    "CosineEmbeddingLoss",
    "CrossEntropyLoss",
    "HingeEmbeddingLoss",
    "HuberLoss",
    "KLDivLoss",
    "L1Loss",
    "MSELoss",
    "MarginRankingLoss",
    "MultiMarginLoss",
    "NLLLoss",
    "PoissonNLLLoss",
    "SmoothL1Loss",
    "TripletMarginLoss",
]

Scale: TypeAlias = float | Array  # ∂L/∂ℓ: a scalar for 'mean'/'sum', the array G for 'none'

# PyTorch's denominators: BCE's backward divides by max(x(1 - x), 1e-12), and the cosine
# similarity adds 1e-12 to each squared norm.
_BCE_EPSILON = 1e-12
_COSINE_EPSILON = 1e-12
_LOG_CLAMP = -100.0


# ---------------------------------------------------------------------- argument checks


def _as_target(loss: Module, target: object, name: str = "target") -> Array:
    """``target`` as an array: NumPy arrays, NumPy scalars and Python numbers pass."""
    if isinstance(target, np.ndarray):
        return target
    if isinstance(target, (np.generic, int, float)) and not isinstance(target, (bool, np.bool_)):
        return np.asarray(target)
    raise TypeError(
        f"{loss.describe()}: expected {name} to be a NumPy array, got {type(target).__name__}"
    )


def _is_real(a: Array) -> bool:
    return bool(np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer))


def _real_target(loss: Module, x: Array, target: object, name: str = "target") -> Array:
    """A real-valued target of ``x``'s shape, in ``x``'s dtype."""
    t = _as_target(loss, target, name)
    if not _is_real(t):
        raise TypeError(f"{loss.describe()}: expected a real-valued {name}, got dtype {t.dtype}")
    if t.shape != x.shape:
        raise ValueError(
            f"{loss.describe()}: {name} of shape {t.shape} does not match the input's shape "
            f"{x.shape} (refnet does not broadcast a loss's arguments)"
        )
    return t.astype(x.dtype, copy=False)


def _sign_target(loss: Module, t: Array, x_dtype: np.dtype[np.generic]) -> Array:
    """A target of values ±1 (checked), in the inputs' dtype."""
    if not _is_real(t):
        raise TypeError(f"{loss.describe()}: expected a target of 1 and -1, got dtype {t.dtype}")
    bad = (t != 1) & (t != -1)
    if bad.any():
        raise ValueError(
            f"{loss.describe()}: target values must be 1 or -1, got {t[bad].flat[0].item()} "
            "(for {0, 1} labels use 2 * labels - 1)"
        )
    return t.astype(x_dtype, copy=False)


def _same_dtype(loss: Module, arrays: Sequence[Array], names: Sequence[str]) -> None:
    for a, name in zip(arrays[1:], names[1:], strict=True):
        if a.dtype != arrays[0].dtype:
            raise TypeError(
                f"{loss.describe()}: {name} has dtype {a.dtype} but {names[0]} has "
                f"{arrays[0].dtype}; convert one of them"
            )


def _same_shape(loss: Module, arrays: Sequence[Array], names: Sequence[str]) -> None:
    shapes = [a.shape for a in arrays]
    if any(s != shapes[0] for s in shapes):
        listed = ", ".join(f"{n} {s}" for n, s in zip(names, shapes, strict=True))
        raise ValueError(f"{loss.describe()}: expected arguments of one shape, got {listed}")


def _optional_weight(weight: npt.ArrayLike | None) -> Array | None:
    """A weight array (floats kept as they are, anything else as float32), or ``None``."""
    if weight is None:
        return None
    w = weight if isinstance(weight, np.ndarray) else np.asarray(weight, dtype=np.float32)
    return w if np.issubdtype(w.dtype, np.floating) else w.astype(np.float32)


def _broadcast_weight(loss: Module, w: Array, x: Array, name: str) -> Array:
    """``w`` in ``x``'s dtype, checked to broadcast against ``x`` without growing it."""
    try:
        grows = np.broadcast_shapes(w.shape, x.shape) != x.shape
    except ValueError:
        grows = True
    if grows:
        raise ValueError(
            f"{loss.describe()}: {name} of shape {w.shape} does not broadcast to the input's "
            f"shape {x.shape}"
        )
    return w.astype(x.dtype, copy=False)


def _scalar_scale(loss: Module, grad_output: object) -> float:
    """The optional scale of a scalar loss's gradient (1 when omitted)."""
    if grad_output is None:
        return 1.0
    if isinstance(grad_output, (int, float, np.generic)) and not isinstance(grad_output, bool):
        return float(grad_output)
    if isinstance(grad_output, np.ndarray) and grad_output.size == 1:
        return float(grad_output.reshape(()))
    shape = getattr(grad_output, "shape", type(grad_output).__name__)
    raise ValueError(
        f"{loss.describe()}: backward() of a scalar loss takes an optional scalar scale, "
        f"got {shape}"
    )


# ---------------------------------------------------------------------- base classes


class _Loss(Module):
    """Base of every loss: holds ``reduction`` and turns per-element terms into ``L``.

    ``_reduce(ℓ)`` applies the reduction in ``forward`` and remembers what ``_scale``
    needs in ``backward`` to return ``∂L/∂ℓ``: ``g/n`` for ``'mean'``, ``g`` for
    ``'sum'`` (``g`` the optional scale, default 1), and the upstream array for ``'none'``.
    """

    _reductions: ClassVar[tuple[str, ...]] = ("mean", "sum", "none")

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = reduction
        self._check_reduction()
        self._loss_shape: tuple[int, ...] | None = None
        self._reduced_as = reduction
        self._divisor = 1.0

    def _check_reduction(self) -> str:
        if self.reduction not in self._reductions:
            allowed = ", ".join(repr(r) for r in self._reductions)
            raise ValueError(
                f"{type(self).__name__}: reduction must be one of {allowed}, got {self.reduction!r}"
            )
        return self.reduction

    def _reduce(self, losses: Array, divisor: float | None = None) -> float | Array:
        """Reduce the per-element losses; ``divisor`` replaces the count for ``'mean'``.

        A mean over nothing (no elements, every target ignored, or zero total weight) is
        0/0 = NaN, as in PyTorch; it is computed without a NumPy warning.
        """
        reduction = self._check_reduction()
        self._loss_shape, self._reduced_as = losses.shape, reduction
        if reduction == "none":
            return np.asarray(losses)  # arithmetic on 0-d arrays gives NumPy scalars
        # np.float64: a Python float (arithmetic, formatting, json) that also has
        # ``.item()``, so a PyTorch training loop's ``loss.item()`` works unchanged.
        total = np.float64(np.sum(losses))
        if reduction == "sum":
            self._divisor = 1.0
            return total
        if reduction == "batchmean":
            divisor = losses.shape[0] if losses.ndim else 1
        self._divisor = float(losses.size if divisor is None else divisor)
        return total / self._divisor if self._divisor else np.float64(math.nan)

    def _scale(self, grad_output: object, dtype: np.dtype[np.generic]) -> Scale:
        """``∂L/∂ℓ`` for the latest forward (see the class docstring).

        With a zero divisor (the NaN mean above) the gradient is 0, not NaN: no element
        contributed to the loss, and for an all-ignored batch PyTorch's is 0 too.
        """
        shape = self._saved(self._loss_shape)
        if self._reduced_as == "none":
            if grad_output is None:
                raise TypeError(
                    f"{self.describe()}: backward() needs the upstream gradient "
                    f"(an array of shape {shape}) when reduction='none'"
                )
            G = same_shape_gradient(self, grad_output, shape)
            return G.astype(dtype, copy=False)
        g = _scalar_scale(self, grad_output)
        return g / self._divisor if self._divisor else 0.0


class _WeightedLoss(_Loss):
    """A loss with an optional ``weight`` buffer (saved in ``state_dict``, as in PyTorch)."""

    weight: Array | None

    def __init__(self, weight: npt.ArrayLike | None = None, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.register_buffer("weight", _optional_weight(weight))


class _PointwiseLoss(_Loss):
    """``L = reduce(ℓ(x, t))`` with ``ℓ`` applied elementwise to an input and a target of
    one shape, so ``∂L/∂x = ℓ'(x, t) · ∂L/∂ℓ``. Subclasses write ``ℓ`` in ``_loss`` and
    ``ℓ'`` in ``_derivative``. Caches ``x`` and ``t`` (references, not copies).
    """

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self._x: Array | None = None
        self._t: Array | None = None

    def forward(self, input: Array, target: Array) -> float | Array:
        x = float_input(self, input)
        t = _real_target(self, x, target)
        self._check(x, t)
        self._x, self._t = x, t
        return self._reduce(self._loss(x, t))

    def backward(self, grad_output: Array | float | None = None) -> Array:
        x = self._saved(self._x)
        t = self._saved(self._t)
        return np.asarray(self._derivative(x, t) * self._scale(grad_output, x.dtype))

    def _check(self, x: Array, t: Array) -> None:
        """Validate the input beyond its type and shape (default: nothing)."""

    def _loss(self, x: Array, t: Array) -> Array:
        raise NotImplementedError

    def _derivative(self, x: Array, t: Array) -> Array:
        raise NotImplementedError


# ---------------------------------------------------------------------- regression


class MSELoss(_PointwiseLoss):
    """Mean squared error ``ℓ = (x - t)²``; ``∂ℓ/∂x = 2(x - t)`` (PyTorch: ``nn.MSELoss``).

    Input and target: any shape, the same for both; ``'none'`` gives that shape.
    """

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction)

    def _loss(self, x: Array, t: Array) -> Array:
        d = x - t
        return d * d

    def _derivative(self, x: Array, t: Array) -> Array:
        return 2 * (x - t)


class L1Loss(_PointwiseLoss):
    """Mean absolute error ``ℓ = |x - t|``; ``∂ℓ/∂x = sign(x - t)``, 0 at ``x = t`` as in
    PyTorch (PyTorch: ``nn.L1Loss``). Any shape, the same for input and target.
    """

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction)

    def _loss(self, x: Array, t: Array) -> Array:
        return np.abs(x - t)

    def _derivative(self, x: Array, t: Array) -> Array:
        return np.sign(x - t)


class SmoothL1Loss(_PointwiseLoss):
    """Quadratic near 0, linear beyond ``beta`` (PyTorch: ``nn.SmoothL1Loss``).

    With ``d = x - t``::

        ℓ = ½ d² / β      if |d| < β        ∂ℓ/∂x = d / β
        ℓ = |d| - ½ β     otherwise         ∂ℓ/∂x = sign(d)

    i.e. ``∂ℓ/∂x = clip(d/β, -1, 1)``, continuous at ``|d| = β``. ``beta = 0`` is exactly
    ``L1Loss`` (PyTorch switches to the L1 kernel there; so does refnet).
    It equals ``HuberLoss(delta=β) / β``.
    """

    def __init__(self, *, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(reduction)
        if not beta >= 0:
            raise ValueError(f"SmoothL1Loss: beta must be non-negative, got {beta}")
        self.beta = beta

    def _loss(self, x: Array, t: Array) -> Array:
        z = np.abs(x - t)
        if self.beta == 0:
            return z
        return np.where(z < self.beta, 0.5 * z * z / self.beta, z - 0.5 * self.beta)

    def _derivative(self, x: Array, t: Array) -> Array:
        d = x - t
        if self.beta == 0:
            return np.sign(d)
        return np.clip(d / self.beta, -1, 1)


class HuberLoss(_PointwiseLoss):
    """Quadratic near 0, linear with slope ``delta`` beyond it (PyTorch: ``nn.HuberLoss``).

    With ``d = x - t``::

        ℓ = ½ d²               if |d| < δ        ∂ℓ/∂x = d
        ℓ = δ (|d| - ½ δ)      otherwise         ∂ℓ/∂x = δ sign(d)

    i.e. ``∂ℓ/∂x = clip(d, -δ, δ)``. PyTorch's argument order: ``HuberLoss(reduction, delta)``.
    """

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction)
        if not delta > 0:
            raise ValueError(f"HuberLoss: delta must be positive, got {delta}")
        self.delta = delta

    def _loss(self, x: Array, t: Array) -> Array:
        z = np.abs(x - t)
        return np.where(z < self.delta, 0.5 * z * z, self.delta * (z - 0.5 * self.delta))

    def _derivative(self, x: Array, t: Array) -> Array:
        return np.clip(x - t, -self.delta, self.delta)


# ---------------------------------------------------------------------- class indices


@dataclass
class _ClassTargets:
    """Class-index targets for an input viewed as ``(N, C, S)`` (S: the flattened d1, ...).

    ``pick(a)`` gathers ``a[n, y[n, s], s]`` with two small index arrays (no one-hot).
    ``weight`` is the per-position weight ``w[y] · [y ≠ ignore_index]`` and ``valid`` the
    0/1 mask, both in the input's dtype; each is ``None`` when it would be all ones.
    """

    y: IntArray
    rows: IntArray
    cols: IntArray
    weight: Array | None
    valid: Array | None
    shape: tuple[int, ...]

    def pick(self, a: Array) -> Array:
        return a[self.rows, self.y, self.cols]


def _class_layout(loss: Module, x: Array) -> tuple[int, int, int]:
    """``(N, C, S)`` for an input ``(C,)``, ``(N, C)`` or ``(N, C, d1, ...)``."""
    if x.ndim == 0:
        raise shape_error(loss, "(C,), (N, C) or (N, C, d1, ...)", x)
    if x.ndim == 1:
        return 1, x.shape[0], 1
    return x.shape[0], x.shape[1], math.prod(x.shape[2:])


def _class_target_shape(x: Array) -> tuple[int, ...]:
    return () if x.ndim == 1 else (x.shape[0],) + x.shape[2:]


def _class_weight(loss: Module, weight: Array | None, C: int, x: Array) -> Array | None:
    if weight is None:
        return None
    if weight.shape != (C,):
        raise ValueError(
            f"{loss.describe()}: weight must have one entry per class, shape ({C},) for "
            f"input of shape {x.shape}; got {weight.shape}"
        )
    return weight.astype(x.dtype, copy=False)


def _class_targets(
    loss: Module, x: Array, t: Array, weight: Array | None, ignore_index: int | None
) -> _ClassTargets:
    """Validate integer class indices ``t`` against ``x`` and lay them out as ``(N, S)``.

    The common case (every target a valid class, nothing to ignore) costs two reductions;
    only otherwise is the ignore mask built.
    """
    N, C, S = _class_layout(loss, x)
    expected = _class_target_shape(x)
    if not np.issubdtype(t.dtype, np.integer):
        raise TypeError(
            f"{loss.describe()}: class-index targets must be integers, got dtype {t.dtype} "
            f"(shape {t.shape}) for input of shape {x.shape}"
        )
    if t.shape != expected:
        raise ValueError(
            f"{loss.describe()}: expected target of shape {expected} (one class index per "
            f"position of the input {x.shape}), got {t.shape}"
        )
    y = t.reshape(N, S)
    valid: Array | None = None
    low, high = (int(y.min()), int(y.max())) if y.size else (0, 0)
    may_ignore = ignore_index is not None and 0 <= ignore_index < C
    if not (low >= 0 and high < C) or may_ignore:
        ignored = y == ignore_index if ignore_index is not None else np.zeros(y.shape, bool)
        bad = ~ignored & ((y < 0) | (y >= C))
        if bad.any():
            skip = "" if ignore_index is None else f" (or ignore_index={ignore_index})"
            raise ValueError(
                f"{loss.describe()}: target class {int(y[bad][0])} is out of range: input of "
                f"shape {x.shape} has C={C} classes, so targets must be in [0, {C - 1}]{skip}"
            )
        if ignored.any():
            valid = (~ignored).astype(x.dtype)
            y = np.where(ignored, 0, y)
    w = _class_weight(loss, weight, C, x)
    per_position = w[y] if w is not None else None
    if valid is not None:
        per_position = valid if per_position is None else per_position * valid
    return _ClassTargets(
        y,
        np.arange(N)[:, None],
        np.arange(S)[None, :],
        per_position,
        valid,
        expected,
    )


def _per_position(scale: Scale, N: int, S: int) -> Scale:
    """A per-position factor ``(N, S)`` (or a scalar) shaped to multiply ``(N, C, S)``."""
    return scale.reshape(N, 1, S) if isinstance(scale, np.ndarray) else scale


class CrossEntropyLoss(_WeightedLoss):
    """Softmax and negative log-likelihood in one stable step (PyTorch: ``nn.CrossEntropyLoss``).

    Shapes: input ``(N, C)``, ``(N, C, d1, ...)`` or ``(C,)``; target either class
    indices ``(N,)``, ``(N, d1, ...)`` or ``()`` (integers), or class probabilities of
    the input's shape (floats). ``'none'`` gives one loss per position: ``(N, d1, ...)``.

    With ``log p = log_softmax(x)`` along the class axis, computed as ``x - logsumexp(x)``
    so logits of any size stay finite, for class indices ``y`` and label smoothing ε::

        ℓ_n = (1 - ε) w_{y_n} (-log p_{n,y_n}) + (ε/C) Σ_c w_c (-log p_{n,c})

    and ``ℓ_n = 0`` where ``y_n = ignore_index``. ``'mean'`` divides by the total weight
    of the counted positions ``Σ_n w_{y_n}`` (their number without ``weight``), for both
    terms, exactly as PyTorch. An all-ignored batch gives NaN (0/0) and a zero gradient,
    as in PyTorch. (If the counted targets all have weight 0 the loss is NaN too, and the
    gradient 0, where PyTorch's is NaN.)

    Gradient, from ``∂(-log p_c)/∂x_k = p_k - δ_ck``::

        ∂ℓ_n/∂x_k = a_n p_k - (1 - ε) w_{y_n} δ_{k,y_n} - (ε/C) w_k,
        a_n = (1 - ε) w_{y_n} + (ε/C) Σ_c w_c

    which without weights and smoothing is the familiar ``softmax(x) - onehot(y)``. It is
    built from ``p = exp(log p)`` by subtracting at the target positions through index
    arrays; no one-hot matrix is formed.

    With probability targets ``q`` (smoothed to ``(1 - ε) q + ε/C``)::

        ℓ_n = -Σ_c w_c q_{n,c} log p_{n,c},    ∂ℓ_n/∂x_k = p_k Σ_c w_c q_{n,c} - w_k q_{n,k}

    and ``'mean'`` divides by the number of positions ``N·d1·...`` (not by weights);
    ``ignore_index`` cannot be used with them (PyTorch's rule).

    The log-softmax is evaluated only where it is needed: ``log p = (x - m) - log Z``
    with ``m`` the maximum and ``Z = Σ e^{x - m}`` (:func:`refnet.nn.functional.softmax_parts`),
    read at the targets (or summed over classes for smoothing and probability targets).
    Caches ``p = softmax(x)`` (the only array of the input's size) and the target layout.
    """

    def __init__(
        self,
        weight: npt.ArrayLike | None = None,
        *,
        ignore_index: int = -100,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(weight, reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(
                f"CrossEntropyLoss: label_smoothing must be in [0, 1], got {label_smoothing}"
            )
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing
        self._p: Array | None = None
        self._targets: _ClassTargets | None = None
        self._soft: Array | None = None  # w_c q_{n,c} for probability targets
        self._weight: Array | None = None
        self._shape: tuple[int, ...] = ()

    def _ignored_class(self) -> int:
        """The class index whose targets count for nothing (``ignore_index``)."""
        return self.ignore_index

    def forward(self, input: Array, target: Array) -> float | Array:
        x = float_input(self, input)
        _class_layout(self, x)
        t = _as_target(self, target)
        if t.shape == x.shape:
            return self._forward_probabilities(x, t)
        if np.issubdtype(t.dtype, np.floating):
            raise TypeError(
                f"{self.describe()}: got a float target of shape {t.shape} for input of "
                f"shape {x.shape}: class indices must be integers of shape "
                f"{_class_target_shape(x)}, class probabilities must have the input's shape"
            )
        return self._forward_indices(x, t)

    def _forward_indices(self, x: Array, t: Array) -> float | Array:
        N, C, S = _class_layout(self, x)
        targets = _class_targets(self, x, t, self.weight, self._ignored_class())
        w = _class_weight(self, self.weight, C, x)
        self._targets, self._soft, self._weight = targets, None, w
        x3 = x.reshape(N, C, S)
        p, m, log_z = F.softmax_parts(x3, axis=1)
        self._p, self._shape = p, x.shape
        # -log p_y = log Z - (x_y - m): subtracting the maximum first keeps every digit of
        # a large logit (1e4 in float32 has a spacing of 1e-3).
        losses = log_z[:, 0, :] - (targets.pick(x3) - m[:, 0, :])
        if targets.weight is not None:
            losses = losses * targets.weight
        eps = self.label_smoothing
        if eps:
            log_p = (x3 - m) - log_z
            smooth = -(log_p.sum(axis=1) if w is None else (log_p * w[:, None]).sum(axis=1))
            if targets.valid is not None:
                smooth = smooth * targets.valid
            losses = (1 - eps) * losses + (eps / C) * smooth
        counted = N * S if targets.weight is None else float(targets.weight.sum())
        return self._reduce(losses.reshape(targets.shape), counted)

    def _forward_probabilities(self, x: Array, t: Array) -> float | Array:
        N, C, S = _class_layout(self, x)
        if not np.issubdtype(t.dtype, np.floating):
            raise TypeError(
                f"{self.describe()}: a target of the input's shape {x.shape} holds class "
                f"probabilities and must be floating point, got dtype {t.dtype}"
            )
        if self._ignored_class() >= 0:
            raise ValueError(
                f"{self.describe()}: ignore_index={self.ignore_index} cannot be used with "
                "probability targets (PyTorch's rule)"
            )
        q = t.astype(x.dtype, copy=False).reshape(N, C, S)
        eps = self.label_smoothing
        if eps:
            q = q * (1 - eps) + eps / C
        w = _class_weight(self, self.weight, C, x)
        soft = q if w is None else q * w[:, None]
        self._targets, self._soft, self._weight = None, soft, w
        x3 = x.reshape(N, C, S)
        p, m, log_z = F.softmax_parts(x3, axis=1)
        self._p, self._shape = p, x.shape
        losses = -(((x3 - m) - log_z) * soft).sum(axis=1)
        return self._reduce(losses.reshape(_class_target_shape(x)))

    def backward(self, grad_output: Array | float | None = None) -> Array:
        p = self._saved(self._p)
        N, C, S = p.shape
        u = _per_position(self._scale(grad_output, p.dtype), N, S)
        if self._soft is not None:
            soft = self._soft
            grad = p * soft.sum(axis=1, keepdims=True)
            grad -= soft
            grad *= u
            return grad.reshape(self._shape)
        targets = self._saved(self._targets)
        eps, w = self.label_smoothing, self._weight
        wy = 1.0 if targets.weight is None else targets.weight[:, None, :]
        at_target = u * (1 - eps) * wy
        if eps:
            valid = 1.0 if targets.valid is None else targets.valid[:, None, :]
            total = C if w is None else float(w.sum())
            grad = p * (u * ((1 - eps) * wy + (eps / C) * total * valid))
            grad -= u * (eps / C) * valid * (1.0 if w is None else w[:, None])
        else:
            grad = p * at_target
        if isinstance(at_target, np.ndarray):
            at_target = at_target[:, 0, :]  # (N, 1, S) -> one value per target position
        grad[targets.rows, targets.y, targets.cols] -= at_target
        return grad.reshape(self._shape)


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities (PyTorch: ``nn.NLLLoss``).

    Input ``(N, C)``, ``(N, C, d1, ...)`` or ``(C,)`` holding log-probabilities (e.g. the
    output of ``LogSoftmax(dim=1)``); target class indices ``(N,)``, ``(N, d1, ...)`` or
    ``()``::

        ℓ_n = -w_{y_n} x_{n, y_n},    0 where y_n = ignore_index,

    and ``'mean'`` divides by ``Σ_n w_{y_n}`` over the counted positions (NaN if none).
    The loss is linear in ``x``: ``∂ℓ_n/∂x_{n,k} = -w_{y_n}`` at ``k = y_n`` and 0
    elsewhere, written into a zero array through index arrays.
    ``NLLLoss()(LogSoftmax(dim=1)(x), y)`` equals ``CrossEntropyLoss()(x, y)``.

    Caches the target layout and the input's shape and dtype.
    """

    def __init__(
        self,
        weight: npt.ArrayLike | None = None,
        *,
        ignore_index: int = -100,
        reduction: str = "mean",
    ) -> None:
        super().__init__(weight, reduction)
        self.ignore_index = ignore_index
        self._targets: _ClassTargets | None = None
        self._input_dtype: np.dtype[np.generic] | None = None
        self._layout: tuple[int, int, int] = (0, 0, 0)
        self._shape: tuple[int, ...] = ()

    def forward(self, input: Array, target: Array) -> float | Array:
        x = float_input(self, input)
        N, C, S = _class_layout(self, x)
        t = _as_target(self, target)
        targets = _class_targets(self, x, t, self.weight, self.ignore_index)
        self._targets, self._input_dtype = targets, x.dtype
        self._layout, self._shape = (N, C, S), x.shape
        losses = -targets.pick(x.reshape(N, C, S))
        if targets.weight is not None:
            losses = losses * targets.weight
        counted = N * S if targets.weight is None else float(targets.weight.sum())
        return self._reduce(losses.reshape(targets.shape), counted)

    def backward(self, grad_output: Array | float | None = None) -> Array:
        targets = self._saved(self._targets)
        dtype = self._saved(self._input_dtype)
        N, C, S = self._layout
        u = self._scale(grad_output, dtype)
        if isinstance(u, np.ndarray):
            u = u.reshape(N, S)
        value = -u if targets.weight is None else -u * targets.weight
        grad = np.zeros((N, C, S), dtype=dtype)
        grad[targets.rows, targets.y, targets.cols] = value
        return grad.reshape(self._shape)


class MultiMarginLoss(_WeightedLoss):
    """Multi-class hinge loss (PyTorch: ``nn.MultiMarginLoss``).

    Input ``(N, C)`` or ``(C,)`` scores, target class indices ``(N,)`` or ``()``. With
    ``z_{n,j} = margin - x_{n,y_n} + x_{n,j}`` for the other classes ``j ≠ y_n``::

        ℓ_n = (1/C) Σ_{j ≠ y_n} w_{y_n} max(0, z_{n,j})^p,   p ∈ {1, 2}

    The weight multiplies the hinge term after the power, as PyTorch's kernel does (its
    documentation writes ``max(0, w (…))^p``, which differs for p = 2). ``'mean'``
    divides by N, not by the weights.

    Gradient: with ``h_j = w_{y_n} · (1 or 2 z_j)`` where ``z_j > 0`` (p = 1 or 2), else 0,
    ``∂ℓ_n/∂x_j = h_j / C`` for ``j ≠ y_n`` and ``∂ℓ_n/∂x_{y_n} = -Σ_j h_j / C``.
    A term exactly at its hinge ``z = 0`` is inactive, as in PyTorch.

    Caches the active hinge derivatives ``h`` and the targets.
    """

    def __init__(
        self,
        p: int = 1,
        margin: float = 1.0,
        weight: npt.ArrayLike | None = None,
        *,
        reduction: str = "mean",
    ) -> None:
        super().__init__(weight, reduction)
        if p not in (1, 2):
            raise ValueError(f"MultiMarginLoss: only p = 1 and p = 2 are supported, got {p}")
        if self.weight is not None and self.weight.ndim != 1:
            raise ValueError(
                f"MultiMarginLoss: weight must be one-dimensional, got shape {self.weight.shape}"
            )
        self.p = p
        self.margin = margin
        self._h: Array | None = None
        self._rows: IntArray | None = None
        self._y: IntArray | None = None
        self._shape: tuple[int, ...] = ()

    def forward(self, input: Array, target: Array) -> float | Array:
        x = float_input(self, input)
        if x.ndim not in (1, 2):
            raise shape_error(self, "(N, C) or (C,)", x)
        N, C, _ = _class_layout(self, x)
        targets = _class_targets(self, x, _as_target(self, target), None, None)
        x2, y, rows = x.reshape(N, C), targets.y[:, 0], targets.rows[:, 0]
        z = self.margin - x2[rows, y][:, None] + x2
        active = z > 0
        active[rows, y] = False
        z = np.where(active, z, 0)
        terms, h = (z, active.astype(x.dtype)) if self.p == 1 else (z * z, 2 * z)
        w = _class_weight(self, self.weight, C, x)
        if w is not None:
            terms, h = terms * w[y][:, None], h * w[y][:, None]
        self._h, self._rows, self._y, self._shape = h, rows, y, x.shape
        return self._reduce((terms.sum(axis=1) / C).reshape(targets.shape))

    def backward(self, grad_output: Array | float | None = None) -> Array:
        h = self._saved(self._h)
        N, C = h.shape
        u = self._scale(grad_output, h.dtype)
        scale = u.reshape(N, 1) / C if isinstance(u, np.ndarray) else u / C
        grad = h * scale
        grad[self._rows, self._y] = -grad.sum(axis=1)
        return grad.reshape(self._shape)


# ---------------------------------------------------------------------- binary


class BCELoss(_PointwiseLoss):
    """Binary cross-entropy of probabilities (PyTorch: ``nn.BCELoss``).

    Input ``x ∈ [0, 1]`` (e.g. after ``Sigmoid``) and target ``t`` of the same shape::

        ℓ = -w (t · max(log x, -100) + (1 - t) · max(log(1 - x), -100))

    The logs are clamped at -100 as in PyTorch, so ``x`` exactly 0 or 1 gives a large
    finite loss, not ``inf``. ``weight`` broadcasts against the input.

    Gradient, PyTorch's formula: ``∂ℓ/∂x = w (x - t) / max(x(1 - x), 1e-12)``, the
    derivative of the unclamped loss with its denominator kept away from 0.

    Prefer ``BCEWithLogitsLoss`` on logits: it is exact where the sigmoid saturates.
    Caches ``x`` and ``t``.
    """

    weight: Array | None

    def __init__(self, weight: npt.ArrayLike | None = None, *, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.register_buffer("weight", _optional_weight(weight))

    def _check(self, x: Array, t: Array) -> None:
        if x.size and not ((x >= 0) & (x <= 1)).all():
            raise ValueError(
                f"{self.describe()}: input must hold probabilities in [0, 1], got values in "
                f"[{np.min(x)}, {np.max(x)}] (for logits use BCEWithLogitsLoss)"
            )
        if self.weight is not None:
            _broadcast_weight(self, self.weight, x, "weight")

    def _weighted(self, a: Array, x: Array) -> Array:
        return a if self.weight is None else a * self.weight.astype(x.dtype, copy=False)

    def _loss(self, x: Array, t: Array) -> Array:
        with np.errstate(divide="ignore"):
            log_x = np.maximum(np.log(x), _LOG_CLAMP)
            log_1mx = np.maximum(np.log1p(-x), _LOG_CLAMP)
        return self._weighted((t - 1) * log_1mx - t * log_x, x)

    def _derivative(self, x: Array, t: Array) -> Array:
        return self._weighted((x - t) / np.maximum((1 - x) * x, _BCE_EPSILON), x)


class BCEWithLogitsLoss(_PointwiseLoss):
    """Sigmoid and binary cross-entropy in one stable step (PyTorch: ``nn.BCEWithLogitsLoss``).

    Input logits ``x`` and targets ``t ∈ [0, 1]`` of one shape. With ``log σ(x) =
    -softplus(-x)`` computed without overflow, and ``log(1 - σ(x)) = log σ(x) - x``::

        ℓ = w [(1 - t) x - (1 + (pw - 1) t) log σ(x)]
          = -w [pw · t log σ(x) + (1 - t) log(1 - σ(x))]

    ``pos_weight`` (``pw``) scales the positive term and broadcasts against the input
    (typically one entry per class, shape ``(C,)``); ``weight`` too.

    Gradient: ``∂ℓ/∂x = w [(1 + (pw - 1) t) σ(x) - pw t]``, which is ``w (σ(x) - t)``
    without ``pos_weight``. Both are finite for logits of any size. Caches ``x`` and ``t``.
    """

    weight: Array | None
    pos_weight: Array | None

    def __init__(
        self,
        weight: npt.ArrayLike | None = None,
        *,
        reduction: str = "mean",
        pos_weight: npt.ArrayLike | None = None,
    ) -> None:
        super().__init__(reduction)
        self.register_buffer("weight", _optional_weight(weight))
        self.register_buffer("pos_weight", _optional_weight(pos_weight))

    def _check(self, x: Array, t: Array) -> None:
        if self.weight is not None:
            _broadcast_weight(self, self.weight, x, "weight")
        if self.pos_weight is not None:
            _broadcast_weight(self, self.pos_weight, x, "pos_weight")

    def _log_weight(self, x: Array, t: Array) -> Array | float:
        if self.pos_weight is None:
            return 1.0
        return 1 + (self.pos_weight.astype(x.dtype, copy=False) - 1) * t

    def _weighted(self, a: Array, x: Array) -> Array:
        return a if self.weight is None else a * self.weight.astype(x.dtype, copy=False)

    def _loss(self, x: Array, t: Array) -> Array:
        return self._weighted((1 - t) * x - self._log_weight(x, t) * F.log_sigmoid(x), x)

    def _derivative(self, x: Array, t: Array) -> Array:
        if self.pos_weight is None:
            return self._weighted(F.sigmoid(x) - t, x)
        pw = self.pos_weight.astype(x.dtype, copy=False)
        return self._weighted(self._log_weight(x, t) * F.sigmoid(x) - pw * t, x)


# ---------------------------------------------------------------------- distributions


class KLDivLoss(_PointwiseLoss):
    """Kullback-Leibler divergence, input in log space (PyTorch: ``nn.KLDivLoss``).

    Input ``x = log q`` (log-probabilities, e.g. from ``LogSoftmax``), target ``p`` of
    the same shape, as probabilities or, with ``log_target=True``, as ``log p``::

        ℓ = p (log p - x)            ∂ℓ/∂x = -p          (0 where p = 0: 0·log 0 = 0)
        ℓ = eᵗ (t - x), t = log p    ∂ℓ/∂x = -eᵗ         (log_target=True)

    Reductions: ``'batchmean'`` divides the sum by the batch size ``x.shape[0]`` and is
    the KL divergence ``Σ p log(p/q)`` per sample; ``'mean'`` (the default, kept for
    PyTorch compatibility) divides by the number of *elements*, which is not a KL
    divergence. PyTorch warns on every ``'mean'`` call; refnet says it here instead.
    Caches ``x`` and the target.
    """

    _reductions: ClassVar[tuple[str, ...]] = ("mean", "batchmean", "sum", "none")

    def __init__(self, *, reduction: str = "mean", log_target: bool = False) -> None:
        super().__init__(reduction)
        self.log_target = log_target

    def _loss(self, x: Array, t: Array) -> Array:
        if self.log_target:
            return np.exp(t) * (t - x)
        return xlogy(t, t) - t * x

    def _derivative(self, x: Array, t: Array) -> Array:
        return -np.exp(t) if self.log_target else -t


_HALF_LOG_2PI_FACTOR = 2 * math.pi


class PoissonNLLLoss(_PointwiseLoss):
    """Negative log-likelihood of a Poisson target (PyTorch: ``nn.PoissonNLLLoss``).

    For a rate λ and a count t, ``-log P(t | λ) = λ - t log λ + log t!``. Dropping the
    constant ``log t!``::

        log_input=True  (x = log λ):  ℓ = eˣ - t x              ∂ℓ/∂x = eˣ - t
        log_input=False (x = λ):      ℓ = x - t log(x + eps)    ∂ℓ/∂x = 1 - t/(x + eps)

    ``full=True`` adds Stirling's approximation of ``log t!``, ``t log t - t + ½ log(2πt)``,
    for ``t > 1`` only (PyTorch's rule); it does not depend on ``x``, so the gradient is
    unchanged. ``eps`` keeps ``log`` finite at a zero rate. Caches ``x`` and ``t``.
    """

    def __init__(
        self,
        log_input: bool = True,
        full: bool = False,
        *,
        eps: float = 1e-8,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction)
        self.log_input = log_input
        self.full = full
        self.eps = eps

    def _loss(self, x: Array, t: Array) -> Array:
        loss = np.exp(x) - t * x if self.log_input else x - t * np.log(x + self.eps)
        if self.full:
            big = t > 1
            s = np.where(big, t, 1)  # log of t ≤ 1 would warn (t = 0) and is masked anyway
            stirling = s * np.log(s) - s + 0.5 * np.log(_HALF_LOG_2PI_FACTOR * s)
            loss = loss + np.where(big, stirling, 0)
        return loss

    def _derivative(self, x: Array, t: Array) -> Array:
        return np.exp(x) - t if self.log_input else 1 - t / (x + self.eps)


# ---------------------------------------------------------------------- similarity, ranking


def _hinge_active(h: Array) -> Array:
    """Where ``max(h, 0)`` passes the gradient: ``h ≥ 0``, PyTorch's ``clamp_min`` rule."""
    return h >= 0


class TripletMarginLoss(_Loss):
    """Pull an anchor towards a positive and away from a negative.

    PyTorch: ``nn.TripletMarginLoss``.

    Inputs ``a``, ``p``, ``n`` of one shape ``(N, D)`` or ``(D,)`` (any ``(*, D)``), with
    PyTorch's distance ``d(u, v) = ‖u - v + eps‖_P`` (eps added to each component)::

        ℓ = max(0, margin + d(a, p) - d(a, n))

    With ``swap=True`` the negative distance is ``min(d(a, n), d(p, n))`` (the "distance
    swap" of Balntas et al.). Gradient where the hinge is active (``≥ 0``, as PyTorch):
    with ``g(v) = ∂‖v‖/∂v`` (see :func:`refnet.nn.functional.loss.p_norm_backward`),
    ``∂ℓ/∂a = g(a-p) - g(a-n)``, ``∂ℓ/∂p = -g(a-p)``, ``∂ℓ/∂n = g(a-n)``; with the swap
    the chosen distance's gradient goes to its two arguments (shared equally on a tie).
    ``backward`` returns ``(∂L/∂a, ∂L/∂p, ∂L/∂n)``.

    Caches the three differences, their norms and the hinge mask.
    """

    def __init__(
        self,
        margin: float = 1.0,
        p: float = 2.0,
        eps: float = 1e-6,
        swap: bool = False,
        *,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction)
        if not margin > 0:
            raise ValueError(f"TripletMarginLoss: margin must be positive, got {margin}")
        if not p > 0:
            raise ValueError(f"TripletMarginLoss: p must be positive, got {p}")
        self.margin = margin
        self.p = p
        self.eps = eps
        self.swap = swap
        self._cache: tuple[Array, ...] | None = None

    def forward(self, anchor: Array, positive: Array, negative: Array) -> float | Array:
        names = ("anchor", "positive", "negative")
        given = (anchor, positive, negative)
        arrays = [float_input(self, a, n) for a, n in zip(given, names, strict=True)]
        _same_dtype(self, arrays, names)
        _same_shape(self, arrays, names)
        a, pos, neg = arrays
        if a.ndim == 0:
            raise shape_error(self, "(N, D) or (D,)", a, "anchor")
        v_ap, v_an = a - pos + self.eps, a - neg + self.eps
        d_ap, d_an = p_norm(v_ap, self.p), p_norm(v_an, self.p)
        v_pn = pos - neg + self.eps if self.swap else v_an
        d_pn = p_norm(v_pn, self.p) if self.swap else d_an
        # The share of d(a, n) in the negative distance min(d(a, n), d(p, n)); ties split
        # the gradient equally, as PyTorch's minimum does.
        share_an = np.ones_like(d_an)
        if self.swap:
            share_an = np.where(d_an < d_pn, 1, np.where(d_an == d_pn, 0.5, 0)).astype(a.dtype)
        h = self.margin + d_ap - np.minimum(d_an, d_pn)
        active = _hinge_active(h).astype(a.dtype)
        self._cache = (v_ap, v_an, v_pn, d_ap, d_an, d_pn, share_an, active)
        return self._reduce(np.maximum(h, 0))

    def backward(self, grad_output: Array | float | None = None) -> tuple[Array, Array, Array]:
        v_ap, v_an, v_pn, d_ap, d_an, d_pn, share_an, active = self._saved(self._cache)
        c = active * self._scale(grad_output, v_ap.dtype)
        g_ap = p_norm_backward(v_ap, d_ap, self.p) * c[..., None]
        g_an = p_norm_backward(v_an, d_an, self.p) * (c * share_an)[..., None]
        grad_a, grad_p, grad_n = g_ap - g_an, -g_ap, g_an
        if self.swap:
            g_pn = p_norm_backward(v_pn, d_pn, self.p) * (c * (1 - share_an))[..., None]
            grad_p = grad_p - g_pn
            grad_n = grad_n + g_pn
        return grad_a, grad_p, grad_n


class CosineEmbeddingLoss(_Loss):
    """Make pairs similar (y = 1) or dissimilar (y = -1) in angle.

    PyTorch: ``nn.CosineEmbeddingLoss``.

    Inputs ``x1``, ``x2`` of shape ``(N, D)`` with target ``(N,)``, or ``(D,)`` with a
    scalar target, of values ±1. PyTorch's cosine adds ε = 1e-12 to each squared norm::

        cos = x1·x2 / √((‖x1‖² + ε)(‖x2‖² + ε))
        ℓ = 1 - cos                    if y = 1
        ℓ = max(0, cos - margin)       if y = -1

    Gradient of the cosine, with ``m_i = ‖x_i‖² + ε`` and ``D = √(m1 m2)``:
    ``∂cos/∂x1 = x2/D - cos · x1/m1`` and ``∂cos/∂x2 = x1/D - cos · x2/m2``; ``∂ℓ/∂cos``
    is -1 for y = 1, and 1 for y = -1 where the hinge is active (``cos ≥ margin``, as
    PyTorch). ``backward`` returns ``(∂L/∂x1, ∂L/∂x2)``.

    Caches the inputs, the cosine, the squared norms and ``∂ℓ/∂cos``.
    """

    def __init__(self, margin: float = 0.0, *, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.margin = margin
        self._cache: tuple[Array, ...] | None = None

    def forward(self, input1: Array, input2: Array, target: Array) -> float | Array:
        names = ("input1", "input2")
        x1, x2 = (float_input(self, a, n) for a, n in zip((input1, input2), names, strict=True))
        _same_dtype(self, [x1, x2], names)
        _same_shape(self, [x1, x2], names)
        if x1.ndim not in (1, 2):
            raise shape_error(self, "(N, D) or (D,)", x1, "input1")
        y = _as_target(self, target)
        if y.shape != x1.shape[:-1]:
            raise ValueError(
                f"{self.describe()}: expected target of shape {x1.shape[:-1]} for inputs of "
                f"shape {x1.shape}, got {y.shape}"
            )
        y = _sign_target(self, y, x1.dtype)
        m1 = np.sum(x1 * x1, axis=-1) + _COSINE_EPSILON
        m2 = np.sum(x2 * x2, axis=-1) + _COSINE_EPSILON
        root = np.sqrt(m1 * m2)
        cos = np.sum(x1 * x2, axis=-1) / root
        similar = y == 1
        losses = np.where(similar, 1 - cos, np.maximum(cos - self.margin, 0))
        slope = np.where(similar, -1, _hinge_active(cos - self.margin)).astype(x1.dtype)
        self._cache = (x1, x2, cos, m1, m2, root, slope)
        return self._reduce(losses)

    def backward(self, grad_output: Array | float | None = None) -> tuple[Array, Array]:
        x1, x2, cos, m1, m2, root, slope = self._saved(self._cache)
        c = (slope * self._scale(grad_output, x1.dtype))[..., None]
        grad1 = (x2 / root[..., None] - (cos / m1)[..., None] * x1) * c
        grad2 = (x1 / root[..., None] - (cos / m2)[..., None] * x2) * c
        return grad1, grad2


class MarginRankingLoss(_Loss):
    """Rank ``x1`` above ``x2`` when y = 1, below when y = -1 (PyTorch: ``nn.MarginRankingLoss``).

    Inputs ``x1``, ``x2`` and target ``y`` of one shape::

        ℓ = max(0, -y (x1 - x2) + margin)

    Gradient where the hinge is active (``≥ 0``, as PyTorch): ``∂ℓ/∂x1 = -y``,
    ``∂ℓ/∂x2 = y``. ``backward`` returns ``(∂L/∂x1, ∂L/∂x2)``. Caches ``-y`` masked by
    the hinge.
    """

    def __init__(self, margin: float = 0.0, *, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.margin = margin
        self._slope: Array | None = None

    def forward(self, input1: Array, input2: Array, target: Array) -> float | Array:
        names = ("input1", "input2")
        x1, x2 = (float_input(self, a, n) for a, n in zip((input1, input2), names, strict=True))
        _same_dtype(self, [x1, x2], names)
        y = _as_target(self, target)
        _same_shape(self, [x1, x2, y], (*names, "target"))
        if not _is_real(y):
            raise TypeError(f"{self.describe()}: expected a real-valued target, got {y.dtype}")
        y = y.astype(x1.dtype, copy=False)
        h = self.margin - y * (x1 - x2)
        self._slope = np.where(_hinge_active(h), -y, 0)
        return self._reduce(np.maximum(h, 0))

    def backward(self, grad_output: Array | float | None = None) -> tuple[Array, Array]:
        slope = self._saved(self._slope)
        grad1 = slope * self._scale(grad_output, slope.dtype)
        return np.asarray(grad1), np.asarray(-grad1)  # 0-d inputs get 0-d arrays back


class HingeEmbeddingLoss(_PointwiseLoss):
    """Distances that should be small (y = 1) or at least ``margin`` (y = -1)
    (PyTorch: ``nn.HingeEmbeddingLoss``).

    Input ``x`` (typically a distance) and target ``y`` of values ±1, one shape::

        ℓ = x                      if y = 1       ∂ℓ/∂x = 1
        ℓ = max(0, margin - x)     if y = -1      ∂ℓ/∂x = -1 where margin - x ≥ 0, else 0

    Caches ``x`` and ``y``.
    """

    def __init__(self, margin: float = 1.0, *, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.margin = margin

    def _check(self, x: Array, t: Array) -> None:
        _sign_target(self, t, x.dtype)

    def _loss(self, x: Array, t: Array) -> Array:
        return np.where(t == 1, x, np.maximum(self.margin - x, 0))

    def _derivative(self, x: Array, t: Array) -> Array:
        return np.where(t == 1, 1, -1.0 * _hinge_active(self.margin - x)).astype(x.dtype)
