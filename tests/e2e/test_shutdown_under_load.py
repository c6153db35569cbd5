"""SIGTERM under load: the installed ``ember serve`` with real gRPC (unary and batch streams)
and REST clients running, counting every request's fate. Nothing accepted may be lost: each
unary call ends OK or with a retryable refusal (UNAVAILABLE / 503, RESOURCE_EXHAUSTED / 429),
every stream batch read is answered and the stream ends OK or UNAVAILABLE, and the process
exits within ``--shutdown-grace`` of the signal."""

from __future__ import annotations

import asyncio
import collections
import signal
import time
from pathlib import Path

import grpc
import httpx
import pytest

from ember.v1 import embed_pb2, embed_pb2_grpc
from tests.server_process import run_server

GRACE_S = 3.0
LOAD_BEFORE_SIGNAL_S = 1.5
#: Ends of a unary call that are answers, or refusals a client retries: not lost.
UNARY_FINE = {"OK", "UNAVAILABLE", "RESOURCE_EXHAUSTED"}
REST_FINE = {200, 429, 503}
TEXT = "graceful shutdown keeps every accepted request " * 4


class Tally:
    """Outcomes by kind, and the requests lost (accepted, then neither answered nor refused)."""

    def __init__(self) -> None:
        self.outcomes: collections.Counter[str] = collections.Counter()
        self.lost: list[str] = []

    def count(self, outcome: str, fine: bool) -> None:
        self.outcomes[outcome] += 1
        if not fine:
            self.lost.append(outcome)


async def unary_client(target: str, stop: asyncio.Event, tally: Tally) -> None:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = embed_pb2_grpc.EmbedServiceStub(channel)
        request = embed_pb2.EmbedRequest(inputs=[embed_pb2.EmbedInput(text=TEXT)] * 4)
        while not stop.is_set():
            try:
                await stub.Embed(request, timeout=30)
                tally.count("grpc OK", True)
            except grpc.aio.AioRpcError as error:
                name = error.code().name
                tally.count(f"grpc {name}", name in UNARY_FINE)
                if name == "UNAVAILABLE":
                    return  # refused: the server is going away


async def stream_client(target: str, stop: asyncio.Event, tally: Tally) -> None:
    """One batch stream; a batch sent but not answered is lost unless the stream ends
    UNAVAILABLE (the server's "resend what has no answer"). Once a batch is refused
    UNAVAILABLE (the server is shutting down) the client stops sending and closes its side."""
    sent: set[int] = set()
    answered: set[int] = set()
    refused = asyncio.Event()
    # A few batches in flight, as a client that paces itself would: the work accepted when the
    # signal comes then fits in the grace on a busy 2-core machine.
    window = asyncio.Semaphore(4)

    async def batches() -> object:
        batch_id = 0
        while not (stop.is_set() or refused.is_set()):
            await window.acquire()
            if refused.is_set():
                return
            batch_id += 1
            sent.add(batch_id)
            yield embed_pb2.EmbedStreamRequest(
                batch_id=str(batch_id),
                request=embed_pb2.EmbedRequest(inputs=[embed_pb2.EmbedInput(text=TEXT)] * 2),
            )
            await asyncio.sleep(0.02)

    async with grpc.aio.insecure_channel(target) as channel:
        stub = embed_pb2_grpc.EmbedServiceStub(channel)
        status = "OK"
        try:
            async for answer in stub.EmbedStream(batches(), timeout=60):
                answered.add(int(answer.batch_id))
                window.release()
                if answer.HasField("error"):
                    assert answer.error.code == grpc.StatusCode.UNAVAILABLE.value[0], answer
                    refused.set()
                    tally.count("stream batch refused", True)
                else:
                    tally.count("stream batch answered", True)
        except grpc.aio.AioRpcError as error:
            status = error.code().name
        tally.count(f"stream ended {status}", status in ("OK", "UNAVAILABLE"))
        unanswered = len(sent - answered)
        if status != "UNAVAILABLE":
            for _ in range(unanswered):
                tally.count("stream batch lost", False)


async def rest_client(url: str, stop: asyncio.Event, tally: Tally) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        while not stop.is_set():
            try:
                response = await http.post("/embed", json={"inputs": [TEXT] * 4})
            except httpx.ConnectError:
                return  # the listening socket is closed: refused before acceptance
            except httpx.TransportError as error:
                # The connection closed with a request on it: nothing was answered.
                tally.count(f"rest {type(error).__name__}", False)
                return
            tally.count(f"rest {response.status_code}", response.status_code in REST_FINE)
            if response.status_code == 503:
                return


@pytest.mark.timeout(120)
async def test_sigterm_under_load_loses_nothing(minilm_path: Path) -> None:
    with run_server(minilm_path, "--shutdown-grace", str(GRACE_S)) as server:
        tally = Tally()
        stop = asyncio.Event()
        clients = [
            *(unary_client(server.grpc_target, stop, tally) for _ in range(6)),
            *(stream_client(server.grpc_target, stop, tally) for _ in range(2)),
            *(rest_client(server.http_url, stop, tally) for _ in range(4)),
        ]
        running = asyncio.gather(*clients)
        await asyncio.sleep(LOAD_BEFORE_SIGNAL_S)
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(server.process.wait, GRACE_S + 10)
        exited_after = time.monotonic() - signalled
        stop.set()
        await asyncio.wait_for(running, 30)
        code = server.process.returncode
    print(f"shutdown under load: {dict(tally.outcomes)}; exit {exited_after:.2f}s after SIGTERM")
    assert code == 0, server.log()
    assert tally.lost == [], (dict(tally.outcomes), server.log()[-3000:])
    assert tally.outcomes["grpc OK"] > 0
    assert tally.outcomes["stream batch answered"] > 0
    assert tally.outcomes["rest 200"] > 0
    assert exited_after <= GRACE_S + 1.0, server.log()[-3000:]


@pytest.mark.timeout(120)
async def test_grace_expiry_answers_unavailable(minilm_path: Path) -> None:
    """Work longer than the grace: the calls still running when it ends are answered
    UNAVAILABLE (gRPC) and 503 (REST), not cancelled, and the process exits in time."""
    grace = 1.0
    long_texts = ["a long input for a long request " * 12] * 1024
    with run_server(minilm_path, "--shutdown-grace", str(grace)) as server:
        async with grpc.aio.insecure_channel(server.grpc_target) as channel:
            stub = embed_pb2_grpc.EmbedServiceStub(channel)
            request = embed_pb2.EmbedRequest(
                inputs=[embed_pb2.EmbedInput(text=t) for t in long_texts]
            )
            async with httpx.AsyncClient(base_url=server.http_url, timeout=60) as http:

                async def grpc_status() -> str:
                    try:
                        await stub.Embed(request, timeout=60)
                    except grpc.aio.AioRpcError as error:
                        return f"grpc {error.code().name}"
                    return "grpc OK"

                async def rest_status() -> str:
                    body = {"inputs": long_texts}
                    return f"rest {(await http.post('/embed', json=body)).status_code}"

                calls = asyncio.gather(grpc_status(), rest_status())
                await asyncio.sleep(0.5)
                signalled = time.monotonic()
                server.process.send_signal(signal.SIGTERM)
                outcomes = await calls
                await asyncio.to_thread(server.process.wait, 30)
                exited_after = time.monotonic() - signalled
    print(f"grace expiry: {outcomes}; exit {exited_after:.2f}s after SIGTERM")
    assert sorted(outcomes) == ["grpc UNAVAILABLE", "rest 503"], server.log()[-3000:]
    assert server.process.returncode == 0
    # The ONNX Runtime forward running at the end of the grace is interrupted (uninterrupted,
    # it kept the process ~6 s past a 1 s grace on this busy 2-core machine).
    assert exited_after <= grace + 2.0
