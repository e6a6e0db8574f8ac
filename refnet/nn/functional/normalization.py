"""Normalisation kernels: batch, layer and group norm, forward and backward.

**Read the references first.** :func:`batch_norm_reference`, :func:`layer_norm_reference`,
:func:`group_norm_reference`, :func:`rms_norm_reference` and their ``*_backward_reference``
(the "reference kernels" section below) are the definitions, with the backward taken
stage by stage by the chain rule; the tests prove the fast kernels, which use the closed
form derived here, equal to them.

All three normalise groups of numbers to zero mean and unit variance and then apply a
learned affine map,

    x̂ = (x - μ) / σ,   σ = √(v + ε),   y = γ x̂ + β,

with μ and v the mean and the *biased* variance (divide by M, the group size) of the
group. They differ only in what a group is: for batch norm one channel over the batch
and all positions; for layer norm the trailing ``normalized_shape`` dimensions of one
sample; for group norm a block of channels of one sample.

The backward, derived once for all three. Let ĝ = ∂L/∂x̂ (``γ · ∂L/∂y``). x enters x̂
directly, through μ and through v:

    ∂μ/∂x_i = 1/M,   ∂v/∂x_i = 2(x_i - μ)/M,   so   ∂σ/∂x_i = x̂_i / M

(the part of ∂v/∂x_i that goes through μ vanishes because Σ (x_j - μ) = 0). Then

    ∂x̂_j/∂x_i = (δ_ij - 1/M)/σ - x̂_j x̂_i / (M σ)

and summing over the group,

    ∂L/∂x_i = Σ_j ĝ_j ∂x̂_j/∂x_i = (1/σ) (ĝ_i - mean(ĝ) - x̂_i · mean(ĝ · x̂)).

The gradient is ĝ projected away from the two directions the normalisation removes
(adding a constant to x, scaling x), divided by σ. The affine parameters get
``∂L/∂γ = Σ ∂L/∂y · x̂`` and ``∂L/∂β = Σ ∂L/∂y`` over everything they multiply.

Every kernel keeps the input's dtype; ε and momentum are Python floats, so no float64
sneaks into a float32 path. Channel sums use ``einsum`` over contiguous rows: a SIMD
sum (of products) per row, then per channel, in one call without a temporary (faster
than ``ndarray.sum(axis=(0, 2))`` or a BLAS product with ones, at the same accuracy; the
speed chapter, docs/speed.md, has the measurements).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from refnet._parallel import for_blocks
from refnet._typing import Array

# ---------------------------------------------------------------------- reference kernels
#
# Read these first. The definitions, written for a reader: mean and variance by
# ``np.mean``, the backward by the chain rule taken stage by stage through the forward's
# computation (x → x - μ → v → σ → x̂), not by the closed form the fast kernels below
# use, so the two are independent derivations. The tests prove every fast kernel below
# equal to these (tests/test_reference_kernels.py).

Axes = tuple[int, ...]


def _normalize_reference(x: Array, axes: Axes, eps: float) -> Array:
    """``x̂ = (x - μ) / √(v + ε)`` with μ and the biased variance v over ``axes``."""
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps)


def _normalize_backward_reference(grad_xhat: Array, x: Array, axes: Axes, eps: float) -> Array:
    """``∂L/∂x`` given ``ĝ = ∂L/∂x̂`` for :func:`_normalize_reference`, stage by stage.

    Forward: ``d = x - μ``, ``v = mean(d²)``, ``σ = √(v + ε)``, ``x̂ = d / σ``, means over
    the M numbers of a group. Backward, each stage's local derivative in turn:

        ∂L/∂σ = -Σ ĝ d / σ²           ∂L/∂v = ∂L/∂σ / (2σ)
        ∂L/∂d = ĝ / σ + ∂L/∂v · 2d / M
        ∂L/∂μ = -Σ ∂L/∂d               ∂L/∂x = ∂L/∂d + ∂L/∂μ / M
    """
    M = math.prod(x.shape[a] for a in axes)
    mean = x.mean(axis=axes, keepdims=True)
    d = x - mean
    sigma = np.sqrt((d**2).mean(axis=axes, keepdims=True) + eps)
    grad_sigma = -(grad_xhat * d).sum(axis=axes, keepdims=True) / sigma**2
    grad_var = grad_sigma / (2 * sigma)
    grad_d = grad_xhat / sigma + grad_var * 2 * d / M
    grad_mean = -grad_d.sum(axis=axes, keepdims=True)
    return grad_d + grad_mean / M


def _channel_shape(x: Array) -> tuple[int, ...]:
    """The shape (C, 1, ..., 1) that broadcasts a per-channel vector over (N, C, *)."""
    return (x.shape[1],) + (1,) * (x.ndim - 2)


def _affine_reference(
    xhat: Array, weight: Array | None, bias: Array | None, shape: tuple[int, ...]
) -> Array:
    """``γ x̂ + β`` (γ = 1, β = 0 when absent), γ and β reshaped to ``shape``."""
    y = xhat if weight is None else xhat * weight.reshape(shape)
    return y if bias is None else y + bias.reshape(shape)


def _affine_grads_reference(grad_output: Array, xhat: Array, axes: Axes) -> tuple[Array, Array]:
    """``(∂L/∂γ, ∂L/∂β) = (Σ G x̂, Σ G)`` over ``axes`` (everything γ and β multiply)."""
    return (grad_output * xhat).sum(axis=axes), grad_output.sum(axis=axes)


def _grad_xhat(grad_output: Array, weight: Array | None, shape: tuple[int, ...]) -> Array:
    """``ĝ = γ G``."""
    return grad_output if weight is None else grad_output * weight.reshape(shape)


def batch_norm_reference(
    x: Array,
    weight: Array | None,
    bias: Array | None,
    eps: float,
    mean: Array | None = None,
    var: Array | None = None,
) -> Array:
    """Batch norm of ``x`` (N, C, *): per channel, ``y = γ (x - μ)/√(v + ε) + β``.

    Training (``mean`` and ``var`` not given): μ and the biased v of the channel over the
    batch and all positions. Evaluation: the given (running) ``mean`` and ``var``.
    PyTorch: ``F.batch_norm``.
    """
    shape = _channel_shape(x)
    axes = tuple(a for a in range(x.ndim) if a != 1)
    if mean is None or var is None:
        xhat = _normalize_reference(x, axes, eps)
    else:
        xhat = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    return _affine_reference(xhat, weight, bias, shape)


def batch_norm_backward_reference(
    grad_output: Array,
    x: Array,
    weight: Array | None,
    eps: float,
    mean: Array | None = None,
    var: Array | None = None,
) -> tuple[Array, Array, Array]:
    """``(∂L/∂x, ∂L/∂γ, ∂L/∂β)`` of :func:`batch_norm_reference`. In evaluation μ and σ
    are constants: ``∂L/∂x = γ G / σ``."""
    shape = _channel_shape(x)
    axes = tuple(a for a in range(x.ndim) if a != 1)
    grad_xhat = _grad_xhat(grad_output, weight, shape)
    if mean is None or var is None:
        xhat = _normalize_reference(x, axes, eps)
        grad_input = _normalize_backward_reference(grad_xhat, x, axes, eps)
    else:
        sigma = np.sqrt(var.reshape(shape) + eps)
        xhat = (x - mean.reshape(shape)) / sigma
        grad_input = grad_xhat / sigma
    return (grad_input, *_affine_grads_reference(grad_output, xhat, axes))


def layer_norm_reference(
    x: Array, normalized_ndim: int, weight: Array | None, bias: Array | None, eps: float
) -> Array:
    """Layer norm over the last ``normalized_ndim`` axes of ``x``:
    ``y = γ (x - μ)/√(v + ε) + β``, μ and v per sample over those axes; γ, β have their
    shape. PyTorch: ``F.layer_norm``."""
    axes = tuple(range(x.ndim - normalized_ndim, x.ndim))
    shape = x.shape[x.ndim - normalized_ndim :]
    return _affine_reference(_normalize_reference(x, axes, eps), weight, bias, shape)


def layer_norm_backward_reference(
    grad_output: Array, x: Array, normalized_ndim: int, weight: Array | None, eps: float
) -> tuple[Array, Array, Array]:
    """``(∂L/∂x, ∂L/∂γ, ∂L/∂β)`` of :func:`layer_norm_reference`."""
    axes = tuple(range(x.ndim - normalized_ndim, x.ndim))
    shape = x.shape[x.ndim - normalized_ndim :]
    grad_input = _normalize_backward_reference(_grad_xhat(grad_output, weight, shape), x, axes, eps)
    batch_axes = tuple(range(x.ndim - normalized_ndim))
    xhat = _normalize_reference(x, axes, eps)
    return (grad_input, *_affine_grads_reference(grad_output, xhat, batch_axes))


def _grouped_reference(x: Array, num_groups: int) -> tuple[Array, Axes]:
    """``x`` (N, C, *) as (N, groups, C/groups, *) and the axes of one group."""
    grouped = x.reshape(x.shape[0], num_groups, -1)
    return grouped, (2,)


def group_norm_reference(
    x: Array, num_groups: int, weight: Array | None, bias: Array | None, eps: float
) -> Array:
    """Group norm of ``x`` (N, C, *): μ and v per sample over each block of
    ``C/num_groups`` consecutive channels (and all positions), then γ, β per channel.
    PyTorch: ``F.group_norm``."""
    grouped, axes = _grouped_reference(x, num_groups)
    xhat = _normalize_reference(grouped, axes, eps).reshape(x.shape)
    return _affine_reference(xhat, weight, bias, _channel_shape(x))


def group_norm_backward_reference(
    grad_output: Array, x: Array, num_groups: int, weight: Array | None, eps: float
) -> tuple[Array, Array, Array]:
    """``(∂L/∂x, ∂L/∂γ, ∂L/∂β)`` of :func:`group_norm_reference`."""
    grouped, axes = _grouped_reference(x, num_groups)
    grad_xhat, _ = _grouped_reference(
        _grad_xhat(grad_output, weight, _channel_shape(x)), num_groups
    )
    grad_input = _normalize_backward_reference(grad_xhat, grouped, axes, eps).reshape(x.shape)
    xhat = _normalize_reference(grouped, axes, eps).reshape(x.shape)
    channel_axes = tuple(a for a in range(x.ndim) if a != 1)
    return (grad_input, *_affine_grads_reference(grad_output, xhat, channel_axes))


def rms_norm_reference(x: Array, weight: Array | None, eps: float) -> Array:
    """``y = γ x / √(mean(x²) + ε)``, the mean over the last axis. PyTorch: ``F.rms_norm``."""
    rms = np.sqrt((x**2).mean(axis=-1, keepdims=True) + eps)
    return x / rms if weight is None else x / rms * weight


def rms_norm_backward_reference(
    grad_output: Array, x: Array, weight: Array | None, eps: float
) -> tuple[Array, Array]:
    """``(∂L/∂x, ∂L/∂γ)`` of :func:`rms_norm_reference`, stage by stage: ``m = mean(x²)``,
    ``r = √(m + ε)``, ``x̂ = x / r``; ``∂L/∂r = -Σ ĝ x / r²``, ``∂L/∂m = ∂L/∂r / (2r)``,
    ``∂L/∂x = ĝ / r + ∂L/∂m · 2x / D``."""
    D = x.shape[-1]
    r = np.sqrt((x**2).mean(axis=-1, keepdims=True) + eps)
    grad_xhat = grad_output if weight is None else grad_output * weight
    grad_r = -(grad_xhat * x).sum(axis=-1, keepdims=True) / r**2
    grad_input = grad_xhat / r + grad_r / (2 * r) * 2 * x / D
    batch_axes = tuple(range(x.ndim - 1))
    return grad_input, (grad_output * x / r).sum(axis=batch_axes)


class BatchStats(NamedTuple):
    """What a training-mode batch norm computed, for its backward and the running stats.

    ``centered`` is ``x - μ₀`` with the input's shape ``(N, C, L)``, μ₀ the first-pass
    mean; the others are ``(C,)``: ``residual`` δ, the mean of ``centered`` (rounding
    error of μ₀, so ``x - μ = centered - δ``), the batch mean ``μ = μ₀ + δ``, the biased
    batch variance and ``1/σ = 1/√(v + ε)``.
    """

    centered: Array
    residual: Array
    mean: Array
    var: Array
    invstd: Array


def channel_sum(x: Array) -> Array:
    """``Σ_{n,l} x[n, c, l]`` for ``x`` of shape ``(N, C, L)``: shape ``(C,)``."""
    return np.einsum("ncl->c", x)


def channel_dot(a: Array, b: Array) -> Array:
    """``Σ_{n,l} a[n, c, l] · b[n, c, l]``, without materialising the product."""
    return np.einsum("ncl,ncl->c", a, b)


def _column(v: Array) -> Array:
    """A ``(C,)`` vector as ``(C, 1)``, to broadcast over ``(N, C, L)``."""
    return v[:, None]


def batch_norm_train(
    x: Array, weight: Array | None, bias: Array | None, eps: float
) -> tuple[Array, BatchStats]:
    """Batch norm with the statistics of the batch itself (training mode).

    ``x`` has shape ``(N, C, L)`` (``L = 1`` for ``(N, C)`` input, ``H·W`` for images);
    μ and v are taken per channel over ``N·L`` numbers. Returns ``y`` of ``x``'s shape
    and the :class:`BatchStats`.

    The variance is computed from the centred values, never as ``E[x²] - μ²`` (which
    loses every digit of float32 when |μ| ≫ σ). It is the *corrected* two-pass algorithm
    (Chan, Golub & LeVeque): the first-pass mean μ₀ carries a rounding error, which is
    measured as the mean δ of ``x - μ₀`` and removed, ``v = mean((x - μ₀)²) - δ²``,
    ``μ = μ₀ + δ``; one cheap extra channel sum that keeps float32 results as accurate
    as PyTorch's (double-accumulated) ones for inputs far from zero.

    ``γ/σ`` is folded into one per-channel scale and δ into the shift, so the output
    costs two passes over memory: ``y = (x - μ₀)·(γ/σ)``, then ``y += β - δγ/σ``. The
    normalised ``x̂`` itself is never stored: the backward uses the centred values and
    folds 1/σ and δ into per-channel coefficients instead.

    **Blocks of channels.** Every channel is normalised on its own, so the six passes
    run block by block of channels (:func:`refnet._parallel.for_blocks`). When the
    channels are outermost in memory, as in a refnet convolution's output, a block is one
    contiguous ~1 MiB that stays in cache from the first pass to the last, and with
    ``refnet.set_num_threads(2)`` the blocks run on two threads (see
    :mod:`refnet._parallel` for when that pays).
    """
    C = x.shape[1]
    y, centered = np.empty_like(x), np.empty_like(x)
    residual, mean, var, invstd = (np.empty(C, dtype=x.dtype) for _ in range(4))

    def block(cs: slice) -> None:
        outputs = (residual[cs], mean[cs], var[cs], invstd[cs])
        _train_block(
            x[:, cs], _part(weight, cs), _part(bias, cs), eps, y[:, cs], centered[:, cs], outputs
        )

    for_blocks(block, x, axis=1, cache_blocks=True)
    return y, BatchStats(centered, residual, mean, var, invstd)


def _part(v: Array | None, cs: slice) -> Array | None:
    return None if v is None else v[cs]


def _train_block(
    x: Array,
    weight: Array | None,
    bias: Array | None,
    eps: float,
    y: Array,
    centered: Array,
    stats: tuple[Array, Array, Array, Array],
) -> None:
    """:func:`batch_norm_train` on one block of channels, into ``y``, ``centered`` and
    ``stats`` (residual, mean, var, invstd)."""
    M = x.shape[0] * x.shape[2]
    first_mean = channel_sum(x) / M
    np.subtract(x, _column(first_mean), out=centered)
    residual = channel_sum(centered) / M
    # Never negative in exact arithmetic (Cauchy-Schwarz); clamp the rounding of a
    # constant channel.
    var = np.maximum(channel_dot(centered, centered) / M - residual * residual, 0.0)
    invstd = 1.0 / np.sqrt(var + eps)
    scale = invstd if weight is None else invstd * weight
    shift = -residual * scale if bias is None else bias - residual * scale
    np.multiply(centered, _column(scale), out=y)
    y += _column(shift)
    for out, value in zip(stats, (residual, first_mean + residual, var, invstd), strict=True):
        out[...] = value


def batch_norm_train_backward(
    grad_output: Array, stats: BatchStats, weight: Array | None
) -> tuple[Array, Array, Array]:
    """``(∂L/∂x, ∂L/∂γ, ∂L/∂β)`` for :func:`batch_norm_train`; arrays ``(N, C, L)``.

    With G = ∂L/∂y, ĝ = γG and x̂ = (x - μ)/σ, the module docstring's formula reads,
    per channel,

        ∂L/∂x = (γ/σ) (G - mean(G) - x̂ · mean(G · x̂)).

    The two channel sums it needs are also the parameter gradients: ``∂L/∂β = Σ G`` and
    ``∂L/∂γ = Σ G x̂``. With the cached ``x - μ = c - δ`` (c = ``stats.centered``, δ =
    ``stats.residual``), ``Σ G x̂ = (Σ G c - δ Σ G)/σ`` and, per channel,

        ∂L/∂x = k (G - b - p c),   k = γ/σ,   p = mean(G · x̂)/σ,
                                   b = mean(G) - mean(G · x̂)·δ/σ:

    four in-place passes over one new array (``-p c``, ``+ G``, ``- b``, ``· k``), with
    no temporary of the input's size (one pass fewer than forming ``p c`` separately). Like
    the forward, it runs block by block of channels.
    """
    C = grad_output.shape[1]
    grad_input = np.empty_like(grad_output)
    grad_weight, grad_bias = np.empty(C, dtype=grad_output.dtype), np.empty(C, grad_output.dtype)

    def block(cs: slice) -> None:
        gw, gb = _train_backward_block(
            grad_output[:, cs],
            stats.centered[:, cs],
            stats.residual[cs],
            stats.invstd[cs],
            _part(weight, cs),
            grad_input[:, cs],
        )
        grad_weight[cs], grad_bias[cs] = gw, gb

    for_blocks(block, grad_output, axis=1, cache_blocks=True)
    return grad_input, grad_weight, grad_bias


def _train_backward_block(
    grad_output: Array,
    centered: Array,
    residual: Array,
    invstd: Array,
    weight: Array | None,
    grad_input: Array,
) -> tuple[Array, Array]:
    """:func:`batch_norm_train_backward` on one block of channels, into ``grad_input``;
    returns ``(∂L/∂γ, ∂L/∂β)`` of the block."""
    M = grad_output.shape[0] * grad_output.shape[2]
    grad_bias = channel_sum(grad_output)
    grad_weight = (channel_dot(grad_output, centered) - residual * grad_bias) * invstd
    k = invstd if weight is None else invstd * weight
    projection = grad_weight / M  # mean(G · x̂)
    np.multiply(centered, _column(-projection * invstd), out=grad_input)
    grad_input += grad_output
    grad_input -= _column(grad_bias / M - projection * residual * invstd)
    grad_input *= _column(k)
    return grad_weight, grad_bias


def batch_norm_eval(
    x: Array, mean: Array, invstd: Array, weight: Array | None, bias: Array | None
) -> Array:
    """Batch norm with given statistics (evaluation mode): ``y = (x - μ)(γ/σ) + β``.

    ``x`` is ``(N, C, L)``; ``mean`` and ``invstd`` are the running statistics' μ and
    ``1/√(v + ε)``, shape ``(C,)``. Computed as one scale and one shift,
    ``y = x·(γ/σ) + (β - μγ/σ)``, as PyTorch does.
    """
    scale = invstd if weight is None else invstd * weight
    shift = -mean * scale if bias is None else bias - mean * scale
    y = np.multiply(x, _column(scale))
    y += _column(shift)
    return y


def batch_norm_eval_backward(
    grad_output: Array, x: Array, mean: Array, invstd: Array, weight: Array | None
) -> tuple[Array, Array, Array]:
    """``(∂L/∂x, ∂L/∂γ, ∂L/∂β)`` for :func:`batch_norm_eval`.

    μ and σ are constants here, so the map is affine per channel: ``∂L/∂x = G γ/σ``,
    ``∂L/∂γ = Σ G x̂`` with ``x̂ = (x - μ)/σ``, ``∂L/∂β = Σ G``.
    """
    k = invstd if weight is None else invstd * weight
    grad_input = np.multiply(grad_output, _column(k))
    centered = np.subtract(x, _column(mean))
    grad_weight = channel_dot(grad_output, centered) * invstd
    return grad_input, grad_weight, channel_sum(grad_output)


def _row_mean(x: Array) -> Array:
    """The mean of each row of ``(R, D)`` as ``(R, 1)`` (einsum: faster than ``np.mean``)."""
    return np.einsum("rd->r", x)[:, None] / x.shape[1]


def normalize_rows(x: Array, eps: float) -> tuple[Array, Array]:
    """Normalise each row of ``x`` ``(R, D)``: returns ``x̂`` ``(R, D)`` and ``1/σ`` ``(R, 1)``.

    The group of layer norm and group norm: μ and the biased v over the ``D`` numbers of
    a row, ``x̂ = (x - μ)/√(v + ε)``. Two passes (centre, then square), no cancellation.
    """
    D = x.shape[1]
    xhat = np.subtract(x, _row_mean(x))
    var = np.einsum("rd,rd->r", xhat, xhat)[:, None] / D
    invstd = 1.0 / np.sqrt(var + eps)
    xhat *= invstd
    return xhat, invstd


def normalize_rows_backward(grad_xhat: Array, xhat: Array, invstd: Array) -> Array:
    """``∂L/∂x`` for :func:`normalize_rows` given ``ĝ = ∂L/∂x̂``, all ``(R, D)``.

    ``∂L/∂x = (1/σ)(ĝ - mean(ĝ) - x̂ · mean(ĝ · x̂))``, means along each row (the
    derivation is in this module's docstring).
    """
    D = xhat.shape[1]
    projection = np.einsum("rd,rd->r", grad_xhat, xhat)[:, None] / D
    grad_input = np.subtract(grad_xhat, _row_mean(grad_xhat))
    grad_input -= xhat * projection
    grad_input *= invstd
    return grad_input


def layer_norm(
    x: Array, weight: Array | None, bias: Array | None, eps: float
) -> tuple[Array, Array, Array]:
    """Layer norm of ``x`` viewed as ``(R, D)``, D the normalised size; ``γ, β`` are ``(D,)``.

    Returns ``(y, x̂, 1/σ)``: the output ``(R, D)``, the normalised input and ``(R, 1)``.
    """
    xhat, invstd = normalize_rows(x, eps)
    y = xhat.copy() if weight is None else xhat * weight
    if bias is not None:
        y += bias
    return y, xhat, invstd


def layer_norm_backward(
    grad_output: Array, xhat: Array, invstd: Array, weight: Array | None
) -> tuple[Array, Array, Array]:
    """``(∂L/∂x, ∂L/∂γ, ∂L/∂β)`` for :func:`layer_norm`: ĝ = Gγ, ``∂L/∂γ = Σ_r G x̂``."""
    grad_weight = np.einsum("rd,rd->d", grad_output, xhat)
    grad_bias = np.einsum("rd->d", grad_output)
    grad_xhat = grad_output if weight is None else grad_output * weight
    return normalize_rows_backward(grad_xhat, xhat, invstd), grad_weight, grad_bias


def group_norm(
    x: Array, num_groups: int, weight: Array | None, bias: Array | None, eps: float
) -> tuple[Array, Array, Array]:
    """Group norm of ``x`` ``(N, C, L)``: each sample's C channels in ``num_groups`` blocks.

    A group is ``C/num_groups`` consecutive channels of one sample (all L positions), so
    ``x`` is normalised as rows of ``(N·num_groups, C/num_groups·L)``; γ, β are per
    channel ``(C,)``. Returns ``(y, x̂, 1/σ)``: ``y`` and ``x̂`` as ``(N, C, L)``, 1/σ as
    ``(N·num_groups, 1)``.
    """
    N, C, L = x.shape
    xhat, invstd = normalize_rows(x.reshape(N * num_groups, -1), eps)
    xhat = xhat.reshape(N, C, L)
    y = xhat.copy() if weight is None else xhat * _column(weight)
    if bias is not None:
        y += _column(bias)
    return y, xhat, invstd


def group_norm_backward(
    grad_output: Array, xhat: Array, invstd: Array, num_groups: int, weight: Array | None
) -> tuple[Array, Array, Array]:
    """``(∂L/∂x, ∂L/∂γ, ∂L/∂β)`` for :func:`group_norm`, all ``(N, C, L)`` / ``(C,)``.

    ĝ = G γ_c per channel; the row backward of :func:`normalize_rows_backward` runs on
    the ``(N·num_groups, C/num_groups·L)`` view; ``∂L/∂γ_c = Σ_{n,l} G x̂``.
    """
    N, C, L = grad_output.shape
    grad_weight = channel_dot(grad_output, xhat)
    grad_bias = channel_sum(grad_output)
    grad_xhat = grad_output if weight is None else grad_output * _column(weight)
    rows = (N * num_groups, -1)
    grad_input = normalize_rows_backward(grad_xhat.reshape(rows), xhat.reshape(rows), invstd)
    return grad_input.reshape(N, C, L), grad_weight, grad_bias


def rms_norm(x: Array, weight: Array | None, eps: float) -> tuple[Array, Array, Array]:
    """RMS norm of the rows of ``x`` ``(R, D)``: ``y = γ · x / √(mean(x²) + ε)``, γ ``(D,)``.

    No centring and no bias: each row is divided by its root mean square. Returns
    ``(y, x̂, 1/rms)``: the output ``(R, D)``, ``x̂ = x/rms`` and ``(R, 1)``.
    """
    D = x.shape[1]
    mean_square = np.einsum("rd,rd->r", x, x)[:, None] / D
    invrms = 1.0 / np.sqrt(mean_square + eps)
    xhat = x * invrms
    y = xhat.copy() if weight is None else xhat * weight
    return y, xhat, invrms


def rms_norm_backward(
    grad_output: Array, xhat: Array, invrms: Array, weight: Array | None
) -> tuple[Array, Array]:
    """``(∂L/∂x, ∂L/∂γ)`` for :func:`rms_norm`, ``(R, D)`` and ``(D,)``.

    With ``r = 1/√(mean(x²) + ε)`` and ``x̂ = x r``: ``∂r/∂x_i = -r³ x_i / D``, so

        ∂x̂_j/∂x_i = r δ_ij - x_j r³ x_i / D = r (δ_ij - x̂_j x̂_i / D),

    and with ĝ = γ ∂L/∂y, ``∂L/∂x = r (ĝ - x̂ · mean(ĝ · x̂))``: layer norm's backward
    without the ``- mean(ĝ)`` term (no centring to undo). ``∂L/∂γ = Σ_r ∂L/∂y · x̂``.
    """
    D = xhat.shape[1]
    grad_weight = np.einsum("rd,rd->d", grad_output, xhat)
    grad_xhat = grad_output if weight is None else grad_output * weight
    projection = np.einsum("rd,rd->r", grad_xhat, xhat)[:, None] / D
    grad_input = xhat * projection
    np.subtract(grad_xhat, grad_input, out=grad_input)
    grad_input *= invrms
    return grad_input, grad_weight


# ---------------------------------------------------------------------- instance norm


def instance_norm_update(
    running_mean: Array | None,
    running_var: Array | None,
    x3: Array,
    momentum: float,
) -> None:
    """Move running statistics (C,) toward an (N, C, L) input's, in place, as PyTorch's
    ``instance_norm`` does: every sample's statistics update a copy of the running ones
    and the copies are averaged, so

        running_mean ← (1 - m) running_mean + m · mean_n μ_{n,c},
        running_var  ← (1 - m) running_var  + m · mean_n v_{n,c} · L/(L - 1)

    (the unbiased variance of each instance, as batch norm's running variance)."""
    L = x3.shape[2]
    if running_mean is not None:
        running_mean *= 1.0 - momentum
        running_mean += momentum * x3.mean(axis=(0, 2))
    if running_var is not None:
        running_var *= 1.0 - momentum
        running_var += (momentum * L / (L - 1)) * x3.var(axis=2).mean(axis=0)


def _instance_checked(input: Array, weight: Array | None, use_input_stats: bool) -> Array:
    x = np.asarray(input)
    if x.ndim < 3:
        raise ValueError(f"instance_norm: expected an (N, C, *) input, got shape {x.shape}")
    x3 = x.reshape(x.shape[0], x.shape[1], -1)
    if use_input_stats and x3.shape[2] <= 1:
        raise ValueError(
            "instance_norm: expected more than 1 spatial element when training, "
            f"got input of shape {x.shape}"
        )
    if weight is not None and weight.shape != (x.shape[1],):
        raise ValueError(
            f"instance_norm: weight of shape {weight.shape} for input of shape {x.shape}"
        )
    return x3


def instance_norm(
    input: Array,
    running_mean: Array | None = None,
    running_var: Array | None = None,
    weight: Array | None = None,
    bias: Array | None = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Array:
    """PyTorch's ``F.instance_norm``: each (sample, channel) of ``input`` (N, C, *)
    normalised over its positions, ``y = γ_c (x - μ_{n,c}) / σ_{n,c} + β_c``.

    With ``use_input_stats`` the instance's own statistics are used (group norm with one
    channel per group, :func:`group_norm`) and given running statistics are updated in
    place (:func:`instance_norm_update`); without, the running ones normalise every
    instance (:func:`batch_norm_eval`)."""
    x3 = _instance_checked(input, weight, use_input_stats)
    if use_input_stats:
        y, _, _ = group_norm(x3, x3.shape[1], weight, bias, eps)
        instance_norm_update(running_mean, running_var, x3, momentum)
    else:
        if running_mean is None or running_var is None:
            raise ValueError("instance_norm: use_input_stats=False needs running statistics")
        invstd = 1.0 / np.sqrt(running_var + eps)
        y = batch_norm_eval(x3, running_mean, invstd, weight, bias)
    return y.reshape(np.shape(input))


def instance_norm_backward(
    grad: Array,
    input: Array,
    running_mean: Array | None = None,
    running_var: Array | None = None,
    weight: Array | None = None,
    bias: Array | None = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> tuple[Array, Array | None, Array | None]:
    """``(∂input, ∂weight, ∂bias)`` of :func:`instance_norm` (``None`` for an absent
    weight or bias); the running statistics are read, never updated.

    With the instance's statistics this is group norm's backward, per (n, c):
    ``∂L/∂x = (1/σ)(ĝ - mean(ĝ) - x̂ · mean(ĝ x̂))``, ĝ = γ_c G; with the running ones the
    map is affine and ``∂L/∂x = G γ_c / σ_c``."""
    x3 = _instance_checked(input, weight, use_input_stats)
    g3 = np.asarray(grad).reshape(x3.shape)
    if use_input_stats:
        _, xhat, invstd = group_norm(x3, x3.shape[1], weight, bias, eps)
        dx, dw, db = group_norm_backward(g3, xhat, invstd, x3.shape[1], weight)
    else:
        if running_mean is None or running_var is None:
            raise ValueError("instance_norm: use_input_stats=False needs running statistics")
        invstd = 1.0 / np.sqrt(running_var + eps)
        dx, dw, db = batch_norm_eval_backward(g3, x3, running_mean, invstd, weight)
    return (
        dx.reshape(np.shape(input)),
        None if weight is None else dw,
        None if bias is None else db,
    )


# ---------------------------------------------------------------------- local response norm
#
# LRN (AlexNet) divides each element by a power of the energy of its neighbouring
# channels: with n = size, the window of channel c is [c - ⌊n/2⌋, c + ⌊(n-1)/2⌋] (clipped
# to the channels; missing channels count as zeros, but the divisor stays n),
#
#     s_c = k + (α/n) Σ_{c' ∈ window(c)} x_{c'}²,      y_c = x_c · s_c^{-β}.
#
# Backward. x_j enters y_j directly and every s_c whose window holds j
# (∂s_c/∂x_j = 2α x_j / n), so with G = ∂L/∂y
#
#     ∂L/∂x_j = G_j s_j^{-β} - (2αβ/n) · x_j · Σ_{c: j ∈ window(c)} G_c x_c s_c^{-β-1},
#
# and j ∈ window(c) exactly when c ∈ [j - ⌊(n-1)/2⌋, j + ⌊n/2⌋]: the same window sum with
# its two sides swapped.


def _channel_window_sum(a: Array, before: int, after: int) -> Array:
    """``Σ_{d=-before}^{after} a[:, c + d]`` along axis 1 (zero outside): a loop over the
    ``before + after + 1`` offsets, each one shifted slice."""
    total = np.zeros_like(a)
    channels = a.shape[1]
    for d in range(-before, after + 1):
        lo, hi = max(0, -d), min(channels, channels - d)
        if hi > lo:
            total[:, lo:hi] += a[:, lo + d : hi + d]
    return total


def _lrn_checked(input: Array, size: int, owner: str) -> Array:
    x = np.asarray(input)
    if x.ndim < 3:
        raise ValueError(f"{owner}: expected a 3-d or higher (N, C, *) input, got shape {x.shape}")
    if not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"{owner}: size must be a positive int, got {size!r}")
    return x


def local_response_norm_forward(
    x: Array, size: int, alpha: float, beta: float, k: float
) -> tuple[Array, Array]:
    """``(y, s)`` for (N, C, *) ``x``: the output and the scale ``s`` (kept for the backward)."""
    s = _channel_window_sum(x * x, size // 2, (size - 1) // 2)
    s *= alpha / size
    s += k
    return x * s**-beta, s


def local_response_norm_gradient(
    grad: Array, x: Array, s: Array, size: int, alpha: float, beta: float
) -> Array:
    """∂L/∂x of :func:`local_response_norm_forward` (the derivation is above)."""
    inner = _channel_window_sum(grad * x * s ** (-beta - 1), (size - 1) // 2, size // 2)
    return grad * s**-beta - (2 * alpha * beta / size) * x * inner


def local_response_norm(
    input: Array, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0
) -> Array:
    """PyTorch's ``F.local_response_norm`` over the channels of (N, C, *) ``input``."""
    x = _lrn_checked(input, size, "local_response_norm")
    return local_response_norm_forward(x, size, alpha, beta, k)[0]


def local_response_norm_backward(
    grad: Array,
    input: Array,
    size: int,
    alpha: float = 1e-4,
    beta: float = 0.75,
    k: float = 1.0,
) -> Array:
    """∂L/∂input of :func:`local_response_norm` from ``grad = ∂L/∂output``."""
    x = _lrn_checked(input, size, "local_response_norm_backward")
    _, s = local_response_norm_forward(x, size, alpha, beta, k)
    return local_response_norm_gradient(np.asarray(grad), x, s, size, alpha, beta)


def local_response_norm_reference(
    x: Array, size: int, alpha: float, beta: float, k: float
) -> Array:
    """:func:`local_response_norm` channel by channel, the window summed as written."""
    y = np.empty_like(x)
    C = x.shape[1]
    for c in range(C):
        window = slice(max(0, c - size // 2), min(C, c + (size - 1) // 2 + 1))
        s = k + alpha / size * (x[:, window] ** 2).sum(axis=1)
        y[:, c] = x[:, c] * s**-beta
    return y


def local_response_norm_backward_reference(
    grad: Array, x: Array, size: int, alpha: float, beta: float, k: float
) -> Array:
    """The backward by the chain rule, output channel by output channel: ``y_c`` sends
    ``G_c s_c^{-β}`` to ``x_c`` and ``-β G_c x_c s_c^{-β-1} · 2α x_j / n`` to every ``x_j``
    of its window."""
    dx = np.zeros_like(x)
    C = x.shape[1]
    for c in range(C):
        window = slice(max(0, c - size // 2), min(C, c + (size - 1) // 2 + 1))
        s = k + alpha / size * (x[:, window] ** 2).sum(axis=1)
        dx[:, c] += grad[:, c] * s**-beta
        ds = -beta * grad[:, c] * x[:, c] * s ** (-beta - 1)
        dx[:, window] += (ds * 2 * alpha / size)[:, None] * x[:, window]
    return dx
