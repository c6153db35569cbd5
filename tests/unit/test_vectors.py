"""Unit tests of ember.engines.vectors: L2 normalization and Matryoshka truncation."""

from __future__ import annotations

import numpy as np
import pytest

from ember.engines.types import FloatArray
from ember.engines.vectors import normalize, postprocess, truncate_dimensions


def _rows() -> FloatArray:
    return np.random.default_rng(0).normal(size=(5, 16)).astype(np.float32)


def test_normalize_gives_unit_rows_in_float32() -> None:
    rows = _rows() * np.float32(7.0)
    out = normalize(rows)
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-6)
    # Direction unchanged.
    np.testing.assert_allclose(out * np.linalg.norm(rows, axis=1, keepdims=True), rows, rtol=1e-5)


def test_normalize_matches_torch_functional_normalize() -> None:
    torch = pytest.importorskip("torch")
    rows = _rows()
    expected = torch.nn.functional.normalize(torch.from_numpy(rows), p=2, dim=1).numpy()
    np.testing.assert_allclose(normalize(rows), expected, rtol=1e-6, atol=1e-7)


def test_normalize_leaves_zero_rows_zero_not_nan() -> None:
    rows = np.zeros((2, 4), dtype=np.float32)
    rows[1] = [3.0, 4.0, 0.0, 0.0]
    out = normalize(rows)
    assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(out[0], 0.0)
    np.testing.assert_allclose(out[1], [0.6, 0.8, 0.0, 0.0], rtol=1e-6)


def test_normalize_does_not_modify_its_input() -> None:
    rows = _rows()
    copy = rows.copy()
    normalize(rows)
    np.testing.assert_array_equal(rows, copy)


def test_truncate_keeps_first_dimensions_and_renormalizes() -> None:
    rows = _rows()
    out = truncate_dimensions(rows, 4, renormalize=True)
    assert out.shape == (5, 4)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(out, normalize(rows[:, :4]), rtol=1e-6)


def test_truncate_without_renormalize_is_a_plain_slice() -> None:
    rows = _rows()
    out = truncate_dimensions(rows, 3, renormalize=False)
    np.testing.assert_array_equal(out, rows[:, :3])
    assert out.flags["C_CONTIGUOUS"]


@pytest.mark.parametrize("dimensions", [0, -1, 17])
def test_truncate_rejects_out_of_range_dimensions(dimensions: int) -> None:
    with pytest.raises(ValueError, match=r"dimensions must be in 1\.\.16"):
        truncate_dimensions(_rows(), dimensions, renormalize=True)


def test_postprocess_orders_truncate_before_normalize() -> None:
    rows = _rows()
    # Normalizing first and truncating after would not give unit rows.
    out = postprocess(rows, normalize_rows=True, dimensions=8)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(out, normalize(rows[:, :8]), rtol=1e-6)


def test_postprocess_full_width_and_no_normalize_returns_rows() -> None:
    rows = _rows()
    np.testing.assert_array_equal(postprocess(rows, normalize_rows=False, dimensions=None), rows)
    np.testing.assert_array_equal(postprocess(rows, normalize_rows=False, dimensions=16), rows)
    np.testing.assert_allclose(
        postprocess(rows, normalize_rows=True, dimensions=16), normalize(rows), rtol=1e-6
    )
