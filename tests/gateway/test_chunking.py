"""Server-side chunking on ``/encode`` with the real MiniLM: windows of token ids with the
model's special tokens, their character spans, optional mean; each window's vector equals its
substring embedded alone."""

from __future__ import annotations

import numpy as np

from ember.clients import EmberClient
from tests.gateway.support import Served

WORDS = [
    "the",
    "cat",
    "sat",
    "on",
    "a",
    "mat",
    "and",
    "then",
    "went",
    "to",
    "sleep",
    "in",
    "the",
    "warm",
    "sun",
]
LONG = " ".join(WORDS[i % len(WORDS)] for i in range(700))  # 700 one-token words


def test_windows_equal_their_substrings_embedded_alone(minilm: Served) -> None:
    body = {
        "inputs": [LONG, "short text"],
        "outputs": ["dense"],
        "chunking": {"size": 128, "overlap": 16},
    }
    response = minilm.http.post("/encode", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    chunks = answer["chunks"]
    long_chunks = [c for c in chunks if c["input"] == 0]
    # 126 words per window (128 less [CLS] and [SEP]), a new window every 110 words.
    assert len(long_chunks) == 7
    assert long_chunks[0]["start"] == 0
    assert long_chunks[-1]["end"] == len(LONG)
    assert [c["input"] for c in chunks] == [0] * 7 + [1]
    assert chunks[-1] == {"input": 1, "start": 0, "end": len("short text")}
    texts = [([LONG, "short text"][c["input"]])[c["start"] : c["end"]] for c in chunks]
    assert len(texts[0].split()) == 126
    alone = np.array(minilm.http.post("/embed", json={"inputs": texts}).json(), dtype=np.float32)
    windows = np.array(answer["dense"], dtype=np.float32)
    assert (windows * alone).sum(axis=1).min() >= 0.9999
    with EmberClient(minilm.endpoints.grpc_target) as client:
        mean = client.encode([LONG], ["dense"], chunk_size=128, chunk_overlap=16, chunk_mean=True)
    assert mean.dense is not None
    assert mean.dense.shape == (1, 384)
    expected = alone[:7].mean(axis=0)
    expected /= np.linalg.norm(expected)
    assert float(mean.dense[0] @ expected) >= 0.9999
    assert mean.chunks is not None
    assert len(mean.chunks) == 7


def test_impossible_chunking_is_422(minilm: Served) -> None:
    for chunking, words in (
        ({"size": 64, "overlap": 62}, "overlap must be between 0 and 61"),
        ({"size": 100000}, "chunking size must be between 1 and"),
        ({"size": 2}, "no room for text"),
    ):
        body = {"inputs": [LONG], "chunking": chunking}
        response = minilm.http.post("/encode", json=body)
        assert response.status_code == 422, response.text
        assert words in response.text
