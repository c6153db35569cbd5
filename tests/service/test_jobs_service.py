"""ember.v1.JobService on a real in-process server with the MiniLM engine: submit, watch,
results in the data folder, list, cancel and the errors callers get."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import socket
import threading
import time
from collections.abc import AsyncIterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
import numpy as np
import pyarrow.dataset as ds
import pytest

from ember.service.async_jobs.settings import JobSettings
from ember.service.jobs import EmbedJob
from ember.service.server import EmberServer
from ember.service.settings import ServerSettings
from ember.service.tasks.embed import EMBED
from ember.v1 import jobs_pb2, jobs_pb2_grpc
from tests.service.conftest import SpyEngine

SECRET = "s3cret"
TEXTS = [
    f"row {i}: ember writes the results of background jobs as parquet parts" for i in range(23)
]


@pytest.fixture
async def jobs(
    spy: SpyEngine, minilm_path: Path, tmp_path: Path
) -> AsyncIterator[tuple[jobs_pb2_grpc.JobServiceStub, EmberServer]]:
    settings = ServerSettings(model=(str(minilm_path),), grpc_host="127.0.0.1", grpc_port=0)
    server = EmberServer(
        settings,
        loader=lambda config: spy,
        jobs=JobSettings(
            data_dir=tmp_path / "data",
            rows_per_part=5,
            webhook_secret=SECRET,
            webhook_attempts=3,
            webhook_backoff_s=0.2,
            input_dir=tmp_path / "inputs",
        ),
    )
    port = await server.start()
    await server.load()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield jobs_pb2_grpc.JobServiceStub(channel), server
    finally:
        await channel.close()
        await server.stop(grace=1.0)


async def test_an_inline_job_runs_to_parquet_parts_in_input_order(
    jobs: tuple[jobs_pb2_grpc.JobServiceStub, EmberServer],
) -> None:
    stub, server = jobs
    submitted = await stub.SubmitJob(
        jobs_pb2.SubmitJobRequest(inputs=[jobs_pb2.JobInput(text=t) for t in TEXTS], priority=1)
    )
    job = submitted.job
    assert job.state == jobs_pb2.JOB_STATE_QUEUED
    assert job.task == jobs_pb2.JOB_TASK_EMBED
    assert job.rows_total == len(TEXTS)
    states = []
    async for change in stub.WatchJob(jobs_pb2.WatchJobRequest(id=job.id)):
        states.append((change.job.state, change.job.rows_done))
    final = (await stub.GetJob(jobs_pb2.GetJobRequest(id=job.id))).job
    assert final.state == jobs_pb2.JOB_STATE_SUCCEEDED, final.error
    assert states[-1] == (jobs_pb2.JOB_STATE_SUCCEEDED, len(TEXTS))
    assert final.finished_at >= final.started_at >= final.created_at > 0
    table = ds.dataset(final.result_location, format="parquet").to_table()
    assert table.column("row").to_pylist() == list(range(len(TEXTS)))
    vectors = np.asarray(table.column("embedding").combine_chunks().flatten()).reshape(-1, 384)
    direct = await server.core.run(EMBED, EmbedJob(inputs=TEXTS))
    assert np.allclose(vectors, direct.vectors, atol=1e-5)
    listed = await stub.ListJobs(jobs_pb2.ListJobsRequest())
    assert [j.id for j in listed.jobs] == [job.id]


async def test_bad_submissions_and_unknown_jobs_answer_clearly(
    jobs: tuple[jobs_pb2_grpc.JobServiceStub, EmberServer], tmp_path: Path
) -> None:
    stub, _ = jobs
    cases = [
        (jobs_pb2.SubmitJobRequest(), "either inline"),
        (
            jobs_pb2.SubmitJobRequest(inputs=[jobs_pb2.JobInput(text="x")], priority=3),
            "priority must be 0, 1 or 2",
        ),
        (
            jobs_pb2.SubmitJobRequest(input_path="missing.jsonl"),
            "missing.jsonl' does not exist",
        ),
        (
            jobs_pb2.SubmitJobRequest(input_path="../../etc/passwd.csv"),
            "is outside the server's input folder",
        ),
        (
            jobs_pb2.SubmitJobRequest(
                inputs=[jobs_pb2.JobInput(text="x")], webhook_url="ftp://example"
            ),
            "webhook_url must be an http",
        ),
        (
            jobs_pb2.SubmitJobRequest(
                inputs=[jobs_pb2.JobInput(text="x")], task=jobs_pb2.JOB_TASK_RERANK
            ),
            "cannot run task rerank",
        ),
    ]
    for request, message in cases:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.SubmitJob(request)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
        assert message in (caught.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stub.GetJob(jobs_pb2.GetJobRequest(id="nope"))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


async def test_cancel_stops_a_job_and_it_stays_cancelled(
    jobs: tuple[jobs_pb2_grpc.JobServiceStub, EmberServer],
) -> None:
    stub, _ = jobs
    long = [jobs_pb2.JobInput(text=f"{t} {i}") for i, t in enumerate(TEXTS * 20)]
    job = (await stub.SubmitJob(jobs_pb2.SubmitJobRequest(inputs=long))).job
    cancelled = (await stub.CancelJob(jobs_pb2.CancelJobRequest(id=job.id))).job
    assert cancelled.state == jobs_pb2.JOB_STATE_CANCELLED
    assert cancelled.error == "cancelled by a caller"
    async for change in stub.WatchJob(jobs_pb2.WatchJobRequest(id=job.id)):
        assert change.job.state == jobs_pb2.JOB_STATE_CANCELLED
    assert (await stub.GetJob(jobs_pb2.GetJobRequest(id=job.id))).job.rows_done < len(long)


class Receiver:
    """A real local HTTP server answering webhook POSTs with scripted statuses."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                payload = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), payload))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def finished_with_webhook(
    stub: jobs_pb2_grpc.JobServiceStub, job_id: str, attempts: int
) -> jobs_pb2.Job:
    for _ in range(400):
        job = (await stub.GetJob(jobs_pb2.GetJobRequest(id=job_id))).job
        if len(job.webhook_attempts) >= attempts:
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"webhook attempts never reached {attempts}: {job}")


async def test_webhook_is_signed_retried_with_backoff_and_recorded(
    jobs: tuple[jobs_pb2_grpc.JobServiceStub, EmberServer],
) -> None:
    stub, _ = jobs
    receiver = Receiver([500, 503])  # two failures, then 200
    try:
        request = jobs_pb2.SubmitJobRequest(
            inputs=[jobs_pb2.JobInput(text=t) for t in TEXTS[:3]], webhook_url=receiver.url
        )
        job = (await stub.SubmitJob(request)).job
        job = await finished_with_webhook(stub, job.id, 3)
    finally:
        receiver.close()
    assert job.state == jobs_pb2.JOB_STATE_SUCCEEDED
    assert [a.status for a in job.webhook_attempts] == [500, 503, 200]
    assert job.webhook_attempts[0].error == f"{receiver.url} answered 500"
    assert job.webhook_attempts[2].error == ""
    gaps = [b.at - a.at for a, b in itertools.pairwise(job.webhook_attempts)]
    assert gaps[0] >= 0.2  # the backoff: 0.2 s, then twice that
    assert gaps[1] >= 0.4
    assert len(receiver.received) == 3
    headers, payload = receiver.received[-1]
    stamp = headers["X-Ember-Timestamp"]
    assert abs(int(stamp) - time.time()) < 60
    expected = hmac.new(SECRET.encode(), stamp.encode() + b"." + payload, hashlib.sha256)
    assert headers["X-Ember-Signature"] == "sha256=" + expected.hexdigest()
    body = json.loads(payload)
    assert body["id"] == job.id
    assert body["state"] == "succeeded"
    assert body["rows_done"] == 3
    assert body["result_location"] == job.result_location


async def test_an_unreachable_webhook_is_named_in_every_attempt(
    jobs: tuple[jobs_pb2_grpc.JobServiceStub, EmberServer],
) -> None:
    stub, _ = jobs
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/hook"
    request = jobs_pb2.SubmitJobRequest(inputs=[jobs_pb2.JobInput(text="x")], webhook_url=url)
    job = (await stub.SubmitJob(request)).job
    job = await finished_with_webhook(stub, job.id, 3)
    assert job.state == jobs_pb2.JOB_STATE_SUCCEEDED  # the results are there regardless
    assert [a.status for a in job.webhook_attempts] == [0, 0, 0]
    assert all(
        a.error.startswith(f"cannot deliver to {url}: ConnectError") for a in job.webhook_attempts
    )


async def test_a_queued_job_past_its_max_time_in_queue_ends_while_another_runs(
    jobs: tuple[jobs_pb2_grpc.JobServiceStub, EmberServer], spy: SpyEngine
) -> None:
    stub, _ = jobs
    long = [jobs_pb2.JobInput(text=f"{t} {i}") for i, t in enumerate(TEXTS * 20)]
    first = (await stub.SubmitJob(jobs_pb2.SubmitJobRequest(inputs=long))).job
    async for change in stub.WatchJob(jobs_pb2.WatchJobRequest(id=first.id)):
        if change.job.state == jobs_pb2.JOB_STATE_RUNNING:
            spy.gate.clear()  # the first job holds the engine (and the worker) from now on
            break
    receiver = Receiver([])
    try:
        request = jobs_pb2.SubmitJobRequest(
            inputs=[jobs_pb2.JobInput(text="x")],
            max_time_in_queue_seconds=1.0,
            webhook_url=receiver.url,
        )
        second = (await stub.SubmitJob(request)).job
        for _ in range(600):  # a generous 30 s
            second = (await stub.GetJob(jobs_pb2.GetJobRequest(id=second.id))).job
            if second.state != jobs_pb2.JOB_STATE_QUEUED:
                break
            await asyncio.sleep(0.05)
        running = (await stub.GetJob(jobs_pb2.GetJobRequest(id=first.id))).job
        assert second.state == jobs_pb2.JOB_STATE_CANCELLED, second
        assert "longer than max_time_in_queue_seconds 1" in second.error
        assert second.rows_done == 0
        assert running.state == jobs_pb2.JOB_STATE_RUNNING  # it expired while the first ran
        second = await finished_with_webhook(stub, second.id, 1)
        assert [a.status for a in second.webhook_attempts] == [200]
        assert json.loads(receiver.received[0][1])["state"] == "cancelled"
    finally:
        spy.gate.set()
        receiver.close()
        await stub.CancelJob(jobs_pb2.CancelJobRequest(id=first.id))


@pytest.fixture
async def replicas(
    spy: SpyEngine, minilm_path: Path, tmp_path: Path, redis_url: str
) -> AsyncIterator[list[tuple[EmberServer, jobs_pb2_grpc.JobServiceStub]]]:
    """Two servers sharing one Redis job store (a 3 s lease: renewed every second)."""
    servers: list[EmberServer] = []
    channels: list[grpc.aio.Channel] = []
    stubs: list[jobs_pb2_grpc.JobServiceStub] = []
    try:
        for _ in range(2):
            server = EmberServer(
                ServerSettings(model=(str(minilm_path),), grpc_host="127.0.0.1", grpc_port=0),
                loader=lambda config: spy,
                jobs=JobSettings(
                    data_dir=tmp_path / "data",
                    jobs_store=redis_url,
                    job_lease_s=3.0,
                    rows_per_part=5,
                ),
            )
            servers.append(server)
            port = await server.start()
            await server.load()
            channels.append(grpc.aio.insecure_channel(f"127.0.0.1:{port}"))
            stubs.append(jobs_pb2_grpc.JobServiceStub(channels[-1]))
        yield list(zip(servers, stubs, strict=True))
    finally:
        spy.gate.set()
        for channel in channels:
            await channel.close()
        for server in servers:
            await server.stop(grace=1.0)


async def running_on_one(
    replicas: list[tuple[EmberServer, jobs_pb2_grpc.JobServiceStub]], spy: SpyEngine
) -> tuple[jobs_pb2.Job, int]:
    """Submit a long job, hold it in the engine once it runs; the job and its replica's index."""
    stub = replicas[0][1]
    long = [jobs_pb2.JobInput(text=f"{t} {i}") for i, t in enumerate(TEXTS * 20)]
    job = (await stub.SubmitJob(jobs_pb2.SubmitJobRequest(inputs=long))).job
    async for change in stub.WatchJob(jobs_pb2.WatchJobRequest(id=job.id)):
        if change.job.state == jobs_pb2.JOB_STATE_RUNNING:
            spy.gate.clear()  # the job holds its replica's engine from now on
            job = change.job
            break
    # The store says RUNNING as soon as a replica claims the job; that replica records it as
    # its running job a moment later (its run task starts after the claim), so wait for it.
    owners: list[int] = []
    for _ in range(200):
        owners = [i for i, (server, _) in enumerate(replicas) if server.job_manager().running_job]
        if owners:
            break
        await asyncio.sleep(0.05)
    assert len(owners) == 1
    assert replicas[owners[0]][0].job_manager().running_job == job.id
    return job, owners[0]


async def stopped(server: EmberServer) -> bool:
    """Whether ``server``'s job run stops within a generous 30 s (it renews every second)."""
    for _ in range(600):
        if server.job_manager().running_job is None:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_a_job_cancelled_through_another_replica_stops_running(
    replicas: list[tuple[EmberServer, jobs_pb2_grpc.JobServiceStub]], spy: SpyEngine
) -> None:
    """A cancel answered by the replica that does not run the job ends the job in the store,
    and the replica running it stops at its next lease renewal instead of computing the rest."""
    job, runner = await running_on_one(replicas, spy)
    other = replicas[1 - runner][1]
    cancelled = (await other.CancelJob(jobs_pb2.CancelJobRequest(id=job.id))).job
    assert cancelled.state == jobs_pb2.JOB_STATE_CANCELLED
    assert await stopped(replicas[runner][0]), "the run went on after the cancel"
    spy.gate.set()
    ended = (await replicas[runner][1].GetJob(jobs_pb2.GetJobRequest(id=job.id))).job
    assert ended.state == jobs_pb2.JOB_STATE_CANCELLED
    assert ended.rows_done < len(TEXTS * 20)


async def test_a_replica_whose_job_was_taken_over_stops_without_failing_it(
    replicas: list[tuple[EmberServer, jobs_pb2_grpc.JobServiceStub]],
    spy: SpyEngine,
    redis_url: str,
    tmp_path: Path,
) -> None:
    """A replica that stalled past its lease has its job taken over (here by this test,
    claiming it as a third replica would): at its next renewal it sees the new claim and
    stops its own run; the job stays RUNNING under the new claim, never FAILED."""
    import redis

    from ember.service.async_jobs.redis_store import RedisJobStore

    job, runner = await running_on_one(replicas, spy)
    redis.Redis.from_url(redis_url).zadd("ember:running", {job.id: 0})  # the lease ran out
    taker = RedisJobStore(redis_url, tmp_path / "data", lease_s=60.0)
    try:
        assert taker.requeue_expired() == 1
        taken = taker.claim([job.model], time.time() + 1.0)
        assert taken is not None
        assert taken.id == job.id
        assert await stopped(replicas[runner][0]), "the stalled replica kept running the job"
        spy.gate.set()
        now = (await replicas[runner][1].GetJob(jobs_pb2.GetJobRequest(id=job.id))).job
        assert now.state == jobs_pb2.JOB_STATE_RUNNING, now.error
        assert now.started_at == pytest.approx(taken.started_at)
    finally:
        taker.close()
