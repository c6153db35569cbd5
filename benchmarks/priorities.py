"""Interactive latency while a bulk job runs: the scheduler's priority classes measured.

One MiniLM core in this process. A client sends one short text at a time (``--requests`` of
them, 10 ms apart) and the p50/p95 latency is taken three ways, interleaved over rounds:
alone; while a bulk run of the corpus goes through the same core as job work (background,
what an async job does); and while the same run goes as interactive work (no priority), for
contrast. Without priority the latency is bimodal (most requests slip between parts, a few
wait behind a whole queued part): read p95 and max next to p50.

The job's own speed is measured too (engine tokens per second over the same window, read from
the scheduler's ``ember_tokens_total``; the interactive texts add ~15 tokens each): while the
interactive client runs, and alone for as long, interleaved in the same rounds; with the
background batches preempted by interactive ones (``ember_batch_preemptions_total``).
``python -m benchmarks.priorities [--rounds R] [--requests N]``.

``--stop-latency`` measures instead what sizes the background batches: for token budgets of
1/8, 1/16 and 1/32 of the server's, the engine's tokens per second on batches of that size
and how long after ``Preempt.set`` a running forward stops (interleaved over the rounds).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.bulk import corpus
from ember.engines.config import EngineConfig
from ember.engines.cpu_features import cpu_features
from ember.engines.preempt import Preempt, PreemptedError
from ember.engines.registry import load_engine
from ember.engines.types import Encoding, TruncationSide
from ember.service import metrics
from ember.service.batching import BatchLimits, Pending, plan_batch
from ember.service.bulk import runner, source
from ember.service.bulk.progress import Progress
from ember.service.bulk.settings import TaskOptions, resolve
from ember.service.bulk.store import PartStore
from ember.service.core import Core
from ember.service.default_model import default_model_path
from ember.service.jobs import EmbedJob
from ember.service.limits import resolve_limits
from ember.service.settings import ServerSettings
from ember.service.tasks.embed import EMBED
from ember.service.threads import SharedThreads


async def latencies(core: Core, requests: int) -> list[float]:
    """Milliseconds of ``requests`` one-text embed calls, one at a time."""
    out = []
    for i in range(requests):
        started = time.perf_counter()
        await core.run(EMBED, EmbedJob(inputs=[f"what is the capital of country number {i}?"]))
        out.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.01)
    return out


def _counter(metric: Any, model: str) -> float:
    value: float = metric.labels(model)._value.get()
    return value


@dataclass
class Window:
    """One bulk run's window: interactive latencies (ms), the engine's tokens per second and
    the background batches preempted meanwhile."""

    latencies: list[float]
    tokens_per_s: float
    preemptions: float


async def with_bulk(
    core: Core,
    files: list[source.InputFile],
    work: Path,
    requests: int,
    background: bool,
    seconds: float = 0.0,
) -> Window:
    """Latencies of ``requests`` calls (none when 0: the bulk run alone for ``seconds``) while
    a bulk run goes through the core (cancelled once they are taken)."""
    model = core.info.model_id
    store = PartStore(work / f"out-{time.monotonic_ns()}", {"bench": True})
    bulk = asyncio.ensure_future(
        runner.run(
            core,
            files,
            store,
            resolve(TaskOptions(), core.info),
            id_column=None,
            rows_per_part=512,
            parts_in_flight=2,
            progress=Progress(sys.stderr, mode="none", total_rows=None),
            background=background,
        )
    )
    await asyncio.sleep(1.0)  # the bulk run is under way
    try:
        tokens = _counter(metrics.TOKENS_TOTAL, model)
        preempted = _counter(metrics.BATCH_PREEMPTIONS, model)
        started = time.perf_counter()
        if requests:
            taken = await latencies(core, requests)
        else:
            taken = []
            await asyncio.sleep(seconds)
        elapsed = time.perf_counter() - started
        return Window(
            taken,
            (_counter(metrics.TOKENS_TOTAL, model) - tokens) / elapsed,
            _counter(metrics.BATCH_PREEMPTIONS, model) - preempted,
        )
    finally:
        bulk.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await bulk


def stop_latency(rounds: int) -> None:
    """Tokens per second and preemption stop latency per background budget share."""
    print(f"CPU: {cpu_features().describe()}")
    engine = load_engine(EngineConfig(model_path=Path(default_model_path())))
    limits = resolve_limits(ServerSettings(max_client_batch_size=512), engine.info)
    engine.warmup(limits.max_batch_tokens, limits.max_batch_requests)
    encodings = engine.tokenizer.encode(corpus(4000), truncate=True, side=TruncationSide.RIGHT)
    shares = {share: _batches(encodings, limits, share) for share in (8, 16, 32)}
    speed: dict[int, list[float]] = {share: [] for share in shares}
    stops: dict[int, list[float]] = {share: [] for share in shares}
    for _ in range(rounds):
        for share, batches in shares.items():
            started, tokens = time.perf_counter(), 0
            for batch in batches[:40]:
                engine.forward(batch)
                tokens += sum(map(len, batch))
            speed[share].append(tokens / (time.perf_counter() - started))
            for batch in batches[40:46]:
                stopped = _stop_ms(engine, batch)
                if stopped is not None:
                    stops[share].append(stopped)
    for share, batches in shares.items():
        size = statistics.mean(sum(map(len, b)) for b in batches)
        print(
            f"1/{share} of {limits.max_batch_tokens} tokens (batches of {size:.0f} tokens): "
            f"{statistics.median(speed[share]):.0f} tok/s; stopped "
            f"{statistics.median(stops[share]):.1f} ms after the preemption (median, "
            f"max {max(stops[share]):.1f}, n={len(stops[share])})"
        )
    engine.close()


def _batches(encodings: list[Encoding], limits: Any, share: int) -> list[list[Encoding]]:
    """The corpus cut into batches as the scheduler's policy would with 1/``share`` of the
    token budget."""
    budget = BatchLimits(
        limits.max_batch_tokens // share, limits.max_batch_requests, limits.batch_overhead_tokens
    )
    queue, out = list(encodings), []
    while queue:
        plan = plan_batch([Pending(len(e), True) for e in queue[:1024]], budget)
        taken = set(plan.take)
        out.append([queue[i] for i in plan.take])
        queue = [e for i, e in enumerate(queue) if i not in taken]
    return out


def _stop_ms(engine: Any, batch: list[Encoding]) -> float | None:
    """Milliseconds from ``Preempt.set`` (3 ms into the forward) to the forward's end; None
    when it finished before."""
    preempt = Preempt()
    ended: list[float] = []

    def run() -> None:
        with contextlib.suppress(PreemptedError):
            engine.forward(batch, preempt)
            return
        ended.append(time.perf_counter())

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.003)
    asked = time.perf_counter()
    preempt.set()
    thread.join()
    return (ended[0] - asked) * 1000 if ended else None


async def main_async(rounds: int, requests: int) -> None:
    """Measure and print."""
    print(f"CPU: {cpu_features().describe()}")
    engine = load_engine(EngineConfig(model_path=Path(default_model_path())))
    limits = resolve_limits(ServerSettings(max_client_batch_size=512), engine.info)
    engine.warmup(limits.max_batch_tokens, limits.max_batch_requests)
    threads = SharedThreads(2)
    core = Core(engine, limits, threads)
    core.start()
    work = Path(tempfile.mkdtemp(prefix="ember-bench-prio-"))
    path = work / "corpus.parquet"
    pq.write_table(pa.table({"text": corpus(20_000)}), path)
    files = source.list_inputs(path)
    results: dict[str, list[float]] = {"alone": [], "job (background)": [], "no priority": []}
    speeds: dict[str, list[float]] = {"job with calls": [], "job alone": []}
    preemptions = 0.0
    try:
        for r in range(rounds):
            job = await with_bulk(core, files, work, requests, True)
            span = sum(job.latencies) / 1000 + 0.01 * requests  # the window it measured
            rows = {
                "alone": await latencies(core, requests),
                "job (background)": job.latencies,
                "no priority": (await with_bulk(core, files, work, requests, False)).latencies,
            }
            solo = await with_bulk(core, files, work, 0, True, seconds=span)
            for name, values in rows.items():
                results[name] += values
            speeds["job with calls"].append(job.tokens_per_s)
            speeds["job alone"].append(solo.tokens_per_s)
            preemptions += job.preemptions
            print(
                f"round {r + 1}: "
                + ", ".join(f"{n} p50 {statistics.median(v):.1f} ms" for n, v in rows.items())
                + f"; job {job.tokens_per_s:.0f} tok/s with calls ({job.preemptions:.0f} "
                f"preemptions), {solo.tokens_per_s:.0f} tok/s alone",
                flush=True,
            )
        alone = statistics.median(results["alone"])
        for name, values in results.items():
            p50 = statistics.median(values)
            p95 = statistics.quantiles(values, n=20)[-1]
            print(
                f"{name:>17}: p50 {p50:7.1f} ms ({p50 / alone:.2f}x alone), p95 {p95:7.1f} ms, "
                f"max {max(values):7.1f} ms"
            )
        with_calls = statistics.median(speeds["job with calls"])
        solo = statistics.median(speeds["job alone"])
        print(
            f"job throughput: {with_calls:.0f} tok/s while the calls run, {solo:.0f} tok/s alone "
            f"({with_calls / solo:.2f}x); {preemptions:.0f} background batches preempted"
        )
    finally:
        await core.close()
        threads.close()


def main() -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.priorities", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--stop-latency", action="store_true")
    args = parser.parse_args()
    if args.stop_latency:
        stop_latency(args.rounds)
    else:
        asyncio.run(main_async(args.rounds, args.requests))


if __name__ == "__main__":
    main()
