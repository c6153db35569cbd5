"""The scheduler: one asyncio task that owns the queue of tokenized inputs and feeds the engine.

Callers :meth:`Scheduler.submit` a request's encodings and await ONE future for the whole
request (a request's inputs may still run in different batches: batching is per input). The
run loop asks the pure policy (:mod:`ember.service.batching`) for the next batch whenever the
engine has a free slot, and runs ``engine.forward`` on a dedicated thread. Two slots are used,
so one batch is formed and waiting while the engine runs the current one (prefetch). Inputs
whose caller has gone (future cancelled) are dropped before they reach the engine. An exception
from the engine fails the requests with an input in that batch (their other inputs are then
dropped as well); the loop keeps serving.

Two priority classes share the engine and the token budget: interactive requests (calls) and
background work (async jobs). A batch is formed from background inputs only when no
interactive input waits, nothing is in flight and the engine has had no interactive batch for
``HOLD_OFF_S``; a background batch is never prefetched, so an interactive request never waits
for a queue of them. The one background batch running is preempted when an interactive batch
asks for the engine (:class:`~ember.service.threads.EngineTurns`, :mod:`ember.engines.preempt`):
its forward stops early, its results are discarded and the same batch is the next background
batch to run. Aging bounds starvation: when background work has waited ``AGING_S`` without
completing a batch, its next batch starts regardless of the hold-off and is not preempted.
Background batches take a small share of the token budget (``BACKGROUND_BUDGET_SHARE``), so
that such a batch is short and a preempted one stops soon.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ember.engines.base import Engine
from ember.engines.errors import EngineError, NotReadyError
from ember.engines.preempt import Preempt, PreemptedError
from ember.engines.types import (
    Encoding,
    EngineOutput,
    FloatArray,
    IntArray,
    ItemsOutput,
    Outputs,
    SparseOutput,
    TokenLogitsOutput,
    VectorOutput,
)
from ember.service import metrics
from ember.service.batching import BatchLimits, Pending, plan_batch
from ember.service.threads import SharedThreads

log = logging.getLogger(__name__)

#: Background batches take 1/this of the token budget (one input over it still runs, alone).
#: Short, because ONNX Runtime stops a preempted run between graph nodes, whose time grows with
#: the batch, and an aged batch is not stopped at all. Measured with MiniLM on the CPU
#: (benchmarks/PRIORITIES.md): 1/32 (about 240 tokens) ran as many tokens per second as 1/8 and
#: stopped ~1 ms after its preemption, against ~20 ms.
BACKGROUND_BUDGET_SHARE = 32

#: Seconds background work may wait without completing a batch before its next batch runs to
#: its end (unpreempted, hold-off or not). Time, not a count of preemptions, because interactive
#: traffic can preempt a batch every few milliseconds: with a count of K, one interactive
#: request in K + 1 would wait for a whole job batch (a quarter of them for K = 3: the p75
#: ruined). With one second, under any interactive load a job still completes a batch every
#: second or so (it never starves), and at most one job batch a second is in the way.
AGING_S = 1.0

#: Seconds background work waits after the last interactive batch before it takes the engine.
#: A request of an interactive stream then finds the engine free instead of preempting a job
#: batch started in the gap before it: a preemption costs it the stop (~1 ms) and, measured on
#: the 2-core CPU, a forward twice as slow right after the job batch (caches, CPU time). Gaps
#: longer than this are the job's; shorter ones leave it the aged batches only.
HOLD_OFF_S = 0.05

#: One input's engine output: a row (embedding or logits), a token-logits matrix, or a sparse
#: vector as (indices, values).
ItemValue = FloatArray | tuple[IntArray, FloatArray] | Outputs


@dataclass(frozen=True, slots=True)
class ItemResult:
    """The engine's answer for one input, with when and how long its batch ran."""

    value: ItemValue
    batch_id: int
    batch_start_ns: int
    batch_ns: int


class _Request:
    """One caller's inputs: their results in request order, and the future the caller awaits.

    The future is done (result, exception or cancelled) exactly when no input of the request
    needs computing any more, so ``future.done()`` is the one liveness test for its inputs.
    """

    __slots__ = ("future", "remaining", "results")

    def __init__(self, future: asyncio.Future[list[ItemResult]], count: int) -> None:
        self.future = future
        self.results: list[ItemResult | None] = [None] * count
        self.remaining = count

    def deliver(self, index: int, result: ItemResult) -> None:
        """Store one input's result; complete the future when it was the last one."""
        if self.future.done():
            return
        self.results[index] = result
        self.remaining -= 1
        if self.remaining == 0:
            self.future.set_result(self.results)  # type: ignore[arg-type]  # all filled

    def fail(self, error: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(error)


@dataclass(eq=False, slots=True)
class _Item:
    encoding: Encoding
    request: _Request
    index: int


def _split(output: EngineOutput, count: int) -> list[ItemValue]:
    """One value per input from a batch output, checking the engine kept its contract."""
    values: list[ItemValue]
    if isinstance(output, VectorOutput):
        values = list(output.rows)
    elif isinstance(output, TokenLogitsOutput):
        values = list(output.logits)
    elif isinstance(output, SparseOutput):
        values = list(zip(output.indices, output.values, strict=True))
    elif isinstance(output, ItemsOutput):
        values = list(output.values)
    else:  # pragma: no cover - typing makes this unreachable
        raise EngineError(f"engine returned an unknown output type {type(output).__name__}")
    if len(values) != count:
        raise EngineError(f"engine returned {len(values)} outputs for a batch of {count}")
    return values


class Scheduler:
    """Single owner of the pending queue; see the module docstring for the contract."""

    def __init__(
        self,
        engine: Engine,
        limits: BatchLimits,
        threads: SharedThreads,
        *,
        aging_s: float = AGING_S,
        hold_off_s: float = HOLD_OFF_S,
    ) -> None:
        """``threads``: the engine thread forwards run on, in turns with the server's other
        models (:mod:`ember.service.threads`); its owner shuts it down. ``aging_s``,
        ``hold_off_s``: see :data:`AGING_S`, :data:`HOLD_OFF_S`."""
        self._engine = engine
        self._limits = limits
        self._background_limits = dataclasses.replace(
            limits, max_batch_tokens=max(1, limits.max_batch_tokens // BACKGROUND_BUDGET_SHARE)
        )
        self._lookahead = max(1024, 8 * limits.max_batch_requests)
        self._pending: list[_Item] = []
        self._background: list[_Item] = []
        #: A preempted background batch: the next background batch, as it was.
        self._retry: list[_Item] | None = None
        self._aging_s = aging_s
        self._hold_off_s = hold_off_s
        #: When the last interactive batch ended (``time.monotonic()``).
        self._interactive_at = -float("inf")
        #: When background work last completed a batch, or began to wait (None: none waits).
        self._background_since: float | None = None
        #: Batches formed and not finished (prefetched or running).
        self._in_flight = 0
        self._wakeup = asyncio.Event()
        self._slots = asyncio.Semaphore(2)
        self._executor = threads.engine
        self._turns = threads.turns
        model = engine.info.model_id
        self._queue_depth = metrics.QUEUE_DEPTH.labels(model)
        self._batch_size = metrics.BATCH_SIZE.labels(model)
        self._batch_tokens = metrics.BATCH_TOKENS.labels(model)
        self._batch_padded = metrics.BATCH_PADDED_TOKENS.labels(model)
        self._batch_seconds = metrics.BATCH_SECONDS.labels(model)
        self._tokens = metrics.TOKENS_TOTAL.labels(model)
        self._failures = metrics.BATCH_FAILURES.labels(model)
        self._preemptions = metrics.BATCH_PREEMPTIONS.labels(model)
        self._batch_ids = itertools.count()
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        #: The preempt of each batch formed and not finished (shutdown ends them with it).
        self._preempts: set[Preempt] = set()
        self._closed = False

    def start(self) -> None:
        """Start the run loop on the current event loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="ember-scheduler")

    def submit(
        self, encodings: Sequence[Encoding], *, background: bool = False
    ) -> asyncio.Future[list[ItemResult]]:
        """Queue one request's encodings; the future gives one result per encoding, in order.

        ``background``: job work, run only when no interactive input waits (see the module
        docstring). Cancelling the future withdraws the inputs that have not reached the
        engine yet. If a batch holding one of the inputs fails, the future fails with that
        error.
        """
        if self._closed:
            raise NotReadyError("the server is shutting down")
        future: asyncio.Future[list[ItemResult]] = asyncio.get_running_loop().create_future()
        if not encodings:
            future.set_result([])
            return future
        request = _Request(future, len(encodings))
        if background and not self._has_background():
            self._background_since = time.monotonic()
        queue = self._background if background else self._pending
        queue.extend(_Item(enc, request, i) for i, enc in enumerate(encodings))
        self._set_depth()
        self._wakeup.set()
        return future

    async def close(self, abandon: bool = False) -> None:
        """Stop taking work, finish the batches already running, fail what is still queued.

        ``abandon``: nobody waits for the running batches (shutdown's grace is over): they are
        preempted (:mod:`ember.engines.preempt`) instead of finished."""
        self._closed = True
        if abandon:
            for preempt in list(self._preempts):
                preempt.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        retry = self._retry or []
        for item in (*self._pending, *retry, *self._background):
            item.request.fail(NotReadyError("the server is shutting down"))
        self._pending.clear()
        self._background.clear()
        self._retry = None

    async def _run(self) -> None:
        while True:
            wait = self._background_wait()
            if not self._pending and wait != 0.0:
                # Nothing to run now: an interactive input, the end of the last batch in
                # flight or (background work waiting) the end of the hold-off wakes the loop.
                self._wakeup.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), wait)
                continue
            await self._slots.acquire()
            batch = self._take_batch(self._pending, self._limits) if self._pending else []
            background = preemptible = False
            if not batch and self._background_wait() == 0.0:
                background, preemptible = True, not self._starving()
                if self._retry is not None:
                    batch, self._retry = self._retry, None
                else:
                    batch = self._take_batch(self._background, self._background_limits)
            if not batch:
                self._slots.release()
                continue
            self._in_flight += 1
            task = asyncio.get_running_loop().create_task(
                self._execute(batch, background, preemptible)
            )
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    def _take_batch(self, queue: list[_Item], limits: BatchLimits) -> list[_Item]:
        """The next batch from ``queue`` (interactive or background) within ``limits``,
        removed from the queue."""
        # The policy looks at the oldest inputs only, so forming a batch costs the same with
        # a hundred thousand inputs queued as with a few hundred.
        head = queue[: self._lookahead]
        plan = plan_batch(
            [Pending(len(item.encoding), not item.request.future.done()) for item in head],
            limits,
        )
        batch = [head[i] for i in plan.take]
        gone = set(plan.take)
        gone.update(plan.drop)
        kept = [item for i, item in enumerate(head) if i not in gone]
        queue[:] = kept + queue[len(head) :]
        self._set_depth()
        return batch

    def _has_background(self) -> bool:
        return bool(self._background) or self._retry is not None

    def _starving(self) -> bool:
        """Whether background work has waited ``AGING_S`` without completing a batch."""
        since = self._background_since
        return since is not None and time.monotonic() - since >= self._aging_s

    def _background_wait(self) -> float | None:
        """Seconds until a background batch may start (0.0: now; None: not before something
        else happens: an interactive input waits or a batch is in flight, or none waits)."""
        if not self._has_background() or self._in_flight or self._pending:
            return None
        now = time.monotonic()
        since = self._background_since if self._background_since is not None else now
        ready = min(self._interactive_at + self._hold_off_s, since + self._aging_s)
        return max(0.0, ready - now)

    def _set_depth(self) -> None:
        retry = len(self._retry) if self._retry is not None else 0
        self._queue_depth.set(len(self._pending) + retry + len(self._background))

    def _forward_live(
        self, batch: list[_Item], preempt: Preempt
    ) -> tuple[list[_Item], EngineOutput | None, int, int]:
        """Runs on the engine thread: drop inputs cancelled while the batch waited, run the rest.

        Reading ``future.done()`` from this thread is a benign race: at worst an input cancelled
        at this very moment is computed and its result discarded.
        """
        live = [item for item in batch if not item.request.future.done()]
        if not live:
            return live, None, 0, 0
        start = time.perf_counter_ns()
        output = self._engine.forward([item.encoding for item in live], preempt)
        return live, output, start, time.perf_counter_ns() - start

    async def _execute(self, batch: list[_Item], background: bool, preemptible: bool) -> None:
        """Run one batch; ``preemptible``: interactive work may stop it (background work that
        is not starving)."""
        batch_id = next(self._batch_ids)
        live = batch
        preempt = Preempt()
        self._preempts.add(preempt)
        preempted = False
        try:
            loop = asyncio.get_running_loop()
            try:
                await self._turns.acquire(
                    self, background=background, preempt=preempt if preemptible else None
                )
                try:
                    live, output, start, elapsed = await loop.run_in_executor(
                        self._executor, self._forward_live, batch, preempt
                    )
                finally:
                    self._turns.release()
                if output is None:
                    return
                values = _split(output, len(live))
            except PreemptedError:
                preempted = True
                self._preempted(live)
                return
            except Exception as exc:
                self._failures.inc()
                log.exception("engine failed on batch %d (%d inputs)", batch_id, len(live))
                error = (
                    exc
                    if isinstance(exc, EngineError)
                    else EngineError(
                        f"the model engine failed on this batch: {type(exc).__name__}: {exc}"
                    )
                )
                for item in live:
                    item.request.fail(error)
                return
            self._observe(live, elapsed)
            for item, value in zip(live, values, strict=True):
                item.request.deliver(item.index, ItemResult(value, batch_id, start, elapsed))
        finally:
            self._preempts.discard(preempt)
            self._slots.release()
            self._in_flight -= 1
            now = time.monotonic()
            if not background:
                self._interactive_at = now
            elif not preempted:  # background work made progress: it ages anew
                self._background_since = now if self._has_background() else None
            if self._has_background():
                self._wakeup.set()  # background work may take the engine (soon)

    def _preempted(self, live: list[_Item]) -> None:
        """A preempted batch (nothing of its output was delivered) is the next background
        batch to run; at shutdown its inputs fail."""
        if self._closed:
            for item in live:
                item.request.fail(NotReadyError("the server is shutting down"))
            return
        self._preemptions.inc()
        self._retry = live
        self._set_depth()

    def _observe(self, batch: list[_Item], elapsed_ns: int) -> None:
        lengths = [len(item.encoding) for item in batch]
        real = sum(lengths)
        self._batch_size.observe(len(batch))
        self._batch_tokens.observe(real)
        self._batch_padded.observe(len(batch) * max(lengths))
        self._batch_seconds.observe(elapsed_ns / 1e9)
        self._tokens.inc(real)
