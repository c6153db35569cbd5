"""uvicorn's HTTP/1.1 protocol (httptools) with a bounded request head and body pauses.

uvicorn puts no limit on the size of a request's line and headers, nor on how long a client
may take to send them or its body: one client sending a 64 MB header held the event loop for
seconds (the parser accumulates it), a client that connects and sends nothing holds a
connection forever, and so does one that stops halfway through its body. :func:`bounded_protocol`
makes a protocol class that answers

* **431** once a request's head passes ``max_head_bytes``: counted as bytes arrive (the
  parser is given at most one read past the limit), and measured when a head arrived whole;
* **408** when a head is not complete ``head_timeout_s`` after the connection opened or the
  request's first byte arrived (idle keep-alive connections keep uvicorn's own timeout);
* **408** when a body that has not arrived whole gets no bytes for ``body_timeout_s`` (the
  request's handler then sees the client gone);

and closes the connection. Body sizes are bounded by
:class:`~ember.gateway.middleware.BodyLimitMiddleware`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ember.gateway import errors

_REASONS = {431: b"Request Header Fields Too Large", 408: b"Request Timeout"}


class _RefusedError(Exception):
    """Raised from a parser callback to stop parsing a refused request."""


class BoundedHttpProtocol(HttpToolsProtocol):
    """See the module docstring; the limits are class attributes (:func:`bounded_protocol`)."""

    max_head_bytes = 64 * 1024
    head_timeout_s = 10.0
    body_timeout_s = 60.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._in_body = False
        self._head_bytes = 0
        self._timer: asyncio.TimerHandle | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.head_timeout_s, self._head_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_head:
            if self._timer is None:
                self._arm(self.head_timeout_s, self._head_timeout)
            self._head_bytes += len(data)
        super().data_received(data)
        if self._refused:
            return
        if self._in_head and self._head_bytes > self.max_head_bytes:
            self._too_large()
        elif self._in_body:
            # A body still incomplete after this read: its next bytes are due within the limit
            # (a body that arrived whole with its head never arms a timer).
            self._arm(self.body_timeout_s, self._body_timeout)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._in_body = True
        self._head_bytes = 0
        self._disarm()
        # A head that arrived whole in one read is measured here, before the app sees it.
        size = len(self.url) + sum(len(k) + len(v) + 4 for k, v in self.headers)
        if size > self.max_head_bytes:
            self._too_large()
            raise _RefusedError  # stops the parser (uvicorn then answers nothing more: see below)
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        if not self._refused:  # else the refusal is answered already
            super().send_400_response(msg)

    def _too_large(self) -> None:
        self._refuse(
            431,
            errors.HEADERS_TOO_LARGE,
            f"the request line and headers are larger than the limit of "
            f"{self.max_head_bytes} bytes",
        )

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True
        self._in_body = False
        self._head_bytes = 0
        self._disarm()

    def _arm(self, seconds: float, expire: Callable[[], None]) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, expire)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _body_timeout(self) -> None:
        self._timer = None
        if self._in_body and not self.transport.is_closing():
            self._refuse(
                408,
                errors.REQUEST_TIMEOUT,
                f"the request's body stopped arriving: no bytes for {self.body_timeout_s:g} "
                "seconds",
                path=str(self.scope.get("path", "/")),  # the route's error shape (OpenAI, TEI)
            )

    def _head_timeout(self) -> None:
        self._timer = None
        if self._in_head and not self.transport.is_closing():
            self._refuse(
                408,
                errors.REQUEST_TIMEOUT,
                f"the request's head was not received within {self.head_timeout_s:g} seconds",
            )

    def _refuse(self, status: int, kind: errors.ErrorKind, message: str, path: str = "/") -> None:
        self._refused = True
        self._disarm()
        body = errors.error_json(path, kind, message)
        head = b"HTTP/1.1 %d %s\r\n" % (status, _REASONS[status])
        head += b"content-type: application/json\r\ncontent-length: %d\r\n" % len(body)
        head += b"connection: close\r\n\r\n"
        self.transport.write(head + body)
        self.transport.close()


def bounded_protocol(
    max_head_bytes: int, head_timeout_s: float, body_timeout_s: float
) -> type[BoundedHttpProtocol]:
    """A :class:`BoundedHttpProtocol` class with these limits."""
    return type(
        "BoundedHttpProtocol",
        (BoundedHttpProtocol,),
        {
            "max_head_bytes": max_head_bytes,
            "head_timeout_s": head_timeout_s,
            "body_timeout_s": body_timeout_s,
        },
    )
