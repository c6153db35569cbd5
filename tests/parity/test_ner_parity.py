"""Parity of Ember's token classification with ``transformers.pipeline("token-classification")``.

For tiny random-weight token classifiers of BERT (WordPiece), RoBERTa (byte-level BPE) and
XLM-RoBERTa (Unigram/SentencePiece), each text is tokenized by Ember's tokenizer, run through
the model, and post-processed by :func:`ember.engines.ner.predict_tokens`; the result must equal
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
import numpy.typing as npt
import pytest
import torch
from ember.engines.model_folder import inspect_model_folder
from ember.engines.ner import AggregationStrategy, TokenPrediction, WordDecoder, predict_tokens
from ember.engines.tokenizer import HFTokenizer
from ember.engines.types import Encoding, TruncationSide
from transformers import pipeline

from tests.parity.heads_support import BIO_LABELS, TEXTS, build_token_classifier, label_names

ARCHS = ("bert", "roberta", "xlm-roberta")
TOLERANCE = 1e-4


@dataclass
class Setup:
    """One model under test: the reference pipeline and Ember's pieces."""

    arch: str
    pipe: Any
    tokenizer: HFTokenizer
    decoder: WordDecoder
    labels: tuple[str, ...]

    def ember_logits(self, encoding: Encoding) -> npt.NDArray[np.float32]:
        """The model's token logits for Ember's encoding of one text."""
        ids = torch.tensor([list(encoding.ids)])
        with torch.no_grad():
            logits = self.pipe.model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
        return np.asarray(logits[0].numpy(), dtype=np.float32)

    def ember(self, text: str, strategy: AggregationStrategy, **kw: Any) -> list[TokenPrediction]:
        (encoding,) = self.tokenizer.encode(
            [text], truncate=False, side=TruncationSide.RIGHT, offsets=True
        )
        return predict_tokens(
            encoding,
            self.ember_logits(encoding),
            labels=self.labels,
            strategy=strategy,
            decoder=self.decoder,
            **kw,
        )

    def reference(self, text: str, strategy: AggregationStrategy) -> list[dict[str, Any]]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Tokenizer does not support real words" fallback
            out: list[dict[str, Any]] = self.pipe(text, aggregation_strategy=strategy.value)
        return out


@pytest.fixture(scope="module", params=ARCHS)
def setup(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Setup:
    arch: str = request.param
    path: Path = build_token_classifier(tmp_path_factory.mktemp(f"ner-{arch}"), arch)
    pipe = pipeline("token-classification", model=str(path))
    folder = inspect_model_folder(path)
    tokenizer = HFTokenizer.from_folder(folder)
    assert folder.labels == label_names(path) == BIO_LABELS
    return Setup(arch, pipe, tokenizer, tokenizer, folder.labels)


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
    for text in TEXTS:
        want = list(_rows(setup.reference(text, strategy), key))
        got = list(_rows(setup.ember(text, strategy), key))
        assert [g[:4] for g in got] == [w[:4] for w in want], (setup.arch, text)
        np.testing.assert_allclose([g[4] for g in got], [w[4] for w in want], atol=TOLERANCE)
        for _, _, start, end, _ in got:
            assert 0 <= start <= end <= len(text)


def test_raw_scores_are_the_model_logits(setup: Setup) -> None:
    for text in TEXTS:
        got = setup.ember(text, AggregationStrategy.NONE, raw_scores=True)
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
