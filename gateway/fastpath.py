"""The hot routes' fast path: valid requests skip FastAPI's per-request machinery.

A small embedding request spends more of the gateway's time in the framework (routing, the
request object, dependency solving, ``json.loads`` then model validation) than in Ember's own
code. :class:`FastPathMiddleware` sits inside the gateway's other middleware (request id and
metrics, auth, CORS, body limit: all still apply) and in front of FastAPI. For a POST to one of
the hot paths with a ``Content-Length`` it reads the body, validates it with the route's own
request model in one step (``model_validate_json``), sets ``scope["route"]`` to the route (for
the metrics label) and calls the route's own handler, which FastAPI's route calls as well.

Anything else — another path or method, a chunked body, a ``Content-Type`` that FastAPI does
not read as JSON (e.g. curl's default ``application/x-www-form-urlencoded``), a body that does
not validate, a client that disconnects while sending — goes to FastAPI with the body replayed
exactly as received, so errors are FastAPI's own answers in the route's shape (the OpenAPI
document and the error handling stay FastAPI's: this is a shortcut for valid requests, never a
second validator). Errors raised by the handler (upstream failures) are answered by the same
functions the app's exception handlers use.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

Handler = Callable[[Any, Request], Awaitable[Response]]
ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]


@dataclass(frozen=True)
class HotRoute:
    """A route served by the fast path: its request model, handler and FastAPI route object."""

    model: type[BaseModel]
    handler: Handler
    #: The FastAPI route, set as ``scope["route"]`` (what routing would set; metrics use it).
    route: object


class FastPathMiddleware:
    """See the module docstring. ``on_error`` answers an exception the handler raised, as the
    app's exception handlers would."""

    def __init__(self, app: ASGIApp, routes: dict[str, HotRoute], on_error: ErrorHandler) -> None:
        self.app = app
        self._routes = routes
        self._on_error = on_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hot = self._routes.get(scope["path"]) if scope["type"] == "http" else None
        if (
            hot is None
            or scope["method"] != "POST"
            or scope.get("root_path")
            or not _has_content_length(scope["headers"])
            or not _declares_json(scope["headers"])
        ):
            await self.app(scope, receive, send)
            return
        received: list[Message] = []
        chunks: list[bytes] = []
        while True:
            message = await receive()
            received.append(message)
            if message["type"] != "http.request":
                break  # the client went away: FastAPI sees the same messages
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        parsed = None
        if received[-1]["type"] == "http.request":
            try:
                parsed = hot.model.model_validate_json(b"".join(chunks))
            except ValidationError:
                parsed = None
        if parsed is None:
            await self.app(scope, _replay(received, receive), send)
            return
        scope["route"] = hot.route
        request = Request(scope, receive)
        try:
            response = await hot.handler(parsed, request)
        except Exception as exc:
            response = await self._on_error(request, exc)
        await response(scope, receive, send)


def _has_content_length(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    return any(key == b"content-length" for key, _ in headers)


def _declares_json(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """Whether FastAPI reads this request's body as JSON: no ``Content-Type``, or
    ``application/json`` / ``application/*+json`` (parameters such as ``charset`` aside)."""
    for key, value in headers:
        if key == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or (
                media.startswith(b"application/") and media.endswith(b"+json")
            )
    return True


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A receive that gives ``messages`` again, then reads on from ``receive``."""
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
