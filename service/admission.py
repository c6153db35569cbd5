"""Admission at the door: the concurrency budget, checked before any work is done.

Over budget, a request is refused at once with RESOURCE_EXHAUSTED (HTTP 429) so clients back
off and retry, instead of queueing without bound. The event loop is single-threaded, so a
plain counter is enough.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType

from ember.engines.errors import OverloadedError
from ember.service import metrics


class Admission:
    """Counts admitted requests; refuses new ones beyond ``max_concurrent``."""

    def __init__(self, max_concurrent: int) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        self._max = max_concurrent
        self._active = 0
        self._slot = _Slot(self)
        self._idle: asyncio.Event | None = None  # made by the first wait_idle only

    @property
    def active(self) -> int:
        """Requests admitted and not yet finished."""
        return self._active

    def admit(self) -> _Slot:
        """Take one slot of the budget, or raise OverloadedError; use as ``with admit():``,
        which gives the slot back when the block ends."""
        if self._active >= self._max:
            metrics.REJECTED.inc()
            raise OverloadedError(
                f"the server is at its limit of {self._max} concurrent requests; retry later"
            )
        self._active += 1
        metrics.INFLIGHT.inc()
        return self._slot

    async def wait_idle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until no request is admitted; whether none is."""
        if self._idle is None:
            self._idle = asyncio.Event()
        if self._active:
            self._idle.clear()
            with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
                await asyncio.wait_for(self._idle.wait(), timeout)
        return not self._active

    def _release(self) -> None:
        self._active -= 1
        metrics.INFLIGHT.dec()
        if not self._active and self._idle is not None:
            self._idle.set()


class _Slot:
    """The context manager :meth:`Admission.admit` returns (one per Admission: it holds no
    per-request state, so admitting costs no allocation)."""

    __slots__ = ("_admission",)

    def __init__(self, admission: Admission) -> None:
        self._admission = admission

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._admission._release()
