"""refnet.nn.functional.stateless_more: each function and its backward sibling against
torch.nn.functional and torch's autograd, in float64; batch_norm's running statistics."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import refnet.nn.functional as F

torch = pytest.importorskip("torch")

# name -> (keyword arguments shared by both libraries, kinks to stay away from)
ONE_INPUT: dict[str, tuple[dict[str, Any], tuple[float, ...]]] = {
    "hardtanh": ({"min_val": -0.5, "max_val": 1.5}, (-0.5, 1.5)),
    "relu6": ({}, (0.0, 6.0)),
    "selu": ({}, (0.0,)),
    "softsign": ({}, (0.0,)),
    "logsigmoid": ({}, ()),
    "mish": ({}, ()),
    "hardsigmoid": ({}, (-3.0, 3.0)),
    "hardswish": ({}, (-3.0, 3.0)),
    "sigmoid": ({}, ()),
    "tanh": ({}, ()),
    "softplus": ({"beta": 0.7, "threshold": 3.0}, (3.0 / 0.7,)),
}
BACKWARD = {"tanh": F.tanh_backward, "sigmoid": F.sigmoid_backward}
# torch's float64 hardsigmoid backward multiplies by the float32 constant 1.0f/6.0f.
BACKWARD_RTOL = {"hardsigmoid": 1e-7}


def away_from(x: np.ndarray, kinks: tuple[float, ...]) -> np.ndarray:
    for kink in kinks:
        x = np.where(np.abs(x - kink) < 1e-3, kink + 0.01, x)
    return x


@pytest.mark.parametrize("name", sorted(ONE_INPUT))
@given(seed=st.integers(0, 2**16))
def test_function_and_its_backward_match_torch(name: str, seed: int) -> None:
    kwargs, kinks = ONE_INPUT[name]
    rng = np.random.default_rng(seed)
    x = away_from(rng.uniform(-8, 8, (3, 5)), kinks)
    y = getattr(F, name)(x, **kwargs)
    grad = rng.normal(size=y.shape)
    t = torch.tensor(x, requires_grad=True)
    getattr(torch.nn.functional, name)(t, **kwargs).backward(torch.from_numpy(grad))
    expected = getattr(torch.nn.functional, name)(torch.tensor(x), **kwargs).numpy()
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-15)
    backward = BACKWARD.get(name) or getattr(F, f"{name}_backward")
    rtol = BACKWARD_RTOL.get(name, 1e-12)
    np.testing.assert_allclose(backward(grad, x, **kwargs), t.grad.numpy(), rtol=rtol, atol=1e-15)


@pytest.mark.parametrize("channels", [1, 4])
def test_prelu_and_its_backward_match_torch(channels: int) -> None:
    rng = np.random.default_rng(channels)
    x, weight = rng.normal(size=(2, 4, 3)), rng.uniform(0.0, 0.5, channels)
    grad = rng.normal(size=x.shape)
    t, w = torch.tensor(x, requires_grad=True), torch.tensor(weight, requires_grad=True)
    y = torch.nn.functional.prelu(t, w)
    y.backward(torch.from_numpy(grad))
    np.testing.assert_allclose(F.prelu(x, weight), y.detach().numpy(), rtol=1e-12)
    grad_x, grad_w = F.prelu_backward(grad, x, weight)
    np.testing.assert_allclose(grad_x, t.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(grad_w, w.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (2, 3, 4, 4), (2, 3, 2, 2, 2)])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_and_its_backward_match_torch(
    shape: tuple[int, ...], training: bool, affine: bool
) -> None:
    rng = np.random.default_rng(sum(shape))
    x, grad = rng.normal(2.0, 3.0, shape), rng.normal(size=shape)
    weight, bias = (rng.normal(size=3), rng.normal(size=3)) if affine else (None, None)
    mean, var = rng.normal(size=3), rng.uniform(0.5, 2.0, 3)
    ours_mean, ours_var = mean.copy(), var.copy()
    their_mean, their_var = torch.tensor(mean), torch.tensor(var)
    t = torch.tensor(x, requires_grad=True)
    tw = None if weight is None else torch.tensor(weight, requires_grad=True)
    tb = None if bias is None else torch.tensor(bias, requires_grad=True)
    options = {"training": training, "momentum": 0.3, "eps": 1e-4}
    y = torch.nn.functional.batch_norm(t, their_mean, their_var, tw, tb, **options)
    y.backward(torch.from_numpy(grad))
    np.testing.assert_allclose(
        F.batch_norm(x, ours_mean, ours_var, weight, bias, **options),
        y.detach().numpy(),
        rtol=1e-10,
    )
    np.testing.assert_allclose(ours_mean, their_mean.numpy(), rtol=1e-12)  # moved in place
    np.testing.assert_allclose(ours_var, their_var.numpy(), rtol=1e-12)
    grad_x, grad_w, grad_b = F.batch_norm_backward(
        grad, x, ours_mean, ours_var, weight, bias, **options
    )
    np.testing.assert_allclose(ours_mean, their_mean.numpy(), rtol=1e-12)  # not moved again
    np.testing.assert_allclose(grad_x, t.grad.numpy(), rtol=1e-8, atol=1e-12)
    if tw is not None and tb is not None:
        np.testing.assert_allclose(grad_w, tw.grad.numpy(), rtol=1e-8)
        np.testing.assert_allclose(grad_b, tb.grad.numpy(), rtol=1e-10)
    else:
        assert grad_w is None and grad_b is None


def test_batch_norm_without_running_statistics() -> None:
    x = np.random.default_rng(0).normal(size=(5, 2))
    expected = torch.nn.functional.batch_norm(torch.tensor(x), None, None, training=True)
    np.testing.assert_allclose(F.batch_norm(x, None, None, training=True), expected.numpy())
    with pytest.raises(ValueError, match="needed when not training"):
        F.batch_norm(x, None, None, training=False)


@pytest.mark.parametrize("given", ["running_mean", "running_var"])
def test_batch_norm_refuses_one_running_statistic_without_the_other(given: str) -> None:
    x = np.random.default_rng(0).normal(size=(5, 2))
    statistics = {"running_mean": None, "running_var": None, given: np.ones(2)}
    torch_statistics = {n: None if a is None else torch.tensor(a) for n, a in statistics.items()}
    match = "must either both be None or neither be None"
    with pytest.raises(ValueError, match=match):
        torch.nn.functional.batch_norm(torch.tensor(x), **torch_statistics, training=True)
    with pytest.raises(ValueError, match=match):
        F.batch_norm(x, **statistics, training=True)


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, float("inf")])
def test_normalize_backward_at_a_norm_of_exactly_eps_as_torch(p: float) -> None:
    """At ‖x‖ = eps torch's clamp passes the gradient through the norm (its subgradient
    of max(n, eps) at the tie); below eps the denominator is the constant eps."""
    x = np.array([[0.5, 0.0, 0.0], [0.0, -0.5, 0.0], [0.25, 0.0, 0.0]])  # norms 0.5, 0.5, 0.25
    grad = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0], [1.0, -2.0, 0.5]])
    t = torch.tensor(x, requires_grad=True)
    torch.nn.functional.normalize(t, p=p, dim=1, eps=0.5).backward(torch.from_numpy(grad))
    assert t.grad is not None
    np.testing.assert_allclose(
        F.normalize_backward(grad, x, p, 1, 0.5), t.grad.numpy(), rtol=1e-15, atol=1e-15
    )


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, float("inf")])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_normalize_and_its_backward_match_torch(p: float, dim: int) -> None:
    rng = np.random.default_rng(len(str(p)) + dim + 1)
    x = rng.normal(size=(3, 4, 5))
    x[0, 1] = 1e-14  # a row (for dim -1) whose norm is below eps: the clamp
    grad = rng.normal(size=x.shape)
    t = torch.tensor(x, requires_grad=True)
    y = torch.nn.functional.normalize(t, p=p, dim=dim, eps=1e-12)
    y.backward(torch.from_numpy(grad))
    np.testing.assert_allclose(F.normalize(x, p, dim, 1e-12), y.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(
        F.normalize_backward(grad, x, p, dim, 1e-12), t.grad.numpy(), rtol=1e-9, atol=1e-12
    )


@pytest.mark.parametrize("separate_kdim", [None, 8, 6])
@pytest.mark.parametrize("bias_kv", [False, True])
@pytest.mark.parametrize("biases", [True, False])
def test_multi_head_attention_forward_matches_torch(
    separate_kdim: int | None, bias_kv: bool, biases: bool
) -> None:
    """Packed or separate projection weights (separate ones of the query's width too, which
    refnet packs into one matrix), with and without bias_k/bias_v and the projection
    biases (an absent bias is zero)."""
    separate = separate_kdim is not None
    rng = np.random.default_rng((separate_kdim or 0) + 2 * int(bias_kv) + 4 * int(biases))
    E, H, L, S, N = 8, 2, 4, 5, 3
    kdim = separate_kdim or E
    q, k, v = (
        rng.normal(size=(L, N, E)),
        rng.normal(size=(S, N, kdim)),
        rng.normal(size=(S, N, kdim)),
    )
    w = {
        "in_proj_weight": None if separate else rng.normal(size=(3 * E, E)) * 0.3,
        "in_proj_bias": rng.normal(size=3 * E) * 0.1 if biases else None,
        "bias_k": rng.normal(size=(1, 1, E)) if bias_kv else None,
        "bias_v": rng.normal(size=(1, 1, E)) if bias_kv else None,
        "out_proj_weight": rng.normal(size=(E, E)) * 0.3,
        "out_proj_bias": rng.normal(size=E) * 0.1 if biases else None,
    }
    sep = {}
    if separate:
        sep = {
            "use_separate_proj_weight": True,
            "q_proj_weight": rng.normal(size=(E, E)) * 0.3,
            "k_proj_weight": rng.normal(size=(E, kdim)) * 0.3,
            "v_proj_weight": rng.normal(size=(E, kdim)) * 0.3,
        }
    mask = rng.random((L, S)) < 0.2
    mask[:, 0] = False
    args = (
        E,
        H,
        w["in_proj_weight"],
        w["in_proj_bias"],
        w["bias_k"],
        w["bias_v"],
        False,
        0.0,
        w["out_proj_weight"],
        w["out_proj_bias"],
    )
    out, weights = F.multi_head_attention_forward(q, k, v, *args, attn_mask=mask, **sep)
    tensors = {
        n: None if a is None else torch.tensor(a, requires_grad=True)
        for n, a in (w | sep).items()
        if n != "use_separate_proj_weight"
    }
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    t_args = (
        E,
        H,
        tensors["in_proj_weight"],
        tensors["in_proj_bias"],
        tensors["bias_k"],
        tensors["bias_v"],
        False,
        0.0,
        tensors["out_proj_weight"],
        tensors["out_proj_bias"],
    )
    t_sep = {n: tensors[n] for n in ("q_proj_weight", "k_proj_weight", "v_proj_weight") if separate}
    t_out, t_weights = torch.nn.functional.multi_head_attention_forward(
        tq,
        tk,
        tv,
        *t_args,
        attn_mask=torch.from_numpy(mask),
        use_separate_proj_weight=separate,
        **t_sep,
    )
    np.testing.assert_allclose(out, t_out.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(weights, t_weights.detach().numpy(), rtol=1e-10)
    g = rng.normal(size=out.shape)
    t_out.backward(torch.from_numpy(g))
    dq, dk, dv, dw = F.multi_head_attention_forward_backward(
        g, None, q, k, v, *args, attn_mask=mask, **sep
    )
    for got, tensor in zip((dq, dk, dv), (tq, tk, tv), strict=True):
        np.testing.assert_allclose(got, tensor.grad.numpy(), rtol=1e-9, atol=1e-12)
    assert set(dw) == {n for n, t in tensors.items() if t is not None}
    for name, grad in dw.items():
        np.testing.assert_allclose(
            grad, tensors[name].grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name
        )


def _small_attention_arguments(E: int) -> tuple[Any, ...]:
    rng = np.random.default_rng(5)
    in_w, in_b = rng.normal(size=(3 * E, E)), rng.normal(size=3 * E)
    out_w, out_b = rng.normal(size=(E, E)), rng.normal(size=E)
    return (E, 2, in_w, in_b, None, None, False, 0.0, out_w, out_b)


@pytest.mark.parametrize("static", ["static_k", "static_v"])
def test_multi_head_attention_forward_refuses_either_static_projection(static: str) -> None:
    x = np.zeros((4, 3, 8))
    with pytest.raises(NotImplementedError, match="static_k/static_v"):
        F.multi_head_attention_forward(
            x, x, x, *_small_attention_arguments(8), **{static: np.zeros((6, 4, 4))}
        )


def test_multi_head_attention_forward_names_the_query_width_it_got() -> None:
    """Torch's message: the width expected and the last axis of the query (here 6; the
    batch is 3 and the length 4, so a wrong axis would show)."""
    x = np.zeros((4, 3, 6))
    with pytest.raises(ValueError, match="expecting embedding dimension of 8, but got 6"):
        F.multi_head_attention_forward(x, x, x, *_small_attention_arguments(8))
