"""Service tests of TokenClassificationService (NER): an in-process gRPC server around the real
TorchEngine on tiny random token classifiers, checked against
``transformers.pipeline("token-classification", aggregation_strategy=...)`` on the same weights.

BIO models of BERT (WordPiece), RoBERTa (byte-level BPE) and XLM-RoBERTa (Unigram) with
calibrated heads (varied, confident entities: see ``tests/parity/heads_support.py``) answer all
five strategies and raw logits; inputs carry accents, CJK, emoji (ZWJ sequences, flags) and runs
of whitespace. Two more models bound where aggregation applies: BIOES labels (refused: B-/I-
grouping would cut entities at their E- tags) and plain POS tags without prefixes (grouped as the
pipeline groups them). Words, labels and offsets must be equal, scores within 1e-4.
"""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import torch
from transformers import pipeline

from ember.clients import requests as rq
from ember.v1 import (
    classify_pb2,
    model_pb2,
    rerank_pb2,
    token_classification_pb2,
)
from tests.parity.heads_support import BIO_LABELS, TEXTS, build_token_classifier
from tests.service.support import (
    NOT_SERVING,
    SERVING,
    Served,
    assert_refused,
    assert_stream_error,
    assert_usage_and_timing,
    cpu_engine,
    embed_request,
    expect_invalid,
    serving,
    stream_all,
    unknown_direction,
)
from tests.tiny_models import Arch, make_tiny_model

pb = token_classification_pb2
TOLERANCE = 1e-4
STRATEGIES = ("none", "simple", "first", "average", "max")
ARCHS = ("bert", "roberta", "xlm-roberta")
BIOES_LABELS = ("O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC")
POS_LABELS = ("NOUN", "VERB", "ADJ", "PUNCT")
#: Over 512 tokens with every tokenizer, varied so both ends differ.
LONG = " ".join(TEXTS) * 10

Row = tuple[str, str, int, int, float]


@dataclass
class Model:
    """One served token classifier and its reference pipeline (answers cached per text)."""

    name: str
    served: Served
    pipe: Any
    cache: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)

    def reference(self, text: str, strategy: str) -> list[dict[str, Any]]:
        key = (text, strategy)
        if key not in self.cache:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "Tokenizer does not support real words"
                self.cache[key] = self.pipe(text, aggregation_strategy=strategy)
        return self.cache[key]

    def logits(self, text: str, **options: Any) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """The model's logits and offsets for the non-special tokens of ``text``."""
        batch = self.pipe.tokenizer(
            text, return_offsets_mapping=True, return_special_tokens_mask=True,
            return_tensors="pt", **options,
        )  # fmt: skip
        special = batch.pop("special_tokens_mask")[0].bool()
        offsets = [tuple(o) for o in batch.pop("offset_mapping")[0][~special].tolist()]
        with torch.no_grad():
            logits = self.pipe.model(**batch).logits[0][~special].numpy()
        return logits, offsets


def _rows(results: list[dict[str, Any]], strategy: str) -> Iterator[Row]:
    key = "entity" if strategy == "none" else "entity_group"
    for r in results:
        yield r["word"], r[key], int(r["start"]), int(r["end"]), float(r["score"])


def _ember_rows(predictions: pb.TokenPredictions) -> Iterator[Row]:
    for t in predictions.tokens:
        assert len(t.results) == 1
        yield t.token, t.results[0].label, t.start, t.end, t.results[0].score


def assert_equal_rows(got: list[Row], want: list[Row], context: Any) -> None:
    assert [g[:4] for g in got] == [w[:4] for w in want], context
    np.testing.assert_allclose([g[4] for g in got], [w[4] for w in want], atol=TOLERANCE)


@pytest.fixture(scope="module", params=ARCHS)
async def ner(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Model]:
    path = build_token_classifier(tmp_path_factory.mktemp(f"ner-{request.param}"), request.param)
    pipe = pipeline("token-classification", model=str(path))
    async with serving(cpu_engine(path), path) as served:
        yield Model(request.param, served, pipe)


@pytest.fixture(scope="module", params=["bioes", "pos"])
async def tagger(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Model]:
    """Token classifiers whose labels are not BIO: BIOES (XLM-R) and plain POS tags (RoBERTa)."""
    labels = BIOES_LABELS if request.param == "bioes" else POS_LABELS
    arch: Arch = "xlm-roberta" if request.param == "bioes" else "roberta"
    path = make_tiny_model(
        tmp_path_factory.mktemp(request.param) / f"tiny-{request.param}", arch=arch,
        head="token-classification", id2label=dict(enumerate(labels)),
    )  # fmt: skip
    pipe = pipeline("token-classification", model=str(path))
    async with serving(cpu_engine(path), path) as served:
        yield Model(request.param, served, pipe)


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_predictions_equal_the_pipeline(ner: Model, strategy: str) -> None:
    resp = await ner.served.client.predict_tokens(list(TEXTS), aggregation_strategy=strategy)
    assert_usage_and_timing(resp)
    assert len(resp.results) == len(TEXTS)
    found: set[str] = set()
    for text, predictions in zip(TEXTS, resp.results, strict=True):
        want = list(_rows(ner.reference(text, strategy), strategy))
        got = list(_ember_rows(predictions))
        assert_equal_rows(got, want, (ner.name, strategy, text))
        found.update(label for _, label, _, _, _ in got)
        for token in predictions.tokens:
            assert 0 <= token.start <= token.end <= len(text)
            assert (token.token_id == 0) == (strategy != "none")
    assert len(found) >= 3, f"degenerate model: {found}"


async def test_raw_scores_are_every_label_logit_per_token(ner: Model) -> None:
    for strategy in ("none", "unspecified"):
        request = rq.predict_tokens_request(list(TEXTS), raw_scores=True)
        if strategy == "unspecified":
            request.aggregation_strategy = pb.AGGREGATION_STRATEGY_UNSPECIFIED
        resp = await ner.served.tokens.PredictTokens(request)
        for text, predictions in zip(TEXTS, resp.results, strict=True):
            logits, offsets = ner.logits(text)
            assert [(t.start, t.end) for t in predictions.tokens] == offsets, text
            for t in predictions.tokens:
                assert [r.label for r in t.results] == list(BIO_LABELS)
            np.testing.assert_allclose(
                [[r.score for r in t.results] for t in predictions.tokens], logits, atol=TOLERANCE
            )


async def test_truncation_keeps_the_chosen_end(ner: Model) -> None:
    client = ner.served.client
    kept = {}
    for direction in ("right", "left"):
        resp = await client.predict_tokens(
            [LONG, TEXTS[0]], raw_scores=True, truncate=True, truncation_direction=direction
        )
        ner.pipe.tokenizer.truncation_side = direction
        try:
            logits, offsets = ner.logits(LONG, truncation=True, max_length=512)
        finally:
            ner.pipe.tokenizer.truncation_side = "right"
        tokens = resp.results[0].tokens
        assert [(t.start, t.end) for t in tokens] == offsets
        np.testing.assert_allclose(
            [[r.score for r in t.results] for t in tokens], logits, atol=TOLERANCE
        )
        kept[direction] = (tokens[0].start, tokens[-1].end)
        assert len(resp.results[1].tokens) == len(ner.logits(TEXTS[0])[1])  # short: untouched
    assert kept["right"][0] == 0 < kept["left"][0]
    assert kept["left"][1] == len(LONG.rstrip()) > kept["right"][1]
    await expect_invalid(
        client.predict_tokens(["fits", LONG], truncate=False),
        ["input 1 has", "more than the model's maximum input length of 512", "truncate"],
        then=lambda: client.predict_tokens(["served after the error"]),
    )


def _strategy(number: int) -> pb.AggregationStrategy.ValueType:
    return pb.AggregationStrategy.ValueType(number)


def _raw_with(strategy: str) -> pb.PredictTokensRequest:
    return rq.predict_tokens_request(["x"], raw_scores=True, aggregation_strategy=strategy)


BAD: list[tuple[str, pb.PredictTokensRequest, list[str]]] = [
    ("unknown-strategy", pb.PredictTokensRequest(inputs=["x"], aggregation_strategy=_strategy(9)),
     ["unknown aggregation_strategy 9"]),
    ("raw-with-simple", _raw_with("simple"),
     ["raw_scores is only available with aggregation_strategy none", "simple"]),
    ("raw-with-max", _raw_with("max"), ["raw_scores", "got aggregation_strategy max"]),
    ("no-inputs", pb.PredictTokensRequest(), ["no inputs"]),
    ("empty-text", pb.PredictTokensRequest(inputs=["ok", ""]), ["input 1 is empty"]),
    ("direction", pb.PredictTokensRequest(
        inputs=["x"], truncation=unknown_direction(3)),
     ["unknown truncation direction 3"]),
]  # fmt: skip


@pytest.mark.parametrize(("request_", "words"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
async def test_bad_input_is_invalid_argument_and_the_next_request_is_served(
    ner: Model, request_: pb.PredictTokensRequest, words: list[str]
) -> None:
    client = ner.served.client

    async def next_request() -> None:
        resp = await client.predict_tokens(
            ["Angela Merkel visited Paris."], aggregation_strategy="simple"
        )
        assert len(resp.results) == 1

    await expect_invalid(
        client._call(ner.served.tokens.PredictTokens, request_), words, next_request
    )


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_aggregation_applies_only_where_the_labels_allow(
    tagger: Model, strategy: str
) -> None:
    client = tagger.served.client
    texts = list(TEXTS[:6])
    if tagger.name == "bioes" and strategy != "none":
        await expect_invalid(
            client.predict_tokens(texts, aggregation_strategy=strategy),
            [f"aggregation_strategy {strategy} cannot apply", "'E-PER'", "B-/I-", "BIOES"],
            then=lambda: client.predict_tokens(texts),
        )
        return
    # NONE on BIOES, and every strategy on prefix-less POS tags, equal the pipeline.
    resp = await client.predict_tokens(texts, aggregation_strategy=strategy)
    for text, predictions in zip(texts, resp.results, strict=True):
        want = list(_rows(tagger.reference(text, strategy), strategy))
        assert_equal_rows(list(_ember_rows(predictions)), want, (tagger.name, strategy, text))
    assert sum(len(p.tokens) for p in resp.results) > 0


async def test_stream_answers_in_order_and_survives_bad_batches(ner: Model) -> None:
    batches = [(list(TEXTS[i % 8 : i % 8 + 1 + i % 3]), STRATEGIES[i % 5]) for i in range(10)]
    messages = [
        pb.PredictTokensStreamRequest(
            batch_id=f"b{i}", request=rq.predict_tokens_request(texts, aggregation_strategy=s)
        )
        for i, (texts, s) in enumerate(batches)
    ]
    unknown = pb.PredictTokensRequest(inputs=["x"], aggregation_strategy=_strategy(42))
    raw_agg = rq.predict_tokens_request(["x"], raw_scores=True, aggregation_strategy="first")
    messages.insert(2, pb.PredictTokensStreamRequest(batch_id="unknown", request=unknown))
    messages.insert(7, pb.PredictTokensStreamRequest(batch_id="raw-agg", request=raw_agg))
    answers = await stream_all(ner.served.tokens.PredictTokensStream, messages)
    assert [a.batch_id for a in answers] == [m.batch_id for m in messages]
    assert_stream_error(answers[2], "unknown", "aggregation_strategy 42")
    assert_stream_error(answers[7], "raw-agg", "raw_scores")
    good = [a for a in answers if a.WhichOneof("result") == "response"]
    for answer, (texts, strategy) in zip(good, batches, strict=True):
        assert_usage_and_timing(answer.response)
        for text, predictions in zip(texts, answer.response.results, strict=True):
            want = list(_rows(ner.reference(text, strategy), strategy))
            assert_equal_rows(list(_ember_rows(predictions)), want, (strategy, text))


async def test_model_info_health_and_refusals(ner: Model) -> None:
    served = ner.served
    info = await served.client.model_info()
    assert info.kind == model_pb2.MODEL_KIND_TOKEN_CLASSIFIER
    assert list(info.labels) == list(BIO_LABELS)
    assert list(info.tasks) == [model_pb2.TASK_PREDICT_TOKENS]
    assert info.architecture.endswith("ForTokenClassification")
    assert await served.health() == {
        "ember.v1.EmbedService": NOT_SERVING,
        "ember.v1.ClassifyService": NOT_SERVING,
        "ember.v1.RerankService": NOT_SERVING,
        "ember.v1.TokenClassificationService": SERVING,
        "ember.v1.ModelService": SERVING,
    }
    classify = classify_pb2.ClassifyRequest(inputs=[classify_pb2.ClassifyInput(texts=["x"])])
    await assert_refused(served.classify.Classify(classify), "PredictTokens")
    await assert_refused(
        served.rerank.Rerank(rerank_pb2.RerankRequest(query="q", texts=["t"])), "PredictTokens"
    )
    await assert_refused(served.embed.Embed(embed_request()), "PredictTokens")
    assert len((await served.client.predict_tokens(["served after the refusals"])).results) == 1
