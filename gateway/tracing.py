"""OpenTelemetry tracing of requests: off unless ``--otlp-endpoint`` is set.

On, each request gets a SERVER span from its transport (``POST /v1/embeddings`` from the REST
gateway, ``ember.v1.EmbedService/Embed`` from the gRPC server; an in-process REST call gets
both, the RPC's a child of the route's), and the service core adds child spans for its stages:
``tokenize``, ``queue`` (tokenized, waiting for an engine batch) and one ``forward`` per engine
batch the request's inputs ran in. A W3C ``traceparent`` (and ``tracestate``) header or gRPC
metadata entry makes the request's span a child of the caller's; the gateway passes its own on
to the gRPC service when it calls it over the network. Spans go to an OTLP/gRPC collector in
batches, off the request path.

Off (the default), nothing imports OpenTelemetry and no middleware or interceptor is installed:
the request path pays one ``enabled()`` check in the core and in the gateway's upstream call.

It lives in the gateway package because both sides use it and the gateway never imports the
service (which already builds on the gateway's settings); it imports nothing of either.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span, Tracer

_HEADERS = ("traceparent", "tracestate")


class TracingUnavailableError(RuntimeError):
    """Tracing was asked for without what it needs (the packages or an endpoint)."""


class _State:
    def __init__(self, provider: TracerProvider, tracer: Tracer) -> None:
        self.provider = provider
        self.tracer = tracer


_state: _State | None = None


def enabled() -> bool:
    """Whether tracing is on in this process."""
    return _state is not None


def configure(
    endpoint: str | None, service_name: str, *, exporter: SpanExporter | None = None
) -> None:
    """Turn tracing on for this process.

    Spans go in batches to the OTLP/gRPC collector at ``endpoint`` (``http://host:4317``;
    ``https://`` for TLS), or, when ``exporter`` is given, to it one by one as each span ends
    (tests pass the SDK's ``InMemorySpanExporter``). Raises TracingUnavailableError when the
    OpenTelemetry packages (the ``tracing`` extra) or the endpoint are missing."""
    global _state
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    except ImportError as exc:
        raise TracingUnavailableError(
            "--otlp-endpoint needs the OpenTelemetry packages: pip install 'ember-serve[tracing]'"
        ) from exc
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        if not endpoint:
            raise TracingUnavailableError("tracing needs an OTLP endpoint (--otlp-endpoint)")
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        insecure = not endpoint.startswith("https://")
        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=insecure))
        )
    if _state is not None:
        _state.provider.shutdown()
    _state = _State(provider, provider.get_tracer("ember"))


def shutdown() -> None:
    """Export the spans still buffered and turn tracing off."""
    global _state
    state, _state = _state, None
    if state is not None:
        state.provider.shutdown()


def _tracer() -> Tracer:
    if _state is None:
        raise RuntimeError("tracing is off")
    return _state.tracer


@contextlib.contextmanager
def server_span(
    name: str,
    headers: Iterable[tuple[str | bytes, str | bytes]],
    attributes: Mapping[str, str | int] | None = None,
) -> Iterator[Span]:
    """A SERVER span around the block, current inside it, the child of the caller's
    ``traceparent`` in ``headers`` (HTTP headers or gRPC metadata) or else of the current span.
    An exception leaving the block is recorded on the span and marks it as an error."""
    from opentelemetry import context
    from opentelemetry.trace import SpanKind
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier = {}
    for key, value in headers:
        header = (key.decode("latin-1") if isinstance(key, bytes) else key).lower()
        if header in _HEADERS:
            carrier[header] = value.decode("latin-1") if isinstance(value, bytes) else value
    parent = TraceContextTextMapPropagator().extract(carrier, context=context.get_current())
    with _tracer().start_as_current_span(
        name, context=parent, kind=SpanKind.SERVER, attributes=dict(attributes or {})
    ) as span:
        yield span


def outgoing_metadata() -> tuple[tuple[str, str], ...]:
    """The current span's ``traceparent`` (and ``tracestate``), for a call this request makes."""
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return tuple(carrier.items())


def record_stages(
    start_ns: int, tokenized_ns: int, batches: Iterable[tuple[int, int, int]]
) -> None:
    """Child spans of the current span for one request's stages, from ``perf_counter_ns``
    stamps: ``tokenize`` (start to tokenized), ``queue`` (tokenized to its first batch) and a
    ``forward`` per ``(batch_id, batch_start_ns, batch_ns)``."""
    tracer = _tracer()
    to_epoch = time.time_ns() - time.perf_counter_ns()
    tracer.start_span("tokenize", start_time=start_ns + to_epoch).end(tokenized_ns + to_epoch)
    distinct = sorted(set(batches), key=lambda b: b[1])
    if not distinct:
        return
    first = distinct[0][1]
    tracer.start_span("queue", start_time=tokenized_ns + to_epoch).end(
        max(first, tokenized_ns) + to_epoch
    )
    for batch_id, batch_start, batch_ns in distinct:
        span = tracer.start_span(
            "forward", start_time=batch_start + to_epoch, attributes={"ember.batch_id": batch_id}
        )
        span.end(batch_start + batch_ns + to_epoch)
