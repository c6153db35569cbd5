"""In-process calls: the service's unary RPCs invoked directly, without the gRPC transport.

When ``ember serve`` runs the REST gateway in its own process and event loop (the default,
``--http-workers 1``), every REST request used to cross two gRPC stacks over loopback: the
gateway's client (serialize, HTTP/2 frames, a call object and its task) and the server (a call,
its task, parse). For a small request those cost more than everything else on the path
(``benchmarks/overhead.py``). :class:`LocalCalls` hands the request message to the same
servicer method, wrapped by the same :class:`~ember.service.interceptors.ServiceInterceptor`
work (request id, metrics and access log, error mapping), so admission, validation and every
error are exactly those of a gRPC call; only the transport is skipped.

Differences from a call over the network, by design: messages are not copied (the service
must not mutate requests, and the gateway must not mutate answers — neither does); the gRPC
transport's message size limit (``--max-message-bytes``) does not apply (the gateway's own
``--max-body-bytes`` does); a failed call raises :class:`LocalRpcError`, which has a gRPC
error's ``code()`` and ``details()``; a deadline that passes cancels the call and raises
DEADLINE_EXCEEDED as the channel would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import grpc
from google.protobuf.message import Message

from ember.service.interceptors import REQUEST_ID_KEY

Behavior = Callable[[Any, Any], Awaitable[Any]]

_timeout = getattr(asyncio, "timeout", None)  # Python 3.11+: no extra task per call


class LocalRpcError(grpc.aio.AbortError, grpc.RpcError):
    """A failed in-process call: ``code()`` and ``details()`` as a gRPC error has them.

    It is also an ``AbortError``, what ``context.abort`` raises, so the interceptor passes it
    through as the call's final status."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self._code = code
        self._details = details

    def code(self) -> grpc.StatusCode:
        """The status code."""
        return self._code

    def details(self) -> str:
        """The status message."""
        return self._details


class LocalContext:
    """The part of ``grpc.aio.ServicerContext`` the service's unary path uses."""

    __slots__ = ("_code", "_metadata", "trailing_metadata")

    def __init__(self, request_id: str) -> None:
        self._metadata: tuple[tuple[str, str], ...] = (
            ((REQUEST_ID_KEY, request_id),) if request_id else ()
        )
        self._code: grpc.StatusCode | None = None
        self.trailing_metadata: tuple[tuple[str, str], ...] = ()

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        """The caller's metadata: its request id."""
        return self._metadata

    def set_trailing_metadata(self, metadata: tuple[tuple[str, str], ...]) -> None:
        """Kept for the caller to read (the request id echo)."""
        self.trailing_metadata = metadata

    async def abort(self, code: grpc.StatusCode, details: str = "", *_: object) -> None:
        """End the call with ``code``: raises :class:`LocalRpcError`."""
        self._code = code
        raise LocalRpcError(code, details)

    def code(self) -> grpc.StatusCode | None:
        """The status set by :meth:`abort`, else None (OK)."""
        return self._code


class LocalCalls:
    """The unary RPCs of this process's service by method path (``/pkg.Service/Method``)."""

    def __init__(self, behaviors: Mapping[str, Behavior]) -> None:
        self._behaviors = dict(behaviors)

    def __contains__(self, path: object) -> bool:
        return path in self._behaviors

    async def call(
        self, path: str, request: Message, *, timeout: float | None, request_id: str
    ) -> Any:
        """Run the RPC at ``path`` on ``request``; raises :class:`LocalRpcError` on failure.

        ``timeout`` (seconds, None for none) bounds the call as a gRPC deadline would.
        """
        behavior = self._behaviors.get(path)
        if behavior is None:
            raise LocalRpcError(grpc.StatusCode.UNIMPLEMENTED, f"no in-process method {path}")
        context = LocalContext(request_id)
        if timeout is None:
            return await behavior(request, context)
        try:
            if _timeout is not None:
                async with _timeout(timeout):
                    return await behavior(request, context)
            return await asyncio.wait_for(behavior(request, context), timeout)
        except (TimeoutError, asyncio.TimeoutError):
            raise LocalRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded") from None
