"""Plain ASGI middleware around every gateway request (no per-request task, no body copies).

* :class:`TracingMiddleware` (only when tracing is on): the request's span.
* :class:`ObservabilityMiddleware`: the request id (taken from ``x-baseten-customer-request-id``
  or ``x-request-id``, else generated; echoed on the answer) and the request metrics.
* :class:`AuthMiddleware`: ``Authorization: Bearer <key>`` when API keys are configured.
* :class:`BodyLimitMiddleware`: answers 413 for bodies over the limit, from
  ``Content-Length`` before anything is read, or as soon as a streamed body passes it.

Errors they answer take the route's error shape (:mod:`ember.gateway.errors`).
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Iterable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ember.gateway import errors, tracing
from ember.gateway.metrics import HTTP_LATENCY, HTTP_REQUESTS
from ember.gateway.security import ApiKeys

REQUEST_ID_KEY = "ember.request_id"
"""Where the request id lives in the ASGI scope."""

_REQUEST_ID_HEADERS = (b"x-baseten-customer-request-id", b"x-request-id")


def _header(scope: Scope, name: bytes) -> bytes | None:
    headers: Iterable[tuple[bytes, bytes]] = scope["headers"]
    for key, value in headers:
        if key == name:
            return value
    return None


async def _send_error(
    send: Send, path: str, kind: errors.ErrorKind, message: str, extra: list[Any] | None = None
) -> None:
    body = errors.error_json(path, kind, message)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send(
        {"type": "http.response.start", "status": kind.status, "headers": headers + (extra or [])}
    )
    await send({"type": "http.response.body", "body": body})


# Request ids made here: a random per-process prefix and a counter, as long as a uuid4 hex
# (32 characters) and unique, without a system call per request.
_ID_PREFIX = secrets.token_hex(10).encode()
_ID_COUNTER = itertools.count(1)


def new_request_id() -> bytes:
    """A fresh request id, unique within this process and unlikely to repeat across processes."""
    return b"%s%012x" % (_ID_PREFIX, next(_ID_COUNTER))


def _draining(scope: Scope) -> bool:
    """Whether the app shuts down (:meth:`ember.gateway.server.GatewayServer.begin_shutdown`)."""
    app = scope.get("app")
    state = getattr(app, "state", None)
    return bool(getattr(state, "draining", False))


class ObservabilityMiddleware:
    """Request id in and out, plus ``ember_http_requests`` / latency metrics per route."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Metric children by label values: ``labels()`` takes a lock and builds a key per call.
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._latencies: dict[str, Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        echoed: list[tuple[bytes, bytes]] = []
        request_id = b""
        for name in _REQUEST_ID_HEADERS:
            value = _header(scope, name)
            if value:
                echoed.append((name, value))
                request_id = request_id or value
        if not request_id:
            request_id = new_request_id()
            echoed.append((b"x-request-id", request_id))
        elif not any(name == b"x-request-id" for name, _ in echoed):
            echoed.append((b"x-request-id", request_id))
        scope[REQUEST_ID_KEY] = request_id.decode("latin-1")
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *echoed]
                if _draining(scope):
                    message["headers"].append((b"connection", b"close"))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            label = getattr(route, "path", None) or "unmatched"
            key = (label, scope["method"], status)
            counter = self._counters.get(key)
            if counter is None:
                counter = self._counters[key] = HTTP_REQUESTS.labels(
                    label, scope["method"], str(status)
                )
            counter.inc()
            latency = self._latencies.get(label)
            if latency is None:
                latency = self._latencies[label] = HTTP_LATENCY.labels(label)
            latency.observe(time.perf_counter() - start)


class TracingMiddleware:
    """A SERVER span per HTTP request (:mod:`ember.service.tracing`), the child of the caller's
    ``traceparent`` header; installed only when tracing is on. Named ``METHOD /route``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope.get("path", "")
        attributes = {"http.request.method": method, "url.path": path}
        with tracing.server_span(f"{method} {path}", scope["headers"], attributes) as span:
            status = 500

            async def send_status(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await self.app(scope, receive, send_status)
            finally:
                route = getattr(scope.get("route"), "path", None)
                if route:
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    from opentelemetry.trace import Status, StatusCode

                    span.set_status(Status(StatusCode.ERROR))


class AuthMiddleware:
    """Requires ``Authorization: Bearer <one of the keys>`` on every route but the open ones."""

    OPEN_PATHS = frozenset({"/health", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})

    def __init__(self, app: ASGIApp, keys: ApiKeys) -> None:
        self.app = app
        self._keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in self.OPEN_PATHS or path.startswith("/docs/assets/"):
            await self.app(scope, receive, send)
            return
        if not self._keys.check(_header(scope, b"authorization")):
            await _send_error(
                send,
                scope["path"],
                errors.UNAUTHORIZED,
                "missing or wrong API key: send 'Authorization: Bearer <key>'",
                [(b"www-authenticate", b"Bearer")],
            )
            return
        await self.app(scope, receive, send)


class BodyTooLarge(HTTPException):
    """A streamed body passed the limit; raised from ``receive`` into the route handler."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body is larger than the limit of {limit} bytes")


class BodyLimitMiddleware:
    """Answers 413 for bodies over ``max_bytes`` (Content-Length first, then counting)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                too_large = int(declared) > self.max_bytes
            except ValueError:
                too_large = False
            if too_large:
                await _send_error(
                    send,
                    scope["path"],
                    errors.BODY_TOO_LARGE,
                    f"request body of {int(declared)} bytes is larger than the limit of "
                    f"{self.max_bytes} bytes",
                    [(b"connection", b"close")],
                )
                return
        received = 0
        limit = self.max_bytes

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counting_receive, send)
