"""refnet.nn.functional.stateless_loss: each loss function and its backward sibling against
torch.nn.functional and torch's autograd, in float64, for every reduction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import refnet.nn as nn
import refnet.nn.functional as F

Rng = np.random.Generator
# name -> builder(rng) -> (arguments, which of them are differentiated, keyword arguments)
Built = tuple[list[Any], tuple[int, ...], dict[str, Any]]


def _signs(rng: Rng, shape: tuple[int, ...]) -> Any:
    return rng.choice([-1.0, 1.0], size=shape)


def _multilabel_targets(rng: Rng, N: int, C: int) -> Any:
    target = np.full((N, C), -1, dtype=np.int64)
    for n in range(N):
        listed = rng.choice(C, size=rng.integers(0, C + 1), replace=False)
        target[n, : len(listed)] = listed
    return target


BUILDERS: dict[str, Callable[[Rng], Built]] = {
    "soft_margin_loss": lambda r: ([r.normal(size=(3, 4)), _signs(r, (3, 4))], (0,), {}),
    "multilabel_soft_margin_loss": lambda r: (
        [r.normal(size=(3, 4)), r.integers(0, 2, (3, 4)).astype(float), r.uniform(0.5, 2, 4)],
        (0,),
        {},
    ),
    "multilabel_margin_loss": lambda r: (
        [r.normal(size=(3, 5)), _multilabel_targets(r, 3, 5)],
        (0,),
        {},
    ),
    "gaussian_nll_loss": lambda r: (
        [r.normal(size=(3, 4)), r.normal(size=(3, 4)), r.uniform(0.2, 2, (3, 1))],
        (0, 2),
        {"full": True, "eps": 1e-3},
    ),
    "ctc_loss": lambda r: (
        [
            np.log(r.dirichlet(np.ones(4), (6, 2))),
            np.array([[1, 2, 2], [3, 1, 0]]),
            np.array([6, 5]),
            np.array([3, 2]),
        ],
        (0,),
        {"blank": 0, "zero_infinity": False},
    ),
    "cosine_embedding_loss": lambda r: (
        [r.normal(size=(4, 3)), r.normal(size=(4, 3)), _signs(r, (4,))],
        (0, 1),
        {"margin": 0.1},
    ),
    "hinge_embedding_loss": lambda r: (
        [r.uniform(0, 2, (3, 4)), _signs(r, (3, 4))],
        (0,),
        {"margin": 1.3},
    ),
    "huber_loss": lambda r: ([r.normal(size=(3, 4)), r.normal(size=(3, 4))], (0,), {"delta": 0.7}),
    "kl_div": lambda r: (
        [np.log(r.dirichlet(np.ones(4), 3)), r.dirichlet(np.ones(4), 3)],
        (0,),
        {"log_target": False},
    ),
    "margin_ranking_loss": lambda r: (
        [r.normal(size=5), r.normal(size=5), _signs(r, (5,))],
        (0, 1),
        {"margin": 0.2},
    ),
    "multi_margin_loss": lambda r: (
        [r.normal(size=(4, 3)), r.integers(0, 3, 4)],
        (0,),
        {"p": 2, "margin": 0.8, "weight": r.uniform(0.5, 2, 3)},
    ),
    "poisson_nll_loss": lambda r: (
        [r.normal(size=(3, 4)), r.integers(0, 5, (3, 4)).astype(float)],
        (0,),
        {"log_input": True, "full": True},
    ),
    "triplet_margin_loss": lambda r: (
        [r.normal(size=(4, 3)), r.normal(size=(4, 3)), r.normal(size=(4, 3))],
        (0, 1, 2),
        {"margin": 1.5, "p": 1.0, "swap": True},
    ),
    "triplet_margin_with_distance_loss": lambda r: (
        [r.normal(size=(4, 3)), r.normal(size=(4, 3)), r.normal(size=(4, 3))],
        (0, 1, 2),
        {"margin": 1.5, "swap": True},
    ),
}


def _torch_arguments(torch: Any, args: list[Any], differentiated: tuple[int, ...]) -> list[Any]:
    out = []
    for i, a in enumerate(args):
        t = torch.from_numpy(np.array(a, copy=True))
        out.append(t.requires_grad_() if i in differentiated else t)
    return out


@pytest.mark.parametrize("name", sorted(BUILDERS))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@given(seed=st.integers(0, 2**16))
def test_loss_function_and_its_backward_match_torch(name: str, reduction: str, seed: int) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    args, differentiated, kwargs = BUILDERS[name](rng)
    kwargs = {**kwargs, "reduction": reduction}
    ours = getattr(F, name)(*args, **kwargs)
    grad = rng.normal(size=np.shape(ours)) if reduction == "none" else 1.0
    theirs_args = _torch_arguments(torch, args, differentiated)
    their_kwargs = {
        k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()
    }
    theirs = getattr(torch.nn.functional, name)(*theirs_args, **their_kwargs)
    theirs.backward(torch.from_numpy(np.asarray(grad)) if reduction == "none" else None)
    np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-12, atol=1e-14)
    grads = getattr(F, f"{name}_backward")(grad, *args, **kwargs)
    grads = grads if isinstance(grads, tuple) else (grads,)
    assert len(grads) == len(differentiated)
    for g, i in zip(grads, differentiated, strict=True):
        expected = theirs_args[i].grad.numpy()
        np.testing.assert_allclose(g, expected, rtol=1e-10, atol=1e-13, err_msg=f"argument {i}")


def test_every_loss_function_of_refnet_has_a_backward_and_a_test() -> None:
    names = [n for n in F.stateless_loss.__all__ if not n.endswith("_backward")]
    assert sorted(names) == sorted(BUILDERS)
    assert all(f"{n}_backward" in F.stateless_loss.__all__ for n in names)


def test_a_positional_argument_means_what_it_means_in_torch() -> None:
    """torch's size_average/reduce come before reduction: refnet makes it keyword-only."""
    x, y = np.ones(3), np.ones(3)
    with pytest.raises(TypeError):
        F.soft_margin_loss(x, y, "sum")  # type: ignore[misc]


@given(seed=st.integers(0, 2**16))
def test_triplet_with_a_module_distance_matches_torch(seed: int) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    a, p, n = rng.normal(size=(3, 4, 3))
    distance = nn.CosineSimilarity(dim=1)
    ours = F.triplet_margin_with_distance_loss(a, p, n, distance_function=distance, margin=0.5)
    grads = F.triplet_margin_with_distance_loss_backward(
        1.0, a, p, n, distance_function=distance, margin=0.5
    )
    ta, tp, tn = (torch.from_numpy(v.copy()).requires_grad_() for v in (a, p, n))
    theirs = torch.nn.functional.triplet_margin_with_distance_loss(
        ta, tp, tn, distance_function=torch.nn.CosineSimilarity(dim=1), margin=0.5
    )
    theirs.backward()
    np.testing.assert_allclose(ours, theirs.item(), rtol=1e-12)
    for g, t in zip(grads, (ta, tp, tn), strict=True):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-10, atol=1e-13)
