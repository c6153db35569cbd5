"""The clients people already use, unchanged, against real servers: huggingface_hub's
``InferenceClient`` (TEI's ``POST /``), the ``cohere`` SDK's ``ClientV2.rerank``
(``/v2/rerank``), the OpenAI SDK's ``extra_body`` truncation, SageMaker's ``/invocations`` and
Vertex AI's ``/vertex``; every answer is checked against the same server's direct gRPC answer.
Bad input on these routes answers 422 naming the field."""

from __future__ import annotations

import cohere
import numpy as np
import pytest
from huggingface_hub import InferenceClient
from openai import OpenAI, UnprocessableEntityError

from ember.v1 import classify_pb2, embed_pb2, rerank_pb2, token_classification_pb2
from tests.gateway.support import Served

ATOL = 1e-4
LONG_TEXT = "ember " * 600  # well over MiniLM's 256 tokens


def grpc_embed(server: Served, texts: list[str], **options: object) -> np.ndarray:
    request = embed_pb2.EmbedRequest(
        inputs=[embed_pb2.EmbedInput(text=t) for t in texts],
        format=embed_pb2.EMBEDDING_FORMAT_FLOAT32_LE,
        **options,
    )
    response = server.grpc.embed.Embed(request, timeout=60)
    return np.stack([np.frombuffer(e.float32_le, "<f4") for e in response.embeddings])


def left(truncate: bool = True) -> dict[str, object]:
    return {"truncation": {"truncate": truncate, "direction": "TRUNCATION_DIRECTION_LEFT"}}


# ---------------------------------------------------------------- huggingface_hub


class TestInferenceClient:
    def client(self, server: Served) -> InferenceClient:
        return InferenceClient(model=server.url, timeout=60)

    def test_feature_extraction(self, minilm: Served) -> None:
        texts = ["hello world", "the cat sat on the mat"]
        got = self.client(minilm).feature_extraction(texts)
        np.testing.assert_allclose(got, grpc_embed(minilm, texts), atol=ATOL)

    def test_feature_extraction_truncates_as_asked(self, minilm: Served) -> None:
        long_text = "first " + "word " * 300 + "last"
        client = self.client(minilm)
        got = client.feature_extraction(long_text, truncate=True, truncation_direction="left")
        np.testing.assert_allclose(got, grpc_embed(minilm, [long_text], **left()), atol=ATOL)
        default = client.feature_extraction(long_text)  # auto-truncate: right
        assert not np.allclose(got, default, atol=1e-3)

    def test_sentence_similarity(self, minilm: Served) -> None:
        others = ["A cat sits on a mat.", "Paris is in France."]
        got = self.client(minilm).sentence_similarity("The cat sat on the mat.", others)
        vectors = grpc_embed(minilm, [*others, "The cat sat on the mat."])
        np.testing.assert_allclose(got, vectors[:2] @ vectors[2], atol=ATOL)
        assert got[0] > got[1]

    def test_text_classification(self, classifier: Served) -> None:
        got = self.client(classifier).text_classification("I like you.")
        want = classifier.grpc.classify.Classify(
            classify_pb2.ClassifyRequest(
                inputs=[classify_pb2.ClassifyInput(texts=["I like you."])]
            ),
            timeout=60,
        ).results[0]
        assert [e.label for e in got] == [ls.label for ls in want.labels]
        np.testing.assert_allclose(
            [e.score for e in got], [ls.score for ls in want.labels], atol=ATOL
        )

    def test_text_classification_top_k_and_function(self, classifier: Served) -> None:
        got = self.client(classifier).text_classification(
            "I like you.", top_k=2, function_to_apply="none"
        )
        raw = classifier.grpc.classify.Classify(
            classify_pb2.ClassifyRequest(
                inputs=[classify_pb2.ClassifyInput(texts=["I like you."])], raw_scores=True
            ),
            timeout=60,
        ).results[0]
        assert len(got) == 2
        assert [e.label for e in got] == [ls.label for ls in raw.labels][:2]
        np.testing.assert_allclose(
            [e.score for e in got], [ls.score for ls in raw.labels][:2], atol=ATOL
        )

    def test_token_classification(self, ner: Served) -> None:
        text = "My name is Wolfgang and I live in Berlin"
        got = self.client(ner).token_classification(text)
        want = ner.grpc.tokens.PredictTokens(
            token_classification_pb2.PredictTokensRequest(
                inputs=[text],
                aggregation_strategy=token_classification_pb2.AGGREGATION_STRATEGY_SIMPLE,
            ),
            timeout=60,
        ).results[0]
        assert want.tokens, "the random model should find some entity"
        assert [(e.entity_group, e.word, e.start, e.end) for e in got] == [
            (t.results[0].label, t.token, t.start, t.end) for t in want.tokens
        ]
        for element, token in zip(got, want.tokens, strict=True):
            assert element.score == pytest.approx(token.results[0].score, abs=ATOL)
            assert text[element.start : element.end].lower() == element.word.lower()


# ---------------------------------------------------------------- TEI task routes


class TestTaskRoutes:
    def test_invocations_is_the_root_route(self, minilm: Served) -> None:
        for path in ("/", "/invocations"):
            response = minilm.http.post(path, json={"inputs": ["hello world"]})
            assert response.status_code == 200, response.text
            np.testing.assert_allclose(
                response.json(), grpc_embed(minilm, ["hello world"]), atol=ATOL
            )

    def test_root_reranks_on_a_reranker(self, reranker: Served) -> None:
        body = {"query": "capital of France", "texts": ["Paris", "Berlin", "Rome"]}
        got = reranker.http.post("/", json=body).json()
        assert got == reranker.http.post("/rerank", json=body).json()
        # Without a query, a reranker classifies (TEI's /predict).
        predict = reranker.http.post("/", json={"inputs": "Paris"})
        assert predict.json() == reranker.http.post("/predict", json={"inputs": "Paris"}).json()

    def test_root_predicts_tokens_in_bei_shape_without_parameters(self, ner: Served) -> None:
        body = {"inputs": ["Wolfgang lives in Berlin"], "aggregation_strategy": "max"}
        got = ner.http.post("/", json=body)
        assert got.json() == ner.http.post("/predict_tokens", json=body).json()

    def test_vertex_batches_instances(self, minilm: Served) -> None:
        response = minilm.http.post(
            "/vertex",
            json={
                "instances": [
                    {"inputs": "hello world"},
                    {"inputs": {"source_sentence": "a cat", "sentences": ["a cat", "a dog"]}},
                ]
            },
        )
        assert response.status_code == 200, response.text
        embed, similarity = response.json()["predictions"]
        np.testing.assert_allclose(embed, grpc_embed(minilm, ["hello world"]), atol=ATOL)
        assert similarity[0] == pytest.approx(1.0, abs=1e-5)
        assert similarity[1] < 0.99

    @pytest.mark.parametrize(
        ("path", "body", "field", "words"),
        [
            ("/", {"inputs": []}, "inputs", "the list is empty"),
            ("/", [1, 2], None, "must be a JSON object"),
            ("/", {"inputs": {"source_sentence": "a"}}, "inputs", "sentences"),
            (
                "/invocations",
                {"inputs": "x", "truncation_direction": "up"},
                "truncation_direction",
                "",
            ),
            ("/vertex", {"instances": []}, "instances", "the list is empty"),
            (
                "/vertex",
                {"instances": [{"inputs": "a"}, {"inputs": 3}]},
                "instances",
                "instances.1.inputs",
            ),
            ("/vertex", {"instances": [{"inputs": "a"}, 3]}, "instances", "instances.1"),
        ],
    )
    def test_bad_input_is_422_naming_the_field(
        self, minilm: Served, path: str, body: object, field: str | None, words: str
    ) -> None:
        response = minilm.http.post(path, json=body)
        assert response.status_code == 422, response.text
        message = response.json()["error"]
        if field:
            assert message.startswith(field), message
        assert words in message

    def test_bad_hf_parameters_are_422(self, classifier: Served, ner: Served) -> None:
        response = classifier.http.post("/", json={"inputs": "x", "parameters": {"top_k": 0}})
        assert response.status_code == 422
        assert response.json()["error"].startswith("parameters.top_k")
        response = ner.http.post(
            "/", json={"inputs": "x", "parameters": {"aggregation_strategy": "mean"}}
        )
        assert response.status_code == 422
        assert response.json()["error"].startswith("parameters.aggregation_strategy")

    def test_malformed_json_is_400(self, minilm: Served) -> None:
        response = minilm.http.post("/", content=b"{", headers={"content-type": "application/json"})
        assert response.status_code == 400
        assert "malformed JSON" in response.json()["error"]


# ---------------------------------------------------------------- cohere


class TestCohere:
    def test_client_v2_rerank(self, reranker: Served) -> None:
        docs = ["Paris is the capital of France.", "Berlin is in Germany.", "Bananas."]
        client = cohere.ClientV2(api_key="unused", base_url=reranker.url, timeout=60)
        got = client.rerank(model="any", query="capital of France", documents=docs, top_n=2)
        want = reranker.grpc.rerank.Rerank(
            rerank_pb2.RerankRequest(query="capital of France", texts=docs, top_n=2), timeout=60
        )
        assert [r.index for r in got.results] == [r.index for r in want.ranks]
        np.testing.assert_allclose(
            [r.relevance_score for r in got.results], [r.score for r in want.ranks], atol=ATOL
        )
        assert got.id

    def test_v2_truncates_by_default_and_refuses_when_asked(self, reranker: Served) -> None:
        body = {"model": "any", "query": "q", "documents": [LONG_TEXT]}
        assert reranker.http.post("/v2/rerank", json=body).status_code == 200
        refused = reranker.http.post("/v2/rerank", json={**body, "truncate": False})
        assert refused.status_code == 422
        client = cohere.ClientV2(api_key="unused", base_url=reranker.url, timeout=60)
        with pytest.raises(cohere.UnprocessableEntityError):
            client.rerank(model="any", query="q", documents=[])

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"documents": ["a"]}, "query"),
            ({"query": "q", "documents": ["a", 3]}, "documents"),
            ({"query": "q", "documents": ["a"], "top_n": 0}, "top_n"),
            (
                {"query": "q", "documents": ["a"], "truncation_direction": "up"},
                "truncation_direction",
            ),
        ],
    )
    def test_v2_bad_input_is_422_naming_the_field(
        self, reranker: Served, body: dict[str, object], field: str
    ) -> None:
        response = reranker.http.post("/v2/rerank", json=body)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["param"] == field

    def test_v1_rerank_kept(self, reranker: Served) -> None:
        response = reranker.http.post(
            "/v1/rerank", json={"query": "q", "documents": ["a", "b"], "truncate": True}
        )
        assert response.status_code == 200
        assert len(response.json()["results"]) == 2


# ---------------------------------------------------------------- truncation


class TestTruncation:
    def test_openai_extra_body(self, minilm: Served) -> None:
        client = OpenAI(base_url=f"{minilm.url}/v1", api_key="unused", max_retries=0)
        long_text = "first " + "word " * 300 + "last"
        got = client.embeddings.create(
            model="any",
            input=[long_text],
            encoding_format="float",
            extra_body={"truncate": True, "truncation_direction": "Left"},
        )
        np.testing.assert_allclose(
            got.data[0].embedding, grpc_embed(minilm, [long_text], **left())[0], atol=ATOL
        )
        with pytest.raises(UnprocessableEntityError, match="maximum input length"):
            client.embeddings.create(model="any", input=long_text, extra_body={"truncate": False})

    def test_auto_truncate_is_the_default(self, minilm: Served) -> None:
        # LlamaIndex's default chunks are longer than small models take, and it does not ask.
        response = minilm.http.post("/v1/embeddings", json={"input": [LONG_TEXT]})
        assert response.status_code == 200, response.text
        assert response.json()["usage"]["prompt_tokens"] == 256

    def test_empty_input_list_says_so(self, minilm: Served) -> None:
        response = minilm.http.post("/v1/embeddings", json={"input": []})
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["param"] == "input"
        assert "the list is empty" in error["message"]
