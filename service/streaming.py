"""Streaming batches: run the batches of one stream concurrently, answer them in order.

Each incoming message is handled as its own task (so a stream keeps the engine busy), at most
``max_in_flight`` at a time (back-pressure on a fast sender). Answers are yielded in the order
the messages arrived. A batch that fails becomes an error message in the stream; the stream
goes on. When the caller goes away, every batch still running is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from ember.engines.errors import EmberError

log = logging.getLogger(__name__)

Req = TypeVar("Req")
Resp = TypeVar("Resp")

_GRPC_CODES = {
    "CANCELLED": 1,
    "INVALID_ARGUMENT": 3,
    "DEADLINE_EXCEEDED": 4,
    "FAILED_PRECONDITION": 9,
    "RESOURCE_EXHAUSTED": 8,
    "INTERNAL": 13,
    "UNAVAILABLE": 14,
}


def error_code_number(exc: BaseException) -> int:
    """The gRPC status code number a unary call failing with ``exc`` would end with."""
    if isinstance(exc, EmberError):
        return _GRPC_CODES[exc.code.value]
    return _GRPC_CODES["INTERNAL"]


def error_message(exc: BaseException) -> str:
    """The message sent for a failed batch (no internals for unexpected errors)."""
    if isinstance(exc, EmberError):
        return exc.message
    return f"internal error: {type(exc).__name__}"


async def ordered(
    requests: AsyncIterator[Req],
    handle: Callable[[Req], Awaitable[Resp]],
    on_error: Callable[[Req, BaseException], Resp],
    max_in_flight: int = 64,
) -> AsyncIterator[Resp]:
    """Yield ``handle(r)`` for every request ``r``, in arrival order, running up to
    ``max_in_flight`` of them at once; a failure yields ``on_error(r, exc)`` instead."""
    queue: asyncio.Queue[tuple[Req, asyncio.Task[Resp]] | None] = asyncio.Queue(max_in_flight)

    async def read() -> None:
        try:
            async for req in requests:
                task = asyncio.ensure_future(handle(req))
                await queue.put((req, task))
        finally:
            await queue.put(None)

    reader = asyncio.ensure_future(read())
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
        await reader  # re-raise a failure of the request stream itself
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
        while not queue.empty():
            entry = queue.get_nowait()
            if entry is not None:
                entry[1].cancel()
        for task in pending:
            task.cancel()
