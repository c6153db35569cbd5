"""``ember batch`` against the engine alone: throughput over one corpus, interleaved rounds.

- ``engine``: the bare engine in this process, tokenizing each 2,048-row chunk, sorting it by
  length and running batches of the scheduler's default CPU limits (8,192 padded tokens, 64
  inputs), one step after the other: the ceiling without any pipeline.
- ``ember-batch``: :func:`ember.service.bulk.runner.run` on the same engine (the service
  core, tokenizer pool, scheduler, Parquet parts written and fsynced), reading the corpus from
  a Parquet file: everything ``ember batch`` does after loading the model.

Both count real tokens (no padding). ``python -m benchmarks.bulk [--rows N] [--rounds R]``;
prints the CPU, tok/s per round and the medians' ratio.

``--ray`` compares instead the ``ember batch`` command run locally with the same command on
Ray Data (``--ray-address``) on the Ray tests' local two-node cluster
(:mod:`tests.scale.ray_cluster`, each node one CPU): one engine per node, one thread each,
against one local engine with one thread per node's CPU, both with ``--rows-per-part``
(default 256). Each round runs both, end to end as
a user would (wall clock, model loading and Ray's start included), and also reports each run's
own throughput after loading (its final progress line).
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
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.corpus import SENTENCES
from ember.engines.base import Engine
from ember.engines.config import EngineConfig
from ember.engines.cpu_features import cpu_features
from ember.engines.registry import load_engine
from ember.engines.types import TruncationSide
from ember.service.bulk import runner, source
from ember.service.bulk.progress import Progress
from ember.service.bulk.settings import TaskOptions, resolve
from ember.service.bulk.store import PartStore
from ember.service.core import Core
from ember.service.default_model import default_model_path
from ember.service.limits import resolve_limits
from ember.service.settings import ServerSettings
from ember.service.threads import SharedThreads

ROWS_PER_PART = 2048
BATCH_TOKENS = 8192
BATCH_ROWS = 64


def corpus(rows: int, seed: int = 5) -> list[str]:
    """Rows of one to three sentences (about 20 to 80 tokens)."""
    rng = random.Random(seed)
    return [" ".join(rng.choices(SENTENCES, k=rng.randint(1, 3))) for _ in range(rows)]


def engine_alone(engine: Engine, texts: list[str]) -> tuple[int, float]:
    """Tokens and seconds for the bare engine over ``texts``."""
    tokens = 0
    started = time.perf_counter()
    for start in range(0, len(texts), ROWS_PER_PART):
        chunk = engine.tokenizer.encode(
            texts[start : start + ROWS_PER_PART], truncate=True, side=TruncationSide.RIGHT
        )
        chunk.sort(key=len)
        tokens += sum(len(e) for e in chunk)
        i = 0
        while i < len(chunk):
            j = i + 1
            while (
                j < len(chunk)
                and j - i < BATCH_ROWS
                and (j - i + 1) * len(chunk[j]) <= BATCH_TOKENS
            ):
                j += 1
            engine.forward(chunk[i:j])
            i = j
    return tokens, time.perf_counter() - started


async def ember_batch(core: Core, files: list[source.InputFile], out: Path) -> tuple[int, float]:
    """Tokens and seconds for the bulk runner over the corpus file."""
    options = resolve(TaskOptions(), core.info)
    store = PartStore(out, {"bench": True})
    started = time.perf_counter()
    summary = await runner.run(
        core,
        files,
        store,
        options,
        id_column=None,
        rows_per_part=ROWS_PER_PART,
        parts_in_flight=3,
        progress=Progress(sys.stderr, mode="none", total_rows=None),
    )
    return summary.tokens, time.perf_counter() - started


async def main_async(rows: int, rounds: int, tokenizer_workers: int) -> None:
    """Measure and print."""
    print(f"CPU: {cpu_features().describe()}")
    engine = load_engine(EngineConfig(model_path=Path(default_model_path())))
    limits = resolve_limits(ServerSettings(max_client_batch_size=ROWS_PER_PART), engine.info)
    engine.warmup(limits.max_batch_tokens, limits.max_batch_requests)
    threads = SharedThreads(tokenizer_workers)
    core = Core(engine, limits, threads)
    core.start()
    texts = corpus(rows)
    work = Path(tempfile.mkdtemp(prefix="ember-bench-bulk-"))
    try:
        path = work / "corpus.parquet"
        pq.write_table(pa.table({"text": texts}), path)
        files = source.list_inputs(path)
        results: dict[str, list[float]] = {"engine": [], "ember-batch": []}
        for r in range(rounds):
            tokens, seconds = engine_alone(engine, texts)
            results["engine"].append(tokens / seconds)
            out = work / f"out-{r}"
            b_tokens, b_seconds = await ember_batch(core, files, out)
            shutil.rmtree(out)
            results["ember-batch"].append(b_tokens / b_seconds)
            print(
                f"round {r + 1}: engine {tokens / seconds:,.0f} tok/s ({seconds:.1f}s), "
                f"ember batch {b_tokens / b_seconds:,.0f} tok/s ({b_seconds:.1f}s), "
                f"{tokens:,} tokens in {rows:,} rows",
                flush=True,
            )
        engine_med = statistics.median(results["engine"])
        batch_med = statistics.median(results["ember-batch"])
        print(
            f"median: engine {engine_med:,.0f} tok/s, ember batch {batch_med:,.0f} tok/s, "
            f"ratio {batch_med / engine_med:.3f}"
        )
    finally:
        await core.close()
        threads.close()
        shutil.rmtree(work, ignore_errors=True)


def ray_rounds(rows: int, rounds: int, rows_per_part: int) -> None:
    """``--ray``: local ``ember batch`` against ``ember batch --ray-address``; see the module
    docstring. Prints the CPU, the load, each run and the medians' ratios."""
    import os
    import re
    import subprocess

    from benchmarks.machine import cpu_summary, load_average
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
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bulk", description=__doc__)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokenizer-workers", type=int, default=2)
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
    if args.ray:
        ray_rounds(args.rows, args.rounds, args.rows_per_part)
        return
    asyncio.run(main_async(args.rows, args.rounds, args.tokenizer_workers))


if __name__ == "__main__":
    main()
