"""``ember batch`` against the engine alone, on the same rows, interleaved.

    .venv/bin/python -m benchmarks.bulk            # 50,000 rows; writes benchmarks/BULK-LOCAL.md
    .venv/bin/python -m benchmarks.bulk --rows 8192 --rounds 3 --slice-rows 4096

- ``engine``: the very engine object ``ember batch`` runs, called directly in this process:
  each part (``ember batch``'s default ``--rows-per-part``, 2,048 rows) tokenized (the Rust
  tokenizer, every core), sorted by length, and cut into the batches the scheduler's policy chooses
  (:func:`ember.service.batching.plan_batch`, same limits: tokens with padding, inputs, cost
  per batch), run one after the other. Nothing overlaps, nothing is written: the engine's
  own best loop, without any serving code. (Filling every batch to 64 inputs instead was
  measured no faster: same tokens per CPU-second within 1 %.)
- ``ember batch``: what the command does once its model is loaded — the model loaded by
  :func:`ember.service.loading.load_core` as ``ember batch`` loads it (same settings, same
  warm-up), then :func:`ember.service.bulk.runner.run` with the command's default part size
  and parts in flight, reading a Parquet file, tokenizing on the pool, batching in the
  scheduler, writing Parquet parts (fsynced). Model loading is not timed (it is not
  throughput).

The corpus (``--rows``) is cut into slices of ``--slice-rows``; each slice is run by both
contenders back to back, the order alternating from slice to slice, so that a change in the
machine's load hits both alike (a shared machine drifts by tens of percent within minutes).
A round is one pass over the corpus; ``--rounds`` repeats it. Reported: tokens per second of
wall time (real tokens, no padding), per round over the whole corpus and per slice; the ratio
ember batch / engine (median and range of the per-slice ratios); tokens per CPU-second of the
process (all threads); and the share of the wall time spent inside ``engine.forward`` (the
engine busy). The last two are what other processes' load disturbs least: load slows the
forwards themselves, it barely opens gaps between them.

``--ray`` compares instead the ``ember batch`` command run locally with the same command on
Ray Data (``--ray-address``) on the Ray tests' local two-node cluster
(:mod:`tests.scale.ray_cluster`, each node one CPU): one engine per node, one thread each,
against one local engine with one thread per node's CPU, both with ``--rows-per-part``
(default 256). Each round runs both, end to end as a user would (wall clock, model loading
and Ray's start included), and also reports each run's own throughput after loading (its
final progress line); it prints its results and writes no report.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.corpus import SENTENCES
from benchmarks.harness.machine import cpu_summary, git_commit, load_average, now
from ember.engines.base import Engine, Preempt
from ember.engines.config import EngineConfig
from ember.engines.types import Encoding, EngineOutput, TruncationSide
from ember.service.batching import BatchLimits, Pending, plan_batch
from ember.service.bulk import runner, source
from ember.service.bulk.progress import Progress
from ember.service.bulk.settings import BatchSettings, resolve
from ember.service.bulk.store import PartStore
from ember.service.core import Core
from ember.service.loading import default_loader, load_core
from ember.service.model_entries import model_entries
from ember.service.settings import ServerSettings
from ember.service.threads import SharedThreads

OUT = Path(__file__).resolve().parent / "BULK-LOCAL.md"


def corpus(rows: int, seed: int = 5) -> list[str]:
    """Rows of one to three sentences (about 20 to 80 tokens)."""
    rng = random.Random(seed)
    return [" ".join(rng.choices(SENTENCES, k=rng.randint(1, 3))) for _ in range(rows)]


@dataclass(frozen=True)
class Run:
    """One contender over one slice: real tokens, wall seconds, CPU seconds of the process,
    seconds inside ``engine.forward``."""

    tokens: int
    wall_s: float
    cpu_s: float
    forward_s: float


class ForwardClock:
    """Counts the seconds spent inside ``engine.forward``, whichever thread calls it: the
    share of the wall time the engine computes, which the machine's load moves far less than
    the wall time itself (a loaded machine slows the forwards, not the gaps between them)."""

    def __init__(self, engine: Engine) -> None:
        self.seconds = 0.0
        self._forward = engine.forward
        engine.forward = self._timed  # type: ignore[method-assign]

    def _timed(self, batch: Sequence[Encoding], preempt: Preempt | None = None) -> EngineOutput:
        started = time.perf_counter()
        try:
            return self._forward(batch, preempt)
        finally:
            self.seconds += time.perf_counter() - started


def engine_alone(
    engine: Engine, clock: ForwardClock, core: Core, texts: list[str], rows_per_part: int
) -> Run:
    """The bare engine over ``texts``, part by part (see the module docstring)."""
    limits = core.limits
    policy = BatchLimits(
        max_batch_tokens=limits.max_batch_tokens,
        max_batch_requests=limits.max_batch_requests,
        overhead_tokens=limits.batch_overhead_tokens,
    )
    tokens = 0
    wall, cpu, forward = time.perf_counter(), time.process_time(), clock.seconds
    for start in range(0, len(texts), rows_per_part):
        part = engine.tokenizer.encode(
            texts[start : start + rows_per_part], truncate=True, side=TruncationSide.RIGHT
        )
        part.sort(key=len)
        tokens += sum(len(e) for e in part)
        i = 0
        while i < len(part):
            # Sorted, so the batch is part[i : i + n]: the scheduler's own choice of n.
            window = part[i : i + 2 * limits.max_batch_requests]
            n = len(plan_batch([Pending(len(e)) for e in window], policy).take)
            engine.forward(part[i : i + n])
            i += n
    return Run(
        tokens, time.perf_counter() - wall, time.process_time() - cpu, clock.seconds - forward
    )


async def ember_batch(
    core: Core,
    clock: ForwardClock,
    files: list[source.InputFile],
    out: Path,
    settings: BatchSettings,
) -> Run:
    """The bulk runner over one slice's Parquet file, as ``ember batch`` calls it."""
    options = resolve(settings.task_options(), core.info)
    store = PartStore(out, {"bench": True})
    wall, cpu, forward = time.perf_counter(), time.process_time(), clock.seconds
    summary = await runner.run(
        core,
        files,
        store,
        options,
        id_column=None,
        rows_per_part=settings.rows_per_part,
        parts_in_flight=settings.parts_in_flight,
        progress=Progress(sys.stderr, mode="none", total_rows=None),
    )
    return Run(
        summary.tokens,
        time.perf_counter() - wall,
        time.process_time() - cpu,
        clock.seconds - forward,
    )


def _rate(runs: list[Run]) -> float:
    return sum(r.tokens for r in runs) / sum(r.wall_s for r in runs)


def _busy(runs: list[Run]) -> float:
    return sum(r.forward_s for r in runs) / sum(r.wall_s for r in runs)


def _cpu_rate(runs: list[Run]) -> float:
    return sum(r.tokens for r in runs) / sum(r.cpu_s for r in runs)


async def measure(rows: int, rounds: int, slice_rows: int, command: str) -> str:
    """Run the comparison; the Markdown report."""
    settings = ServerSettings()
    batch_settings = BatchSettings()
    entry = model_entries(settings)[0]
    loaded: list[Engine] = []

    def loader(config: EngineConfig) -> Engine:
        loaded.append(default_loader(config))
        return loaded[-1]

    threads = SharedThreads(settings.tokenizer_workers)
    core = await load_core(
        entry.engine,
        entry.settings,
        threads,
        loader,
        min_client_batch_size=batch_settings.rows_per_part,
    )
    engine = loaded[0]
    clock = ForwardClock(engine)
    core.start()
    texts = corpus(rows)
    slices = [texts[i : i + slice_rows] for i in range(0, rows, slice_rows)]
    work = Path(tempfile.mkdtemp(prefix="ember-bench-bulk-"))
    machine = f"{cpu_summary()}; load at start {load_average()}"
    print(machine, flush=True)
    lines = [
        "# `ember batch` vs the engine in-process (generated by benchmarks/bulk.py)",
        "",
        f"Command: `{command}`. Commit {git_commit()}, {now()}. Model: {core.info.model_id} "
        f"({core.info.backend}, {core.info.dtype}); parts of {batch_settings.rows_per_part} rows, "
        f"{batch_settings.parts_in_flight} in flight; engine batches up to "
        f"{core.limits.max_batch_tokens} padded tokens / {core.limits.max_batch_requests} "
        "inputs.",
        "",
        f"Machine: {machine}.",
        "",
        "| round | slice | rows | tokens | engine tok/s | ember batch tok/s | ratio "
        "| engine tok/CPU-s | ember batch tok/CPU-s | CPU ratio "
        "| engine busy (engine, ember batch) | load (1 min) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    engine_runs: list[list[Run]] = []
    batch_runs: list[list[Run]] = []
    try:
        paths = []
        for k, rows_k in enumerate(slices):
            path = work / f"slice-{k}.parquet"
            pq.write_table(pa.table({"text": rows_k}), path)
            paths.append(path)
        for r in range(rounds):
            engine_runs.append([])
            batch_runs.append([])
            for k, (rows_k, path) in enumerate(zip(slices, paths, strict=True)):
                out = work / f"out-{r}-{k}"
                files = source.list_inputs(path)
                if (r * len(slices) + k) % 2 == 0:
                    e = engine_alone(engine, clock, core, rows_k, batch_settings.rows_per_part)
                    b = await ember_batch(core, clock, files, out, batch_settings)
                else:
                    b = await ember_batch(core, clock, files, out, batch_settings)
                    e = engine_alone(engine, clock, core, rows_k, batch_settings.rows_per_part)
                shutil.rmtree(out)
                assert b.tokens == e.tokens, (b.tokens, e.tokens)
                engine_runs[r].append(e)
                batch_runs[r].append(b)
                row = (
                    f"| {r + 1} | {k + 1} | {len(rows_k):,} | {e.tokens:,} | "
                    f"{_rate([e]):,.0f} | {_rate([b]):,.0f} | {_rate([b]) / _rate([e]):.3f} | "
                    f"{_cpu_rate([e]):,.0f} | {_cpu_rate([b]):,.0f} | "
                    f"{_cpu_rate([b]) / _cpu_rate([e]):.3f} | {_busy([e]):.1%}, {_busy([b]):.1%} | "
                    f"{load_average().split()[0]} |"
                )
                lines.append(row)
                print(row, flush=True)
            totals = (
                f"| {r + 1} | all | {rows:,} | {sum(e.tokens for e in engine_runs[r]):,} | "
                f"**{_rate(engine_runs[r]):,.0f}** | **{_rate(batch_runs[r]):,.0f}** | "
                f"**{_rate(batch_runs[r]) / _rate(engine_runs[r]):.3f}** | "
                f"{_cpu_rate(engine_runs[r]):,.0f} | {_cpu_rate(batch_runs[r]):,.0f} | "
                f"{_cpu_rate(batch_runs[r]) / _cpu_rate(engine_runs[r]):.3f} | "
                f"{_busy(engine_runs[r]):.1%}, {_busy(batch_runs[r]):.1%} | |"
            )
            lines.append(totals)
            print(totals, flush=True)
    finally:
        await core.close()
        threads.close()
        shutil.rmtree(work, ignore_errors=True)
    pairs = [
        (e, b)
        for es, bs in zip(engine_runs, batch_runs, strict=True)
        for e, b in zip(es, bs, strict=True)
    ]
    ratios = [_rate([b]) / _rate([e]) for e, b in pairs]
    cpu_ratios = [_cpu_rate([b]) / _cpu_rate([e]) for e, b in pairs]
    lines += [
        "",
        f"Ratio ember batch / engine, wall time: median **{statistics.median(ratios):.3f}** "
        f"over {len(ratios)} slice pairs (range {min(ratios):.3f}–{max(ratios):.3f}); "
        f"CPU time: median {statistics.median(cpu_ratios):.3f} "
        f"(range {min(cpu_ratios):.3f}–{max(cpu_ratios):.3f}). Load at the end: "
        f"{load_average()}.",
        "",
    ]
    print(lines[-2], flush=True)
    return "\n".join(lines)


def ray_rounds(rows: int, rounds: int, rows_per_part: int) -> None:
    """``--ray``: local ``ember batch`` against ``ember batch --ray-address``; see the module
    docstring. Prints the CPU, the load, each run and the medians' ratios."""
    import os
    import re
    import subprocess

    from tests.scale.ray_cluster import ray_cluster

    ember = str(Path(sys.executable).parent / "ember")
    print(f"CPU: {cpu_summary()}; load average {load_average()}", flush=True)
    cpus = str(os.cpu_count() or 1)
    work = Path(tempfile.mkdtemp(prefix="ember-bench-bulk-ray-"))
    contenders = {
        "local": ["--num-threads", cpus],
        "ray": ["--ray-actors", "2", "--num-threads", "1"],
    }
    wall: dict[str, list[float]] = {name: [] for name in contenders}
    steady: dict[str, list[float]] = {name: [] for name in contenders}
    try:
        path = work / "corpus.parquet"
        pq.write_table(pa.table({"text": corpus(rows)}), path)
        with ray_cluster() as cluster:
            contenders["ray"] += ["--ray-address", cluster.address]
            for r in range(rounds):
                for name, flags in contenders.items():
                    out = work / f"out-{name}-{r}"
                    args = [ember, "batch", str(path), str(out), "--progress", "lines"]
                    args += ["--rows-per-part", str(rows_per_part)]
                    started = time.perf_counter()
                    done = subprocess.run(
                        [*args, "--progress-interval", "3600", "--log-level", "warning", *flags],
                        capture_output=True,
                        text=True,
                        check=True,
                    )
                    seconds = time.perf_counter() - started
                    tokens = int(re.findall(r"([\d,]+) tokens\)", done.stdout)[-1].replace(",", ""))
                    own = float(re.findall(r"([\d,]+) tok/s", done.stderr)[-1].replace(",", ""))
                    wall[name].append(tokens / seconds)
                    steady[name].append(own)
                    shutil.rmtree(out)
                    print(
                        f"round {r + 1}: {name}: {seconds:.1f}s end to end "
                        f"({tokens / seconds:,.0f} tok/s), {own:,.0f} tok/s after loading, "
                        f"{tokens:,} tokens in {rows:,} rows; load average {load_average()}",
                        flush=True,
                    )
        for label, measured in (("end to end", wall), ("after loading", steady)):
            local, ray = statistics.median(measured["local"]), statistics.median(measured["ray"])
            print(
                f"median {label}: local {local:,.0f} tok/s, Ray Data {ray:,.0f} tok/s, "
                f"ratio {ray / local:.3f}"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    """Parse the arguments, measure, write the report."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bulk",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rows", type=int, default=50_000, help="rows in the corpus")
    parser.add_argument("--rounds", type=int, default=1, help="passes over the corpus")
    parser.add_argument(
        "--slice-rows", type=int, default=10_240, help="rows each contender runs in turn"
    )
    parser.add_argument("--out", type=Path, default=OUT, help="the Markdown report")
    parser.add_argument(
        "--ray", action="store_true", help="local ember batch against ember batch on Ray Data"
    )
    parser.add_argument(
        "--rows-per-part",
        type=int,
        default=256,
        help="--ray: both runs' parts (enough parts to keep two engines busy to the end)",
    )
    args = parser.parse_args()
    if args.rows < 1 or args.rounds < 1 or args.slice_rows < 1:
        parser.error("--rows, --rounds and --slice-rows must be at least 1")
    if args.ray:
        ray_rounds(args.rows, args.rounds, args.rows_per_part)
        return
    command = "python -m benchmarks.bulk " + " ".join(sys.argv[1:])
    report = asyncio.run(measure(args.rows, args.rounds, args.slice_rows, command.strip()))
    # The hand-written analysis lives beside the report (as benchmarks/analysis.md does for
    # RESULTS.md) and is appended to each regenerated one.
    analysis = args.out.parent / "bulk-analysis.md"
    if analysis.is_file():
        report += "\n" + analysis.read_text()
    args.out.write_text(report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
