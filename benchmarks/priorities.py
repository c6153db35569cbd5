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
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.bulk import corpus
from ember.engines.config import EngineConfig
from ember.engines.cpu_features import cpu_features
from ember.engines.registry import load_engine
from ember.service import metrics
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
    args = parser.parse_args()
    asyncio.run(main_async(args.rounds, args.requests))


if __name__ == "__main__":
    main()
