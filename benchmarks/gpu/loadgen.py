"""A load-generating worker process: drives Ember over gRPC or REST and reports what it saw.

Started by :mod:`benchmarks.gpu.serverpath` as ``python -m benchmarks.gpu.loadgen`` (it never
imports torch). It reads one JSON command per line on stdin and answers one JSON line on stdout:

* ``{"op": "run", "transport": "grpc"|"rest", "host": ..., "port": ..., "tokens": N,
  "id_low": a, "id_high": b, "concurrency": C, "start_at": epoch_s, "warmup_s": w,
  "duration_s": d, "seed": s}``: C coroutines each send one request at a time (one input of N
  random token ids) from ``start_at`` until ``start_at + w + d``; requests that complete in the
  last ``d`` seconds are counted and their latencies kept.
* ``{"op": "quit"}``: exit.

gRPC: ``EmbedService/Embed`` with ``token_ids`` inputs and ``EMBEDDING_FORMAT_FLOAT32_LE``
replies, over a few channels per process (separate TCP connections). REST: ``POST
/v1/embeddings`` with ``{"input": [ids...], "encoding_format": "base64"}`` over keep-alive
HTTP/1.1 connections, one per coroutine, written with plain asyncio streams (the cheapest client
Python has, so the client is not what is measured).
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from benchmarks.gpu import bootstrap

bootstrap.ensure_ember_importable()

# Distinct request bodies per worker: enough that nothing is served from a reused buffer.
_POOL = 128
_GRPC_STREAMS_PER_CHANNEL = 64


@dataclass
class _Tally:
    measure_from: float
    end: float
    ok: int = 0
    errors: int = 0
    error_sample: str = ""
    latencies_ms: list[float] = field(default_factory=list)

    def record(self, started: float, failed: str | None) -> None:
        done = time.time()
        if done < self.measure_from or done > self.end:
            return
        if failed is not None:
            self.errors += 1
            if not self.error_sample:
                self.error_sample = failed[:300]
            return
        self.ok += 1
        self.latencies_ms.append((done - started) * 1000.0)


def _id_lists(cmd: dict[str, Any]) -> list[list[int]]:
    rng = random.Random(int(cmd["seed"]))
    low, high, n = int(cmd["id_low"]), int(cmd["id_high"]), int(cmd["tokens"])
    return [[rng.randrange(low, high) for _ in range(n)] for _ in range(_POOL)]


async def _drive(
    cmd: dict[str, Any], one: Callable[[int, int], Awaitable[str | None]], tally: _Tally
) -> None:
    """Run ``concurrency`` loops; loop ``w`` calls ``one(w, k)`` for k = 0, 1, ... until the end."""
    await asyncio.sleep(max(0.0, float(cmd["start_at"]) - time.time()))

    async def loop(worker: int) -> None:
        k = 0
        while time.time() < tally.end:
            started = time.time()
            try:
                failed = await one(worker, k)
            except Exception as exc:
                failed = f"{type(exc).__name__}: {exc}"
                await asyncio.sleep(0.01)  # a refused connection must not spin
            tally.record(started, failed)
            k += 1

    await asyncio.gather(*(loop(w) for w in range(int(cmd["concurrency"]))))


async def _run_grpc(cmd: dict[str, Any], tally: _Tally) -> None:
    import grpc

    from ember.v1 import embed_pb2, embed_pb2_grpc

    target = f"{cmd['host']}:{cmd['port']}"
    concurrency = int(cmd["concurrency"])
    count = max(1, (concurrency + _GRPC_STREAMS_PER_CHANNEL - 1) // _GRPC_STREAMS_PER_CHANNEL)
    options = [
        ("grpc.max_receive_message_length", -1),
        ("grpc.use_local_subchannel_pool", 1),  # one TCP connection per channel
    ]
    channels = [grpc.aio.insecure_channel(target, options=options) for _ in range(count)]
    stubs = [embed_pb2_grpc.EmbedServiceStub(c) for c in channels]
    requests = [
        embed_pb2.EmbedRequest(
            inputs=[embed_pb2.EmbedInput(token_ids=embed_pb2.TokenIds(ids=ids))],
            format=embed_pb2.EMBEDDING_FORMAT_FLOAT32_LE,
        )
        for ids in _id_lists(cmd)
    ]
    first = await stubs[0].Embed(requests[0], timeout=120)
    if len(first.embeddings) != 1 or not first.embeddings[0].float32_le:
        raise RuntimeError(f"unexpected gRPC answer: {first}")

    async def one(worker: int, k: int) -> str | None:
        reply = await stubs[worker % count].Embed(requests[(worker + k) % _POOL], timeout=120)
        return None if len(reply.embeddings) == 1 else "wrong number of embeddings"

    try:
        await _drive(cmd, one, tally)
    finally:
        for channel in channels:
            await channel.close(None)


class _HttpConnection:
    """One keep-alive HTTP/1.1 connection that POSTs prebuilt requests."""

    def __init__(self, host: str, port: int) -> None:
        self._host, self._port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, raw: bytes) -> tuple[int, bytes]:
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
                if ":" in line:
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
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


def _http_request(host: str, port: int, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Accept: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


async def _run_rest(cmd: dict[str, Any], tally: _Tally) -> None:
    host, port = str(cmd["host"]), int(cmd["port"])
    path = str(cmd.get("path", "/v1/embeddings"))
    raws = [
        _http_request(
            host,
            port,
            path,
            json.dumps(
                {"input": ids, "model": "bench", "encoding_format": "base64"},
                separators=(",", ":"),
            ).encode(),
        )
        for ids in _id_lists(cmd)
    ]
    probe = _HttpConnection(host, port)
    status, body = await probe.post(raws[0])
    probe.close()
    if status != 200 or len(json.loads(body)["data"]) != 1:
        raise RuntimeError(f"unexpected REST answer {status}: {body[:300]!r}")
    connections = [_HttpConnection(host, port) for _ in range(int(cmd["concurrency"]))]

    async def one(worker: int, k: int) -> str | None:
        status, body = await connections[worker].post(raws[(worker + k) % _POOL])
        return None if status == 200 else f"HTTP {status}: {body[:200]!r}"

    try:
        await _drive(cmd, one, tally)
    finally:
        for conn in connections:
            conn.close()


async def _run(cmd: dict[str, Any]) -> dict[str, Any]:
    start = float(cmd["start_at"])
    tally = _Tally(
        measure_from=start + float(cmd["warmup_s"]),
        end=start + float(cmd["warmup_s"]) + float(cmd["duration_s"]),
    )
    if cmd["transport"] == "grpc":
        await _run_grpc(cmd, tally)
    else:
        await _run_rest(cmd, tally)
    return {
        "ok": tally.ok,
        "errors": tally.errors,
        "error_sample": tally.error_sample,
        "latencies_ms": [round(x, 3) for x in tally.latencies_ms],
    }


def main() -> None:
    """Serve commands from stdin until ``quit`` or end of input."""
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        cmd = json.loads(line)
        if cmd.get("op") == "quit":
            break
        try:
            answer = asyncio.run(_run(cmd))
        except Exception as exc:
            answer = {"ok": 0, "errors": 1, "error_sample": f"{type(exc).__name__}: {exc}"}
            answer["latencies_ms"] = []
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
