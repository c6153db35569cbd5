"""Load generators: drive an embedding server with many concurrent one-input requests.

Three clients, each sending every text of a workload once as its own request, ``concurrency``
requests in flight, and reporting a :class:`Measurement`:

* ``perf_client``: baseten-performance-client (Rust, REST ``/v1/embeddings``), the client BEI
  users run; one input per request (``batch_size=1``).
* ``rest``: an aiohttp load generator (REST ``/v1/embeddings``, keep-alive connections).
* ``grpc``: grpc.aio ``EmbedService/Embed`` with float32-LE replies over a few channels.

Each run sends ``warmup`` untimed requests first. Latency is per request, client side.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

#: gRPC channels (TCP connections) the gRPC generator spreads its streams over.
_GRPC_CHANNELS = 4


@dataclass(frozen=True)
class Measurement:
    """What one client saw on one workload."""

    requests: int
    tokens: int
    seconds: float
    #: Per-request latencies in seconds (empty when the client does not report them).
    latencies: tuple[float, ...] = ()
    errors: int = 0

    @property
    def requests_per_s(self) -> float:
        """Completed requests per second of wall time."""
        return self.requests / self.seconds

    @property
    def tokens_per_s(self) -> float:
        """Real (unpadded) input tokens per second of wall time."""
        return self.tokens / self.seconds

    def percentile_ms(self, q: float) -> float | None:
        """The q-th latency percentile (0 < q < 100) in milliseconds, when latencies exist."""
        if len(self.latencies) < 2:
            return None
        cuts = statistics.quantiles(self.latencies, n=1000, method="inclusive")
        return 1000.0 * cuts[min(len(cuts) - 1, max(0, round(q * 10) - 1))]


async def _drive(
    send: Callable[[int], Awaitable[bool]], count: int, concurrency: int
) -> tuple[float, list[float], int]:
    """Run ``send(i)`` for i in 0..count-1, ``concurrency`` at a time; (wall, latencies, errors)."""
    latencies: list[float] = []
    errors = 0
    next_index = 0

    async def worker() -> None:
        nonlocal next_index, errors
        while next_index < count:
            i = next_index
            next_index += 1
            start = time.perf_counter()
            ok = await send(i)
            latencies.append(time.perf_counter() - start)
            if not ok:
                errors += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))
    return time.perf_counter() - start, latencies, errors


def rest(
    base_url: str,
    texts: Sequence[str],
    tokens: int,
    concurrency: int,
    warmup: int,
    model: str = "bench",
) -> Measurement:
    """aiohttp: one ``POST {base_url}/v1/embeddings`` per text."""
    import aiohttp
    import orjson

    url = f"{base_url}/v1/embeddings"
    bodies = [orjson.dumps({"input": [t], "model": model}) for t in texts]
    headers = {"Content-Type": "application/json", "Authorization": "Bearer bench"}

    async def main() -> Measurement:
        connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
        timeout = aiohttp.ClientTimeout(total=600)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

            async def send(i: int) -> bool:
                async with session.post(url, data=bodies[i % len(bodies)], headers=headers) as r:
                    await r.read()
                    return r.status == 200

            await _drive(send, warmup, concurrency)
            wall, latencies, errors = await _drive(send, len(bodies), concurrency)
        return Measurement(len(bodies), tokens, wall, tuple(latencies), errors)

    return asyncio.run(main())


def grpc_embed(
    target: str, texts: Sequence[str], tokens: int, concurrency: int, warmup: int
) -> Measurement:
    """grpc.aio: one ``EmbedService/Embed`` call per text (float32-LE replies)."""
    import grpc

    from ember.v1 import embed_pb2, embed_pb2_grpc

    requests = [
        embed_pb2.EmbedRequest(
            inputs=[embed_pb2.EmbedInput(text=t)],
            format=embed_pb2.EMBEDDING_FORMAT_FLOAT32_LE,
        )
        for t in texts
    ]

    async def main() -> Measurement:
        channels = [
            grpc.aio.insecure_channel(
                target,
                options=[
                    ("grpc.use_local_subchannel_pool", 1),
                    ("grpc.max_receive_message_length", 64 << 20),
                ],
            )
            for _ in range(_GRPC_CHANNELS)
        ]
        stubs = [embed_pb2_grpc.EmbedServiceStub(c) for c in channels]

        async def send(i: int) -> bool:
            try:
                await stubs[i % len(stubs)].Embed(requests[i % len(requests)], timeout=600)
            except grpc.aio.AioRpcError:
                return False
            return True

        try:
            await _drive(send, warmup, concurrency)
            wall, latencies, errors = await _drive(send, len(requests), concurrency)
        finally:
            for channel in channels:
                await channel.close(None)
        return Measurement(len(requests), tokens, wall, tuple(latencies), errors)

    return asyncio.run(main())


def perf_client(
    base_url: str,
    texts: Sequence[str],
    tokens: int,
    concurrency: int,
    warmup: int,
    model: str = "bench",
) -> Measurement:
    """baseten-performance-client: ``embed`` with one input per request."""
    from baseten_performance_client import PerformanceClient, RequestProcessingPreference

    client = PerformanceClient(base_url=base_url, api_key="bench")
    preference = RequestProcessingPreference(
        max_concurrent_requests=concurrency, batch_size=1, timeout_s=600.0
    )
    if warmup:
        client.embed(list(texts[:warmup]), model=model, preference=preference)
    start = time.perf_counter()
    response = client.embed(list(texts), model=model, preference=preference)
    wall = time.perf_counter() - start
    if len(response.data) != len(texts):
        raise RuntimeError(f"performance client got {len(response.data)} of {len(texts)} vectors")
    latencies = tuple(response.individual_request_times or ())
    return Measurement(len(texts), tokens, wall, latencies)
