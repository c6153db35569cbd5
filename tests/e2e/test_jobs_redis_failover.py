"""End to end: two ``ember serve`` processes share their jobs through a real ``redis-server``;
the replica running a job is killed with ``kill -9`` mid-job, and the other one takes the job
over once its lease expires and finishes it: every input row exactly once, values right."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import grpc
import numpy as np
import pyarrow.dataset as ds
from prometheus_client.parser import text_string_to_metric_families

from ember.v1 import embed_pb2, embed_pb2_grpc, jobs_pb2, jobs_pb2_grpc
from tests.e2e.test_cli_batch import corpus, write_jsonl
from tests.server_process import ServerEndpoints, run_server

ROWS, PART = 600, 25
#: Short, so the takeover comes quickly; renewed every third of it.
LEASE_S = 3.0


def get(target: str, job_id: str) -> jobs_pb2.Job:
    with grpc.insecure_channel(target) as channel:
        stub = jobs_pb2_grpc.JobServiceStub(channel)
        return stub.GetJob(jobs_pb2.GetJobRequest(id=job_id), timeout=30).job


def engine_tokens(server: ServerEndpoints) -> float:
    """The tokens this server's engine has computed (its /metrics)."""
    with urllib.request.urlopen(f"{server.http_url}/metrics", timeout=30) as response:
        text = response.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "ember_tokens"
        for sample in family.samples
        if sample.name == "ember_tokens_total"
    )


def test_a_replica_killed_mid_job_has_its_job_finished_by_the_other_exactly_once(
    tmp_path: Path, redis_url: str
) -> None:
    rows = corpus(ROWS, seed=7, longest=16)
    write_jsonl(tmp_path / "corpus.jsonl", rows)
    shared = (
        *("--data-dir", str(tmp_path / "shared-data")),  # a shared filesystem, as in production
        *("--job-input-dir", str(tmp_path)),
        *("--jobs-store", redis_url),
        *("--job-lease", str(LEASE_S)),
        *("--job-rows-per-part", str(PART)),
    )
    with run_server(None, *shared) as one, run_server(None, *shared) as two:
        with grpc.insecure_channel(one.grpc_target) as channel:
            stub = jobs_pb2_grpc.JobServiceStub(channel)
            request = jobs_pb2.SubmitJobRequest(input_path="corpus.jsonl")
            job = stub.SubmitJob(request, timeout=60).job
        # Either replica may claim it: wait until it is well under way, then find which one
        # computes it.
        deadline = time.monotonic() + 240
        while (now := get(two.grpc_target, job.id)).rows_done < 3 * PART:
            assert now.state in (jobs_pb2.JOB_STATE_QUEUED, jobs_pb2.JOB_STATE_RUNNING), now
            assert time.monotonic() < deadline, "the job made no progress in time"
            time.sleep(0.05)
        working = [s for s in (one, two) if engine_tokens(s) > 0]
        assert len(working) == 1, "exactly one replica runs the job"
        victim = working[0]
        survivor = two if victim is one else one
        victim.process.kill()  # SIGKILL: no shutdown, no lease given back
        killed_at = time.time()
        victim.process.wait(timeout=30)
        output = Path(now.result_location)
        parts_at_kill = len(list(output.glob("part-*.parquet")))
        assert 3 <= parts_at_kill < ROWS // PART, "the kill must land mid-job"
        # The survivor sees the job, still RUNNING under the dead replica's lease.
        with grpc.insecure_channel(survivor.grpc_target) as channel:
            listed = jobs_pb2_grpc.JobServiceStub(channel).ListJobs(
                jobs_pb2.ListJobsRequest(), timeout=30
            )
        assert [j.id for j in listed.jobs] == [job.id]
        assert listed.jobs[0].state == jobs_pb2.JOB_STATE_RUNNING
        assert engine_tokens(survivor) == 0, "the survivor had not touched the job"

        with grpc.insecure_channel(survivor.grpc_target) as channel:
            stub = jobs_pb2_grpc.JobServiceStub(channel)
            for change in stub.WatchJob(jobs_pb2.WatchJobRequest(id=job.id), timeout=300):
                final = change.job
            embed = embed_pb2_grpc.EmbedServiceStub(channel)
            direct = embed.Embed(
                embed_pb2.EmbedRequest(inputs=[embed_pb2.EmbedInput(text=r["text"]) for r in rows]),
                timeout=120,
            )
        assert engine_tokens(survivor) > 0, "the survivor computed the rest"

    assert final.state == jobs_pb2.JOB_STATE_SUCCEEDED, final.error
    # Taken over only once the lease ran out: its last renewal was at most a third of a lease
    # before the kill.
    assert final.started_at >= killed_at + LEASE_S * 2 / 3 - 0.1, (final.started_at, killed_at)
    assert final.rows_done == final.rows_total == ROWS
    table = ds.dataset(final.result_location, format="parquet").to_table()
    assert table.column("row").to_pylist() == list(range(ROWS))  # every row once, in order
    assert len(list(output.glob("part-*.parquet"))) == ROWS // PART
    assert not list(output.glob(".*.tmp")), "no half-written part is left"
    got = np.asarray(table.column("embedding").combine_chunks().flatten()).reshape(ROWS, -1)
    want = np.array([e.values for e in direct.embeddings], dtype=np.float32)
    assert np.allclose(got, want, atol=1e-5)
