"""The gateway's fast path answers exactly as FastAPI's routes do.

Two gateway apps in this process in front of the same real MiniLM server: the app as built
(hot routes on the fast path) and one built without a fast path. Every body — valid, invalid,
or failing in the service — gets the same status and the same JSON from both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from ember.gateway import app as app_module
from ember.gateway.fastpath import FastPathMiddleware
from ember.gateway.settings import GatewaySettings

from .support import Served


@asynccontextmanager
async def _client(upstream: str, fast: bool) -> AsyncIterator[httpx.AsyncClient]:
    saved = app_module._HOT_ROUTES
    if not fast:
        app_module._HOT_ROUTES = {}
    try:
        app = app_module.create_app(GatewaySettings(upstream=upstream))
    finally:
        app_module._HOT_ROUTES = saved
    (fast_path,) = [m for m in app.user_middleware if m.cls is FastPathMiddleware]
    assert set(fast_path.kwargs["routes"]) == (
        {"/v1/embeddings", "/embeddings", "/embed"} if fast else set()
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            yield client


CASES: list[tuple[str, Any]] = [
    ("/v1/embeddings", {"input": "hello world", "model": "x"}),
    ("/v1/embeddings", {"input": ["a", "b c"], "encoding_format": "base64"}),
    ("/v1/embeddings", {"input": [101, 7592, 102], "dimensions": 8}),
    ("/v1/embeddings", {"input": [[101, 7592, 102], [101, 2088, 102]], "user": "u"}),
    ("/embeddings", {"input": "same route, short path", "encoding_format": "float"}),
    ("/embed", {"inputs": "tei text", "normalize": False}),
    ("/embed", {"inputs": ["x" * 40, "y"], "truncate": True, "truncation_direction": "left"}),
    ("/embed", {"inputs": [5, 6, 7], "dimensions": 4}),
    # invalid for the model: FastAPI's error answers either way
    ("/v1/embeddings", {"input": []}),
    ("/v1/embeddings", {"input": "x", "encoding_format": "hex"}),
    ("/v1/embeddings", {"input": "x", "dimensions": "5"}),
    ("/v1/embeddings", {"input": [1.5, 2]}),
    ("/v1/embeddings", {"model": "no input"}),
    ("/embed", {"inputs": "x", "normalize": "yes"}),
    ("/embed", {"inputs": "x", "truncation_direction": "middle"}),
    ("/v1/embeddings", [1, 2, 3]),
    ("/v1/embeddings", b'{"input": "x",'),
    ("/v1/embeddings", b""),
    ("/embed", b"\xff\xfe\x00"),
    # valid for the model, refused by the service
    ("/v1/embeddings", {"input": "long " * 400}),
    ("/v1/embeddings", {"input": [999999999]}),
    ("/embed", {"inputs": "x", "dimensions": 10_000}),
    ("/embed", {"inputs": "x", "prompt_name": "no-such-prompt"}),
]


@pytest.mark.parametrize(("path", "body"), CASES, ids=[f"{i}{p}" for i, (p, _) in enumerate(CASES)])
async def test_fast_path_answers_as_fastapi_does(minilm: Served, path: str, body: Any) -> None:
    upstream = minilm.endpoints.grpc_target
    content = body if isinstance(body, bytes) else None
    payload = None if isinstance(body, bytes) else body
    answers = []
    for fast in (True, False):
        async with _client(upstream, fast) as client:
            response = await client.post(path, json=payload, content=content)
        answers.append((response.status_code, response.headers["content-type"], response.json()))
    assert answers[0] == answers[1]


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-www-form-urlencoded",  # curl -d without -H
        "text/plain",
        "application/json; charset=utf-8",
        "application/vnd.ember+json",
    ],
)
@pytest.mark.parametrize("path", ["/v1/embeddings", "/embed"])
async def test_fast_path_reads_the_body_as_json_only_when_fastapi_does(
    minilm: Served, path: str, content_type: str
) -> None:
    upstream = minilm.endpoints.grpc_target
    body = b'{"input": "hello", "inputs": "hello"}'
    answers = []
    for fast in (True, False):
        async with _client(upstream, fast) as client:
            response = await client.post(path, content=body, headers={"content-type": content_type})
        answers.append((response.status_code, response.json()))
    assert answers[0] == answers[1]
    assert answers[0][0] == (200 if "json" in content_type else 422)
