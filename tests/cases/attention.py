"""Cases for RMSNorm, MultiheadAttention and the Transformer layers.

RMSNorm: eps drawn (None = the dtype's machine epsilon), affine or not, γ random (ones
would hide a backward that forgets it), one to three leading dimensions.

MultiheadAttention: query, key and value as three inputs (each gradient checked), heads,
kdim/vdim, bias, add_bias_kv, add_zero_attn, batch_first, unbatched input; boolean
masks (key padding, 2-D or 3-D attention mask, the causal mask with ``is_causal``) as
forward keyword arguments, with keys 0 and 1 never blocked and at least two queries (a
fully blocked query is NaN, as in PyTorch, and a query that sees a single key has an
input gradient of exactly 0 that torch rounds to ±1e-17: both tested on their own);
need_weights and averaging, the weights' gradient checked or left unused. Biases random
(zeros would hide a forward that forgets them).
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

import refnet.nn as nn
from refnet.testing import arrays, seeds
from tests.cases.registry import ModuleCase, module_case

Draw = st.DrawFn


@module_case(nn.RMSNorm)
def rms_norm_case(draw: Draw) -> ModuleCase:
    normalized = draw(st.sampled_from([(3,), (5,), (2, 3)]))
    lead = draw(st.sampled_from([(), (2,), (2, 3)]))
    affine = draw(st.booleans())
    module = nn.RMSNorm(
        normalized if len(normalized) > 1 else normalized[0],
        eps=draw(st.sampled_from([None, 1e-5, 0.1])),
        elementwise_affine=affine,
    ).double()
    if module.weight is not None:
        module.weight.data[...] = draw(arrays(module.weight.shape, low=0.5, high=2.0))
    return ModuleCase(module, draw(arrays((*lead, *normalized))), torch_rtol64=1e-9)


def _key_mask(draw: Draw, shape: tuple[int, ...]) -> object:
    """A boolean mask (``True`` = blocked) that never blocks keys 0 and 1."""
    mask = draw(arrays(shape, low=0.0, high=1.0)) < 0.5
    mask[..., :2] = False
    return mask


@module_case(nn.MultiheadAttention)
def multihead_attention_case(draw: Draw) -> ModuleCase:
    heads = draw(st.integers(1, 2))
    E = heads * draw(st.integers(1, 3))
    kdim, vdim = draw(st.sampled_from([(None, None), (E, E), (2, 3), (3, 1)]))
    batch_first = draw(st.booleans())
    module = nn.MultiheadAttention(
        E,
        heads,
        bias=draw(st.booleans()),
        add_bias_kv=draw(st.booleans()),
        add_zero_attn=draw(st.booleans()),
        kdim=kdim,
        vdim=vdim,
        batch_first=batch_first,
        generator=draw(seeds()),
    ).double()
    for name in ("in_proj_bias", "bias_k", "bias_v"):
        param = getattr(module, name)
        if param is not None:
            param.data[...] = draw(arrays(param.shape))
    if module.out_proj.bias is not None:
        module.out_proj.bias.data[...] = draw(arrays((E,)))
    N, L, S = draw(st.sampled_from([0, 1, 2])), draw(st.integers(2, 3)), draw(st.integers(2, 4))

    def sequence(length: int, features: int) -> object:
        if N == 0:
            return draw(arrays((length, features)))
        return draw(arrays((N, length, features) if batch_first else (length, N, features)))

    inputs = (sequence(L, E), sequence(S, module.kdim), sequence(S, module.vdim))
    kwargs: dict[str, object] = {}
    need_weights = draw(st.booleans())
    kwargs["need_weights"] = need_weights
    kwargs["average_attn_weights"] = draw(st.booleans())
    if draw(st.booleans()):
        kwargs["key_padding_mask"] = _key_mask(draw, (N, S) if N else (S,))
    mask_kind = draw(st.sampled_from(["none", "2d", "3d", "causal"]))
    if mask_kind == "2d":
        kwargs["attn_mask"] = _key_mask(draw, (L, S))
    elif mask_kind == "3d":
        kwargs["attn_mask"] = _key_mask(draw, (max(N, 1) * heads, L, S))
    elif mask_kind == "causal":
        kwargs["attn_mask"] = np.triu(np.ones((L, S), dtype=bool), k=1)
        kwargs["is_causal"] = True
    unused: tuple[tuple[int, ...], ...] = ()
    if need_weights and draw(st.booleans()):
        unused = ((1,),)
    return ModuleCase(module, inputs, torch_rtol64=1e-9, forward_kwargs=kwargs, unused=unused)


# ---------------------------------------------------------------------- Transformer layers
#
# Small sizes (the gradient check perturbs every parameter), every option drawn, every
# parameter random; dropout 0.0 in training mode or 0.1 in evaluation mode (the identity
# there), so the comparisons are deterministic. Boolean masks only (they are not cast
# when the float32 comparisons convert the inputs), with keys 0 and 1 never blocked. The
# stacks have one layer here: the finite differences of deeper stacks carry rounding
# noise near the checker's atol of 1e-9; tests/test_transformer.py checks two layers.


def _layer_options(draw: Draw, module_activation: bool = True) -> dict[str, object]:
    """A layer's options. ``module_activation=False`` for the decoder stacks: torch's
    ``TransformerDecoderLayer.__setstate__`` puts ``F.relu`` over an activation *module*
    when ``TransformerDecoder`` deep-copies the layer (torch 2.13), so there torch's
    decoder stacks compute ReLU whatever module they were given; refnet uses the module
    (tests/test_transformer.py)."""
    nhead = draw(st.integers(1, 2))
    activations = ["relu", "gelu", "tanh-gelu"] if module_activation else ["relu", "gelu"]
    return {
        "d_model": 4,  # LayerNorm over 1 or 2 features is (nearly) constant: no gradient
        "nhead": nhead,
        "dim_feedforward": draw(st.integers(1, 3)),
        "activation": draw(st.sampled_from(activations)),
        "layer_norm_eps": draw(st.sampled_from([1e-5, 0.1])),
        "batch_first": draw(st.booleans()),
        "norm_first": draw(st.booleans()),
        "bias": draw(st.booleans()),
        "generator": draw(seeds()),
    }


def _build_layer(cls: type[nn.Module], options: dict[str, object], train: bool) -> nn.Module:
    options = dict(options)
    if options["activation"] == "tanh-gelu":
        options["activation"] = nn.GELU(approximate="tanh")
    return cls(dropout=0.0 if train else 0.1, **options)


def _randomise(draw: Draw, module: nn.Module, train: bool) -> nn.Module:
    module = module.double().train(train)
    for param in module.parameters():
        param.data[...] = draw(arrays(param.shape, low=-0.5, high=0.5))
    return module


def _sequence(draw: Draw, batch: int, length: int, d_model: int, batch_first: bool) -> object:
    shape = (batch, length, d_model) if batch_first else (length, batch, d_model)
    return draw(arrays((length, d_model) if batch == 0 else shape, low=-1.0, high=1.0))


def _self_masks(draw: Draw, batch: int, length: int, heads: int, prefix: str) -> dict[str, object]:
    """``{prefix}mask`` (none, 2-D, 3-D or causal with the hint) and the key padding mask."""
    kwargs: dict[str, object] = {}
    kind = draw(st.sampled_from(["none", "2d", "3d", "causal"]))
    if kind == "2d":
        kwargs[f"{prefix}mask"] = _key_mask(draw, (length, length))
    elif kind == "3d":
        kwargs[f"{prefix}mask"] = _key_mask(draw, (max(batch, 1) * heads, length, length))
    elif kind == "causal":
        kwargs[f"{prefix}mask"] = np.triu(np.ones((length, length), dtype=bool), k=1)
    if draw(st.booleans()):
        kwargs[f"{prefix}key_padding_mask"] = _key_mask(
            draw, (batch, length) if batch else (length,)
        )
    return kwargs


@module_case(nn.TransformerEncoderLayer)
def transformer_encoder_layer_case(draw: Draw) -> ModuleCase:
    options, train = _layer_options(draw), draw(st.booleans())
    module = _randomise(draw, _build_layer(nn.TransformerEncoderLayer, options, train), train)
    batch, length = draw(st.sampled_from([0, 1, 2])), draw(st.integers(2, 3))
    d, heads = int(options["d_model"]), int(options["nhead"])  # type: ignore[call-overload]
    src = _sequence(draw, batch, length, d, bool(options["batch_first"]))
    masks = _self_masks(draw, batch, length, heads, "src_")
    if "src_mask" in masks and masks["src_mask"].shape == (length, length):  # type: ignore[attr-defined]
        masks["is_causal"] = draw(st.booleans()) and _is_causal(masks["src_mask"])
    return ModuleCase(module, (src,), torch_rtol64=1e-9, forward_kwargs=masks)


def _is_causal(mask: object) -> bool:
    length = np.shape(mask)[-1]
    return bool(np.array_equal(mask, np.triu(np.ones((length, length), dtype=bool), k=1)))


def _decoder_inputs(
    draw: Draw, options: dict[str, object]
) -> tuple[tuple[object, object], dict[str, object]]:
    batch = draw(st.sampled_from([0, 1, 2]))
    T, S = draw(st.integers(2, 3)), draw(st.integers(2, 3))
    d, heads = int(options["d_model"]), int(options["nhead"])  # type: ignore[call-overload]
    bf = bool(options["batch_first"])
    tgt, memory = _sequence(draw, batch, T, d, bf), _sequence(draw, batch, S, d, bf)
    kwargs = _self_masks(draw, batch, T, heads, "tgt_")
    if draw(st.booleans()):
        kwargs["memory_mask"] = _key_mask(draw, (T, S))
    if draw(st.booleans()):
        kwargs["memory_key_padding_mask"] = _key_mask(draw, (batch, S) if batch else (S,))
    return (tgt, memory), kwargs


@module_case(nn.TransformerDecoderLayer)
def transformer_decoder_layer_case(draw: Draw) -> ModuleCase:
    options, train = _layer_options(draw), draw(st.booleans())
    module = _randomise(draw, _build_layer(nn.TransformerDecoderLayer, options, train), train)
    inputs, kwargs = _decoder_inputs(draw, options)
    if "tgt_mask" in kwargs and _is_causal(kwargs["tgt_mask"]):
        kwargs["tgt_is_causal"] = draw(st.booleans())
    return ModuleCase(module, inputs, torch_rtol64=1e-9, forward_kwargs=kwargs)


def _final_norm(draw: Draw, options: dict[str, object]) -> nn.Module | None:
    if not draw(st.booleans()):
        return None
    return nn.LayerNorm(int(options["d_model"]), bias=bool(options["bias"]))  # type: ignore[call-overload]


@module_case(nn.TransformerEncoder)
def transformer_encoder_case(draw: Draw) -> ModuleCase:
    options, train = _layer_options(draw), draw(st.booleans())
    layer = _build_layer(nn.TransformerEncoderLayer, options, train)
    stack = nn.TransformerEncoder(layer, 1, _final_norm(draw, options))
    module = _randomise(draw, stack, train)
    batch, length = draw(st.sampled_from([0, 1, 2])), draw(st.integers(2, 3))
    d, heads = int(options["d_model"]), int(options["nhead"])  # type: ignore[call-overload]
    src = _sequence(draw, batch, length, d, bool(options["batch_first"]))
    masks = _self_masks(draw, batch, length, heads, "src_")
    kwargs: dict[str, object] = {}
    if "src_mask" in masks:
        kwargs["mask"] = masks["src_mask"]
        kwargs["is_causal"] = draw(st.sampled_from([None, _is_causal(masks["src_mask"])]))
    if "src_key_padding_mask" in masks:
        kwargs["src_key_padding_mask"] = masks["src_key_padding_mask"]
    return ModuleCase(module, (src,), torch_rtol64=1e-9, forward_kwargs=kwargs)


@module_case(nn.TransformerDecoder)
def transformer_decoder_case(draw: Draw) -> ModuleCase:
    options, train = _layer_options(draw, module_activation=False), draw(st.booleans())
    layer = _build_layer(nn.TransformerDecoderLayer, options, train)
    stack = nn.TransformerDecoder(layer, 1, _final_norm(draw, options))
    module = _randomise(draw, stack, train)
    inputs, kwargs = _decoder_inputs(draw, options)
    return ModuleCase(module, inputs, torch_rtol64=1e-9, forward_kwargs=kwargs)


@module_case(nn.Transformer)
def transformer_case(draw: Draw) -> ModuleCase:
    options, train = _layer_options(draw, module_activation=False), draw(st.booleans())
    activation = options.pop("activation")
    module = nn.Transformer(
        num_encoder_layers=1,
        num_decoder_layers=1,
        dropout=0.0 if train else 0.1,
        activation=activation,  # type: ignore[arg-type]
        **options,  # type: ignore[arg-type]
    )
    module = _randomise(draw, module, train)
    (tgt, src), kwargs = _decoder_inputs(draw, options)  # the memory's shape is src's
    batch = 0 if np.ndim(tgt) == 2 else np.shape(tgt)[0 if options["batch_first"] else 1]
    S = np.shape(src)[-2 if np.ndim(src) == 2 or options["batch_first"] else 0]
    if draw(st.booleans()):
        kwargs["src_key_padding_mask"] = _key_mask(draw, (batch, S) if batch else (S,))
    return ModuleCase(module, (src, tgt), torch_rtol64=1e-9, forward_kwargs=kwargs)
