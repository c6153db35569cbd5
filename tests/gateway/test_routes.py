"""Every REST route, over raw HTTP (httpx), against real ``ember serve`` processes; answers are
compared with the same server's direct gRPC answers."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
import numpy as np
import pytest

from ember.v1 import (
    classify_pb2,
    common_pb2,
    embed_pb2,
    model_pb2,
    rerank_pb2,
    token_classification_pb2,
)
from tests.gateway.support import BIO_LABELS, CLASS_LABELS, Served

TEXTS = ["The cat sat on the mat.", "Ember serves encoder models.", "Zoë visited Kraków 🚀"]
ATOL = 1e-5  # answers of two separate requests may be batched differently


def grpc_vectors(server: Served, texts: list[str], **options: Any) -> np.ndarray:
    request = embed_pb2.EmbedRequest(
        inputs=[embed_pb2.EmbedInput(text=t) for t in texts],
        format=embed_pb2.EMBEDDING_FORMAT_FLOAT,
        **options,
    )
    response = server.grpc.embed.Embed(request, timeout=60)
    return np.array([list(e.values) for e in response.embeddings], dtype=np.float32)


def ok(response: Any) -> Any:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


# ---------------------------------------------------------------- OpenAI


class TestOpenAIEmbeddings:
    @pytest.mark.parametrize("path", ["/v1/embeddings", "/embeddings"])
    def test_float(self, minilm: Served, path: str) -> None:
        body = ok(minilm.http.post(path, json={"input": TEXTS, "model": "whatever"}))
        assert body["object"] == "list"
        assert (
            body["model"]
            == minilm.grpc.model.GetModelInfo(model_pb2.GetModelInfoRequest()).model_id
        )
        assert [d["index"] for d in body["data"]] == [0, 1, 2]
        assert {d["object"] for d in body["data"]} == {"embedding"}
        got = np.array([d["embedding"] for d in body["data"]], dtype=np.float32)
        assert got.shape == (3, 384)
        np.testing.assert_allclose(got, grpc_vectors(minilm, TEXTS), atol=ATOL)
        assert body["usage"]["prompt_tokens"] > 3 * 3
        assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"]

    def test_base64_is_the_float32_bytes_of_the_float_answer(self, minilm: Served) -> None:
        request = {"input": TEXTS, "encoding_format": "base64"}
        encoded = ok(minilm.http.post("/v1/embeddings", json=request))["data"]
        decoded = np.stack(
            [np.frombuffer(base64.b64decode(d["embedding"]), "<f4") for d in encoded]
        )
        np.testing.assert_allclose(decoded, grpc_vectors(minilm, TEXTS), atol=ATOL)

    def test_single_string_and_dimensions(self, minilm: Served) -> None:
        body = ok(minilm.http.post("/v1/embeddings", json={"input": TEXTS[0], "dimensions": 64}))
        vector = np.array(body["data"][0]["embedding"], dtype=np.float32)
        assert vector.shape == (64,)
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
        expected = grpc_vectors(minilm, TEXTS[:1], dimensions=64)[0]
        np.testing.assert_allclose(vector, expected, atol=ATOL)

    def test_token_ids(self, minilm: Served) -> None:
        tokens = minilm.grpc.model.Tokenize(model_pb2.TokenizeRequest(inputs=TEXTS[:2]))
        ids = [[t.id for t in r.tokens] for r in tokens.results]
        as_ids = ok(minilm.http.post("/v1/embeddings", json={"input": ids}))
        as_text = ok(minilm.http.post("/v1/embeddings", json={"input": TEXTS[:2]}))
        np.testing.assert_allclose(
            [d["embedding"] for d in as_ids["data"]],
            [d["embedding"] for d in as_text["data"]],
            atol=ATOL,
        )
        one = ok(minilm.http.post("/v1/embeddings", json={"input": ids[0]}))
        assert len(one["data"]) == 1

    def test_models(self, minilm: Served) -> None:
        body = ok(minilm.http.get("/v1/models"))
        assert body["object"] == "list"
        (model,) = body["data"]
        assert model["object"] == "model"
        assert (
            model["id"] == minilm.http.post("/v1/embeddings", json={"input": "x"}).json()["model"]
        )
        assert isinstance(model["created"], int)


# ---------------------------------------------------------------- TEI embed / tokenize / info


class TestTEIEmbed:
    def test_embed(self, minilm: Served) -> None:
        body = ok(minilm.http.post("/embed", json={"inputs": TEXTS}))
        np.testing.assert_allclose(body, grpc_vectors(minilm, TEXTS), atol=ATOL)

    def test_single_input_and_options(self, minilm: Served) -> None:
        body = ok(
            minilm.http.post(
                "/embed", json={"inputs": TEXTS[1], "normalize": False, "dimensions": 32}
            )
        )
        assert len(body) == 1
        assert len(body[0]) == 32
        expected = grpc_vectors(minilm, TEXTS[1:2], normalize=False, dimensions=32)
        np.testing.assert_allclose(body, expected, atol=ATOL)
        assert abs(np.linalg.norm(body[0]) - 1.0) > 1e-3  # really not normalized

    @pytest.mark.parametrize("direction", ["Left", "left", "LEFT", "Right", "right"])
    def test_truncation_direction_any_case(self, minilm: Served, direction: str) -> None:
        long_text = " ".join(f"word{i}" for i in range(400))
        request = {
            "inputs": [long_text],
            "truncate": True,
            "truncation_direction": direction,
        }
        body = ok(minilm.http.post("/embed", json=request))
        side = (
            common_pb2.TRUNCATION_DIRECTION_LEFT
            if direction.lower() == "left"
            else common_pb2.TRUNCATION_DIRECTION_RIGHT
        )
        expected = grpc_vectors(
            minilm, [long_text], truncation=common_pb2.Truncation(truncate=True, direction=side)
        )
        np.testing.assert_allclose(body, expected, atol=ATOL)

    def test_left_and_right_truncation_differ(self, minilm: Served) -> None:
        long_text = " ".join(f"word{i}" for i in range(400))
        answers = [
            ok(
                minilm.http.post(
                    "/embed",
                    json={"inputs": long_text, "truncate": True, "truncation_direction": side},
                )
            )[0]
            for side in ("left", "right")
        ]
        assert not np.allclose(answers[0], answers[1], atol=1e-3)

    def test_long_input_without_truncate_is_a_clear_422(self, minilm: Served) -> None:
        long_text = " ".join(f"word{i}" for i in range(400))
        response = minilm.http.post("/embed", json={"inputs": long_text, "truncate": False})
        assert response.status_code == 422
        assert response.json()["error_type"] == "Validation"
        assert response.json()["error"]

    def test_tokenize(self, minilm: Served) -> None:
        body = ok(minilm.http.post("/tokenize", json={"inputs": ["hello world", "Zoë"]}))
        expected = minilm.grpc.model.Tokenize(
            model_pb2.TokenizeRequest(inputs=["hello world", "Zoë"])
        )
        assert [[t["id"] for t in r] for r in body] == [
            [t.id for t in r.tokens] for r in expected.results
        ]
        first = body[0]
        assert first[0] == {
            "id": 101,
            "text": "[CLS]",
            "special": True,
            "start": None,
            "stop": None,
        }
        assert first[1] == {"id": 7592, "text": "hello", "special": False, "start": 0, "stop": 5}
        bare = ok(
            minilm.http.post("/tokenize", json={"inputs": "hello", "add_special_tokens": False})
        )
        assert [t["id"] for t in bare[0]] == [7592]

    def test_similarity_is_the_cosine_of_the_embeddings(self, minilm: Served) -> None:
        source, sentences = "A cat sits on a mat.", [TEXTS[0], TEXTS[1], TEXTS[2]]
        body = ok(
            minilm.http.post(
                "/similarity",
                json={"inputs": {"source_sentence": source, "sentences": sentences}},
            )
        )
        vectors = grpc_vectors(minilm, [source, *sentences])
        expected = vectors[1:] @ vectors[0]
        np.testing.assert_allclose(body, expected, atol=ATOL)
        assert int(np.argmax(body)) == 0  # the paraphrase, not the unrelated sentences
        direct = minilm.grpc.embed.Similarity(
            embed_pb2.SimilarityRequest(source_sentence=source, sentences=sentences)
        )
        np.testing.assert_allclose(list(direct.scores), expected, atol=ATOL)
        assert direct.usage.prompt_tokens == sum(
            len(r.tokens)
            for r in minilm.grpc.model.Tokenize(
                model_pb2.TokenizeRequest(inputs=[source, *sentences])
            ).results
        )

    def test_similarity_parameters_apply(self, minilm: Served) -> None:
        long_text = " ".join(f"word{i}" for i in range(400))
        inputs = {"source_sentence": "word1 word2", "sentences": [long_text]}
        too_long = minilm.http.post(
            "/similarity", json={"inputs": inputs, "parameters": {"truncate": False}}
        )
        assert too_long.status_code == 422
        assert "input 0" in too_long.json()["error"]
        sides = [
            ok(
                minilm.http.post(
                    "/similarity",
                    json={
                        "inputs": inputs,
                        "parameters": {"truncate": True, "truncation_direction": side},
                    },
                )
            )[0]
            for side in ("Left", "Right")
        ]
        assert sides[0] != pytest.approx(sides[1], abs=1e-4)

    def test_decode(self, minilm: Served) -> None:
        ids = [101, 7592, 2088, 102]
        assert ok(minilm.http.post("/decode", json={"ids": ids})) == ["hello world"]
        both = ok(
            minilm.http.post("/decode", json={"ids": [ids, [7592]], "skip_special_tokens": False})
        )
        assert both == ["[CLS] hello world [SEP]", "hello"]
        direct = minilm.grpc.model.Decode(
            model_pb2.DecodeRequest(
                inputs=[embed_pb2.TokenIds(ids=ids), embed_pb2.TokenIds(ids=[7592])],
                skip_special_tokens=False,
            )
        )
        assert list(direct.texts) == both

    def test_info(self, minilm: Served) -> None:
        info = ok(minilm.http.get("/info"))
        assert info["kind"] == "embedding"
        assert info["model_type"] == {"embedding": {"pooling": "mean"}}
        assert info["tasks"] == ["embed"]
        assert info["embedding_dimensions"] == 384
        assert info["max_input_length"] == 256
        assert info["max_client_batch_size"] >= 1024  # what the performance client sends
        assert info["dtype"]
        assert info["device"] == "cpu"
        assert info["version"]

    def test_health(self, minilm: Served) -> None:
        assert ok(minilm.http.get("/health")) == {"status": "serving"}

    def test_metrics(self, minilm: Served) -> None:
        ok(minilm.http.post("/embed", json={"inputs": "count me"}))
        minilm.http.post("/embed", json={"inputs": []})
        response = minilm.http.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        text = response.text
        assert 'ember_http_requests_total{method="POST",route="/embed",status="200"}' in text
        assert 'ember_http_requests_total{method="POST",route="/embed",status="422"}' in text
        assert 'ember_http_request_duration_seconds_bucket{le="0.1",route="/embed"}' in text
        # The service's own metrics are in the same registry (one process).
        assert "ember_grpc_requests_total" in text


class TestHeaders:
    def test_request_id_is_echoed_and_generated(self, minilm: Served) -> None:
        given = minilm.http.post(
            "/embed", json={"inputs": "x"}, headers={"x-request-id": "my-id-1"}
        )
        assert given.headers["x-request-id"] == "my-id-1"
        baseten = minilm.http.post(
            "/embed", json={"inputs": "x"}, headers={"x-baseten-customer-request-id": "bt-7"}
        )
        assert baseten.headers["x-baseten-customer-request-id"] == "bt-7"
        assert baseten.headers["x-request-id"] == "bt-7"
        generated = minilm.http.post("/embed", json={"inputs": "x"})
        assert len(generated.headers["x-request-id"]) == 32
        failed = minilm.http.post("/embed", json={"inputs": []}, headers={"x-request-id": "e-1"})
        assert failed.headers["x-request-id"] == "e-1"

    def test_past_deadline_is_504_in_the_route_shape(self, minilm: Served) -> None:
        past = str(int((time.time() - 10) * 1000))
        response = minilm.http.post(
            "/v1/embeddings", json={"input": "x"}, headers={"Request-Deadline-Ms": past}
        )
        assert response.status_code == 504
        assert response.json()["error"]["code"] == "deadline_exceeded"

    def test_timeout_header_is_the_grpc_deadline(self, minilm: Served) -> None:
        texts = [" ".join(f"w{i}x{j}" for j in range(200)) for i in range(64)]
        response = minilm.http.post(
            "/embed", json={"inputs": texts}, headers={"Request-Timeout-Ms": "1"}
        )
        assert response.status_code == 504, response.text
        assert response.json()["error_type"] == "Timeout"
        # A generous one changes nothing.
        response = minilm.http.post(
            "/embed", json={"inputs": "x"}, headers={"Request-Timeout-Ms": "60000"}
        )
        assert response.status_code == 200

    def test_caller_gone_cancels_the_upstream_call(self, minilm: Served) -> None:
        # A hedging client gives up on a slow request: the gateway cancels its gRPC call (so
        # the service can drop the work), counts the request as 499, and serves the next.
        texts = [" ".join(f"gone{i}x{j}" for j in range(300)) for i in range(64)]
        with pytest.raises(httpx.ReadTimeout):
            minilm.http.post(
                "/embed",
                json={"inputs": texts, "truncate": True},
                timeout=httpx.Timeout(60, read=0.3),
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            metrics = minilm.http.get("/metrics").text
            if 'route="/embed",status="499"' in metrics:
                break
            time.sleep(0.2)
        assert 'route="/embed",status="499"' in metrics
        assert ok(minilm.http.post("/embed", json={"inputs": "next"}))

    def test_unreadable_timeout_header_is_400(self, minilm: Served) -> None:
        response = minilm.http.post(
            "/embed", json={"inputs": "x"}, headers={"Request-Timeout-Ms": "soon"}
        )
        assert response.status_code == 400
        assert "Request-Timeout-Ms" in response.json()["error"]


# ---------------------------------------------------------------- rerank


def grpc_ranks(server: Served, query: str, texts: list[str], **options: Any) -> list[Any]:
    request = rerank_pb2.RerankRequest(query=query, texts=texts, **options)
    return list(server.grpc.rerank.Rerank(request, timeout=60).ranks)


DOCS = ["Paris is the capital of France.", "Bananas are yellow.", "France borders Spain.", "x"]


class TestRerank:
    def test_tei_rerank(self, reranker: Served) -> None:
        body = ok(reranker.http.post("/rerank", json={"query": "France", "texts": DOCS}))
        expected = grpc_ranks(reranker, "France", DOCS)
        assert [r["index"] for r in body] == [r.index for r in expected]
        np.testing.assert_allclose([r["score"] for r in body], [r.score for r in expected], 1e-5)
        scores = [r["score"] for r in body]
        assert scores == sorted(scores, reverse=True)
        assert all(0.0 < s < 1.0 for s in scores)  # sigmoid
        assert all("text" not in r for r in body)

    def test_tei_rerank_options(self, reranker: Served) -> None:
        # The performance client's body, plus raw scores and texts.
        request = {
            "query": "France",
            "texts": DOCS,
            "raw_scores": True,
            "return_text": True,
            "truncate": True,
            "truncation_direction": "right",
            "model": "anything",
        }
        body = ok(reranker.http.post("/rerank", json=request))
        expected = grpc_ranks(reranker, "France", DOCS, raw_scores=True)
        np.testing.assert_allclose([r["score"] for r in body], [r.score for r in expected], 1e-5)
        assert [r["text"] for r in body] == [DOCS[r["index"]] for r in body]

    def test_cohere_rerank(self, reranker: Served) -> None:
        request = {
            "query": "France",
            "documents": [DOCS[0], {"text": DOCS[1]}, DOCS[2], {"text": DOCS[3]}],
            "top_n": 2,
            "return_documents": True,
            "model": "rerank-english-v3.0",
        }
        body = ok(reranker.http.post("/v1/rerank", json=request))
        expected = grpc_ranks(reranker, "France", DOCS)[:2]
        assert [r["index"] for r in body["results"]] == [r.index for r in expected]
        np.testing.assert_allclose(
            [r["relevance_score"] for r in body["results"]], [r.score for r in expected], 1e-5
        )
        assert [r["document"] for r in body["results"]] == [
            {"text": DOCS[r.index]} for r in expected
        ]
        assert body["usage"]["total_tokens"] > 0
        assert body["model"]
        assert body["id"]

    def test_cohere_rerank_without_documents(self, reranker: Served) -> None:
        body = ok(reranker.http.post("/v1/rerank", json={"query": "q", "documents": DOCS}))
        assert len(body["results"]) == len(DOCS)
        assert all("document" not in r for r in body["results"])

    def test_predict_on_a_reranker_is_a_sigmoid(self, reranker: Served) -> None:
        body = ok(reranker.http.post("/predict", json={"inputs": ["France", DOCS[0]]}))
        assert len(body) == 1
        assert 0.0 < body[0]["score"] < 1.0


# ---------------------------------------------------------------- classify


def grpc_classes(server: Served, inputs: list[list[str]], raw: bool = False) -> list[Any]:
    request = classify_pb2.ClassifyRequest(
        inputs=[classify_pb2.ClassifyInput(texts=t) for t in inputs], raw_scores=raw
    )
    return [
        [{"label": ls.label, "score": ls.score} for ls in r.labels]
        for r in server.grpc.classify.Classify(request, timeout=60).results
    ]


def assert_same_labels(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert [g["label"] for g in got] == [e["label"] for e in expected]
    np.testing.assert_allclose([g["score"] for g in got], [e["score"] for e in expected], 1e-5)


class TestPredict:
    def test_one_text(self, classifier: Served) -> None:
        body = ok(classifier.http.post("/predict", json={"inputs": TEXTS[0]}))
        assert_same_labels(body, grpc_classes(classifier, [[TEXTS[0]]])[0])
        assert {item["label"] for item in body} == set(CLASS_LABELS)
        assert sum(item["score"] for item in body) == pytest.approx(1.0, abs=1e-5)  # softmax
        scores = [item["score"] for item in body]
        assert scores == sorted(scores, reverse=True)

    def test_one_pair(self, classifier: Served) -> None:
        body = ok(classifier.http.post("/predict", json={"inputs": TEXTS[:2]}))
        assert_same_labels(body, grpc_classes(classifier, [TEXTS[:2]])[0])

    def test_batch(self, classifier: Served) -> None:
        # The performance client's classify body, plus a pair.
        inputs = [[TEXTS[0]], [TEXTS[1]], TEXTS[:2]]
        request = {
            "inputs": inputs,
            "raw_scores": False,
            "truncate": False,
            "truncation_direction": "Right",
        }
        body = ok(classifier.http.post("/predict", json=request))
        for got, expected in zip(body, grpc_classes(classifier, inputs), strict=True):
            assert_same_labels(got, expected)

    def test_batch_of_two_texts_is_two_inputs(self, classifier: Served) -> None:
        body = ok(classifier.http.post("/predict", json={"inputs": [[TEXTS[0]], [TEXTS[1]]]}))
        assert len(body) == 2
        assert all(isinstance(item, list) for item in body)

    def test_raw_scores(self, classifier: Served) -> None:
        body = ok(classifier.http.post("/predict", json={"inputs": TEXTS[0], "raw_scores": True}))
        assert_same_labels(body, grpc_classes(classifier, [[TEXTS[0]]], raw=True)[0])

    def test_three_element_pair_is_a_clear_422(self, classifier: Served) -> None:
        response = classifier.http.post("/predict", json={"inputs": TEXTS})
        assert response.status_code == 422
        assert "ONE text pair" in response.json()["error"]
        assert ok(classifier.http.post("/predict", json={"inputs": TEXTS[0]}))  # still serving

    def test_info_lists_the_labels(self, classifier: Served) -> None:
        info = ok(classifier.http.get("/info"))
        assert info["kind"] == "classifier"
        assert info["labels"] == list(CLASS_LABELS)
        assert info["model_type"]["classifier"]["id2label"] == {
            str(i): label for i, label in enumerate(CLASS_LABELS)
        }


# ---------------------------------------------------------------- token classification


def grpc_tokens(server: Served, texts: list[str], **options: Any) -> list[Any]:
    request = token_classification_pb2.PredictTokensRequest(inputs=texts, **options)
    return [
        [
            {
                "token": t.token,
                "token_id": t.token_id,
                "start": t.start,
                "end": t.end,
                "results": {ls.label: ls.score for ls in t.results},
            }
            for t in r.tokens
        ]
        for r in server.grpc.tokens.PredictTokens(request, timeout=60).results
    ]


def assert_same_tokens(got: list[Any], expected: list[Any]) -> None:
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert {k: g[k] for k in ("token", "token_id", "start", "end")} == {
            k: e[k] for k in ("token", "token_id", "start", "end")
        }
        assert list(g["results"]) == list(e["results"])
        np.testing.assert_allclose(list(g["results"].values()), list(e["results"].values()), 1e-5)


NER_TEXTS = ["Angela Merkel met Emmanuel Macron in Paris.", "Zoë works at Apple in Kraków."]


class TestPredictTokens:
    def test_nested_inputs_mirror_the_nesting(self, ner: Served) -> None:
        request = {"inputs": [NER_TEXTS, [NER_TEXTS[0]]], "raw_scores": False, "truncate": False}
        body = ok(ner.http.post("/predict_tokens", json=request))
        expected = grpc_tokens(ner, NER_TEXTS)
        assert len(body) == 2
        assert len(body[0]) == 2
        assert len(body[1]) == 1
        assert_same_tokens(body[0][0], expected[0])
        assert_same_tokens(body[0][1], expected[1])
        assert_same_tokens(body[1][0], expected[0])
        token = body[0][0][0]
        assert NER_TEXTS[0][token["start"] : token["end"]].lower() == token["token"].lower()
        assert len(token["results"]) == 1  # best label only
        assert set(token["results"]) <= set(BIO_LABELS)

    def test_flat_inputs(self, ner: Served) -> None:
        body = ok(ner.http.post("/predict_tokens", json={"inputs": NER_TEXTS}))
        for got, expected in zip(body, grpc_tokens(ner, NER_TEXTS), strict=True):
            assert_same_tokens(got, expected)

    def test_raw_scores_carry_every_label(self, ner: Served) -> None:
        request = {"inputs": [[NER_TEXTS[1]]], "raw_scores": True, "aggregation_strategy": "none"}
        body = ok(ner.http.post("/predict_tokens", json=request))
        expected = grpc_tokens(ner, NER_TEXTS[1:], raw_scores=True)
        assert_same_tokens(body[0][0], expected[0])
        assert all(set(t["results"]) == set(BIO_LABELS) for t in body[0][0])

    @pytest.mark.parametrize("strategy", ["simple", "first", "average", "max"])
    def test_aggregation_strategies(self, ner: Served, strategy: str) -> None:
        request = {"inputs": [NER_TEXTS], "aggregation_strategy": strategy}
        body = ok(ner.http.post("/predict_tokens", json=request))
        enum = token_classification_pb2.AggregationStrategy.Value(
            f"AGGREGATION_STRATEGY_{strategy.upper()}"
        )
        expected = grpc_tokens(ner, NER_TEXTS, aggregation_strategy=enum)
        for got, want in zip(body[0], expected, strict=True):
            assert_same_tokens(got, want)
            assert all(t["token_id"] == 0 for t in got)  # spans carry no token id


# ---------------------------------------------------------------- sparse


class TestEmbedSparse:
    def test_embed_sparse(self, splade: Served) -> None:
        body = ok(splade.http.post("/embed_sparse", json={"inputs": TEXTS}))
        request = embed_pb2.EmbedSparseRequest(inputs=[embed_pb2.EmbedInput(text=t) for t in TEXTS])
        expected = splade.grpc.embed.EmbedSparse(request, timeout=60).embeddings
        assert len(body) == len(TEXTS)
        for got, want in zip(body, expected, strict=True):
            assert [e["index"] for e in got] == list(want.indices)
            np.testing.assert_allclose([e["value"] for e in got], list(want.values), 1e-5)
            assert [e["index"] for e in got] == sorted(e["index"] for e in got)
        assert any(len(v) > 0 for v in body)

    def test_single_input(self, splade: Served) -> None:
        body = ok(splade.http.post("/embed_sparse", json={"inputs": TEXTS[0]}))
        assert len(body) == 1


# ---------------------------------------------------------------- a route the model cannot serve


@pytest.mark.parametrize(
    ("path", "body", "shape"),
    [
        ("/rerank", {"query": "q", "texts": ["a"]}, "tei"),
        ("/v1/rerank", {"query": "q", "documents": ["a"]}, "openai"),
        ("/predict", {"inputs": "a"}, "tei"),
        ("/predict_tokens", {"inputs": ["a"]}, "tei"),
        ("/embed_sparse", {"inputs": "a"}, "tei"),
    ],
)
def test_wrong_task_for_the_model_is_424(
    minilm: Served, path: str, body: dict[str, Any], shape: str
) -> None:
    response = minilm.http.post(path, json=body)
    assert response.status_code == 424, response.text
    error = response.json()
    if shape == "openai":
        assert error["error"]["code"] == "failed_precondition"
        assert error["error"]["message"]
    else:
        assert error["error_type"] == "Unsupported"
        assert error["error"]
    assert ok(minilm.http.post("/embed", json={"inputs": "next"}))  # still serving


def test_similarity_on_a_reranker_is_424(reranker: Served) -> None:
    response = reranker.http.post(
        "/similarity", json={"inputs": {"source_sentence": "q", "sentences": ["a"]}}
    )
    assert response.status_code == 424, response.text
    assert response.json()["error_type"] == "Unsupported"


def test_embed_on_a_reranker_is_424(reranker: Served) -> None:
    response = reranker.http.post("/v1/embeddings", json={"input": "a"})
    assert response.status_code == 424
    assert response.json()["error"]["type"] == "invalid_request_error"
