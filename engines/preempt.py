"""``Preempt``: the one way to stop a forward early, the same for every engine.

The service hands ``Engine.forward`` a :class:`Preempt`; any thread may :meth:`Preempt.set`
it while the forward runs. The forward then raises :class:`PreemptedError` as soon as its
backend can stop: ONNX Runtime before its next graph node (``RunOptions.terminate``), torch
before its next encoder layer (a forward pre-hook), and every engine before it starts. A
forward that finished first returns normally: its result is good. A preempted forward
produced nothing, and the engine is ready for the next one.

The scheduler uses it to stop a background (job) batch when an interactive request wants the
engine, and to end the batches still running when shutdown's grace is over.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ember.engines.errors import EngineError


class PreemptedError(EngineError):
    """The forward stopped early because its :class:`Preempt` was set; it has no result."""


class Preempt:
    """A request, from any thread, that one forward stop early; see the module docstring."""

    __slots__ = ("_actions", "_event", "_lock")

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._actions: list[Callable[[], None]] = []

    def set(self) -> None:
        """Ask the forward to stop (idempotent); runs the backend's stop actions now."""
        with self._lock:
            if self._event.is_set():
                return
            self._event.set()
            actions = list(self._actions)
        for action in actions:
            action()

    def is_set(self) -> bool:
        """Whether the forward was asked to stop."""
        return self._event.is_set()

    def check(self) -> None:
        """Raise :class:`PreemptedError` if the forward was asked to stop."""
        if self._event.is_set():
            raise PreemptedError("the forward was preempted before it finished")

    @contextmanager
    def on_set(self, action: Callable[[], None]) -> Iterator[None]:
        """Within the block, :meth:`set` also calls ``action`` (at once, if set already):
        how a backend that stops by a flag of its own (ONNX Runtime) hears of it."""
        with self._lock:
            fire = self._event.is_set()
            if not fire:
                self._actions.append(action)
        if fire:
            action()
        try:
            yield
        finally:
            with self._lock:
                if action in self._actions:
                    self._actions.remove(action)
