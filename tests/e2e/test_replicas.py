"""Client-side balancing over three real ``ember serve`` replicas (MiniLM): the gRPC clients
(sync and asyncio) and the REST client spread calls over every replica, hedge around a frozen
one, and lose no call when one is killed (``kill -9``) under load."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from ember.clients import (
    AsyncEmberClient,
    EmberClient,
    EmberRestClient,
    EmberRpcError,
    Hedging,
)
from tests.server_process import ServerEndpoints, run_server

TEXTS = ["replicas share the load", "a second sentence for the batch"]
REPLICAS = 3


@pytest.fixture(scope="module")
def replicas(minilm_path: Path) -> Iterator[list[ServerEndpoints]]:
    """Three replicas of the default model; a test may stop or kill the last one."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(run_server(minilm_path)) for _ in range(REPLICAS)]


def embed_calls(server: ServerEndpoints) -> int:
    """The Embed calls a replica answered OK (from its /metrics)."""
    text = httpx.get(f"{server.http_url}/metrics", timeout=10).text
    pattern = r'^ember_grpc_requests_total\{(?=[^}]*code="OK")(?=[^}]*method="[^"]*Embed")'
    return sum(
        int(float(line.rsplit(" ", 1)[1])) for line in text.splitlines() if re.match(pattern, line)
    )


@pytest.fixture(scope="module")
def reference(replicas: list[ServerEndpoints]) -> np.ndarray:
    with EmberClient(replicas[0].grpc_target, retry=None) as client:
        return client.embed(TEXTS)


def test_calls_go_round_robin_to_every_replica(
    replicas: list[ServerEndpoints], reference: np.ndarray
) -> None:
    before = [embed_calls(s) for s in replicas]
    with EmberClient([s.grpc_target for s in replicas]) as client:
        for _ in range(12):
            np.testing.assert_allclose(client.embed(TEXTS), reference, atol=1e-6)
    spread = [embed_calls(s) - b for s, b in zip(replicas, before, strict=True)]
    assert sum(spread) == 12
    assert all(n >= 2 for n in spread), spread


def test_rest_client_spreads_and_answers_the_same(
    replicas: list[ServerEndpoints], reference: np.ndarray
) -> None:
    with EmberRestClient([s.http_url for s in replicas]) as client:
        vectors = [client.embeddings(TEXTS) for _ in range(6)]
    for got in vectors:
        np.testing.assert_allclose(got, reference, atol=1e-5)


def test_per_call_deadline_and_hedging_around_a_frozen_replica(
    replicas: list[ServerEndpoints], reference: np.ndarray
) -> None:
    """A replica that accepts connections but never answers (SIGSTOP): plain calls that land
    on it miss their deadline; hedged calls (a second attempt after 0.2 s on the next replica)
    all answer within theirs."""
    frozen = replicas[-1]
    targets = [s.grpc_target for s in replicas]
    with EmberClient(targets) as plain, EmberClient(targets, hedging=Hedging(0.2)) as hedged:
        for client in (plain, hedged):
            # Until the frozen replica has answered this client once: it is connected (a
            # replica still connecting would never be picked, frozen or not).
            seen = embed_calls(frozen)
            for _ in range(30):
                client.embed(TEXTS)
                if embed_calls(frozen) > seen:
                    break
            assert embed_calls(frozen) > seen
        frozen.process.send_signal(signal.SIGSTOP)
        try:
            outcomes = collections.Counter()
            for _ in range(6):
                try:
                    plain.embed(TEXTS, timeout=1.5)
                    outcomes["OK"] += 1
                except EmberRpcError as error:
                    outcomes[error.code] += 1
            for _ in range(6):
                np.testing.assert_allclose(hedged.embed(TEXTS, timeout=5.0), reference, atol=1e-6)
        finally:
            frozen.process.send_signal(signal.SIGCONT)
    assert outcomes["DEADLINE_EXCEEDED"] >= 1, outcomes
    assert set(outcomes) <= {"OK", "DEADLINE_EXCEEDED"}, outcomes


def test_kill_9_under_load_fails_no_call(
    replicas: list[ServerEndpoints], reference: np.ndarray
) -> None:
    """Sync gRPC, asyncio gRPC and REST clients over three replicas; the last one is killed
    (SIGKILL) while they run. Every call must succeed (retried on another replica)."""
    targets = [s.grpc_target for s in replicas]
    stop = threading.Event()
    results: collections.Counter[str] = collections.Counter()
    failures: list[str] = []
    lock = threading.Lock()

    def record(kind: str, error: Exception | None) -> None:
        with lock:
            results[kind if error is None else f"{kind} {error!r}"] += 1
            if error is not None:
                failures.append(f"{kind}: {error!r}")

    def sync_worker(client: EmberClient) -> None:
        while not stop.is_set():
            try:
                np.testing.assert_allclose(client.embed(TEXTS, timeout=30), reference, atol=1e-6)
                record("grpc sync", None)
            except Exception as error:
                record("grpc sync", error)

    def rest_worker(client: EmberRestClient) -> None:
        while not stop.is_set():
            try:
                np.testing.assert_allclose(client.embeddings(TEXTS), reference, atol=1e-5)
                record("rest", None)
            except Exception as error:
                record("rest", error)

    async def async_load() -> None:
        async with AsyncEmberClient(targets) as client:

            async def worker() -> None:
                while not stop.is_set():
                    try:
                        got = await client.embed(TEXTS, timeout=30)
                        np.testing.assert_allclose(got, reference, atol=1e-6)
                        record("grpc async", None)
                    except Exception as error:
                        record("grpc async", error)

            await asyncio.gather(*(worker() for _ in range(4)))

    with (
        EmberClient(targets) as sync_client,
        EmberRestClient([s.http_url for s in replicas], timeout=30) as rest_client,
    ):
        threads = [
            *(threading.Thread(target=sync_worker, args=(sync_client,)) for _ in range(3)),
            *(threading.Thread(target=rest_worker, args=(rest_client,)) for _ in range(3)),
            threading.Thread(target=asyncio.run, args=(async_load(),)),
        ]
        for thread in threads:
            thread.start()
        time.sleep(2.0)
        before_kill = sum(results.values())
        replicas[-1].process.send_signal(signal.SIGKILL)
        replicas[-1].process.wait(10)
        time.sleep(3.0)
        stop.set()
        for thread in threads:
            thread.join(60)
    after_kill = sum(results.values()) - before_kill
    print(f"kill -9 under load: {dict(results)}; {after_kill} calls after the kill")
    assert failures == [], (failures[:5], dict(results))
    assert before_kill > 0
    assert after_kill > 0
    assert {"grpc sync", "grpc async", "rest"} <= set(results)
