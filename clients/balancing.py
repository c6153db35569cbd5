"""Client-side balancing for plain replicas: channel targets, the gRPC service config
(``round_robin``, retry policy, keep-alive) and the retry rules the REST client follows.

Which calls are retried: every **unary** RPC of Ember's inference and model services is a
pure function of its request (``Embed``, ``EmbedSparse``, ``Similarity``, ``EmbedTokens``,
``Encode``, ``Classify``, ``Rerank``, ``PredictTokens``, ``GetModelInfo``, ``Tokenize``,
``Decode``, ``ListModels``, ``grpc.health.v1.Health/Check``; :func:`unary_methods` reads them
from the protos, so a new RPC is covered): sending it twice gives the same answer and changes
nothing, so it is safe to retry on
another replica or to hedge. The retryable statuses are ``UNAVAILABLE`` (the replica is gone,
draining or unreachable) and ``RESOURCE_EXHAUSTED`` (admission refused it: overloaded); every
other status is final (``INVALID_ARGUMENT`` would fail again everywhere). The bidirectional
streams (``EmbedStream`` and the other ``*Stream`` RPCs) are not retried by the channel: an
answer may already have been read, and the stream's own rule is "resend the batches that
have no answer" (README: Streaming). Neither are ``JobService`` and ``AdminService`` calls
(submitting a job or loading a model twice is not the same as once).

gRPC's C core (which grpcio wraps) implements ``retryPolicy`` but not ``hedgingPolicy``
(gRFC A6), so hedging is done by the clients themselves (:class:`Hedging`).
"""

from __future__ import annotations

import email.utils
import ipaddress
import json
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from grpc_health.v1 import health_pb2

from ember.v1 import classify_pb2, embed_pb2, model_pb2, rerank_pb2, token_classification_pb2


def unary_methods() -> list[tuple[str, Any]]:
    """(service full name, method descriptor) of every idempotent unary RPC: each unary RPC of
    the inference and model services, and ``grpc.health.v1.Health/Check``."""
    health = health_pb2.DESCRIPTOR.services_by_name["Health"]
    services = [
        embed_pb2.DESCRIPTOR.services_by_name["EmbedService"],
        classify_pb2.DESCRIPTOR.services_by_name["ClassifyService"],
        rerank_pb2.DESCRIPTOR.services_by_name["RerankService"],
        token_classification_pb2.DESCRIPTOR.services_by_name["TokenClassificationService"],
        model_pb2.DESCRIPTOR.services_by_name["ModelService"],
        health,
    ]
    return [
        (service.full_name, method)
        for service in services
        for method in service.methods
        if not (method.client_streaming or method.server_streaming)
        and (service is not health or method.name == "Check")
    ]


def _by_service() -> dict[str, tuple[str, ...]]:
    methods = unary_methods()
    return {service: tuple(m.name for s, m in methods if s == service) for service, _ in methods}


#: The unary RPCs of each service: idempotent, hence retried and hedged.
UNARY_RPCS: dict[str, tuple[str, ...]] = _by_service()

#: The gRPC statuses a call is retried on (any replica may answer the next attempt).
RETRYABLE_CODES = ("UNAVAILABLE", "RESOURCE_EXHAUSTED")
#: The HTTP statuses the REST client retries (429: overloaded, 503: draining / unavailable).
RETRYABLE_HTTP = frozenset({429, 503})
_SERVER_ERRORS = frozenset({500, 502, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of a failed call on :data:`RETRYABLE_CODES` (or HTTP 429/503 and lost
    connections), with exponential backoff and full jitter: attempt ``n`` waits a random time
    up to ``min(initial_backoff_s * multiplier**(n-1), max_backoff_s)``. A server's retry
    pushback (gRPC ``grpc-retry-pushback-ms``, HTTP ``Retry-After``) replaces the backoff.

    ``max_attempts`` counts the first call; gRPC caps it at 5."""

    max_attempts: int = 5
    initial_backoff_s: float = 0.05
    max_backoff_s: float = 2.0
    multiplier: float = 2.0
    #: Also retry ``INTERNAL`` / HTTP 500, 502, 504: what Ray Serve's proxy answers for a call
    #: whose replica died under it (and Ember for an engine failure). Safe for Ember's calls
    #: (all idempotent), at the cost of repeating a call that fails the same everywhere. The
    #: gRPC clients retry ``INTERNAL`` themselves, not through the channel: the proxy sends
    #: response headers early, which commits a call in gRPC's eyes (no channel retry after).
    server_errors: bool = False

    def __post_init__(self) -> None:
        if not 2 <= self.max_attempts <= 5:
            raise ValueError(f"max_attempts must be 2..5 (gRPC's cap), got {self.max_attempts}")
        if self.initial_backoff_s <= 0 or self.max_backoff_s < self.initial_backoff_s:
            raise ValueError("need 0 < initial_backoff_s <= max_backoff_s")
        if self.multiplier < 1:
            raise ValueError(f"multiplier must be >= 1, got {self.multiplier}")

    def grpc_codes(self) -> tuple[str, ...]:
        """The gRPC statuses retried."""
        return (*RETRYABLE_CODES, "INTERNAL") if self.server_errors else RETRYABLE_CODES

    def http_statuses(self) -> frozenset[int]:
        """The HTTP statuses retried."""
        return RETRYABLE_HTTP | _SERVER_ERRORS if self.server_errors else RETRYABLE_HTTP

    def backoff_s(self, attempt: int) -> float:
        """The longest wait before attempt ``attempt + 1`` (``attempt`` >= 1 failed)."""
        return float(
            min(self.initial_backoff_s * self.multiplier ** (attempt - 1), self.max_backoff_s)
        )


@dataclass(frozen=True)
class Hedging:
    """Hedged unary calls for latency-critical use: when the first attempt has not answered
    after ``delay_s``, send the same request again (round robin puts it on another replica),
    up to ``max_attempts`` in flight; the first success wins and the others are cancelled
    (the server drops work whose caller has gone). A final error (e.g. ``INVALID_ARGUMENT``)
    also ends the call at once. Costs up to ``max_attempts`` times the work on slow calls."""

    delay_s: float = 0.05
    max_attempts: int = 2

    def __post_init__(self) -> None:
        if self.delay_s < 0:
            raise ValueError(f"delay_s must be >= 0, got {self.delay_s}")
        if self.max_attempts < 2:
            raise ValueError(f"max_attempts must be >= 2, got {self.max_attempts}")


def _duration(seconds: float) -> str:
    return f"{seconds:.6f}".rstrip("0").rstrip(".") + "s"


def service_config(retry: RetryPolicy | None) -> str:
    """The channel's service config (JSON): ``round_robin`` over every resolved address, and
    ``retry``'s policy on the unary RPCs."""
    config: dict[str, object] = {"loadBalancingConfig": [{"round_robin": {}}]}
    if retry is not None:
        names = [
            {"service": service, "method": method}
            for service, methods in UNARY_RPCS.items()
            for method in methods
        ]
        config["methodConfig"] = [
            {
                "name": names,
                "retryPolicy": {
                    "maxAttempts": retry.max_attempts,
                    "initialBackoff": _duration(retry.initial_backoff_s),
                    "maxBackoff": _duration(retry.max_backoff_s),
                    "backoffMultiplier": retry.multiplier,
                    "retryableStatusCodes": list(RETRYABLE_CODES),
                },
            }
        ]
    return json.dumps(config)


#: Requests up to this size stay buffered for a retry (grpc-core's default is 256 KiB, which
#: would make a large batch silently unretryable).
_RETRY_BUFFER_BYTES = 16 * 1024 * 1024


def channel_options(
    retry: RetryPolicy | None, keepalive_s: float | None
) -> list[tuple[str, str | int]]:
    """grpc-core options for a balanced channel. Keep-alive pings every ``keepalive_s`` (also
    while idle) find a replica that vanished without closing its connection; Ember servers
    accept pings every 10 s or slower."""
    options: list[tuple[str, str | int]] = [
        ("grpc.service_config", service_config(retry)),
        ("grpc.enable_retries", 1 if retry is not None else 0),
        ("grpc.per_rpc_retry_buffer_size", _RETRY_BUFFER_BYTES),
    ]
    if keepalive_s is not None:
        if keepalive_s < 10:
            raise ValueError(f"keepalive_s must be >= 10 (the server's ping limit): {keepalive_s}")
        options += [
            ("grpc.keepalive_time_ms", round(keepalive_s * 1000)),
            ("grpc.keepalive_timeout_ms", 10_000),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.max_pings_without_data", 0),
        ]
    return options


def _split_host_port(target: str) -> tuple[str, int]:
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"target {target!r} is not host:port")
    return host.strip("[]"), int(port)


def _addresses(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ValueError(f"cannot resolve {host!r}: {exc}") from None
    found = [ipaddress.ip_address(info[4][0]) for info in infos]
    # One family per name: a server bound to 127.0.0.1 does not answer on ::1.
    v4 = [a for a in found if a.version == 4]
    return list(dict.fromkeys(v4 or found))


def channel_target(targets: str | Sequence[str]) -> str:
    """The gRPC target for one target string (used as given: ``host:port``, ``dns:///name:port``
    resolving to several addresses, ``ipv4:a:p,b:p``) or several ``host:port`` replicas: an
    ``ipv4:`` / ``ipv6:`` address list (names are resolved once, here; use a ``dns:///`` name
    for a set that changes)."""
    if isinstance(targets, str):
        return targets
    if not targets:
        raise ValueError("no targets given")
    entries: list[tuple[int, str]] = []
    for target in targets:
        host, port = _split_host_port(target)
        for address in _addresses(host, port):
            text = f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"
            entries.append((address.version, text))
    versions = {version for version, _ in entries}
    if len(versions) != 1:
        raise ValueError("targets mix IPv4 and IPv6 addresses: give one family (or a dns name)")
    scheme = "ipv4" if versions == {4} else "ipv6"
    return f"{scheme}:" + ",".join(dict.fromkeys(text for _, text in entries))


def retry_after_s(value: str | None, now: float | None = None) -> float | None:
    """Seconds from an HTTP ``Retry-After`` value (delay-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
