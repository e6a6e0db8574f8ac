"""refnet._blas: a skinny product summed in pieces equals the product in one call."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refnet import _blas
from refnet._blas import MIN_PIECE, SMALL_PRODUCT, long_pieces, matmul_into, matmul_transposed


@settings(max_examples=300, deadline=None)
@given(short=st.integers(1, 2000), length=st.integers(1, 200_000))
def test_long_pieces_cover_the_dimension_in_small_products(short: int, length: int) -> None:
    pieces = long_pieces(short, length)
    if pieces is None:
        assert short * length <= SMALL_PRODUCT or short * MIN_PIECE > SMALL_PRODUCT
        return
    assert pieces[0].start == 0 and pieces[-1].stop == length
    for before, after in itertools.pairwise(pieces):
        assert before.stop == after.start
    for piece in pieces:
        assert short * (piece.stop - piece.start) <= SMALL_PRODUCT
        assert piece.stop - piece.start >= MIN_PIECE // 2


@settings(max_examples=20, deadline=None)
@given(
    rows=st.integers(1, 30),
    columns=st.integers(1, 30),
    length=st.sampled_from([1, 5000, 36864, 40001]),
    seed=st.integers(0, 2**32 - 1),
)
def test_matmul_transposed_equals_one_product(
    rows: int, columns: int, length: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((rows, length))
    b = rng.standard_normal((columns, length))
    expected = a @ b.T
    got = matmul_transposed(a, b)
    assert got.shape == (rows, columns)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10 * np.sqrt(length))


def test_skinny_product_is_cut() -> None:
    """lenet's first convolution's weight gradient, (26 x 36864) @ (36864 x 10)."""
    pieces = long_pieces(26 * 10, 36864)
    assert pieces is not None and len(pieces) == 10
    assert long_pieces(251 * 20, 4096) is None  # wide enough for the general path


@pytest.mark.parametrize("outer_bytes", [0, 2 << 20])
def test_matmul_into_equals_one_product(outer_bytes: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """lenet's first convolution's forward shape, cut in pieces or (large output) not."""
    monkeypatch.setattr(_blas, "OUTER_BYTES", outer_bytes)
    rng = np.random.default_rng(4)
    a = rng.standard_normal((10, 26)).astype(np.float32)
    b = rng.standard_normal((26, 36864)).astype(np.float32)
    out = np.empty((10, 36864), dtype=np.float32)
    assert matmul_into(a, b, out) is out
    np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=1e-5)
