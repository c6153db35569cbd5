"""Real client libraries against real servers: the ``openai`` SDK and the
``baseten-performance-client`` (128 and 1024 inputs per request, concurrent batches); every
result is checked against the same server's direct gRPC answer."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import numpy as np
import pytest
from baseten_performance_client import PerformanceClient, RequestProcessingPreference
from openai import APIStatusError, AsyncOpenAI, OpenAI

from ember.v1 import classify_pb2, embed_pb2, rerank_pb2, token_classification_pb2
from tests.gateway.support import Served

WORDS = [
    *("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf"),
    *("hotel", "india", "juliet", "kilo", "lima", "mike"),
]
# Separate requests may be batched with different neighbours (padding): allow float noise.
ATOL = 1e-4


def texts(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [f"{i} " + " ".join(rng.choice(WORDS, size=int(rng.integers(1, 12)))) for i in range(n)]


def grpc_vectors(server: Served, inputs: list[str], dimensions: int | None = None) -> np.ndarray:
    rows: list[np.ndarray] = []
    for start in range(0, len(inputs), 512):
        request = embed_pb2.EmbedRequest(
            inputs=[embed_pb2.EmbedInput(text=t) for t in inputs[start : start + 512]],
            format=embed_pb2.EMBEDDING_FORMAT_FLOAT32_LE,
        )
        if dimensions is not None:
            request.dimensions = dimensions
        response = server.grpc.embed.Embed(request, timeout=120)
        rows.extend(np.frombuffer(e.float32_le, "<f4") for e in response.embeddings)
    return np.stack(rows)


def as_vector(embedding: list[float] | str) -> np.ndarray:
    """A float list, or base64 little-endian float32 bytes, as a vector."""
    if isinstance(embedding, str):
        return np.frombuffer(base64.b64decode(embedding), "<f4")
    return np.asarray(embedding, dtype=np.float32)


# ---------------------------------------------------------------- openai SDK


class TestOpenAISDK:
    def client(self, server: Served) -> OpenAI:
        return OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)

    def test_default_request_is_base64_and_decodes(self, minilm: Served) -> None:
        inputs = texts(40)
        response = self.client(minilm).embeddings.create(input=inputs, model="any-name")
        got = np.array([d.embedding for d in response.data], dtype=np.float32)
        np.testing.assert_allclose(got, grpc_vectors(minilm, inputs), atol=ATOL)
        assert [d.index for d in response.data] == list(range(40))
        assert response.model == minilm.http.get("/v1/models").json()["data"][0]["id"]
        assert response.usage.prompt_tokens > 40

    def test_float_format(self, minilm: Served) -> None:
        inputs = texts(5, seed=1)
        response = self.client(minilm).embeddings.create(
            input=inputs, model="m", encoding_format="float"
        )
        got = np.array([d.embedding for d in response.data], dtype=np.float32)
        np.testing.assert_allclose(got, grpc_vectors(minilm, inputs), atol=ATOL)

    @pytest.mark.parametrize("encoding_format", ["float", "base64"])
    def test_dimensions(self, minilm: Served, encoding_format: Any) -> None:
        inputs = texts(3, seed=2)
        response = self.client(minilm).embeddings.create(
            input=inputs, model="m", dimensions=128, encoding_format=encoding_format
        )
        got = np.stack([as_vector(d.embedding) for d in response.data])
        assert got.shape == (3, 128)
        np.testing.assert_allclose(got, grpc_vectors(minilm, inputs, dimensions=128), atol=ATOL)
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)

    def test_token_ids(self, minilm: Served) -> None:
        response = self.client(minilm).embeddings.create(input=[[101, 7592, 102]], model="m")
        assert len(response.data[0].embedding) == 384

    def test_models_list(self, minilm: Served) -> None:
        models = self.client(minilm).models.list()
        assert len(models.data) == 1
        assert models.data[0].object == "model"

    def test_errors_surface_as_sdk_errors(self, minilm: Served) -> None:
        with pytest.raises(APIStatusError) as info:
            self.client(minilm).embeddings.create(input=["x"], model="m", dimensions=10_000)
        assert info.value.status_code == 422
        assert "dimensions" in info.value.message

    def test_async_client_concurrently(self, minilm: Served) -> None:
        batches = [texts(16, seed=10 + i) for i in range(8)]

        async def run() -> list[Any]:
            client = AsyncOpenAI(base_url=f"{minilm.url}/v1", api_key="unused", max_retries=0)
            async with client:
                return list(
                    await asyncio.gather(
                        *(client.embeddings.create(input=b, model="m") for b in batches)
                    )
                )

        for batch, response in zip(batches, asyncio.run(run()), strict=True):
            got = np.array([d.embedding for d in response.data], dtype=np.float32)
            np.testing.assert_allclose(got, grpc_vectors(minilm, batch), atol=ATOL)


# ---------------------------------------------------------------- baseten-performance-client


def preference(batch_size: int, concurrency: int) -> RequestProcessingPreference:
    return RequestProcessingPreference(
        batch_size=batch_size,
        max_chars_per_request=1_000_000,
        max_concurrent_requests=concurrency,
        timeout_s=300,
        max_retries=0,
    )


class TestPerformanceClient:
    @pytest.mark.parametrize(("batch_size", "count"), [(128, 1024), (1024, 2048)])
    def test_embed_concurrent_batches(self, minilm: Served, batch_size: int, count: int) -> None:
        inputs = texts(count, seed=batch_size)
        client = PerformanceClient(base_url=minilm.url, api_key="unused")
        response = client.embed(inputs, model="m", preference=preference(batch_size, concurrency=8))
        # The client split the work into requests of batch_size inputs, sent concurrently.
        assert len(response.individual_request_times) == count // batch_size
        got = response.numpy()
        assert got.shape == (count, 384)
        np.testing.assert_allclose(got, grpc_vectors(minilm, inputs), atol=ATOL)
        echoed = [h.get("x-request-id") for h in response.response_headers]
        assert all(echoed)
        assert echoed == [h["x-baseten-customer-request-id"] for h in response.response_headers]

    def test_embed_base64_and_dimensions(self, minilm: Served) -> None:
        inputs = texts(128, seed=5)
        client = PerformanceClient(base_url=minilm.url, api_key="unused")
        response = client.embed(
            inputs,
            model="m",
            dimensions=64,
            encoding_format="base64",
            preference=preference(128, 2),
        )
        got = np.stack([np.frombuffer(base64.b64decode(d.embedding), "<f4") for d in response.data])
        np.testing.assert_allclose(got, grpc_vectors(minilm, inputs, dimensions=64), atol=ATOL)

    def test_rerank(self, reranker: Served) -> None:
        docs = texts(300, seed=6)
        client = PerformanceClient(base_url=reranker.url, api_key="unused")
        response = client.rerank(
            "alpha bravo", docs, return_text=True, preference=preference(128, 4)
        )
        expected = reranker.grpc.rerank.Rerank(
            rerank_pb2.RerankRequest(query="alpha bravo", texts=docs), timeout=120
        )
        want = {r.index: r.score for r in expected.ranks}
        got = {r.index: r.score for r in response.data}
        assert sorted(got) == list(range(300))
        np.testing.assert_allclose(
            [got[i] for i in range(300)], [want[i] for i in range(300)], atol=ATOL
        )
        assert all(r.text == docs[r.index] for r in response.data)

    def test_classify(self, classifier: Served) -> None:
        inputs = texts(256, seed=7)
        client = PerformanceClient(base_url=classifier.url, api_key="unused")
        response = client.classify(inputs, preference=preference(128, 4))
        request = classify_pb2.ClassifyRequest(
            inputs=[classify_pb2.ClassifyInput(texts=[t]) for t in inputs]
        )
        expected = classifier.grpc.classify.Classify(request, timeout=120).results
        assert len(response.data) == 256
        for got, want in zip(response.data, expected, strict=True):
            assert [r.label for r in got] == [ls.label for ls in want.labels]
            np.testing.assert_allclose(
                [r.score for r in got], [ls.score for ls in want.labels], atol=ATOL
            )

    def test_batch_post_predict_tokens(self, ner: Served) -> None:
        inputs = texts(12, seed=8)
        client = PerformanceClient(base_url=ner.url, api_key="unused")
        payloads = [
            {"inputs": [inputs[i : i + 4]], "aggregation_strategy": "max"} for i in range(0, 12, 4)
        ]
        response = client.batch_post("/predict_tokens", payloads, preference=preference(1, 3))
        request = token_classification_pb2.PredictTokensRequest(
            inputs=inputs,
            aggregation_strategy=token_classification_pb2.AGGREGATION_STRATEGY_MAX,
        )
        expected = ner.grpc.tokens.PredictTokens(request, timeout=60).results
        got = [text for body in response.data for text in body[0]]
        assert len(got) == 12
        for tokens, want in zip(got, expected, strict=True):
            assert [(t["token"], t["start"], t["end"]) for t in tokens] == [
                (t.token, t.start, t.end) for t in want.tokens
            ]
