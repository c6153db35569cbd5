"""Service tests of ClassifyService: an in-process gRPC server around the real TorchEngine on
tiny random sequence classifiers, checked against the transformers text-classification pipeline
(``top_k=None``) and the model's own logits on the same weights.

One model per scoring rule, each with another architecture and tokenizer: BERT (WordPiece) with
three labels (softmax), RoBERTa (byte-level BPE) with one label (a reranker, sigmoid) and
XLM-RoBERTa (Unigram) with four labels and ``problem_type: multi_label_classification``
(a sigmoid per label). Inputs carry accents, CJK, emoji and runs of whitespace. Scores must
agree within 1e-5, label orders exactly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import torch
from transformers import pipeline

from ember.clients import requests as rq
from ember.engines.scores import sigmoid, softmax
from ember.v1 import classify_pb2, model_pb2, token_classification_pb2
from tests.parity.heads_support import TEXTS, build_sequence_classifier
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

TOLERANCE = 1e-5
#: name -> (architecture, number of labels, problem_type)
CASES: dict[str, tuple[Any, int, str | None]] = {
    "bert-3-labels": ("bert", 3, None),
    "roberta-1-label": ("roberta", 1, None),
    "xlm-roberta-multi-label": ("xlm-roberta", 4, "multi_label_classification"),
}
PAIRS: list[tuple[str, str]] = [
    ("Where does Angela Merkel live? 🤔", text) for text in TEXTS[:5]
] + [("東京   café", "naïve\t\trésumé 😀"), ("x", "y")]
#: Long enough to pass the 512-token limit with every tokenizer, varied so left and right
#: truncation keep different tokens.
LONG = " ".join(TEXTS) * 12


@dataclass
class Model:
    """One served classifier and its references."""

    name: str
    served: Served
    pipe: Any
    labels: tuple[str, ...]
    multi_label: bool

    def logits(self, *texts: str, **tokenizer_options: Any) -> npt.NDArray[np.float32]:
        """The model's logits for one text or pair, tokenized by transformers."""
        batch = self.pipe.tokenizer(*texts, return_tensors="pt", **tokenizer_options)
        with torch.no_grad():
            return np.asarray(self.pipe.model(**batch).logits[0].numpy(), dtype=np.float32)

    def probabilities(self, logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """The classification rule of the issue: softmax for several labels, else sigmoid."""
        if self.multi_label or len(self.labels) == 1:
            return sigmoid(logits)
        return softmax(logits)


@pytest.fixture(scope="module", params=list(CASES))
async def model(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Model]:
    arch, num_labels, problem_type = CASES[request.param]
    path = build_sequence_classifier(
        tmp_path_factory.mktemp(request.param), arch, num_labels=num_labels,
        problem_type=problem_type,
    )  # fmt: skip
    engine = cpu_engine(path)
    pipe = pipeline("text-classification", model=str(path), top_k=None)
    async with serving(engine, path) as served:
        yield Model(request.param, served, pipe, engine.info.labels, problem_type is not None)


def _assert_same(got: list[list[tuple[str, float]]], want: list[list[tuple[str, float]]]) -> None:
    assert [[label for label, _ in row] for row in got] == [[lb for lb, _ in row] for row in want]
    np.testing.assert_allclose(
        [[s for _, s in row] for row in got], [[s for _, s in row] for row in want], atol=TOLERANCE
    )


def _sorted(row: list[tuple[str, float]]) -> None:
    scores = [s for _, s in row]
    assert scores == sorted(scores, reverse=True)


async def test_single_texts_equal_the_pipeline(model: Model) -> None:
    resp = await model.served.classify.Classify(rq.classify_request(list(TEXTS)))
    got = rq.label_scores(resp)
    want = [[(r["label"], r["score"]) for r in rows] for rows in model.pipe(list(TEXTS))]
    _assert_same(got, want)
    for row in got:
        assert sorted(label for label, _ in row) == sorted(model.labels)
        _sorted(row)
    assert_usage_and_timing(resp)
    tokens = sum(len(model.pipe.tokenizer(t)["input_ids"]) for t in TEXTS)
    assert resp.usage.prompt_tokens == tokens


async def test_pairs_equal_the_pipeline(model: Model) -> None:
    resp = await model.served.classify.Classify(rq.classify_request(PAIRS))
    want = [
        [(r["label"], r["score"]) for r in model.pipe({"text": a, "text_pair": b})]
        for a, b in PAIRS
    ]
    _assert_same(rq.label_scores(resp), want)
    assert_usage_and_timing(resp)


async def test_raw_scores_are_the_logits_and_the_scores_follow_the_rule(model: Model) -> None:
    # Singles and pairs mixed in one request: answers stay in input order.
    inputs: list[str | Sequence[str]] = [TEXTS[0], PAIRS[5], TEXTS[3], PAIRS[0], TEXTS[5]]
    raw = await model.served.client.classify(inputs, raw_scores=True)
    probs = await model.served.client.classify(inputs)
    for item, raw_row, prob_row in zip(inputs, raw, probs, strict=True):
        texts = (item,) if isinstance(item, str) else tuple(item)
        logits = model.logits(*texts)
        by_label = dict(raw_row)
        np.testing.assert_allclose(
            [by_label[label] for label in model.labels], logits, atol=TOLERANCE
        )
        _sorted(raw_row)
        _sorted(prob_row)
        expected = model.probabilities(logits)
        by_label = dict(prob_row)
        np.testing.assert_allclose(
            [by_label[label] for label in model.labels], expected, atol=TOLERANCE
        )
    if len(model.labels) > 1 and not model.multi_label:
        np.testing.assert_allclose([sum(s for _, s in row) for row in probs], 1.0, atol=1e-5)
    if model.multi_label:  # independent sigmoids: no reason to sum to one
        assert any(abs(sum(s for _, s in row) - 1.0) > 0.05 for row in probs)


async def test_truncation_cuts_the_chosen_end_and_only_the_second_text(model: Model) -> None:
    client = model.served.client
    limit = {"max_length": 512, "truncation": True}
    answers = []
    for direction in ("right", "left"):
        model.pipe.tokenizer.truncation_side = direction
        try:
            single = await client.classify(
                [LONG], raw_scores=True, truncate=True, truncation_direction=direction
            )
            pair = await client.classify(
                [("a short first text", LONG)],
                raw_scores=True, truncate=True, truncation_direction=direction,
            )  # fmt: skip
            want_single = model.logits(LONG, **limit)
            want_pair = model.logits(
                "a short first text", LONG, **{**limit, "truncation": "only_second"}
            )
        finally:
            model.pipe.tokenizer.truncation_side = "right"
        for got, want in ((single[0], want_single), (pair[0], want_pair)):
            by_label = dict(got)
            np.testing.assert_allclose(
                [by_label[label] for label in model.labels], want, atol=TOLERANCE
            )
        answers.append((single, pair))
    assert answers[0][0] != answers[1][0], "left and right truncation kept the same tokens"
    assert answers[0][1] != answers[1][1], "left and right truncation kept the same tokens"
    # A protected first text too long to keep any of the second: a clear error.
    await expect_invalid(
        client.classify([(LONG, "short")], truncate=True),
        ["input 0 cannot be truncated", "maximum input length of 512"],
        then=lambda: client.classify(["served after the error"]),
    )
    await expect_invalid(
        client.classify(["fits", LONG], truncate=False),
        ["input 1 has", "more than the model's maximum input length of 512"],
        then=lambda: client.classify(["served after the error"]),
    )


def _input(*texts: str) -> classify_pb2.ClassifyInput:
    return classify_pb2.ClassifyInput(texts=list(texts))


BAD: list[tuple[str, classify_pb2.ClassifyRequest, list[str]]] = [
    ("three-texts", classify_pb2.ClassifyRequest(inputs=[_input("a"), _input("a", "b", "c")]),
     ["input 1 has 3 texts", "one text or a pair"]),
    ("no-texts", classify_pb2.ClassifyRequest(inputs=[_input()]), ["input 0 has 0 texts"]),
    ("no-inputs", classify_pb2.ClassifyRequest(), ["no inputs"]),
    ("empty-in-pair", classify_pb2.ClassifyRequest(inputs=[_input("a", "b"), _input("a", "")]),
     ["input 1 is empty", "second text"]),
    ("empty-first", classify_pb2.ClassifyRequest(inputs=[_input("", "b")]),
     ["input 0 is empty", "first text"]),
    ("empty-text", classify_pb2.ClassifyRequest(inputs=[_input("ok"), _input("")]),
     ["input 1 is empty"]),
    ("direction", classify_pb2.ClassifyRequest(
        inputs=[_input("a")], truncation=unknown_direction(7)),
     ["unknown truncation direction 7"]),
]  # fmt: skip


@pytest.mark.parametrize(("request_", "words"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
async def test_bad_input_is_invalid_argument_and_the_next_request_is_served(
    model: Model, request_: classify_pb2.ClassifyRequest, words: list[str]
) -> None:
    client = model.served.client

    async def next_request() -> None:
        assert len(await client.classify(["still serving", ("a", "pair")])) == 2

    await expect_invalid(
        client._call(model.served.classify.Classify, request_), words, then=next_request
    )


async def test_stream_answers_in_order_and_survives_a_bad_batch(model: Model) -> None:
    batches: list[list[str | Sequence[str]]] = [
        [TEXTS[i % len(TEXTS)], PAIRS[i % len(PAIRS)]][: 1 + i % 2] for i in range(9)
    ]
    messages = [
        classify_pb2.ClassifyStreamRequest(batch_id=f"b{i}", request=rq.classify_request(b))
        for i, b in enumerate(batches)
    ]
    bad = classify_pb2.ClassifyRequest(inputs=[_input("a", "b", "c")])
    messages.insert(4, classify_pb2.ClassifyStreamRequest(batch_id="bad", request=bad))
    answers = await stream_all(model.served.classify.ClassifyStream, messages)
    assert [a.batch_id for a in answers] == [m.batch_id for m in messages]
    assert_stream_error(answers[4], "bad", "3 texts")
    good = [a for a in answers if a.batch_id != "bad"]
    for answer, batch in zip(good, batches, strict=True):
        assert answer.WhichOneof("result") == "response"
        assert_usage_and_timing(answer.response)
        unary = await model.served.client.classify(batch)
        _assert_same(rq.label_scores(answer.response), unary)


async def test_model_info_reports_kind_and_labels(model: Model) -> None:
    info = await model.served.client.model_info()
    one = len(model.labels) == 1
    assert info.kind == (model_pb2.MODEL_KIND_RERANKER if one else model_pb2.MODEL_KIND_CLASSIFIER)
    assert list(info.labels) == list(model.pipe.model.config.id2label.values())
    want = [model_pb2.TASK_CLASSIFY, model_pb2.TASK_RERANK] if one else [model_pb2.TASK_CLASSIFY]
    assert list(info.tasks) == want
    assert info.architecture.endswith("ForSequenceClassification")


async def test_health_is_serving_only_for_what_the_model_answers(model: Model) -> None:
    health = await model.served.health()
    one = len(model.labels) == 1
    assert health == {
        "ember.v1.EmbedService": NOT_SERVING,
        "ember.v1.ClassifyService": SERVING,
        "ember.v1.RerankService": SERVING if one else NOT_SERVING,
        "ember.v1.TokenClassificationService": NOT_SERVING,
        "ember.v1.ModelService": SERVING,
    }


async def test_other_tasks_are_failed_precondition_naming_what_is_served(model: Model) -> None:
    served = model.served
    one = len(model.labels) == 1
    serves = "Classify, Rerank" if one else "Classify"
    await assert_refused(served.embed.Embed(embed_request()), serves)
    await assert_refused(
        served.tokens.PredictTokens(token_classification_pb2.PredictTokensRequest(inputs=["x"])),
        serves,
    )
    if not one:
        await assert_refused(served.rerank.Rerank(rq.rerank_request("q", ["t"])), serves)
    assert len(await served.client.classify(["served after the refusals"])) == 1
