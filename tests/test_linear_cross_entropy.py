"""LinearCrossEntropyLoss and F.linear_cross_entropy beyond the registry's generic tests."""

from __future__ import annotations

import numpy as np
import pytest

import refnet.nn as nn
import refnet.nn.functional as F

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("out_features", [(), (3,)])
def test_functional_form_and_backward_match_torch(out_features: tuple[int, ...]) -> None:
    rng = np.random.default_rng(len(out_features))
    x, w = rng.normal(size=(4, 5)), rng.normal(size=(6, *out_features, 5))
    b = rng.normal(size=(6, *out_features))
    y = rng.integers(0, 6, (4, *out_features))
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    options = {"label_smoothing": 0.1, "reduction": "sum"}
    loss = torch.nn.functional.linear_cross_entropy(
        tx, tw, torch.from_numpy(y), linear_bias=tb, **options
    )
    loss.backward()
    ours = F.linear_cross_entropy(x, w, y, linear_bias=b, **options)
    np.testing.assert_allclose(ours, loss.item(), rtol=1e-12)
    grads = F.linear_cross_entropy_backward(1.0, x, w, y, linear_bias=b, **options)
    for got, tensor in zip(grads, (tx, tw, tb), strict=True):
        np.testing.assert_allclose(got, tensor.grad.numpy(), rtol=1e-10)


def test_unbatched_input_and_probability_targets() -> None:
    module = nn.LinearCrossEntropyLoss(3, 4, bias=True, dtype=np.float64, generator=0)
    twin = torch.nn.LinearCrossEntropyLoss(3, 4, bias=True, dtype=torch.float64)
    twin.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in module.state_dict().items()})
    x = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(
        module(x, np.array(2)), twin(torch.from_numpy(x), torch.tensor(2)).item(), rtol=1e-12
    )
    q = np.array([[0.1, 0.2, 0.3, 0.4]])
    np.testing.assert_allclose(
        module(x[None], q), twin(torch.from_numpy(x[None]), torch.from_numpy(q)).item(), rtol=1e-12
    )


def test_refusals() -> None:
    with pytest.raises(NotImplementedError, match="chunked path"):
        nn.LinearCrossEntropyLoss(3, 4, options=object())
    with pytest.raises(ValueError, match=r"weight of shape \(4,\)"):
        nn.LinearCrossEntropyLoss(3, 4, weight=np.ones(3))
    with pytest.raises(ValueError, match="expected input"):
        nn.LinearCrossEntropyLoss(3, 4, out_features=(2,))(np.zeros(3), np.zeros(2, np.int64))
