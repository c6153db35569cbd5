"""The in-process gateway's direct calls (``ember serve --http-direct true``, the default)
answer exactly as calls over gRPC do: two gateway apps in front of one in-process server, one
calling it directly and one over its gRPC port, get the same status and JSON for valid
requests, invalid ones, refusals, deadlines; and the service counts direct calls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from ember.gateway.app import create_app
from ember.gateway.settings import GatewaySettings
from ember.service.server import EmberServer

from .conftest import ServeFn, SpyEngine


@asynccontextmanager
async def _gateway(server: EmberServer, direct: bool) -> AsyncIterator[httpx.AsyncClient]:
    settings = GatewaySettings(upstream=f"127.0.0.1:{server.port}")
    app = create_app(settings, server.local_calls() if direct else None)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            yield client


CASES: list[tuple[str, str, Any]] = [
    ("POST", "/v1/embeddings", {"input": ["direct or not", "same vectors"]}),
    ("POST", "/embed", {"inputs": [101, 7592, 102], "dimensions": 16}),
    ("POST", "/tokenize", {"inputs": "tokenize me"}),
    ("GET", "/info", None),
    ("GET", "/v1/models", None),
    ("POST", "/v1/embeddings", {"input": "too long " * 300, "truncate": False}),
    ("POST", "/v1/embeddings", {"input": [123456789]}),
    ("POST", "/embed", {"inputs": "x", "dimensions": 385}),
    ("POST", "/embed", {"inputs": "x", "prompt_name": "nope"}),
    ("POST", "/rerank", {"query": "q", "texts": ["a"]}),  # not a reranker
    ("POST", "/predict", {"inputs": "x"}),  # not a classifier
    ("POST", "/embed_sparse", {"inputs": "x"}),  # not a sparse model
]


async def test_direct_calls_answer_as_grpc_calls_do(serve: ServeFn, spy: SpyEngine) -> None:
    async with serve(spy) as (_, server):
        answers: dict[bool, list[tuple[int, Any]]] = {}
        for direct in (True, False):
            async with _gateway(server, direct) as http:
                answers[direct] = []
                for method, path, body in CASES:
                    response = await http.request(method, path, json=body)
                    payload = response.json()
                    if path == "/v1/models":
                        payload["data"][0].pop("created", None)
                    answers[direct].append((response.status_code, payload))
    for case, direct, remote in zip(CASES, answers[True], answers[False], strict=True):
        assert direct == remote, case
    assert answers[True][0][0] == 200
    assert {status for status, _ in answers[True][5:]} <= {400, 422, 424}


async def test_direct_call_deadline_is_504_and_the_work_is_dropped(
    serve: ServeFn, spy: SpyEngine
) -> None:
    async with serve(spy) as (client, server):
        answers = []
        for direct in (True, False):
            async with _gateway(server, direct) as http:
                spy.gate.clear()
                spy.batches.clear()
                held = asyncio.ensure_future(client.embed(["holds the engine"]))
                assert await asyncio.to_thread(spy.entered.wait, 10)
                response = await http.post(
                    "/v1/embeddings",
                    json={"input": "zebra crossing"},
                    headers={"Request-Timeout-Ms": "300"},
                )
                await asyncio.sleep(0.3)
                spy.gate.set()
                await held
                await asyncio.sleep(0.2)
                answers.append((response.status_code, response.json()))
                ran = [e for batch in spy.batches for e in batch]
                assert len(ran) <= 2, "the timed-out request was computed after its deadline"
                spy.entered.clear()
    assert answers[0] == answers[1]
    assert answers[0][0] == 504


def _count(method: str, code: str) -> float:
    value = REGISTRY.get_sample_value("ember_grpc_requests_total", {"method": method, "code": code})
    return value or 0.0


async def test_direct_calls_are_counted_by_method_and_status(
    serve: ServeFn, spy: SpyEngine
) -> None:
    async with serve(spy) as (_, server):
        ok, bad = _count("Embed", "OK"), _count("Embed", "INVALID_ARGUMENT")
        async with _gateway(server, direct=True) as http:
            assert (await http.post("/embed", json={"inputs": "counted"})).status_code == 200
            refused = await http.post("/embed", json={"inputs": [999999]})
            assert refused.status_code == 422
    assert _count("Embed", "OK") == ok + 1
    assert _count("Embed", "INVALID_ARGUMENT") == bad + 1


@pytest.mark.parametrize("direct", [True, False])
async def test_gateway_without_direct_calls_uses_the_channel(
    serve: ServeFn, spy: SpyEngine, direct: bool
) -> None:
    async with serve(spy) as (_, server):
        calls = server.local_calls()
        seen: list[str] = []
        original = calls.call

        async def spying(path: str, request: Any, **kwargs: Any) -> Any:
            seen.append(path)
            return await original(path, request, **kwargs)

        calls.call = spying  # type: ignore[method-assign]
        async with _gateway(server, direct) as http:
            assert (await http.post("/embed", json={"inputs": "route"})).status_code == 200
            assert (await http.get("/health")).status_code == 200
    assert seen == (["/ember.v1.EmbedService/Embed"] if direct else [])
