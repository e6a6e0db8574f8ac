"""Every functional pool and its ``*_backward`` against torch, on batched and unbatched
input, with tuple arguments and non-square sizes.

The module tests reach the functional pools through a layer, which always passes a
batch and per-axis tuples; the functions' own paths (an unbatched input, a tuple
``kernel_size``, one axis different from the others) went unchecked, and a mutation run
of functional/pooling.py could change them unseen (issue 20). Float64 inputs without
ties; torch's autograd gives the reference gradient.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pytest

import refnet.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

# name, spatial size of the input, positional arguments after the input, keywords
CASES: list[tuple[str, tuple[int, ...], tuple[Any, ...], dict[str, Any]]] = [
    ("avg_pool1d", (7,), (3,), {"stride": 2, "padding": 1, "ceil_mode": True}),
    ("avg_pool1d", (6,), ((2,),), {"count_include_pad": False, "padding": 1}),
    ("avg_pool2d", (7, 5), ((3, 2),), {"stride": (2, 1), "padding": (1, 0), "ceil_mode": True}),
    ("avg_pool2d", (6, 7), (2,), {"divisor_override": 3, "count_include_pad": False}),
    ("avg_pool3d", (5, 6, 4), ((2, 3, 2),), {"stride": (1, 2, 2), "padding": (1, 1, 0)}),
    ("avg_pool3d", (4, 5, 3), (2,), {"ceil_mode": True, "divisor_override": 5}),
    ("max_pool1d", (9,), (3,), {"stride": 2, "padding": 1, "dilation": 2, "ceil_mode": True}),
    ("max_pool2d", (7, 6), ((3, 2),), {"stride": (2, 1), "padding": (1, 1), "dilation": (1, 2)}),
    ("max_pool2d", (5, 8), (2,), {"ceil_mode": True}),
    ("max_pool3d", (5, 6, 4), ((2, 3, 2),), {"stride": (1, 2, 1), "padding": (1, 1, 0)}),
    ("lp_pool1d", (7,), (2.0, 3), {"stride": 2, "ceil_mode": True}),
    ("lp_pool2d", (7, 5), (2.0, (3, 2)), {"stride": (2, 1)}),
    ("lp_pool2d", (6, 7), (3.0, 2), {"ceil_mode": True}),
    ("lp_pool3d", (5, 6, 4), (2.0, (2, 3, 2)), {"stride": (1, 2, 2), "ceil_mode": True}),
    ("adaptive_avg_pool1d", (7,), (3,), {}),
    ("adaptive_avg_pool2d", (7, 5), ((3, 4),), {}),
    ("adaptive_avg_pool2d", (6, 5), ((None, 2),), {}),
    ("adaptive_avg_pool3d", (5, 6, 4), ((2, 4, 3),), {}),
    ("adaptive_max_pool1d", (7,), (3,), {}),
    ("adaptive_max_pool2d", (7, 5), ((3, 4),), {}),
    ("adaptive_max_pool3d", (5, 6, 4), ((2, 4, 3),), {}),
]


def _input(spatial: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """(2, 3, *spatial), distinct positive values (no ties, a real p-th root)."""
    size = 6 * int(np.prod(spatial))
    values = np.random.default_rng(seed).permutation(size) + 1.0
    return values.reshape(2, 3, *spatial) / size


def _ids(case: tuple[Any, ...]) -> str:
    name, spatial, args, kwargs = case
    return f"{name}-{'x'.join(map(str, spatial))}-{args}-{sorted(kwargs)}"


def _takes_a_cache(backward: Any) -> bool:
    return "cache" in inspect.signature(backward).parameters


def _torch_result(name: str, x: np.ndarray, args: Any, kwargs: Any, g: np.ndarray) -> Any:
    t = torch.tensor(x, requires_grad=True)
    y = getattr(TF, name)(t, *args, **kwargs)
    y.backward(torch.from_numpy(g))
    return y.detach().numpy(), t.grad.numpy()


@pytest.mark.parametrize("unbatched", [False, True], ids=["batched", "unbatched"])
@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_functional_pool_and_backward_match_torch(case: Any, unbatched: bool) -> None:
    name, spatial, args, kwargs = case
    x = _input(spatial)
    x = x[0] if unbatched else x
    y = getattr(F, name)(x, *args, **kwargs)
    g = np.random.default_rng(1).normal(size=y.shape)
    y_torch, dx_torch = _torch_result(name, x, args, kwargs, g)
    assert y.shape == y_torch.shape
    np.testing.assert_allclose(y, y_torch, rtol=1e-12, atol=1e-15)
    backward = getattr(F, f"{name}_backward")
    if _takes_a_cache(backward):
        return  # a 2-d kernel's backward: tests/test_pooling.py, through its forward's cache
    dx = backward(g, x, *args, **kwargs)
    assert dx.shape == x.shape
    np.testing.assert_allclose(dx, dx_torch, rtol=1e-12, atol=1e-15)


UNPOOL_CASES = [
    (1, (8,), (2,), {}),
    (1, (9,), (3,), {"stride": 2, "padding": 1}),
    (2, (6, 8), ((2, 2),), {}),
    (2, (7, 6), ((3, 2),), {"stride": (2, 2), "padding": (1, 0)}),
    (2, (6, 6), (2,), {"stride": 2, "padding": 0}),
    (3, (4, 6, 4), ((2, 2, 2),), {}),
    (3, (4, 6, 6), (2,), {"stride": (2, 3, 2)}),
]


@pytest.mark.parametrize("unbatched", [False, True], ids=["batched", "unbatched"])
@pytest.mark.parametrize(("n", "spatial", "args", "kwargs"), UNPOOL_CASES)
def test_functional_max_unpool_and_backward_match_torch(
    n: int, spatial: tuple[int, ...], args: Any, kwargs: Any, unbatched: bool
) -> None:
    x = _input(spatial)
    x = x[0] if unbatched else x
    pooled, indices = getattr(TF, f"max_pool{n}d")(
        torch.tensor(x), *args, **kwargs, return_indices=True
    )
    y, idx = pooled.numpy(), indices.numpy()
    u = getattr(F, f"max_unpool{n}d")(y, idx, *args, **kwargs, output_size=x.shape[-n:])
    t = pooled.clone().requires_grad_()
    u_torch = getattr(TF, f"max_unpool{n}d")(t, indices, *args, **kwargs, output_size=x.shape[-n:])
    np.testing.assert_array_equal(u, u_torch.detach().numpy())
    g = np.random.default_rng(1).normal(size=u.shape)
    u_torch.backward(torch.from_numpy(g))
    dy = getattr(F, f"max_unpool{n}d_backward")(
        g, y, idx, *args, **kwargs, output_size=x.shape[-n:]
    )
    np.testing.assert_array_equal(dy, t.grad.numpy())


@pytest.mark.parametrize("n", [1, 2, 3])
def test_max_unpool_refuses_indices_of_another_shape_as_torch(n: int) -> None:
    """The indices must have the input's shape, not only its number of dims."""
    x = _input((4,) * n)
    pooled, indices = getattr(TF, f"max_pool{n}d")(torch.tensor(x), 2, return_indices=True)
    short = indices[..., :1]
    with pytest.raises(RuntimeError):
        getattr(TF, f"max_unpool{n}d")(pooled, short, 2)
    with pytest.raises(ValueError, match="indices of its shape"):
        getattr(F, f"max_unpool{n}d")(pooled.numpy(), short.numpy(), 2)


@pytest.mark.parametrize("offset", [-2, 0, 1, 2])
def test_max_unpool_output_size_within_a_stride_of_the_default_as_torch(offset: int) -> None:
    """output_size may differ from ``(L - 1)·s - 2p + k`` by less than the stride: at
    exactly one stride away both refuse it (the bound is strict on both sides; torch's
    check raises ValueError too). One below the default would drop the last window's
    winners, which torch refuses as an index out of range: not a size case."""
    x = _input((4,))
    pooled, indices = TF.max_pool1d(torch.tensor(x), 2, return_indices=True)
    size = (4 + offset,)  # default 4, stride 2
    if abs(offset) >= 2:
        with pytest.raises(ValueError, match="invalid output_size"):
            TF.max_unpool1d(pooled, indices, 2, output_size=size)
        with pytest.raises(ValueError, match="invalid output_size"):
            F.max_unpool1d(pooled.numpy(), indices.numpy(), 2, output_size=size)
        return
    expected = TF.max_unpool1d(pooled, indices, 2, output_size=size).numpy()
    np.testing.assert_array_equal(
        F.max_unpool1d(pooled.numpy(), indices.numpy(), 2, output_size=size), expected
    )


MAX_CASES = [case for case in CASES if "max_pool" in case[0]]


@pytest.mark.parametrize("unbatched", [False, True], ids=["batched", "unbatched"])
@pytest.mark.parametrize("case", MAX_CASES, ids=[_ids(c) for c in MAX_CASES])
def test_functional_max_pools_return_torchs_indices(case: Any, unbatched: bool) -> None:
    """``return_indices=True`` (every max pool, as in torch): the winners' flat positions."""
    name, spatial, args, kwargs = case
    x = _input(spatial)
    x = x[0] if unbatched else x
    y, indices = getattr(F, name)(x, *args, **kwargs, return_indices=True)
    y_torch, i_torch = getattr(TF, name)(torch.tensor(x), *args, **kwargs, return_indices=True)
    np.testing.assert_array_equal(y, y_torch.numpy())
    np.testing.assert_array_equal(indices, i_torch.numpy())
    assert indices.dtype == np.int64


def test_max_unpool_names_the_output_sizes_it_takes() -> None:
    """Defaults (4, 6) and stride 2: torch names the first axis's open bound (2, 6),
    refnet the closed ranges of both axes, 3 to 5 and 5 to 7."""
    x = _input((4, 6))
    pooled, indices = TF.max_pool2d(torch.tensor(x), 2, return_indices=True)
    with pytest.raises(ValueError, match=r"between 2 and 6"):
        TF.max_unpool2d(pooled, indices, 2, output_size=(6, 6))
    with pytest.raises(ValueError, match=r"between \(3, 5\) and \(5, 7\)"):
        F.max_unpool2d(pooled.numpy(), indices.numpy(), 2, output_size=(6, 6))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: F.max_unpool2d(np.zeros((2, 2)), np.zeros((2, 2), np.int64), 2), "3-d or 4-d"),
        (lambda: F.max_unpool1d(np.zeros(2), np.zeros(2, np.int64), 2), "2-d or 3-d"),
        (lambda: F.lp_pool2d(np.zeros((2, 2)), 2.0, 2), "3-d or 4-d"),
        (lambda: F.adaptive_avg_pool1d(np.zeros(3), 2), "2-d or 3-d"),
    ],
)
def test_a_pool_of_the_wrong_number_of_dims_names_the_ones_it_takes(
    call: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=f"expected a {message} input"):
        call()
