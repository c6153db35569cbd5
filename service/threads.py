"""The threads every served model shares: one engine thread, taken in turns, and one tokenizer
pool.

Each model keeps its own scheduler queue, but the forwards of all models run on one engine
thread. A forward already uses every core (ONNX Runtime's and torch's intra-op threads), so two
at once would only oversubscribe the CPU. The thread is granted batch by batch, round-robin
between the models that have a batch waiting (:class:`EngineTurns`): however busy one model
is, another model's next batch runs as soon as the forward in progress ends.
"""

from __future__ import annotations

import asyncio
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ember.engines.preempt import Preempt
from ember.service.tokenization import TokenizerPool


class EngineTurns:
    """One forward at a time; when several models wait, they take turns (round-robin by
    model, first come first served within a model), interactive turns before background
    (job) ones. Asking for an interactive turn while a preemptible background forward holds
    the engine preempts it (:mod:`ember.engines.preempt`): it ends early and its turn with it.
    Used from the event loop only."""

    def __init__(self) -> None:
        self._busy = False
        self._holder: object = None
        #: The preempt of the forward holding the engine, if interactive work may stop it.
        self._preemptible: Preempt | None = None
        # Models with a batch waiting, in turn order; each with its waiters in arrival order
        # (the turn, whether it is background work, its preempt).
        self._waiting: dict[object, deque[_Turn]] = {}

    async def acquire(
        self, owner: object, *, background: bool = False, preempt: Preempt | None = None
    ) -> None:
        """Wait for the engine thread; ``owner`` is the model (its scheduler) asking.

        ``background``: job work, granted after every interactive turn waiting; ``preempt``:
        set when an interactive turn is asked for while this one holds the engine (None: the
        forward runs to its end). An interactive turn never preempts another one."""
        if not background and self._preemptible is not None:
            self._preemptible.set()
        if not self._busy and not self._waiting:
            self._grant(owner, preempt)
            return
        turn = _Turn(asyncio.get_running_loop().create_future(), background, preempt)
        self._waiting.setdefault(owner, deque()).append(turn)
        try:
            await turn.future
        except asyncio.CancelledError:
            if turn.future.done() and not turn.future.cancelled():
                self.release()  # granted as it was cancelled: pass the turn on
            else:
                queue = self._waiting.get(owner)
                if queue is not None and turn in queue:
                    queue.remove(turn)
                    if not queue:
                        del self._waiting[owner]
            raise

    def release(self) -> None:
        """End the current turn and grant the next one, if any model waits: an interactive
        turn before a background one, another model's before the one whose turn just ended."""
        while self._waiting:
            owner, turn = self._next()
            queue = self._waiting.pop(owner)
            queue.remove(turn)
            if queue:
                self._waiting[owner] = queue  # back of the rotation
            if not turn.future.done():
                turn.future.set_result(None)
                self._grant(owner, turn.preempt)
                return
        self._busy, self._holder, self._preemptible = False, None, None

    def _grant(self, owner: object, preempt: Preempt | None) -> None:
        self._busy, self._holder, self._preemptible = True, owner, preempt

    def _next(self) -> tuple[object, _Turn]:
        """The waiting turn to grant next (see :meth:`release`)."""
        others = [o for o in self._waiting if o is not self._holder]
        rotation = others + [o for o in self._waiting if o is self._holder]
        for background in (False, True):
            for owner in rotation:
                for turn in self._waiting[owner]:
                    if turn.background == background:
                        return owner, turn
        raise AssertionError("no turn waits")  # pragma: no cover - callers check _waiting


@dataclass(eq=False, slots=True)
class _Turn:
    future: asyncio.Future[None]
    background: bool
    preempt: Preempt | None


class SharedThreads:
    """The engine thread (with its turns) and the tokenizer pool of a server; closed once,
    after every model."""

    def __init__(self, tokenizer_workers: int) -> None:
        self.engine = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ember-engine")
        self.turns = EngineTurns()
        self.tokenizer = TokenizerPool(tokenizer_workers)

    def close(self) -> None:
        """Stop the threads after the work already submitted."""
        self.engine.shutdown(wait=True)
        self.tokenizer.close()
