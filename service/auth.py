"""API keys on gRPC: the same keys as REST, sent as ``authorization: Bearer <key>`` metadata.

:class:`AuthInterceptor` runs first, before any request is read: a call without a valid key to
a service that is not open (health and reflection are, by default) ends UNAUTHENTICATED with a
message that names what to send and nothing about the keys.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from ember.gateway.security import ApiKeys

REFUSED = "missing or wrong API key: send 'authorization: Bearer <key>' metadata"


async def _refuse(_request: Any, context: Any) -> None:
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, REFUSED)


_BUILDERS = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


class AuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Requires one of ``keys`` on every call but those to ``open_services``."""

    def __init__(self, keys: ApiKeys, open_services: frozenset[str]) -> None:
        self._keys = keys
        self._open = open_services

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        method: str = handler_call_details.method
        service = method[1:].split("/", 1)[0]
        if service in self._open:
            return await continuation(handler_call_details)
        given = None
        for key, value in handler_call_details.invocation_metadata or ():
            if key == "authorization":
                given = value
                break
        handler = await continuation(handler_call_details)
        if handler is None or self._keys.check(given):
            return handler
        # Answered without reading the request (no deserializer): the caller learns only that
        # it must authenticate.
        build = _BUILDERS[(handler.request_streaming, handler.response_streaming)]
        return build(_refuse)
