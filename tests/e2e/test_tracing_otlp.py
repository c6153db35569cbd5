"""End to end: ``ember serve --otlp-endpoint`` sends its spans over OTLP/gRPC. A collector
in the test (the OTLP TraceService from opentelemetry-proto) receives what the installed CLI
exports for a REST request and a gRPC call that carry a W3C traceparent, with the gateway in
the server's process and in two worker processes (which pass the trace on over gRPC)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from ember.v1 import embed_pb2, embed_pb2_grpc
from tests.server_process import run_server

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"


class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    """Keeps every exported span as (service name, span name, trace id hex, kind)."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, str, str, int]] = []
        self.lock = threading.Lock()

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: object
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        with self.lock:
            for resource_spans in request.resource_spans:
                service = next(
                    a.value.string_value
                    for a in resource_spans.resource.attributes
                    if a.key == "service.name"
                )
                for scope in resource_spans.scope_spans:
                    for span in scope.spans:
                        self.spans.append((service, span.name, span.trace_id.hex(), span.kind))
        return trace_service_pb2.ExportTraceServiceResponse()


@pytest.fixture
def collector() -> Iterator[tuple[Collector, int]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = Collector()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield servicer, port
    finally:
        server.stop(None)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_spans_reach_the_collector(collector: tuple[Collector, int], workers: str) -> None:
    received, port = collector
    with run_server(
        None,
        "--otlp-endpoint",
        f"http://127.0.0.1:{port}",
        "--otlp-service-name",
        "ember-e2e",
        "--http-workers",
        workers,
    ) as server:
        response = httpx.post(
            f"{server.http_url}/embed",
            json={"inputs": "traced"},
            headers={"traceparent": TRACEPARENT},
            timeout=60,
        )
        assert response.status_code == 200
        with grpc.insecure_channel(server.grpc_target) as channel:
            embed_pb2_grpc.EmbedServiceStub(channel).Embed(
                embed_pb2.EmbedRequest(inputs=[embed_pb2.EmbedInput(text="over grpc")]),
                metadata=(("traceparent", TRACEPARENT),),
                timeout=60,
            )
    # run_server stops the server with SIGTERM: buffered spans are sent on the way out.
    spans = received.spans
    assert {s[0] for s in spans} == {"ember-e2e"}
    names = [s[1] for s in spans if s[2] == TRACE_ID]
    assert names.count("POST /embed") == 1
    # The REST request's call (in-process, or over gRPC from a gateway worker) and the gRPC call.
    assert names.count("ember.v1.EmbedService/Embed") == 2
    for stage in ("tokenize", "queue", "forward"):
        assert names.count(stage) >= 2, names
