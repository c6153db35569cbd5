"""EngineTurns: one forward at a time, round-robin between the models that wait."""

from __future__ import annotations

import asyncio

from ember.engines.preempt import Preempt
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


async def test_an_interactive_turn_preempts_a_background_holder_and_goes_first() -> None:
    turns = EngineTurns()
    order: list[str] = []

    async def batch(owner: str, label: str, background: bool) -> None:
        await turns.acquire(owner, background=background)
        order.append(label)
        await asyncio.sleep(0)
        turns.release()

    running = Preempt()
    await turns.acquire("embedder", background=True, preempt=running)  # a job batch runs
    tasks = [asyncio.ensure_future(batch("reranker", "job", True))]
    await asyncio.sleep(0)
    assert not running.is_set()  # background work asking for the engine preempts nothing
    tasks.append(asyncio.ensure_future(batch("embedder", "call", False)))
    await asyncio.sleep(0)
    assert running.is_set()  # the interactive turn asked: the running job batch must stop
    turns.release()
    await asyncio.gather(*tasks)
    # The interactive turn, asked for after the background one, is granted first.
    assert order == ["call", "job"]


async def test_an_interactive_turn_never_preempts_an_immune_or_interactive_holder() -> None:
    turns = EngineTurns()
    await turns.acquire("embedder", background=True)  # aged: runs to its end
    waiter = asyncio.ensure_future(turns.acquire("embedder"))
    await asyncio.sleep(0)
    turns.release()
    await waiter  # the interactive holder now
    held = Preempt()
    late = asyncio.ensure_future(turns.acquire("reranker", background=True, preempt=held))
    other = asyncio.ensure_future(turns.acquire("reranker"))
    await asyncio.sleep(0)
    assert not held.is_set()  # not running yet: nothing to preempt
    turns.release()
    await other  # interactive before the waiting background turn
    turns.release()
    await late
    turns.release()
