"""The threaded elementwise helpers, and the kernels that use them on large arrays.

The property suites draw small arrays, which take the one-call path. Here the size
thresholds are lowered (``MIN_ELEMENTS``, ``BLOCK_BYTES``) so that small arrays are cut
into many blocks on 1, 2 and 3 threads, in both memory layouts a network produces (plain
NCHW, and a convolution's (C, H, W, N)).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

import refnet
import refnet.nn as nn
from refnet import _parallel as P
from refnet.nn.functional import normalization as F


@pytest.fixture(params=[1, 2, 3], ids=lambda t: f"{t}threads")
def threads(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    monkeypatch.setattr(P, "MIN_ELEMENTS", 64)
    monkeypatch.setattr(P, "BLOCK_BYTES", 4096)
    before = refnet.get_num_threads()
    refnet.set_num_threads(request.param)
    yield request.param
    refnet.set_num_threads(before)


def _batch_last(x: np.ndarray) -> np.ndarray:
    """The same values, laid out (C, H, W, N) in memory like a convolution's output."""
    return np.ascontiguousarray(x.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)


def _images(shape: tuple[int, ...], seed: int, layout: str) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return _batch_last(x) if layout == "batch-last" else x


LAYOUTS = ["nchw", "batch-last"]


@pytest.mark.parametrize("length", [1, 2, 5, 13, 64])
@pytest.mark.parametrize("cache_blocks", [False, True])
def test_blocks_cover_every_index_once(threads: int, length: int, cache_blocks: bool) -> None:
    x = np.zeros((length, 1000), dtype=np.float32)
    seen = np.zeros(length, dtype=int)

    parts: list[slice] = []

    def visit(part: slice) -> None:
        seen[part] += 1
        parts.append(part)

    P.for_blocks(visit, x, axis=0, cache_blocks=cache_blocks)
    np.testing.assert_array_equal(seen, 1)
    blocks = 1 if threads == 1 else threads * P.PARTS_PER_THREAD
    if cache_blocks:
        blocks = max(blocks, -(-x.nbytes // 4096))  # 4000-byte rows
    assert len(parts) == min(blocks, length)


def test_an_error_in_a_block_is_raised_after_all_blocks_finished(threads: int) -> None:
    x = np.zeros((8, 1000), dtype=np.float32)
    done: list[int] = []

    def visit(part: slice) -> None:
        if part.start == 0:
            raise RuntimeError("boom")
        done.append(part.start)

    with pytest.raises(RuntimeError, match="boom"):
        P.for_blocks(visit, x, axis=0, cache_blocks=False)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_elementwise_equals_one_call(threads: int, layout: str) -> None:
    x = _images((4, 8, 6, 6), 0, layout)
    y = _images((4, 8, 6, 6), 1, layout)
    column = np.arange(8, dtype=np.float32)[:, None, None]  # broadcast along the channels
    out = P.elementwise(np.add, np.empty_like(x), x, column)
    np.testing.assert_array_equal(out, x + column)
    out = P.elementwise(np.maximum, np.empty_like(x), x, 0)
    np.testing.assert_array_equal(out, np.maximum(x, 0))
    np.testing.assert_array_equal(P.elementwise(np.multiply, np.empty_like(x), x, y), x * y)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_relu_on_large_arrays(threads: int, layout: str) -> None:
    x = _images((4, 8, 6, 6), 0, layout)
    g = _images((4, 8, 6, 6), 1, layout)
    relu = nn.ReLU()
    np.testing.assert_array_equal(relu(x), np.maximum(x, 0))
    np.testing.assert_array_equal(relu.backward(g), np.where(x > 0, g, 0))


def _batch_norm_reference(
    x: np.ndarray, g: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float
) -> tuple[np.ndarray, ...]:
    """Forward and backward of training-mode batch norm, in float64, from the formulas."""
    x, g = x.astype(np.float64), g.astype(np.float64)
    M = x.shape[0] * x.shape[2]
    mean = x.mean(axis=(0, 2), keepdims=True)
    var = x.var(axis=(0, 2), keepdims=True)
    xhat = (x - mean) / np.sqrt(var + eps)
    y = xhat * w[:, None] + b[:, None]
    grad_b = g.sum(axis=(0, 2))
    grad_w = (g * xhat).sum(axis=(0, 2))
    ghat = g * w[:, None]
    mean_ghat = ghat.sum(axis=(0, 2), keepdims=True) / M
    projection = (ghat * xhat).sum(axis=(0, 2), keepdims=True) / M
    grad_x = (ghat - mean_ghat - xhat * projection) / np.sqrt(var + eps)
    return y, grad_x, grad_w, grad_b


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_blocks_match_the_formulas(threads: int, layout: str, affine: bool) -> None:
    shape = (8, 12, 6, 6)  # one channel is 1152 bytes: 3 channels to a 4 KiB block
    x = (_images(shape, 0, layout) * 3 + 5).reshape(8, 12, -1)
    g = _images(shape, 1, layout).reshape(8, 12, -1)
    rng = np.random.default_rng(2)
    w = rng.standard_normal(12).astype(np.float32) if affine else np.ones(12, np.float32)
    b = rng.standard_normal(12).astype(np.float32) if affine else np.zeros(12, np.float32)
    y, stats = F.batch_norm_train(x, w if affine else None, b if affine else None, 1e-5)
    grad_x, grad_w, grad_b = F.batch_norm_train_backward(g, stats, w if affine else None)
    ref_y, ref_grad_x, ref_grad_w, ref_grad_b = _batch_norm_reference(x, g, w, b, 1e-5)
    np.testing.assert_allclose(y, ref_y, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(stats.mean, x.astype(np.float64).mean(axis=(0, 2)), rtol=1e-5)
    np.testing.assert_allclose(grad_x, ref_grad_x, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(grad_w, ref_grad_w, rtol=1e-3, atol=1e-2)
    np.testing.assert_allclose(grad_b, ref_grad_b, rtol=1e-4, atol=1e-2)
    assert y.dtype == grad_x.dtype == np.float32


def test_set_num_threads_validates() -> None:
    with pytest.raises(ValueError, match="positive integer"):
        refnet.set_num_threads(0)
    assert refnet.get_num_threads() >= 1
