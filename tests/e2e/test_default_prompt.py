"""``--default-prompt`` / ``--default-prompt-name`` on a real server: requests that name no
prompt (the OpenAI SDK cannot) get the server's, checked against sentence-transformers."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import numpy as np
from openai import OpenAI

from ember.clients import EmberClient
from tests.server_process import run_server, serve_args

TEXTS = ["how do I bake bread", "Ember serves embeddings."]


def test_requests_without_a_prompt_get_the_servers(minilm_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(minilm_path), device="cpu")
    prompted = st.encode(TEXTS, prompt="query: ", normalize_embeddings=True)
    plain = st.encode(TEXTS, normalize_embeddings=True)
    with run_server(minilm_path, "--default-prompt", "query: ") as endpoints:
        openai = OpenAI(base_url=f"{endpoints.http_url}/v1", api_key="unused")
        answer = openai.embeddings.create(model="any", input=TEXTS)
        vectors = np.array([d.embedding for d in answer.data])
        with EmberClient(endpoints.grpc_target) as client:
            grpc_vectors = client.embed(TEXTS)
        with httpx.Client(base_url=endpoints.http_url, timeout=60) as http:
            tei = np.array(http.post("/embed", json={"inputs": TEXTS}).json())
    for got in (vectors, grpc_vectors, tei):
        assert (got * prompted).sum(axis=1).min() >= 0.9999
        assert (got * plain).sum(axis=1).max() < 0.999  # the prompt changed the vectors


def test_a_prompt_name_the_model_lacks_stops_the_server(minilm_path: Path) -> None:
    args = serve_args(minilm_path, 0, 0, "--default-prompt-name", "query")
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "the default prompt 'query' is not one of the model's prompts []" in done.stderr
