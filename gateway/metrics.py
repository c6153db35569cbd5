"""The gateway's Prometheus metrics, in the default registry.

The gRPC service registers its own metrics (queue depth, batch sizes, tokens) in the same
default registry when it runs in the same process, so ``GET /metrics`` renders everything.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest

HTTP_REQUESTS = Counter(
    "ember_http_requests",
    "HTTP requests answered by the REST gateway, by route template, method and status code.",
    ["route", "method", "status"],
)

HTTP_LATENCY = Histogram(
    "ember_http_request_duration_seconds",
    "Time from the HTTP request's arrival to the end of its answer, by route template.",
    ["route"],
    buckets=(
        0.001,
        0.0025,
        0.005,
        0.01,
        0.025,
        0.05,
        0.1,
        0.25,
        0.5,
        1.0,
        2.5,
        5.0,
        10.0,
        30.0,
        60.0,
    ),
)


def render() -> tuple[bytes, str]:
    """The default registry in Prometheus text format, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
