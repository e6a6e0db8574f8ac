"""Gradient clipping (PyTorch: ``torch.nn.utils.clip_grad``).

Clip between ``model.backward(...)`` and ``optimizer.step()``::

    model.backward(criterion.backward())
    total_norm = clip_grad_norm_(model.parameters(), max_norm=1.0)
    optimizer.step()

As in PyTorch, parameters without a gradient are left out: in refnet every parameter
has one, so those left out are the frozen ones (``requires_grad=False``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from types import GeneratorType

import numpy as np

from refnet._typing import Array
from refnet.nn.parameter import Parameter

ParametersT = Parameter | Iterable[Parameter]


def _parameters(parameters: ParametersT, who: str) -> list[Parameter]:
    if isinstance(parameters, Parameter):
        return [parameters]
    is_generator = isinstance(parameters, GeneratorType)
    found = list(parameters)
    for i, p in enumerate(found):
        if not isinstance(p, Parameter):
            raise TypeError(f"{who}: expected Parameters, but item {i} is a {type(p).__name__}")
    if is_generator and not found:
        warnings.warn(
            f"{who}: `parameters` is an empty generator, no gradient clipping will occur",
            stacklevel=3,
        )
    return found


def _norm_type(norm_type: float | str, who: str) -> float:
    try:
        value = float(norm_type)  # accepts 'inf', as PyTorch
    except (TypeError, ValueError):
        raise ValueError(f"{who}: norm_type must be a number or 'inf', got {norm_type!r}") from None
    if np.isnan(value):
        raise ValueError(f"{who}: norm_type must not be NaN")
    return value


def get_total_norm(
    tensors: Array | Iterable[Array],
    norm_type: float | str = 2.0,
    error_if_nonfinite: bool = False,
) -> float:
    r"""The p-norm of several arrays taken together, as if concatenated into one vector.

    PyTorch's form, a norm of the per-array norms: ``‖(‖g₁‖_p, …, ‖g_k‖_p)‖_p``, which
    equals ``(Σ_i |g_i|^p)^{1/p}`` for p > 0 and ``max_i |g_i|`` for p = ∞ (the other
    orders, 0 and −∞, follow the same nesting as PyTorch's ``vector_norm``). Computed in
    float64 whatever the arrays' dtype. Returns 0.0 for no arrays.
    """
    arrays = [tensors] if isinstance(tensors, np.ndarray) else list(tensors)
    p = _norm_type(norm_type, "get_total_norm")
    if not arrays:
        return 0.0
    norms = np.array(
        [np.linalg.norm(np.asarray(a, dtype=np.float64).ravel(), ord=p) for a in arrays]
    )
    total = float(np.linalg.norm(norms, ord=p))
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(
            f"The total norm of order {p} for gradients is non-finite, so it cannot be "
            "clipped. To disable this error and scale the gradients by the non-finite norm "
            "anyway, set error_if_nonfinite=False"
        )
    return total


def clip_grads_with_norm_(parameters: ParametersT, max_norm: float, total_norm: float) -> None:
    r"""Scale gradients in place by ``min(max_norm / (total_norm + 1e-6), 1)``.

    PyTorch: ``torch.nn.utils.clip_grads_with_norm_``. The 1e-6 keeps the division finite
    and leaves the clipped norm just below ``max_norm``.
    """
    params = [p for p in _parameters(parameters, "clip_grads_with_norm_") if p.requires_grad]
    if not float(max_norm) > 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be positive, got {max_norm}")
    coef = min(float(max_norm) / (float(total_norm) + 1e-6), 1.0)
    for p in params:
        p.grad *= coef


def clip_grad_norm_(
    parameters: ParametersT,
    max_norm: float,
    norm_type: float | str = 2.0,
    error_if_nonfinite: bool = False,
) -> float:
    r"""Rescale all gradients together so that their joint p-norm is at most ``max_norm``.

    PyTorch: ``torch.nn.utils.clip_grad_norm_``. With N = ‖(g₁, …, g_k)‖_p (see
    :func:`get_total_norm`; ``norm_type='inf'`` for the max-norm), every gradient is
    multiplied in place by ``min(max_norm / (N + 1e-6), 1)``: the direction of the whole
    gradient is kept, only its length shrinks. Returns N, the norm *before* clipping (a
    Python float; PyTorch returns a 0-d tensor). With ``error_if_nonfinite=True`` a NaN
    or infinite N raises ``RuntimeError`` instead of scaling by it.

    >>> import numpy as np
    >>> from refnet.nn import Parameter
    >>> a, b = Parameter(np.zeros(1)), Parameter(np.zeros(1))
    >>> a.grad[...] = 3.0; b.grad[...] = 4.0
    >>> clip_grad_norm_([a, b], max_norm=1.0)
    5.0
    >>> round(float(np.hypot(a.grad[0], b.grad[0])), 6)
    1.0
    """
    params = [p for p in _parameters(parameters, "clip_grad_norm_") if p.requires_grad]
    total = get_total_norm([p.grad for p in params], norm_type, error_if_nonfinite)
    clip_grads_with_norm_(params, max_norm, total)
    return total


def clip_grad_value_(parameters: ParametersT, clip_value: float) -> None:
    r"""Clamp every gradient element to ``[-clip_value, clip_value]`` in place.

    PyTorch: ``torch.nn.utils.clip_grad_value_``. Unlike norm clipping this changes the
    gradient's direction.
    """
    value = float(clip_value)
    for p in _parameters(parameters, "clip_grad_value_"):
        if p.requires_grad:
            np.clip(p.grad, -value, value, out=p.grad)
