"""TEI ``/embed_all`` and the EmbedTokens RPC through a real server (the real MiniLM on the
default backend), against sentence-transformers' token embeddings; a model that is not an
embedding model refuses with 424 / FAILED_PRECONDITION."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from ember.clients import EmberClient, EmberRestClient
from ember.clients import requests as rq
from tests.gateway.support import Served, minilm_path

TEXTS = ["The cat sat on the mat.", "Ember serves encoder models."]


def test_embed_all_and_the_rpc_equal_token_embeddings(minilm: Served) -> None:
    model = SentenceTransformer(str(minilm_path()), device="cpu")
    want = [t.numpy() for t in model.encode(TEXTS, output_value="token_embeddings")]
    with EmberRestClient(minilm.url) as rest:
        over_rest = rest.embed_all(TEXTS)
    with EmberClient(minilm.endpoints.grpc_target) as client:
        over_grpc = client.embed_tokens(TEXTS)
        ids_only = client.embed_tokens([over_grpc[0].token_ids])
    for rest_states, grpc_states, reference in zip(over_rest, over_grpc, want, strict=True):
        np.testing.assert_allclose(rest_states, reference, atol=2e-4)
        np.testing.assert_allclose(grpc_states.states, reference, atol=2e-4)
    np.testing.assert_allclose(ids_only[0].states, want[0], atol=2e-4)
    assert ids_only[0].offsets == [(0, 0)] * len(want[0])
    body = minilm.http.post("/embed_all", json={"inputs": "one text"}).json()
    assert len(body) == 1
    assert len(body[0][0]) == 384


def test_embed_all_on_a_reranker_is_424_naming_what_it_serves(reranker: Served) -> None:
    response = reranker.http.post("/embed_all", json={"inputs": ["x"]})
    assert response.status_code == 424, response.text
    assert "cannot serve EmbedTokens; it serves: Classify, Rerank" in response.text
    with pytest.raises(grpc.RpcError) as err:
        reranker.grpc.embed.EmbedTokens(rq.embed_tokens_request(["x"]), timeout=60)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
