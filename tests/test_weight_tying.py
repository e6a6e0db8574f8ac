"""Shared parameters: one ``Parameter`` reached from two modules (tied embeddings).

Both modules' backward add into the one ``p.grad``; ``parameters()`` and the optimizer
see it once; ``state_dict`` has both keys, as PyTorch's; loading (``load_state_dict``,
``refnet.save`` / ``refnet.load``) and converting to torch and back keep the tie.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import refnet
import refnet.nn as nn
import refnet.optim as optim
from refnet.gradcheck import check_module

VOCAB, WIDTH = 7, 4


def tied_model(seed: int = 0) -> nn.Sequential:
    """Token ids -> embedding -> tanh -> logits through the embedding's own matrix."""
    model = nn.Sequential(
        nn.Embedding(VOCAB, WIDTH, generator=seed),
        nn.Tanh(),
        nn.Linear(WIDTH, VOCAB, bias=False, generator=seed + 1),
    )
    model[2].weight = model[0].weight
    return model


def untied_copy(model: nn.Sequential) -> nn.Sequential:
    twin = tied_model()
    twin[2].weight = nn.Parameter(model[0].weight.data.copy())
    twin[0].weight.data[...] = model[0].weight.data
    return twin


TOKENS = np.array([[0, 3, 6], [2, 2, 5]])


def test_both_contributions_land_in_the_one_gradient() -> None:
    model = tied_model().double()
    twin = untied_copy(model).double()
    g = np.random.default_rng(0).standard_normal((2, 3, VOCAB))
    for m in (model, twin):
        m(TOKENS)
        m.backward(g)
    np.testing.assert_allclose(
        model[0].weight.grad, twin[0].weight.grad + twin[2].weight.grad, rtol=1e-12
    )
    check_module(model, TOKENS)


def test_the_parameter_is_seen_once_and_updated_once() -> None:
    model = tied_model()
    assert len(list(model.parameters())) == 1
    assert [name for name, _ in model.named_parameters()] == ["0.weight"]
    optimizer = optim.SGD(model.parameters(), lr=0.5)
    model[0].weight.grad[...] = 1.0
    before = model[0].weight.data.copy()
    optimizer.step()
    np.testing.assert_allclose(model[2].weight.data, before - 0.5)


def test_state_dict_has_both_keys_and_loading_keeps_the_tie(tmp_path: Path) -> None:
    model = tied_model()
    state = model.state_dict()
    assert sorted(state) == ["0.weight", "2.weight"]
    refnet.save(state, tmp_path / "tied.npz")
    other = tied_model(seed=5)
    other.load_state_dict(refnet.load(tmp_path / "tied.npz"))
    assert other[2].weight is other[0].weight
    np.testing.assert_array_equal(other[2].weight.data, model[0].weight.data)


def test_tied_models_convert_to_tied_torch_models_and_back() -> None:
    torch = pytest.importorskip("torch")
    from refnet.interop.torch import from_torch, to_torch

    model = tied_model().double()
    theirs = to_torch(model)
    assert theirs[2].weight is theirs[0].weight
    assert len(list(theirs.parameters())) == 1
    tokens = torch.from_numpy(TOKENS)
    np.testing.assert_allclose(theirs(tokens).detach().numpy(), model(TOKENS), rtol=1e-12)
    back = from_torch(theirs)
    assert back[2].weight is back[0].weight
    np.testing.assert_array_equal(back[0].weight.data, model[0].weight.data)
