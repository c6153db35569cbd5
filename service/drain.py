"""Graceful shutdown of the service: refuse new work, answer accepted work, bounded in time.

:class:`Drain` is shared by the server's parts. Once :meth:`Drain.begin` is called:

* admission refuses new requests with UNAVAILABLE (HTTP 503), which clients retry elsewhere;
* batch streams refuse each batch read from then on (a per-batch UNAVAILABLE), answer every
  batch already running, and end when the caller closes its side or, once it has gone quiet,
  with UNAVAILABLE ("resend the batches without an answer"; see :mod:`ember.service.streaming`);
* :meth:`Drain.wait_idle` waits for the calls in flight (tracked by the error interceptor);
* :meth:`Drain.expire`, when the grace runs out, cancels what is still running, and the error
  interceptor answers each of those calls UNAVAILABLE instead of letting the transport cancel
  it silently.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from ember.engines.errors import NotReadyError

SHUTTING_DOWN = "the server is shutting down; retry (on another replica)"
EXPIRED = "the server shut down before the answer was ready; retry (on another replica)"


class Drain:
    """The shutdown state of one server, and the calls it must answer before it stops."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.expired = False
        self._calls: set[asyncio.Task[object]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._last_call = 0.0  # event loop time a call last started or was refused

    @property
    def draining(self) -> bool:
        """Whether shutdown has begun."""
        return self.started.is_set()

    def begin(self) -> None:
        """Start refusing new work and tell open streams to end."""
        self.started.set()

    def refuse_if_draining(self) -> None:
        """Raise UNAVAILABLE (:class:`NotReadyError`) once shutdown has begun."""
        if self.started.is_set():
            self._last_call = asyncio.get_running_loop().time()
            raise NotReadyError(SHUTTING_DOWN)

    @contextlib.contextmanager
    def track(self) -> Iterator[None]:
        """Count the running task as a call in flight for the duration of the block."""
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - always called from a task
            yield
            return
        self._calls.add(task)
        self._idle.clear()
        self._last_call = asyncio.get_running_loop().time()
        try:
            yield
        finally:
            self._calls.discard(task)
            if not self._calls:
                self._idle.set()

    @property
    def in_flight(self) -> int:
        """Calls running now."""
        return len(self._calls)

    async def wait_idle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for every call in flight to end; whether they did."""
        try:
            await asyncio.wait_for(self._idle.wait(), max(timeout, 0.0))
        except (TimeoutError, asyncio.TimeoutError):
            return False
        return True

    async def wait_quiet(self, quiet_s: float, deadline: float) -> None:
        """Wait until no call has started (or been refused) for ``quiet_s`` seconds, or until
        ``deadline`` (event loop time). Closing the transport while callers still send makes
        grpc-core cancel the calls it holds (CANCELLED, not retryable); refused UNAVAILABLE,
        callers go elsewhere first."""
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            wait = min(self._last_call + quiet_s, deadline) - now
            if wait <= 0:
                return
            await asyncio.sleep(wait)

    def expire(self) -> int:
        """The grace is over: cancel every call still running (each is answered UNAVAILABLE by
        the error interceptor); returns how many."""
        self.expired = True
        calls = list(self._calls)
        for task in calls:
            task.cancel(EXPIRED)
        return len(calls)
