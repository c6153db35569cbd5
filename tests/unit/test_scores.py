"""Unit tests for the classification and rerank heads (ember.engines.scores)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from ember.engines.errors import InvalidInputError, UnsupportedTaskError
from ember.engines.scores import LabelScore, Ranked, classify, rank, sigmoid, softmax


def test_softmax_matches_definition_and_survives_huge_logits() -> None:
    x = np.array([[1.0, 2.0, 3.0], [1000.0, 1000.0, -1000.0]], dtype=np.float32)
    p = softmax(x)
    e = np.exp(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(p[0], e / e.sum(), rtol=1e-6)
    np.testing.assert_allclose(p[1], [0.5, 0.5, 0.0], atol=1e-7)
    assert p.dtype == np.float32


def test_sigmoid_is_exact_and_never_overflows() -> None:
    x = np.array([-1000.0, -20.0, 0.0, 2.0, 1000.0], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow RuntimeWarning fails the test
        s = sigmoid(x)
    moderate = x[1:4].astype(np.float64)
    np.testing.assert_allclose(s[1:4], 1.0 / (1.0 + np.exp(-moderate)), rtol=1e-6)
    assert s[0] == 0.0
    assert s[-1] == 1.0


def test_classify_several_labels_softmax_sorted_desc() -> None:
    rows = np.array([[0.0, 2.0, 1.0], [3.0, -1.0, 0.5]], dtype=np.float32)
    out = classify(rows, ["neg", "pos", "neutral"])
    assert [ls.label for ls in out[0]] == ["pos", "neutral", "neg"]
    assert [ls.label for ls in out[1]] == ["neg", "neutral", "pos"]
    p0 = np.exp([0.0, 2.0, 1.0]) / np.exp([0.0, 2.0, 1.0]).sum()
    assert out[0][0].score == pytest.approx(p0[1], abs=1e-6)
    for result in out:
        assert sum(ls.score for ls in result) == pytest.approx(1.0, abs=1e-6)
        assert all(isinstance(ls.score, float) for ls in result)


def test_classify_ties_keep_label_id_order() -> None:
    out = classify(np.array([[1.0, 5.0, 1.0, 5.0]], dtype=np.float32), ["a", "b", "c", "d"])
    assert [ls.label for ls in out[0]] == ["b", "d", "a", "c"]


def test_classify_one_label_uses_sigmoid() -> None:
    out = classify(np.array([[0.0], [2.0]], dtype=np.float32), ["LABEL_0"])
    assert out[0] == [LabelScore("LABEL_0", 0.5)]
    assert out[1][0].score == pytest.approx(1 / (1 + np.exp(-2.0)), abs=1e-6)


def test_classify_multi_label_uses_sigmoid_per_label() -> None:
    rows = np.array([[2.0, -1.0, 0.0]], dtype=np.float32)
    out = classify(rows, ["joy", "anger", "fear"], multi_label=True)
    assert [ls.label for ls in out[0]] == ["joy", "fear", "anger"]
    got = {ls.label: ls.score for ls in out[0]}
    assert got["joy"] == pytest.approx(1 / (1 + np.exp(-2.0)), abs=1e-6)
    assert got["fear"] == pytest.approx(0.5, abs=1e-7)
    assert sum(got.values()) > 1.0  # not a softmax


@pytest.mark.parametrize("multi_label", [False, True])
def test_classify_raw_scores_returns_logits(multi_label: bool) -> None:
    rows = np.array([[0.25, -3.5, 7.0]], dtype=np.float32)
    out = classify(rows, ["a", "b", "c"], raw_scores=True, multi_label=multi_label)
    assert out[0] == [LabelScore("c", 7.0), LabelScore("a", 0.25), LabelScore("b", -3.5)]


def test_classify_empty_batch_and_label_mismatch() -> None:
    assert classify(np.zeros((0, 2), dtype=np.float32), ["a", "b"]) == []
    with pytest.raises(ValueError, match="2 labels"):
        classify(np.zeros((1, 3), dtype=np.float32), ["a", "b"])
    with pytest.raises(ValueError, match="matrix"):
        classify(np.zeros(3, dtype=np.float32), ["a", "b", "c"])


def test_classify_large_batch_is_vectorised_and_correct() -> None:
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(1024, 5)).astype(np.float32)
    out = classify(rows, [f"l{i}" for i in range(5)])
    assert len(out) == 1024
    expected = softmax(rows)
    for i in (0, 511, 1023):
        got = {ls.label: ls.score for ls in out[i]}
        np.testing.assert_allclose([got[f"l{j}"] for j in range(5)], expected[i], rtol=1e-6)
        assert [ls.score for ls in out[i]] == sorted(expected[i].tolist(), reverse=True)


def test_rank_sigmoid_sorted_desc_with_stable_ties() -> None:
    rows = np.array([[0.0], [3.0], [-1.0], [3.0]], dtype=np.float32)
    out = rank(rows)
    assert [r.index for r in out] == [1, 3, 0, 2]
    assert out[0].score == pytest.approx(1 / (1 + np.exp(-3.0)), abs=1e-6)
    assert out[2] == Ranked(0, 0.5)


def test_rank_raw_scores_and_top_n() -> None:
    rows = np.array([0.5, -2.0, 4.0], dtype=np.float32)  # a flat vector is accepted
    assert rank(rows, raw_scores=True) == [Ranked(2, 4.0), Ranked(0, 0.5), Ranked(1, -2.0)]
    assert rank(rows, top_n=2) == rank(rows)[:2]
    assert len(rank(rows, top_n=10)) == 3


def test_rank_orders_saturated_scores_by_logit() -> None:
    # sigmoid(20) and sigmoid(40) are both 1.0 in float32; the logit still orders them.
    out = rank(np.array([[20.0], [40.0], [30.0]], dtype=np.float32))
    assert [r.index for r in out] == [1, 2, 0]
    assert all(r.score == 1.0 for r in out)


def test_rank_errors() -> None:
    with pytest.raises(InvalidInputError, match="top_n"):
        rank(np.zeros((2, 1), dtype=np.float32), top_n=0)
    with pytest.raises(UnsupportedTaskError, match="single relevance logit"):
        rank(np.zeros((2, 3), dtype=np.float32))
    assert rank(np.zeros((0, 1), dtype=np.float32)) == []
