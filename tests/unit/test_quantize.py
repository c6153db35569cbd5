"""ember.engines.quantize against sentence-transformers' ``quantize_embeddings`` (the reference)
on the same float32 vectors: equal integers, element for element."""

from __future__ import annotations

import numpy as np
import pytest
from sentence_transformers.util.quantization import quantize_embeddings

from ember.engines.errors import InvalidInputError
from ember.engines.quantize import Precision, quantize


def _unit_rows(n: int, d: int, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.mark.parametrize("precision", [Precision.INT8, Precision.UINT8])
def test_scalar_with_batch_ranges_equals_the_reference(precision: Precision) -> None:
    rows = _unit_rows(37, 384)
    got = quantize(rows, precision, None)
    expected = quantize_embeddings(rows, precision.value)
    assert got.data.dtype == expected.dtype
    np.testing.assert_array_equal(got.data, expected)
    assert got.ranges is not None
    np.testing.assert_array_equal(got.ranges, np.vstack((rows.min(0), rows.max(0))))


@pytest.mark.parametrize("precision", [Precision.INT8, Precision.UINT8])
def test_scalar_with_given_ranges_equals_the_reference(precision: Precision) -> None:
    calibration = _unit_rows(500, 64, seed=1)
    ranges = np.vstack((calibration.min(0), calibration.max(0))).astype(np.float32)
    ranges[:, 3] = 0.25  # a zero-width dimension: the reference uses step 1 there
    rows = _unit_rows(9, 64, seed=2)  # some values fall outside the calibrated ranges: clipped
    got = quantize(rows, precision, ranges)
    np.testing.assert_array_equal(got.data, quantize_embeddings(rows, precision.value, ranges))


@pytest.mark.parametrize("precision", [Precision.BINARY, Precision.UBINARY])
@pytest.mark.parametrize("dims", [384, 12])
def test_binary_packs_bits_like_the_reference(precision: Precision, dims: int) -> None:
    rows = _unit_rows(5, dims)
    got = quantize(rows, precision, None)
    expected = quantize_embeddings(rows, precision.value)
    assert got.data.shape == (5, (dims + 7) // 8)
    assert got.data.dtype == expected.dtype
    np.testing.assert_array_equal(got.data, expected)
    assert got.ranges is None


def test_impossible_ranges_are_invalid_argument() -> None:
    rows = _unit_rows(4, 8)
    upside_down = np.vstack((np.ones(8), -np.ones(8))).astype(np.float32)
    with pytest.raises(InvalidInputError, match=r"dimension 0 has max -1\.0 below min 1\.0"):
        quantize(rows, Precision.INT8, upside_down)
    with pytest.raises(InvalidInputError, match="8 minimums and 8 maximums"):
        quantize(rows, Precision.UINT8, np.zeros((2, 5), dtype=np.float32))
    with pytest.raises(InvalidInputError, match="finite"):
        quantize(rows, Precision.UINT8, np.full((2, 8), np.nan, dtype=np.float32))
    with pytest.raises(InvalidInputError, match="at least two inputs"):
        quantize(rows[:1], Precision.INT8, None)
