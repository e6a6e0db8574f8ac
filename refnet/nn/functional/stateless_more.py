"""PyTorch's functional names for refnet's other layers, each with a backward sibling.

The activations ``hardtanh``, ``relu6``, ``selu``, ``softsign``, ``logsigmoid``, ``mish``,
``hardsigmoid``, ``hardswish``, ``tanh``, ``prelu`` and the backward of ``sigmoid``;
``batch_norm`` (the running statistics updated in place, as PyTorch's), ``normalize`` and
the fractional max pools, ``linear_cross_entropy``, ``pdist``, ``gumbel_softmax``, and
the deprecated ``upsample*`` names of ``interpolate``, and
``multi_head_attention_forward``.
As in :mod:`refnet.nn.functional.stateless`, each function runs the matching refnet
module, and ``*_backward(grad, <the same arguments>)`` returns the gradient of the input
(``prelu_backward`` and ``batch_norm_backward`` also of the weights) by running that
module's backward, so the numbers are the layer's own. ``normalize`` has no module and is
written out here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from refnet._typing import Array, IntArray
from refnet.nn.functional.loss import p_norm, p_norm_backward

__all__ = [
    "batch_norm",
    "batch_norm_backward",
    "fractional_max_pool2d",
    "fractional_max_pool2d_backward",
    "fractional_max_pool3d",
    "fractional_max_pool3d_backward",
    "gumbel_softmax",
    "gumbel_softmax_backward",
    "hardsigmoid",
    "hardsigmoid_backward",
    "hardswish",
    "hardswish_backward",
    "hardtanh",
    "hardtanh_backward",
    "linear_cross_entropy",
    "linear_cross_entropy_backward",
    "logsigmoid",
    "logsigmoid_backward",
    "mish",
    "mish_backward",
    "multi_head_attention_forward",
    "multi_head_attention_forward_backward",
    "normalize",
    "normalize_backward",
    "pdist",
    "pdist_backward",
    "prelu",
    "prelu_backward",
    "relu6",
    "relu6_backward",
    "selu",
    "selu_backward",
    "sigmoid_backward",
    "softplus_backward",
    "softsign",
    "softsign_backward",
    "tanh",
    "upsample",
    "upsample_backward",
    "upsample_bilinear",
    "upsample_bilinear_backward",
    "upsample_nearest",
    "upsample_nearest_backward",
]


def _nn() -> Any:
    import refnet.nn as nn  # refnet.nn imports this package: import it when called

    return nn


def _through(module: Any, grad: Any, *inputs: Any) -> Any:
    """Run ``module`` on ``inputs`` and backpropagate ``grad`` through that call."""
    module(*inputs)
    return module.backward(grad)


# ---------------------------------------------------------------------- activations


def hardtanh(input: Array, min_val: float = -1.0, max_val: float = 1.0) -> Array:
    """``clip(x, min_val, max_val)`` (``torch.nn.functional.hardtanh``)."""
    return _nn().Hardtanh(min_val, max_val)(input)


def hardtanh_backward(
    grad: Array, input: Array, min_val: float = -1.0, max_val: float = 1.0
) -> Array:
    """∂L/∂input of :func:`hardtanh`: ``grad`` strictly inside the limits, else 0."""
    return _through(_nn().Hardtanh(min_val, max_val), grad, input)


def relu6(input: Array) -> Array:
    """``min(max(0, x), 6)`` (``torch.nn.functional.relu6``)."""
    return _nn().ReLU6()(input)


def relu6_backward(grad: Array, input: Array) -> Array:
    """∂L/∂input of :func:`relu6`: ``grad`` for ``0 < x < 6``, else 0."""
    return _through(_nn().ReLU6(), grad, input)


def selu(input: Array) -> Array:
    """``λ (max(0, x) + min(0, α(eˣ - 1)))`` with the self-normalising constants."""
    return _nn().SELU()(input)


def selu_backward(grad: Array, input: Array) -> Array:
    """∂L/∂input of :func:`selu`: ``λ grad`` for ``x > 0``, else ``λα eˣ grad``."""
    return _through(_nn().SELU(), grad, input)


def softsign(input: Array) -> Array:
    """``x / (1 + |x|)`` (``torch.nn.functional.softsign``)."""
    return _nn().Softsign()(input)


def softsign_backward(grad: Array, input: Array) -> Array:
    """∂L/∂input of :func:`softsign`: ``grad / (1 + |x|)²``."""
    return _through(_nn().Softsign(), grad, input)


def logsigmoid(input: Array) -> Array:
    """``log σ(x)``, finite for any x (``torch.nn.functional.logsigmoid``)."""
    return _nn().LogSigmoid()(input)


def logsigmoid_backward(grad: Array, input: Array) -> Array:
    """∂L/∂input of :func:`logsigmoid`: ``grad · σ(-x)``."""
    return _through(_nn().LogSigmoid(), grad, input)


def mish(input: Array) -> Array:
    """``x tanh(softplus(x))`` (``torch.nn.functional.mish``)."""
    return _nn().Mish()(input)


def mish_backward(grad: Array, input: Array) -> Array:
    """∂L/∂input of :func:`mish`: ``grad (tanh(s) + x σ(x)(1 - tanh²(s)))``, s = softplus(x)."""
    return _through(_nn().Mish(), grad, input)


def hardsigmoid(input: Array) -> Array:
    """``clip(x/6 + 1/2, 0, 1)`` (``torch.nn.functional.hardsigmoid``)."""
    return _nn().Hardsigmoid()(input)


def hardsigmoid_backward(grad: Array, input: Array) -> Array:
    """∂L/∂input of :func:`hardsigmoid`: ``grad/6`` for ``-3 < x < 3``, else 0."""
    return _through(_nn().Hardsigmoid(), grad, input)


def hardswish(input: Array) -> Array:
    """``x · hardsigmoid(x)`` (``torch.nn.functional.hardswish``)."""
    return _nn().Hardswish()(input)


def hardswish_backward(grad: Array, input: Array) -> Array:
    """∂L/∂input of :func:`hardswish`: ``grad (2x + 3)/6`` inside (-3, 3), 0 below -3,
    ``grad`` above 3."""
    return _through(_nn().Hardswish(), grad, input)


def tanh(input: Array) -> Array:
    """``tanh(x)`` (``torch.nn.functional.tanh``); the backward is ``tanh_backward``."""
    return _nn().Tanh()(input)


def softplus_backward(
    grad: Array, input: Array, beta: float = 1.0, threshold: float = 20.0
) -> Array:
    """∂L/∂input of :func:`refnet.nn.functional.softplus`: ``grad · σ(βx)``, and ``grad``
    where ``βx > threshold``."""
    return _through(_nn().Softplus(beta, threshold), grad, input)


def sigmoid_backward(grad: Array, input: Array) -> Array:
    """∂L/∂input of :func:`refnet.nn.functional.sigmoid`: ``grad · σ(x)(1 - σ(x))``."""
    return _through(_nn().Sigmoid(), grad, input)


def _prelu_module(input: Array, weight: Array) -> Any:
    module = _nn().PReLU(num_parameters=int(np.size(weight)), dtype=np.asarray(input).dtype)
    module.weight.data[...] = np.ravel(weight)
    return module


def prelu(input: Array, weight: Array) -> Array:
    """``max(0, x) + a · min(0, x)``, one slope ``a`` or one per channel (axis 1)."""
    return _prelu_module(input, weight)(input)


def prelu_backward(grad: Array, input: Array, weight: Array) -> tuple[Array, Array]:
    """``(∂L/∂input, ∂L/∂weight)`` of :func:`prelu`; the slopes' gradient has ``weight``'s
    shape."""
    module = _prelu_module(input, weight)
    grad_input = _through(module, grad, input)
    return grad_input, module.weight.grad.reshape(np.shape(weight))


# ---------------------------------------------------------------------- normalisation


def _batch_norm_module(
    input: Array,
    running_mean: Array | None,
    running_var: Array | None,
    weight: Array | None,
    bias: Array | None,
    training: bool,
    momentum: float | None,
    eps: float,
) -> Any:
    """A ``BatchNorm1d`` over ``(N, C, L)`` holding the given statistics and weights."""
    x = np.asarray(input)
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected an input of shape (N, C, *), got {x.shape}")
    if (running_mean is None) != (running_var is None):
        raise ValueError(
            "batch_norm: running_mean and running_var must either both be None or neither "
            "be None (torch's rule)"
        )
    tracked = running_mean is not None
    if not training and not tracked:
        raise ValueError("batch_norm: running_mean and running_var are needed when not training")
    module = _nn().BatchNorm1d(
        x.shape[1], eps, momentum, affine=True, track_running_stats=tracked, dtype=x.dtype
    )
    if tracked:
        module.running_mean, module.running_var = running_mean, running_var  # shared
    module.weight.data[...] = 1.0 if weight is None else weight
    module.bias.data[...] = 0.0 if bias is None else bias
    return module.train(training)


def batch_norm(
    input: Array,
    running_mean: Array | None,
    running_var: Array | None,
    weight: Array | None = None,
    bias: Array | None = None,
    training: bool = False,
    momentum: float | None = 0.1,
    eps: float = 1e-5,
) -> Array:
    """Batch normalisation over axis 1 (``torch.nn.functional.batch_norm``).

    Training: normalise with the batch's statistics and move ``running_mean`` and
    ``running_var`` (when given) towards them *in place*, as PyTorch does. Evaluation:
    normalise with the running statistics. See :class:`refnet.nn.BatchNorm1d`.
    """
    x = np.asarray(input)
    module = _batch_norm_module(x, running_mean, running_var, weight, bias, training, momentum, eps)
    return module(x.reshape(x.shape[0], x.shape[1], -1)).reshape(x.shape)


def batch_norm_backward(
    grad: Array,
    input: Array,
    running_mean: Array | None,
    running_var: Array | None,
    weight: Array | None = None,
    bias: Array | None = None,
    training: bool = False,
    momentum: float | None = 0.1,
    eps: float = 1e-5,
) -> tuple[Array, Array | None, Array | None]:
    """``(∂input, ∂weight, ∂bias)`` of :func:`batch_norm` (``None`` for an absent weight or
    bias). The forward is replayed on copies of the running statistics, so they are not
    moved a second time."""
    x = np.asarray(input)
    mean_copy = None if running_mean is None else np.array(running_mean)
    var_copy = None if running_var is None else np.array(running_var)
    module = _batch_norm_module(x, mean_copy, var_copy, weight, bias, training, momentum, eps)
    x3 = x.reshape(x.shape[0], x.shape[1], -1)
    grad_input = _through(module, np.reshape(grad, x3.shape), x3).reshape(x.shape)
    grad_weight = None if weight is None else module.weight.grad.copy()
    grad_bias = None if bias is None else module.bias.grad.copy()
    return grad_input, grad_weight, grad_bias


def normalize(input: Array, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Array:
    """``x / max(‖x‖_p, eps)`` along ``dim`` (``torch.nn.functional.normalize``)."""
    x = np.moveaxis(np.asarray(input), dim, -1)
    denominator = np.maximum(p_norm(x, p), eps)[..., None]
    return np.moveaxis(x / denominator, -1, dim)


def normalize_backward(
    grad: Array, input: Array, p: float = 2.0, dim: int = 1, eps: float = 1e-12
) -> Array:
    r"""∂L/∂input of :func:`normalize`. With n = ‖x‖_p > eps and y = x / n,

        ∂L/∂x = G / n − (Σ_k G_k x_k) / n² · ∂n/∂x,     ∂n/∂x_k = sign(x_k)|x_k|^{p−1} / n^{p−1}

    (for p = 2: the part of G along y removed, over n). Where n < eps the denominator is
    the constant eps and ∂L/∂x = G / eps, as PyTorch's clamp gives; at n = eps exactly
    its clamp passes the gradient through n, and so does refnet.
    """
    x = np.moveaxis(np.asarray(input), dim, -1)
    g = np.moveaxis(np.asarray(grad), dim, -1)
    n = p_norm(x, p)
    clamped = n < eps
    safe = np.where(clamped, eps, n)[..., None]
    along = np.sum(g * x, axis=-1, keepdims=True) / safe**2
    result = g / safe - along * p_norm_backward(x, n, p)
    result = np.where(clamped[..., None], g / eps, result)
    return np.moveaxis(result, -1, dim)


# ---------------------------------------------------------------------- fractional pooling


def _fractional(
    dims: int,
    kernel_size: Any,
    output_size: Any,
    output_ratio: Any,
    return_indices: bool,
    samples: Array | None,
) -> Any:
    cls = _nn().FractionalMaxPool2d if dims == 2 else _nn().FractionalMaxPool3d
    return cls(kernel_size, output_size, output_ratio, return_indices, samples)


def fractional_max_pool2d(
    input: Array,
    kernel_size: Any,
    output_size: Any = None,
    output_ratio: Any = None,
    return_indices: bool = False,
    _random_samples: Array | None = None,
) -> Any:
    """Fractional max pooling over (H, W) (``torch.nn.functional.fractional_max_pool2d``);
    see :class:`refnet.nn.FractionalMaxPool2d`."""
    module = _fractional(2, kernel_size, output_size, output_ratio, return_indices, _random_samples)
    return module(input)


def fractional_max_pool3d(
    input: Array,
    kernel_size: Any,
    output_size: Any = None,
    output_ratio: Any = None,
    return_indices: bool = False,
    _random_samples: Array | None = None,
) -> Any:
    """Fractional max pooling over (T, H, W) (``torch.nn.functional.fractional_max_pool3d``)."""
    module = _fractional(3, kernel_size, output_size, output_ratio, return_indices, _random_samples)
    return module(input)


def _fractional_backward(
    dims: int,
    grad: Array,
    input: Array,
    kernel_size: Any,
    output_size: Any,
    output_ratio: Any,
    _random_samples: Array | None,
) -> Array:
    if _random_samples is None:
        raise ValueError(
            f"fractional_max_pool{dims}d_backward needs the forward's _random_samples: without "
            "them the windows are drawn afresh and the backward would not match the forward"
        )
    module = _fractional(dims, kernel_size, output_size, output_ratio, False, _random_samples)
    return _through(module, grad, input)


def fractional_max_pool2d_backward(
    grad: Array,
    input: Array,
    kernel_size: Any,
    output_size: Any = None,
    output_ratio: Any = None,
    _random_samples: Array | None = None,
) -> Array:
    """∂L/∂input of :func:`fractional_max_pool2d` (the same ``_random_samples``, required):
    each output's gradient added at its maximum."""
    return _fractional_backward(
        2, grad, input, kernel_size, output_size, output_ratio, _random_samples
    )


def fractional_max_pool3d_backward(
    grad: Array,
    input: Array,
    kernel_size: Any,
    output_size: Any = None,
    output_ratio: Any = None,
    _random_samples: Array | None = None,
) -> Array:
    """∂L/∂input of :func:`fractional_max_pool3d` (the same ``_random_samples``, required)."""
    return _fractional_backward(
        3, grad, input, kernel_size, output_size, output_ratio, _random_samples
    )


# ---------------------------------------------------------------------- linear + cross-entropy


def _linear_cross_entropy_module(
    input: Array, linear_weight: Array, linear_bias: Array | None, **options: Any
) -> Any:
    """A LinearCrossEntropyLoss holding copies of the given weights."""
    w = np.asarray(linear_weight)
    module = _nn().LinearCrossEntropyLoss(
        w.shape[-1],
        w.shape[0],
        out_features=w.shape[1:-1],
        bias=linear_bias is not None,
        dtype=np.asarray(input).dtype,
        **options,
    )
    module.linear.weight.data[...] = w.reshape(-1, w.shape[-1])
    if linear_bias is not None:
        module.linear.bias.data[...] = np.ravel(linear_bias)
    return module


def linear_cross_entropy(
    input: Array,
    linear_weight: Array,
    target: Array,
    *,
    linear_bias: Array | None = None,
    weight: Array | None = None,
    reduction: str = "mean",
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    options: Any = None,
) -> Any:
    """``cross_entropy(linear(input, W, b), target)`` with W ``(C, *out_features, in)``
    (``torch.nn.functional.linear_cross_entropy``); see
    :class:`refnet.nn.LinearCrossEntropyLoss`."""
    module = _linear_cross_entropy_module(
        input,
        linear_weight,
        linear_bias,
        weight=weight,
        reduction=reduction,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        options=options,
    )
    return module(input, target)


def linear_cross_entropy_backward(
    grad: Any,
    input: Array,
    linear_weight: Array,
    target: Array,
    *,
    linear_bias: Array | None = None,
    weight: Array | None = None,
    reduction: str = "mean",
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
) -> tuple[Array, Array, Array | None]:
    """``(∂input, ∂linear_weight, ∂linear_bias)`` of :func:`linear_cross_entropy` (the
    weight's and bias's in their given shapes; ``None`` without a bias)."""
    module = _linear_cross_entropy_module(
        input,
        linear_weight,
        linear_bias,
        weight=weight,
        reduction=reduction,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
    )
    module(input, target)
    grad_input = module.backward(grad)
    grad_weight = module.linear.weight.grad.reshape(np.shape(linear_weight))
    grad_bias = (
        None if linear_bias is None else module.linear.bias.grad.reshape(np.shape(linear_bias))
    )
    return grad_input, grad_weight, grad_bias


# ---------------------------------------------------------------------- pdist, Gumbel-softmax


def _row_pairs(n: int) -> tuple[IntArray, IntArray]:
    """The pairs i < j of n rows, in torch's order (row-major upper triangle)."""
    i, j = np.triu_indices(n, k=1)
    return i, j


def pdist(input: Array, p: float = 2.0) -> Array:
    """``‖x_i − x_j‖_p`` for every pair of rows i < j of ``input`` (N, M), as a vector of
    N(N−1)/2 (``torch.nn.functional.pdist``; the condensed form of ``cdist``)."""
    x = np.asarray(input)
    if x.ndim != 2:
        raise ValueError(f"pdist: expected a 2-D input (N, M), got shape {x.shape}")
    i, j = _row_pairs(x.shape[0])
    return p_norm(x[i] - x[j], p)


def pdist_backward(grad: Array, input: Array, p: float = 2.0) -> Array:
    """∂L/∂input of :func:`pdist`: each pair's ``g · ∂‖v‖/∂v`` (v = x_i − x_j) added to row
    i and subtracted from row j; a zero distance passes no gradient (torch's choice)."""
    x = np.asarray(input)
    i, j = _row_pairs(x.shape[0])
    v = x[i] - x[j]
    part = np.asarray(grad)[:, None] * p_norm_backward(v, p_norm(v, p), p)
    # The pairs are distinct, so the (N, N, M) table of them takes plain assignment; row r
    # gets its pairs as the first row, less those as the second.
    table = np.zeros((x.shape[0], x.shape[0], x.shape[1]), dtype=part.dtype)
    table[i, j] = part
    return table.sum(axis=1) - table.sum(axis=0)


def _gumbel_noise(shape: tuple[int, ...], dtype: Any, generator: Any) -> Array:
    """−log E with E ~ Exponential(1): standard Gumbel noise, from refnet's generator."""
    from refnet.random import as_generator

    return -np.log(as_generator(generator).standard_exponential(shape)).astype(dtype)


def gumbel_softmax(
    logits: Array,
    tau: float = 1.0,
    hard: bool = False,
    eps: float = 1e-10,
    dim: int = -1,
    generator: Any = None,
) -> Array:
    """A differentiable sample from the categorical distribution softmax(logits)
    (``torch.nn.functional.gumbel_softmax``): ``y = softmax((logits + g)/τ)`` with Gumbel
    noise g (argmax(logits + g) is an exact sample: the Gumbel-max trick). With ``hard``
    the value is the one-hot of that argmax and the gradient y's (straight-through).
    ``generator`` seeds the noise (refnet's convention); ``eps`` is torch's, unused there.
    """
    x = np.asarray(logits)
    y = _gumbel_softmax_soft(x, tau, dim, generator)
    if not hard:
        return y
    index = np.argmax(y, axis=dim)
    return (np.expand_dims(index, dim) == _class_positions(y.shape, dim)).astype(x.dtype)


def _class_positions(shape: tuple[int, ...], dim: int) -> IntArray:
    """0, 1, ..., C−1 along ``dim``, broadcastable against an array of ``shape``."""
    axis = dim % len(shape)
    return np.arange(shape[axis]).reshape([-1 if k == axis else 1 for k in range(len(shape))])


def _gumbel_softmax_soft(x: Array, tau: float, dim: int, generator: Any) -> Array:
    from refnet.nn.functional.activation import softmax

    return softmax((x + _gumbel_noise(x.shape, x.dtype, generator)) / tau, dim)


def gumbel_softmax_backward(
    grad: Array,
    logits: Array,
    tau: float = 1.0,
    hard: bool = False,
    eps: float = 1e-10,
    dim: int = -1,
    generator: Any = None,
) -> Array:
    """∂L/∂logits of :func:`gumbel_softmax`: the softmax's Jacobian over τ,
    ``y ⊙ (G − Σ G y) / τ`` (``hard`` too: straight-through). The forward's noise is drawn
    again, so pass the same seed (an int) as to the forward."""
    x = np.asarray(logits)
    y = _gumbel_softmax_soft(x, tau, dim, generator)
    g = np.asarray(grad)
    return y * (g - np.sum(g * y, axis=dim, keepdims=True)) / tau


# ---------------------------------------------------------------------- deprecated upsampling


def upsample(
    input: Array,
    size: Any = None,
    scale_factor: Any = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
) -> Array:
    """``interpolate`` under its old name (``torch.nn.functional.upsample``, deprecated)."""
    from refnet.nn.functional.upsampling import interpolate

    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_backward(
    grad: Array,
    input: Array,
    size: Any = None,
    scale_factor: Any = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
) -> Array:
    """∂L/∂input of :func:`upsample` (``interpolate_backward``)."""
    from refnet.nn.functional.upsampling import interpolate_backward

    return interpolate_backward(grad, input, size, scale_factor, mode, align_corners)


def upsample_nearest(input: Array, size: Any = None, scale_factor: Any = None) -> Array:
    """``interpolate(mode='nearest')`` (``torch.nn.functional.upsample_nearest``, deprecated)."""
    return upsample(input, size, scale_factor, "nearest")


def upsample_nearest_backward(
    grad: Array, input: Array, size: Any = None, scale_factor: Any = None
) -> Array:
    """∂L/∂input of :func:`upsample_nearest`."""
    return upsample_backward(grad, input, size, scale_factor, "nearest")


def upsample_bilinear(input: Array, size: Any = None, scale_factor: Any = None) -> Array:
    """``interpolate(mode='bilinear', align_corners=True)``
    (``torch.nn.functional.upsample_bilinear``, deprecated)."""
    return upsample(input, size, scale_factor, "bilinear", True)


def upsample_bilinear_backward(
    grad: Array, input: Array, size: Any = None, scale_factor: Any = None
) -> Array:
    """∂L/∂input of :func:`upsample_bilinear`."""
    return upsample_backward(grad, input, size, scale_factor, "bilinear", True)


# ---------------------------------------------------------------------- functional attention


def _attention_module(
    query: Array,
    key: Array,
    value: Array,
    num_heads: int,
    weights: dict[str, Array | None],
    add_zero_attn: bool,
    dropout_p: float,
    training: bool,
    generator: Any,
) -> Any:
    """A ``MultiheadAttention`` (batch second, as torch's functional) holding copies of
    ``weights`` (torch's argument names); an absent bias is a zero one."""
    E = np.shape(query)[-1]
    module = _nn().MultiheadAttention(
        E,
        num_heads,
        dropout=dropout_p,
        bias=True,
        add_bias_kv=weights["bias_k"] is not None,
        add_zero_attn=add_zero_attn,
        kdim=np.shape(key)[-1],
        vdim=np.shape(value)[-1],
        dtype=np.asarray(query).dtype,
        generator=generator,
    )
    params = dict(module.named_parameters())
    separate = weights.get("q_proj_weight") is not None
    if module._qkv_same_embed_dim and separate:  # torch's separate weights, one packed matrix
        weights = dict(
            weights,
            in_proj_weight=np.concatenate(
                [weights["q_proj_weight"], weights["k_proj_weight"], weights["v_proj_weight"]]
            ),
        )
    for name, target in (
        ("out_proj_weight", "out_proj.weight"),
        ("out_proj_bias", "out_proj.bias"),
    ):
        weights[target] = weights.pop(name)
    for name, param in params.items():
        given = weights.get(name)
        param.data[...] = 0.0 if given is None else given
    return module.train(training)


def multi_head_attention_forward(
    query: Array,
    key: Array,
    value: Array,
    embed_dim_to_check: int,
    num_heads: int,
    in_proj_weight: Array | None,
    in_proj_bias: Array | None,
    bias_k: Array | None,
    bias_v: Array | None,
    add_zero_attn: bool,
    dropout_p: float,
    out_proj_weight: Array,
    out_proj_bias: Array | None,
    training: bool = True,
    key_padding_mask: Array | None = None,
    need_weights: bool = True,
    attn_mask: Array | None = None,
    use_separate_proj_weight: bool = False,
    q_proj_weight: Array | None = None,
    k_proj_weight: Array | None = None,
    v_proj_weight: Array | None = None,
    static_k: Array | None = None,
    static_v: Array | None = None,
    average_attn_weights: bool = True,
    is_causal: bool = False,
    generator: Any = None,
) -> tuple[Array, Array | None]:
    """Multi-head attention from given weights (``torch.nn.functional.
    multi_head_attention_forward``): :class:`refnet.nn.MultiheadAttention` run with them.
    Inputs (L, N, E) or unbatched (L, E); returns ``(attn_output, attn_weights)``.
    ``static_k``/``static_v`` (precomputed keys and values) are not implemented."""
    module = _mha_from_arguments(locals())
    return module(
        query,
        key,
        value,
        key_padding_mask,
        need_weights,
        attn_mask,
        average_attn_weights,
        is_causal,
    )


_MHA_WEIGHTS = (
    "in_proj_weight",
    "in_proj_bias",
    "bias_k",
    "bias_v",
    "out_proj_weight",
    "out_proj_bias",
    "q_proj_weight",
    "k_proj_weight",
    "v_proj_weight",
)


def _mha_from_arguments(arguments: dict[str, Any]) -> Any:
    if arguments["static_k"] is not None or arguments["static_v"] is not None:
        raise NotImplementedError(
            "multi_head_attention_forward: static_k/static_v are not implemented"
        )
    if arguments["query"].shape[-1] != arguments["embed_dim_to_check"]:
        raise ValueError(
            f"multi_head_attention_forward: was expecting embedding dimension of "
            f"{arguments['embed_dim_to_check']}, but got {arguments['query'].shape[-1]}"
        )
    weights = {name: arguments[name] for name in _MHA_WEIGHTS}
    if not arguments["use_separate_proj_weight"]:
        weights.update(q_proj_weight=None, k_proj_weight=None, v_proj_weight=None)
    return _attention_module(
        arguments["query"],
        arguments["key"],
        arguments["value"],
        arguments["num_heads"],
        weights,
        arguments["add_zero_attn"],
        arguments["dropout_p"],
        arguments["training"],
        arguments["generator"],
    )


def multi_head_attention_forward_backward(
    grad_attn_output: Array,
    grad_attn_weights: Array | None,
    query: Array,
    key: Array,
    value: Array,
    embed_dim_to_check: int,
    num_heads: int,
    in_proj_weight: Array | None,
    in_proj_bias: Array | None,
    bias_k: Array | None,
    bias_v: Array | None,
    add_zero_attn: bool,
    dropout_p: float,
    out_proj_weight: Array,
    out_proj_bias: Array | None,
    training: bool = True,
    key_padding_mask: Array | None = None,
    need_weights: bool = True,
    attn_mask: Array | None = None,
    use_separate_proj_weight: bool = False,
    q_proj_weight: Array | None = None,
    k_proj_weight: Array | None = None,
    v_proj_weight: Array | None = None,
    static_k: Array | None = None,
    static_v: Array | None = None,
    average_attn_weights: bool = True,
    is_causal: bool = False,
    generator: Any = None,
) -> tuple[Array, Array, Array, dict[str, Array]]:
    """``(∂query, ∂key, ∂value, {weight name: gradient})`` of
    :func:`multi_head_attention_forward`, for the weights given (torch's argument names);
    with dropout, pass the forward's seed again."""
    arguments = dict(locals())
    module = _mha_from_arguments(arguments)
    module(
        query,
        key,
        value,
        key_padding_mask,
        need_weights,
        attn_mask,
        average_attn_weights,
        is_causal,
    )
    grads = module.backward(grad_attn_output, grad_attn_weights if need_weights else None)
    names = {"out_proj_weight": "out_proj.weight", "out_proj_bias": "out_proj.bias"}
    params = dict(module.named_parameters())
    weight_grads = {}
    for name in _MHA_WEIGHTS:
        if arguments[name] is None or (
            name.startswith(("q_", "k_", "v_")) and not use_separate_proj_weight
        ):
            continue
        if name.startswith(("q_", "k_", "v_")) and module._qkv_same_embed_dim:
            part = "qkv".index(name[0])
            E = module.embed_dim
            weight_grads[name] = params["in_proj_weight"].grad[part * E : (part + 1) * E].copy()
            continue
        weight_grads[name] = params[names.get(name, name)].grad.copy()
    return grads[0], grads[1], grads[2], weight_grads
