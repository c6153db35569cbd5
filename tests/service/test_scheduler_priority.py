"""The scheduler's two priority classes on the real MiniLM engine: interactive inputs go before
background (job) work, which is never prefetched, so an interactive request waits at most for
the one background batch already on the engine."""

from __future__ import annotations

import asyncio

from ember.engines.types import TruncationSide
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
    # The interactive request ran right after the one background batch in flight, ahead of
    # the nine background batches still queued.
    assert sorted(map(id, second)) == sorted(map(id, interactive))
    assert len(spy.batches) == 10 + 1  # ten background batches of 4, one interactive


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
