"""More of ``torch.nn``'s losses: soft margins, multi-label margins, Gaussian NLL and the
triplet loss with a distance of your choice (PyTorch: the ``torch.nn`` losses of the
same names).

They follow :mod:`refnet.nn.loss`'s conventions (reductions, ``backward()`` for scalar
losses, ``backward(G)`` for ``'none'``, targets cast to the input's dtype and never
differentiated, no broadcasting between input and target). Where refnet deliberately
differs from PyTorch:

* ``SoftMarginLoss`` checks that its targets are ±1, like refnet's other sign-target
  losses (PyTorch accepts any number, and {0, 1} labels silently give a constant loss
  for every 0).
* ``GaussianNLLLoss`` wants the target of the input's shape (PyTorch also broadcasts a
  target with a dimension of size 1); ``var`` broadcasts exactly as in PyTorch.
* ``TripletMarginWithDistanceLoss`` needs a distance with a backward: a refnet module,
  or a function with a ``backward`` sibling (see its docstring).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from refnet._typing import Array, IntArray
from refnet.nn import functional as F
from refnet.nn._validation import float_input, shape_error
from refnet.nn.distance import PairwiseDistance
from refnet.nn.functional.ctc import CTCAlignment, ctc_alpha, ctc_beta, ctc_gradient
from refnet.nn.loss import (
    _as_target,
    _broadcast_weight,
    _hinge_active,
    _Loss,
    _optional_weight,
    _PointwiseLoss,
    _real_target,
    _same_dtype,
    _same_shape,
    _sign_target,
)
from refnet.nn.module import Module

__all__ = [
    "CTCLoss",
    "GaussianNLLLoss",
    "MultiLabelMarginLoss",
    "MultiLabelSoftMarginLoss",
    "SoftMarginLoss",
    "TripletMarginWithDistanceLoss",
]


class SoftMarginLoss(_PointwiseLoss):
    """Logistic loss of a ±1 target (PyTorch: ``nn.SoftMarginLoss``).

    Input ``x`` and target ``y ∈ {1, -1}`` of one shape::

        ℓ = log(1 + e^{-y x}) = softplus(-y x)       ∂ℓ/∂x = -y σ(-y x)

    The derivative: ``d/dz log(1 + eᶻ) = σ(z)`` at ``z = -y x``, times ``∂z/∂x = -y``.
    ``softplus`` is evaluated as ``logaddexp(0, z)``, finite for any ``x``. ``'mean'``
    divides by the number of elements. Caches ``x`` and ``y``.
    """

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction)

    def _check(self, x: Array, t: Array) -> None:
        _sign_target(self, t, x.dtype)

    def _loss(self, x: Array, t: Array) -> Array:
        return np.logaddexp(0, -t * x)

    def _derivative(self, x: Array, t: Array) -> Array:
        return -t * F.sigmoid(-t * x)


class MultiLabelSoftMarginLoss(_PointwiseLoss):
    """One binary cross-entropy per class, averaged over the classes
    (PyTorch: ``nn.MultiLabelSoftMarginLoss``).

    Input scores ``x`` of shape ``(N, C)`` or ``(C,)`` and targets ``y ∈ [0, 1]`` (usually
    0/1 labels, several classes may be on) of the same shape; optional class weights
    ``w`` that broadcast against the input (PyTorch's are ``(C,)``)::

        ℓ_n = -(1/C) Σ_c w_c [y_c log σ(x_c) + (1 - y_c) log σ(-x_c)]
            =  (1/C) Σ_c w_c [(1 - y_c) x_c - log σ(x_c)]

    (from ``log σ(-x) = log σ(x) - x``). ``'none'`` gives ``(N,)`` (a 0-d array for a
    ``(C,)`` input); ``'mean'`` divides the sum by N. Gradient, as for
    ``BCEWithLogitsLoss``: ``∂ℓ_n/∂x_c = w_c (σ(x_c) - y_c) / C``. Caches ``x`` and ``y``.
    """

    weight: Array | None

    def __init__(self, weight: npt.ArrayLike | None = None, *, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.register_buffer("weight", _optional_weight(weight))

    def _check(self, x: Array, t: Array) -> None:
        if x.ndim not in (1, 2):
            raise shape_error(self, "(N, C) or (C,)", x)
        if self.weight is not None:
            _broadcast_weight(self, self.weight, x, "weight")

    def _weighted(self, a: Array, x: Array) -> Array:
        return a if self.weight is None else a * self.weight.astype(x.dtype, copy=False)

    def _loss(self, x: Array, t: Array) -> Array:
        per_class = self._weighted((1 - t) * x - F.log_sigmoid(x), x)
        return np.asarray(per_class.sum(axis=-1) / x.shape[-1])

    def _derivative(self, x: Array, t: Array) -> Array:
        return self._weighted(F.sigmoid(x) - t, x) / x.shape[-1]

    def backward(self, grad_output: Array | float | None = None) -> Array:
        x, t = self._saved(self._x), self._saved(self._t)
        scale = self._scale(grad_output, x.dtype)
        if isinstance(scale, np.ndarray):
            scale = scale[..., None]  # one upstream value per sample, for all its classes
        return np.asarray(self._derivative(x, t) * scale)


class MultiLabelMarginLoss(_Loss):
    """Multi-label hinge loss: every target class above every other class by a margin of 1
    (PyTorch: ``nn.MultiLabelMarginLoss``).

    Input scores ``x`` of shape ``(N, C)`` or ``(C,)``; target of the same shape holding
    integer class indices, read up to the first ``-1`` (PyTorch's convention: ``[3, 0,
    -1, 1]`` means classes 3 and 0). With ``J`` the listed targets and ``I`` the classes
    not listed::

        ℓ_n = (1/C) Σ_{j ∈ J} Σ_{i ∉ J} max(0, 1 - (x_{y_j} - x_i))

    (a class listed twice counts twice, as in PyTorch's kernel). ``'mean'`` divides by N.
    Gradient of an active term (``z = 1 - x_{y_j} + x_i > 0``; a term exactly at its
    hinge is inactive, as PyTorch): ``+1/C`` to ``x_i`` and ``-1/C`` to ``x_{y_j}``. It
    is built from the ``(N, S, C)`` mask of active terms (S target slots) as two sums,
    the one for ``x_{y_j}`` gathered into classes by a one-hot product (no ``np.add.at``).

    Caches the active mask and the one-hot of the listed targets.
    """

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self._active: Array | None = None
        self._onehot: Array | None = None
        self._shape: tuple[int, ...] = ()

    def forward(self, input: Array, target: Array) -> float | Array:
        x = float_input(self, input)
        if x.ndim not in (1, 2):
            raise shape_error(self, "(N, C) or (C,)", x)
        y = self._targets(x, _as_target(self, target))
        x2, y2 = x.reshape(-1, x.shape[-1]), y.reshape(-1, x.shape[-1])
        C = x2.shape[1]
        # Slots before the first negative entry are listed targets.
        listed = np.cumprod(y2 >= 0, axis=1).astype(bool)  # (N, S)
        onehot = (y2[:, :, None] == np.arange(C)) & listed[:, :, None]  # (N, S, C)
        is_target = onehot.any(axis=1)  # (N, C)
        x_target = np.take_along_axis(x2, np.where(listed, y2, 0), axis=1)  # (N, S)
        z = 1 - x_target[:, :, None] + x2[:, None, :]  # (N, S, C)
        active = (z > 0) & listed[:, :, None] & ~is_target[:, None, :]
        self._active = active.astype(x.dtype)
        self._onehot = onehot.astype(x.dtype)
        self._shape = x.shape
        losses = np.where(active, z, 0).sum(axis=(1, 2)) / C
        return self._reduce(losses.reshape(x.shape[:-1]))

    def _targets(self, x: Array, t: Array) -> IntArray:
        if not np.issubdtype(t.dtype, np.integer):
            raise TypeError(
                f"{self.describe()}: targets must be integer class indices (padded with -1), "
                f"got dtype {t.dtype}"
            )
        if t.shape != x.shape:
            raise ValueError(
                f"{self.describe()}: expected target of the input's shape {x.shape} (class "
                f"indices, ended by -1), got {t.shape}"
            )
        C = x.shape[-1]
        if t.size and (t.min() < -1 or t.max() >= C):
            bad = t[(t < -1) | (t >= C)].flat[0]
            raise ValueError(
                f"{self.describe()}: target class {bad} is out of range: input of shape "
                f"{x.shape} has C={C} classes, so targets must be in [0, {C - 1}] (or -1)"
            )
        return t

    def backward(self, grad_output: Array | float | None = None) -> Array:
        active, onehot = self._saved(self._active), self._saved(self._onehot)
        N, _, C = active.shape
        u = self._scale(grad_output, active.dtype)
        scale = u.reshape(N, 1) / C if isinstance(u, np.ndarray) else u / C
        to_others = active.sum(axis=1)  # (N, C): how often x_i was a lower class
        per_slot = active.sum(axis=2)  # (N, S): active terms of each listed target
        to_targets = np.einsum("ns,nsc->nc", per_slot, onehot)
        return np.asarray((to_others - to_targets) * scale).reshape(self._shape)


def _var_shape_ok(var: tuple[int, ...], x: tuple[int, ...]) -> bool:
    """PyTorch's rule: ``var`` has the input's shape, or that shape less its last axis,
    or the input's number of axes with exactly one of them of size 1 where they differ."""
    if var == x or var == x[:-1]:
        return True
    if len(var) != len(x):
        return False
    return sum(v for a, v in zip(x, var, strict=True) if a != v) == 1


def _sum_to(grad: Array, shape: tuple[int, ...]) -> Array:
    """Sum a broadcast gradient back to ``shape`` (same number of axes, or one fewer)."""
    if len(shape) < grad.ndim:
        grad = grad.sum(axis=-1)
    axes = tuple(i for i, (g, s) in enumerate(zip(grad.shape, shape, strict=True)) if g != s)
    return grad.sum(axis=axes, keepdims=True) if axes else grad


class GaussianNLLLoss(_Loss):
    """Negative log-likelihood of a Gaussian with predicted mean and variance
    (PyTorch: ``nn.GaussianNLLLoss``).

    ``criterion(input, target, var)``: the mean ``μ`` (input), the observed ``t``
    (target, the input's shape) and the variance ``σ²`` (``var``: an array of the input's
    shape, of that shape with the last axis dropped or with one axis of size 1, i.e.
    one variance shared along that axis; or a Python float). With ``v = max(var, eps)``::

        ℓ = ½ (log v + (μ - t)² / v)  [+ ½ log 2π  if full]

    ``'mean'`` divides by the number of elements of the input. Negative variances raise.

    Gradients, from ``d/dv (log v) = 1/v`` and ``d/dv (1/v) = -1/v²``::

        ∂ℓ/∂μ = (μ - t) / v          ∂ℓ/∂var = ½ (1/v - (μ - t)² / v²)

    the latter summed over the axes along which one variance is shared. ``backward``
    returns ``(∂L/∂input, ∂L/∂var)`` when ``var`` is an array, ``∂L/∂input`` when it is
    a number.

    **The gradient at the clamp.** Where ``var < eps`` the loss uses ``v = eps``, so the
    function computed is flat in ``var`` there and its true derivative is 0. PyTorch
    clamps a copy of ``var`` *without recording the clamp* (``with torch.no_grad()``),
    so its gradient is the formula above evaluated at ``v = eps`` and passed to ``var``
    unchanged, as if the clamp were not there (a straight-through gradient). refnet does
    the same, so a ported training run follows PyTorch's: a variance that fell below
    ``eps`` is still pushed by the data instead of being stuck. A gradient check sees
    the difference at such entries (the numerical derivative is 0); the cases keep var
    above ``eps``, and ``tests/test_loss_extra.py`` pins the clamped entries to PyTorch.

    Caches ``μ - t``, ``v`` and var's shape.
    """

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.full = full
        self.eps = eps
        self._cache: tuple[Array, Array] | None = None
        self._var_shape: tuple[int, ...] | None = None

    def forward(self, input: Array, target: Array, var: Array | float) -> float | Array:
        x = float_input(self, input)
        t = _real_target(self, x, target)
        v, var_shape = self._variance(x, var)
        d = x - t
        losses = 0.5 * (np.log(v) + d * d / v)
        if self.full:
            losses = losses + 0.5 * math.log(2 * math.pi)
        self._cache, self._var_shape = (d, v), var_shape
        return self._reduce(losses)

    def _variance(self, x: Array, var: Array | float) -> tuple[Array, tuple[int, ...] | None]:
        """``max(var, eps)`` broadcast against ``x``, and var's shape (None for a number)."""
        if isinstance(var, (int, float, np.floating)) and not isinstance(var, bool):
            if var < 0:
                raise ValueError(f"{self.describe()}: var must be non-negative, got {var}")
            return np.full(x.shape, max(float(var), self.eps), dtype=x.dtype), None
        v = float_input(self, var, "var")
        _same_dtype(self, [x, v], ["input", "var"])
        if not _var_shape_ok(v.shape, x.shape):
            raise ValueError(
                f"{self.describe()}: var of shape {v.shape} does not fit the input's shape "
                f"{x.shape}: it must be {x.shape}, {x.shape[:-1]}, or {x.shape} with one "
                "axis of size 1"
            )
        if (v < 0).any():
            raise ValueError(f"{self.describe()}: var has negative entries")
        shape = v.shape
        if shape != x.shape and shape == x.shape[:-1]:
            v = v[..., None]
        return np.maximum(v, np.asarray(self.eps, dtype=x.dtype)), shape

    def backward(self, grad_output: Array | float | None = None) -> Array | tuple[Array, Array]:
        d, v = self._saved(self._cache)
        u = self._scale(grad_output, d.dtype)
        grad_input = np.asarray(d / v * u)
        if self._var_shape is None:
            return grad_input
        grad_v = 0.5 * (1 / v - d * d / (v * v)) * u
        return grad_input, _sum_to(np.asarray(grad_v), self._var_shape)

    def extra_repr(self) -> str:
        return ""


DistanceFunction = Callable[[Array, Array], Array]


def _distance_backward(fn: Any) -> Callable[..., tuple[Array, Array]]:
    """The backward of a distance function: ``fn.backward``, or its ``*_backward`` sibling
    in the module that defines it (``F.pairwise_distance`` -> ``F.pairwise_distance_backward``)."""
    backward = getattr(fn, "backward", None)
    if backward is None:
        home = sys.modules.get(getattr(fn, "__module__", "") or "")
        backward = getattr(home, f"{getattr(fn, '__name__', '')}_backward", None)
    if not callable(backward):
        raise TypeError(
            "TripletMarginWithDistanceLoss: distance_function must be a refnet Module (its "
            "backward is used) or a function with a backward, as the attribute "
            "fn.backward(grad, x1, x2) -> (grad_x1, grad_x2) or a sibling fn_backward in "
            f"its module (as F.pairwise_distance has); got {fn!r}"
        )
    return backward


class TripletMarginWithDistanceLoss(_Loss):
    """The triplet loss with any distance (PyTorch: ``nn.TripletMarginWithDistanceLoss``).

    Anchors ``a``, positives ``p`` and negatives ``n`` of one shape, typically ``(N, D)``,
    and a distance ``d`` that maps two of them to one value per sample::

        ℓ = max(0, margin + d(a, p) - d(a, n))

    with, for ``swap=True``, ``d(a, n)`` replaced by ``min(d(a, n), d(p, n))``. The default
    distance is ``PairwiseDistance()`` (the Euclidean ``‖a - p + 1e-6‖₂``, PyTorch's).

    ``distance_function`` must come with its backward, since refnet has no autograd:

    * a refnet ``Module`` taking ``(x1, x2)`` whose ``backward(grad)`` returns
      ``(∂/∂x1, ∂/∂x2)`` (``nn.PairwiseDistance(p=1)``, ``nn.CosineSimilarity(dim=1)``, a
      learned metric of your own): it is called two or three times per forward, and its
      call records give each call its own backward (parameters accumulate as usual);
    * a function ``fn(x1, x2)`` with a ``fn.backward(grad, x1, x2)`` attribute, or a
      sibling ``fn_backward`` in its module, such as ``F.pairwise_distance``.

    Gradient where the hinge is active (``h ≥ 0``, PyTorch's ``clamp_min``), with ``G``
    the upstream value: ``G`` flows into ``d(a, p)`` and ``-G`` into the negative distance,
    and each distance's backward turns it into gradients of its two arguments, which are
    added per input (the anchor appears in two distances). With the swap, ``-G`` goes to
    the smaller of ``d(a, n)`` and ``d(p, n)``, split equally on a tie (as ``torch.minimum``
    does). ``backward`` returns ``(∂L/∂a, ∂L/∂p, ∂L/∂n)``.

    Caches the hinge mask, the swap's share and (for a function) the inputs.
    """

    def __init__(
        self,
        *,
        distance_function: DistanceFunction | Module | None = None,
        margin: float = 1.0,
        swap: bool = False,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction)
        if not margin > 0:
            raise ValueError(
                f"TripletMarginWithDistanceLoss: margin must be positive, got {margin}"
            )
        self.distance_function: Any = (
            PairwiseDistance() if distance_function is None else distance_function
        )
        self._function_backward = (
            None
            if isinstance(self.distance_function, Module)
            else _distance_backward(self.distance_function)
        )
        self.margin = margin
        self.swap = swap
        self._cache: tuple[Array, Array, tuple[Array, Array, Array]] | None = None

    def _distance(self, x1: Array, x2: Array) -> Array:
        d = self.distance_function(x1, x2)
        if isinstance(d, np.generic):
            d = np.asarray(d)  # a 0-d result may come back as a NumPy scalar
        if not isinstance(d, np.ndarray) or d.shape != x1.shape[:-1]:
            shape = getattr(d, "shape", type(d).__name__)
            raise ValueError(
                f"{self.describe()}: distance_function must give one value per sample, "
                f"shape {x1.shape[:-1]} for inputs {x1.shape}; got {shape}"
            )
        return d

    def forward(self, anchor: Array, positive: Array, negative: Array) -> float | Array:
        names = ("anchor", "positive", "negative")
        given = (anchor, positive, negative)
        arrays = [float_input(self, a, n) for a, n in zip(given, names, strict=True)]
        _same_dtype(self, arrays, names)
        _same_shape(self, arrays, names)
        a, pos, neg = arrays
        if a.ndim == 0:
            raise shape_error(self, "(N, D) or (D,)", a, "anchor")
        d_ap, d_an = self._distance(a, pos), self._distance(a, neg)
        share_an = np.ones_like(d_an)
        d_neg = d_an
        if self.swap:
            d_pn = self._distance(pos, neg)
            share_an = np.where(d_an < d_pn, 1, np.where(d_an == d_pn, 0.5, 0)).astype(a.dtype)
            d_neg = np.minimum(d_an, d_pn)
        h = self.margin + d_ap - d_neg
        self._cache = (_hinge_active(h).astype(a.dtype), share_an, (a, pos, neg))
        return self._reduce(np.maximum(h, 0))

    def backward(self, grad_output: Array | float | None = None) -> tuple[Array, Array, Array]:
        active, share_an, (a, pos, neg) = self._saved(self._cache)
        c = active * self._scale(grad_output, a.dtype)
        pairs = [((a, pos), 0, 1, c), ((a, neg), 0, 2, -c * share_an)]
        if self.swap:
            pairs.append(((pos, neg), 1, 2, -c * (1 - share_an)))
        grads = [np.zeros_like(a), np.zeros_like(pos), np.zeros_like(neg)]
        # A module's call records are taken last call first: walk the distances in reverse.
        for (x1, x2), i, j, g in reversed(pairs):
            g = np.asarray(g, dtype=a.dtype)
            if self._function_backward is None:
                g1, g2 = self.distance_function.backward(g)
            else:
                g1, g2 = self._function_backward(g, x1, x2)
            grads[i] = grads[i] + g1
            grads[j] = grads[j] + g2
        return grads[0], grads[1], grads[2]

    def extra_repr(self) -> str:
        return ""


def _lengths(loss: Module, value: object, name: str, N: int, batched: bool) -> IntArray:
    """Integer lengths ``(N,)`` from an array, a sequence or (unbatched) one integer."""
    a = np.asarray(value)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.integer) or a.size == 0):
        raise TypeError(f"{loss.describe()}: {name} must hold integers, got {a.dtype}")
    if a.shape not in ((N,),) + (((), (1,)) if not batched else ()):
        raise ValueError(
            f"{loss.describe()}: expected {name} of shape ({N},) (one per sample), got {a.shape}"
        )
    a = a.reshape(N).astype(np.int64)
    if a.size and a.min() < 0:
        raise ValueError(f"{loss.describe()}: {name} must be non-negative, got {a.min()}")
    return a


class CTCLoss(_Loss):
    """Connectionist temporal classification (PyTorch: ``nn.CTCLoss``).

    For unsegmented sequence labelling (speech, handwriting): the network emits, at each
    of ``T`` steps, log-probabilities over ``C`` classes, one of them the ``blank``; the
    loss is ``-log p(y | x)`` summed over every alignment of the target ``y`` (length
    ``S ≤ T``) to the ``T`` steps, computed by the forward (α) recursion in log space.
    The recursions, why log space, and PyTorch's form of the gradient are derived in
    :mod:`refnet.nn.functional.ctc` and in the losses chapter of the docs.

    ``criterion(log_probs, targets, input_lengths, target_lengths)``:

    * ``log_probs`` ``(T, N, C)``, or ``(T, C)`` unbatched: e.g. ``LogSoftmax(dim=2)``'s
      output;
    * ``targets`` ``(N, S)`` class indices padded to a common length, or 1-D with the
      targets concatenated (length ``Σ target_lengths``); unbatched, the 1-D target of
      length ``target_length``;
    * ``input_lengths``, ``target_lengths`` ``(N,)`` integers (arrays or sequences;
      unbatched, one integer), each ``input_length ≤ T`` and, for padded targets,
      ``target_length ≤ S``.

    ``'none'`` gives the ``(N,)`` losses; ``'sum'`` their sum; ``'mean'`` (the default)
    divides each by its target length (at least 1) and averages over the batch, as
    PyTorch. A target that no alignment can produce (the input is too short: it needs a
    step per label plus one between each repeated pair) has likelihood 0 and loss
    ``inf``, whose gradient is NaN; ``zero_infinity=True`` sets such losses and their
    gradients to 0, so one impossible sample does not poison a batch.

    ``backward`` returns PyTorch's gradient with respect to ``log_probs`` (0 beyond each
    input length): ``exp(lp) - Σ_{s: l'_s = c} α β / (p y)``, which is the derivative of
    the loss with respect to the *logits* behind a log-softmax (the derivative with
    respect to ``log_probs`` itself lacks the ``exp(lp)`` term; the two agree after
    ``LogSoftmax.backward``). The targets and lengths are not differentiated.

    Where refnet differs from PyTorch: target classes outside ``[0, C)`` are refused
    (PyTorch's CPU kernel reads past its array), and so is a target that holds the
    blank (PyTorch's documentation forbids it, its kernel computes something). Caches
    ``log_probs``, the alignment, ``log α``, the losses and the per-sample scale.
    """

    def __init__(self, blank: int = 0, reduction: str = "mean", zero_infinity: bool = False):
        super().__init__(reduction)
        self.blank = blank
        self.zero_infinity = zero_infinity
        self._cache: tuple[Any, ...] | None = None

    def forward(
        self, log_probs: Array, targets: Array, input_lengths: Any, target_lengths: Any
    ) -> float | Array:
        lp = float_input(self, log_probs, "log_probs")
        if lp.ndim not in (2, 3):
            raise shape_error(self, "(T, N, C) or (T, C)", lp, "log_probs")
        batched = lp.ndim == 3
        lp3 = lp if batched else lp[:, None, :]
        T, N, C = lp3.shape
        if T == 0:
            raise ValueError(f"{self.describe()}: log_probs must not be empty (T = 0), as torch")
        if not 0 <= self.blank < C:
            raise ValueError(f"{self.describe()}: blank must be in [0, {C}) for C={C} classes")
        il = _lengths(self, input_lengths, "input_lengths", N, batched)
        tl = _lengths(self, target_lengths, "target_lengths", N, batched)
        if il.size and il.max() > T:
            raise ValueError(
                f"{self.describe()}: input_lengths must be at most T={T} (log_probs of shape "
                f"{lp.shape}), got {il.max()}"
            )
        padded = self._padded_targets(_as_target(self, targets, "targets"), tl, N, C, batched)
        align = CTCAlignment(lp3, padded, tl, self.blank)
        alpha, nll = ctc_alpha(align, il)
        infinite = np.isinf(nll)
        if self.zero_infinity:
            nll = np.where(infinite, 0, nll).astype(lp.dtype)
        per_target = 1 / np.maximum(tl, 1).astype(lp.dtype)
        terms = nll * per_target if self.reduction == "mean" else nll
        self._cache = (lp3, align, alpha, nll, il, per_target, infinite, batched)
        return self._reduce(terms if batched else terms.reshape(()))

    def _padded_targets(self, t: Array, tl: IntArray, N: int, C: int, batched: bool) -> IntArray:
        if not np.issubdtype(t.dtype, np.integer):
            raise TypeError(f"{self.describe()}: targets must be class indices, got {t.dtype}")
        if t.ndim == 2 and batched:
            if t.shape[0] != N:
                raise ValueError(
                    f"{self.describe()}: padded targets must be (N={N}, S), got {t.shape}"
                )
            if tl.size and tl.max() > t.shape[1]:
                raise ValueError(
                    f"{self.describe()}: target_lengths must be at most S={t.shape[1]} for "
                    f"padded targets of shape {t.shape}, got {tl.max()}"
                )
            padded = t
        elif t.ndim == 1:
            if t.shape[0] != tl.sum():
                raise ValueError(
                    f"{self.describe()}: concatenated targets must have sum(target_lengths)="
                    f"{tl.sum()} entries, got {t.shape[0]}"
                )
            S = int(tl.max()) if tl.size else 0
            offsets = np.concatenate([[0], np.cumsum(tl)[:-1]]).astype(np.int64)
            inside = np.arange(S)[None, :] < tl[:, None]
            index = np.where(inside, offsets[:, None] + np.arange(S), 0)
            padded = np.where(inside, t[index] if t.size else 0, self.blank)
        else:
            expected = "(N, S) padded or 1-D concatenated" if batched else "1-D"
            raise ValueError(f"{self.describe()}: targets must be {expected}, got {t.shape}")
        used = np.arange(padded.shape[1])[None, :] < tl[:, None]
        bad = used & ((padded < 0) | (padded >= C))
        if bad.any():
            raise ValueError(
                f"{self.describe()}: target class {padded[bad][0]} is out of range for "
                f"C={C} classes"
            )
        if (used & (padded == self.blank)).any():
            raise ValueError(
                f"{self.describe()}: a target holds the blank class {self.blank} (a target "
                "index cannot be blank, as PyTorch's documentation says)"
            )
        return np.where(used, padded, self.blank).astype(np.int64)

    def backward(self, grad_output: Array | float | None = None) -> Array:
        lp3, align, alpha, nll, il, per_target, infinite, batched = self._saved(self._cache)
        u = self._scale(grad_output, lp3.dtype)
        scale = np.broadcast_to(np.asarray(u, dtype=lp3.dtype).reshape(-1), nll.shape)
        if self.reduction == "mean":
            scale = scale * per_target
        beta = ctc_beta(align, il)
        zeroed = infinite if self.zero_infinity else None
        grad = ctc_gradient(lp3, align, alpha, beta, nll, il, scale, zeroed)
        return grad if batched else grad[:, 0, :]

    def extra_repr(self) -> str:
        return ""
