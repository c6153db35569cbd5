"""OpenTelemetry tracing through the real serving path, spans caught by the SDK's
InMemorySpanExporter: a span per REST request and per gRPC call, children for tokenize, queue
and forward, the caller's W3C ``traceparent`` continued from HTTP headers and gRPC metadata,
and the gateway's own span passed on when it calls the service over gRPC. Off, nothing is
installed and nothing is recorded."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import grpc
import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from ember.gateway import tracing
from ember.gateway.app import create_app
from ember.gateway.middleware import TracingMiddleware
from ember.gateway.settings import GatewaySettings
from ember.service.interceptors import ServiceInterceptor, TracingInterceptor
from ember.service.server import EmberServer
from ember.v1 import embed_pb2, embed_pb2_grpc

from .conftest import ServeFn, SpyEngine

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.configure(None, "ember-test", exporter=exporter)
    try:
        yield exporter
    finally:
        tracing.shutdown()


@asynccontextmanager
async def gateway(server: EmberServer, direct: bool) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        GatewaySettings(upstream=f"127.0.0.1:{server.port}"),
        server.local_calls() if direct else None,
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            yield client


def by_name(exporter: InMemorySpanExporter) -> dict[str, list[ReadableSpan]]:
    out: dict[str, list[ReadableSpan]] = {}
    for span in exporter.get_finished_spans():
        out.setdefault(span.name, []).append(span)
    return out


def parent_of(span: ReadableSpan) -> str | None:
    return None if span.parent is None else f"{span.parent.span_id:016x}"


def span_id(span: ReadableSpan) -> str:
    return f"{span.context.span_id:016x}"


def check_stages(named: dict[str, list[ReadableSpan]], rpc: ReadableSpan) -> None:
    """tokenize, queue and forward are children of ``rpc``, in order, inside its time."""
    (tokenize,) = named["tokenize"]
    (queue,) = named["queue"]
    forwards = named["forward"]
    assert forwards
    for stage in (tokenize, queue, *forwards):
        assert parent_of(stage) == span_id(rpc)
        assert stage.context.trace_id == rpc.context.trace_id
        assert stage.start_time is not None
        assert stage.end_time is not None
        assert stage.start_time <= stage.end_time
    assert tokenize.end_time == queue.start_time
    assert queue.end_time <= min(f.start_time for f in forwards)  # type: ignore[operator,type-var]
    assert all("ember.batch_id" in (f.attributes or {}) for f in forwards)


async def test_rest_request_continues_the_callers_trace(
    serve: ServeFn, spy: SpyEngine, spans: InMemorySpanExporter
) -> None:
    async with serve(spy) as (_, server), gateway(server, direct=True) as http:
        response = await http.post(
            "/v1/embeddings",
            json={"input": ["trace me", "and me"]},
            headers={"traceparent": TRACEPARENT},
        )
        assert response.status_code == 200
    named = by_name(spans)
    (rest,) = named["POST /v1/embeddings"]
    assert rest.kind == SpanKind.SERVER
    assert f"{rest.context.trace_id:032x}" == TRACE_ID
    assert parent_of(rest) == PARENT_ID
    assert (rest.attributes or {})["http.response.status_code"] == 200
    (rpc,) = named["ember.v1.EmbedService/Embed"]
    assert parent_of(rpc) == span_id(rest)
    check_stages(named, rpc)


async def test_grpc_metadata_continues_the_callers_trace(
    serve: ServeFn, spy: SpyEngine, spans: InMemorySpanExporter
) -> None:
    async with (
        serve(spy) as (_, server),
        grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        request = embed_pb2.EmbedRequest(inputs=[embed_pb2.EmbedInput(text="over grpc")])
        await embed_pb2_grpc.EmbedServiceStub(channel).Embed(
            request, metadata=(("traceparent", TRACEPARENT),), timeout=30
        )
        bad = embed_pb2.EmbedRequest(inputs=[embed_pb2.EmbedInput(text="x")], dimensions=999)
        with pytest.raises(grpc.aio.AioRpcError):
            await embed_pb2_grpc.EmbedServiceStub(channel).Embed(bad, timeout=30)
    named = by_name(spans)
    ok, failed = named["ember.v1.EmbedService/Embed"]
    assert f"{ok.context.trace_id:032x}" == TRACE_ID
    assert parent_of(ok) == PARENT_ID
    assert (ok.attributes or {})["rpc.grpc.status_code"] == 0
    check_stages(named, ok)
    assert parent_of(failed) is None  # no traceparent: a new trace
    assert (failed.attributes or {})[
        "rpc.grpc.status_code"
    ] == grpc.StatusCode.INVALID_ARGUMENT.value[0]


async def test_gateway_passes_its_span_to_the_service_over_grpc(
    serve: ServeFn, spy: SpyEngine, spans: InMemorySpanExporter
) -> None:
    async with serve(spy) as (_, server), gateway(server, direct=False) as http:
        response = await http.post("/embed", json={"inputs": "remote"})
        assert response.status_code == 200
    named = by_name(spans)
    (rest,) = named["POST /embed"]
    (rpc,) = named["ember.v1.EmbedService/Embed"]
    assert rpc.context.trace_id == rest.context.trace_id
    assert parent_of(rpc) == span_id(rest)


async def test_off_installs_nothing(serve: ServeFn, spy: SpyEngine) -> None:
    assert not tracing.enabled()
    async with serve(spy) as (_, server):
        app = create_app(GatewaySettings(upstream=f"127.0.0.1:{server.port}"), server.local_calls())
        assert not any(m.cls is TracingMiddleware for m in app.user_middleware)
        kinds = {type(i) for i in ServiceInterceptor(False, traced=tracing.enabled()).chain()}
        assert TracingInterceptor not in kinds
        async with gateway(server, direct=True) as http:
            assert (await http.post("/embed", json={"inputs": "untraced"})).status_code == 200


def test_missing_endpoint_is_a_clear_error() -> None:
    with pytest.raises(tracing.TracingUnavailableError, match="--otlp-endpoint"):
        tracing.configure(None, "ember")
    assert not tracing.enabled()


async def test_fastapis_own_telemetry_stays_off(
    serve: ServeFn, spy: SpyEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process-wide OpenTelemetry provider (``opentelemetry-instrument`` sets one) does not
    switch on FastAPI's native telemetry: Ember's spans are ``--otlp-endpoint``'s alone."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    async with serve(spy) as (_, server), gateway(server, direct=True) as http:
        for path, body in (("/embed", {"inputs": "x"}), ("/v1/embeddings", {"input": "x"})):
            assert (await http.post(path, json=body)).status_code == 200
        assert (await http.get("/health")).status_code == 200
    assert exporter.get_finished_spans() == ()
