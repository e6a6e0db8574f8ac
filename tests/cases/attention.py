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
