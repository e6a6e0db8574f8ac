"""Transformer layer specifics, beyond the registry's generic cases (tests/cases/attention.py).

* deeper stacks than the registry's one layer: two-layer encoder and decoder stacks and a
  whole Transformer, gradient checked (atol 1e-8: the finite differences of deeper
  stacks carry rounding noise near 1e-9) and against torch at rtol 1e-9, train mode with
  dropout 0 and eval mode with dropout 0.1;
* the causal mask: ``generate_square_subsequent_mask``, the stacks' detection of a causal
  mask (``is_causal=None``) as torch's;
* dropout from a seeded generator: reproducible, and different layers draw different masks;
* a torch quirk: ``TransformerDecoder`` deep-copies its layer and the copy's
  ``__setstate__`` puts ``F.relu`` over an activation module; refnet keeps the module;
* keys, the residual backward structures, clear errors.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest

import refnet.nn as nn
from refnet.gradcheck import check_module

torch = pytest.importorskip("torch")
from refnet.interop.torch import from_torch, to_array, to_torch  # noqa: E402


def _randomise(module: nn.Module, seed: int = 0, scale: float = 0.5) -> nn.Module:
    module = module.double()
    rng = np.random.default_rng(seed)
    for param in module.parameters():
        param.data[...] = rng.uniform(-scale, scale, size=param.shape)
    return module


def _against_torch(module: nn.Module, inputs: tuple[np.ndarray, ...], **kwargs: Any) -> None:
    """Output, every input gradient and every parameter gradient at rtol 1e-9."""
    theirs = to_torch(module)
    out = module(*inputs, **kwargs)
    G = np.random.default_rng(9).normal(size=out.shape)
    module.zero_grad()
    grads = module.backward(G)
    grads = grads if isinstance(grads, tuple) else (grads,)
    t_inputs = [torch.from_numpy(x.copy()).requires_grad_(True) for x in inputs]
    t_kwargs = {
        k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()
    }
    t_out = theirs(*t_inputs, **t_kwargs)
    t_out.backward(torch.from_numpy(G))

    def close(a: np.ndarray, t: Any, what: str) -> None:
        e = to_array(t)
        np.testing.assert_allclose(a, e, rtol=1e-9, atol=1e-9 * np.abs(e).max(), err_msg=what)

    close(out, t_out, "output")
    for i, (g, t) in enumerate(zip(grads, t_inputs, strict=True)):
        close(g, t.grad, f"input {i}")
    their = dict(theirs.named_parameters())
    for name, p in module.named_parameters():
        close(p.grad, their[name].grad, name)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("train", [False, True])
def test_two_layer_encoder(norm_first: bool, train: bool) -> None:
    layer = nn.TransformerEncoderLayer(
        4, 2, 3, dropout=0.0 if train else 0.1, norm_first=norm_first, activation="gelu"
    )
    encoder = _randomise(nn.TransformerEncoder(layer, 2, nn.LayerNorm(4))).train(train)
    x = np.random.default_rng(1).uniform(-1, 1, size=(3, 2, 4))
    mask = np.triu(np.ones((3, 3), dtype=bool), 1)  # detected as causal (is_causal=None)
    padding = np.array([[False, False, True], [False, False, False]])
    kwargs = {"mask": mask, "src_key_padding_mask": padding}
    check_module(encoder, x, forward_kwargs=kwargs, atol=1e-8)
    _against_torch(encoder, (x,), **kwargs)


@pytest.mark.parametrize("norm_first", [False, True])
def test_two_layer_decoder(norm_first: bool) -> None:
    layer = nn.TransformerDecoderLayer(
        4, 1, 3, dropout=0.0, norm_first=norm_first, batch_first=True
    )
    decoder = _randomise(nn.TransformerDecoder(layer, 2))
    rng = np.random.default_rng(2)
    tgt, memory = rng.uniform(-1, 1, size=(2, 3, 4)), rng.uniform(-1, 1, size=(2, 4, 4))
    kwargs = {"tgt_mask": np.triu(np.ones((3, 3), dtype=bool), 1), "tgt_is_causal": True}
    check_module(decoder, (tgt, memory), forward_kwargs=kwargs, atol=1e-8)
    _against_torch(decoder, (tgt, memory), **kwargs)


def test_whole_transformer_and_its_gradient_structure() -> None:
    model = _randomise(nn.Transformer(4, 2, 2, 2, 3, dropout=0.0))
    rng = np.random.default_rng(3)
    src, tgt = rng.uniform(-1, 1, size=(5, 2, 4)), rng.uniform(-1, 1, size=(3, 2, 4))
    kwargs = {"tgt_mask": nn.Transformer.generate_square_subsequent_mask(3, dtype=np.float64)}
    out = model(src, tgt, **kwargs)
    grad_src, grad_tgt = model.backward(np.ones_like(out))
    assert grad_src.shape == src.shape and grad_tgt.shape == tgt.shape
    _against_torch(model, (src, tgt), **kwargs)
    keys = set(model.state_dict())
    assert {"encoder.layers.1.self_attn.in_proj_weight", "encoder.norm.weight"} <= keys
    assert {"decoder.layers.0.multihead_attn.out_proj.bias", "decoder.layers.1.norm3.bias"} <= keys
    assert list(model.state_dict()) == list(to_torch(model).state_dict())
    assert list(model.state_dict()) == list(from_torch(to_torch(model)).state_dict())


def test_generate_square_subsequent_mask_and_causal_detection() -> None:
    mask = nn.Transformer.generate_square_subsequent_mask(3)
    expected = torch.nn.Transformer.generate_square_subsequent_mask(3).numpy()
    np.testing.assert_array_equal(mask, expected)
    assert mask.dtype == np.float32
    from refnet.nn.transformer import _detect_is_causal_mask

    assert _detect_is_causal_mask(mask, None, 3)
    assert _detect_is_causal_mask(np.triu(np.ones((3, 3), dtype=bool), 1), None, 3)
    assert not _detect_is_causal_mask(np.zeros((3, 3)), None, 3)
    assert not _detect_is_causal_mask(mask, None, 4)
    assert _detect_is_causal_mask(None, True, 3) and not _detect_is_causal_mask(mask, False, 3)


def _causal_candidates() -> list[Any]:
    blocked = np.triu(np.ones((3, 3), dtype=bool), 1)
    causal = np.where(blocked, -np.inf, 0.0)
    return [
        blocked,
        ~blocked,
        causal,
        causal.astype(np.float32),
        np.where(blocked, np.inf, 0.0),  # +inf above the diagonal is not the causal mask
        np.where(blocked, -1e9, 0.0),
        np.zeros((3, 3)),
        np.triu(np.ones((4, 4), dtype=bool), 1),
        None,
    ]


@pytest.mark.parametrize("hint", [None, True, False])
@pytest.mark.parametrize("index", range(len(_causal_candidates())))
def test_causal_mask_detection_is_torchs(index: int, hint: bool | None) -> None:
    from torch.nn.modules.transformer import _detect_is_causal_mask as torch_detect

    from refnet.nn.transformer import _detect_is_causal_mask

    mask = _causal_candidates()[index]
    t_mask = None if mask is None else torch.from_numpy(mask)
    for size in (None, 3):
        assert _detect_is_causal_mask(mask, hint, size) == torch_detect(t_mask, hint, size)


class _RecordingLayer(nn.TransformerEncoderLayer):
    """An encoder layer that notes the ``is_causal`` its stack passes it."""

    seen: ClassVar[list[bool]] = []

    def forward(self, src: Any, src_mask: Any = None, src_key_padding_mask: Any = None,
                is_causal: bool = False) -> Any:  # fmt: skip
        self.seen.append(is_causal)
        return super().forward(src, src_mask, src_key_padding_mask, is_causal)


class _TorchRecordingLayer(torch.nn.TransformerEncoderLayer):
    seen: ClassVar[list[bool]] = []

    def forward(self, src: Any, src_mask: Any = None, src_key_padding_mask: Any = None,
                is_causal: bool = False) -> Any:  # fmt: skip
        self.seen.append(is_causal)
        return super().forward(src, src_mask, src_key_padding_mask, is_causal)


LAYOUTS = {"seq-first": (False, (3, 2, 4)), "batch-first": (True, (2, 3, 4))}
LAYOUTS |= {"unbatched": (False, (3, 4)), "unbatched-batch-first": (True, (3, 4))}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("kind", ["bool", "float"])
def test_an_encoder_stack_tells_its_layers_what_torchs_tells_them(layout: str, kind: str) -> None:
    """The stack detects a causal ``mask`` from the sequence length of its input (the
    second axis with ``batch_first``), and passes the verdict to every layer."""
    batch_first, shape = LAYOUTS[layout]
    options = {"dropout": 0.0, "batch_first": batch_first}
    ours = nn.TransformerEncoder(_RecordingLayer(4, 2, 8, **options).double(), 2)
    theirs = torch.nn.TransformerEncoder(
        _TorchRecordingLayer(4, 2, 8, **options), 2, enable_nested_tensor=False
    ).double()
    mask = np.triu(np.ones((3, 3), dtype=bool), 1)
    if kind == "float":
        mask = np.where(mask, -np.inf, 0.0)
    x = np.zeros(shape)
    _RecordingLayer.seen.clear()
    _TorchRecordingLayer.seen.clear()
    ours(x, mask=mask)
    theirs(torch.from_numpy(x), mask=torch.from_numpy(mask))
    assert _RecordingLayer.seen == _TorchRecordingLayer.seen == [True, True]


@pytest.mark.parametrize("activation", ["relu", "gelu", "gelu-tanh", "gelu-module", "tanh-module"])
def test_the_relu_or_gelu_flag_is_torchs(activation: str) -> None:
    """``activation_relu_or_gelu``: 1 relu, 2 any GELU (its tanh form too), 0 anything else,
    as torch's."""
    ours: Any = activation
    theirs: Any = activation
    if activation == "gelu-tanh":
        ours, theirs = nn.GELU(approximate="tanh"), torch.nn.GELU(approximate="tanh")
    elif activation == "gelu-module":
        ours, theirs = nn.GELU(), torch.nn.GELU()
    elif activation == "tanh-module":
        ours, theirs = nn.Tanh(), torch.nn.Tanh()
    mine = nn.TransformerEncoderLayer(4, 2, 8, activation=ours).activation_relu_or_gelu
    assert (
        mine == torch.nn.TransformerEncoderLayer(4, 2, 8, activation=theirs).activation_relu_or_gelu
    )


def test_a_transformer_starts_from_xavier_uniform_in_every_matrix_as_torch() -> None:
    """``Transformer`` re-draws every parameter of two or more dimensions from Xavier's
    U(±√(6/(fan_in + fan_out))) (the Linear layers' own bound 1/√fan_in is smaller):
    the largest |w| of each matrix reaches into the top tenth of that bound, in both."""
    ours = nn.Transformer(16, 2, 1, 1, 64, generator=0)
    torch.manual_seed(0)
    theirs = torch.nn.Transformer(16, 2, 1, 1, 64)
    their_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        if p.ndim < 2:
            continue
        fan_out, fan_in = p.shape
        bound = np.sqrt(6 / (fan_in + fan_out))
        for library, w in (("refnet", p.data), ("torch", their_params[name].detach().numpy())):
            assert 0.9 * bound < np.abs(w).max() <= bound, (library, name)


@pytest.mark.parametrize("num_layers", [2, 4])
def test_dropout_is_seeded_and_differs_between_layers(num_layers: int) -> None:
    def build() -> nn.TransformerEncoder:
        layer = nn.TransformerEncoderLayer(4, 2, 8, dropout=0.5, generator=5)
        return nn.TransformerEncoder(layer, num_layers).double()

    x = np.random.default_rng(4).normal(size=(3, 2, 4))
    first, second = build(), build()
    np.testing.assert_array_equal(first(x), second(x))
    layers = list(first.layers)
    noise = []
    for layer in layers:
        layer(x)
        noise.append(layer.dropout._noise)
    for i in range(num_layers):
        for j in range(i):  # every pair of layers, the later copies among themselves too
            assert not np.array_equal(noise[i], noise[j]), (i, j)
    first.eval()
    np.testing.assert_array_equal(first(x), first(x))


def test_decoder_stack_keeps_an_activation_module() -> None:
    """torch's TransformerDecoder computes ReLU here (its copies' __setstate__ sets
    F.relu over the GELU module); refnet's stack equals its layers stepped one by one."""
    layer = _randomise(nn.TransformerDecoderLayer(4, 2, 3, dropout=0.0, activation=nn.GELU("tanh")))
    stack = nn.TransformerDecoder(layer, 2)
    rng = np.random.default_rng(6)
    tgt, memory = rng.normal(size=(3, 2, 4)), rng.normal(size=(4, 2, 4))
    x = tgt
    for one in stack.layers:
        assert isinstance(one.activation, nn.GELU)
        x = one(x, memory)
    np.testing.assert_allclose(stack(tgt, memory), x, rtol=1e-12)
    theirs = torch.nn.TransformerDecoder(to_torch(layer), 2)
    assert theirs.layers[1].activation is torch.nn.functional.relu  # the quirk, pinned


def test_encoder_layer_fits_sequential_and_sums_the_self_attention_paths() -> None:
    layer = _randomise(nn.TransformerEncoderLayer(4, 2, 3, dropout=0.0, batch_first=True))
    model = nn.Sequential(layer, nn.Linear(4, 2).double())
    x = np.random.default_rng(7).uniform(-1, 1, size=(2, 3, 4))
    check_module(model, x, atol=1e-8)


def test_clear_errors() -> None:
    with pytest.raises(ValueError, match="activation should be 'relu', 'gelu'"):
        nn.TransformerEncoderLayer(4, 2, activation="tanh")
    with pytest.raises(ValueError, match="divisible by num_heads"):
        nn.TransformerEncoderLayer(6, 4)
    with pytest.raises(ValueError, match="num_layers must be at least 1"):
        nn.TransformerEncoder(nn.TransformerEncoderLayer(4, 2), 0)
    model = nn.Transformer(4, 2, 1, 1, 8, dropout=0.0)
    with pytest.raises(ValueError, match="src and tgt must have the same batch size"):
        model(np.zeros((3, 2, 4), np.float32), np.zeros((3, 1, 4), np.float32))
    with pytest.raises(ValueError, match="d_model = 4"):
        model(np.zeros((3, 2, 5), np.float32), np.zeros((3, 2, 5), np.float32))
    for src_features, tgt_features in ((5, 4), (4, 5)):  # either one alone is refused
        with pytest.raises(ValueError, match="d_model = 4"):
            model(np.zeros((3, 2, src_features), np.float32), np.zeros((3, 2, tgt_features)))
    layer = nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0)
    out = layer(np.zeros((3, 2, 4), np.float32))
    with pytest.raises(ValueError, match="gradient of the output's shape"):
        layer.backward(np.zeros((2, 4), np.float32))
    layer.backward(np.zeros_like(out))
    with pytest.raises(ValueError, match="is_causal=True needs attn_mask"):
        layer(np.zeros((3, 2, 4), np.float32), is_causal=True)
