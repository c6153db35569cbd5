"""The server interceptors, built with grpc-interceptor: tracing, access log + metrics, request
ids, error mapping, request decoding.

Outermost first: :class:`TracingInterceptor` (only when tracing is on) opens the call's span;
:class:`AccessLogInterceptor` times and counts every call by method and final
status (and logs a line per call if asked); :class:`RequestIdInterceptor` takes the caller's
``x-request-id`` (or makes one), sets it for log lines and echoes it in the trailers;
:class:`ErrorInterceptor` is the one place where domain errors become gRPC status codes
(:func:`status_for`), with a structured detail (:mod:`ember.service.error_details`);
:class:`DecodeInterceptor`, innermost, turns request bytes that do not parse as the method's
message into INVALID_ARGUMENT (grpc's own answer would be UNKNOWN, or INTERNAL for a stream).
:class:`ServiceInterceptor` holds the chain.

Each is a grpc-interceptor ``AsyncServerInterceptor`` (``intercept(method, request, context,
method_name)``) on :class:`CachedServerInterceptor`, which builds each method's wrapped handler
once instead of on every call: a small request's whole service path costs a few hundred
microseconds, and rebuilding handlers per call cost ~80-100 us for the three
(``benchmarks/overhead_micro.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import itertools
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc
from grpc_interceptor.server import AsyncServerInterceptor

from ember.engines.errors import EmberError, InvalidInputError, NotReadyError
from ember.gateway import tracing
from ember.service import metrics
from ember.service.drain import EXPIRED, Drain
from ember.service.error_details import DETAILS_KEY, status_details

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
            rid = request_id.get()
            ms = elapsed * 1e3
            # the same values as record attributes, for --log-format json
            fields = {
                "rpc": self.name,
                "code": code,
                "duration_ms": round(ms, 1),
                "request_id": rid,
            }
            log.info("%s %s %.1fms [%s]", self.name, code, ms, rid, extra=fields)


if TYPE_CHECKING:  # grpc's stubs make this generic; the runtime class is not
    Handler = grpc.RpcMethodHandler[Any, Any]

_KINDS = ("unary_unary", "unary_stream", "stream_unary", "stream_stream")


class CachedServerInterceptor(AsyncServerInterceptor):
    """grpc-interceptor's asyncio interceptor, with each method's wrapped handler built once.

    Subclasses implement grpc-interceptor's ``intercept(method, request_or_iterator, context,
    method_name)``. The base class rebuilds a method handler and its wrapper closures on every
    call (measured: ~25-35 us per interceptor per call); the handlers of a server are fixed
    once it starts, so here they are wrapped on a method's first call and reused.
    """

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

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
            wrapped = self._handlers[name] = self._wrap_handler(name, handler)
        return wrapped

    def _wrap_handler(self, name: str, handler: Any) -> Any:
        for kind in _KINDS:
            behavior = getattr(handler, kind, None)
            if behavior is None:
                continue
            if inspect.isasyncgenfunction(behavior):
                return handler._replace(**{kind: self._stream(name, behavior)})
            if inspect.iscoroutinefunction(behavior):
                return handler._replace(**{kind: self.wrap_unary(name, behavior)})
            return handler  # a synchronous behavior (none here): grpc runs it on a thread
        return handler

    def wrap_unary(
        self, name: str, behavior: Callable[[Any, Any], Awaitable[Any]]
    ) -> Callable[[Any, Any], Awaitable[Any]]:
        """``behavior`` with this interceptor around it (also used for in-process calls,
        :mod:`ember.service.local`)."""

        async def call(request: Any, context: Ctx) -> Any:
            return await self.intercept(behavior, request, context, name)

        return call

    def _stream(self, name: str, behavior: Callable[..., AsyncIterator[Any]]) -> Any:
        async def call(request: Any, context: Ctx) -> AsyncIterator[Any]:
            responses = await self.intercept(behavior, request, context, name)
            async for response in responses:
                yield response

        return call


def _is_stream(result: Any) -> bool:
    return hasattr(result, "__aiter__")


class AccessLogInterceptor(CachedServerInterceptor):
    """Counts and times every call by method and final status; logs a line per call if asked."""

    def __init__(self, log_each_call: bool) -> None:
        super().__init__()
        self._log_each_call = log_each_call
        self._methods: dict[str, _Method] = {}

    def _method(self, name: str) -> _Method:
        method = self._methods.get(name)
        if method is None:
            method = self._methods[name] = _Method(name, self._log_each_call)
        return method

    async def intercept(
        self, method: Callable[..., Any], request_or_iterator: Any, context: Ctx, method_name: str
    ) -> Any:
        record = self._method(method_name)
        start = time.perf_counter()
        result = method(request_or_iterator, context)
        if _is_stream(result):
            return self._timed_stream(result, record, context, start)
        cancelled = False
        try:
            return await result
        except asyncio.CancelledError:
            cancelled = True
            raise
        finally:
            record.end(context, start, cancelled)

    @staticmethod
    async def _timed_stream(
        responses: AsyncIterator[Any], record: _Method, context: Ctx, start: float
    ) -> AsyncIterator[Any]:
        cancelled = False
        try:
            async for response in responses:
                yield response
        except asyncio.CancelledError:
            cancelled = True
            raise
        finally:
            record.end(context, start, cancelled)


class RequestIdInterceptor(CachedServerInterceptor):
    """Takes the caller's ``x-request-id`` (or makes one), sets it for log lines and echoes it
    in the trailers."""

    async def intercept(
        self, method: Callable[..., Any], request_or_iterator: Any, context: Ctx, method_name: str
    ) -> Any:
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
        result = method(request_or_iterator, context)
        return result if _is_stream(result) else await result


class ErrorInterceptor(CachedServerInterceptor):
    """The one place where exceptions become status codes: an :class:`EmberError` ends the
    call with its code and message, anything else with INTERNAL (logged with a traceback).

    It also keeps the :class:`Drain`'s count of Ember calls in flight: once shutdown begins a
    new call is answered UNAVAILABLE, and a call cancelled because the grace ran out
    (:meth:`Drain.expire`) is answered UNAVAILABLE too, never dropped."""

    def __init__(self, drain: Drain) -> None:
        super().__init__()
        self._drain = drain

    async def intercept(
        self, method: Callable[..., Any], request_or_iterator: Any, context: Ctx, method_name: str
    ) -> Any:
        drained = method_name.startswith(_DRAINED_PREFIX)
        try:
            if drained:
                self._drain.refuse_if_draining()
            result = method(request_or_iterator, context)
            if _is_stream(result):
                return self._mapped_stream(result, context, method_name, drained)
            if not drained:
                return await result
            with self._drain.track():
                try:
                    return await result
                except asyncio.CancelledError:
                    if not self._drain.expired:
                        raise
                    _uncancel()
                    raise NotReadyError(EXPIRED) from None
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await _abort(exc, context, method_name)

    async def _mapped_stream(
        self, responses: AsyncIterator[Any], context: Ctx, method_name: str, drained: bool
    ) -> AsyncIterator[Any]:
        tracking = self._drain.track() if drained else contextlib.nullcontext()
        try:
            with tracking:
                try:
                    async for response in responses:
                        yield response
                except asyncio.CancelledError:
                    if not (drained and self._drain.expired):
                        raise
                    _uncancel()
                    raise NotReadyError(EXPIRED) from None
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await _abort(exc, context, method_name)


#: Calls the drain counts and refuses: Ember's own services (health and reflection stay open
#: until the transport closes).
_DRAINED_PREFIX = "/ember."


def _uncancel() -> None:
    """Forget the cancellation being handled, so the call can still send its answer."""
    task = asyncio.current_task()
    uncancel = getattr(task, "uncancel", None)  # Python 3.11+
    if uncancel is not None:
        uncancel()


#: The trailer gRPC clients read as "retry after this many milliseconds" (gRFC A6 retry
#: pushback), sent with the retryable statuses below.
RETRY_PUSHBACK_KEY = "grpc-retry-pushback-ms"
RETRY_AFTER_MS = {grpc.StatusCode.RESOURCE_EXHAUSTED: 100, grpc.StatusCode.UNAVAILABLE: 1000}


async def _abort(exc: Exception, context: Ctx, method_name: str) -> None:
    """End the call with the status ``exc`` maps to (raises AbortError); retryable statuses
    carry a retry pushback trailer."""
    code, message = status_for(exc)
    rid = request_id.get()
    if code == grpc.StatusCode.INTERNAL:
        error_log.error("%s failed [%s]", method_name, rid, exc_info=exc)
    # Trailers given to abort replace those set before: the request id echo is repeated.
    trailers: tuple[tuple[str, str | bytes], ...] = (
        (REQUEST_ID_KEY, rid),
        (DETAILS_KEY, status_details(code, message, exc, rid)),
    )
    retry_ms = RETRY_AFTER_MS.get(code)
    if retry_ms is not None:
        trailers += ((RETRY_PUSHBACK_KEY, str(retry_ms)),)
    await context.abort(code, message, trailers)


class Undecodable:
    """What :func:`lenient` gives instead of a message for bytes that do not parse."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def lenient(deserialize: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    """``deserialize`` that returns :class:`Undecodable` instead of raising: grpc turns a
    deserializer's exception into UNKNOWN (INTERNAL within a stream), before any interceptor
    or servicer could say what was wrong."""

    def parse(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception as exc:  # DecodeError, and anything a generic deserializer raises
            return Undecodable(type(exc).__name__)

    return parse


def _undecodable(method_name: str, found: Undecodable) -> InvalidInputError:
    return InvalidInputError(
        f"the request is not a valid {method_name.rsplit('/', 1)[-1]} message: its bytes do "
        f"not parse as the method's protobuf type ({found.reason})"
    )


async def _checked(requests: AsyncIterator[Any], method_name: str) -> AsyncIterator[Any]:
    async for request in requests:
        if isinstance(request, Undecodable):
            raise _undecodable(method_name, request)
        yield request


class DecodeInterceptor(CachedServerInterceptor):
    """Installs :func:`lenient` as every method's request deserializer and raises
    INVALID_ARGUMENT (through :class:`ErrorInterceptor`, outside it) where a request, or a
    message of a request stream, did not parse."""

    def _wrap_handler(self, name: str, handler: Any) -> Any:
        deserialize = getattr(handler, "request_deserializer", None)
        if deserialize is None:
            return handler
        handler = handler._replace(request_deserializer=lenient(deserialize))
        return super()._wrap_handler(name, handler)

    async def intercept(
        self, method: Callable[..., Any], request_or_iterator: Any, context: Ctx, method_name: str
    ) -> Any:
        if isinstance(request_or_iterator, Undecodable):
            raise _undecodable(method_name, request_or_iterator)
        if hasattr(request_or_iterator, "__aiter__"):
            request_or_iterator = _checked(request_or_iterator, method_name)
        result = method(request_or_iterator, context)
        return result if _is_stream(result) else await result


class TracingInterceptor(CachedServerInterceptor):
    """A SERVER span per call (:mod:`ember.service.tracing`), the child of the caller's
    ``traceparent`` metadata; in the chain only when tracing is on."""

    async def intercept(
        self, method: Callable[..., Any], request_or_iterator: Any, context: Ctx, method_name: str
    ) -> Any:
        name = method_name.lstrip("/")
        attributes = {"rpc.system": "grpc", "rpc.method": name}
        metadata = context.invocation_metadata() or ()
        result = method(request_or_iterator, context)
        if _is_stream(result):
            return self._traced_stream(result, name, metadata, attributes, context)
        with tracing.server_span(name, metadata, attributes) as span:
            try:
                return await result
            finally:
                _end_status(span, context)

    @staticmethod
    async def _traced_stream(
        responses: AsyncIterator[Any],
        name: str,
        metadata: Any,
        attributes: dict[str, str],
        context: Ctx,
    ) -> AsyncIterator[Any]:
        with tracing.server_span(name, metadata, attributes) as span:
            try:
                async for response in responses:
                    yield response
            finally:
                _end_status(span, context)


def _end_status(span: Any, context: Ctx) -> None:
    code = context.code()
    span.set_attribute(
        "rpc.grpc.status_code", code.value[0] if isinstance(code, grpc.StatusCode) else 0
    )


class ServiceInterceptor:
    """The server's interceptor chain, outermost first: access log + metrics, request ids,
    error mapping, request decoding. :meth:`chain` is what the gRPC server gets;
    :meth:`wrap_unary` puts the same chain around a servicer method for in-process calls."""

    def __init__(
        self, log_each_call: bool, drain: Drain | None = None, *, traced: bool = False
    ) -> None:
        """``drain``: the server's shutdown state; ``traced``: put a
        :class:`TracingInterceptor` outermost (tracing must be on)."""
        self.drain = drain if drain is not None else Drain()
        chain: tuple[CachedServerInterceptor, ...] = (
            AccessLogInterceptor(log_each_call),
            RequestIdInterceptor(),
            ErrorInterceptor(self.drain),
            DecodeInterceptor(),
        )
        self._chain = (TracingInterceptor(), *chain) if traced else chain

    def chain(self) -> list[CachedServerInterceptor]:
        """The interceptors for ``grpc.aio.server(interceptors=...)``."""
        return list(self._chain)

    def wrap_unary(
        self, name: str, behavior: Callable[[Any, Any], Awaitable[Any]]
    ) -> Callable[[Any, Any], Awaitable[Any]]:
        """``behavior`` (a unary servicer method) inside the whole chain."""
        wrapped = behavior
        for interceptor in reversed(self._chain):
            wrapped = interceptor.wrap_unary(name, wrapped)
        return wrapped
