"""Streaming batches: run the batches of one stream concurrently, answer them in order.

Each incoming message is handled as its own task (so a stream keeps the engine busy), at most
``max_in_flight`` at a time (back-pressure on a fast sender). Answers are yielded in the order
the messages arrived. A batch that fails becomes an error message in the stream; the stream
goes on. When the caller goes away, every batch still running is cancelled. When the server
shuts down, batches read from then on are refused one by one (an UNAVAILABLE batch error: "resend
elsewhere"), and once the caller has sent nothing for a short quiet period the stream stops
reading, answers what it read, and ends with UNAVAILABLE.

Why not end the stream at once: a caller still writing when the server's status arrives gets
``INTERNAL`` from its own gRPC library (grpc-python's aio client turns the failed send into
"Internal error from Core"), not the server's UNAVAILABLE, and cannot tell which batches were
read. Refusing batch by batch lets a sender learn of the shutdown from an answer and close its
side; the stream then ends OK with every batch answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol, TypeVar

from ember.engines.errors import EmberError, NotReadyError
from ember.service.interceptors import status_for
from ember.v1 import common_pb2

log = logging.getLogger(__name__)

Req = TypeVar("Req")
Resp = TypeVar("Resp")
Out = TypeVar("Out")


class BatchMessage(Protocol):
    """A streaming RPC's incoming message: a caller-chosen id (and one unary request)."""

    @property
    def batch_id(self) -> str: ...


Msg = TypeVar("Msg", bound=BatchMessage)


def batch_error(exc: BaseException) -> common_pb2.BatchError:
    """A failed batch as a stream message carries it: the status a unary call would end with."""
    code, message = status_for(exc)
    return common_pb2.BatchError(code=code.value[0], message=message)


async def batches(
    messages: AsyncIterator[Msg],
    unary: Callable[[Msg], Awaitable[Any]],
    answer: Callable[..., Out],
    stop: asyncio.Event | None = None,
) -> AsyncIterator[Out]:
    """The one streaming adapter: each message answered by
    ``answer(batch_id=..., response=unary(message))`` or ``answer(batch_id=..., error=...)``,
    in arrival order; the stream ends when ``stop`` is set (see :func:`ordered`)."""

    async def handle(msg: Msg) -> Out:
        return answer(batch_id=msg.batch_id, response=await unary(msg))

    def on_error(msg: Msg, exc: BaseException) -> Out:
        return answer(batch_id=msg.batch_id, error=batch_error(exc))

    async for out in ordered(messages, handle, on_error, stop=stop):
        yield out


#: How long a stream must have sent nothing, once shutdown began, before it is ended.
QUIET_S = 0.25

_REFUSED = "the server is shutting down: this batch was not run; resend it (on another replica)"


async def _refuse() -> Any:
    raise NotReadyError(_REFUSED)


async def ordered(
    requests: AsyncIterator[Req],
    handle: Callable[[Req], Awaitable[Resp]],
    on_error: Callable[[Req, BaseException], Resp],
    max_in_flight: int = 64,
    stop: asyncio.Event | None = None,
    quiet_s: float = QUIET_S,
) -> AsyncIterator[Resp]:
    """Yield ``handle(r)`` for every request ``r``, in arrival order, running up to
    ``max_in_flight`` of them at once; a failure yields ``on_error(r, exc)`` instead.

    When ``stop`` is set (the server is shutting down), each request read from then on is
    answered ``on_error(r, NotReadyError)`` without running it. Once nothing is running and
    no request has been read nor answered for ``quiet_s`` seconds (a caller pacing itself
    sends its next batch right after an answer), reading stops; every request already read is
    answered, then :class:`NotReadyError` (UNAVAILABLE) is raised so that the caller resends
    the batches it got no answer for. A caller that closes its side first ends the stream normally.
    """
    # The reader takes a slot before it reads a message, so a message once read always has
    # room in the queue: cancelling the reader (stop) never drops a batch it has read.
    slots = asyncio.Semaphore(max_in_flight)
    queue: asyncio.Queue[tuple[Req, asyncio.Task[Resp]] | None] = asyncio.Queue()
    iterator = requests.__aiter__()

    ended = False  # the caller closed its side: every message was read
    loop = asyncio.get_running_loop()
    last_seen = loop.time()  # a request was last read, or an answer last yielded

    async def read() -> None:
        nonlocal ended, last_seen
        try:
            while True:
                await slots.acquire()
                try:
                    req = await iterator.__anext__()
                except StopAsyncIteration:
                    ended = True
                    return
                last_seen = loop.time()
                work = handle(req) if stop is None or not stop.is_set() else _refuse()
                queue.put_nowait((req, asyncio.ensure_future(work)))
        finally:
            queue.put_nowait(None)

    async def stop_reading_when_quiet(stop: asyncio.Event) -> None:
        await stop.wait()
        while True:
            wait = last_seen + quiet_s - loop.time()
            if wait <= 0 and not pending and queue.empty():
                reader.cancel()
                return
            await asyncio.sleep(max(wait, quiet_s / 4))

    reader = asyncio.ensure_future(read())
    stopper: asyncio.Task[None] | None = None
    if stop is not None:
        stopper = asyncio.ensure_future(stop_reading_when_quiet(stop))
    pending: list[asyncio.Task[Resp]] = []
    try:
        while True:
            entry = await queue.get()
            if entry is None:
                break
            req, task = entry
            pending.append(task)
            try:
                yield await task
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not isinstance(exc, EmberError):
                    log.exception("stream batch failed")
                yield on_error(req, exc)
            finally:
                pending.remove(task)
                slots.release()
                last_seen = loop.time()
        # Stopped before the caller's end: whatever the request stream raised when its read
        # was cancelled, the answer is "shutting down, resend".
        await asyncio.wait({reader})
        if not ended and stop is not None and stop.is_set():
            raise NotReadyError(
                "the server is shutting down: every batch read was answered; resend the "
                "batches without an answer (on another replica)"
            )
        await reader  # re-raise a failure of the request stream itself
    finally:
        if stopper is not None:
            stopper.cancel()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
        while not queue.empty():
            entry = queue.get_nowait()
            if entry is not None:
                entry[1].cancel()
        for task in pending:
            task.cancel()
