"""EngineTurns: one forward at a time, round-robin between the models that wait."""

from __future__ import annotations

import asyncio

from ember.service.threads import EngineTurns


async def test_waiting_models_take_turns_and_a_cancelled_waiter_is_skipped() -> None:
    turns = EngineTurns()
    order: list[str] = []

    async def batch(owner: str, label: str) -> None:
        await turns.acquire(owner)
        order.append(label)
        await asyncio.sleep(0)
        turns.release()

    await turns.acquire("embedder")  # a forward in progress
    tasks = [asyncio.ensure_future(batch("embedder", f"e{i}")) for i in range(3)]
    await asyncio.sleep(0)
    tasks.append(asyncio.ensure_future(batch("reranker", "r0")))
    doomed = asyncio.ensure_future(batch("reranker", "r-cancelled"))
    tasks.append(asyncio.ensure_future(batch("reranker", "r1")))
    await asyncio.sleep(0)
    doomed.cancel()
    turns.release()
    await asyncio.gather(*tasks)
    # The reranker, arriving behind three embedder batches, runs as soon as the embedder's
    # forward in progress ends; then the models alternate.
    assert order == ["r0", "e0", "r1", "e1", "e2"]
    await turns.acquire("anyone")  # free again: granted at once
    turns.release()
