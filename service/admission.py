"""Admission at the door: the concurrency budget, checked before any work is done.

Over budget, a request is refused at once with RESOURCE_EXHAUSTED (HTTP 429) so clients back
off and retry, instead of queueing without bound. The event loop is single-threaded, so a
plain counter is enough.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ember.engines.errors import OverloadedError
from ember.service import metrics


class Admission:
    """Counts admitted requests; refuses new ones beyond ``max_concurrent``."""

    def __init__(self, max_concurrent: int) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        self._max = max_concurrent
        self._active = 0

    @property
    def active(self) -> int:
        """Requests admitted and not yet finished."""
        return self._active

    @contextmanager
    def admit(self) -> Iterator[None]:
        """Hold one slot of the budget for the duration of the block, or raise OverloadedError."""
        if self._active >= self._max:
            metrics.REJECTED.inc()
            raise OverloadedError(
                f"the server is at its limit of {self._max} concurrent requests; retry later"
            )
        self._active += 1
        metrics.INFLIGHT.inc()
        try:
            yield
        finally:
            self._active -= 1
            metrics.INFLIGHT.dec()
