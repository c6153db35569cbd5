"""Ember on a real two-node Ray cluster (``ember serve --ray-address ... --autoscale 1:2``, each
node one CPU, each replica one CPU: two replicas are necessarily on two nodes). Through Ray
Serve's proxies: the same vectors and the same errors as one server; autoscaling from 1 to 2
replicas under load and back; a replica killed (``kill -9``) under load loses no call of a
retrying client and is restarted."""

from __future__ import annotations

import asyncio
import collections
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ember.clients import EmberClient, EmberRestClient, EmberRpcError, RetryPolicy
from ember.clients import requests as rq
from ember.v1 import embed_pb2_grpc
from tests.scale.ray_cluster import RayCluster, ray_cluster, replica_pids
from tests.server_process import ServerEndpoints, run_server

pytestmark = [pytest.mark.ray, pytest.mark.timeout(600)]

KEY = "ray-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
TEXTS = ["scale out on ray", "a second input of the batch"]


@pytest.fixture(scope="module")
def cluster() -> Iterator[RayCluster]:
    with ray_cluster() as started:
        yield started


@pytest.fixture(scope="module")
def reference(minilm_path: Path) -> np.ndarray:
    """The vectors of one plain ``ember serve``."""
    with run_server(minilm_path) as single, EmberClient(single.grpc_target) as client:
        return client.embed(TEXTS)


@pytest.fixture(scope="module")
def on_ray(cluster: RayCluster, minilm_path: Path) -> Iterator[ServerEndpoints]:
    """``ember serve`` on the cluster, 1 to 2 replicas, one engine batch of 2 requests as the
    autoscaling target, 8 requests admitted per replica."""
    with run_server(
        minilm_path,
        "--ray-address",
        cluster.address,
        "--autoscale",
        "1:2",
        "--max-batch-requests",
        "2",
        "--num-threads",
        "1",
        "--max-concurrent-requests",
        "8",
        "--api-key",
        KEY,
        timeout=300,
    ) as server:
        yield server


def replica_count(cluster: RayCluster) -> int:
    return len(replica_pids(cluster))


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.5)


def replica_starts(server: ServerEndpoints, calls: int = 24) -> set[str]:
    """The replicas that answered ``calls`` REST requests through the proxy, each known by its
    process start time (its /metrics)."""
    seen = set()
    with httpx.Client(headers=AUTH, timeout=30) as http:
        for _ in range(calls):
            text = http.get(f"{server.http_url}/metrics").text
            match = re.search(r"^process_start_time_seconds (\S+)$", text, re.MULTILINE)
            assert match is not None
            seen.add(match.group(1))
    return seen


def test_answers_and_errors_as_one_server(on_ray: ServerEndpoints, reference: np.ndarray) -> None:
    with EmberRestClient(on_ray.http_url, api_key=KEY) as rest:
        np.testing.assert_allclose(rest.embeddings(TEXTS), reference, atol=1e-5)
    channel = grpc.insecure_channel(on_ray.grpc_target)
    metadata = (("authorization", f"Bearer {KEY}"),)
    with channel:
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        raw = channel.unary_unary("/ember.v1.EmbedService/Embed")
        with pytest.raises(grpc.RpcError) as garbage:
            raw(b"\xff\xff\xff", metadata=metadata, timeout=30)
        assert garbage.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.RpcError) as unauthenticated:
            raw(b"", timeout=30)
        assert unauthenticated.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with httpx.Client(base_url=on_ray.http_url, timeout=30) as http:
        assert http.get("/health").status_code == 200
        assert http.post("/embed", json={"inputs": ["hi"]}).status_code == 401
        bad = http.post("/embed", json={"inputs": []}, headers=AUTH)
        assert bad.status_code == 422, bad.text


def test_grpc_client_through_the_proxy(on_ray: ServerEndpoints, reference: np.ndarray) -> None:
    channel = grpc.insecure_channel(on_ray.grpc_target)
    metadata = (("authorization", f"Bearer {KEY}"),)
    with channel:
        stub = embed_pb2_grpc.EmbedServiceStub(channel)
        answer = stub.Embed(rq.embed_request(TEXTS), metadata=metadata, timeout=30)
        np.testing.assert_allclose(rq.embeddings(answer), reference, atol=1e-6)
        with pytest.raises(grpc.RpcError) as empty:
            stub.Embed(rq.embed_request([]), metadata=metadata, timeout=30)
        assert empty.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_autoscale_up_kill_and_down(
    cluster: RayCluster, on_ray: ServerEndpoints, reference: np.ndarray
) -> None:
    """Load scales 1 -> 2 replicas (one per node) and both answer; one is killed (SIGKILL) under
    load: no call fails (REST retried by the client) and Ray starts a new one; without load,
    back to 1."""
    assert replica_count(cluster) == 1
    stop = asyncio.Event()
    outcomes: collections.Counter[str] = collections.Counter()
    failures: list[str] = []

    async def worker(http: httpx.AsyncClient) -> None:
        while not stop.is_set():
            try:
                response = await http.post("/embed", json={"inputs": TEXTS}, headers=AUTH)
                outcomes[str(response.status_code)] += 1
                if response.status_code != 200:
                    failures.append(response.text[:200])
            except httpx.HTTPError as error:
                failures.append(repr(error))

    async def scenario() -> tuple[set[str], int]:
        async with httpx.AsyncClient(base_url=on_ray.http_url, timeout=60) as http:
            load = asyncio.gather(*(worker(http) for _ in range(8)))
            try:
                await asyncio.to_thread(
                    wait_for, lambda: replica_count(cluster) == 2, 120, "scaled up to 2"
                )
                # Ray's router sends each call to the less busy of two replicas, so under load
                # a short run of calls can all land on one: gather answers until both show.
                starts: set[str] = set()

                def both_answered() -> bool:
                    starts.update(replica_starts(on_ray, calls=12))
                    return len(starts) >= 2

                await asyncio.to_thread(wait_for, both_answered, 120, "both replicas answered")
            finally:
                stop.set()
                await load
        return starts, sum(outcomes.values())

    starts, calls = asyncio.run(scenario())
    assert failures == [], failures[:5]
    assert calls > 0
    assert len(starts) >= 2, starts  # both replicas answered through the proxy

    # kill -9 one replica under load from retrying clients (REST and gRPC): a call on the
    # killed replica answers 500 / INTERNAL from Ray's proxy, retried on the other replica.
    victim = replica_pids(cluster)[0]
    retry = RetryPolicy(server_errors=True)
    kill_failures: list[str] = []
    answered: collections.Counter[str] = collections.Counter()
    done = threading.Event()

    def rest_worker() -> None:
        with EmberRestClient(on_ray.http_url, api_key=KEY, timeout=60, retry=retry) as rest:
            while not done.is_set():
                try:
                    np.testing.assert_allclose(rest.embeddings(TEXTS), reference, atol=1e-5)
                    answered["rest"] += 1
                except Exception as error:
                    kill_failures.append(f"rest {error!r}")

    def grpc_worker() -> None:
        with EmberClient(on_ray.grpc_target, api_key=KEY, timeout=60, retry=retry) as client:
            while not done.is_set():
                try:
                    np.testing.assert_allclose(client.embed(TEXTS), reference, atol=1e-6)
                    answered["grpc"] += 1
                except Exception as error:
                    kill_failures.append(f"grpc {error!r}")

    threads = [threading.Thread(target=w) for w in (rest_worker, grpc_worker) * 3]
    for thread in threads:
        thread.start()
    time.sleep(2.0)
    os.kill(victim, signal.SIGKILL)
    time.sleep(6.0)
    done.set()
    for thread in threads:
        thread.join(90)
    print(f"kill -9 on ray: {dict(answered)}")
    assert kill_failures == [], kill_failures[:5]
    assert answered["rest"] > 0
    assert answered["grpc"] > 0
    wait_for(
        lambda: victim not in replica_pids(cluster) and replica_count(cluster) >= 1,
        120,
        "the killed replica replaced",
    )
    # No load: back to one replica (downscale delay 15 s, then the drain).
    wait_for(lambda: replica_count(cluster) == 1, 180, "scaled down to 1 replica")
    with EmberClient(on_ray.grpc_target, timeout=30) as client:
        with pytest.raises(EmberRpcError) as refused:
            client.embed(TEXTS)  # no key: refused, the same on the cluster as on one server
        assert refused.value.code == "UNAUTHENTICATED"
    grpc_outcomes, rest_outcomes = asyncio.run(burst(on_ray))
    assert set(grpc_outcomes) <= {"OK", "RESOURCE_EXHAUSTED"}, grpc_outcomes
    assert grpc_outcomes["RESOURCE_EXHAUSTED"] > 0, grpc_outcomes
    assert set(rest_outcomes) <= {"200", "429 retry-after"}, rest_outcomes
    assert rest_outcomes["429 retry-after"] > 0, rest_outcomes


async def burst(server: ServerEndpoints) -> tuple[collections.Counter[str], ...]:
    """48 gRPC and 48 REST calls of 32 inputs at once, no retries: more than a replica admits
    (8), so the overload answers are the replica's own RESOURCE_EXHAUSTED and 429 (with
    Retry-After), never a proxy error."""
    texts = ["an input long enough to keep the engine busy for a while " * 3] * 32
    grpc_outcomes: collections.Counter[str] = collections.Counter()
    rest_outcomes: collections.Counter[str] = collections.Counter()
    metadata = (("authorization", f"Bearer {KEY}"),)
    async with (
        grpc.aio.insecure_channel(server.grpc_target) as channel,
        httpx.AsyncClient(base_url=server.http_url, headers=AUTH, timeout=120) as http,
    ):
        stub = embed_pb2_grpc.EmbedServiceStub(channel)

        async def one_rpc() -> None:
            try:
                await stub.Embed(rq.embed_request(texts), metadata=metadata, timeout=120)
                grpc_outcomes["OK"] += 1
            except grpc.aio.AioRpcError as error:
                grpc_outcomes[error.code().name] += 1

        async def one_post() -> None:
            response = await http.post("/embed", json={"inputs": texts})
            retry_after = " retry-after" if "retry-after" in response.headers else ""
            rest_outcomes[
                f"{response.status_code}{retry_after if response.status_code == 429 else ''}"
            ] += 1

        await asyncio.gather(*(one_rpc() for _ in range(48)), *(one_post() for _ in range(48)))
    return grpc_outcomes, rest_outcomes
