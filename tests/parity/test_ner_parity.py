"""Parity of Ember's token classification with ``transformers.pipeline("token-classification")``.

For tiny random-weight token classifiers of BERT (WordPiece), RoBERTa (byte-level BPE) and
XLM-RoBERTa (Unigram/SentencePiece), the texts are tokenized by Ember's tokenizer, run as one
batch through Ember's TorchEngine, and post-processed by
:func:`ember.engines.ner.predict_tokens_batch`; the result must equal
the pipeline's for all five aggregation strategies: same words, labels / entity groups, start
and end offsets, and scores within 1e-4. The classifier heads are calibrated (see
heads_support.calibrate_token_head) so that the models predict varied, confident entities.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from transformers import pipeline

from ember.engines.config import EngineConfig
from ember.engines.ner import AggregationStrategy, TokenPrediction, predict_tokens_batch
from ember.engines.torch_engine import TorchEngine
from ember.engines.types import TokenLogitsOutput, TruncationSide
from tests.parity.heads_support import BIO_LABELS, TEXTS, build_token_classifier, label_names
from tests.tiny_models import Arch

ARCHS: tuple[Arch, ...] = ("bert", "roberta", "xlm-roberta")
TOLERANCE = 1e-4


@dataclass
class Setup:
    """One model under test: the reference pipeline and Ember's engine."""

    arch: str
    pipe: Any
    engine: TorchEngine

    def ember(
        self, strategy: AggregationStrategy, *, raw_scores: bool = False
    ) -> list[list[TokenPrediction]]:
        """Ember's predictions for all TEXTS, run as one batch through the engine."""
        tokenizer = self.engine.tokenizer
        encodings = tokenizer.encode(
            list(TEXTS), truncate=False, side=TruncationSide.RIGHT, offsets=True
        )
        output = self.engine.forward(encodings)
        assert isinstance(output, TokenLogitsOutput)
        return predict_tokens_batch(
            encodings,
            output.logits,
            labels=self.engine.info.labels,
            strategy=strategy,
            decoder=tokenizer,
            raw_scores=raw_scores,
        )

    def reference(self, text: str, strategy: AggregationStrategy) -> list[dict[str, Any]]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Tokenizer does not support real words" fallback
            out: list[dict[str, Any]] = self.pipe(text, aggregation_strategy=strategy.value)
        return out


@pytest.fixture(scope="module", params=ARCHS)
def setup(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Setup:
    arch: Arch = request.param
    path: Path = build_token_classifier(tmp_path_factory.mktemp(f"ner-{arch}"), arch)
    pipe = pipeline("token-classification", model=str(path))
    engine = TorchEngine.load(EngineConfig(model_path=path, device="cpu", dtype="float32"))
    assert engine.info.labels == label_names(path) == BIO_LABELS
    return Setup(arch, pipe, engine)


def _rows(
    results: list[dict[str, Any]] | list[TokenPrediction], key: str
) -> Iterator[tuple[str, str, int, int, float]]:
    for r in results:
        if isinstance(r, TokenPrediction):
            yield r.token, r.results[0].label, r.start, r.end, r.results[0].score
        else:
            yield r["word"], r[key], int(r["start"]), int(r["end"]), float(r["score"])


@pytest.mark.parametrize("strategy", list(AggregationStrategy), ids=lambda s: s.value)
def test_equals_pipeline(setup: Setup, strategy: AggregationStrategy) -> None:
    key = "entity" if strategy is AggregationStrategy.NONE else "entity_group"
    for text, predictions in zip(TEXTS, setup.ember(strategy), strict=True):
        want = list(_rows(setup.reference(text, strategy), key))
        got = list(_rows(predictions, key))
        assert [g[:4] for g in got] == [w[:4] for w in want], (setup.arch, text)
        np.testing.assert_allclose([g[4] for g in got], [w[4] for w in want], atol=TOLERANCE)
        for _, _, start, end, _ in got:
            assert 0 <= start <= end <= len(text)


def test_raw_scores_are_the_model_logits(setup: Setup) -> None:
    for text, got in zip(
        TEXTS, setup.ember(AggregationStrategy.NONE, raw_scores=True), strict=True
    ):
        batch = setup.pipe.tokenizer(
            text, return_offsets_mapping=True, return_special_tokens_mask=True,
            return_tensors="pt", truncation=False, padding=False,
        )  # fmt: skip
        special = batch.pop("special_tokens_mask")[0].bool()
        offsets = batch.pop("offset_mapping")[0][~special].tolist()
        with torch.no_grad():
            logits = setup.pipe.model(**batch).logits[0][~special].numpy()
        assert [(p.start, p.end) for p in got] == [tuple(o) for o in offsets], text
        assert all([ls.label for ls in p.results] == list(BIO_LABELS) for p in got)
        np.testing.assert_allclose(
            [[ls.score for ls in p.results] for p in got], logits, atol=TOLERANCE
        )


def test_models_predict_varied_entities(setup: Setup) -> None:
    """Guards the other tests against degenerate models: several entity types, multi-token
    entities, and word strategies that change the answer somewhere."""
    simple = [setup.reference(t, AggregationStrategy.SIMPLE) for t in TEXTS]
    groups = {e["entity_group"] for entities in simple for e in entities}
    assert len(groups) >= 3, groups
    assert any(" " in e["word"] or len(e["word"]) > 6 for entities in simple for e in entities)
    differs = any(
        setup.reference(t, s) != simple[i]
        for i, t in enumerate(TEXTS)
        for s in (AggregationStrategy.FIRST, AggregationStrategy.MAX, AggregationStrategy.AVERAGE)
    )
    assert differs
