"""The gateway as a program: it imports without torch, runs in the caller's event loop (start,
stop, cancel, port 0, busy port), answers 503 in each route's shape when its upstream is down,
and publishes an accurate OpenAPI document."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys

import httpx
import pytest

from ember.gateway.app import create_app
from ember.gateway.server import GatewayServer, serve_gateway
from ember.gateway.settings import GatewaySettings
from tests.server_process import free_port


def test_gateway_imports_no_torch_and_no_service() -> None:
    code = """
import sys
from ember.gateway.server import GatewayServer, serve_gateway
from ember.gateway.app import create_app
from ember.gateway.settings import GatewaySettings
create_app(GatewaySettings()).openapi()
heavy = [m for m in sys.modules if m.split(".")[0] in ("torch", "transformers", "tokenizers")
         or m.startswith(("ember.service", "ember.engines.torch"))]
print(heavy)
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]"


def assert_closed(port: int) -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def dead_upstream() -> str:
    """An address where nothing listens."""
    return f"127.0.0.1:{free_port()}"


def settings(**overrides: object) -> GatewaySettings:
    base: dict[str, object] = {"http_host": "127.0.0.1", "http_port": 0}
    return GatewaySettings(**{**base, **overrides})  # type: ignore[arg-type]


async def test_start_on_port_0_and_stop() -> None:
    server = GatewayServer(settings(upstream=dead_upstream()))
    await server.start()
    port = server.port
    assert port > 0
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        response = await client.get("/openapi.json")
        assert response.status_code == 200
    await server.stop()
    assert_closed(port)
    await server.stop()  # stopping twice is harmless


async def test_listening_socket_is_tcp_so_answers_are_not_delayed() -> None:
    # asyncio disables Nagle only on sockets whose proto is IPPROTO_TCP; accepted sockets
    # inherit the listening socket's. A proto of 0 added ~40 ms to every answer.
    server = GatewayServer(settings(upstream=dead_upstream()))
    await server.start()
    try:
        assert server._socket is not None
        assert server._socket.proto == socket.IPPROTO_TCP
    finally:
        await server.stop()


async def test_dead_upstream_is_503_in_each_shape() -> None:
    server = GatewayServer(settings(upstream=dead_upstream()))
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            health = await client.get("/health")
            assert health.status_code == 503
            assert health.json()["error_type"] == "Unhealthy"
            openai = await client.post("/v1/embeddings", json={"input": "x"})
            assert openai.status_code == 503
            assert openai.json()["error"]["code"] == "unavailable"
            tei = await client.post("/embed", json={"inputs": "x"})
            assert tei.status_code == 503
            assert tei.json()["error_type"] == "Unhealthy"
            info = await client.get("/info")
            assert info.status_code == 503
            # Validation needs no upstream: still a 422.
            invalid = await client.post("/embed", json={"inputs": []})
            assert invalid.status_code == 422
    finally:
        await server.stop()


async def test_busy_port_raises_oserror() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = GatewayServer(settings(http_port=port, upstream=dead_upstream()))
        with pytest.raises(OSError, match="in use"):
            await server.start()


async def test_serve_gateway_until_cancelled() -> None:
    port = free_port()
    started = asyncio.Event()
    task = asyncio.create_task(
        serve_gateway(settings(http_port=port, upstream=dead_upstream()), started=started)
    )
    await asyncio.wait_for(started.wait(), timeout=30)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        assert (await client.get("/health")).status_code == 503
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert_closed(port)


ROUTES = {
    ("post", "/v1/embeddings"),
    ("post", "/embeddings"),
    ("get", "/v1/models"),
    ("post", "/v1/rerank"),
    ("post", "/v2/rerank"),
    ("post", "/rerank"),
    ("post", "/"),
    ("post", "/invocations"),
    ("post", "/vertex"),
    ("post", "/predict"),
    ("post", "/predict_tokens"),
    ("post", "/embed"),
    ("post", "/embed_sparse"),
    ("post", "/embed_all"),
    ("post", "/encode"),
    ("post", "/tokenize"),
    ("post", "/decode"),
    ("post", "/similarity"),
    ("get", "/info"),
    ("get", "/health"),
    ("get", "/metrics"),
    ("post", "/admin/models"),
    ("delete", "/admin/models/{model_id}"),
    ("post", "/v1/jobs"),
    ("get", "/v1/jobs"),
    ("get", "/v1/jobs/{job_id}"),
    ("delete", "/v1/jobs/{job_id}"),
}


def test_openapi_documents_every_route_with_its_error_shape() -> None:
    spec = json.loads(json.dumps(create_app(GatewaySettings()).openapi()))
    documented = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    assert documented == ROUTES
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas  # FastAPI's own 422 shape is never answered
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            responses = op["responses"]
            # 202: a job accepted (POST /v1/jobs); every other route answers 200.
            assert responses.keys() & {"200", "202"}, (method, path)
            if method != "post":
                continue
            openai = path.startswith(("/v1/", "/v2/")) or path == "/embeddings"
            expected = "OpenAIError" if openai else "TEIError"
            statuses = ["400", "413", "422", "424", "429", "500", "503", "504"]
            if path == "/v1/jobs":
                statuses.remove("424")  # a job's task is checked at submit: 422 naming it
            for status in statuses:
                ref = responses[status]["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith(f"/{expected}"), (path, status, ref)
            assert "requestBody" in op
    embeddings = spec["paths"]["/v1/embeddings"]["post"]
    ok = embeddings["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ok.endswith("/OpenAIEmbeddingsResponse")
    request = schemas["OpenAIEmbeddingsRequest"]["properties"]
    assert set(request) >= {"input", "model", "encoding_format", "dimensions", "user"}
    assert set(request) >= {"truncate", "truncation_direction"}  # OpenAI SDKs: extra_body
    # POST / takes any of the TEI bodies (it answers with the model's task).
    any_of = spec["paths"]["/"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {r["$ref"].rsplit("/", 1)[1] for r in any_of["anyOf"]} >= {
        "TEIEmbedRequest",
        "TEIRerankRequest",
        "PredictRequest",
    }
    for ref in any_of["anyOf"]:
        assert ref["$ref"].rsplit("/", 1)[1] in schemas


async def test_cors_preflight_when_origins_are_configured() -> None:
    server = GatewayServer(
        settings(
            upstream=dead_upstream(), cors_allow_origins="https://app.example, https://b.example"
        )
    )
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            preflight = await client.options(
                "/v1/embeddings",
                headers={
                    "Origin": "https://b.example",
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "authorization, content-type",
                },
            )
            assert preflight.status_code == 200
            assert preflight.headers["access-control-allow-origin"] == "https://b.example"
            other = await client.options(
                "/v1/embeddings",
                headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
            )
            assert "access-control-allow-origin" not in other.headers
    finally:
        await server.stop()


async def test_docs_page_is_served() -> None:
    server = GatewayServer(settings(upstream=dead_upstream()))
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            docs = await client.get("/docs")
            assert docs.status_code == 200
            assert "/openapi.json" in docs.text
            # Swagger UI's files come from the gateway itself, not a CDN (offline machines).
            assert "cdn." not in docs.text
            script = await client.get("/docs/assets/swagger-ui-bundle.js")
            assert script.status_code == 200
            assert len(script.content) > 100_000
    finally:
        await server.stop()
