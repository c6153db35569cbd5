"""Service tests of RerankService: an in-process gRPC server around the real TorchEngine.

Three tiny random rerankers, served side by side for the module:

* ``cross-encoder``: a one-label BERT (WordPiece) sequence classifier saved by
  sentence-transformers' ``CrossEncoder.save_pretrained`` (a CrossEncoder folder), checked
  against ``CrossEncoder.rank`` / ``predict`` and the transformers model on the same pairs;
* ``qwen3-detected``: a Qwen3 causal LM whose folder name says reranker, detected as an LLM
  reranker;
* ``qwen2-forced``: a Qwen2 causal LM in a neutral folder (detected as an embedder) served with
  ``kind=llm_reranker``.

LLM rerankers take a plain query and documents; the reference applies Qwen3-Reranker's
documented prompt by hand and scores sigmoid(logit("yes") - logit("no")) of the next token with
transformers. Scores agree within 1e-5 (1e-4 relative for the LLM log-odds).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from sentence_transformers import CrossEncoder
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedTokenizerFast,
)

from ember.clients import requests as rq
from ember.engines.model_folder import inspect_model_folder
from ember.engines.scores import sigmoid
from ember.engines.types import ModelKind, TruncationSide, VectorOutput
from ember.v1 import (
    model_pb2,
    rerank_pb2,
    token_classification_pb2,
)
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
from tests.tiny_models import make_tiny_model

TOLERANCE = 1e-5
QUERY = "Where does Angela Merkel live? 🤔"
DOCS = [*TEXTS, "naïve   résumé\t😀 東京"]
LONG = " ".join(TEXTS) * 12  # over 512 tokens, varied so both ends differ
NAMES = ("cross-encoder", "qwen3-detected", "qwen2-forced")
LLMS = ("qwen3-detected", "qwen2-forced")

# Qwen3-Reranker's documented prompt, written out here as the independent reference.
PREFIX = (
    "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query "
    'and the Instruct provided. Note that the answer can only be "yes" or "no".<|im_end|>\n'
    "<|im_start|>user\n"
)
SUFFIX = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query"


@dataclass
class Reranker:
    """One served reranker and its transformers reference."""

    name: str
    served: Served
    tokenizer: Any
    model: Any

    def cross_logit(self, query: str, doc: str, **options: Any) -> float:
        """A cross-encoder's logit for one pair, tokenized by transformers."""
        batch = self.tokenizer(query, doc, return_tensors="pt", **options)
        with torch.no_grad():
            return float(self.model(**batch).logits[0, 0])

    def prompt_ids(self, query: str, doc: str) -> list[int]:
        """An LLM reranker's input for one pair, formatted by hand."""
        body = f"<Instruct>: {INSTRUCTION}\n<Query>: {query}\n<Document>: {doc}"
        return [
            *self.tokenizer.encode(PREFIX, add_special_tokens=False),
            *self.tokenizer.encode(body, add_special_tokens=False),
            *self.tokenizer.encode(SUFFIX, add_special_tokens=False),
        ]

    def log_odds(self, query: str, doc: str) -> float:
        """logit("yes") - logit("no") of the next token after the formatted prompt."""
        yes = self.tokenizer.convert_tokens_to_ids("yes")
        no = self.tokenizer.convert_tokens_to_ids("no")
        with torch.no_grad():
            last = self.model(input_ids=torch.tensor([self.prompt_ids(query, doc)])).logits[0, -1]
        return float(last[yes] - last[no])

    def reference_logit(self, query: str, doc: str) -> float:
        if self.name == "cross-encoder":
            return self.cross_logit(query, doc)
        return self.log_odds(query, doc)

    def engine_logits(self, query: str, docs: list[str]) -> np.ndarray:
        """The engine's own logits on the same pairs (its tokenizer, one batch)."""
        engine = self.served.engine
        pairs = [(query, d) for d in docs]
        out = engine.forward(
            engine.tokenizer.encode_pairs(pairs, truncate=False, side=TruncationSide.RIGHT)
        )
        assert isinstance(out, VectorOutput)
        return out.rows[:, 0]


def _build(root: Path, name: str) -> tuple[Path, dict[str, Any]]:
    if name == "cross-encoder":
        raw = build_sequence_classifier(root / "bert-one-label", "bert", num_labels=1)
        path = root / "tiny-cross-encoder"
        CrossEncoder(str(raw), device="cpu").save_pretrained(str(path))
        assert (path / "modules.json").exists()  # a sentence-transformers CrossEncoder folder
        return path, {}
    if name == "qwen3-detected":
        # WordPiece has single "yes" / "no" tokens.
        path = make_tiny_model(root / "tiny-qwen3-reranker", arch="qwen3", head="causal-lm",
                               tokenizer="wordpiece")  # fmt: skip
        return path, {}
    path = make_tiny_model(root / "tiny-qwen2-causal-lm", arch="qwen2", head="causal-lm",
                           tokenizer="wordpiece", seed=1)  # fmt: skip
    assert inspect_model_folder(path).kind is ModelKind.EMBEDDING  # nothing says reranker
    return path, {"kind": ModelKind.LLM_RERANKER}


@pytest.fixture(scope="module")
async def rerankers(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Reranker]]:
    root = tmp_path_factory.mktemp("rerankers")
    out: dict[str, Reranker] = {}
    stops = []
    try:
        for name in NAMES:
            path, config = _build(root, name)
            engine = cpu_engine(path, **config)
            auto = (
                AutoModelForSequenceClassification
                if name == "cross-encoder"
                else AutoModelForCausalLM
            )
            model = auto.from_pretrained(str(path)).eval()
            context = serving(engine, path)
            served = await context.__aenter__()
            stops.append(context)
            # transformers builds qwen2 tokenizers with its own class whatever the folder holds;
            # the folder's tokenizer.json is what the model was given (WordPiece here).
            tokenizer = (
                AutoTokenizer.from_pretrained(str(path))
                if name == "cross-encoder"
                else PreTrainedTokenizerFast(tokenizer_file=str(path / "tokenizer.json"))  # type: ignore[no-untyped-call]
            )
            out[name] = Reranker(name, served, tokenizer, model)
        yield out
    finally:
        for context in reversed(stops):
            await context.__aexit__(None, None, None)


@pytest.fixture(params=NAMES)
def reranker(request: pytest.FixtureRequest, rerankers: dict[str, Reranker]) -> Reranker:
    return rerankers[request.param]


@pytest.fixture(params=LLMS)
def llm(request: pytest.FixtureRequest, rerankers: dict[str, Reranker]) -> Reranker:
    return rerankers[request.param]


@pytest.fixture
def cross(rerankers: dict[str, Reranker]) -> Reranker:
    return rerankers["cross-encoder"]


async def test_ranks_are_sorted_and_equal_the_reference(reranker: Reranker) -> None:
    resp = await reranker.served.rerank.Rerank(rq.rerank_request(QUERY, DOCS))
    assert_usage_and_timing(resp)
    got = rq.ranks(resp)
    assert sorted(r.index for r in got) == list(range(len(DOCS)))
    scores = [r.score for r in got]
    assert scores == sorted(scores, reverse=True)
    assert len({round(s, 6) for s in scores}) > len(DOCS) // 2, "degenerate model"
    want = [float(sigmoid(reranker.reference_logit(QUERY, DOCS[r.index]))) for r in got]
    np.testing.assert_allclose(scores, want, atol=TOLERANCE)
    assert all(r.text is None for r in got)


async def test_scores_are_the_sigmoid_of_the_engine_logits(reranker: Reranker) -> None:
    client = reranker.served.client
    raw = await client.rerank(QUERY, DOCS, raw_scores=True)
    plain = await client.rerank(QUERY, DOCS)
    logits = reranker.engine_logits(QUERY, DOCS)
    assert [r.index for r in raw] == [r.index for r in plain]
    np.testing.assert_allclose([r.score for r in raw], logits[[r.index for r in raw]], atol=1e-5)
    np.testing.assert_allclose(
        [r.score for r in plain], sigmoid(logits[[r.index for r in plain]]), atol=1e-6
    )
    # Raw scores are the transformers reference's logits too (not squashed).
    want = [reranker.reference_logit(QUERY, DOCS[r.index]) for r in raw]
    np.testing.assert_allclose([r.score for r in raw], want, rtol=1e-4, atol=1e-5)


async def test_return_text_and_top_n(reranker: Reranker) -> None:
    client = reranker.served.client
    full = await client.rerank(QUERY, DOCS)
    top = await client.rerank(QUERY, DOCS, top_n=3, return_text=True)
    assert [(r.index, r.score) for r in top] == [(r.index, r.score) for r in full[:3]]
    assert [r.text for r in top] == [DOCS[r.index] for r in top]
    everything = await client.rerank(QUERY, DOCS, top_n=len(DOCS) + 5)
    assert [r.index for r in everything] == [r.index for r in full]


async def test_cross_encoder_folder_equals_cross_encoder_rank(cross: Reranker) -> None:
    encoder = CrossEncoder(str(cross.served.path), device="cpu")
    for top_n in (None, 4):
        got = await cross.served.client.rerank(QUERY, DOCS, top_n=top_n)
        want = encoder.rank(QUERY, DOCS, top_k=top_n)
        assert [r.index for r in got] == [w["corpus_id"] for w in want]
        np.testing.assert_allclose([r.score for r in got], [w["score"] for w in want], atol=1e-5)
    info = await cross.served.client.model_info()
    assert info.kind == model_pb2.MODEL_KIND_RERANKER
    assert list(info.labels) == ["LABEL_0"]
    assert list(info.tasks) == [model_pb2.TASK_CLASSIFY, model_pb2.TASK_RERANK]


async def test_cross_encoder_also_classifies_pairs(cross: Reranker) -> None:
    ranked = await cross.served.client.rerank(QUERY, DOCS[:4])
    classified = await cross.served.client.classify([(QUERY, d) for d in DOCS[:4]])
    by_index = {r.index: r.score for r in ranked}
    for i, labels in enumerate(classified):
        assert [label for label, _ in labels] == ["LABEL_0"]
        assert labels[0][1] == pytest.approx(by_index[i], abs=1e-6)


@pytest.mark.parametrize("direction", ["right", "left"])
async def test_long_documents_are_cut_never_the_query(cross: Reranker, direction: str) -> None:
    client = cross.served.client
    docs = ["short document", LONG]
    got = await client.rerank(
        QUERY, docs, raw_scores=True, truncate=True, truncation_direction=direction
    )
    cross.tokenizer.truncation_side = direction
    try:
        want = [cross.cross_logit(QUERY, d, truncation="only_second", max_length=512) for d in docs]
    finally:
        cross.tokenizer.truncation_side = "right"
    np.testing.assert_allclose([want[r.index] for r in got], [r.score for r in got], atol=1e-5)
    # The query is kept whole: the same document cut at the other end scores otherwise.
    other = await client.rerank(
        QUERY, [LONG], raw_scores=True, truncate=True,
        truncation_direction="left" if direction == "right" else "right",
    )  # fmt: skip
    assert other[0].score != pytest.approx(got[[r.index for r in got].index(1)].score, abs=1e-4)


async def test_llm_long_document_is_cut_to_the_token_budget(llm: Reranker) -> None:
    # WordPiece splits "word word ..." into one token per word, so the documents that fit are
    # exactly the first N words; N is what the prompt and the query leave of the 512 tokens.
    fixed = len(llm.prompt_ids(QUERY, ""))
    budget = 512 - fixed
    got = await llm.served.client.rerank(QUERY, ["word " * 700], raw_scores=True, truncate=True)
    want = llm.log_odds(QUERY, " ".join(["word"] * budget))
    assert len(llm.prompt_ids(QUERY, " ".join(["word"] * budget))) == 512
    assert got[0].score == pytest.approx(want, rel=1e-4, abs=1e-5)


async def test_llm_reranker_info_health_and_refusals(llm: Reranker) -> None:
    served = llm.served
    info = await served.client.model_info()
    assert info.kind == model_pb2.MODEL_KIND_LLM_RERANKER
    assert list(info.tasks) == [model_pb2.TASK_RERANK]
    assert list(info.labels) == []
    assert info.architecture.endswith("ForCausalLM")
    assert await served.health() == {
        "ember.v1.EmbedService": NOT_SERVING,
        "ember.v1.ClassifyService": NOT_SERVING,
        "ember.v1.RerankService": SERVING,
        "ember.v1.TokenClassificationService": NOT_SERVING,
        "ember.v1.ModelService": SERVING,
    }
    await assert_refused(served.classify.Classify(rq.classify_request([("q", "d")])), "Rerank")
    await assert_refused(served.embed.Embed(embed_request()), "Rerank")
    await assert_refused(
        served.tokens.PredictTokens(token_classification_pb2.PredictTokensRequest(inputs=["x"])),
        "Rerank",
    )
    assert len(await served.client.rerank("q", ["served after the refusals"])) == 1


async def test_cross_encoder_health_and_refusals(cross: Reranker) -> None:
    served = cross.served
    assert await served.health() == {
        "ember.v1.EmbedService": NOT_SERVING,
        "ember.v1.ClassifyService": SERVING,
        "ember.v1.RerankService": SERVING,
        "ember.v1.TokenClassificationService": NOT_SERVING,
        "ember.v1.ModelService": SERVING,
    }
    await assert_refused(served.embed.Embed(embed_request()), "Classify, Rerank")
    await assert_refused(
        served.tokens.PredictTokens(token_classification_pb2.PredictTokensRequest(inputs=["x"])),
        "Classify, Rerank",
    )


def _request(query: str, texts: list[str], **options: Any) -> rerank_pb2.RerankRequest:
    return rq.rerank_request(query, texts, **options)


BAD: list[tuple[str, rerank_pb2.RerankRequest, list[str]]] = [
    ("no-texts", _request("q", []), ["no texts"]),
    ("empty-query", _request("", ["a"]), ["the query is empty"]),
    ("blank-query", _request(" \t\n ", ["a"]), ["the query is empty"]),
    ("top-n-zero", _request("q", ["a", "b"], top_n=0), ["top_n must be at least 1, got 0"]),
    ("empty-text", _request("q", ["a", "b", ""]), ["text 2 is empty"]),
    ("long-text", _request("q", ["a", LONG], truncate=False),
     ["text 1 with the query has", "maximum input length of 512", "truncate"]),
    ("long-query", _request(LONG, ["a"], truncate=True),
     ["the query is too long", "maximum input length is 512", "never the query"]),
    ("direction", rerank_pb2.RerankRequest(
        query="q", texts=["a"], truncation=unknown_direction(5)),
     ["unknown truncation direction 5"]),
]  # fmt: skip


@pytest.mark.parametrize(("request_", "words"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
async def test_bad_input_is_invalid_argument_and_the_next_request_is_served(
    reranker: Reranker, request_: rerank_pb2.RerankRequest, words: list[str]
) -> None:
    client = reranker.served.client

    async def next_request() -> None:
        assert len(await client.rerank("still serving?", ["yes", "no"])) == 2

    await expect_invalid(
        client._call(reranker.served.rerank.Rerank, request_), words, then=next_request
    )


async def test_stream_answers_in_order_and_survives_bad_requests(reranker: Reranker) -> None:
    requests = [
        _request(f"query {i} {TEXTS[i % 8][:20]}", DOCS[i % 3 : i % 3 + 4]) for i in range(8)
    ]
    messages = [
        rerank_pb2.RerankStreamRequest(batch_id=f"r{i}", request=r) for i, r in enumerate(requests)
    ]
    messages.insert(
        3, rerank_pb2.RerankStreamRequest(batch_id="no-query", request=_request("", ["a"]))
    )
    messages.insert(
        6, rerank_pb2.RerankStreamRequest(batch_id="top-0", request=_request("q", ["a"], top_n=0))
    )
    answers = await stream_all(reranker.served.rerank.RerankStream, messages)
    assert [a.batch_id for a in answers] == [m.batch_id for m in messages]
    assert_stream_error(answers[3], "no-query", "query is empty")
    assert_stream_error(answers[6], "top-0", "top_n")
    good = [a for a in answers if a.WhichOneof("result") == "response"]
    assert len(good) == len(requests)
    for answer, request in zip(good, requests, strict=True):
        assert_usage_and_timing(answer.response)
        unary = await reranker.served.rerank.Rerank(request)
        # Batched with other requests of the stream: equal up to float rounding of padding.
        assert [r.index for r in answer.response.ranks] == [r.index for r in unary.ranks]
        np.testing.assert_allclose(
            [r.score for r in answer.response.ranks], [r.score for r in unary.ranks], atol=1e-6
        )
