"""A ColBERT model in PyLate's layout (tiny, random weights) behind ``ember serve``:
multi-vectors for queries and documents equal PyLate's ``ColBERT.encode`` semantics, and
``/rerank``, ``/v1/rerank`` and the Rerank RPC rank by MaxSim (``raw_scores``: the plain sum)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ember.clients import EmberClient
from ember.clients import requests as rq
from tests.gateway.support import Served, served
from tests.reference_libs import pylate_encode
from tests.tiny_models import make_tiny_colbert

QUERY_LENGTH = 16
QUERY = "where does the quick fox jump?"
DOCS = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello world! How are you doing today?",
    "A longer sentence about retrieval, reranking and dense embeddings for search. " * 3,
    "fox",
]


@pytest.fixture(scope="module")
def colbert_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("colbert")
    return make_tiny_colbert(root / "tiny-colbert", query_length=QUERY_LENGTH)


@pytest.fixture(scope="module")
def colbert(colbert_path: Path) -> Iterator[Served]:
    with served(colbert_path) as server:
        yield server


def multi(server: Served, texts: list[str], *, query: bool) -> list[np.ndarray]:
    body = {"inputs": texts, "outputs": ["multi_vector"], "query": query}
    response = server.http.post("/encode", json=body)
    assert response.status_code == 200, response.text
    return [np.array(m, dtype=np.float32) for m in response.json()["multi_vector"]]


def assert_same_vectors(got: list[np.ndarray], want: list[np.ndarray]) -> None:
    for mine, theirs in zip(got, want, strict=True):
        assert mine.shape == theirs.shape
        assert (mine * theirs).sum(axis=1).min() >= 0.9999


def test_query_and_document_vectors_equal_pylate(colbert: Served, colbert_path: Path) -> None:
    queries = [QUERY, "fox?", "a query far longer than the sixteen tokens a query may hold here"]
    got = multi(colbert, queries, query=True)
    assert [len(q) for q in got] == [QUERY_LENGTH] * 3, "queries are expanded to a fixed length"
    assert_same_vectors(got, pylate_encode(colbert_path, queries, is_query=True))
    docs = multi(colbert, DOCS, query=False)
    assert_same_vectors(docs, pylate_encode(colbert_path, DOCS, is_query=False))
    with EmberClient(colbert.endpoints.grpc_target) as client:
        encoded = client.encode(DOCS, ["multi_vector"])
    assert encoded.multi_vector is not None
    assert [m.shape for m in encoded.multi_vector] == [d.shape for d in docs]


def test_rerank_routes_rank_by_maxsim(colbert: Served, colbert_path: Path) -> None:
    query = pylate_encode(colbert_path, [QUERY], is_query=True)[0]
    docs = pylate_encode(colbert_path, DOCS, is_query=False)
    sums = np.array([(query @ d.T).max(axis=1).sum() for d in docs])
    order = list(np.argsort(-sums, kind="stable"))
    raw = colbert.http.post("/rerank", json={"query": QUERY, "texts": DOCS, "raw_scores": True})
    assert raw.status_code == 200, raw.text
    ranked = raw.json()
    assert [r["index"] for r in ranked] == order
    np.testing.assert_allclose([r["score"] for r in ranked], sums[order], rtol=1e-4)
    plain = colbert.http.post("/rerank", json={"query": QUERY, "texts": DOCS}).json()
    expected = sums[order] / QUERY_LENGTH
    np.testing.assert_allclose([r["score"] for r in plain], expected, rtol=1e-4)
    cohere = colbert.http.post(
        "/v1/rerank", json={"query": QUERY, "documents": DOCS, "top_n": 2}
    ).json()
    assert [r["index"] for r in cohere["results"]] == order[:2]
    response = colbert.grpc.rerank.Rerank(rq.rerank_request(QUERY, DOCS), timeout=60)
    assert [r.index for r in response.ranks] == order


def test_colbert_refuses_what_it_cannot_do(colbert: Served) -> None:
    dense = colbert.http.post("/encode", json={"inputs": ["x"], "outputs": ["dense"]})
    assert dense.status_code == 424
    assert "the outputs it has: multi_vector" in dense.text
    assert colbert.http.post("/embed", json={"inputs": ["x"]}).status_code == 424
    ids = colbert.http.post("/encode", json={"inputs": [[1, 2]], "outputs": ["multi_vector"]})
    assert ids.status_code == 422
    assert "takes texts" in ids.text
