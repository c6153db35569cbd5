"""The full server path: Ember's gRPC service and REST gateway in this process, load from others.

:func:`serve_engine` runs an :class:`~ember.service.server.EmberServer` whose loader returns an
engine the benchmark already built (random weights), plus the REST gateway in the same event
loop, exactly as ``ember serve`` wires them (or, with ``separate_gateway``, the gateway as its own
``ember gateway`` process; with ``http_workers`` > 1, N gateway worker processes as ``ember serve
--http-workers N`` runs them). :class:`WorkerPool` keeps load-generator processes
(:mod:`benchmarks.harness.loadgen`) alive across scenarios and merges what they measured. The
scheduler's Prometheus metrics, read before and after each scenario, say what batches the server
formed and how busy the engine thread was.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness import bootstrap

bootstrap.ensure_ember_importable()

#: Every child process this module started, so the run's watchdog can end them by id.
CHILD_PIDS: set[int] = set()


def kill_children() -> None:
    """End the child processes this module started (by id, nothing else)."""
    for pid in list(CHILD_PIDS):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
        CHILD_PIDS.discard(pid)


@dataclass(frozen=True)
class Scenario:
    """One load point: transport, request size, total concurrency and timing."""

    transport: str  # "grpc" | "rest"
    tokens: int
    concurrency: int
    warmup_s: float
    duration_s: float


class WorkerPool:
    """Long-lived load-generator processes."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._procs: list[asyncio.subprocess.Process] = []

    async def start(self, timeout_s: float = 90.0) -> None:
        for _ in range(self.count):
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "benchmarks.harness.loadgen",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                cwd=str(bootstrap.REPO_ROOT),
                # The result line carries every latency: past asyncio's 64 KiB default at ~20 s.
                limit=64 * 1024 * 1024,
            )
            CHILD_PIDS.add(proc.pid)
            self._procs.append(proc)
        for proc in self._procs:
            await asyncio.wait_for(_read_json(proc), timeout_s)

    async def run(
        self,
        scenario: Scenario,
        host: str,
        port: int,
        id_range: tuple[int, int],
        sampler: Callable[[], float | None] | None = None,
        counters: Callable[[], dict[str, float]] | None = None,
        window: Callable[[float, float], Awaitable[None]] | None = None,
    ) -> dict[str, Any]:
        """Run one scenario on every worker at once; merged counts, rates and percentiles.

        ``counters`` reads the scheduler's cumulative metrics (default: this process's registry;
        a server in another process needs a reader of its ``/metrics``). ``window``, if given,
        runs beside the load as ``window(measure_from, measure_to)`` (epoch seconds), e.g. to
        read the server's CPU time at both ends of the measured window."""
        read_counters = counters or scheduler_counters
        workers = self._procs[: max(1, min(len(self._procs), scenario.concurrency))]
        shares = [scenario.concurrency // len(workers)] * len(workers)
        for i in range(scenario.concurrency % len(workers)):
            shares[i] += 1
        start_at = time.time() + 0.5
        for i, (proc, share) in enumerate(zip(workers, shares, strict=True)):
            command = {
                "op": "run",
                "transport": scenario.transport,
                "host": host,
                "port": port,
                "tokens": scenario.tokens,
                "id_low": id_range[0],
                "id_high": id_range[1],
                "concurrency": share,
                "start_at": start_at,
                "warmup_s": scenario.warmup_s,
                "duration_s": scenario.duration_s,
                "seed": 1000 + i,
            }
            assert proc.stdin is not None
            proc.stdin.write((_dumps(command) + "\n").encode())
            await proc.stdin.drain()
        measure_from = start_at + scenario.warmup_s
        measure_to = measure_from + scenario.duration_s
        utilization: list[float] = []
        sampling = asyncio.ensure_future(_sample(sampler, measure_from, measure_to, utilization))
        watching = asyncio.ensure_future(window(measure_from, measure_to)) if window else None
        before = read_counters()
        limit = scenario.warmup_s + scenario.duration_s + 150.0
        answers = [await asyncio.wait_for(_read_json(p), limit) for p in workers]
        after = read_counters()
        await sampling
        if watching is not None:
            await watching
        return _merge(scenario, answers, before, after, utilization)

    async def close(self) -> None:
        for proc in self._procs:
            with contextlib.suppress(Exception):
                assert proc.stdin is not None
                proc.stdin.write(b'{"op": "quit"}\n')
                await proc.stdin.drain()
                proc.stdin.close()
        for proc in self._procs:
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except (TimeoutError, asyncio.TimeoutError):
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
            CHILD_PIDS.discard(proc.pid)
        self._procs = []


def _dumps(value: object) -> str:
    import json

    return json.dumps(value)


async def _read_json(proc: asyncio.subprocess.Process) -> dict[str, Any]:
    import json

    assert proc.stdout is not None
    while True:
        line = await proc.stdout.readline()
        if not line:
            raise RuntimeError(f"load generator {proc.pid} exited (code {proc.returncode})")
        text = line.decode().strip()
        if text.startswith("{"):
            value: dict[str, Any] = json.loads(text)
            return value


async def _sample(
    sampler: Callable[[], float | None] | None, start: float, end: float, out: list[float]
) -> None:
    if sampler is None:
        return
    await asyncio.sleep(max(0.0, start - time.time()))
    while time.time() < end:
        try:
            value = sampler()
        except Exception:
            return
        if value is not None:
            out.append(value)
        await asyncio.sleep(0.25)


#: The scheduler's cumulative batch metrics: counter key -> Prometheus sample name.
SCHEDULER_METRICS = {
    "batches": "ember_batch_size_count",
    "inputs": "ember_batch_size_sum",
    "tokens": "ember_batch_tokens_sum",
    "padded_tokens": "ember_batch_padded_tokens_sum",
    "engine_s": "ember_batch_seconds_sum",
    "rejected": "ember_rejected_requests_total",
}


def scheduler_counters() -> dict[str, float]:
    """:data:`SCHEDULER_METRICS` of this process (Prometheus default registry)."""
    from prometheus_client import REGISTRY

    return {key: REGISTRY.get_sample_value(name) or 0.0 for key, name in SCHEDULER_METRICS.items()}


def _merge(
    scenario: Scenario,
    answers: list[dict[str, Any]],
    before: dict[str, float],
    after: dict[str, float],
    utilization: list[float],
) -> dict[str, Any]:
    ok = sum(int(a.get("ok", 0)) for a in answers)
    errors = sum(int(a.get("errors", 0)) for a in answers)
    samples = [e for a in answers if (e := a.get("error_sample"))]
    latencies = np.array([x for a in answers for x in a.get("latencies_ms", [])], dtype=float)
    rps = ok / scenario.duration_s
    delta = {k: after[k] - before[k] for k in after}
    batches = max(delta["batches"], 1.0)
    result: dict[str, Any] = {
        "transport": scenario.transport,
        "tokens_per_request": scenario.tokens,
        "concurrency": scenario.concurrency,
        "duration_s": scenario.duration_s,
        "requests": ok,
        "errors": errors,
        "error_sample": samples[0] if samples else "",
        "req_per_s": rps,
        "tok_per_s": rps * scenario.tokens,
        # Little's law for a closed loop (rate = requests in flight / mean latency): steadier than
        # counting completions when large batches complete in bursts inside a short window.
        "req_per_s_little": scenario.concurrency / (float(latencies.mean()) / 1000.0)
        if latencies.size
        else None,
        "p50_ms": float(np.percentile(latencies, 50)) if latencies.size else None,
        "p90_ms": float(np.percentile(latencies, 90)) if latencies.size else None,
        "p99_ms": float(np.percentile(latencies, 99)) if latencies.size else None,
        # Counted over warm-up + measurement (the metrics cannot tell them apart).
        "mean_batch_inputs": delta["inputs"] / batches,
        "mean_batch_tokens": delta["tokens"] / batches,
        "padding_overhead": (delta["padded_tokens"] / delta["tokens"] - 1.0)
        if delta["tokens"]
        else None,
        "engine_busy": delta["engine_s"] / (scenario.warmup_s + scenario.duration_s),
        "rejected": delta["rejected"],
        "gpu_util_mean": float(np.mean(utilization)) if utilization else None,
    }
    return result


@contextlib.asynccontextmanager
async def serve_engine(
    engine: Any,
    model_folder: Path,
    *,
    separate_gateway: bool = False,
    http_workers: int = 1,
    settings_overrides: dict[str, Any] | None = None,
) -> AsyncIterator[tuple[int, int, dict[str, Any]]]:
    """Serve a prebuilt engine; yields (gRPC port, REST port, the service limits in force).
    Stops both on exit.

    ``http_workers`` > 1 runs the gateway as ``ember serve --http-workers N`` does: N worker
    processes on one port (:class:`ember.gateway.workers.GatewayWorkers`). The engine is closed
    when the server stops (the core owns it from then on).
    """
    from ember.service.runtime import settle_heap
    from ember.service.server import EmberServer
    from ember.service.settings import ServerSettings

    settings = ServerSettings(
        model=(str(model_folder),),
        grpc_host="127.0.0.1",
        grpc_port=0,
        shutdown_grace_s=2.0,
        max_concurrent_requests=4096,
        # The prebuilt engine's folder has no weight files (random weights built in memory), so
        # the reduced-precision self-check has no float32 reference to load; accuracy is
        # measured by the plans' own parity sections instead.
        precision_check=False,
        **(settings_overrides or {}),
    )
    server = EmberServer(settings, loader=lambda _config: engine)
    grpc_port = await server.start()
    gateway: Any = None
    gateway_proc: asyncio.subprocess.Process | None = None
    try:
        await server.load()
        if separate_gateway:
            gateway_proc, http_port = await _gateway_process(grpc_port)
        elif http_workers > 1:
            from ember.gateway.settings import GatewaySettings
            from ember.gateway.workers import GatewayWorkers

            gateway = GatewayWorkers(
                GatewaySettings(
                    http_host="127.0.0.1",
                    http_port=0,
                    upstream=f"127.0.0.1:{grpc_port}",
                    http_shutdown_grace_s=2.0,
                ),
                http_workers,
                log_level="warning",
            )
            await gateway.start()
            CHILD_PIDS.update(gateway.pids)
            http_port = gateway.port
        else:
            from ember.gateway.server import GatewayServer
            from ember.gateway.settings import GatewaySettings

            gateway = GatewayServer(
                GatewaySettings(
                    http_host="127.0.0.1",
                    http_port=0,
                    upstream=f"127.0.0.1:{grpc_port}",
                    http_shutdown_grace_s=2.0,
                ),
                local=server.local_calls(),  # as ``ember serve`` (--http-direct true)
            )
            await gateway.start()
            http_port = gateway.port
        limits = dataclasses.asdict(server.core.limits)
        settle_heap()  # as ``ember serve`` does once started
        yield grpc_port, http_port, limits
    finally:
        if gateway is not None:
            pids = list(getattr(gateway, "pids", ()))
            with contextlib.suppress(Exception):
                await asyncio.wait_for(gateway.stop(), 15)
            CHILD_PIDS.difference_update(pids)
        if gateway_proc is not None:
            with contextlib.suppress(ProcessLookupError):
                gateway_proc.terminate()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(gateway_proc.wait(), 10)
            CHILD_PIDS.discard(gateway_proc.pid)
        try:
            await asyncio.wait_for(server.stop(grace=2.0), 30)
        finally:
            # Back under the collector: the next section frees this engine's GPU memory with
            # gc.collect(), which cannot reach frozen objects.
            gc.unfreeze()


_READY = re.compile(r"http_port=(\d+)")


async def _gateway_process(grpc_port: int) -> tuple[asyncio.subprocess.Process, int]:
    """``ember gateway`` in its own process in front of the in-process gRPC server."""
    code = (
        "import benchmarks.harness.bootstrap; from ember.service.cli import main; "
        f"main(['gateway', '--upstream', '127.0.0.1:{grpc_port}', '--http-host', '127.0.0.1', "
        "'--http-port', '0', '--log-level', 'warning'])"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        stdout=asyncio.subprocess.PIPE,
        cwd=str(bootstrap.REPO_ROOT),
    )
    CHILD_PIDS.add(proc.pid)
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        if not line:
            break
        match = _READY.search(line.decode())
        if match:
            return proc, int(match.group(1))
    proc.kill()
    raise RuntimeError("the separate gateway process did not report ready")
