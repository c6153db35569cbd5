"""Quantized vectors through a real server (the real MiniLM): REST ``encoding_format`` on
``/v1/embeddings`` and ``/embed``, and the gRPC client's ``embed_quantized``, against
sentence-transformers' ``quantize_embeddings`` applied to the same server's float vectors;
and the gRPC client's ``submit_job`` with a precision and ranges."""

from __future__ import annotations

from typing import Any

import grpc
import numpy as np
import pytest
from sentence_transformers.util.quantization import quantize_embeddings

from ember.clients import EmberClient, EmberRpcError
from ember.clients import requests as rq
from ember.v1 import embed_pb2, jobs_pb2
from tests.gateway.support import Served

TEXTS = [
    "The cat sat on the mat.",
    "Ember serves encoder models.",
    "Zoë visited Kraków 🚀",
    "Late interaction retrieval with multi-vectors",
    "binary vectors are 32 times smaller",
]


def floats(server: Served, texts: list[str], **options: Any) -> np.ndarray:
    response = server.grpc.embed.Embed(rq.embed_request(texts, **options), timeout=60)
    return rq.embeddings(response)


def post_ok(server: Served, path: str, body: dict[str, Any]) -> Any:
    response = server.http.post(path, json=body)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("fmt", ["int8", "uint8", "binary", "ubinary"])
def test_openai_and_tei_routes_equal_quantize_embeddings(minilm: Served, fmt: str) -> None:
    expected = quantize_embeddings(floats(minilm, TEXTS), fmt)
    body = post_ok(minilm, "/v1/embeddings", {"input": TEXTS, "encoding_format": fmt})
    openai = np.array([d["embedding"] for d in body["data"]])
    np.testing.assert_array_equal(openai, expected)
    assert body["usage"]["prompt_tokens"] > 0
    tei = np.array(post_ok(minilm, "/embed", {"inputs": TEXTS, "encoding_format": fmt}))
    np.testing.assert_array_equal(tei, expected)
    width = 384 if fmt.endswith("int8") else 48
    assert openai.shape == (len(TEXTS), width)


def test_given_ranges_and_dimensions(minilm: Served) -> None:
    vectors = floats(minilm, TEXTS, dimensions=64)
    ranges = np.vstack((vectors.min(0) - 0.01, vectors.max(0) + 0.01)).astype(np.float32)
    expected = quantize_embeddings(floats(minilm, TEXTS[:1], dimensions=64), "uint8", ranges)
    body = {
        "inputs": TEXTS[:1],
        "encoding_format": "uint8",
        "dimensions": 64,
        "ranges": ranges.tolist(),
    }
    np.testing.assert_array_equal(np.array(post_ok(minilm, "/embed", body)), expected)


def test_grpc_client_returns_the_block_and_the_ranges_used(minilm: Served) -> None:
    vectors = floats(minilm, TEXTS)
    with EmberClient(minilm.endpoints.grpc_target) as client:
        got = client.embed_quantized(TEXTS, "int8")
        packed = client.embed_quantized(TEXTS, "ubinary")
    np.testing.assert_array_equal(got.data, quantize_embeddings(vectors, "int8"))
    assert got.precision == "int8"
    assert got.dimensions == 384
    assert got.ranges is not None
    np.testing.assert_array_equal(got.ranges, np.vstack((vectors.min(0), vectors.max(0))))
    np.testing.assert_array_equal(packed.data, quantize_embeddings(vectors, "ubinary"))
    assert packed.ranges is None
    assert packed.data.shape == (len(TEXTS), 48)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"encoding_format": "int8", "ranges": [[1.0] * 384, [-1.0] * 384]}, "below min"),
        ({"encoding_format": "uint8", "ranges": [[0.0] * 10, [1.0] * 10]}, "384 minimums"),
        ({"encoding_format": "binary", "ranges": [[0.0] * 384, [1.0] * 384]}, "int8 and uint8"),
        ({"encoding_format": "int8", "ranges": [[0.0] * 384]}, "ranges"),
        ({"encoding_format": "int4"}, "encoding_format"),
    ],
)
def test_impossible_requests_are_422(minilm: Served, body: dict[str, Any], words: str) -> None:
    for path, key in (("/v1/embeddings", "input"), ("/embed", "inputs")):
        response = minilm.http.post(path, json={key: TEXTS[:2], **body})
        assert response.status_code == 422, response.text
        assert words in response.text


def test_one_input_without_ranges_is_422_and_invalid_argument(minilm: Served) -> None:
    response = minilm.http.post("/v1/embeddings", json={"input": "x", "encoding_format": "int8"})
    assert response.status_code == 422
    assert "at least two inputs" in response.json()["error"]["message"]
    request = rq.embed_request(["x"], precision="uint8")
    with pytest.raises(grpc.RpcError) as err:
        minilm.grpc.embed.Embed(request, timeout=60)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    unknown = embed_pb2.EmbedRequest(inputs=[embed_pb2.EmbedInput(text="x")], precision=99)
    with EmberClient(minilm.endpoints.grpc_target) as client, pytest.raises(EmberRpcError) as e:
        client._call(client._stubs.embed.Embed, unknown)
    assert e.value.code == "INVALID_ARGUMENT"
    assert "precision" in e.value.message


def test_grpc_client_submits_a_quantized_job(minilm: Served) -> None:
    """``submit_job`` takes ``precision`` and ``ranges`` as ``embed_quantized`` names them; the
    job's parts hold what ``embed_quantized`` answers for the same rows and ranges."""
    import pyarrow.dataset as ds

    vectors = floats(minilm, TEXTS)
    ranges = np.vstack((vectors.min(0) - 0.01, vectors.max(0) + 0.01)).astype(np.float32)
    with EmberClient(minilm.endpoints.grpc_target) as client:
        job = client.submit_job(TEXTS, task="embed", precision="int8", ranges=ranges)
        assert job.precision == embed_pb2.EMBEDDING_PRECISION_INT8
        assert np.array_equal(np.array([job.ranges.min, job.ranges.max], np.float32), ranges)
        states = [change.state for change in client.watch_job(job.id)]
        final = client.get_job(job.id)
        direct = client.embed_quantized(TEXTS, "int8", ranges=ranges)
        with pytest.raises(EmberRpcError) as refused:
            client.submit_job(TEXTS, precision="uint8")
        with pytest.raises(ValueError, match="precision must be one of"):
            client.submit_job(TEXTS, precision="int4")
    assert states[-1] == final.state == jobs_pb2.JOB_STATE_SUCCEEDED, final.error
    assert final.precision == embed_pb2.EMBEDDING_PRECISION_INT8
    table = ds.dataset(final.result_location, format="parquet").to_table()
    got = np.asarray(table.column("embedding").combine_chunks().flatten()).reshape(-1, 384)
    steps = np.abs(got.astype(np.int16) - direct.data.astype(np.int16))
    assert steps.max() <= 1  # batched with other neighbours: a bin edge may move one step
    assert refused.value.code == "INVALID_ARGUMENT"
    assert "precision uint8 needs ranges" in refused.value.message
