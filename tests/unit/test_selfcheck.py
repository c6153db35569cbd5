"""The self-check's agreement measure on each output kind (pure numpy)."""

from __future__ import annotations

import numpy as np
import pytest

from ember.engines.selfcheck import PROBE_TEXTS, agreement
from ember.engines.types import SparseOutput, TokenLogitsOutput, VectorOutput


def test_identical_vectors_agree_exactly() -> None:
    rows = np.random.default_rng(0).normal(size=(5, 8)).astype(np.float32)
    assert agreement(VectorOutput(rows), VectorOutput(rows.copy())) == pytest.approx((1.0, 1.0))


def test_one_bad_row_sets_the_minimum() -> None:
    rows = np.random.default_rng(1).normal(size=(4, 8)).astype(np.float32)
    bad = rows.copy()
    bad[2] = -bad[2]
    low, mean = agreement(VectorOutput(rows), VectorOutput(bad))
    assert low == pytest.approx(-1.0)
    assert mean == pytest.approx(0.5)


def test_scaling_does_not_change_cosine() -> None:
    rows = np.random.default_rng(2).normal(size=(3, 8)).astype(np.float32)
    assert agreement(VectorOutput(rows), VectorOutput(3 * rows))[0] == pytest.approx(1.0)


def test_single_scores_are_compared_by_correlation() -> None:
    scores = np.array([[0.1], [2.0], [-1.0], [0.5]], dtype=np.float32)
    same_order = scores * 1.01 + 0.001
    assert agreement(VectorOutput(scores), VectorOutput(same_order))[0] > 0.999
    shuffled = scores[[3, 2, 1, 0]]
    assert agreement(VectorOutput(scores), VectorOutput(shuffled))[0] < 0.5


def test_constant_scores_compare_by_closeness() -> None:
    flat = np.full((4, 1), 0.25, dtype=np.float32)
    assert agreement(VectorOutput(flat), VectorOutput(flat + 1e-5))[0] == 1.0
    assert agreement(VectorOutput(flat), VectorOutput(flat + 0.5))[0] == 0.0


def test_token_logits_are_compared_per_token() -> None:
    a = [np.eye(3, dtype=np.float32), np.ones((2, 3), dtype=np.float32)]
    b = [np.eye(3, dtype=np.float32), np.array([[1, 1, 1], [1, -1, 0]], dtype=np.float32)]
    low, _ = agreement(TokenLogitsOutput(a), TokenLogitsOutput(b))
    assert low == pytest.approx(0.0, abs=1e-6)


def test_sparse_vectors_are_compared_densely() -> None:
    ref = SparseOutput([np.array([1, 5])], [np.array([1.0, 2.0], dtype=np.float32)])
    moved = SparseOutput([np.array([1, 7])], [np.array([1.0, 2.0], dtype=np.float32)])
    assert agreement(ref, ref)[0] == pytest.approx(1.0)
    assert agreement(ref, moved)[0] == pytest.approx(0.2)


def test_mismatched_kinds_are_a_bug() -> None:
    with pytest.raises(TypeError):
        agreement(VectorOutput(np.ones((1, 2), dtype=np.float32)), TokenLogitsOutput([]))


def test_probes_are_varied_and_reach_past_a_typical_max_length() -> None:
    assert len(set(PROBE_TEXTS)) == len(PROBE_TEXTS)
    assert min(len(t.split()) for t in PROBE_TEXTS) == 1
    assert max(len(t.split()) for t in PROBE_TEXTS) > 512
