"""Paired bursts: Ember variants and their peers up at once, driven alternately, ratios per round.

    .venv/bin/python -m benchmarks.paired                        # 5-token req/s: Infinity vs fp32
    .venv/bin/python -m benchmarks.paired --variants fp32,bf16 --rounds 8 --hog 1
    .venv/bin/python -m benchmarks.paired --workload long        # tok/s vs sentence-transformers

Why not ``benchmarks.run``: it starts each server in turn and measures the 5-token workload for
about a second, so on a shared 2-vCPU machine a neighbour's job that starts or stops between two
servers moves one ratio by up to 2x (2026-12-05, two rounds of one run: Ember fp32 557 then 970
req/s against Infinity 356 and 334). Here every server is started once and stays up, idle when
not driven; each round drives every target in turn with the same texts (one input per request,
baseten-performance-client over REST, as ``make bench``), the order reversed every other round,
and the ratio to the baseline is taken per round, so drift between rounds cancels. Each burst
also reads the target's CPU time (every thread of the server process and its children, from
/proc; the benchmark process itself for sentence-transformers) and the client's: CPU
milliseconds per request decide the ratio when the CPUs are saturated, whatever the scheduler
does.

Workloads (as ``make bench``): ``short``, ~5-token inputs, ``--concurrency`` (256) in flight,
baseline Infinity; ``long``, inputs of the model's maximum length (256 tokens for MiniLM), 128 in
flight, baseline sentence-transformers ``encode(batch_size=32)`` in-process (no server, no
client), Infinity measured too unless ``--no-infinity``.

``--hog N`` runs N busy-looping processes during the bursts: a reproducible stand-in for the
neighbour (another engineer's test suite) that the shared machines usually have.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import statistics
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness import loadgen, machine, peers, servers
from benchmarks.harness.workloads import Workload, text_workloads
from benchmarks.run import VARIANTS

_CLK_TCK = os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of ``pid``'s threads and of its direct children."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    total = 0
    for each in (pid, *map(int, children)):
        fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (after pid and comm)
    return total / _CLK_TCK


@dataclass(frozen=True)
class Burst:
    """One target driven once: throughput and CPU milliseconds per request."""

    requests_per_s: float
    tokens_per_s: float
    server_cpu_ms: float
    client_cpu_ms: float


def _own_cpu_s() -> float:
    times = os.times()
    return times.user + times.system


def burst(running: servers.Running, work: Workload) -> Burst:
    """Warm ``running`` with one window of requests, then send ``work`` once."""
    texts, concurrency = work.texts, work.concurrency
    loadgen.perf_client(running.base_url, texts[:concurrency], work.tokens, concurrency, 0)
    server_0, client_0 = process_cpu_s(running.pid), _own_cpu_s()
    m = loadgen.perf_client(running.base_url, texts, work.tokens, concurrency, 0)
    server_1, client_1 = process_cpu_s(running.pid), _own_cpu_s()
    return Burst(
        m.requests_per_s,
        m.tokens_per_s,
        1e3 * (server_1 - server_0) / m.requests,
        1e3 * (client_1 - client_0) / m.requests,
    )


def st_burst(st: Any, work: Workload) -> Burst:
    """sentence-transformers ``encode(batch_size=32)`` of ``work`` in this process, once."""
    cpu_0 = _own_cpu_s()
    seconds = peers.time_encode(st, work.texts, 32, "cpu", None)["median_s"]
    count = len(work.texts)
    cpu_ms = 1e3 * (_own_cpu_s() - cpu_0) / (count + min(count, 32))  # + its warm-up batch
    return Burst(count / seconds, work.tokens / seconds, cpu_ms, 0.0)


def _spin() -> None:
    while True:
        pass


@contextlib.contextmanager
def hogs(count: int) -> Iterator[None]:
    """``count`` busy-looping processes for the duration of the block."""
    procs = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(count)]
    for proc in procs:
        proc.start()
    try:
        yield
    finally:
        for proc in procs:
            proc.terminate()
            proc.join()


def report(bursts: dict[str, list[Burst]], baseline: str, unit: str) -> str:
    """Markdown: per target the median rate (``unit`` req/s or tok/s), the median per-round
    ratio to ``baseline``, and the CPU milliseconds per request."""
    base = bursts.get(baseline)
    lines = [
        f"| target | {unit} median (rounds) | × {baseline}, median of rounds (rounds) "
        "| target CPU ms/req | client CPU ms/req |",
        "|---|---|---|---:|---:|",
    ]
    for name, runs in bursts.items():
        rates = [b.requests_per_s if unit == "req/s" else b.tokens_per_s for b in runs]
        ratio = "–"
        if base is not None and name != baseline:
            pairs = zip(runs, base, strict=True)
            per_round = [a.tokens_per_s / b.tokens_per_s for a, b in pairs]
            ratio = (
                f"**{statistics.median(per_round):.2f}×** "
                f"({', '.join(f'{r:.2f}' for r in per_round)})"
            )
        lines.append(
            f"| {name} | {statistics.median(rates):,.0f} ({', '.join(f'{r:.0f}' for r in rates)})"
            f" | {ratio} | {statistics.median(b.server_cpu_ms for b in runs):.2f}"
            f" | {statistics.median(b.client_cpu_ms for b in runs):.2f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line, start the servers, alternate the bursts, print the table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.paired", description=__doc__)
    parser.add_argument("--model", type=Path, default=None, help="model folder (default MiniLM)")
    parser.add_argument("--variants", default="fp32", help=f"Ember variants from {list(VARIANTS)}")
    parser.add_argument("--workload", choices=("short", "long"), default="short")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument(
        "--count", type=int, default=None, help="requests per burst (short 1500, long 64)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=None, help="in flight (short 256, long 128)"
    )
    parser.add_argument("--hog", type=int, default=0, help="busy-looping processes alongside")
    parser.add_argument("--no-infinity", action="store_true", help="Ember variants only")
    args = parser.parse_args(argv)
    variants = args.variants.split(",")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    if args.model is None:
        from ember.service.default_model import default_model_path

        args.model = Path(default_model_path())
    short_run = args.workload == "short"
    count = args.count or (1500 if short_run else 64)
    concurrency = args.concurrency or (256 if short_run else 128)
    long_work, short_work, _ = text_workloads(
        args.model, 1 if short_run else count, count if short_run else 1, concurrency, concurrency
    )
    work = short_work if short_run else long_work
    print(f"command: {machine.command('benchmarks.paired')}")
    print(f"CPU: {machine.cpu_summary()}")
    print(f"{machine.now()}; load before: {machine.load_average()}", flush=True)
    bursts: dict[str, list[Burst]] = {}
    st = None if short_run else peers.sentence_transformer(args.model, "cpu")
    with contextlib.ExitStack() as stack:
        running: list[servers.Running | None] = [] if st is None else [None]
        if not args.no_infinity:
            servers.ensure_infinity()
            running.append(stack.enter_context(servers.infinity(args.model)))
        for variant in variants:
            name = f"ember {variant}"
            running.append(stack.enter_context(servers.ember(name, args.model, VARIANTS[variant])))
        stack.enter_context(hogs(args.hog))
        for rnd in range(args.rounds):
            for server in running if rnd % 2 == 0 else running[::-1]:
                name = peers.ST if server is None else server.name
                b = st_burst(st, work) if server is None else burst(server, work)
                bursts.setdefault(name, []).append(b)
                print(
                    f"round {rnd + 1} {name}: {b.requests_per_s:,.1f} req/s, "
                    f"{b.tokens_per_s:,.0f} tok/s, {b.server_cpu_ms:.2f} CPU ms/req, "
                    f"client {b.client_cpu_ms:.2f}",
                    flush=True,
                )
    # report in start order (the baseline first), whatever order the last round ran in
    names = [peers.ST if s is None else s.name for s in running]
    print(f"load after: {machine.load_average()}")
    print(f"{work.name}: {work.tokens / len(work.texts):.2f} tokens per request (with specials)\n")
    baseline = "infinity" if short_run else peers.ST
    print(report({n: bursts[n] for n in names}, baseline, "req/s" if short_run else "tok/s"))


if __name__ == "__main__":
    main(sys.argv[1:])
