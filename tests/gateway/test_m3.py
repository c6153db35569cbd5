"""BGE-M3 (a tiny random model in FlagEmbedding's layout) behind ``ember serve``: dense, sparse
(lexical weights) and ColBERT multi-vectors from one forward, over REST (``/encode``,
``/embed``, ``/embed_sparse``) and gRPC (``Encode``), equal to FlagEmbedding's ``M3Embedder``
on the same folder; outputs a model lacks are 424 / FAILED_PRECONDITION."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from ember.clients import EmberClient, EmberRestClient
from ember.clients import requests as rq
from tests.gateway.support import Served, served
from tests.reference_libs import flag_m3_embedder
from tests.tiny_models import make_tiny_m3

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello world!",
    "hello hello hello world, hello again",
    "A longer sentence about retrieval, reranking and dense embeddings for search.",
]
COLBERT_DIM = 24


@pytest.fixture(scope="module")
def m3_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_m3(tmp_path_factory.mktemp("m3") / "tiny-m3", colbert_dim=COLBERT_DIM)


@pytest.fixture(scope="module")
def m3(m3_path: Path) -> Iterator[Served]:
    with served(m3_path) as server:
        yield server


@pytest.fixture(scope="module")
def reference(m3_path: Path) -> dict[str, Any]:
    embedder = flag_m3_embedder()(
        str(m3_path), use_fp16=False, devices="cpu", colbert_dim=COLBERT_DIM
    )
    out: dict[str, Any] = embedder.encode(
        TEXTS, return_dense=True, return_sparse=True, return_colbert_vecs=True, max_length=256
    )
    return out


def assert_lexical_equal(got: list[dict[int, float]], want: list[dict[str, float]]) -> None:
    for mine, theirs in zip(got, want, strict=True):
        assert sorted(mine) == sorted(int(k) for k in theirs)
        for token, weight in mine.items():
            assert abs(weight - float(theirs[str(token)])) <= 1e-4


def test_three_outputs_equal_flagembedding(m3: Served, reference: dict[str, Any]) -> None:
    outputs = ["dense", "sparse", "multi_vector"]
    body = m3.http.post("/encode", json={"inputs": TEXTS, "outputs": outputs})
    assert body.status_code == 200, body.text
    answer = body.json()
    dense = np.array(answer["dense"], dtype=np.float32)
    assert (dense * reference["dense_vecs"]).sum(axis=1).min() >= 0.9999
    for got, want in zip(answer["multi_vector"], reference["colbert_vecs"], strict=True):
        got = np.array(got, dtype=np.float32)
        assert got.shape == want.shape
        assert (got * want).sum(axis=1).min() >= 0.9999
    sparse = [{e["index"]: e["value"] for e in item} for item in answer["sparse"]]
    assert_lexical_equal(sparse, reference["lexical_weights"])
    with EmberClient(m3.endpoints.grpc_target) as client:
        encoded = client.encode(TEXTS, outputs)
    with EmberRestClient(m3.url) as rest:
        assert rest.encode(TEXTS, ["sparse"])["sparse"] == answer["sparse"]
    assert encoded.dense is not None
    assert encoded.sparse is not None
    assert encoded.multi_vector is not None
    np.testing.assert_allclose(encoded.dense, dense, atol=1e-6)
    assert_lexical_equal(encoded.sparse, reference["lexical_weights"])
    assert [m.shape for m in encoded.multi_vector] == [w.shape for w in reference["colbert_vecs"]]


def tokens_total(server: Served) -> float:
    text = server.http.get("/metrics").text
    found = re.findall(r"^ember_tokens_total\{[^}]*\} ([0-9.e+]+)$", text, re.MULTILINE)
    return sum(float(v) for v in found)


def test_one_forward_for_all_three_outputs(m3: Served) -> None:
    before = tokens_total(m3)
    answer = m3.http.post(
        "/encode", json={"inputs": TEXTS, "outputs": ["dense", "sparse", "multi_vector"]}
    ).json()
    fed = tokens_total(m3) - before
    assert fed == answer["usage"]["prompt_tokens"], "the engine ran the inputs more than once"


def test_the_tei_routes_serve_m3_dense_and_lexical_weights(
    m3: Served, reference: dict[str, Any]
) -> None:
    dense = np.array(m3.http.post("/embed", json={"inputs": TEXTS}).json(), dtype=np.float32)
    assert (dense * reference["dense_vecs"]).sum(axis=1).min() >= 0.9999
    sparse = m3.http.post("/embed_sparse", json={"inputs": TEXTS}).json()
    assert_lexical_equal(
        [{e["index"]: e["value"] for e in item} for item in sparse], reference["lexical_weights"]
    )
    info = m3.http.get("/info").json()
    assert info["outputs"] == ["dense", "sparse", "multi_vector"]


def test_outputs_a_model_lacks_are_424_naming_the_ones_it_has(minilm: Served) -> None:
    body = {"inputs": ["x"], "outputs": ["dense", "multi_vector"]}
    response = minilm.http.post("/encode", json=body)
    assert response.status_code == 424, response.text
    assert "cannot give multi_vector output; the outputs it has: dense" in response.text
    with pytest.raises(grpc.RpcError) as err:
        minilm.grpc.embed.Encode(rq.encode_request(["x"], ["sparse"]), timeout=60)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "the outputs it has: dense" in (err.value.details() or "")
    assert minilm.http.post("/encode", json={"inputs": ["x"], "outputs": []}).status_code == 422


def test_chunked_sparse_and_multi_vectors_equal_their_windows(m3: Served) -> None:
    text = TEXTS[3] * 2
    tokens = m3.http.post("/tokenize", json={"inputs": [text]}).json()[0]
    ids = [t["id"] for t in tokens]
    head, body, tail = ids[:1], ids[1:-1], ids[-1:]
    # 12-token windows hold 10 text tokens; each starts 8 after the last, the last ends the text
    starts = [0]
    while starts[-1] + 10 < len(body):
        starts.append(starts[-1] + 8)
    windows = [head + body[s : s + 10] + tail for s in starts]
    assert len(windows) > 2
    outputs = ["dense", "sparse", "multi_vector"]
    with EmberClient(m3.endpoints.grpc_target) as client:
        chunked = client.encode([text], outputs, chunk_size=12, chunk_overlap=2)
        alone = client.encode(windows, outputs)
        mean = client.encode([text], outputs, chunk_size=12, chunk_overlap=2, chunk_mean=True)
    assert chunked.chunks is not None
    assert len(chunked.chunks) == len(windows)
    assert chunked.dense is not None
    assert alone.dense is not None
    np.testing.assert_allclose(chunked.dense, alone.dense, atol=1e-5)
    assert chunked.sparse is not None
    assert alone.sparse is not None
    for got_weights, want_weights in zip(chunked.sparse, alone.sparse, strict=True):
        assert got_weights.keys() == want_weights.keys()
        for token, weight in got_weights.items():
            assert weight == pytest.approx(want_weights[token], abs=1e-5)
    assert chunked.multi_vector is not None
    assert alone.multi_vector is not None
    for got, want in zip(chunked.multi_vector, alone.multi_vector, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5)
    assert mean.multi_vector is not None
    np.testing.assert_allclose(mean.multi_vector[0], np.concatenate(alone.multi_vector), atol=1e-5)
    assert mean.sparse is not None
    assert alone.sparse is not None
    for token, weight in mean.sparse[0].items():
        expected = sum(w.get(token, 0.0) for w in alone.sparse) / len(windows)
        assert weight == pytest.approx(expected, rel=1e-5)
