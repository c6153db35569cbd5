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

from ember.service.tokenization import TokenizerPool


class EngineTurns:
    """One forward at a time; when several models wait, they take turns (round-robin by
    model, first come first served within a model). Used from the event loop only."""

    def __init__(self) -> None:
        self._busy = False
        self._holder: object = None
        # Models with a batch waiting, in turn order; each with its waiters in arrival order.
        self._waiting: dict[object, deque[asyncio.Future[None]]] = {}

    async def acquire(self, owner: object) -> None:
        """Wait for the engine thread; ``owner`` is the model (its scheduler) asking."""
        if not self._busy and not self._waiting:
            self._busy, self._holder = True, owner
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(owner, deque()).append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.release()  # granted as it was cancelled: pass the turn on
            else:
                queue = self._waiting.get(owner)
                if queue is not None and turn in queue:
                    queue.remove(turn)
                    if not queue:
                        del self._waiting[owner]
            raise

    def release(self) -> None:
        """End the current turn and grant the next one, if any model waits: another model's
        before the one whose turn just ended."""
        while self._waiting:
            others = [o for o in self._waiting if o is not self._holder]
            owner = others[0] if others else self._holder
            queue = self._waiting.pop(owner)
            turn = queue.popleft()
            if queue:
                self._waiting[owner] = queue  # back of the rotation
            if not turn.done():
                turn.set_result(None)
                self._holder = owner
                return
        self._busy, self._holder = False, None


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
