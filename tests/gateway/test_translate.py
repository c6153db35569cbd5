"""Unit tests of ember.gateway.translate: JSON request bodies (as REFERENCE.md says real clients
send them) through the gateway's request models to proto, and proto answers back to JSON."""

from __future__ import annotations

import base64
import json
from typing import Any, TypeVar

import numpy as np
import orjson
import pytest
from pydantic import BaseModel, ValidationError

from ember.gateway import errors, translate
from ember.gateway.models import (
    CohereRerankRequest,
    OpenAIEmbeddingsRequest,
    PredictRequest,
    PredictTokensRequest,
    TEIEmbedRequest,
    TEIEmbedSparseRequest,
    TEIRerankRequest,
    TEITokenizeRequest,
)
from ember.v1 import (
    classify_pb2,
    common_pb2,
    embed_pb2,
    model_pb2,
    rerank_pb2,
    token_classification_pb2,
)

M = TypeVar("M", bound=BaseModel)

RIGHT = common_pb2.TRUNCATION_DIRECTION_RIGHT
LEFT = common_pb2.TRUNCATION_DIRECTION_LEFT


def parse(model: type[M], body: str) -> M:
    """Validate a JSON body the way the app does (json.loads, then the model)."""
    return model.model_validate(json.loads(body))


def encode(value: object) -> Any:
    """What the client receives: orjson with numpy support, decoded again."""
    return json.loads(orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY))


def f32_response(vectors: np.ndarray, *, as_values: bool = False) -> embed_pb2.EmbedResponse:
    response = embed_pb2.EmbedResponse(
        model="served", usage=common_pb2.Usage(prompt_tokens=7, total_tokens=7)
    )
    for row in vectors:
        if as_values:
            response.embeddings.add(values=row.tolist())
        else:
            response.embeddings.add(float32_le=row.astype("<f4").tobytes())
    return response


VECTORS = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)


# ---------------------------------------------------------------- OpenAI embeddings


class TestOpenAIEmbeddingsRequest:
    def test_single_string(self) -> None:
        body = parse(OpenAIEmbeddingsRequest, '{"input": "hello", "model": "anything"}')
        request = translate.openai_embed_request(body)
        assert [i.text for i in request.inputs] == ["hello"]
        assert request.format == embed_pb2.EMBEDDING_FORMAT_FLOAT32_LE
        assert not request.HasField("dimensions")
        assert not request.HasField("normalize")  # server default: normalized, like OpenAI

    def test_list_of_strings_keeps_order(self) -> None:
        body = parse(OpenAIEmbeddingsRequest, '{"input": ["a", "b", "c"]}')
        assert [i.text for i in translate.openai_embed_request(body).inputs] == ["a", "b", "c"]

    def test_token_ids_are_one_input(self) -> None:
        body = parse(OpenAIEmbeddingsRequest, '{"input": [101, 7592, 102]}')
        inputs = translate.openai_embed_request(body).inputs
        assert len(inputs) == 1
        assert inputs[0].WhichOneof("content") == "token_ids"
        assert list(inputs[0].token_ids.ids) == [101, 7592, 102]

    def test_list_of_token_id_lists_is_a_batch(self) -> None:
        body = parse(OpenAIEmbeddingsRequest, '{"input": [[1, 2], [3]]}')
        inputs = translate.openai_embed_request(body).inputs
        assert [list(i.token_ids.ids) for i in inputs] == [[1, 2], [3]]

    def test_dimensions_and_ignored_fields(self) -> None:
        body = parse(
            OpenAIEmbeddingsRequest,
            '{"input": "x", "dimensions": 64, "user": "u-1", "encoding_format": "base64",'
            ' "some_future_field": 1}',
        )
        request = translate.openai_embed_request(body)
        assert request.dimensions == 64
        assert body.encoding_format == "base64"

    def test_null_encoding_format_means_float(self) -> None:
        body = parse(OpenAIEmbeddingsRequest, '{"input": "x", "encoding_format": null}')
        assert body.encoding_format is None  # the route answers float for None

    @pytest.mark.parametrize(
        "body",
        [
            '{"input": []}',
            '{"input": [[]]}',
            '{"input": ["a", 1]}',
            '{"input": [1, "a"]}',
            '{"input": [-1]}',
            '{"input": null}',
            "{}",
            '{"input": "x", "encoding_format": "float16"}',
            '{"input": "x", "dimensions": 0}',
            '{"input": "x", "dimensions": -3}',
            '{"input": "x", "dimensions": "8"}',
            '{"input": "x", "dimensions": 8.5}',
            '{"input": {"text": "x"}}',
        ],
    )
    def test_invalid_bodies_are_rejected(self, body: str) -> None:
        with pytest.raises(ValidationError):
            parse(OpenAIEmbeddingsRequest, body)


class TestOpenAIEmbeddingsResponse:
    def test_float_answer_is_the_vectors(self) -> None:
        out = encode(translate.openai_embed_response(f32_response(VECTORS), "float"))
        assert out["object"] == "list"
        assert out["model"] == "served"
        assert out["usage"] == {"prompt_tokens": 7, "total_tokens": 7}
        assert [d["index"] for d in out["data"]] == [0, 1, 2]
        assert all(d["object"] == "embedding" for d in out["data"])
        got = np.array([d["embedding"] for d in out["data"]], dtype=np.float32)
        np.testing.assert_array_equal(got, VECTORS)  # float32 round trip is exact

    def test_base64_round_trip_is_exact(self) -> None:
        out = encode(translate.openai_embed_response(f32_response(VECTORS), "base64"))
        for row, item in zip(VECTORS, out["data"], strict=True):
            assert isinstance(item["embedding"], str)
            decoded = np.frombuffer(base64.b64decode(item["embedding"]), dtype="<f4")
            np.testing.assert_array_equal(decoded, row)

    @pytest.mark.parametrize("fmt", ["float", "base64"])
    def test_upstream_answering_repeated_floats_still_works(self, fmt: str) -> None:
        fast = encode(translate.openai_embed_response(f32_response(VECTORS), fmt))
        slow = encode(translate.openai_embed_response(f32_response(VECTORS, as_values=True), fmt))
        assert fast == slow

    def test_ragged_vectors_are_an_internal_error(self) -> None:
        response = embed_pb2.EmbedResponse()
        response.embeddings.add(float32_le=np.zeros(3, "<f4").tobytes())
        response.embeddings.add(float32_le=np.zeros(2, "<f4").tobytes())
        with pytest.raises(errors.ApiError) as info:
            translate.embedding_matrix(response)
        assert info.value.kind.status == 500

    def test_empty_answer(self) -> None:
        assert translate.embedding_matrix(embed_pb2.EmbedResponse()).shape == (0, 0)


# ---------------------------------------------------------------- TEI embed / sparse / tokenize


class TestTEIEmbed:
    def test_all_options(self) -> None:
        body = parse(
            TEIEmbedRequest,
            '{"inputs": ["a", "b"], "normalize": false, "truncate": true,'
            ' "truncation_direction": "Left", "prompt_name": "query", "dimensions": 4}',
        )
        request = translate.tei_embed_request(body)
        assert [i.text for i in request.inputs] == ["a", "b"]
        assert request.HasField("normalize")
        assert request.normalize is False
        assert request.truncation.HasField("truncate")
        assert request.truncation.truncate
        assert request.truncation.direction == LEFT
        assert request.prompt_name == "query"
        assert request.dimensions == 4
        assert request.format == embed_pb2.EMBEDDING_FORMAT_FLOAT32_LE

    def test_defaults(self) -> None:
        request = translate.tei_embed_request(parse(TEIEmbedRequest, '{"inputs": "a"}'))
        assert request.normalize is True
        assert not request.truncation.HasField("truncate")  # server default
        assert request.truncation.direction == RIGHT
        assert request.prompt_name == ""

    @pytest.mark.parametrize(
        ("given", "expected"),
        [("Right", RIGHT), ("right", RIGHT), ("RIGHT", RIGHT), ("Left", LEFT), ("left", LEFT),
         ("LEFT", LEFT), ("lEfT", LEFT)],
    )  # fmt: skip
    def test_truncation_direction_in_any_case(self, given: str, expected: int) -> None:
        body = parse(TEIEmbedRequest, json.dumps({"inputs": "a", "truncation_direction": given}))
        assert translate.tei_embed_request(body).truncation.direction == expected

    @pytest.mark.parametrize("given", ["up", "", "Rightward", "r"])
    def test_unknown_direction_is_rejected(self, given: str) -> None:
        with pytest.raises(ValidationError):
            parse(TEIEmbedRequest, json.dumps({"inputs": "a", "truncation_direction": given}))
        with pytest.raises(errors.ApiError):
            translate.truncation(True, given)

    def test_answer_is_a_list_of_vectors(self) -> None:
        out = encode(translate.tei_embed_response(f32_response(VECTORS)))
        assert isinstance(out, list)
        assert len(out) == 3
        np.testing.assert_array_equal(np.array(out, dtype=np.float32), VECTORS)

    def test_sparse(self) -> None:
        body = parse(TEIEmbedSparseRequest, '{"inputs": ["a"], "truncate": false}')
        request = translate.tei_embed_sparse_request(body)
        assert [i.text for i in request.inputs] == ["a"]
        assert request.truncation.HasField("truncate")
        assert not request.truncation.truncate
        response = embed_pb2.EmbedSparseResponse()
        response.embeddings.add(indices=[3, 17], values=[0.5, 1.25])
        response.embeddings.add()
        out = encode(translate.tei_embed_sparse_response(response))
        assert out == [[{"index": 3, "value": 0.5}, {"index": 17, "value": 1.25}], []]

    def test_tokenize(self) -> None:
        body = parse(TEITokenizeRequest, '{"inputs": "hi", "add_special_tokens": false}')
        request = translate.tokenize_request(body)
        assert list(request.inputs) == ["hi"]
        assert request.add_special_tokens is False
        response = model_pb2.TokenizeResponse()
        tokens = response.results.add().tokens
        tokens.add(id=101, text="[CLS]", special=True)
        tokens.add(id=7632, text="hi", start=0, stop=2)
        assert encode(translate.tokenize_response(response)) == [
            [
                {"id": 101, "text": "[CLS]", "special": True, "start": None, "stop": None},
                {"id": 7632, "text": "hi", "special": False, "start": 0, "stop": 2},
            ]
        ]


# ---------------------------------------------------------------- rerank


def ranks(*items: tuple[int, float, str | None]) -> rerank_pb2.RerankResponse:
    response = rerank_pb2.RerankResponse(
        model="rr", usage=common_pb2.Usage(prompt_tokens=9, total_tokens=9)
    )
    for index, score, text in items:
        rank = response.ranks.add(index=index, score=score)
        if text is not None:
            rank.text = text
    return response


class TestRerank:
    def test_tei_request(self) -> None:
        body = parse(
            TEIRerankRequest,
            '{"query": "q", "texts": ["d0", "d1"], "raw_scores": true, "return_text": true,'
            ' "truncate": true, "truncation_direction": "left", "model": "ignored"}',
        )
        request = translate.tei_rerank_request(body)
        assert request.query == "q"
        assert list(request.texts) == ["d0", "d1"]
        assert request.raw_scores
        assert request.return_text
        assert request.truncation.truncate
        assert request.truncation.direction == LEFT
        assert not request.HasField("top_n")

    def test_tei_answer_keeps_order_and_text_only_when_present(self) -> None:
        out = encode(translate.tei_rerank_response(ranks((1, 0.9, "d1"), (0, 0.25, None))))
        assert out == [{"index": 1, "score": 0.9, "text": "d1"}, {"index": 0, "score": 0.25}]

    def test_scores_are_written_as_float32(self) -> None:
        text = orjson.dumps(
            translate.tei_rerank_response(ranks((0, 0.9, None))),
            option=orjson.OPT_SERIALIZE_NUMPY,
        )
        assert text == b'[{"index":0,"score":0.9}]'  # not 0.8999999761581421

    def test_cohere_request_with_objects_and_top_n(self) -> None:
        body = parse(
            CohereRerankRequest,
            '{"query": "q", "documents": ["d0", {"text": "d1"}], "top_n": 1,'
            ' "return_documents": true, "model": "rerank-v3", "max_chunks_per_doc": 3}',
        )
        request = translate.cohere_rerank_request(body)
        assert list(request.texts) == ["d0", "d1"]
        assert request.top_n == 1
        assert request.return_text

    def test_cohere_answer(self) -> None:
        out = encode(translate.cohere_rerank_response(ranks((1, 0.75, "d1")), "rid-1"))
        assert out == {
            "id": "rid-1",
            "results": [{"index": 1, "relevance_score": 0.75, "document": {"text": "d1"}}],
            "model": "rr",
            "usage": {"prompt_tokens": 9, "total_tokens": 9},
        }

    @pytest.mark.parametrize(
        "body",
        [
            '{"query": "q", "texts": []}',
            '{"query": "q"}',
            '{"texts": ["a"]}',
            '{"query": "q", "texts": "a"}',
            '{"query": "q", "texts": ["a"], "raw_scores": "yes"}',
        ],
    )
    def test_invalid_tei_bodies(self, body: str) -> None:
        with pytest.raises(ValidationError):
            parse(TEIRerankRequest, body)

    @pytest.mark.parametrize(
        "body",
        [
            '{"query": "q", "documents": []}',
            '{"query": "q", "documents": [{"title": "no text"}]}',
            '{"query": "q", "documents": ["a"], "top_n": 0}',
        ],
    )
    def test_invalid_cohere_bodies(self, body: str) -> None:
        with pytest.raises(ValidationError):
            parse(CohereRerankRequest, body)


# ---------------------------------------------------------------- classification


def classifications(n: int) -> classify_pb2.ClassifyResponse:
    response = classify_pb2.ClassifyResponse()
    for i in range(n):
        labels = response.results.add().labels
        labels.add(label="POS", score=0.75 - i / 8)
        labels.add(label="NEG", score=0.25 + i / 8)
    return response


class TestPredict:
    def test_one_string_is_one_input(self) -> None:
        request, single = translate.predict_request(parse(PredictRequest, '{"inputs": "t"}'))
        assert single
        assert [list(i.texts) for i in request.inputs] == [["t"]]

    def test_flat_pair_is_one_pair(self) -> None:
        request, single = translate.predict_request(parse(PredictRequest, '{"inputs": ["a", "b"]}'))
        assert single
        assert [list(i.texts) for i in request.inputs] == [["a", "b"]]

    def test_nested_lists_are_a_batch(self) -> None:
        # The performance client's classify body, plus a pair.
        body = parse(
            PredictRequest,
            '{"inputs": [["t0"], ["t1"], ["a", "b"]], "raw_scores": false, "truncate": false,'
            ' "truncation_direction": "Right"}',
        )
        request, single = translate.predict_request(body)
        assert not single
        assert [list(i.texts) for i in request.inputs] == [["t0"], ["t1"], ["a", "b"]]
        assert request.truncation.HasField("truncate")
        assert not request.truncation.truncate

    def test_batch_of_two_single_texts_is_not_a_pair(self) -> None:
        request, single = translate.predict_request(
            parse(PredictRequest, '{"inputs": [["a"], ["b"]]}')
        )
        assert not single
        assert len(request.inputs) == 2

    @pytest.mark.parametrize("inputs", [["a", "b", "c"], ["a"]])
    def test_flat_list_that_is_not_a_pair_is_rejected_clearly(self, inputs: list[str]) -> None:
        with pytest.raises(ValidationError) as info:
            parse(PredictRequest, json.dumps({"inputs": inputs}))
        assert "ONE text pair" in str(info.value)

    @pytest.mark.parametrize(
        "inputs", [[["a", "b", "c"]], [[]], [["a"], "b"], [[1]], 5, None, {"text": "a"}]
    )
    def test_other_bad_inputs(self, inputs: object) -> None:
        with pytest.raises(ValidationError):
            parse(PredictRequest, json.dumps({"inputs": inputs}))

    def test_single_answer_is_one_list(self) -> None:
        out = encode(translate.predict_response(classifications(1), single=True))
        assert out == [{"label": "POS", "score": 0.75}, {"label": "NEG", "score": 0.25}]

    def test_batch_answer_is_a_list_per_input(self) -> None:
        out = encode(translate.predict_response(classifications(2), single=False))
        assert out == [
            [{"label": "POS", "score": 0.75}, {"label": "NEG", "score": 0.25}],
            [{"label": "POS", "score": 0.625}, {"label": "NEG", "score": 0.375}],
        ]

    def test_batch_answered_for_a_single_input_is_internal(self) -> None:
        with pytest.raises(errors.ApiError) as info:
            translate.predict_response(classifications(2), single=True)
        assert info.value.kind is errors.INTERNAL


# ---------------------------------------------------------------- token classification


def token_predictions(*texts: str) -> token_classification_pb2.PredictTokensResponse:
    response = token_classification_pb2.PredictTokensResponse()
    for text in texts:
        token = response.results.add().tokens.add(token=text, token_id=5, start=0, end=len(text))
        token.results.add(label="B-PER", score=0.5)
        token.results.add(label="O", score=0.25)
    return response


def tokens_of(text: str) -> list[dict[str, object]]:
    return [
        {
            "token": text,
            "token_id": 5,
            "start": 0,
            "end": len(text),
            "results": {"B-PER": 0.5, "O": 0.25},
        }
    ]


class TestPredictTokens:
    def test_nested_input_mirrors_the_nesting(self) -> None:
        body = parse(PredictTokensRequest, '{"inputs": [["ab", "cde"], ["f"]]}')
        request, layout = translate.predict_tokens_request(body)
        assert list(request.inputs) == ["ab", "cde", "f"]
        assert request.aggregation_strategy == token_classification_pb2.AGGREGATION_STRATEGY_NONE
        out = encode(translate.predict_tokens_response(token_predictions("ab", "cde", "f"), layout))
        assert out == [[tokens_of("ab"), tokens_of("cde")], [tokens_of("f")]]

    def test_flat_input_is_one_answer_per_text(self) -> None:
        body = parse(PredictTokensRequest, '{"inputs": ["ab", "f"], "raw_scores": true}')
        request, layout = translate.predict_tokens_request(body)
        assert request.raw_scores
        out = encode(translate.predict_tokens_response(token_predictions("ab", "f"), layout))
        assert out == [tokens_of("ab"), tokens_of("f")]

    def test_one_text(self) -> None:
        body = parse(PredictTokensRequest, '{"inputs": "ab"}')
        _request, layout = translate.predict_tokens_request(body)
        out = encode(translate.predict_tokens_response(token_predictions("ab"), layout))
        assert out == tokens_of("ab")

    @pytest.mark.parametrize(
        ("given", "expected"),
        [
            ("none", token_classification_pb2.AGGREGATION_STRATEGY_NONE),
            ("simple", token_classification_pb2.AGGREGATION_STRATEGY_SIMPLE),
            ("first", token_classification_pb2.AGGREGATION_STRATEGY_FIRST),
            ("average", token_classification_pb2.AGGREGATION_STRATEGY_AVERAGE),
            ("max", token_classification_pb2.AGGREGATION_STRATEGY_MAX),
            (None, token_classification_pb2.AGGREGATION_STRATEGY_NONE),
        ],
    )
    def test_aggregation_strategies(self, given: str | None, expected: int) -> None:
        body = parse(
            PredictTokensRequest,
            json.dumps({"inputs": [["x"]], "aggregation_strategy": given, "truncate": True}),
        )
        request, _ = translate.predict_tokens_request(body)
        assert request.aggregation_strategy == expected
        assert request.truncation.truncate

    @pytest.mark.parametrize(
        "body",
        [
            '{"inputs": []}',
            '{"inputs": [[]]}',
            '{"inputs": [["a"], "b"]}',
            '{"inputs": ["a"], "aggregation_strategy": "mean"}',
        ],
    )
    def test_invalid_bodies(self, body: str) -> None:
        with pytest.raises(ValidationError):
            parse(PredictTokensRequest, body)


# ---------------------------------------------------------------- info and models


def model_info(kind: int, labels: tuple[str, ...] = ()) -> model_pb2.GetModelInfoResponse:
    return model_pb2.GetModelInfoResponse(
        model_id="m",
        kind=kind,
        tasks=[model_pb2.TASK_CLASSIFY, model_pb2.TASK_RERANK],
        labels=labels,
        dtype="float32",
        device="cpu",
        max_input_length=512,
        max_batch_tokens=16384,
        max_batch_requests=64,
        max_client_batch_size=2048,
        pooling="",
        backend="torch",
        architecture="BertForSequenceClassification",
        server_version="0.1.0",
    )


class TestInfo:
    def test_reranker(self) -> None:
        out = encode(translate.info_response(model_info(model_pb2.MODEL_KIND_RERANKER, ("s",))))
        assert out["model_id"] == "m"
        assert out["kind"] == "reranker"
        assert out["model_type"] == {"reranker": {"id2label": {"0": "s"}, "label2id": {"s": 0}}}
        assert out["tasks"] == ["classify", "rerank"]
        assert out["max_client_batch_size"] == 2048
        assert out["max_input_length"] == 512
        assert out["pooling"] is None
        assert out["embedding_dimensions"] is None
        assert out["version"] == "0.1.0"

    def test_embedding(self) -> None:
        info = model_info(model_pb2.MODEL_KIND_EMBEDDING)
        info.pooling, info.embedding_dimensions = "mean", 384
        out = encode(translate.info_response(info))
        assert out["model_type"] == {"embedding": {"pooling": "mean"}}
        assert out["embedding_dimensions"] == 384

    @pytest.mark.parametrize(
        ("kind", "key"),
        [
            (model_pb2.MODEL_KIND_CLASSIFIER, "classifier"),
            (model_pb2.MODEL_KIND_TOKEN_CLASSIFIER, "token_classifier"),
            (model_pb2.MODEL_KIND_SPARSE_EMBEDDING, "embedding"),
            (model_pb2.MODEL_KIND_LLM_RERANKER, "reranker"),
        ],
    )
    def test_model_type_per_kind(self, kind: int, key: str) -> None:
        assert list(translate.info_response(model_info(kind, ("a", "b")))["model_type"]) == [key]

    def test_models_list(self) -> None:
        out = encode(translate.models_response(model_info(model_pb2.MODEL_KIND_RERANKER), 123))
        assert out == {
            "object": "list",
            "data": [{"id": "m", "object": "model", "created": 123, "owned_by": "ember"}],
        }


# ---------------------------------------------------------------- deadlines


class TestGrpcTimeout:
    def test_no_limit_at_all(self) -> None:
        assert translate.grpc_timeout(None, None, 0, now_s=1000.0) is None

    def test_server_default(self) -> None:
        assert translate.grpc_timeout(None, None, 30.0, now_s=1000.0) == 30.0

    def test_shorter_timeout_header_wins(self) -> None:
        assert translate.grpc_timeout("1500", None, 30.0, now_s=1000.0) == 1.5

    def test_longer_header_does_not_extend_the_server_limit(self) -> None:
        assert translate.grpc_timeout("600000", None, 30.0, now_s=1000.0) == 30.0

    def test_deadline_is_epoch_milliseconds(self) -> None:
        assert translate.grpc_timeout(None, "1002000", 0, now_s=1000.0) == pytest.approx(2.0)

    def test_tightest_of_both(self) -> None:
        assert translate.grpc_timeout("5000", "1002000", 30, now_s=1000.0) == pytest.approx(2.0)

    def test_past_deadline_is_504(self) -> None:
        with pytest.raises(errors.ApiError) as info:
            translate.grpc_timeout(None, "999000", 30.0, now_s=1000.0)
        assert info.value.kind.status == 504

    @pytest.mark.parametrize("value", ["soon", "", "nan", "inf"])
    def test_unreadable_header_is_400(self, value: str) -> None:
        with pytest.raises(errors.ApiError) as info:
            translate.grpc_timeout(value, None, 30.0, now_s=1000.0)
        assert info.value.kind.status == 400
