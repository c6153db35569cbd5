"""The scheduler's two priority classes: interactive inputs go before background (job) work,
which is never prefetched, and preempt the background batch on the engine (the real MiniLM
engine, then a fake one that holds background batches until preempted or released)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from types import SimpleNamespace

import numpy as np
import pytest

from ember.engines.errors import NotReadyError
from ember.engines.preempt import Preempt, PreemptedError
from ember.engines.types import Encoding, EngineOutput, TruncationSide, VectorOutput
from ember.service.batching import BatchLimits
from ember.service.scheduler import Scheduler
from ember.service.threads import SharedThreads
from tests.service.conftest import SpyEngine


async def test_interactive_inputs_overtake_queued_background_work(spy: SpyEngine) -> None:
    tok = spy.tokenizer
    background = tok.encode(
        [f"background row {i}" for i in range(40)], truncate=True, side=TruncationSide.RIGHT
    )
    interactive = tok.encode(
        ["an interactive query", "and another"], truncate=True, side=TruncationSide.RIGHT
    )
    threads = SharedThreads(1)
    scheduler = Scheduler(spy, BatchLimits(max_batch_tokens=4096, max_batch_requests=4), threads)
    scheduler.start()
    try:
        spy.gate.clear()  # the first background batch blocks on the engine
        bulk = scheduler.submit(background, background=True)
        await asyncio.get_running_loop().run_in_executor(None, spy.entered.wait, 30)
        await asyncio.sleep(0.05)  # time for the loop to form (wrongly) a second batch
        asked = scheduler.submit(interactive)
        await asyncio.sleep(0.05)
        spy.gate.set()
        answers, rows = await asyncio.gather(asked, bulk)
    finally:
        await scheduler.close()
        threads.close()
    assert len(answers) == 2
    assert len(rows) == 40
    first, second = spy.batches[0], spy.batches[1]
    assert all(any(e is b for b in background) for e in first)
    # The interactive request ran right after the one background batch in flight (which it
    # preempted), ahead of the nine background batches still queued.
    assert sorted(map(id, second)) == sorted(map(id, interactive))
    assert [id(e) for e in spy.batches[2]] == [id(e) for e in first]  # run again, then the rest
    assert len(spy.batches) == 10 + 1 + 1  # ten background batches of 4 (one run twice), one call


async def test_background_work_alone_runs_to_the_end(spy: SpyEngine) -> None:
    tok = spy.tokenizer
    rows = tok.encode([f"row {i}" for i in range(30)], truncate=True, side=TruncationSide.RIGHT)
    threads = SharedThreads(1)
    scheduler = Scheduler(spy, BatchLimits(max_batch_tokens=4096, max_batch_requests=8), threads)
    scheduler.start()
    try:
        results = await asyncio.wait_for(scheduler.submit(rows, background=True), 60)
    finally:
        await scheduler.close()
        threads.close()
    assert [r.value.shape for r in results] == [(384,)] * 30


class _HoldingEngine:
    """A fake engine for the scheduler: each input's output is its first token id. A batch of
    background rows (ids >= 1000) holds the engine until it is preempted (then raises) or
    ``release`` is set; interactive batches run at once. Records every forward."""

    def __init__(self) -> None:
        self.info = SimpleNamespace(model_id="fake")
        self.release = threading.Event()
        self.entered = threading.Event()
        #: (first ids of the batch, whether it was preempted), per forward.
        self.forwards: list[tuple[list[int], bool]] = []
        self.running: Preempt | None = None

    def forward(self, batch: Sequence[Encoding], preempt: Preempt | None = None) -> EngineOutput:
        ids = [int(e.ids[0]) for e in batch]
        if ids[0] >= 1000:
            self.running = preempt
            self.entered.set()
            while not self.release.is_set():
                if preempt is not None and preempt.is_set():
                    self.forwards.append((ids, True))
                    raise PreemptedError("preempted")
                time.sleep(0.001)
        self.forwards.append((ids, False))
        return VectorOutput(np.array([[float(i)] for i in ids], dtype=np.float32))


def _rows(ids: range) -> list[Encoding]:
    return [Encoding(ids=[i, 7, 8]) for i in ids]


async def _entered(engine: _HoldingEngine) -> None:
    await asyncio.get_running_loop().run_in_executor(None, engine.entered.wait, 30)
    engine.entered.clear()


async def test_a_preempted_batch_runs_again_and_each_input_is_answered_once() -> None:
    engine = _HoldingEngine()
    threads = SharedThreads(1)
    scheduler = Scheduler(
        engine,  # type: ignore[arg-type]
        BatchLimits(max_batch_tokens=4096, max_batch_requests=4),
        threads,
    )
    scheduler.start()
    try:
        bulk = scheduler.submit(_rows(range(1000, 1010)), background=True)
        await _entered(engine)  # the first background batch holds the engine
        # The interactive request is answered while background work still holds out: its
        # batch preempted the background batch instead of waiting for it (or for the queue).
        answer = await asyncio.wait_for(scheduler.submit(_rows(range(5, 6))), 30)
        assert [r.value[0] for r in answer] == [5.0]
        assert not bulk.done()
        engine.release.set()
        rows = await asyncio.wait_for(bulk, 30)
    finally:
        await scheduler.close()
        threads.close()
    # Every background input answered once, with its own output, in request order.
    assert [r.value[0] for r in rows] == [float(i) for i in range(1000, 1010)]
    assert engine.forwards[0] == ([1000, 1001, 1002, 1003], True)
    assert engine.forwards[1] == ([5], False)
    completed = [i for ids, preempted in engine.forwards if not preempted for i in ids]
    assert sorted(completed) == [5, *range(1000, 1010)]  # the preempted four ran again, once


async def test_aging_a_batch_preempted_aging_s_ago_runs_to_its_end() -> None:
    engine = _HoldingEngine()
    threads = SharedThreads(1)
    scheduler = Scheduler(
        engine,  # type: ignore[arg-type]
        BatchLimits(max_batch_tokens=4096, max_batch_requests=4),
        threads,
        aging_s=1.0,
    )
    scheduler.start()
    rows4 = [1000, 1001, 1002, 1003]
    try:
        bulk = scheduler.submit(_rows(range(1000, 1008)), background=True)
        await _entered(engine)
        await asyncio.wait_for(scheduler.submit(_rows(range(1))), 30)  # first preemption
        await _entered(engine)  # the same batch again, younger than aging_s: preemptible
        await asyncio.sleep(1.1)
        await asyncio.wait_for(scheduler.submit(_rows(range(1, 2))), 30)  # preempted again
        await _entered(engine)  # the same batch, first preempted over aging_s ago: immune
        late = scheduler.submit(_rows(range(50, 51)))
        await asyncio.sleep(0.3)  # room for a (wrong) preemption to happen
        assert not late.done()
        assert engine.running is not None
        assert not engine.running.is_set()
        engine.release.set()
        rows, answer = await asyncio.wait_for(asyncio.gather(bulk, late), 30)
    finally:
        await scheduler.close()
        threads.close()
    assert [r.value[0] for r in answer] == [50.0]
    assert [r.value[0] for r in rows] == [float(i) for i in range(1000, 1008)]
    background = [(ids, p) for ids, p in engine.forwards if ids[0] >= 1000]
    assert background[:3] == [(rows4, True), (rows4, True), (rows4, False)]
    assert background[3:] == [([1004, 1005, 1006, 1007], False)]
    # The interactive request that arrived during the aged batch ran right after it.
    assert engine.forwards[4:6] == [(rows4, False), ([50], False)]


async def test_within_the_hold_off_background_work_waits_until_it_has_aged() -> None:
    engine = _HoldingEngine()
    threads = SharedThreads(1)
    scheduler = Scheduler(
        engine,  # type: ignore[arg-type]
        BatchLimits(max_batch_tokens=4096, max_batch_requests=4),
        threads,
        aging_s=0.5,
        hold_off_s=600.0,  # interactive traffic never leaves the job a gap this long
    )
    scheduler.start()
    try:
        await asyncio.wait_for(scheduler.submit(_rows(range(1))), 30)
        bulk = scheduler.submit(_rows(range(1000, 1004)), background=True)
        await _entered(engine)  # started by aging only (the hold-off has not passed)...
        late = scheduler.submit(_rows(range(50, 51)))
        await asyncio.sleep(0.3)
        assert not late.done()  # ...so it runs to its end: the interactive request waits
        engine.release.set()
        rows, answer = await asyncio.wait_for(asyncio.gather(bulk, late), 30)
    finally:
        await scheduler.close()
        threads.close()
    assert [r.value[0] for r in rows] == [1000.0, 1001.0, 1002.0, 1003.0]
    assert [r.value[0] for r in answer] == [50.0]
    assert engine.forwards == [([0], False), ([1000, 1001, 1002, 1003], False), ([50], False)]


async def test_shutdown_past_its_grace_preempts_the_running_batch() -> None:
    engine = _HoldingEngine()
    threads = SharedThreads(1)
    scheduler = Scheduler(engine, BatchLimits(4096, 4), threads)  # type: ignore[arg-type]
    scheduler.start()
    try:
        bulk = scheduler.submit(_rows(range(1000, 1008)), background=True)
        await _entered(engine)
        await asyncio.wait_for(scheduler.close(abandon=True), 30)
    finally:
        threads.close()
    with pytest.raises(NotReadyError):
        await bulk
    assert engine.forwards == [([1000, 1001, 1002, 1003], True)]
