"""Normalisation layers: BatchNorm1d/2d/3d, LayerNorm, GroupNorm, RMSNorm, InstanceNorm1d/2d/3d
and LocalResponseNorm.

Each normalises groups of numbers to zero mean and unit variance, ``x̂ = (x - μ)/σ``
with ``σ = √(v + ε)`` and v the *biased* variance, then applies a learned affine map
``y = γ x̂ + β``. The kernels and the derivation of the backward,

    ∂L/∂x = (1/σ) (ĝ - mean(ĝ) - x̂ · mean(ĝ · x̂)),   ĝ = γ ∂L/∂y,

live in :mod:`refnet.nn.functional.normalization`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from refnet._typing import Array, Seed
from refnet.nn import functional as F
from refnet.nn._validation import float_input, matching_dtype, same_shape_gradient, shape_error
from refnet.nn.functional import normalization as FN
from refnet.nn.module import Module
from refnet.nn.parameter import Parameter


def _affine_parameters(
    module: Module, shape: tuple[int, ...], affine: bool, bias: bool, dtype: npt.DTypeLike
) -> None:
    """Register ``weight`` (ones) and ``bias`` (zeros), or ``None``, as PyTorch does."""
    if affine:
        module.weight = Parameter(np.ones(shape, dtype=dtype))
        if bias:
            module.bias = Parameter(np.zeros(shape, dtype=dtype))
        else:
            module.register_parameter("bias", None)
    else:
        module.register_parameter("weight", None)
        module.register_parameter("bias", None)


def _data(param: Parameter | None) -> Array | None:
    return None if param is None else param.data


class _BatchNorm(Module):
    """Batch normalisation over ``(N, C, *)``: statistics per channel over N and positions.

    Training mode: μ and v are the mean and the biased variance of each channel over the
    batch and all positions (``M = N·L`` numbers), and the running statistics move toward
    them (when ``track_running_stats``):

        running_mean ← (1 - m) running_mean + m μ
        running_var  ← (1 - m) running_var  + m v·M/(M - 1)

    The running variance takes the *unbiased* batch variance while the normalisation uses
    the biased one, as in PyTorch. ``momentum=None`` makes m = 1/t after t batches
    (``num_batches_tracked``): the running statistics are then the plain average over all
    batches seen.

    Evaluation mode normalises with the running statistics, so the layer is a fixed
    affine map per channel. Without ``track_running_stats`` there are no running
    statistics and the batch's own are used in both modes.

    Backward (derived in :mod:`refnet.nn.functional.normalization`): in training mode x
    reaches the output also through μ and v, which gives, per channel with G = ∂L/∂y,

        ∂L/∂x = (γ/σ) (G - mean(G) - x̂ · mean(G · x̂)),
        ∂L/∂γ = Σ G x̂,   ∂L/∂β = Σ G;

    in evaluation mode μ and σ are constants and ``∂L/∂x = G γ/σ``.

    Caches, in training mode, the centred input (one array of the input's size; x̂ itself
    is not stored) and per-channel ``1/σ`` and mean correction (see
    :func:`refnet.nn.functional.batch_norm_train`); in evaluation mode a reference to the
    input and the running μ and 1/σ.
    """

    _expected = "(N, C, *)"

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        dtype: npt.DTypeLike = np.float32,
        generator: Seed = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if num_features < 1:
            raise ValueError(f"{name}: num_features must be positive, got {num_features}")
        if eps < 0:
            raise ValueError(f"{name}: eps must be non-negative, got {eps}")
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        self.weight: Parameter | None
        self.bias: Parameter | None
        _affine_parameters(self, (num_features,), affine, bias, dtype)
        self.running_mean: Array | None
        self.running_var: Array | None
        self.num_batches_tracked: Array | None
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", np.ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self._shape: tuple[int, ...] | None = None
        self._stats: F.BatchStats | None = None
        self._eval_cache: tuple[Array, Array, Array] | None = None

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches seen."""
        if self.running_mean is not None:
            self.running_mean[...] = 0
        if self.running_var is not None:
            self.running_var[...] = 1
        if self.num_batches_tracked is not None:
            self.num_batches_tracked[...] = 0

    def reset_parameters(self) -> None:
        """PyTorch's initialisation: γ = 1, β = 0, fresh running statistics."""
        self.reset_running_stats()
        if self.weight is not None:
            self.weight.data[...] = 1
        if self.bias is not None:
            self.bias.data[...] = 0

    def _check_input(self, x: object) -> Array:
        x = float_input(self, x)
        if not self._valid_ndim(x.ndim) or x.shape[1] != self.num_features:
            raise shape_error(self, self._expected.replace("C", str(self.num_features)), x)
        for state in (_data(self.weight), self.running_mean):
            if state is not None:
                matching_dtype(self, x, state.dtype)
                break
        return x

    def _valid_ndim(self, ndim: int) -> bool:
        return ndim >= 2

    def forward(self, x: Array) -> Array:
        x = self._check_input(x)
        weight, bias = _data(self.weight), _data(self.bias)
        self._shape, self._stats, self._eval_cache = x.shape, None, None
        if x.size == 0:  # as PyTorch: an empty batch passes through, and counts as a batch
            if self.training and self.num_batches_tracked is not None:
                self.num_batches_tracked += 1
            return x.copy()
        x3 = x.reshape(x.shape[0], self.num_features, -1)
        if self.training or self.running_mean is None or self.running_var is None:
            M = x3.shape[0] * x3.shape[2]
            if M <= 1:
                raise ValueError(
                    f"{self.describe()}: expected more than 1 value per channel when training, "
                    f"got input of shape {tuple(x.shape)}"
                )
            if self.eps <= 0:
                raise ValueError(f"{self.describe()}: eps must be positive when training")
            y, self._stats = F.batch_norm_train(x3, weight, bias, self.eps)
            if self.training and self.track_running_stats:
                self._update_running_stats(self._stats, M)
        else:
            mean = self.running_mean.copy()
            invstd = 1.0 / np.sqrt(self.running_var + self.eps)
            y = F.batch_norm_eval(x3, mean, invstd, weight, bias)
            self._eval_cache = (x3, mean, invstd)
        return y.reshape(x.shape)

    def _update_running_stats(self, stats: F.BatchStats, M: int) -> None:
        """Move the running statistics toward the batch's, in place (see the class docs)."""
        if self.running_mean is None or self.running_var is None:
            return
        factor = self.momentum
        if self.num_batches_tracked is not None:
            self.num_batches_tracked += 1
            if self.momentum is None:  # a cumulative average: the t-th batch weighs 1/t
                factor = 1.0 / int(self.num_batches_tracked)
        if factor is None:  # momentum=None and no count (set to None): torch's factor 0
            return
        self.running_mean *= 1.0 - factor
        self.running_mean += factor * stats.mean
        self.running_var *= 1.0 - factor
        self.running_var += (factor * M / (M - 1)) * stats.var

    def backward(self, grad_output: Array) -> Array:
        g = same_shape_gradient(self, grad_output, self._saved(self._shape))
        if g.size == 0:
            return np.zeros_like(g)
        weight = _data(self.weight)
        if self._stats is not None:
            stats = self._stats
            grad3, grad_weight, grad_bias = F.batch_norm_train_backward(
                g.reshape(stats.centered.shape), stats, weight
            )
        else:
            x3, mean, invstd = self._saved(self._eval_cache)
            grad3, grad_weight, grad_bias = F.batch_norm_eval_backward(
                g.reshape(x3.shape), x3, mean, invstd, weight
            )
        if self.weight is not None:
            self.weight.grad += grad_weight
        if self.bias is not None:
            self.bias.grad += grad_bias
        return grad3.reshape(grad_output.shape)

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self.bias is not None}, "
            f"track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of ``(N, C)`` or ``(N, C, L)`` input (PyTorch: ``nn.BatchNorm1d``).

    Statistics per channel over the batch (and the L positions). See :class:`_BatchNorm`
    for the running statistics, the modes and the backward.
    """

    _expected = "(N, C) or (N, C, L)"

    def _valid_ndim(self, ndim: int) -> bool:
        return ndim in (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of ``(N, C, H, W)`` input (PyTorch: ``nn.BatchNorm2d``).

    Statistics per channel over the batch and all H·W positions. See :class:`_BatchNorm`
    for the running statistics, the modes and the backward.
    """

    _expected = "(N, C, H, W)"

    def _valid_ndim(self, ndim: int) -> bool:
        return ndim == 4


def _normalized_shape(value: int | Sequence[int], who: str) -> tuple[int, ...]:
    """``normalized_shape`` as a tuple of positive sizes (an int is one trailing axis)."""
    shape = (value,) if isinstance(value, (int, np.integer)) else value
    sizes = tuple(int(d) for d in shape)
    if any(d < 1 for d in sizes):
        raise ValueError(f"{who}: normalized_shape must have positive sizes, got {value}")
    return sizes


class LayerNorm(Module):
    """Normalise each sample over its trailing ``normalized_shape`` dimensions.

    PyTorch: ``nn.LayerNorm(normalized_shape, eps=1e-5, elementwise_affine=True,
    bias=True)``. For input ``(*, D_1, ..., D_k)`` with ``normalized_shape = (D_1, ...,
    D_k)``, each of the leading positions is normalised over its ``D = D_1···D_k`` numbers,
    and γ, β have shape ``normalized_shape`` (one per normalised element). The same in
    training and evaluation: no running statistics.

    Backward, per sample (derived in :mod:`refnet.nn.functional.normalization`), with
    ĝ = γ ∂L/∂y: ``∂L/∂x = (1/σ)(ĝ - mean(ĝ) - x̂ · mean(ĝ · x̂))``; ``∂L/∂γ = Σ ∂L/∂y · x̂``
    and ``∂L/∂β = Σ ∂L/∂y`` over the leading positions.

    Caches x̂ (the input's size) and 1/σ per sample.
    """

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        dtype: npt.DTypeLike = np.float32,
        generator: Seed = None,
    ) -> None:
        super().__init__()
        self.normalized_shape = _normalized_shape(normalized_shape, "LayerNorm")
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        self.weight: Parameter | None
        self.bias: Parameter | None
        _affine_parameters(self, self.normalized_shape, elementwise_affine, bias, dtype)
        self._cache: tuple[Array, Array] | None = None

    def reset_parameters(self) -> None:
        """γ = 1, β = 0."""
        if self.weight is not None:
            self.weight.data[...] = 1
        if self.bias is not None:
            self.bias.data[...] = 0

    def forward(self, x: Array) -> Array:
        x = float_input(self, x)
        k = len(self.normalized_shape)
        if x.ndim < k or tuple(x.shape[x.ndim - k :]) != self.normalized_shape:
            dims = ", ".join(str(d) for d in self.normalized_shape)
            raise shape_error(self, f"(*, {dims})", x)
        if self.weight is not None:
            matching_dtype(self, x, self.weight.dtype)
        D = int(np.prod(self.normalized_shape))
        weight, bias = _data(self.weight), _data(self.bias)
        y, xhat, invstd = F.layer_norm(
            x.reshape(-1, D),
            None if weight is None else weight.reshape(D),
            None if bias is None else bias.reshape(D),
            self.eps,
        )
        self._cache = (xhat.reshape(x.shape), invstd)
        return y.reshape(x.shape)

    def backward(self, grad_output: Array) -> Array:
        xhat, invstd = self._saved(self._cache)
        g = same_shape_gradient(self, grad_output, xhat.shape)
        D = int(np.prod(self.normalized_shape))
        weight = _data(self.weight)
        grad_input, grad_weight, grad_bias = F.layer_norm_backward(
            g.reshape(-1, D),
            xhat.reshape(-1, D),
            invstd,
            None if weight is None else weight.reshape(D),
        )
        if self.weight is not None:
            self.weight.grad += grad_weight.reshape(self.normalized_shape)
        if self.bias is not None:
            self.bias.grad += grad_bias.reshape(self.normalized_shape)
        return grad_input.reshape(xhat.shape)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, "
            f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}"
        )


class GroupNorm(Module):
    """Normalise each sample over blocks of channels (PyTorch: ``nn.GroupNorm``).

    ``GroupNorm(num_groups, num_channels)`` on input ``(N, C, *)`` with ``C =
    num_channels``: the channels of each sample are split into ``num_groups`` blocks of
    ``C/num_groups`` consecutive channels, and each block (with all its positions) is
    normalised on its own. γ and β are per channel ``(C,)``. ``num_groups = 1`` is layer
    norm over ``(C, *)`` with per-channel affine; ``num_groups = C`` is instance norm. The
    same in training and evaluation.

    Backward, per group (derived in :mod:`refnet.nn.functional.normalization`), with
    ĝ = γ_c ∂L/∂y: ``∂L/∂x = (1/σ)(ĝ - mean(ĝ) - x̂ · mean(ĝ · x̂))``; ``∂L/∂γ_c`` and
    ``∂L/∂β_c`` sum ``∂L/∂y · x̂`` and ``∂L/∂y`` over the batch and positions.

    Caches x̂ (the input's size) and 1/σ per (sample, group).
    """

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        dtype: npt.DTypeLike = np.float32,
        generator: Seed = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if num_groups < 1 or num_channels < 1:
            raise ValueError(
                f"GroupNorm: num_groups and num_channels must be positive, "
                f"got ({num_groups}, {num_channels})"
            )
        if num_channels % num_groups != 0:
            raise ValueError(
                f"GroupNorm: num_channels ({num_channels}) must be divisible by "
                f"num_groups ({num_groups})"
            )
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        self.weight: Parameter | None
        self.bias: Parameter | None
        _affine_parameters(self, (num_channels,), affine, bias, dtype)
        self._shape: tuple[int, ...] | None = None
        self._cache: tuple[Array, Array] | None = None

    def reset_parameters(self) -> None:
        """γ = 1, β = 0."""
        if self.weight is not None:
            self.weight.data[...] = 1
        if self.bias is not None:
            self.bias.data[...] = 0

    def forward(self, x: Array) -> Array:
        x = float_input(self, x)
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise shape_error(self, f"(N, {self.num_channels}, *)", x)
        if self.weight is not None:
            matching_dtype(self, x, self.weight.dtype)
        self._shape, self._cache = x.shape, None
        if x.size == 0:  # as PyTorch: an empty batch passes through
            return x.copy()
        x3 = x.reshape(x.shape[0], self.num_channels, -1)
        if x3.size == self.num_groups:
            # PyTorch's check: one sample whose groups hold one number each.
            raise ValueError(
                f"{self.describe()}: expected more than 1 value per group, "
                f"got input of shape {tuple(x.shape)}"
            )
        y, xhat, invstd = F.group_norm(
            x3, self.num_groups, _data(self.weight), _data(self.bias), self.eps
        )
        self._shape, self._cache = x.shape, (xhat, invstd)
        return y.reshape(x.shape)

    def backward(self, grad_output: Array) -> Array:
        g = same_shape_gradient(self, grad_output, self._saved(self._shape))
        if g.size == 0:
            return np.zeros_like(g)
        xhat, invstd = self._saved(self._cache)
        grad3, grad_weight, grad_bias = F.group_norm_backward(
            g.reshape(xhat.shape), xhat, invstd, self.num_groups, _data(self.weight)
        )
        if self.weight is not None:
            self.weight.grad += grad_weight
        if self.bias is not None:
            self.bias.grad += grad_bias
        return grad3.reshape(grad_output.shape)

    def extra_repr(self) -> str:
        return (
            f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
            f"bias={self.bias is not None}"
        )


class RMSNorm(Module):
    """Divide each sample by its root mean square over the trailing ``normalized_shape``.

    PyTorch: ``nn.RMSNorm(normalized_shape, eps=None, elementwise_affine=True)``. For input
    ``(*, D_1, ..., D_k)``: ``y = γ · x / √(mean(x²) + ε)``, the mean over the
    ``D = D_1···D_k`` trailing numbers, γ of shape ``normalized_shape`` (ones); no centring
    and no bias. ``eps=None`` means the machine epsilon of the input's dtype
    (``torch.finfo(dtype).eps``: 1.19e-7 for float32, 2.2e-16 for float64).

    Backward (derived in :func:`refnet.nn.functional.rms_norm_backward`), with
    ĝ = γ ∂L/∂y and r = 1/rms: ``∂L/∂x = r (ĝ - x̂ · mean(ĝ · x̂))``, ``∂L/∂γ = Σ ∂L/∂y · x̂``.

    Caches x̂ (the input's size) and 1/rms per sample.
    """

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float | None = None,
        elementwise_affine: bool = True,
        dtype: npt.DTypeLike = np.float32,
        generator: Seed = None,
    ) -> None:
        super().__init__()
        self.normalized_shape = _normalized_shape(normalized_shape, "RMSNorm")
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        self.weight: Parameter | None
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype=dtype))
        else:
            self.register_parameter("weight", None)
        self._cache: tuple[Array, Array] | None = None

    def reset_parameters(self) -> None:
        """γ = 1."""
        if self.weight is not None:
            self.weight.data[...] = 1

    def forward(self, x: Array) -> Array:
        x = float_input(self, x)
        k = len(self.normalized_shape)
        if x.ndim < k or tuple(x.shape[x.ndim - k :]) != self.normalized_shape:
            dims = ", ".join(str(d) for d in self.normalized_shape)
            raise shape_error(self, f"(*, {dims})", x)
        if self.weight is not None:
            matching_dtype(self, x, self.weight.dtype)
        D = int(np.prod(self.normalized_shape))
        eps = float(np.finfo(x.dtype).eps) if self.eps is None else float(self.eps)
        weight = _data(self.weight)
        y, xhat, invrms = F.rms_norm(
            x.reshape(-1, D), None if weight is None else weight.reshape(D), eps
        )
        self._cache = (xhat.reshape(x.shape), invrms)
        return y.reshape(x.shape)

    def backward(self, grad_output: Array) -> Array:
        xhat, invrms = self._saved(self._cache)
        g = same_shape_gradient(self, grad_output, xhat.shape)
        D = int(np.prod(self.normalized_shape))
        weight = _data(self.weight)
        grad_input, grad_weight = F.rms_norm_backward(
            g.reshape(-1, D),
            xhat.reshape(-1, D),
            invrms,
            None if weight is None else weight.reshape(D),
        )
        if self.weight is not None:
            self.weight.grad += grad_weight.reshape(self.normalized_shape)
        return grad_input.reshape(xhat.shape)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )


class BatchNorm3d(_BatchNorm):
    """Batch normalisation of ``(N, C, D, H, W)`` input (PyTorch: ``nn.BatchNorm3d``).

    Statistics per channel over the batch and all D·H·W positions. See
    :class:`_BatchNorm` for the running statistics, the modes and the backward.
    """

    _expected = "(N, C, D, H, W)"

    def _valid_ndim(self, ndim: int) -> bool:
        return ndim == 5


class _InstanceNorm(_BatchNorm):
    """Instance normalisation: each (sample, channel) normalised over its own positions.

    ``y[n, c] = γ_c (x[n, c] - μ_{n,c}) / √(v_{n,c} + ε) + β_c``, μ and the biased v over
    the positions of one channel of one sample. PyTorch's defaults: ``affine=False``,
    ``track_running_stats=False``. With running statistics, training mode also moves
    them toward the mean over the batch of the instances' statistics (the unbiased
    variance; :func:`refnet.nn.functional.normalization.instance_norm_update`; as in
    PyTorch ``momentum=None`` then means no update and ``num_batches_tracked`` stays 0),
    and evaluation mode normalises with them instead, as batch norm does.

    Backward: with the instance's statistics this is group norm with one channel per
    group, ``∂L/∂x = (1/σ)(ĝ - mean(ĝ) - x̂ · mean(ĝ x̂))`` per (n, c), ĝ = γ_c G; with
    the running statistics the map is affine, ``∂L/∂x = G γ_c / σ_c``. The kernels are
    group norm's and batch norm's evaluation kernels.

    Caches x̂ and 1/σ per instance (or, in evaluation, the input and running statistics).
    Unbatched input (without N) is accepted, as in PyTorch.
    """

    _spatial = 1

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = False,
        track_running_stats: bool = False,
        dtype: npt.DTypeLike = np.float32,
        generator: Seed = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__(
            num_features,
            eps,
            momentum,
            affine,
            track_running_stats,
            dtype,
            generator,
            bias=bias,
        )
        self._group_cache: tuple[Array, Array] | None = None
        self._batched = True

    def _check_instance_input(self, x: object) -> Array:
        x = float_input(self, x)
        unbatched = self._spatial + 1
        if x.ndim not in (unbatched, unbatched + 1):
            spatial = ("L", "H, W", "D, H, W")[self._spatial - 1]
            raise shape_error(self, f"(N, C, {spatial}) or (C, {spatial})", x)
        channels = x.shape[-unbatched]
        if channels != self.num_features:
            if self.affine or self.track_running_stats:
                raise shape_error(
                    self, f"{self.num_features} channels at dim {x.ndim - unbatched}", x
                )
            warnings.warn(
                f"{self.describe()}: input's size at dim={x.ndim - unbatched} does not match "
                "num_features, which is not used because affine=False",
                stacklevel=5,  # the layer's caller: past this, forward, Module's two
            )
        for state in (_data(self.weight), self.running_mean):
            if state is not None:
                matching_dtype(self, x, state.dtype)
                break
        return x

    def forward(self, x: Array) -> Array:
        x = self._check_instance_input(x)
        self._batched = x.ndim == self._spatial + 2
        xb = x if self._batched else x[None]
        self._shape, self._group_cache, self._eval_cache = x.shape, None, None
        if xb.size == 0:
            return x.copy()
        x3 = xb.reshape(xb.shape[0], xb.shape[1], -1)
        weight, bias = _data(self.weight), _data(self.bias)
        if self.training or not self.track_running_stats:
            if x3.shape[2] <= 1:
                raise ValueError(
                    f"{self.describe()}: expected more than 1 spatial element when training, "
                    f"got input of shape {tuple(x.shape)}"
                )
            y, xhat, invstd = F.group_norm(x3, x3.shape[1], weight, bias, self.eps)
            self._group_cache = (xhat, invstd)
            if self.momentum is not None:  # as torch: buffers present are updated, even
                # with tracking turned off after construction (the update skips None ones)
                FN.instance_norm_update(self.running_mean, self.running_var, x3, self.momentum)
        else:
            assert self.running_mean is not None and self.running_var is not None
            mean = self.running_mean.copy()
            invstd = 1.0 / np.sqrt(self.running_var + self.eps)
            y = F.batch_norm_eval(x3, mean, invstd, weight, bias)
            self._eval_cache = (x3, mean, invstd)
        return y.reshape(x.shape)

    def backward(self, grad_output: Array) -> Array:
        g = same_shape_gradient(self, grad_output, self._saved(self._shape))
        if g.size == 0:
            return np.zeros_like(g)
        weight = _data(self.weight)
        gb = g if self._batched else g[None]
        if self._group_cache is not None:
            xhat, invstd = self._group_cache
            grad3, grad_weight, grad_bias = F.group_norm_backward(
                gb.reshape(xhat.shape), xhat, invstd, xhat.shape[1], weight
            )
        else:
            x3, mean, invstd = self._saved(self._eval_cache)
            grad3, grad_weight, grad_bias = F.batch_norm_eval_backward(
                gb.reshape(x3.shape), x3, mean, invstd, weight
            )
        if self.weight is not None:
            self.weight.grad += grad_weight
        if self.bias is not None:
            self.bias.grad += grad_bias
        return grad3.reshape(grad_output.shape)


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation of (N, C, L) or (C, L) input (PyTorch: ``nn.InstanceNorm1d``).

    Each sample's channel is normalised over its L positions; see :class:`_InstanceNorm`.
    """


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation of (N, C, H, W) or (C, H, W) input (PyTorch:
    ``nn.InstanceNorm2d``): each sample's channel over its H·W positions."""

    _spatial = 2


class InstanceNorm3d(_InstanceNorm):
    """Instance normalisation of (N, C, D, H, W) or (C, D, H, W) input (PyTorch:
    ``nn.InstanceNorm3d``): each sample's channel over its D·H·W positions."""

    _spatial = 3


class LocalResponseNorm(Module):
    """Local response normalisation across channels (PyTorch: ``nn.LocalResponseNorm(size,
    alpha=1e-4, beta=0.75, k=1.0)``), AlexNet's.

    Input (N, C, *) with at least one axis after C. With ``n = size``,
    ``s_c = k + (α/n) Σ_{c'} x_{c'}²`` over the channels ``c' ∈ [c - ⌊n/2⌋, c + ⌊(n-1)/2⌋]``
    (missing channels count as zeros; the divisor stays ``n``), and ``y_c = x_c s_c^{-β}``.

    Backward (derived in :mod:`refnet.nn.functional.normalization`):
    ``∂L/∂x_j = G_j s_j^{-β} - (2αβ/n) x_j Σ_{c: j ∈ window(c)} G_c x_c s_c^{-β-1}``,
    the sum a window sum with the window's sides swapped.

    Caches the input and ``s`` (each the input's size). No parameters.
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> None:
        super().__init__()
        if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 1:
            raise ValueError(f"LocalResponseNorm: size must be a positive int, got {size!r}")
        self.size = int(size)
        self.alpha = alpha
        self.beta = beta
        self.k = k
        self._cache: tuple[Array, Array] | None = None
        self._shape: tuple[int, ...] | None = None

    def forward(self, x: Array) -> Array:
        x = float_input(self, x)
        if x.ndim < 3:
            raise shape_error(self, "(N, C, *) with at least 3 dimensions", x)
        y, s = FN.local_response_norm_forward(x, self.size, self.alpha, self.beta, self.k)
        self._cache, self._shape = (x, s), y.shape
        return y

    def backward(self, grad_output: Array) -> Array:
        x, s = self._saved(self._cache)
        g = same_shape_gradient(self, grad_output, self._saved(self._shape))
        return FN.local_response_norm_gradient(g, x, s, self.size, self.alpha, self.beta)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
