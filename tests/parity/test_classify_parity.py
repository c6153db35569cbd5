"""Parity of Ember's classification and rerank heads with transformers and sentence-transformers.

For tiny random-weight sequence classifiers of BERT (WordPiece), RoBERTa (byte-level BPE) and
XLM-RoBERTa (Unigram) with one label, several labels, and several labels with
``problem_type: multi_label_classification``, plus a one-label Qwen2 (causal) classifier as a
reranker, inputs are tokenized by Ember's tokenizer, run as one batch through Ember's
TorchEngine, and scored by :mod:`ember.engines.scores`. References: the transformers
text-classification pipeline (``top_k=None``: every label, sorted), the raw logits of
AutoModelForSequenceClassification, and sentence-transformers' ``CrossEncoder`` (``predict`` and
``rank``). Scores must agree within 1e-5 and label / text orders exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import torch
from sentence_transformers import CrossEncoder
from transformers import pipeline

from ember.engines.config import EngineConfig
from ember.engines.errors import UnsupportedTaskError
from ember.engines.scores import classify, rank, softmax
from ember.engines.torch_engine import TorchEngine
from ember.engines.types import Encoding, TruncationSide, VectorOutput
from tests.parity.heads_support import TEXTS, build_sequence_classifier
from tests.tiny_models import Arch

TOLERANCE = 1e-5
RIGHT = TruncationSide.RIGHT
#: (variant, num_labels, problem_type)
VARIANTS: tuple[tuple[str, int, str | None], ...] = (
    ("one-label", 1, None),
    ("three-labels", 3, None),
    ("multi-label", 4, "multi_label_classification"),
)
ENCODERS: tuple[Arch, ...] = ("bert", "roberta", "xlm-roberta")
#: (arch, variant, num_labels, problem_type): every encoder with every variant, plus a causal
#: (Qwen2) sequence classifier with one label, the shape of seq-cls LLM rerankers.
CASES: list[tuple[Arch, str, int, str | None]] = [
    (arch, *variant) for arch in ENCODERS for variant in VARIANTS
] + [("qwen2", "one-label", 1, None)]
QUERY = "Where does Angela Merkel live? 🤔"
PAIRS = [(QUERY, text) for text in TEXTS] + [("東京 café", "naïve   résumé\t😀")]


@dataclass
class Setup:
    """One model under test: the references and Ember's engine."""

    name: str
    path: Path
    pipe: Any
    engine: TorchEngine

    def _rows(self, encodings: list[Encoding]) -> npt.NDArray[np.float32]:
        output = self.engine.forward(encodings)
        assert isinstance(output, VectorOutput)
        return output.rows

    def single_rows(self) -> npt.NDArray[np.float32]:
        """Ember's logits for TEXTS, run as one batch."""
        tokenizer = self.engine.tokenizer
        return self._rows(tokenizer.encode(list(TEXTS), truncate=False, side=RIGHT))

    def pair_rows(self) -> npt.NDArray[np.float32]:
        """Ember's logits for PAIRS, run as one batch."""
        tokenizer = self.engine.tokenizer
        return self._rows(tokenizer.encode_pairs(PAIRS, truncate=False, side=RIGHT))


@pytest.fixture(scope="module", params=CASES, ids=lambda p: f"{p[0]}-{p[1]}")
def setup(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Setup:
    arch, variant, num_labels, problem_type = request.param
    path = build_sequence_classifier(
        tmp_path_factory.mktemp(f"cls-{arch}-{variant}"),
        arch,
        num_labels=num_labels,
        problem_type=problem_type,
    )
    engine = TorchEngine.load(EngineConfig(model_path=path, device="cpu", dtype="float32"))
    assert len(engine.info.labels) == num_labels
    assert engine.info.multi_label == (problem_type == "multi_label_classification")
    pipe = pipeline("text-classification", model=str(path), top_k=None)
    return Setup(f"{arch}-{variant}", path, pipe, engine)


def _as_pairs(results: list[Any]) -> list[list[tuple[str, float]]]:
    return [[(ls.label, ls.score) for ls in row] for row in results]


def _assert_same(got: list[list[tuple[str, float]]], want: list[list[tuple[str, float]]]) -> None:
    assert [[label for label, _ in row] for row in got] == [[lb for lb, _ in row] for row in want]
    np.testing.assert_allclose(
        [[s for _, s in row] for row in got], [[s for _, s in row] for row in want], atol=TOLERANCE
    )


def test_classify_equals_text_classification_pipeline(setup: Setup) -> None:
    labels, multi = setup.engine.info.labels, setup.engine.info.multi_label
    got = _as_pairs(classify(setup.single_rows(), labels, multi_label=multi))
    want = [[(r["label"], r["score"]) for r in rows] for rows in setup.pipe(list(TEXTS))]
    _assert_same(got, want)

    got_pairs = _as_pairs(classify(setup.pair_rows(), labels, multi_label=multi))
    want_pairs = [
        [(r["label"], r["score"]) for r in setup.pipe({"text": a, "text_pair": b})]
        for a, b in PAIRS
    ]
    _assert_same(got_pairs, want_pairs)


def test_raw_scores_equal_model_logits(setup: Setup) -> None:
    labels = setup.engine.info.labels
    got = _as_pairs(classify(setup.single_rows(), labels, raw_scores=True))
    batch = setup.pipe.tokenizer(list(TEXTS), padding=True, truncation=False, return_tensors="pt")
    with torch.no_grad():
        logits = setup.pipe.model(**batch).logits.numpy()
    want = [sorted(zip(labels, row.tolist(), strict=True), key=lambda x: -x[1]) for row in logits]
    _assert_same(got, want)


def test_classify_equals_cross_encoder(setup: Setup) -> None:
    encoder = CrossEncoder(str(setup.path), device="cpu")
    predicted = np.asarray(encoder.predict(PAIRS, convert_to_numpy=True), dtype=np.float32)
    labels, multi = setup.engine.info.labels, setup.engine.info.multi_label
    expected: npt.NDArray[np.float32]
    if len(labels) == 1:
        expected = predicted.reshape(-1, 1)  # CrossEncoder applies a sigmoid to one label
    elif multi:
        expected = (1 / (1 + np.exp(-predicted))).astype(np.float32)  # raw out; sigmoid each
    else:
        expected = softmax(predicted)
    got = classify(setup.pair_rows(), labels, multi_label=multi)
    for row, exp in zip(got, expected, strict=True):
        scores = {ls.label: ls.score for ls in row}
        np.testing.assert_allclose([scores[label] for label in labels], exp, atol=TOLERANCE)


def test_rerank_equals_cross_encoder_rank(setup: Setup) -> None:
    if len(setup.engine.info.labels) != 1:
        with pytest.raises(UnsupportedTaskError, match="single relevance logit"):
            rank(setup.pair_rows())
        return
    encoder = CrossEncoder(str(setup.path), device="cpu")
    docs = [doc for _, doc in PAIRS[:-1]]
    rows = setup.pair_rows()[:-1]
    for top_n in (None, 3):
        want = encoder.rank(QUERY, docs, top_k=top_n)
        got = rank(rows, top_n=top_n)
        assert [r.index for r in got] == [w["corpus_id"] for w in want]
        np.testing.assert_allclose(
            [r.score for r in got], [w["score"] for w in want], atol=TOLERANCE
        )
    raw = encoder.predict(
        [(QUERY, d) for d in docs], activation_fn=torch.nn.Identity(), convert_to_numpy=True
    )
    got_raw = rank(rows, raw_scores=True)
    np.testing.assert_allclose(
        [r.score for r in got_raw], [raw[r.index] for r in got_raw], atol=TOLERANCE
    )
    assert [r.index for r in got_raw] == [r.index for r in rank(rows)]
