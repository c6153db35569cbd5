"""Jobs shared by two replicas through a real ``redis-server`` (Debian's, started here): both
see every job, and when the replica running a job dies (stops renewing its lease), the other
resumes it from the parts on disk, every row exactly once."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import numpy as np
import pyarrow.dataset as ds
import pytest

from ember.engines.base import Engine
from ember.service.async_jobs.settings import JobSettings
from ember.service.jobs import EmbedJob
from ember.service.server import EmberServer
from ember.service.settings import ServerSettings
from ember.service.tasks.embed import EMBED
from ember.v1 import jobs_pb2, jobs_pb2_grpc
from tests.service.conftest import SpyEngine

REDIS = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(REDIS is None, reason="redis-server missing: make install-dev")
ROWS = [f"row {i}: replicas share this job through redis" for i in range(120)]


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    sock = tmp_path / "redis.sock"
    proc = subprocess.Popen(
        [str(REDIS), "--port", "0", "--unixsocket", str(sock), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while not sock.exists():
            assert proc.poll() is None, "redis-server exited"
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.02)
        yield f"unix://{sock}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@asynccontextmanager
async def replica(
    engine: Engine, minilm_path: Path, data: Path, url: str
) -> AsyncIterator[tuple[jobs_pb2_grpc.JobServiceStub, EmberServer]]:
    settings = ServerSettings(model=(str(minilm_path),), grpc_host="127.0.0.1", grpc_port=0)
    jobs = JobSettings(data_dir=data, jobs_store=url, job_lease_s=1.0, rows_per_part=5)
    server = EmberServer(settings, loader=lambda config: engine, jobs=jobs)
    port = await server.start()
    await server.load()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield jobs_pb2_grpc.JobServiceStub(channel), server
    finally:
        await channel.close()
        await server.stop(grace=1.0)


async def test_a_dead_replicas_job_is_resumed_by_another_exactly_once(
    minilm_engine: Engine, minilm_path: Path, tmp_path: Path, redis_url: str
) -> None:
    data = tmp_path / "shared-data"
    engine_a, engine_b = SpyEngine(minilm_engine), SpyEngine(minilm_engine)
    async with replica(engine_a, minilm_path, data, redis_url) as (stub_a, server_a):
        request = jobs_pb2.SubmitJobRequest(inputs=[jobs_pb2.JobInput(text=t) for t in ROWS])
        job = (await stub_a.SubmitJob(request)).job
        async for change in stub_a.WatchJob(jobs_pb2.WatchJobRequest(id=job.id)):
            if change.job.rows_done >= 10:
                engine_a.gate.clear()  # replica A hangs mid-job...
                break
        manager = server_a.job_manager()
        await manager.stop()  # ...and dies: its lease is no longer renewed
        assert (await stub_a.GetJob(jobs_pb2.GetJobRequest(id=job.id))).job.state == (
            jobs_pb2.JOB_STATE_RUNNING
        )
        async with replica(engine_b, minilm_path, data, redis_url) as (stub_b, server_b):
            listed = await stub_b.ListJobs(jobs_pb2.ListJobsRequest())
            assert [j.id for j in listed.jobs] == [job.id]  # B sees A's job
            async for change in stub_b.WatchJob(jobs_pb2.WatchJobRequest(id=job.id)):
                final = change.job
            direct = await server_b.core.run(EMBED, EmbedJob(inputs=ROWS))
        engine_a.gate.set()
    assert final.state == jobs_pb2.JOB_STATE_SUCCEEDED, final.error
    table = ds.dataset(final.result_location, format="parquet").to_table()
    assert table.column("row").to_pylist() == list(range(len(ROWS)))  # every row once
    vectors = np.asarray(table.column("embedding").combine_chunks().flatten()).reshape(-1, 384)
    assert np.allclose(vectors, direct.vectors, atol=1e-5)
    assert engine_b.batches, "replica B did the rest of the work"
