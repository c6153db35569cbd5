"""``EmberRestClient`` against a real ``ember serve`` of several models: without a model it
reaches the server's first model, with one the model it names (README: Several models)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from ember.clients import EmberRestClient
from tests.gateway.support import minilm_path
from tests.server_process import ServerEndpoints, run_server


@pytest.fixture(scope="module")
def two_embedders() -> Iterator[ServerEndpoints]:
    """MiniLM served twice, under the ids "first" and "second"."""
    path = minilm_path()
    with run_server(None, "--model", f"first={path}", "--model", f"second={path}") as endpoints:
        yield endpoints


def test_embeddings_reach_the_first_model_or_the_one_named(
    two_embedders: ServerEndpoints,
) -> None:
    with EmberRestClient(two_embedders.http_url) as rest:
        unnamed = rest.embeddings(["the cat sat"])
        named = rest.embeddings(["the cat sat"], model="second", dimensions=64)
        bits = rest.embed_quantized(["the cat sat"], "ubinary", model="first")
        with pytest.raises(httpx.HTTPStatusError) as refused:
            rest.embeddings(["the cat sat"], model="no-such-model")
    assert unnamed.shape == (1, 384)
    np.testing.assert_allclose(np.linalg.norm(unnamed, axis=1), 1.0, rtol=1e-5)
    assert named.shape == (1, 64)
    assert bits.shape == (1, 48)
    np.testing.assert_array_equal(np.unpackbits(bits, axis=1).astype(bool), unnamed > 0)
    assert refused.value.response.status_code == 404
    assert "first, second" in refused.value.response.json()["error"]["message"]
