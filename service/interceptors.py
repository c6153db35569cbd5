"""Server interceptors (grpc-interceptor): request ids, access log + metrics, error mapping.

Order matters: :class:`AccessLogInterceptor` is outermost (it sees the final status),
:class:`RequestIdInterceptor` next, :class:`ErrorInterceptor` innermost, next to the servicer.
The error interceptor is the one place where domain errors become gRPC status codes.
"""

from __future__ import annotations

import contextvars
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from grpc_interceptor.server import AsyncServerInterceptor

from ember.engines.errors import EmberError
from ember.service import metrics

log = logging.getLogger("ember.access")
error_log = logging.getLogger(__name__)

#: The id of the call being served, for log lines.
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

REQUEST_ID_KEY = "x-request-id"


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status code and message a failed call ends with."""
    if isinstance(exc, EmberError):
        return grpc.StatusCode[exc.code.value], exc.message
    return grpc.StatusCode.INTERNAL, f"internal error ({type(exc).__name__}); see server logs"


def _is_stream(result: Any) -> bool:
    return hasattr(result, "__aiter__")


class ErrorInterceptor(AsyncServerInterceptor):
    """Map exceptions to status codes: EmberError -> its code; anything else -> INTERNAL."""

    async def intercept(
        self, method: Callable[..., Any], request_or_iterator: Any, context: Any, method_name: str
    ) -> Any:
        try:
            result = method(request_or_iterator, context)
            if _is_stream(result):
                return self._stream(result, context, method_name)
            return await result
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await self._abort(exc, context, method_name)

    async def _stream(
        self, responses: AsyncIterator[Any], context: Any, method_name: str
    ) -> AsyncIterator[Any]:
        try:
            async for response in responses:
                yield response
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await self._abort(exc, context, method_name)

    @staticmethod
    async def _abort(exc: Exception, context: Any, method_name: str) -> None:
        code, message = status_for(exc)
        if code == grpc.StatusCode.INTERNAL:
            error_log.error("%s failed [%s]", method_name, request_id.get(), exc_info=exc)
        await context.abort(code, message)


class RequestIdInterceptor(AsyncServerInterceptor):
    """Take the caller's ``x-request-id`` (or make one), log with it and echo it in trailers."""

    async def intercept(
        self, method: Callable[..., Any], request_or_iterator: Any, context: Any, method_name: str
    ) -> Any:
        rid = ""
        for key, value in context.invocation_metadata() or ():
            if key == REQUEST_ID_KEY:
                rid = str(value)
                break
        # Each call runs in its own task with its own context copy, so the value set here
        # cannot leak into other calls and needs no reset (streams read it later, too).
        request_id.set(rid or uuid.uuid4().hex)
        context.set_trailing_metadata(((REQUEST_ID_KEY, request_id.get()),))
        result = method(request_or_iterator, context)
        if _is_stream(result):
            return result
        return await result


class AccessLogInterceptor(AsyncServerInterceptor):
    """Count and time every call by method and final status; log a line per call if asked."""

    def __init__(self, log_each_call: bool) -> None:
        self._log_each_call = log_each_call

    async def intercept(
        self, method: Callable[..., Any], request_or_iterator: Any, context: Any, method_name: str
    ) -> Any:
        start = time.perf_counter()
        result: Any = None
        try:
            result = method(request_or_iterator, context)
            if _is_stream(result):
                return self._stream(result, context, method_name, start)
            result = await result
            return result
        finally:
            if not _is_stream(result):
                self._record(context, method_name, start)

    async def _stream(
        self, responses: AsyncIterator[Any], context: Any, method_name: str, start: float
    ) -> AsyncIterator[Any]:
        try:
            async for response in responses:
                yield response
        finally:
            self._record(context, method_name, start)

    def _record(self, context: Any, method_name: str, start: float) -> None:
        elapsed = time.perf_counter() - start
        code = context.code()
        name = code.name if isinstance(code, grpc.StatusCode) else "OK"
        short = method_name.rsplit("/", 1)[-1]
        metrics.RPC_TOTAL.labels(short, name).inc()
        metrics.RPC_SECONDS.labels(short).observe(elapsed)
        if self._log_each_call:
            log.info("%s %s %.1fms [%s]", method_name, name, elapsed * 1e3, request_id.get())
