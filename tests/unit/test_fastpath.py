"""The gateway's fast path (pure ASGI, no server): what it serves itself and what it hands to
FastAPI, with the body replayed exactly as received."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import Response

from ember.gateway.fastpath import FastPathMiddleware, HotRoute

Message = dict[str, Any]


class Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")
    input: list[int]


class Recorder:
    """The app behind the fast path (FastAPI in the gateway): records what reaches it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[Message]]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        messages = []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        self.calls.append((scope["path"], messages))
        await Response(b"from-app", status_code=299)(scope, receive, send)


def _scope(path: str, body_length: int | None, method: str = "POST") -> dict[str, Any]:
    headers = [(b"content-type", b"application/json")]
    if body_length is not None:
        headers.append((b"content-length", str(body_length).encode()))
    return {"type": "http", "method": method, "path": path, "headers": headers, "root_path": ""}


async def _drive(
    middleware: FastPathMiddleware, scope: dict[str, Any], messages: list[Message]
) -> list[Message]:
    pending = list(messages)
    sent: list[Message] = []

    async def receive() -> Message:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await middleware(scope, receive, send)
    return sent


def _middleware(handled: list[Any]) -> tuple[FastPathMiddleware, Recorder]:
    async def handler(body: Body, request: Request) -> Response:
        handled.append((body, request.scope.get("route")))
        if body.input == [13]:
            raise ValueError("boom")
        return Response(b"from-fast-path", status_code=200)

    async def on_error(request: Request, exc: Exception) -> Response:
        return Response(f"error {type(exc).__name__}".encode(), status_code=500)

    app = Recorder()
    route = object()
    table = {"/hot": HotRoute(Body, handler, route)}
    return FastPathMiddleware(app, table, on_error), app


def _status_body(sent: list[Message]) -> tuple[int, bytes]:
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


async def test_valid_body_is_served_by_the_route_handler_without_the_app() -> None:
    handled: list[Any] = []
    middleware, app = _middleware(handled)
    body = b'{"input": [1, 2, 3], "extra": true}'
    sent = await _drive(
        middleware, _scope("/hot", len(body)), [{"type": "http.request", "body": body}]
    )
    assert _status_body(sent) == (200, b"from-fast-path")
    assert app.calls == []
    assert handled[0][0] == Body(input=[1, 2, 3])
    assert handled[0][1] is middleware._routes["/hot"].route  # the metrics label's source


async def test_a_body_in_several_chunks_is_joined() -> None:
    handled: list[Any] = []
    middleware, app = _middleware(handled)
    parts = [b'{"inp', b'ut": [7', b"]}"]
    messages: list[Message] = [
        {"type": "http.request", "body": p, "more_body": i < 2} for i, p in enumerate(parts)
    ]
    sent = await _drive(middleware, _scope("/hot", sum(map(len, parts))), messages)
    assert _status_body(sent)[0] == 200
    assert handled[0][0].input == [7]
    assert app.calls == []


@pytest.mark.parametrize(
    "body",
    [
        b'{"input": ["not", "ids"]}',  # the model refuses it
        b'{"input": [1, 2',  # malformed JSON
        b"",  # no body
        b'{"input": "1"}',  # strict: no coercion
        b"\xff\xfe",  # not UTF-8
    ],
)
async def test_invalid_bodies_go_to_the_app_replayed_exactly(body: bytes) -> None:
    handled: list[Any] = []
    middleware, app = _middleware(handled)
    messages: list[Message] = [
        {"type": "http.request", "body": body[:3], "more_body": True},
        {"type": "http.request", "body": body[3:], "more_body": False},
    ]
    sent = await _drive(middleware, _scope("/hot", len(body)), [dict(m) for m in messages])
    assert _status_body(sent) == (299, b"from-app")
    assert handled == []
    assert app.calls == [("/hot", messages)]


@pytest.mark.parametrize(
    ("path", "length", "method"),
    [("/cold", 14, "POST"), ("/hot", None, "POST"), ("/hot", 14, "PUT")],
    ids=["other path", "chunked (no content-length)", "other method"],
)
async def test_other_requests_go_to_the_app_untouched(
    path: str, length: int | None, method: str
) -> None:
    handled: list[Any] = []
    middleware, app = _middleware(handled)
    messages: list[Message] = [{"type": "http.request", "body": b'{"input": [1]}'}]
    sent = await _drive(middleware, _scope(path, length, method), [dict(m) for m in messages])
    assert _status_body(sent) == (299, b"from-app")
    assert handled == []
    assert app.calls == [(path, messages)]


async def test_client_gone_while_sending_goes_to_the_app_with_the_same_messages() -> None:
    handled: list[Any] = []
    middleware, app = _middleware(handled)
    messages: list[Message] = [
        {"type": "http.request", "body": b'{"inp', "more_body": True},
        {"type": "http.disconnect"},
    ]
    await _drive(middleware, _scope("/hot", 14), [dict(m) for m in messages])
    assert handled == []
    assert app.calls == [("/hot", messages)]


async def test_a_handler_error_is_answered_by_on_error() -> None:
    handled: list[Any] = []
    middleware, app = _middleware(handled)
    body = b'{"input": [13]}'
    sent = await _drive(
        middleware, _scope("/hot", len(body)), [{"type": "http.request", "body": body}]
    )
    assert _status_body(sent) == (500, b"error ValueError")
    assert app.calls == []
