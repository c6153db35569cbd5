"""The gateway's Prometheus metrics, in the default registry.

The gRPC service registers its own metrics (queue depth, batch sizes, tokens) in the same
default registry when it runs in the same process, so ``GET /metrics`` renders everything.
When ``PROMETHEUS_MULTIPROC_DIR`` is set (gateway worker processes, see
:mod:`ember.gateway.workers`), every process of the server writes its metrics to that folder
and ``GET /metrics`` renders their sum instead.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

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
    """The metrics in Prometheus text format, and its content type: the default registry, or
    the sum over every process of the server in multiprocess mode."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
