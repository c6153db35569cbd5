"""The per-request serving path: inline tokenization of small jobs, one future per request
across several engine batches, and a failed batch failing its whole request."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from ember.clients import EmberRpcError
from ember.engines.types import TruncationSide
from ember.service import cost as core_module

from .conftest import ServeFn, SpyEngine

SMALL_TEXTS = ["hi", "a cat"]
SMALL_IDS = [[101, 7592, 102], [101, 4937, 2088, 102]]


def _count_pool_calls(server: Any) -> list[int]:
    """Wrap the core's tokenizer pool; the list grows by one per pool call."""
    calls: list[int] = []
    pool = server.core._pool
    run = pool.run

    async def counting(fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return await run(fn, *args, **kwargs)

    pool.run = counting
    return calls


async def _embed_all(client: Any) -> list[np.ndarray]:
    return [
        await client.embed(SMALL_TEXTS),
        await client.embed(SMALL_IDS),
        await client.embed(["mixed", [101, 2088, 102]]),
    ]


async def test_small_jobs_tokenize_inline_and_match_the_pool(
    serve: ServeFn, spy: SpyEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serve(spy) as (client, server):
        calls = _count_pool_calls(server)
        inline = await _embed_all(client)
        assert calls == [], "small jobs went through the tokenizer pool"
        inline_batches = [list(b) for b in spy.batches]

        monkeypatch.setattr(core_module, "INLINE_TOKENIZE_BUDGET_US", -1.0)
        spy.batches.clear()
        pooled = await _embed_all(client)
        assert len(calls) == 3, "with no inline budget every job goes to the pool"
    # The same encodings reached the engine, and the same vectors came back.
    assert [[e.ids for e in b] for b in spy.batches] == [[e.ids for e in b] for b in inline_batches]
    for a, b in zip(inline, pooled, strict=True):
        np.testing.assert_array_equal(a, b)


async def test_large_jobs_use_the_pool(serve: ServeFn, spy: SpyEngine) -> None:
    long_text = "a fairly long sentence about databases and cats " * 3
    assert core_module.text_cost_us([long_text]) > core_module.INLINE_TOKENIZE_BUDGET_US
    async with serve(spy) as (client, server):
        calls = _count_pool_calls(server)
        await client.embed([long_text])
        await client.embed([list(range(1000, 1250))])
    assert len(calls) == 2


def test_cost_estimates_grow_with_the_work() -> None:
    assert core_module.text_cost_us(["hi"]) < core_module.INLINE_TOKENIZE_BUDGET_US
    assert core_module.ids_cost_us([[1, 2, 3, 4, 5]]) < core_module.INLINE_TOKENIZE_BUDGET_US
    assert core_module.text_cost_us(["x" * 100]) > core_module.INLINE_TOKENIZE_BUDGET_US
    assert core_module.ids_cost_us([[1] * 400]) > core_module.INLINE_TOKENIZE_BUDGET_US
    assert core_module.text_cost_us(["ab"] * 20) > core_module.text_cost_us(["ab"])


async def test_a_request_split_over_small_batches_keeps_its_order(
    serve: ServeFn, spy: SpyEngine
) -> None:
    texts = [f"input {i} " + "more words " * (i % 4) for i in range(7)]
    async with serve(spy, max_batch_requests=2) as (client, _):
        solo = [await client.embed([t]) for t in texts]
        spy.batches.clear()
        together = await client.embed(texts)
    assert len(spy.batches) >= 4, "the request was not split over several engine batches"
    for i, row in enumerate(solo):
        assert float((together[i] * row[0]).sum()) > 0.99999, f"row {i} is another input's"


async def test_a_failed_batch_fails_the_request_and_drops_its_other_inputs(
    serve: ServeFn, spy: SpyEngine
) -> None:
    def marker(word: str) -> int:
        enc = spy.tokenizer.encode([word], truncate=False, side=TruncationSide.RIGHT)[0]
        return int(enc.ids[1])

    bad, after = marker("zebra"), marker("giraffe")
    spy.fail_when = lambda batch: any(bad in e.ids for e in batch)
    async with serve(spy, max_batch_requests=1) as (client, _):
        spy.gate.clear()
        held = asyncio.ensure_future(client.embed(["holds the engine"]))
        assert await asyncio.to_thread(spy.entered.wait, 10)
        doomed = asyncio.ensure_future(client.embed(["zebra", "giraffe", "giraffe giraffe"]))
        await asyncio.sleep(0.3)  # queued behind the held batch
        spy.gate.set()
        await held
        with pytest.raises(EmberRpcError) as failed:
            await doomed
        assert failed.value.code == "INTERNAL"
        assert (await client.embed(["still serving"])).shape == (1, 384)
    ran = [e for b in spy.batches for e in b]
    # The failing input ran; the request's other inputs were queued behind it (one prefetched
    # at most) and were dropped once the request had failed.
    assert any(bad in e.ids for e in ran)
    assert sum(after in e.ids for e in ran) <= 1


async def test_switch_interval_is_set_while_serving_and_restored_at_stop(
    serve: ServeFn, spy: SpyEngine
) -> None:
    import sys

    before = sys.getswitchinterval()
    async with serve(spy, gil_switch_interval_ms=2.0) as (client, _):
        assert sys.getswitchinterval() == pytest.approx(0.002)
        assert (await client.embed(["served"])).shape == (1, 384)
    assert sys.getswitchinterval() == pytest.approx(before)
