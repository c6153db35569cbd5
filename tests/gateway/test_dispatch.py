"""Pure pieces of the drop-in routes: which task ``POST /`` runs for each model kind and body
shape, the Hugging Face pipeline shapes, Cohere v2 and the empty-list message."""

from __future__ import annotations

import json
import math

import orjson
import pytest
from pydantic import ValidationError

from ember.gateway import translate
from ember.gateway.dispatch import Target, target_for
from ember.gateway.models import (
    CohereV2RerankRequest,
    HFClassifyRequest,
    HFTokensRequest,
    OpenAIEmbeddingsRequest,
    PredictRequest,
    PredictTokensRequest,
    TEIDecodeRequest,
    TEIEmbedRequest,
    TEITokenizeRequest,
)
from ember.v1 import classify_pb2, model_pb2, rerank_pb2, token_classification_pb2

EMBEDDING = model_pb2.MODEL_KIND_EMBEDDING
SIMILARITY_BODY = {"inputs": {"source_sentence": "a", "sentences": ["b"]}}


@pytest.mark.parametrize(
    ("kind", "body", "target"),
    [
        (EMBEDDING, {"inputs": "a"}, Target.EMBED),
        (EMBEDDING, SIMILARITY_BODY, Target.SIMILARITY),
        (EMBEDDING, {"inputs": "a", "parameters": {}}, Target.EMBED),
        (model_pb2.MODEL_KIND_SPARSE_EMBEDDING, {"inputs": "a"}, Target.EMBED_SPARSE),
        (model_pb2.MODEL_KIND_RERANKER, {"query": "q", "texts": ["a"]}, Target.RERANK),
        (model_pb2.MODEL_KIND_RERANKER, {"inputs": "a"}, Target.PREDICT),
        (model_pb2.MODEL_KIND_RERANKER, {"inputs": "a", "parameters": {}}, Target.HF_CLASSIFY),
        (model_pb2.MODEL_KIND_LLM_RERANKER, {"inputs": "a"}, Target.RERANK),
        (model_pb2.MODEL_KIND_CLASSIFIER, {"inputs": "a"}, Target.PREDICT),
        (model_pb2.MODEL_KIND_CLASSIFIER, {"inputs": "a", "parameters": {}}, Target.HF_CLASSIFY),
        (model_pb2.MODEL_KIND_CLASSIFIER, {"inputs": "a", "parameters": 3}, Target.PREDICT),
        (model_pb2.MODEL_KIND_TOKEN_CLASSIFIER, {"inputs": ["a"]}, Target.PREDICT_TOKENS),
        (
            model_pb2.MODEL_KIND_TOKEN_CLASSIFIER,
            {"inputs": "a", "parameters": {}},
            Target.HF_TOKENS,
        ),
    ],
)
def test_target_for(kind: int, body: dict[str, object], target: Target) -> None:
    assert target_for(kind, body) is target


@pytest.mark.parametrize(
    ("model", "field"),
    [
        (OpenAIEmbeddingsRequest, "input"),
        (TEIEmbedRequest, "inputs"),
        (PredictRequest, "inputs"),
        (PredictTokensRequest, "inputs"),
        (TEITokenizeRequest, "inputs"),
        (TEIDecodeRequest, "ids"),
        (CohereV2RerankRequest, "documents"),
    ],
)
def test_an_empty_list_says_so(model: type[OpenAIEmbeddingsRequest], field: str) -> None:
    body = {"query": "q", field: []}
    with pytest.raises(ValidationError) as info:
        model.model_validate_json(json.dumps(body))
    (error,) = info.value.errors()
    assert error["loc"][0] == field
    assert "the list is empty" in error["msg"]


def classification(labels: dict[str, float]) -> classify_pb2.ClassifyResponse:
    response = classify_pb2.ClassifyResponse()
    result = response.results.add()
    for label, score in labels.items():
        result.labels.add(label=label, score=score)
    return response


def parse_json(model: type[HFClassifyRequest], body: object) -> HFClassifyRequest:
    return model.model_validate_json(json.dumps(body))


class TestHuggingFaceShapes:
    def test_classify_default_keeps_the_models_scores(self) -> None:
        body = parse_json(HFClassifyRequest, {"inputs": "t", "parameters": {}})
        request, single = translate.hf_classify_request(body)
        assert single
        assert not request.raw_scores
        out = translate.hf_classify_response(classification({"a": 0.7, "b": 0.3}), body.parameters)
        assert orjson.loads(orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY)) == [
            [{"label": "a", "score": 0.7}, {"label": "b", "score": 0.3}]
        ]

    @pytest.mark.parametrize(
        ("function", "expected"),
        [
            ("softmax", [1 / (1 + math.exp(-2.0)), 1 / (1 + math.exp(2.0))]),
            ("sigmoid", [1 / (1 + math.exp(-1.0)), 1 / (1 + math.exp(1.0))]),
            ("none", [1.0, -1.0]),
        ],
    )
    def test_classify_applies_the_function_to_raw_logits(
        self, function: str, expected: list[float]
    ) -> None:
        body = parse_json(
            HFClassifyRequest, {"inputs": ["t"], "parameters": {"function_to_apply": function}}
        )
        request, single = translate.hf_classify_request(body)
        assert request.raw_scores
        assert not single
        out = translate.hf_classify_response(classification({"b": -1.0, "a": 1.0}), body.parameters)
        assert [item["label"] for item in out[0]] == ["a", "b"]
        assert [float(item["score"]) for item in out[0]] == pytest.approx(expected, rel=1e-6)

    def test_classify_top_k(self) -> None:
        body = parse_json(HFClassifyRequest, {"inputs": "t", "parameters": {"top_k": 1}})
        out = translate.hf_classify_response(
            classification({"a": 0.2, "b": 0.5, "c": 0.3}), body.parameters
        )
        assert [item["label"] for item in out[0]] == ["b"]

    def test_tokens_default_to_simple_and_drop_ignored_labels(self) -> None:
        body = HFTokensRequest.model_validate_json(
            '{"inputs": "Anna in Paris", "parameters": {"ignore_labels": ["LOC"]}}'
        )
        request, single = translate.hf_tokens_request(body)
        assert single
        assert request.aggregation_strategy == token_classification_pb2.AGGREGATION_STRATEGY_SIMPLE
        response = token_classification_pb2.PredictTokensResponse()
        tokens = response.results.add().tokens
        tokens.add(token="Anna", start=0, end=4).results.add(label="PER", score=0.9)
        tokens.add(token="Paris", start=8, end=13).results.add(label="LOC", score=0.8)
        out = translate.hf_tokens_response(response, body.parameters, single)
        assert orjson.loads(orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY)) == [
            {"entity_group": "PER", "score": 0.9, "word": "Anna", "start": 0, "end": 4}
        ]

    def test_tokens_without_aggregation_name_the_entity(self) -> None:
        body = HFTokensRequest.model_validate_json(
            '{"inputs": ["x"], "parameters": {"aggregation_strategy": "none"}}'
        )
        response = token_classification_pb2.PredictTokensResponse()
        response.results.add().tokens.add(token="x", start=0, end=1).results.add(
            label="B-PER", score=0.5
        )
        out = translate.hf_tokens_response(response, body.parameters, single=False)
        assert orjson.loads(orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY)) == [
            [{"entity": "B-PER", "score": 0.5, "word": "x", "start": 0, "end": 1}]
        ]


def test_cohere_v2_shape() -> None:
    body = CohereV2RerankRequest.model_validate_json(
        '{"model": "m", "query": "q", "documents": ["a", "b"], "top_n": 1, "truncate": false}'
    )
    request = translate.cohere_rerank_request(body)
    assert request.top_n == 1
    assert not request.return_text
    assert request.truncation.HasField("truncate")
    assert not request.truncation.truncate
    response = rerank_pb2.RerankResponse()
    response.ranks.add(index=1, score=0.5)
    out = translate.cohere_v2_rerank_response(response, "rid")
    assert orjson.loads(orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY)) == {
        "id": "rid",
        "results": [{"index": 1, "relevance_score": 0.5}],
        "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}},
    }
