"""Helpers of the service tier for the classify / rerank / token-classification tests: an
in-process gRPC server around a real engine that lives as long as a module fixture, health
checks, streams, and the bad-input check (the expected error, then the next request served)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ember.clients import AsyncEmberClient, EmberRpcError
from ember.engines.base import Engine
from ember.engines.config import EngineConfig, EngineOptions
from ember.engines.registry import load_engine
from ember.service.server import ALL_SERVICES, EmberServer
from ember.service.settings import ServerSettings
from ember.v1 import (
    classify_pb2_grpc,
    common_pb2,
    embed_pb2,
    embed_pb2_grpc,
    rerank_pb2_grpc,
    token_classification_pb2_grpc,
)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@dataclass
class Served:
    """A running in-process server: the Python client, raw stubs on one channel, the engine."""

    client: AsyncEmberClient
    channel: grpc.aio.Channel
    server: EmberServer
    engine: Engine
    path: Path

    # The generated stubs are typed for blocking channels; on an aio channel their methods
    # return awaitables, so the stubs are handed out as Any.
    @property
    def classify(self) -> Any:
        return classify_pb2_grpc.ClassifyServiceStub(self.channel)

    @property
    def rerank(self) -> Any:
        return rerank_pb2_grpc.RerankServiceStub(self.channel)

    @property
    def tokens(self) -> Any:
        return token_classification_pb2_grpc.TokenClassificationServiceStub(self.channel)

    @property
    def embed(self) -> Any:
        return embed_pb2_grpc.EmbedServiceStub(self.channel)

    async def health(self) -> dict[str, int]:
        """The health status of every Ember service, by full service name."""
        stub = health_pb2_grpc.HealthStub(self.channel)
        out: dict[str, int] = {}
        for name in ALL_SERVICES:
            resp = await stub.Check(health_pb2.HealthCheckRequest(service=name))
            out[name] = resp.status
        return out


def cpu_engine(path: Path, **config: Any) -> Engine:
    """The real engine for the folder at ``path`` (float32 on the CPU)."""
    return load_engine(EngineConfig(model_path=path, device="cpu", dtype="float32", **config))


@asynccontextmanager
async def serving(engine: Engine, path: Path, **settings: Any) -> AsyncIterator[Served]:
    """Run an in-process server (port 0) around ``engine`` until the block exits; ``settings``
    are ServerSettings fields or engine options."""
    base = ServerSettings(model=path, grpc_host="127.0.0.1", grpc_port=0)
    options = {f.name for f in fields(EngineOptions)}
    engine_options = {k: v for k, v in settings.items() if k in options}
    server_settings = {k: v for k, v in settings.items() if k not in options}
    configured = replace(base, engine=replace(base.engine, **engine_options), **server_settings)
    server = EmberServer(configured, loader=lambda config: engine)
    port = await server.start()
    await server.load()
    target = f"127.0.0.1:{port}"
    client = AsyncEmberClient(target)
    channel = grpc.aio.insecure_channel(target)
    try:
        yield Served(client, channel, server, engine, path)
    finally:
        await channel.close(None)
        await client.close()
        await server.stop(grace=1.0)


def assert_usage_and_timing(response: Any) -> None:
    """Every answer carries usage and timing (a response message of any task)."""
    assert response.usage.prompt_tokens > 0
    assert response.usage.total_tokens == response.usage.prompt_tokens
    assert response.timing.total_ns >= response.timing.inference_ns > 0
    assert response.timing.tokenization_ns > 0
    assert response.model


async def expect_invalid(
    call: Awaitable[Any],
    words: Sequence[str],
    then: Callable[[], Awaitable[Any]],
    code: str = "INVALID_ARGUMENT",
) -> str:
    """``call`` fails with ``code`` and a message holding every one of ``words``; the request
    made by ``then`` is served afterwards. Returns the message."""
    with pytest.raises(EmberRpcError) as err:
        await call
    assert err.value.code == code, err.value
    for word in words:
        assert word in err.value.message, err.value.message
    await then()
    return err.value.message


async def stream_all(method: Any, messages: Sequence[Any]) -> list[Any]:
    """Send ``messages`` on the bidirectional stream ``method``; every answer, in order."""

    async def requests() -> AsyncIterator[Any]:
        for message in messages:
            yield message

    return [answer async for answer in method(requests())]


def assert_stream_error(answer: Any, batch_id: str, word: str) -> None:
    """``answer`` reports batch ``batch_id`` failed with INVALID_ARGUMENT naming ``word``."""
    assert answer.batch_id == batch_id
    assert answer.WhichOneof("result") == "error"
    assert answer.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert word in answer.error.message


def unknown_direction(number: int) -> common_pb2.Truncation:
    """Truncation with a direction number the contract does not define."""
    return common_pb2.Truncation(direction=common_pb2.TruncationDirection.ValueType(number))


async def assert_refused(call: Awaitable[Any], serves: str) -> None:
    """A call of a task the model cannot do answers FAILED_PRECONDITION naming what it serves."""
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "cannot serve" in (err.value.details() or "")
    assert f"it serves: {serves}" in (err.value.details() or ""), err.value.details()


def embed_request() -> embed_pb2.EmbedRequest:
    """A valid Embed request (for models that do not embed)."""
    return embed_pb2.EmbedRequest(inputs=[embed_pb2.EmbedInput(text="x")])
