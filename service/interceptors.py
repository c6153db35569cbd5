"""The server interceptor: request ids, access log + metrics, error mapping — one per call.

:class:`ServiceInterceptor` does the three jobs around every RPC, in this order (outermost
first): it times and counts the call by method and final status (and logs a line per call if
asked); it takes the caller's ``x-request-id`` (or makes one), sets it for log lines and echoes
it in the trailers; and it maps exceptions to status codes — the one place where domain errors
become gRPC status codes (:func:`status_for`).

Why one hand-written interceptor rather than a chain of generic ones: a small request's whole
service path costs a few hundred microseconds, and a generic interceptor rebuilds a method
handler and several wrapper coroutines on every call (three of them cost ~80-100 us per call,
measured with ``benchmarks/overhead.py``). Here the wrapped handler of each method is built
once, on its first call, and reused: per call there is one extra coroutine frame, one
``perf_counter`` pair and two cached metric children.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import itertools
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc

from ember.engines.errors import EmberError
from ember.service import metrics

log = logging.getLogger("ember.access")
error_log = logging.getLogger(__name__)

#: The id of the call being served, for log lines.
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

REQUEST_ID_KEY = "x-request-id"

# Request ids made here: a random per-process prefix and a counter, as long as a uuid4 hex
# (32 characters) and unique, without a system call per request.
_ID_PREFIX = secrets.token_hex(10)
_ID_COUNTER = itertools.count(1)


def new_request_id() -> str:
    """A fresh request id, unique within this process and unlikely to repeat across processes."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER):012x}"


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status code and message a failed call ends with."""
    if isinstance(exc, EmberError):
        return grpc.StatusCode[exc.code.value], exc.message
    return grpc.StatusCode.INTERNAL, f"internal error ({type(exc).__name__}); see server logs"


Ctx = Any  # grpc.aio.ServicerContext, untyped in grpc's stubs for generic handlers


class _Method:
    """One RPC method's cached metric children and its access-log settings."""

    __slots__ = ("_log_each_call", "_seconds", "_totals", "name", "short")

    def __init__(self, name: str, log_each_call: bool) -> None:
        self.name = name
        self.short = name.rsplit("/", 1)[-1]
        self._log_each_call = log_each_call
        self._seconds = metrics.RPC_SECONDS.labels(self.short)
        self._totals: dict[str, Any] = {}

    def begin(self, context: Ctx) -> float:
        """Start a call: its request id (taken or made), set for logs and echoed in trailers."""
        rid = ""
        for key, value in context.invocation_metadata() or ():
            if key == REQUEST_ID_KEY:
                rid = str(value)
                break
        rid = rid or new_request_id()
        # Each call runs in its own task with its own context copy, so the value set here
        # cannot leak into other calls and needs no reset (streams read it later, too).
        request_id.set(rid)
        context.set_trailing_metadata(((REQUEST_ID_KEY, rid),))
        return time.perf_counter()

    def end(self, context: Ctx, start: float, cancelled: bool) -> None:
        """Count and time the call by its final status; log it if asked."""
        elapsed = time.perf_counter() - start
        if cancelled:
            code = "CANCELLED"
        else:
            status = context.code()
            code = status.name if isinstance(status, grpc.StatusCode) else "OK"
        counter = self._totals.get(code)
        if counter is None:
            counter = self._totals[code] = metrics.RPC_TOTAL.labels(self.short, code)
        counter.inc()
        self._seconds.observe(elapsed)
        if self._log_each_call:
            log.info("%s %s %.1fms [%s]", self.name, code, elapsed * 1e3, request_id.get())

    async def abort(self, exc: Exception, context: Ctx) -> None:
        """End the call with the status ``exc`` maps to (raises AbortError)."""
        code, message = status_for(exc)
        if code == grpc.StatusCode.INTERNAL:
            error_log.error("%s failed [%s]", self.name, request_id.get(), exc_info=exc)
        await context.abort(code, message)


def _wrap_call(method: _Method, behavior: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
    """Wrap a behavior that is a coroutine function (unary answers, or writes via context)."""

    async def call(request: Any, context: Ctx) -> Any:
        start = method.begin(context)
        cancelled = False
        try:
            return await behavior(request, context)
        except grpc.aio.AbortError:
            raise
        except asyncio.CancelledError:
            cancelled = True
            raise
        except Exception as exc:
            await method.abort(exc, context)
        finally:
            method.end(context, start, cancelled)

    return call


def _wrap_stream(
    method: _Method, behavior: Callable[..., AsyncIterator[Any]]
) -> Callable[..., Any]:
    """Wrap a behavior that is an async generator (streamed answers)."""

    async def call(request: Any, context: Ctx) -> AsyncIterator[Any]:
        start = method.begin(context)
        cancelled = False
        try:
            async for response in behavior(request, context):
                yield response
        except grpc.aio.AbortError:
            raise
        except asyncio.CancelledError:
            cancelled = True
            raise
        except Exception as exc:
            await method.abort(exc, context)
        finally:
            method.end(context, start, cancelled)

    return call


if TYPE_CHECKING:  # grpc's stubs make these generic; the runtime classes are not
    Handler = grpc.RpcMethodHandler[Any, Any]
    _Interceptor = grpc.aio.ServerInterceptor[Any, Any]
else:
    _Interceptor = grpc.aio.ServerInterceptor

_KINDS = ("unary_unary", "unary_stream", "stream_unary", "stream_stream")


class ServiceInterceptor(_Interceptor):
    """Access log + metrics, request ids and error mapping for every RPC of the server.

    The method handlers of a server are fixed once it starts, so the wrapped handler of each
    method is built on its first call and reused.
    """

    def __init__(self, log_each_call: bool) -> None:
        self._log_each_call = log_each_call
        self._handlers: dict[str, Handler] = {}
        self._methods: dict[str, _Method] = {}

    def _method(self, name: str) -> _Method:
        method = self._methods.get(name)
        if method is None:
            method = self._methods[name] = _Method(name, self._log_each_call)
        return method

    def wrap_unary(
        self, name: str, behavior: Callable[[Any, Any], Awaitable[Any]]
    ) -> Callable[[Any, Any], Awaitable[Any]]:
        """``behavior`` (a unary servicer method) with this interceptor's work around it, for
        callers that invoke it without the gRPC transport (:mod:`ember.service.local`)."""
        wrapped: Callable[[Any, Any], Awaitable[Any]] = _wrap_call(self._method(name), behavior)
        return wrapped

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler:
        name: str = handler_call_details.method
        wrapped = self._handlers.get(name)
        if wrapped is None:
            handler = await continuation(handler_call_details)
            if handler is None:  # unknown method: nothing to wrap (and nothing cached)
                return handler
            wrapped = self._handlers[name] = self._wrap(name, handler)
        return wrapped

    def _wrap(self, name: str, handler: Any) -> Any:
        method = self._method(name)
        for kind in _KINDS:
            behavior = getattr(handler, kind, None)
            if behavior is None:
                continue
            if inspect.isasyncgenfunction(behavior):
                return handler._replace(**{kind: _wrap_stream(method, behavior)})
            if inspect.iscoroutinefunction(behavior):
                return handler._replace(**{kind: _wrap_call(method, behavior)})
            return handler  # a synchronous behavior (none here): grpc runs it on a thread
        return handler
