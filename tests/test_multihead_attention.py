"""MultiheadAttention specifics, beyond the registry's generic cases (tests/cases/attention.py).

* torch agreement at rtol 1e-9 in float64 with torch's module built by ``to_torch`` (its
  weights loaded through ``load_state_dict``), over float masks as well as boolean ones,
  self-attention on one array (the packed projection), train mode (dropout 0) and eval;
* gradient checks of what the registry cannot draw: self-attention ``mha(x, x, x)``
  (the three gradients added), float masks, dropout with a re-seeded generator;
* the plain reference kernel as a second oracle;
* PyTorch's edge semantics: fully masked queries (NaN with the weights, 0 without),
  scores of 1e4, ``is_causal`` as a hint, parameters and initialisation;
* clear errors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import refnet.nn as nn
from refnet.gradcheck import check_module, compare, numerical_gradient
from refnet.nn.attention import multihead_attention_reference

torch = pytest.importorskip("torch")
from refnet.interop.torch import from_torch, to_array, to_torch  # noqa: E402


def _module(E: int = 4, H: int = 2, seed: int = 0, **options: Any) -> nn.MultiheadAttention:
    """A float64 module with every parameter random (zero biases would hide mistakes)."""
    module = nn.MultiheadAttention(E, H, generator=seed, **options).double()
    rng = np.random.default_rng(seed + 100)
    for param in module.parameters():
        param.data[...] = rng.normal(scale=0.5, size=param.shape)
    return module


def _torch_run(module: nn.Module, inputs: tuple[Any, ...], kwargs: dict[str, Any], G: Any) -> Any:
    """torch's outputs and input gradients for the same weights and upstream gradients."""
    theirs = to_torch(module)
    tensors: list[Any] = []
    t_inputs = []
    for x in inputs:
        found = [t for a, t in zip(inputs, tensors, strict=False) if a is x]
        t = found[0] if found else torch.from_numpy(x.copy()).requires_grad_(True)
        tensors.append(t)
        t_inputs.append(t)
    t_kwargs = {
        k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()
    }
    out, weights = theirs(*t_inputs, **t_kwargs)
    pairs = [(out, G[0])] + ([] if weights is None or G[1] is None else [(weights, G[1])])
    torch.autograd.backward([t for t, _ in pairs], [torch.from_numpy(g) for _, g in pairs])
    return theirs, out, weights, t_inputs


def _close(ours: np.ndarray, theirs: Any, what: str, rtol: float = 1e-9) -> None:
    expected = theirs if isinstance(theirs, np.ndarray) else to_array(theirs)
    scale = float(np.nanmax(np.abs(expected), initial=0.0))
    np.testing.assert_allclose(ours, expected, rtol=rtol, atol=rtol * scale, err_msg=what)


@st.composite
def attention_setups(
    draw: st.DrawFn,
) -> tuple[nn.MultiheadAttention, tuple[Any, ...], dict[str, Any]]:
    """A module, its inputs (self-attention on one array or three arrays) and float or
    boolean masks that leave keys 0 and 1 free."""
    H = draw(st.integers(1, 3))
    E = H * draw(st.integers(1, 2))
    self_attention = draw(st.booleans())
    kdim, vdim = (None, None) if self_attention else draw(st.sampled_from([(None, None), (3, 2)]))
    batch_first = draw(st.booleans())
    module = _module(
        E,
        H,
        seed=draw(st.integers(0, 2**16)),
        bias=draw(st.booleans()),
        add_bias_kv=draw(st.booleans()),
        add_zero_attn=draw(st.booleans()),
        kdim=kdim,
        vdim=vdim,
        batch_first=batch_first,
    )
    if draw(st.booleans()):
        module.eval()
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    N, L = draw(st.integers(1, 3)), draw(st.integers(2, 4))
    S = L if self_attention else draw(st.integers(2, 4))

    def seq(T: int, F: int) -> np.ndarray:
        return rng.normal(size=(N, T, F) if batch_first else (T, N, F))

    q = seq(L, E)
    inputs = (q, q, q) if self_attention else (q, seq(S, module.kdim), seq(S, module.vdim))
    kwargs: dict[str, Any] = {
        "need_weights": draw(st.booleans()),
        "average_attn_weights": draw(st.booleans()),
    }
    kind = draw(st.sampled_from(["bool", "float"]))

    def mask(shape: tuple[int, ...]) -> np.ndarray:
        if kind == "bool":
            m = rng.random(shape) < 0.5
            m[..., :2] = False
            return m
        m = rng.normal(size=shape)
        m[..., 2:][rng.random(m[..., 2:].shape) < 0.3] = -np.inf
        return m

    if draw(st.booleans()):
        kwargs["key_padding_mask"] = mask((N, S))
    attn = draw(st.sampled_from([None, (L, S), (N * H, L, S)]))
    if attn is not None:
        kwargs["attn_mask"] = mask(attn)
    return module, inputs, kwargs


@given(setup=attention_setups(), seed=st.integers(0, 2**16))
def test_agrees_with_torch(
    setup: tuple[nn.MultiheadAttention, tuple[Any, ...], dict[str, Any]], seed: int
) -> None:
    module, inputs, kwargs = setup
    out, weights = module(*inputs, **kwargs)
    rng = np.random.default_rng(seed)
    G = (rng.normal(size=out.shape), None if weights is None else rng.normal(size=weights.shape))
    grads = module.backward(*G)
    theirs, t_out, t_weights, t_inputs = _torch_run(module, inputs, kwargs, G)
    _close(out, t_out, "output")
    assert (weights is None) == (t_weights is None)
    if weights is not None:
        _close(weights, t_weights, "weights")
    if inputs[0] is inputs[1]:
        _close(grads[0] + grads[1] + grads[2], t_inputs[0].grad, "self-attention gradient")
    else:
        for name, g, t in zip(("query", "key", "value"), grads, t_inputs, strict=True):
            _close(g, t.grad, f"grad {name}")
    their_params = dict(theirs.named_parameters())
    for name, param in module.named_parameters():
        _close(param.grad, their_params[name].grad, f"grad {name}")


@given(setup=attention_setups())
def test_matches_the_reference_kernel(
    setup: tuple[nn.MultiheadAttention, tuple[Any, ...], dict[str, Any]],
) -> None:
    module, inputs, kwargs = setup
    plain = nn.MultiheadAttention(
        module.embed_dim, module.num_heads, bias=module.bias, kdim=module.kdim, vdim=module.vdim
    ).double()
    state = module.state_dict()
    plain.load_state_dict({k: state[k] for k in plain.state_dict()})
    kwargs = {k: v for k, v in kwargs.items() if k in ("key_padding_mask", "attn_mask")}
    q, k, v = (x.transpose(1, 0, 2) if module.batch_first else x for x in inputs)
    ours, _ = plain(q, k, v, need_weights=False, **kwargs)
    np.testing.assert_allclose(
        ours, multihead_attention_reference(plain, q, k, v, **kwargs), rtol=1e-10, atol=1e-12
    )


@pytest.mark.parametrize("attn", ["none", "bool", "float", "per-head"])
@pytest.mark.parametrize("padding", ["none", "bool", "float"])
def test_matches_the_reference_kernel_for_every_mask_kind(attn: str, padding: str) -> None:
    """Each kind of attention mask with each kind of key padding mask, every pair once
    (the property above samples a few): the module against the plain per-head kernel."""
    rng = np.random.default_rng(len(attn) + 10 * len(padding))
    module = nn.MultiheadAttention(4, 2, generator=1).double()
    L, S, N = 3, 5, 2
    q, k, v = rng.normal(size=(L, N, 4)), rng.normal(size=(S, N, 4)), rng.normal(size=(S, N, 4))
    kwargs: dict[str, Any] = {}
    if attn in ("bool", "per-head"):
        shape = (L, S) if attn == "bool" else (N * 2, L, S)
        kwargs["attn_mask"] = rng.random(shape) < 0.3
        kwargs["attn_mask"][..., 0] = False  # every query keeps its first key
    elif attn == "float":
        kwargs["attn_mask"] = rng.normal(size=(L, S))
    if padding == "bool":
        kwargs["key_padding_mask"] = np.array([[False, True, False, True, True]] * N)
    elif padding == "float":
        kwargs["key_padding_mask"] = rng.normal(size=(N, S))
    ours, _ = module(q, k, v, need_weights=False, **kwargs)
    np.testing.assert_allclose(
        ours, multihead_attention_reference(module, q, k, v, **kwargs), rtol=1e-10, atol=1e-12
    )


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("need_weights", [False, True])
def test_self_attention_gradient_sums_the_three_paths(
    batch_first: bool, need_weights: bool
) -> None:
    module = _module(6, 3, batch_first=batch_first)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 4, 6))
    G = rng.normal(size=(2, 4, 6))
    _, w0 = module(x, x, x, need_weights=need_weights)
    Gw = None if w0 is None else rng.normal(size=w0.shape)

    def loss() -> np.ndarray:
        out, w = module(x, x, x, need_weights=need_weights)
        return out * G if w is None else np.concatenate([(out * G).ravel(), (w * Gw).ravel()])

    numerical = numerical_gradient(loss, x)
    params = {name: numerical_gradient(loss, p.data) for name, p in module.named_parameters()}
    module.zero_grad()
    module(x, x, x, need_weights=need_weights)
    gq, gk, gv = module.backward(G, Gw)
    report = compare("x", gq + gk + gv, numerical)
    assert not report.mismatches, report.mismatches[:3]
    for name, p in module.named_parameters():
        report = compare(name, p.grad, params[name])
        assert not report.mismatches, (name, report.mismatches[:3])


@pytest.mark.parametrize("need_weights", [False, True])
def test_gradients_with_float_masks(need_weights: bool) -> None:
    module = _module(4, 2, add_bias_kv=True, kdim=3, vdim=5)
    rng = np.random.default_rng(2)
    q, k, v = rng.normal(size=(3, 2, 4)), rng.normal(size=(4, 2, 3)), rng.normal(size=(4, 2, 5))
    kwargs = {
        "key_padding_mask": rng.normal(size=(2, 4)),
        "attn_mask": rng.normal(size=(4, 3, 4)),
        "need_weights": need_weights,
        "average_attn_weights": False,
    }
    check_module(module, (q, k, v), forward_kwargs=kwargs)


def test_dropout_gradient_with_a_reseeded_generator() -> None:
    module = _module(4, 2, dropout=0.4)
    rng = np.random.default_rng(3)
    inputs = tuple(rng.normal(size=(3, 2, 4)) for _ in range(3))

    def reset() -> None:
        module.generator = np.random.default_rng(7)

    check_module(module, inputs, reset=reset)
    reset()
    _, w1 = module(*inputs)
    reset()
    _, w2 = module(*inputs)
    np.testing.assert_array_equal(w1, w2)
    module.eval()
    _, w3 = module(*inputs)
    np.testing.assert_allclose(w3.sum(axis=-1), 1.0)  # no dropout in eval mode
    assert not np.allclose(w1.sum(axis=-1), 1.0)


@pytest.mark.parametrize("kind", ["bool", "float"])
@pytest.mark.parametrize("need_weights", [False, True])
@pytest.mark.parametrize("train", [False, True])
def test_fully_masked_queries_as_torch(kind: str, need_weights: bool, train: bool) -> None:
    """A query whose keys are all blocked: NaN with the weights (a plain softmax), 0 without
    (scaled_dot_product_attention's), exactly where torch has them; the rest equal.

    torch with autograd on, as in training. (Its inference fast path, taken in eval mode
    under ``torch.no_grad()`` for batch-first self-attention with a boolean mask, gives
    NaN without the weights too; refnet follows the general path.)"""
    module = _module(4, 2, batch_first=True).train(train)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 3, 4))
    blocked = np.array([[True, True, True], [False, True, False]])
    kpm: np.ndarray = blocked if kind == "bool" else np.where(blocked, -np.inf, 0.0)
    out, weights = module(x, x, x, key_padding_mask=kpm, need_weights=need_weights)
    theirs = to_torch(module)
    t_out, t_weights = theirs(
        *(torch.from_numpy(x),) * 3,
        key_padding_mask=torch.from_numpy(kpm),
        need_weights=need_weights,
    )
    np.testing.assert_array_equal(np.isnan(out), np.isnan(to_array(t_out)))
    assert np.isnan(out[0]).all() == need_weights
    _close(np.nan_to_num(out), np.nan_to_num(to_array(t_out)), "output")
    if need_weights:
        np.testing.assert_array_equal(np.isnan(weights), np.isnan(to_array(t_weights)))
    else:
        assert weights is None and t_weights is None
        # the blocked query's output is the output projection's bias, its gradient finite
        assert module.out_proj.bias is not None
        np.testing.assert_allclose(out[0], np.broadcast_to(module.out_proj.bias.data, (3, 4)))
        grads = module.backward(np.ones_like(out))
        assert all(np.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("need_weights", [False, True])
def test_large_scores_stay_finite(need_weights: bool) -> None:
    module = _module(4, 1)
    assert module.in_proj_weight is not None
    module.in_proj_weight.data[:8] = np.eye(4).repeat(2, axis=0)[:8] * 100.0
    x = np.random.default_rng(5).normal(size=(3, 2, 4)) * 10  # scores ~ 1e4
    out, _ = module(x, x, x, need_weights=need_weights)
    grads = module.backward(np.ones_like(out))
    assert np.isfinite(out).all() and all(np.isfinite(g).all() for g in grads)
    _, t_out, _, t_inputs = _torch_run(
        module, (x, x, x), {"need_weights": need_weights}, (np.ones_like(out), None)
    )
    _close(out, t_out, "output")
    _close(sum(grads), t_inputs[0].grad, "gradient", rtol=1e-8)


def test_is_causal_is_a_hint_as_in_torch() -> None:
    """Without the weights (and no padding mask) the causal mask replaces attn_mask; with
    them, attn_mask is used as given. refnet does what torch does in both."""
    module = _module(4, 2)
    x = np.random.default_rng(6).normal(size=(3, 2, 4))
    causal = (
        nn.Transformer.generate_square_subsequent_mask(3, dtype=np.float64)
        if hasattr(nn, "Transformer")
        else np.triu(np.full((3, 3), -np.inf), k=1)
    )
    zeros = np.zeros((3, 3))
    hinted, _ = module(x, x, x, attn_mask=zeros, is_causal=True, need_weights=False)
    masked, _ = module(x, x, x, attn_mask=causal, need_weights=False)
    np.testing.assert_allclose(hinted, masked, rtol=1e-12)
    as_given, _ = module(x, x, x, attn_mask=zeros, is_causal=True, need_weights=True)
    unmasked, _ = module(x, x, x, need_weights=True)
    np.testing.assert_allclose(as_given, unmasked, rtol=1e-12)
    for need_weights, expected in ((False, hinted), (True, as_given)):
        _, t_out, _, _ = _torch_run(
            module,
            (x, x, x),
            {"attn_mask": zeros, "is_causal": True, "need_weights": need_weights},
            (np.ones_like(hinted), None),
        )
        _close(expected, t_out, f"is_causal, need_weights={need_weights}")


def test_unbatched_input() -> None:
    module = _module(4, 2, batch_first=True)
    rng = np.random.default_rng(7)
    q, k, v = rng.normal(size=(3, 4)), rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    out, weights = module(q, k, v, key_padding_mask=np.array([False, True, False, False, True]))
    assert out.shape == (3, 4) and weights.shape == (3, 5)
    batched, _ = module(
        q[None], k[None], v[None], key_padding_mask=np.array([[0, 1, 0, 0, 1]], bool)
    )
    np.testing.assert_allclose(out, batched[0], rtol=1e-12)
    _, per_head = module(q, k, v, average_attn_weights=False)
    assert per_head.shape == (2, 3, 5)
    check_module(module, (q, k, v), forward_kwargs={"attn_mask": rng.normal(size=(2, 3, 5))})


def test_parameters_and_initialisation_as_torch() -> None:
    for options in ({}, {"kdim": 3, "vdim": 5, "add_bias_kv": True}, {"bias": False}):
        ours = nn.MultiheadAttention(64, 4, generator=0, **options)
        theirs = torch.nn.MultiheadAttention(64, 4, **options)
        assert list(ours.state_dict()) == list(theirs.state_dict())
        for (name, p), (_, t) in zip(
            ours.named_parameters(), theirs.named_parameters(), strict=True
        ):
            assert p.shape == tuple(t.shape), name
            assert p.dtype == np.float32
            t_values = t.detach().numpy()
            if not t_values.any():
                assert not p.data.any(), f"{name} is zero in torch"
            elif name != "out_proj.weight" and "bias_" not in name:  # uniform: same bound
                assert abs(np.abs(p.data).max() - np.abs(t_values).max()) < 0.02, name
    module = nn.MultiheadAttention(8, 2, generator=3)
    assert from_torch(to_torch(module)).state_dict().keys() == module.state_dict().keys()


@pytest.mark.parametrize("self_attention", [True, False], ids=["packed", "separate"])
def test_two_backwards_add_into_every_gradient(self_attention: bool) -> None:
    """Two calls, two backwards: each parameter's gradient is the sum of the two calls'
    (the packed self-attention path writes its own in_proj gradients)."""
    rng = np.random.default_rng(12)
    options: dict[str, Any] = {"batch_first": True, "add_bias_kv": not self_attention}
    module = nn.MultiheadAttention(4, 2, generator=0, **options).double()
    calls = []
    for _ in range(2):
        q = rng.normal(size=(2, 3, 4))
        kv = q if self_attention else rng.normal(size=(2, 5, 4))
        calls.append((q, kv, rng.normal(size=(2, 3, 4))))

    def grads_of(indices: list[int]) -> dict[str, Any]:
        module.zero_grad()
        for i in indices:
            q, kv, _ = calls[i]
            module(q, kv, kv, need_weights=False)
        for i in reversed(indices):
            module.backward(calls[i][2], None)
        return {name: p.grad.copy() for name, p in module.named_parameters()}

    both, first, second = grads_of([0, 1]), grads_of([0]), grads_of([1])
    for name, grad in both.items():
        np.testing.assert_allclose(grad, first[name] + second[name], rtol=1e-12, err_msg=name)


@pytest.mark.parametrize("sizes", [(0, 1), (4, 0), (-4, 2), (4, -2)], ids=str)
def test_sizes_that_are_not_positive_are_refused_as_by_torch(sizes: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="must be greater than 0"):
        torch.nn.MultiheadAttention(*sizes)
    with pytest.raises(ValueError, match="embed_dim and num_heads must be positive"):
        nn.MultiheadAttention(*sizes)


def test_clear_errors() -> None:
    with pytest.raises(ValueError, match="divisible by num_heads"):
        nn.MultiheadAttention(6, 4)
    module = nn.MultiheadAttention(4, 2, batch_first=True).double()
    rng = np.random.default_rng(8)
    q, k = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 5, 4))
    with pytest.raises(ValueError, match="same length"):
        module(q, k, rng.normal(size=(2, 4, 4)))
    other_batch = rng.normal(size=(3, 5, 4))
    with pytest.raises(ValueError, match=r"same batch size.*\(batch_first=True: \(N, L, E\)\)"):
        module(q, other_batch, other_batch)
    with pytest.raises(ValueError, match=r"key_padding_mask must have shape \(N, S\) = \(2, 5\)"):
        module(q, k, k, key_padding_mask=np.zeros((2, 3), bool))
    with pytest.raises(ValueError, match=r"attn_mask must have shape \(L, S\) = \(3, 5\)"):
        module(q, k, k, attn_mask=np.zeros((5, 3), bool))
    with pytest.raises(TypeError, match="attn_mask must be boolean"):
        module(q, k, k, attn_mask=np.zeros((3, 5), np.int64))
    with pytest.raises(TypeError, match="key_padding_mask must be boolean"):
        module(q, k, k, key_padding_mask=np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match="is_causal=True needs attn_mask"):
        module(q, q, q, is_causal=True)
    with pytest.raises(ValueError, match="4 features"):
        module(q, k[..., :3], k)
    with pytest.raises(ValueError, match="all 3-D"):
        module(q, k[0], k)
    with pytest.raises(TypeError, match="dtype float32 but the parameters are float64"):
        module(q.astype(np.float32), k, k)
    out, weights = module(q, k, k, need_weights=False)
    assert weights is None
    with pytest.raises(ValueError, match="need_weights=False"):
        module.backward(np.ones_like(out), np.ones((2, 3, 5)))
    module.backward(np.ones_like(out))
    out, _ = module(q, k, k)
    with pytest.raises(ValueError, match=r"grad_attn_weights of shape \(2, 3, 5\)"):
        module.backward(np.ones_like(out), np.ones((2, 2, 3, 5)))
