"""The Transformer layers of PyTorch: encoder and decoder layers, their stacks, the whole model.

Each layer is a residual block around PyTorch's sub-modules (``self_attn``, ``linear1``,
``norm1``, ``dropout1``, ...: the same names, so the same ``state_dict`` keys). With
``norm_first=False`` (post-norm, the original paper's), an encoder layer computes

    x₁ = LN₁(x + SA(x)),         y = LN₂(x₁ + FF(x₁)),

and with ``norm_first=True`` (pre-norm)

    x₁ = x + SA(LN₁(x)),         y = x₁ + FF(LN₂(x₁)),

where ``SA(x) = D₁(MHA(x, x, x))`` and ``FF(x) = D₂(W₂ D(act(W₁ x + b₁)) + b₂)``.

**Backward.** A residual ``z = x + f(x)`` gives ``∂L/∂x = ∂L/∂z + f'(x)ᵀ ∂L/∂z``: the
gradient passes the block unchanged *and* through it. Pre-norm keeps that identity path
free of LayerNorms from the output to the input, which is why deep pre-norm stacks train
without warm-up. Self-attention ``MHA(x, x, x)`` returns three gradients, one per use of
``x``; the layer adds them (the chain rule sums over the paths). A decoder layer's
cross-attention ``MHA(x, m, m)`` sends its key and value gradients to the memory ``m``,
and a decoder stack adds every layer's contribution to ``∂L/∂m``.

PyTorch: ``torch.nn.TransformerEncoderLayer``, ``TransformerDecoderLayer``,
``TransformerEncoder``, ``TransformerDecoder``, ``Transformer``.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import numpy.typing as npt

from refnet._typing import Array, Seed
from refnet.nn import init
from refnet.nn._validation import same_shape_gradient
from refnet.nn.activation import GELU, ReLU
from refnet.nn.attention import MultiheadAttention
from refnet.nn.container import ModuleList
from refnet.nn.dropout import Dropout
from refnet.nn.linear import Linear
from refnet.nn.module import Module
from refnet.nn.normalization import LayerNorm
from refnet.random import as_generator


def generate_square_subsequent_mask(
    sz: int, device: object = None, dtype: npt.DTypeLike = np.float32
) -> Array:
    """The ``(sz, sz)`` causal mask as scores: 0 on and below the diagonal, -∞ above."""
    if device not in (None, "cpu"):
        raise ValueError(f"generate_square_subsequent_mask: refnet runs on the CPU, got {device!r}")
    return np.triu(np.full((sz, sz), -np.inf, dtype=dtype if dtype is not None else np.float32), 1)


def _detect_is_causal_mask(mask: Array | None, is_causal: bool | None, size: int | None) -> bool:
    """PyTorch's rule: a given hint as it is; else whether ``mask`` is the causal mask.

    A boolean mask is causal when it is ``True`` exactly above the diagonal, a float
    mask when it equals :func:`generate_square_subsequent_mask`.
    """
    if is_causal is not None:
        return bool(is_causal)
    if mask is None:
        return False
    sz = size if size is not None else mask.shape[-2]
    if mask.shape != (sz, sz):
        return False
    blocked = np.triu(np.ones((sz, sz), dtype=bool), 1)
    if mask.dtype == np.bool_:
        return bool(np.array_equal(mask, blocked))
    return bool(np.array_equal(mask, np.where(blocked, -np.inf, 0.0)))


def _batch_first(layer: Module) -> bool:
    """A stack's layout, as PyTorch reads it: from its first layer's self-attention."""
    return bool(getattr(getattr(layer, "self_attn", None), "batch_first", False))


def _seq_len(x: Array, batch_first: bool) -> int:
    return int(x.shape[0] if x.ndim == 2 else x.shape[1 if batch_first else 0])


def _activation(activation: object) -> Module:
    """``'relu'``/``'gelu'`` as refnet modules; a module as it is (it needs a backward)."""
    if activation == "relu":
        return ReLU()
    if activation == "gelu":
        return GELU()
    if isinstance(activation, Module):
        return activation
    raise ValueError(
        "activation should be 'relu', 'gelu' or a refnet Module (it needs a backward), "
        f"got {activation!r}"
    )


class _Layer(Module):
    """What both layers share: the feed-forward block, norms, dropouts, the options."""

    # the decoder layer's own (PyTorch's registration order: norms, then dropouts)
    multihead_attn: MultiheadAttention
    norm3: LayerNorm
    dropout3: Dropout

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int,
        dropout: float,
        activation: str | Module,
        layer_norm_eps: float,
        batch_first: bool,
        norm_first: bool,
        bias: bool,
        dtype: npt.DTypeLike,
        generator: Seed,
        norms: int,
    ) -> None:
        super().__init__()
        rng = as_generator(generator)
        drop = None if generator is None else rng

        def attention() -> MultiheadAttention:
            return MultiheadAttention(
                d_model,
                nhead,
                dropout=dropout,
                bias=bias,
                batch_first=batch_first,
                dtype=dtype,
                generator=rng if generator is not None else None,
            )

        self.self_attn = attention()
        if norms == 3:
            self.multihead_attn = attention()
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype, generator=rng)
        self.dropout = Dropout(dropout, generator=drop)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype, generator=rng)
        self.norm_first = norm_first

        def norm() -> LayerNorm:
            return LayerNorm(d_model, layer_norm_eps, bias=bias, dtype=dtype)

        self.norm1, self.norm2 = norm(), norm()
        if norms == 3:
            self.norm3 = norm()
        self.dropout1 = Dropout(dropout, generator=drop)
        self.dropout2 = Dropout(dropout, generator=drop)
        if norms == 3:
            self.dropout3 = Dropout(dropout, generator=drop)
        self.activation = _activation(activation)
        self._shape: tuple[int, ...] | None = None

    def _ff_dropout(self) -> Dropout:
        """The feed-forward block's last dropout: ``dropout2`` (encoder), ``dropout3``."""
        return self.dropout3 if "dropout3" in self._modules else self.dropout2

    def _ff_block(self, x: Array) -> Array:
        h = self.linear2(self.dropout(self.activation(self.linear1(x))))
        out: Array = self._ff_dropout()(h)
        return out

    def _ff_backward(self, g: Array) -> Array:
        g_h = self.linear2.backward(self._ff_dropout().backward(g))
        assert g_h is not None
        g_x = self.linear1.backward(self.activation.backward(self.dropout.backward(g_h)))
        assert g_x is not None
        return g_x

    def _sa_block(
        self, x: Array, mask: Array | None, padding: Array | None, is_causal: bool
    ) -> Array:
        out, _ = self.self_attn(
            x,
            x,
            x,
            attn_mask=mask,
            key_padding_mask=padding,
            need_weights=False,
            is_causal=is_causal,
        )
        return self.dropout1(out)

    def _sa_backward(self, g: Array) -> Array:
        gq, gk, gv = self.self_attn.backward(self.dropout1.backward(g), None)
        return gq + gk + gv

    def _grad(self, grad: object) -> Array:
        return same_shape_gradient(self, grad, self._saved(self._shape))


class TransformerEncoderLayer(_Layer):
    """Self-attention and a feed-forward block, each residual (``nn.TransformerEncoderLayer``).

    ``TransformerEncoderLayer(d_model, nhead, dim_feedforward=2048, dropout=0.1,
    activation='relu', layer_norm_eps=1e-5, batch_first=False, norm_first=False,
    bias=True)``; ``activation`` is ``'relu'``, ``'gelu'`` or a refnet module (one with a
    backward, e.g. ``nn.GELU(approximate='tanh')``). refnet adds ``dtype`` and
    ``generator``. The math and the backward are in the module docstring.

    ``forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False)`` with src
    ``(S, N, E)`` (``(N, S, E)`` with ``batch_first``, ``(S, E)`` unbatched); the masks as
    :class:`~refnet.nn.MultiheadAttention`'s. ``backward(grad)`` returns ``∂L/∂src``.
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Module = "relu",
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        dtype: npt.DTypeLike = np.float32,
        generator: Seed = None,
    ) -> None:
        super().__init__(
            d_model,
            nhead,
            dim_feedforward,
            dropout,
            activation,
            layer_norm_eps,
            batch_first,
            norm_first,
            bias,
            dtype,
            generator,
            norms=2,
        )
        # PyTorch's flag for its fused inference kernel: 1 relu, 2 a GELU (its tanh form
        # too, as torch's test is the class), 0 anything else.
        relu, gelu = isinstance(self.activation, ReLU), isinstance(self.activation, GELU)
        self.activation_relu_or_gelu = 1 if relu else 2 if gelu else 0

    def forward(
        self,
        src: Array,
        src_mask: Array | None = None,
        src_key_padding_mask: Array | None = None,
        is_causal: bool = False,
    ) -> Array:
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        self._shape = x.shape
        return x

    def backward(self, grad_output: Array) -> Array:
        g = self._grad(grad_output)
        if self.norm_first:
            g = g + self.norm2.backward(self._ff_backward(g))
            return g + self.norm1.backward(self._sa_backward(g))
        g = self.norm2.backward(g)
        g = self.norm1.backward(g + self._ff_backward(g))
        return g + self._sa_backward(g)


class TransformerDecoderLayer(_Layer):
    """Self-attention, cross-attention to the memory, a feed-forward block, each residual
    (``nn.TransformerDecoderLayer``; arguments as :class:`TransformerEncoderLayer`'s).

    ``forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False)``.
    Post-norm: ``x₁ = LN₁(x + SA(x))``, ``x₂ = LN₂(x₁ + D₂(MHA(x₁, m, m)))``,
    ``y = LN₃(x₂ + FF(x₂))``; pre-norm moves each LN inside its residual branch.
    ``backward(grad)`` returns ``(∂L/∂tgt, ∂L/∂memory)``, the memory's from the
    cross-attention's key and value gradients added.
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Module = "relu",
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        dtype: npt.DTypeLike = np.float32,
        generator: Seed = None,
    ) -> None:
        super().__init__(
            d_model,
            nhead,
            dim_feedforward,
            dropout,
            activation,
            layer_norm_eps,
            batch_first,
            norm_first,
            bias,
            dtype,
            generator,
            norms=3,
        )

    def _mha_block(
        self, x: Array, memory: Array, mask: Array | None, padding: Array | None, is_causal: bool
    ) -> Array:
        out, _ = self.multihead_attn(
            x,
            memory,
            memory,
            attn_mask=mask,
            key_padding_mask=padding,
            need_weights=False,
            is_causal=is_causal,
        )
        result: Array = self.dropout2(out)
        return result

    def _mha_backward(self, g: Array) -> tuple[Array, Array]:
        gq, gk, gv = self.multihead_attn.backward(self.dropout2.backward(g), None)
        return gq, gk + gv

    def forward(
        self,
        tgt: Array,
        memory: Array,
        tgt_mask: Array | None = None,
        memory_mask: Array | None = None,
        tgt_key_padding_mask: Array | None = None,
        memory_key_padding_mask: Array | None = None,
        tgt_is_causal: bool = False,
        memory_is_causal: bool = False,
    ) -> Array:
        x, m = tgt, memory
        cross = (memory_mask, memory_key_padding_mask, memory_is_causal)
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), m, *cross)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, m, *cross))
            x = self.norm3(x + self._ff_block(x))
        self._shape = x.shape
        return x

    def backward(self, grad_output: Array) -> tuple[Array, Array]:
        g = self._grad(grad_output)
        if self.norm_first:
            g = g + self.norm3.backward(self._ff_backward(g))
            g_x, g_memory = self._mha_backward(g)
            g = g + self.norm2.backward(g_x)
            return g + self.norm1.backward(self._sa_backward(g)), g_memory
        g = self.norm3.backward(g)
        g = self.norm2.backward(g + self._ff_backward(g))
        g_x, g_memory = self._mha_backward(g)
        g = self.norm1.backward(g + g_x)
        return g + self._sa_backward(g), g_memory


def _clones(layer: Module, num_layers: int) -> ModuleList:
    """``num_layers`` deep copies of ``layer`` (PyTorch's ``_get_clones``: equal weights).

    A seeded dropout generator is copied too. Copy ``i`` after the first replaces it by
    child ``i - 1`` of the copied generator's spawned children, so every layer draws its
    own stream and no two layers drop the same units; modules that shared a generator in
    ``layer`` share that copy's child.
    """
    if num_layers < 1:
        raise ValueError(f"num_layers must be at least 1, got {num_layers}")
    clones = [copy.deepcopy(layer) for _ in range(num_layers)]
    for index, clone in enumerate(clones[1:]):
        children: dict[int, np.random.Generator] = {}
        for module in clone.modules():
            gen = getattr(module, "generator", None)
            if isinstance(gen, np.random.Generator):
                if id(gen) not in children:
                    children[id(gen)] = gen.spawn(num_layers - 1)[index]
                module.generator = children[id(gen)]
    return ModuleList(clones)


class TransformerEncoder(Module):
    """A stack of ``num_layers`` copies of ``encoder_layer``, then ``norm`` if given
    (``nn.TransformerEncoder(encoder_layer, num_layers, norm=None,
    enable_nested_tensor=True, mask_check=True)``; the last two select torch's inference
    fast path and change nothing here).

    ``forward(src, mask=None, src_key_padding_mask=None, is_causal=None)``: ``is_causal``
    ``None`` detects a causal ``mask`` as PyTorch does. ``backward(grad)`` walks the
    layers in reverse and returns ``∂L/∂src``. Keys ``layers.0.self_attn.in_proj_weight``,
    ..., ``norm.weight``.
    """

    def __init__(
        self,
        encoder_layer: Module,
        num_layers: int,
        norm: Module | None = None,
        enable_nested_tensor: bool = True,
        mask_check: bool = True,
    ) -> None:
        super().__init__()
        self.layers = _clones(encoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        self.mask_check = mask_check
        self._shape: tuple[int, ...] | None = None

    def forward(
        self,
        src: Array,
        mask: Array | None = None,
        src_key_padding_mask: Array | None = None,
        is_causal: bool | None = None,
    ) -> Array:
        batch_first = bool(
            getattr(getattr(self.layers[0], "self_attn", None), "batch_first", False)
        )
        causal = _detect_is_causal_mask(mask, is_causal, _seq_len(src, batch_first))
        out = src
        for layer in self.layers:
            out = layer(
                out, src_mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=causal
            )
        if self.norm is not None:
            out = self.norm(out)
        self._shape = out.shape
        return out

    def backward(self, grad_output: Array) -> Array:
        g = same_shape_gradient(self, grad_output, self._saved(self._shape))
        if self.norm is not None:
            g = self.norm.backward(g)
        for layer in reversed(list(self.layers)):
            g = layer.backward(g)
        return g

    def extra_repr(self) -> str:
        return f"num_layers={self.num_layers}"


class TransformerDecoder(Module):
    """A stack of ``num_layers`` copies of ``decoder_layer``, then ``norm`` if given
    (``nn.TransformerDecoder(decoder_layer, num_layers, norm=None)``).

    ``forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False)``.
    ``backward(grad)`` returns ``(∂L/∂tgt, ∂L/∂memory)``: every layer reads the memory,
    so its gradient is the sum of the layers' contributions.
    """

    def __init__(self, decoder_layer: Module, num_layers: int, norm: Module | None = None) -> None:
        super().__init__()
        self.layers = _clones(decoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm
        self._shape: tuple[int, ...] | None = None

    def forward(
        self,
        tgt: Array,
        memory: Array,
        tgt_mask: Array | None = None,
        memory_mask: Array | None = None,
        tgt_key_padding_mask: Array | None = None,
        memory_key_padding_mask: Array | None = None,
        tgt_is_causal: bool | None = None,
        memory_is_causal: bool = False,
    ) -> Array:
        batch_first = bool(
            getattr(getattr(self.layers[0], "self_attn", None), "batch_first", False)
        )
        causal = _detect_is_causal_mask(tgt_mask, tgt_is_causal, _seq_len(tgt, batch_first))
        out = tgt
        for layer in self.layers:
            out = layer(
                out,
                memory,
                tgt_mask=tgt_mask,
                memory_mask=memory_mask,
                tgt_key_padding_mask=tgt_key_padding_mask,
                memory_key_padding_mask=memory_key_padding_mask,
                tgt_is_causal=causal,
                memory_is_causal=memory_is_causal,
            )
        if self.norm is not None:
            out = self.norm(out)
        self._shape = out.shape
        return out

    def backward(self, grad_output: Array) -> tuple[Array, Array]:
        g = same_shape_gradient(self, grad_output, self._saved(self._shape))
        if self.norm is not None:
            g = self.norm.backward(g)
        g_memory: Array | None = None
        for layer in reversed(list(self.layers)):
            g, g_m = layer.backward(g)
            g_memory = g_m if g_memory is None else g_memory + g_m
        assert g_memory is not None
        return g, g_memory

    def extra_repr(self) -> str:
        return f"num_layers={self.num_layers}"


class Transformer(Module):
    """An encoder and a decoder (``nn.Transformer``), each a stack ending in a LayerNorm.

    ``Transformer(d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6,
    dim_feedforward=2048, dropout=0.1, activation='relu', custom_encoder=None,
    custom_decoder=None, layer_norm_eps=1e-5, batch_first=False, norm_first=False,
    bias=True)``; refnet adds ``dtype`` and ``generator``. Every parameter with more than
    one dimension is re-drawn from Xavier uniform, as PyTorch's ``_reset_parameters``.

    ``forward(src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
    src_key_padding_mask=None, tgt_key_padding_mask=None, memory_key_padding_mask=None,
    src_is_causal=None, tgt_is_causal=None, memory_is_causal=False)`` returns the
    decoder's output. ``backward(grad)`` returns ``(∂L/∂src, ∂L/∂tgt)``: the decoder's
    memory gradient is the encoder's upstream gradient.
    """

    def __init__(
        self,
        d_model: int = 512,
        nhead: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Module = "relu",
        custom_encoder: Module | None = None,
        custom_decoder: Module | None = None,
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        dtype: npt.DTypeLike = np.float32,
        generator: Seed = None,
    ) -> None:
        super().__init__()
        rng = as_generator(generator)
        seed = None if generator is None else rng
        options: dict[str, Any] = {
            "dim_feedforward": dim_feedforward,
            "dropout": dropout,
            "activation": activation,
            "layer_norm_eps": layer_norm_eps,
            "batch_first": batch_first,
            "norm_first": norm_first,
            "bias": bias,
            "dtype": dtype,
        }
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            layer = TransformerEncoderLayer(d_model, nhead, generator=seed, **options)
            norm = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
            self.encoder = TransformerEncoder(layer, num_encoder_layers, norm)
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            dec_options = dict(options)
            if isinstance(activation, Module):  # one module instance per layer kind
                dec_options["activation"] = copy.deepcopy(activation)
            dec_layer = TransformerDecoderLayer(d_model, nhead, generator=seed, **dec_options)
            dec_norm = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
            self.decoder = TransformerDecoder(dec_layer, num_decoder_layers, dec_norm)
        self._reset_parameters(rng)
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = batch_first
        self._shape: tuple[int, ...] | None = None

    def _reset_parameters(self, generator: Seed = None) -> None:
        """Xavier uniform for every parameter with more than one dimension."""
        rng = as_generator(generator)
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p, generator=rng)

    @staticmethod
    def generate_square_subsequent_mask(
        sz: int, device: object = None, dtype: npt.DTypeLike = np.float32
    ) -> Array:
        """The ``(sz, sz)`` causal mask as scores: 0 on and below the diagonal, -∞ above."""
        return generate_square_subsequent_mask(sz, device, dtype)

    def forward(
        self,
        src: Array,
        tgt: Array,
        src_mask: Array | None = None,
        tgt_mask: Array | None = None,
        memory_mask: Array | None = None,
        src_key_padding_mask: Array | None = None,
        tgt_key_padding_mask: Array | None = None,
        memory_key_padding_mask: Array | None = None,
        src_is_causal: bool | None = None,
        tgt_is_causal: bool | None = None,
        memory_is_causal: bool = False,
    ) -> Array:
        self._check(src, tgt)
        memory = self.encoder(
            src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal
        )
        out: Array = self.decoder(
            tgt,
            memory,
            tgt_mask=tgt_mask,
            memory_mask=memory_mask,
            tgt_key_padding_mask=tgt_key_padding_mask,
            memory_key_padding_mask=memory_key_padding_mask,
            tgt_is_causal=tgt_is_causal,
            memory_is_causal=memory_is_causal,
        )
        self._shape = out.shape
        return out

    def _check(self, src: Array, tgt: Array) -> None:
        batch = 0 if self.batch_first else 1
        if np.ndim(src) == 3 and np.shape(src)[batch] != np.shape(tgt)[batch]:
            raise ValueError(
                f"{self.describe()}: src and tgt must have the same batch size, got "
                f"{np.shape(src)} and {np.shape(tgt)}"
            )
        if np.shape(src)[-1] != self.d_model or np.shape(tgt)[-1] != self.d_model:
            raise ValueError(
                f"{self.describe()}: src and tgt must have d_model = {self.d_model} features, "
                f"got {np.shape(src)} and {np.shape(tgt)}"
            )

    def backward(self, grad_output: Array) -> tuple[Array, Array]:
        g = same_shape_gradient(self, grad_output, self._saved(self._shape))
        g_tgt, g_memory = self.decoder.backward(g)
        return self.encoder.backward(g_memory), g_tgt

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, nhead={self.nhead}, batch_first={self.batch_first}"
