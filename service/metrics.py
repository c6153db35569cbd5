"""Prometheus metrics of the gRPC service, registered once in the default registry.

The gateway renders the default registry at ``/metrics``; when both run in one process the
service's scheduler metrics appear there beside the HTTP ones. With gateway worker processes
(``ember serve --http-workers N``) every process writes its metrics to the folder named by
``PROMETHEUS_MULTIPROC_DIR`` and the workers render the sum; the gauges here live in the
service process only and are reported as the sum over live processes ("livesum").
"""

from __future__ import annotations

import contextlib

from prometheus_client import Counter, Gauge, Histogram

_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
_TOKEN_BUCKETS = (16, 64, 256, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072)
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

# The scheduler's metrics carry the served model's id (label ``model``): one queue per model.
_MODEL = ["model"]
QUEUE_DEPTH = Gauge(
    "ember_queue_depth",
    "Inputs waiting for an engine batch.",
    _MODEL,
    multiprocess_mode="livesum",
)
BATCH_SIZE = Histogram(
    "ember_batch_size", "Inputs per engine batch.", _MODEL, buckets=_SIZE_BUCKETS
)
BATCH_TOKENS = Histogram(
    "ember_batch_tokens", "Real (unpadded) tokens per engine batch.", _MODEL, buckets=_TOKEN_BUCKETS
)
BATCH_PADDED_TOKENS = Histogram(
    "ember_batch_padded_tokens", "Padded tokens per engine batch.", _MODEL, buckets=_TOKEN_BUCKETS
)
BATCH_SECONDS = Histogram(
    "ember_batch_seconds", "Engine time per batch.", _MODEL, buckets=_LATENCY_BUCKETS
)
TOKENS_TOTAL = Counter("ember_tokens_total", "Tokens processed by the engine.", _MODEL)
BATCH_FAILURES = Counter("ember_batch_failures_total", "Engine batches that raised.", _MODEL)
BATCH_PREEMPTIONS = Counter(
    "ember_batch_preemptions_total",
    "Background (job) batches stopped early for interactive work, to run again.",
    _MODEL,
)
_PER_MODEL = (
    QUEUE_DEPTH,
    BATCH_SIZE,
    BATCH_TOKENS,
    BATCH_PADDED_TOKENS,
    BATCH_SECONDS,
    TOKENS_TOTAL,
    BATCH_FAILURES,
    BATCH_PREEMPTIONS,
)


def forget_model(model_id: str) -> None:
    """Drop the series of an unloaded model (a model loaded again starts them anew)."""
    for metric in _PER_MODEL:
        with contextlib.suppress(KeyError):
            metric.remove(model_id)


RPC_TOTAL = Counter(
    "ember_grpc_requests_total", "gRPC calls by method and status.", ["method", "code"]
)
RPC_SECONDS = Histogram(
    "ember_grpc_request_seconds",
    "gRPC call latency by method.",
    ["method"],
    buckets=_LATENCY_BUCKETS,
)
INFLIGHT = Gauge(
    "ember_inflight_requests",
    "Requests admitted and not yet answered.",
    multiprocess_mode="livesum",
)
REJECTED = Counter("ember_rejected_requests_total", "Requests refused by admission (overload).")
