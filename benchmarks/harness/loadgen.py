"""The load generator: drive an embedding server with many concurrent one-input requests.

One request per input (a text, or a list of token ids), ``concurrency`` requests in flight,
over one of three clients:

* ``rest``: ``POST /v1/embeddings`` over keep-alive HTTP/1.1 connections, one per in-flight
  request, written with plain asyncio streams (the cheapest client Python has, so the client is
  not what is measured);
* ``grpc``: grpc.aio ``EmbedService/Embed`` with float32-LE replies over a few channels;
* ``perf-client``: baseten-performance-client (Rust, REST), the client BEI users run.

Two ways to run them, one driver (:func:`drive`):

* **in this process, a fixed list** (:func:`rest`, :func:`grpc_embed`, :func:`perf_client`):
  every input sent once after ``warmup`` untimed requests; a :class:`Measurement` (the CPU run);
* **as worker processes, for a duration** (``python -m benchmarks.harness.loadgen``, started
  by :class:`benchmarks.harness.serverpath.WorkerPool`; it never imports torch): one JSON
  command per line on stdin, one JSON answer per line on stdout:

  - ``{"op": "run", "transport": "grpc"|"rest", "host", "port", "tokens": N, "id_low",
    "id_high", "concurrency": C, "start_at": epoch_s, "warmup_s": w, "duration_s": d, "seed"}``:
    C loops send one request each (one input of N random token ids) from ``start_at`` until
    ``start_at + w + d``; requests completed in the last ``d`` seconds are counted;
  - ``{"op": "quit"}``: exit.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

#: gRPC streams per channel (TCP connection) before another channel is opened.
_GRPC_STREAMS_PER_CHANNEL = 64
#: Distinct token-id bodies per worker process: nothing is served from a reused buffer.
_POOL = 128

Input = str | Sequence[int]


@dataclass(frozen=True)
class Measurement:
    """What one client saw on one fixed list of requests."""

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


@dataclass
class Tally:
    """Completions and latencies inside a measured window (all of them when unbounded)."""

    measure_from: float = 0.0
    end: float = float("inf")
    ok: int = 0
    errors: int = 0
    error_sample: str = ""
    latencies: list[float] = field(default_factory=list)

    def record(self, started: float, failed: str | None) -> None:
        done = time.time()
        if done < self.measure_from or done > self.end:
            return
        if failed is not None:
            self.errors += 1
            self.error_sample = self.error_sample or failed[:300]
            return
        self.ok += 1
        self.latencies.append(done - started)


#: ``send(worker, index)``: send input ``index`` (modulo the inputs) on loop ``worker``'s
#: connection; None when it succeeded, else why not.
Send = Callable[[int, int], Awaitable[str | None]]


async def drive(send: Send, concurrency: int, tally: Tally, count: int | None = None) -> float:
    """Run ``concurrency`` loops of ``send`` and return the wall time.

    With ``count``, inputs 0..count-1 are shared among the loops, each sent once; without,
    each loop sends until ``tally.end`` (epoch seconds), loop w sending inputs w, w+1, ...
    Every completion is recorded in ``tally`` (which keeps those inside its window)."""
    next_index = 0

    async def loop(worker: int) -> None:
        nonlocal next_index
        index = worker
        while True:
            if count is not None:
                if next_index >= count:
                    return
                index, next_index = next_index, next_index + 1
            elif time.time() >= tally.end:
                return
            started = time.time()
            try:
                failed = await send(worker, index)
            except Exception as exc:
                failed = f"{type(exc).__name__}: {exc}"
                await asyncio.sleep(0.01)  # a refused connection must not spin
            tally.record(started, failed)
            index += 1

    loops = concurrency if count is None else min(concurrency, count)
    start = time.perf_counter()
    await asyncio.gather(*(loop(w) for w in range(loops)))
    return time.perf_counter() - start


# -- request bodies -------------------------------------------------------------------------


def rest_body(item: Input, model: str = "bench", encoding_format: str | None = None) -> bytes:
    """The ``/v1/embeddings`` JSON body of one input (a text, or one input's token ids)."""
    body: dict[str, Any] = {"input": [item] if isinstance(item, str) else list(item)}
    body["model"] = model
    if encoding_format:
        body["encoding_format"] = encoding_format
    return json.dumps(body, separators=(",", ":")).encode()


def grpc_request(item: Input) -> Any:
    """The ``EmbedRequest`` of one input, float32-LE replies."""
    from ember.v1 import embed_pb2

    one = (
        embed_pb2.EmbedInput(text=item)
        if isinstance(item, str)
        else embed_pb2.EmbedInput(token_ids=embed_pb2.TokenIds(ids=list(item)))
    )
    return embed_pb2.EmbedRequest(inputs=[one], format=embed_pb2.EMBEDDING_FORMAT_FLOAT32_LE)


# -- the clients ----------------------------------------------------------------------------


class HttpConnection:
    """One keep-alive HTTP/1.1 connection that POSTs prebuilt requests."""

    def __init__(self, host: str, port: int) -> None:
        self._host, self._port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    @staticmethod
    def request(host: str, port: int, path: str, body: bytes) -> bytes:
        """The raw bytes of ``POST path`` with a JSON ``body``."""
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Accept: application/json\r\nAuthorization: Bearer bench\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode("latin-1") + body

    async def post(self, raw: bytes) -> tuple[int, bytes]:
        """Send one prebuilt request; (status, body). A kept-alive connection the server closed
        while idle (its keep-alive timeout) is reopened and the request sent again, once."""
        reused = self._writer is not None and not self._writer.is_closing()
        try:
            return await self._post(raw)
        except (asyncio.IncompleteReadError, ConnectionError):
            if not reused:
                raise
            return await self._post(raw)

    async def _post(self, raw: bytes) -> tuple[int, bytes]:
        if self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        assert self._reader is not None
        try:
            self._writer.write(raw)
            head = await self._reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            headers = {}
            for line in lines[1:]:
                key, _, value = line.partition(":")
                headers[key.strip().lower()] = value.strip()
            if headers.get("transfer-encoding", "").lower() == "chunked":
                body = await self._chunked()
            else:
                body = await self._reader.readexactly(int(headers.get("content-length", "0")))
            if headers.get("connection", "").lower() == "close":
                self.close()
            return status, body
        except BaseException:
            self.close()
            raise

    async def _chunked(self) -> bytes:
        assert self._reader is not None
        parts: list[bytes] = []
        while True:
            size = int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self._reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self._reader.readexactly(size))
            await self._reader.readexactly(2)

    def close(self) -> None:
        """Close the connection (the next ``post`` opens a new one)."""
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


class _Rest:
    """REST sender: one connection per loop, prebuilt requests."""

    def __init__(
        self, host: str, port: int, items: Sequence[Input], concurrency: int, fmt: str | None
    ) -> None:
        self.raws = [
            HttpConnection.request(host, port, "/v1/embeddings", rest_body(i, encoding_format=fmt))
            for i in items
        ]
        self.connections = [HttpConnection(host, port) for _ in range(concurrency)]

    async def check(self) -> None:
        status, body = await self.connections[0].post(self.raws[0])
        if status != 200 or len(json.loads(body)["data"]) != 1:
            raise RuntimeError(f"unexpected REST answer {status}: {body[:300]!r}")

    async def send(self, worker: int, index: int) -> str | None:
        status, body = await self.connections[worker].post(self.raws[index % len(self.raws)])
        return None if status == 200 else f"HTTP {status}: {body[:200]!r}"

    def close(self) -> None:
        for connection in self.connections:
            connection.close()


class _Grpc:
    """gRPC sender: ``EmbedService/Embed`` over enough channels for the streams in flight."""

    def __init__(self, target: str, items: Sequence[Input], concurrency: int) -> None:
        import grpc

        from ember.v1 import embed_pb2_grpc

        count = max(1, -(-concurrency // _GRPC_STREAMS_PER_CHANNEL))
        options = [
            ("grpc.max_receive_message_length", -1),
            ("grpc.use_local_subchannel_pool", 1),  # one TCP connection per channel
        ]
        self.channels = [grpc.aio.insecure_channel(target, options=options) for _ in range(count)]
        self.stubs = [embed_pb2_grpc.EmbedServiceStub(c) for c in self.channels]
        self.requests = [grpc_request(i) for i in items]

    async def check(self) -> None:
        first = await self.stubs[0].Embed(self.requests[0], timeout=120)
        if len(first.embeddings) != 1 or not first.embeddings[0].float32_le:
            raise RuntimeError(f"unexpected gRPC answer: {first}")

    async def send(self, worker: int, index: int) -> str | None:
        import grpc

        stub = self.stubs[worker % len(self.stubs)]
        try:
            reply = await stub.Embed(self.requests[index % len(self.requests)], timeout=600)
        except grpc.aio.AioRpcError as exc:
            return f"{exc.code().name}: {exc.details()}"
        return None if len(reply.embeddings) == 1 else "wrong number of embeddings"

    async def aclose(self) -> None:
        for channel in self.channels:
            await channel.close(None)


async def _fixed(
    sender: Any, count: int, concurrency: int, warmup: int, tokens: int
) -> Measurement:
    """Check one answer, send ``warmup`` untimed requests, then every input once, timed."""
    await sender.check()
    await drive(sender.send, concurrency, Tally(), count=warmup)
    tally = Tally()
    wall = await drive(sender.send, concurrency, tally, count=count)
    return Measurement(count, tokens, wall, tuple(tally.latencies), tally.errors)


def rest(
    base_url: str, items: Sequence[Input], tokens: int, concurrency: int, warmup: int
) -> Measurement:
    """REST: one ``POST {base_url}/v1/embeddings`` per input, each sent once."""
    host, _, port = base_url.removeprefix("http://").partition(":")

    async def main() -> Measurement:
        sender = _Rest(host, int(port), items, concurrency, None)
        try:
            return await _fixed(sender, len(items), concurrency, warmup, tokens)
        finally:
            sender.close()

    return asyncio.run(main())


def grpc_embed(
    target: str, items: Sequence[Input], tokens: int, concurrency: int, warmup: int
) -> Measurement:
    """gRPC: one ``EmbedService/Embed`` call per input, each sent once."""

    async def main() -> Measurement:
        sender = _Grpc(target, items, concurrency)
        try:
            return await _fixed(sender, len(items), concurrency, warmup, tokens)
        finally:
            await sender.aclose()

    return asyncio.run(main())


def perf_client(
    base_url: str, texts: Sequence[str], tokens: int, concurrency: int, warmup: int
) -> Measurement:
    """baseten-performance-client: ``embed`` with one input per request."""
    from baseten_performance_client import PerformanceClient, RequestProcessingPreference

    client = PerformanceClient(base_url=base_url, api_key="bench")
    preference = RequestProcessingPreference(
        max_concurrent_requests=concurrency, batch_size=1, timeout_s=600.0
    )
    if warmup:
        client.embed(list(texts[:warmup]), model="bench", preference=preference)
    start = time.perf_counter()
    response = client.embed(list(texts), model="bench", preference=preference)
    wall = time.perf_counter() - start
    if len(response.data) != len(texts):
        raise RuntimeError(f"performance client got {len(response.data)} of {len(texts)} vectors")
    latencies = tuple(response.individual_request_times or ())
    return Measurement(len(texts), tokens, wall, latencies)


#: The fixed-list clients by name, as the CPU plan names them.
CLIENTS: dict[str, Callable[[str, Sequence[Any], int, int, int], Measurement]] = {
    "perf-client": perf_client,
    "rest": rest,
    "grpc": grpc_embed,
}


# -- the worker process ---------------------------------------------------------------------


def _id_lists(cmd: dict[str, Any]) -> list[list[int]]:
    rng = random.Random(int(cmd["seed"]))
    low, high, n = int(cmd["id_low"]), int(cmd["id_high"]), int(cmd["tokens"])
    return [[rng.randrange(low, high) for _ in range(n)] for _ in range(_POOL)]


async def _timed(cmd: dict[str, Any]) -> dict[str, Any]:
    start = float(cmd["start_at"])
    tally = Tally(
        start + float(cmd["warmup_s"]), start + float(cmd["warmup_s"]) + float(cmd["duration_s"])
    )
    items = _id_lists(cmd)
    concurrency = int(cmd["concurrency"])
    sender: Any
    if cmd["transport"] == "grpc":
        sender = _Grpc(f"{cmd['host']}:{cmd['port']}", items, concurrency)
    else:
        sender = _Rest(str(cmd["host"]), int(cmd["port"]), items, concurrency, "base64")
    try:
        await sender.check()
        await asyncio.sleep(max(0.0, start - time.time()))
        await drive(sender.send, concurrency, tally)
    finally:
        if isinstance(sender, _Grpc):
            await sender.aclose()
        else:
            sender.close()
    return {
        "ok": tally.ok,
        "errors": tally.errors,
        "error_sample": tally.error_sample,
        "latencies_ms": [round(1000.0 * x, 3) for x in tally.latencies],
    }


def main() -> None:
    """Serve commands from stdin until ``quit`` or end of input."""
    from benchmarks.harness import bootstrap

    bootstrap.ensure_ember_importable()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        cmd = json.loads(line)
        if cmd.get("op") == "quit":
            break
        try:
            answer = asyncio.run(_timed(cmd))
        except Exception as exc:
            answer = {"ok": 0, "errors": 1, "error_sample": f"{type(exc).__name__}: {exc}"}
            answer["latencies_ms"] = []
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
